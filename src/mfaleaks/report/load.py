"""A saved JSON (or JSON Lines) report back into a ScanResult, for `mfaleaks report`.

Codes shown in full (`secrets`, from --show-secrets) are dropped on load: the
reports rendered from here never print a code, whatever the saved file holds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mfaleaks.models import Confidence, Finding, ScanError, ScanResult, Severity, Stats

REQUIRED = ("rule_id", "service", "severity", "confidence", "path", "fingerprint")


class ReportError(ValueError):
    """The input is not a report we can read; the message is one line."""


def load_report(text: str) -> ScanResult:
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        data = _json_lines(text, exc)
    if isinstance(data, list):  # JSON Lines: findings only
        data = {"findings": data}
    if not isinstance(data, dict) or not isinstance(data.get("findings"), list):
        raise ReportError("not an mfaleaks JSON report (no \"findings\" list)")
    result = ScanResult()
    for i, item in enumerate(data["findings"], 1):
        result.findings.append(_finding(item, i))
    for item in data.get("errors") or []:
        if isinstance(item, dict):
            result.errors.append(ScanError(str(item.get("path", "")), _opt(item.get("member")),
                                           str(item.get("reason", ""))))
    stats = data.get("stats")
    if isinstance(stats, dict):
        result.stats = Stats(files=_int(stats.get("files")), bytes=_int(stats.get("bytes")),
                             skipped=_int(stats.get("skipped")),
                             seconds=float(_num(stats.get("seconds"))),
                             pictures_read=_int(stats.get("pictures_read")),
                             pictures_dismissed=_int(stats.get("pictures_dismissed")))
    result.incomplete = bool(data.get("incomplete"))
    result.notices = [str(n) for n in data.get("notices") or [] if isinstance(n, str)]
    return result


def _json_lines(text: str, first: json.JSONDecodeError) -> list[Any]:
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        raise ReportError(f"invalid JSON: {first.msg} (line {first.lineno})") from None
    out = []
    for n, line in enumerate(lines, 1):
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ReportError(f"invalid JSON on line {n}: {exc.msg}") from None
    return out


def _finding(item: object, index: int) -> Finding:
    if not isinstance(item, dict):
        raise ReportError(f"finding {index} is not an object")
    missing = [k for k in REQUIRED if not isinstance(item.get(k), str)]
    if missing:
        raise ReportError(f"finding {index} lacks {', '.join(missing)}")
    try:
        severity = Severity(item["severity"])
        confidence = Confidence(item["confidence"])
    except ValueError as exc:
        raise ReportError(f"finding {index}: {exc}") from None
    bbox = item.get("bbox")
    box = (tuple(int(v) for v in bbox) if isinstance(bbox, list) and len(bbox) == 4
           and all(isinstance(v, int | float) for v in bbox) else None)
    meta = {k: item[k] for k in ("date", "sender") if isinstance(item.get(k), str)}
    if isinstance(item.get("meta"), dict):
        meta.update(_meta(item["meta"]))
    return Finding(
        rule_id=item["rule_id"],
        service=item["service"],
        title=str(item.get("title") or item["rule_id"]),
        severity=severity,
        confidence=confidence,
        score=float(_num(item.get("score"))),
        path=item["path"],
        member=_opt(item.get("member")),
        line=item["line"] if isinstance(item.get("line"), int) else None,
        source=str(item.get("source") or "text"),
        count=_int(item.get("count")),
        redacted=tuple(str(c) for c in item.get("redacted") or []),
        fingerprint=item["fingerprint"],
        remediation=str(item.get("remediation") or ""),
        url=_opt(item.get("url")),
        location=_opt(item.get("location")),
        bbox=box,  # type: ignore[arg-type]
        evidence=tuple(str(e) for e in item.get("evidence") or []),
        meta=meta,
        secrets=None,
    )


def _meta(meta: Mapping[str, object]) -> dict[str, str]:
    return {str(k): str(v) for k, v in meta.items() if v is not None}


def _opt(value: object) -> str | None:
    return None if value is None else str(value)


def _num(value: object) -> float:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _int(value: object) -> int:
    return int(_num(value))
