"""Inline allow markers: a comment on the codes' line (or the one above) that waives them.

Markers of other secret scanners count too, so a file already annotated for
them needs no second comment. The scorer records the marker on the finding;
triage/suppress.py decides what it means (hidden, or shown with --no-inline-allow).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the scorer imports this module in workers: keep it light
    import regex

# Markers of our own and of other secret scanners, so a file already annotated
# for them needs no second comment. `nosec` (bandit, gosec) is deliberately
# absent: it waives code-security lints, and read as a secrets waiver a blanket
# annotation would hide real codes.
MARKERS: tuple[tuple[str, str], ...] = (
    ("mfaleaks:allow", r"mfaleaks:\s?allow"),
    ("gitleaks:allow", r"gitleaks:allow"),
    ("pragma: allowlist secret", r"pragma:\s*allowlist\s+(?:nextline\s+)?secret"),
    ("trufflehog:ignore", r"trufflehog:ignore"),
    ("ggignore", r"(?<![\p{L}\p{N}])ggignore(?![\p{L}\p{N}])"),
)
@functools.cache
def _marker() -> regex.Pattern[str]:
    # Compiled on first use: the parent process never needs it (regex costs ~10 ms to import).
    import regex

    alternatives = "|".join(f"(?P<m{i}>{pattern})" for i, (_, pattern) in enumerate(MARKERS))
    return regex.compile(alternatives, regex.I)


def allow_marker(text: str, start: int, end: int) -> str | None:
    """The marker on the lines of text[start:end] or on the line just before them."""
    line_start = text.rfind("\n", 0, start) + 1
    lo = text.rfind("\n", 0, max(0, line_start - 1)) + 1 if line_start else 0
    hi = text.find("\n", end)
    m = _marker().search(text, lo, hi if hi != -1 else len(text))
    if m is None:
        return None
    return MARKERS[int(m.lastgroup[1:])][0] if m.lastgroup else None
