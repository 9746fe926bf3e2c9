"""The CSV checklist: one row per incident, to import into a ticket system.

The id is stable across scans of the same codes, so a re-import can update
tickets instead of duplicating them. Cells that a spreadsheet would run as a
formula (=, +, -, @ first) are prefixed with a quote: file names come from the
scanned tree, not from us.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from mfaleaks.models import ScanResult
from mfaleaks.triage.incidents import Incident, build_incidents

COLUMNS = (
    "id", "rank", "status", "summary", "service", "title", "severity", "confidence", "owner",
    "owner_strength", "owner_evidence", "exposure", "exposure_notes", "oldest_copy", "age_days",
    "copies", "locations", "codes", "remediation", "url",
)
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def render(result: ScanResult, *, now: datetime | None = None) -> str:
    incidents = build_incidents(result.findings, now or datetime.now(UTC))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for inc in incidents:
        writer.writerow([_safe(v) for v in _row(inc)])
    return buf.getvalue()


def _row(inc: Incident) -> list[str]:
    owner = inc.owner
    whose = f" of {owner.name}" if owner.name else ""
    return [
        inc.id,
        str(inc.rank),
        "open",
        f"Revoke {inc.title}{whose}: {len(inc.locations)} "
        f"cop{'y' if len(inc.locations) == 1 else 'ies'}, {inc.exposure.label}",
        inc.service,
        inc.title,
        inc.severity.value,
        inc.confidence.value,
        owner.name or "",
        owner.strength,
        "\n".join(owner.evidence),
        inc.exposure.label,
        "\n".join(inc.exposure_notes),
        inc.since.date().isoformat() if inc.since else "",
        "" if inc.age_days is None else str(inc.age_days),
        str(len(inc.locations)),
        "\n".join(loc.label for loc in inc.locations),
        f"{inc.count} codes: " + ", ".join(inc.redacted),
        "\n".join(f"{i}. {step}" for i, step in enumerate(inc.remediation, 1)),
        inc.url or "",
    ]


def _safe(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA) else value
