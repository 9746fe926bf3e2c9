"""A file's results with its location taken out, so they can be put back at another one.

What a file produces depends on its content and its name; where it lies only
shows in `path`, in the start of `member` (a Maildir message is `cur/<name>`
inside its folder) and in the file facts (owner, mode, mtime) that the
pipeline adds to finding meta. `Stored` keeps the rest: the same file in ten
folders is read once and placed at each of them, and the cache (--cache)
keeps it between runs as JSON, without the codes themselves.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, fields, replace
from typing import Any

from mfaleaks.models import Confidence, FileResult, Finding, ScanError, Severity, Source

SEP = " / "  # how Origin.member joins the chain
FACT_PREFIX = "file_"  # meta keys written by owner.file_facts (location, not content)

# Errors that say nothing about the content: the next run must read the file again.
_TRANSIENT = re.compile(
    r"time limit|timed out|out of memory|cannot read|cannot open|worker process|internal error",
    re.I,
)


@dataclass(frozen=True)
class Stored:
    """Findings with path "" and members relative to the file; errors as (member, reason)."""

    findings: tuple[Finding, ...]
    errors: tuple[tuple[str | None, str], ...]
    kind: str
    lasting: bool  # False: a time limit or a read error: fine to share now, not to keep


def join(prefix: str | None, rel: str | None) -> str | None:
    if prefix and rel:
        return prefix + SEP + rel
    return prefix or rel or None


def relative(member: str | None, prefix: str | None) -> tuple[bool, str | None]:
    """(ok, the member below prefix); not ok when member does not start with prefix."""
    if not prefix:
        return True, member
    if member == prefix:
        return True, None
    if member is not None and member.startswith(prefix + SEP):
        return True, member[len(prefix) + len(SEP) :]
    return False, None


def transient(reason: str) -> bool:
    return bool(_TRANSIENT.search(reason))


_EMPTY: dict[str, Stored] = {}  # kind -> its empty result: most files, one object (frozen)


def stored_of(result: FileResult, source: Source) -> Stored | None:
    """The location-free form of a file's result (None if a member is not below the file)."""
    if not result.findings and not result.errors:
        empty = _EMPTY.get(result.kind)
        if empty is None:
            empty = _EMPTY[result.kind] = Stored((), (), result.kind, True)
        return empty
    prefix = source.origin.member
    findings = []
    for f in result.findings:
        ok, rel = relative(f.member, prefix)
        if not ok:
            return None
        meta = {k: v for k, v in f.meta.items() if not k.startswith(FACT_PREFIX)}
        findings.append(replace(f, path="", member=rel, meta=meta))
    errors = []
    for e in result.errors:
        ok, rel = relative(e.member, prefix)
        if not ok:
            return None
        errors.append((rel, e.reason))
    lasting = not any(transient(reason) for _, reason in errors)
    return Stored(tuple(findings), tuple(errors), result.kind, lasting)


def place(stored: Stored, source: Source) -> FileResult:
    """The result `source` would have produced: the stored one at its path, with its facts."""
    path, prefix = source.origin.path, source.origin.member
    result = FileResult(path=path, bytes=source.size, kind=stored.kind)
    if not stored.findings and not stored.errors:
        return result  # most files: nothing to move (a rescan places thousands of these)
    facts = {}
    if stored.findings and source.fs_path is not None:
        from mfaleaks.sources.owner import (
            file_facts,  # only for findings: a rescan places thousands
        )

        facts = file_facts(source)
    result.findings = [
        replace(f, path=path, member=join(prefix, f.member), meta={**facts, **f.meta})
        for f in stored.findings
    ]
    result.errors = [ScanError(path, join(prefix, rel), reason) for rel, reason in stored.errors]
    return result


# ---- JSON (the cache) ------------------------------------------------------------------------

_NOT_KEPT = ("path", "secrets")  # the path is the file's; codes in full never reach the disk
_TUPLES = ("redacted", "evidence", "bbox")


def to_json(stored: Stored) -> str:
    out = []
    for f in stored.findings:
        out.append({x.name: getattr(f, x.name) for x in fields(Finding) if x.name not in _NOT_KEPT})
    doc = {"kind": stored.kind, "findings": out, "errors": [list(e) for e in stored.errors]}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


@functools.lru_cache(maxsize=1024)
def from_json(text: str) -> Stored:
    """Parsed once per distinct text: most files of a share store the same empty result."""
    doc = json.loads(text)
    findings = []
    for item in doc["findings"]:
        values: dict[str, Any] = dict(item)
        values["severity"] = Severity(values["severity"])
        values["confidence"] = Confidence(values["confidence"])
        for name in _TUPLES:
            if values.get(name) is not None:
                values[name] = tuple(values[name])
        values["meta"] = dict(values.get("meta") or {})
        findings.append(Finding(path="", **values))
    errors = tuple((e[0], e[1]) for e in doc["errors"])
    return Stored(tuple(findings), errors, doc["kind"], lasting=True)
