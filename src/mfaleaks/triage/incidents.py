"""Findings -> incidents: one per set of codes, with every copy, an owner and what to do.

The same codes (same fingerprint) found in several places -- the file on the
share, the mail it came from, the zip on the backup drive -- are one incident:
one account to fix, every copy to delete. Incidents are ranked by severity,
then exposure (who else can read a copy), then age (how long it has lain
there), so the help desk starts with the worst.
"""

from __future__ import annotations

import stat
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import IntEnum

from mfaleaks.models import Box, Confidence, Finding, Severity
from mfaleaks.sources import owner as own

SEVERITY_RANK = {Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3, Severity.CRITICAL: 4}
AGE_BUCKETS = ("over 1 year", "30 days to 1 year", "under 30 days", "unknown")


class Exposure(IntEnum):
    """Who besides the owner can read a copy; higher is worse."""

    OWNER_ONLY = 1
    UNKNOWN = 2
    GROUP = 3
    MAILED = 4
    WORLD = 5

    @property
    def label(self) -> str:
        return _EXPOSURE_LABELS[self]


_EXPOSURE_LABELS = {
    Exposure.OWNER_ONLY: "owner only",
    Exposure.UNKNOWN: "unknown",
    Exposure.GROUP: "group-readable",
    Exposure.MAILED: "mailed to others",
    Exposure.WORLD: "world-readable",
}


@dataclass(frozen=True)
class Location:
    """One copy of the codes."""

    path: str
    member: str | None
    line: int | None
    anchor: str | None
    source: str
    bbox: Box | None
    confidence: Confidence
    exposure: Exposure
    exposure_facts: tuple[tuple[Exposure, str], ...]  # each fact with the exposure it means
    when: datetime | None  # mail date, else file modification time
    when_note: str  # what `when` is
    mailed_to: tuple[str, ...]  # recipients other than the sender
    is_mail: bool
    stamp: tuple[str, str] | None = None  # the file's mtime and size at scan time

    @property
    def exposure_notes(self) -> tuple[str, ...]:
        return tuple(note for _, note in self.exposure_facts)

    @property
    def label(self) -> str:
        where = self.path + (f" :: {self.member}" if self.member else "")
        at = f"line {self.line}" if self.line is not None else self.anchor
        return f"{where} ({at})" if at else where


@dataclass(frozen=True)
class Incident:
    id: str
    fingerprint: str
    rule_id: str
    service: str
    title: str
    severity: Severity
    confidence: Confidence
    count: int
    redacted: tuple[str, ...]
    locations: tuple[Location, ...]
    owner: own.Owner
    exposure: Exposure
    exposure_notes: tuple[str, ...]
    since: datetime | None  # the oldest copy
    age_days: int | None
    remediation: tuple[str, ...]  # steps, in order
    url: str | None
    evidence: tuple[str, ...]  # of the best-scored finding
    rank: int = 0

    @property
    def age_bucket(self) -> str:
        return age_bucket(self.age_days)

    @property
    def mailed_to(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a for loc in self.locations for a in loc.mailed_to))


def age_bucket(days: int | None) -> str:
    if days is None:
        return AGE_BUCKETS[3]
    if days > 365:
        return AGE_BUCKETS[0]
    if days >= 30:
        return AGE_BUCKETS[1]
    return AGE_BUCKETS[2]


def build_incidents(findings: Iterable[Finding], now: datetime | None = None) -> list[Incident]:
    """Group by fingerprint, then rank: severity, exposure, age (older first)."""
    now = now or datetime.now(UTC)
    groups: dict[str, list[Finding]] = {}
    for f in findings:
        groups.setdefault(f.fingerprint, []).append(f)
    incidents = [_incident(fp, items, now) for fp, items in groups.items()]
    incidents.sort(key=_priority)
    return [replace(inc, rank=i) for i, inc in enumerate(incidents, 1)]


def _priority(inc: Incident) -> tuple[int, int, int, int, int, str]:
    return (-SEVERITY_RANK[inc.severity], -inc.exposure, -(inc.age_days if inc.age_days is not None
            else -1), -inc.confidence.rank, -len(inc.locations), inc.id)


def _incident(fp: str, items: list[Finding], now: datetime) -> Incident:
    best = max(items, key=lambda f: (f.confidence.rank, f.score, f.count))
    locations = _locations(items)
    clues = [c for f in items for c in own.clues(f.meta, f.path, f.member)]
    worst = max(locations, key=lambda loc: loc.exposure)
    dates = [loc.when for loc in locations if loc.when is not None]
    since = min(dates) if dates else None
    return Incident(
        id=f"MFA-{fp[:8]}",
        fingerprint=fp,
        rule_id=best.rule_id,
        service=best.service,
        title=best.title,
        severity=max((f.severity for f in items), key=SEVERITY_RANK.__getitem__),
        confidence=best.confidence,
        count=best.count,
        redacted=best.redacted,
        locations=locations,
        owner=own.probable_owner(clues),
        exposure=worst.exposure,
        exposure_notes=_notes(locations, worst.exposure),
        since=since,
        age_days=max(0, (now - since).days) if since else None,
        remediation=remediation_steps(best.remediation, best.url, locations),
        url=best.url,
        evidence=best.evidence,
    )


def _notes(locations: tuple[Location, ...], worst: Exposure) -> tuple[str, ...]:
    """What exposes the incident: the notes of the copies others can read (when any can)."""
    floor = min(worst, Exposure.GROUP)
    return tuple(dict.fromkeys(
        note for loc in locations for level, note in loc.exposure_facts if level >= floor))


def _locations(items: list[Finding]) -> tuple[Location, ...]:
    seen: dict[tuple[str, str | None, int | None, str | None], Location] = {}
    for f in sorted(items, key=lambda f: (f.path, f.member or "", f.line or 0)):
        key = (f.path, f.member, f.line, f.location)
        if key not in seen:
            seen[key] = location_of(f)
    return tuple(seen.values())


def location_of(f: Finding) -> Location:
    level, facts = exposure_facts(f.meta)
    mailed = own.others_mailed(f.meta.get("sender", ""), f.meta.get("recipients", ""))
    when, note = _when(f.meta)
    return Location(
        path=f.path, member=f.member, line=f.line, anchor=f.location, source=f.source,
        bbox=f.bbox, confidence=f.confidence, exposure=level, exposure_facts=tuple(facts),
        when=when, when_note=note, mailed_to=tuple(mailed),
        is_mail=any(k in f.meta for k in ("sender", "recipients", "message_id")),
        stamp=(f.meta[own.MTIME], f.meta[own.SIZE]) if own.MTIME in f.meta and own.SIZE in f.meta
        else None,
    )


def exposure_of(meta: Mapping[str, str]) -> tuple[Exposure, list[str]]:
    """Exposure of one copy from its file's permission bits and its mail's recipients."""
    level, facts = exposure_facts(meta)
    return level, [note for _, note in facts]


def exposure_facts(meta: Mapping[str, str]) -> tuple[Exposure, list[tuple[Exposure, str]]]:
    facts: list[tuple[Exposure, str]] = []
    mode_text = meta.get(own.MODE, "")
    if mode_text.isdigit() and not set(mode_text) & {"8", "9"}:
        mode = int(mode_text, 8)
        others_blocked, group_blocked = meta.get(own.OTHERS_BLOCKED), meta.get(own.GROUP_BLOCKED)
        group = meta.get(own.GROUP) or meta.get(own.GID, "?")
        if mode & stat.S_IROTH and not others_blocked:
            facts.append((Exposure.WORLD,
                          f"file mode {mode_text}: every user of the machine can read it"))
        elif mode & stat.S_IRGRP and not group_blocked:
            facts.append((Exposure.GROUP,
                          f"file mode {mode_text}: members of group {group} can read it"))
        else:
            blocked = others_blocked or group_blocked
            facts.append((Exposure.OWNER_ONLY,
                          f"file mode {mode_text}, but {blocked} keeps others out" if blocked
                          else f"file mode {mode_text}: only its owner can read it"))
    shared = meta.get(own.EXPOSURE)  # a file on an SMB share: its DACL, read from the server
    if shared == "domain":
        facts.append((Exposure.WORLD, meta.get(own.EXPOSURE_NOTE, "exposed to everyone in "
                                                                  "the domain")))
    elif shared == "restricted":
        facts.append((Exposure.GROUP, meta.get(own.EXPOSURE_NOTE, "readable by the accounts "
                                                                  "its DACL names")))
    mailed = own.others_mailed(meta.get("sender", ""), meta.get("recipients", ""))
    if mailed:
        shown = ", ".join(mailed[:5]) + (f" and {len(mailed) - 5} more" if len(mailed) > 5 else "")
        facts.append((Exposure.MAILED, f"mailed to {len(mailed)} other "
                       f"{'person' if len(mailed) == 1 else 'people'}: {shown}"))
    return max((level for level, _ in facts), default=Exposure.UNKNOWN), facts


def _when(meta: Mapping[str, str]) -> tuple[datetime | None, str]:
    for key, note in (("date", "mail date"), (own.MTIME, "file modified")):
        value = meta.get(key)
        if value:
            try:
                when = datetime.fromisoformat(value)
            except ValueError:
                continue
            return (when if when.tzinfo else when.replace(tzinfo=UTC)), note
    return None, ""


def remediation_steps(rule_text: str, url: str | None, locations: Iterable[Location]) -> tuple[
        str, ...]:
    """The rule's advice (regenerate: the old set stops working), then each copy to delete."""
    first = rule_text or ("Regenerate the codes in the service's security settings so the old "
                          "set stops working, then delete every copy listed.")
    steps = [f"{first} ({url})" if url else first]
    done: set[tuple[str, str | None]] = set()
    mailed: dict[str, None] = {}
    for loc in locations:
        if (loc.path, loc.member) in done:
            continue
        done.add((loc.path, loc.member))
        if loc.member is None:
            steps.append(f"Delete {loc.path}")
        elif loc.is_mail:
            steps.append(f"Delete the mail {loc.member} from {loc.path}")
        else:
            steps.append(f"Delete {loc.member} from {loc.path} (or the whole container)")
        mailed.update(dict.fromkeys(loc.mailed_to))
    if mailed:
        steps.append(f"Ask {', '.join(mailed)} to delete their copy of the mail "
                     "(or have the mail administrator purge it)")
    return tuple(steps)


@dataclass(frozen=True)
class Summary:
    total: int
    copies: int
    by_service: tuple[tuple[str, int], ...]
    by_exposure: tuple[tuple[str, int], ...]
    by_age: tuple[tuple[str, int], ...]
    by_severity: tuple[tuple[str, int], ...]


def summarise(incidents: list[Incident]) -> Summary:
    services = Counter(i.service for i in incidents)
    exposures = Counter(i.exposure for i in incidents)
    ages = Counter(i.age_bucket for i in incidents)
    severities = Counter(i.severity for i in incidents)
    return Summary(
        total=len(incidents),
        copies=sum(len(i.locations) for i in incidents),
        by_service=tuple(sorted(services.items(), key=lambda kv: (-kv[1], kv[0]))),
        by_exposure=tuple((e.label, exposures[e]) for e in sorted(Exposure, reverse=True)
                          if exposures[e]),
        by_age=tuple((b, ages[b]) for b in AGE_BUCKETS if ages[b]),
        by_severity=tuple((s.value, severities[s]) for s in sorted(
            Severity, key=SEVERITY_RANK.__getitem__, reverse=True) if severities[s]),
    )
