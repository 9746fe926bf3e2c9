"""The Markdown report: incidents ranked, each with its owner, copies and a to-do list.

Meant for a ticket, a wiki page or a mail to the people who must act. Paths
go into code spans; other text from the scanned tree is escaped so that a
file name cannot turn into a link or a table.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from mfaleaks.models import ScanResult
from mfaleaks.triage.incidents import Incident, build_incidents, summarise

_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|#!])")


def md(text: str) -> str:
    """Text with Markdown's active characters escaped and kept on one line."""
    return _SPECIAL.sub(r"\\\1", " ".join(text.split()))


def code(text: str) -> str:
    """A code span that holds any text, backticks included."""
    text = " ".join(text.split())
    runs = [len(r) for r in re.findall(r"`+", text)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def render(result: ScanResult, *, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    incidents = build_incidents(result.findings, now)
    s = summarise(incidents)
    out = [
        f"# Leaked MFA recovery material: {s.total} incident(s)",
        "",
        f"{s.copies} copies found in {result.stats.files} file(s); report made "
        f"{now.strftime('%Y-%m-%d %H:%M %Z')}. Codes are masked. For each incident: "
        "regenerate the codes (the old set stops working), then delete every copy.",
    ]
    if result.incomplete:
        out += ["", "**The scan is incomplete (interrupted, or worker processes kept dying: see "
                "the notices): this report covers only part of the files.**"]
    out += ["", "## Summary", ""]
    for title, rows in (("Service", s.by_service), ("Exposure", s.by_exposure),
                        ("Age of the oldest copy", s.by_age)):
        out += [f"| {title} | Incidents |", "|---|---:|"]
        out += [f"| {md(label)} | {n} |" for label, n in rows] or ["| none | 0 |"]
        out.append("")
    out.append("## Incidents")
    for inc in incidents:
        out += ["", *_incident(inc)]
    if result.errors:
        out += ["", f"## Not scanned or partly scanned ({len(result.errors)})", ""]
        out += [f"- {code(e.path + (f' :: {e.member}' if e.member else ''))}: {md(e.reason)}"
                for e in result.errors]
    return "\n".join(out) + "\n"


def _incident(inc: Incident) -> list[str]:
    owner = inc.owner
    lines = [
        f"### {inc.rank}. {md(inc.title)} ({inc.severity.value}) {code(inc.id)}",
        "",
        f"- **Owner:** {md(owner.label)}" + (f" ({owner.strength})" if owner.name else "")
        + (f": {md('; '.join(owner.evidence))}" if owner.evidence else ""),
    ]
    if owner.others:
        lines.append(f"- **Other candidates:** {md(', '.join(owner.others))}")
    notes = f": {md('; '.join(inc.exposure_notes))}" if inc.exposure_notes else ""
    lines.append(f"- **Exposure:** {inc.exposure.label}{notes}")
    if inc.age_days is not None and inc.since is not None:
        lines.append(f"- **Age:** {inc.age_days} days (oldest copy {inc.since.date().isoformat()})")
    else:
        lines.append("- **Age:** unknown")
    masked = ", ".join(code(c) for c in inc.redacted[:5])
    more = f" and {len(inc.redacted) - 5} more" if len(inc.redacted) > 5 else ""
    lines += [f"- **Codes:** {inc.count} ({inc.confidence.value} confidence): {masked}{more}", "",
              f"**Copies ({len(inc.locations)}):**", ""]
    for i, loc in enumerate(inc.locations, 1):
        when = f", {loc.when_note} {loc.when.date().isoformat()}" if loc.when else ""
        lines.append(f"{i}. {code(loc.label)} ({loc.exposure.label}{when})")
    lines += ["", "**What to do:**", ""]
    lines += [f"- [ ] {md(step)}" for step in inc.remediation]
    return lines
