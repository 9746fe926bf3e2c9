"""The JSON report: a stable format that other tools and our own checks parse."""

from __future__ import annotations

import json
from typing import Any

from mfaleaks import __version__
from mfaleaks.models import Finding, ScanError, ScanResult
from mfaleaks.triage.suppress import counts


def finding_dict(f: Finding) -> dict[str, Any]:
    out: dict[str, Any] = {
        "rule_id": f.rule_id,
        "service": f.service,
        "title": f.title,
        "severity": f.severity.value,
        "confidence": f.confidence.value,
        "score": f.score,
        "path": f.path,
        "member": f.member,
        "line": f.line,
        "location": f.location,
        "bbox": list(f.bbox) if f.bbox else None,
        "source": f.source,
        "count": f.count,
        "redacted": list(f.redacted),
        "fingerprint": f.fingerprint,
        "remediation": f.remediation,
        "url": f.url,
        "evidence": list(f.evidence),
        "date": f.meta.get("date"),
        "sender": f.meta.get("sender"),
        "meta": dict(f.meta),
    }
    if f.secrets is not None:
        out["secrets"] = list(f.secrets)
    if f.allow_marker is not None:
        out["allow_marker"] = f.allow_marker
    return out


def suppressed_dict(f: Finding) -> dict[str, Any]:
    """A suppressed finding with its reason; never its codes, even with --show-secrets."""
    out = finding_dict(f)
    out.pop("secrets", None)
    out["suppressed"] = f.suppressed
    return out


def error_dict(e: ScanError) -> dict[str, Any]:
    return {"path": e.path, "member": e.member, "reason": e.reason}


def result_dict(result: ScanResult) -> dict[str, Any]:
    return {
        "tool": {"name": "mfaleaks", "version": __version__},
        "findings": [finding_dict(f) for f in result.findings],
        "errors": [error_dict(e) for e in result.errors],
        "stats": {
            "files": result.stats.files,
            "bytes": result.stats.bytes,
            "skipped": result.stats.skipped,
            "seconds": result.stats.seconds,
            "pictures_read": result.stats.pictures_read,
            "pictures_dismissed": result.stats.pictures_dismissed,
            "suppressed": len(result.suppressed),
            "suppressed_by": counts(result.suppressed),
        },
        "suppressed": [suppressed_dict(f) for f in result.suppressed],
        "baseline_stale": list(result.baseline_stale),
        "incomplete": result.incomplete,
        "notices": list(result.notices),
    }


def render(result: ScanResult) -> str:
    return json.dumps(result_dict(result), indent=2, ensure_ascii=False) + "\n"


def render_lines(result: ScanResult) -> str:
    """JSON Lines: one finding object per line."""
    return "".join(
        json.dumps(finding_dict(f), ensure_ascii=False) + "\n" for f in result.findings
    )
