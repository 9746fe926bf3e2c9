"""SARIF 2.1.0 for code-scanning dashboards (GitHub, GitLab, Azure DevOps).

Codes are always masked here, also with --show-secrets: SARIF files are
uploaded and kept by services outside the scanning machine. Suppressed
findings are counted in the run's properties rather than emitted as results
with `suppressions`, because not every dashboard honours that field and a
baselined finding must not reappear as an open alert.
"""

from __future__ import annotations

import json
import os
from pathlib import PurePath
from typing import Any
from urllib.parse import quote

from mfaleaks import __version__
from mfaleaks.models import Confidence, Finding, ScanError, ScanResult, Severity
from mfaleaks.triage.suppress import counts

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT_KEY = "mfaleaks/v1"
SHOWN_CODES = 3  # masked codes quoted in a result's message
_LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning",
          Severity.LOW: "note"}
# GitHub's 'security-severity' scale: 9.0+ critical, 7.0+ high, 4.0+ medium.
_SECURITY_SEVERITY = {Severity.CRITICAL: "9.5", Severity.HIGH: "8.0", Severity.MEDIUM: "5.5",
                      Severity.LOW: "3.0"}


def render(result: ScanResult) -> str:
    return json.dumps(sarif_log(result), indent=2, ensure_ascii=False) + "\n"


def sarif_log(result: ScanResult) -> dict[str, Any]:
    rule_ids = sorted({f.rule_id for f in result.findings})
    index = {rid: i for i, rid in enumerate(rule_ids)}
    first = {rid: next(f for f in result.findings if f.rule_id == rid) for rid in rule_ids}
    run: dict[str, Any] = {
        "tool": {"driver": {
            "name": "mfaleaks",
            "version": __version__,
            "semanticVersion": __version__,
            "rules": [_descriptor(first[rid]) for rid in rule_ids],
        }},
        "invocations": [_invocation(result)],
        "results": [_result(f, index[f.rule_id]) for f in result.findings],
        "columnKind": "unicodeCodePoints",
        "properties": {
            "files": result.stats.files,
            "bytes": result.stats.bytes,
            "skipped": result.stats.skipped,
            "seconds": result.stats.seconds,
            "suppressed": len(result.suppressed),
            "suppressedBy": counts(result.suppressed),
            "baselineStale": len(result.baseline_stale),
            "codesMasked": True,
        },
    }
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}


def _descriptor(f: Finding) -> dict[str, Any]:
    help_text = (f"{f.title}: one-time codes or seeds that let whoever reads them pass the "
                 f"account's two-factor check. Remediation: {f.remediation}")
    markdown = (f"**{f.title}** let whoever reads them pass the account's two-factor check.\n\n"
                f"**Remediation:** {f.remediation}")
    if f.url:
        markdown += f"\n\n[Manage the codes]({f.url})"
    out: dict[str, Any] = {
        "id": f.rule_id,
        "name": "".join(part.capitalize() for part in f.rule_id.split("-")),
        "shortDescription": {"text": f.title},
        "fullDescription": {"text": f"{f.title} ({f.service}) readable in a file: "
                                    "material that replaces the second factor."},
        "help": {"text": help_text, "markdown": markdown},
        "defaultConfiguration": {"level": _LEVEL[f.severity]},
        "properties": {
            "service": f.service,
            "severity": f.severity.value,
            "security-severity": _SECURITY_SEVERITY[f.severity],
            "tags": ["security", "secret", "mfa", f.service],
        },
    }
    if f.url:
        out["helpUri"] = f.url
    return out


def _result(f: Finding, rule_index: int) -> dict[str, Any]:
    shown = ", ".join(f.redacted[:SHOWN_CODES]) + (", …" if len(f.redacted) > SHOWN_CODES else "")
    where = ""
    if f.member:
        where += f" in member '{f.member}'"
    if f.location:
        where += f" at {f.location}"
    if f.member and f.line is not None:
        where += f", line {f.line} of the member"
    text = (f"{f.title}: {f.count} code{'s' if f.count != 1 else ''}{where} "
            f"(confidence {f.confidence.value}; masked: {shown}). Replace them: see the rule help.")
    location: dict[str, Any] = {"physicalLocation": {"artifactLocation": _artifact(f.path)}}
    # A line number of a member counts lines of the member, not of the file on disk.
    if f.line is not None and not f.member:
        location["physicalLocation"]["region"] = {"startLine": f.line}
    props: dict[str, Any] = {
        "service": f.service,
        "confidence": f.confidence.value,
        "score": f.score,
        "count": f.count,
        "source": f.source,
        "redacted": list(f.redacted),
    }
    if f.member:
        props["member"] = f.member
        props["memberChain"] = f.member.split(" / ")
        if f.line is not None:
            props["memberLine"] = f.line
    if f.location:
        props["location"] = f.location
    if f.meta:
        props["meta"] = dict(f.meta)
    return {
        "ruleId": f.rule_id,
        "ruleIndex": rule_index,
        "level": "note" if f.confidence is Confidence.LOW else _LEVEL[f.severity],
        "message": {"text": text},
        "locations": [location],
        "partialFingerprints": {FINGERPRINT_KEY: f.fingerprint},
        "properties": props,
    }


def _artifact(path: str) -> dict[str, Any]:
    """A relative URI against the scan root (what code scanning expects), else file://."""
    if os.path.isabs(path):
        return {"uri": PurePath(path).as_uri()}
    rel = os.path.normpath(path).replace(os.sep, "/")
    return {"uri": quote(rel, safe="/"), "uriBaseId": "%SRCROOT%"}


def _invocation(result: ScanResult) -> dict[str, Any]:
    notes = [_skipped(e) for e in result.errors]
    notes += [{"level": "note", "message": {"text": n}} for n in result.notices]
    if any(f.secrets is not None for f in result.findings):
        notes.append({"level": "note", "message": {
            "text": "--show-secrets does not apply to SARIF: codes stay masked in this file"}})
    return {
        "executionSuccessful": not result.incomplete,
        "toolExecutionNotifications": notes,
        "properties": {"notScanned": len(result.errors)},
    }


def _skipped(e: ScanError) -> dict[str, Any]:
    where = f"{e.path} :: {e.member}" if e.member else e.path
    note: dict[str, Any] = {
        "level": "warning",
        "message": {"text": f"{where}: {e.reason}"},
        "descriptor": {"id": "not-scanned"},
        "locations": [{"physicalLocation": {"artifactLocation": _artifact(e.path)}}],
    }
    if e.member:
        note["properties"] = {"member": e.member, "memberChain": e.member.split(" / ")}
    return note
