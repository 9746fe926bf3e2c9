"""Codes broken across lines: PDF text layers, narrow HTML mail, OCR of narrow columns.

A long code (1Password's Secret Key, Bitwarden's and Tuta's grouped codes) wraps
at a hyphen or between groups. pdfium writes a hyphen that ends a line as U+FFFE
(its soft-hyphen marker). `unwrap` joins such lines so the code reads whole again;
each joined line is followed by an empty one, so every later line keeps its number.
"""

from __future__ import annotations

import re

# Cheap test first: most text has no upper-case or hex code part at a line end.
_MAYBE = re.compile(r"\ufffe|[A-Z0-9]-[ \t]*\r?\n|[A-Za-z0-9]{4}[ \t]*\r?\n[ \t]*[A-Za-z0-9]{4}")
# A line ending in part of a hyphenated code (two groups at least) or its marker.
_HYPHEN_END = re.compile(r"(?:^|[\s:])[A-Z0-9]+(?:-[A-Z0-9]+)+(?:-?\ufffe|-)$")
_NEXT_HYPHENATED = re.compile(r"^[A-Z0-9]+(?:-[A-Z0-9]+)*(?:\s|$)")
# Groups of four split between lines: "ABCD EFGH IJKL MNOP" / "QRST UVWX ...".
_GROUPS_END = re.compile(
    r"(?:^|[\s:])(?:[A-Z0-9]{4} )+[A-Z0-9]{4}$|(?:^|[\s:])(?:[0-9a-f]{4} )+[0-9a-f]{4}$"
)
_GROUPS_NEXT = re.compile(r"^(?:[A-Z0-9]{4}|[0-9a-f]{4})(?: |$)")


def unwrap(text: str) -> str | None:
    """text with codes broken across lines joined, or None if there are none."""
    if _MAYBE.search(text) is None:
        return None
    lines = text.split("\n")
    out: list[str] = []
    joined = False
    i = 0
    while i < len(lines):
        line = lines[i]
        pending = 0
        while i + 1 < len(lines):
            end = line.rstrip(" \t\r")
            nxt = lines[i + 1].strip(" \t\r")
            if _HYPHEN_END.search(end) and _NEXT_HYPHENATED.match(nxt):
                line = _hyphen(end) + nxt
            elif (not nxt and i + 2 < len(lines) and _HYPHEN_END.search(end)
                  and _NEXT_HYPHENATED.match(lines[i + 2].strip(" \t\r"))):
                # <br> then a new line in HTML mail: one blank line inside the code.
                line = _hyphen(end) + lines[i + 2].strip(" \t\r")
                i += 1
                pending += 1
            elif _GROUPS_END.search(end) and _GROUPS_NEXT.match(nxt) and _same_case(end, nxt):
                line = end + " " + nxt
            else:
                break
            i += 1
            pending += 1
        out.append(line)
        out.extend([""] * pending)
        joined = joined or pending > 0
        i += 1
    return "\n".join(out) if joined else None


def _hyphen(end: str) -> str:
    """pdfium's marker stands for the hyphen (or follows it)."""
    return end.replace("-\ufffe", "-").replace("\ufffe", "-")


def _same_case(end: str, nxt: str) -> bool:
    """Both sides are the same kind of group (upper-case or hex), not a word after a code."""
    a, b = end[-4:], nxt[:4]
    return (a.isupper() or a.isdigit()) == (b.isupper() or b.isdigit()) or (
        all(c in "0123456789abcdef" for c in a + b)
    )
