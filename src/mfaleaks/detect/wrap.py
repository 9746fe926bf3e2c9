"""Codes broken across lines: PDF text layers, narrow HTML mail, OCR of narrow columns.

A long code (1Password's Secret Key, Bitwarden's and Tuta's grouped codes) wraps
at a hyphen or between groups. pdfium writes a hyphen that ends a line as U+FFFE
(its soft-hyphen marker). `unwrap` joins such lines so the code reads whole again;
each joined line is followed by an empty one, so every later line keeps its number.
"""

from __future__ import annotations

import re

# A break inside a code, with the code part before it: a hyphenated code (two groups
# at least) ending in '-' or pdfium's marker, then maybe one blank line (<br> and a
# new line in HTML mail), then the rest. (Codes in groups of four separated by
# spaces take a line break in their shapes, rules/common.toml.)
_BREAK = re.compile(
    r"(?:(?<=[\s:])|^)[A-Z0-9]+(?:-[A-Z0-9]+)+"
    r"(?P<brk>-?\ufffe[ \t\r]*\n(?:[ \t\r]*\n)?[ \t]*|-[ \t\r]*\n(?:[ \t\r]*\n)?[ \t]*)"
    r"(?=[A-Z0-9]+(?:-[A-Z0-9]+)*(?:\s|$))",
    re.M,
)
_HINTS = ("\ufffe", "-\n", "-\r\n")
_LINE = 512  # how far around a hint a code may reach


def _hints(text: str) -> list[int]:
    """Where a line ends in a hyphen or pdfium's marker (str.find: ~1 GB/s, no regex).
    A search of the whole text cost a tenth of a small file's scan: "-\r\n" is not
    searched in text without "\r" (a memchr), nor U+FFFE in ASCII text (a flag of the str)."""
    found: list[int] = []
    for hint in _HINTS:
        if ("\r" in hint and "\r" not in text) or (hint == "\ufffe" and text.isascii()):
            continue
        at = text.find(hint)
        while at != -1:
            found.append(at)
            at = text.find(hint, at + 1)
    return sorted(set(found))


def unwrap(text: str) -> str | None:
    """text with codes broken across lines joined, or None if there are none.

    The line breaks taken out of a code are put back after the line it ends on.
    """
    out: list[str] = []
    pos = 0
    owed = 0  # line breaks taken out, not yet put back
    for hint in _hints(text):
        # A code's last character comes right before a hyphen that ends a line; before
        # pdfium's marker there may be a hyphen too. Section underlines ("-----") and
        # lines of a table end in "--" and never start a break: they are most hints.
        before = text[hint - 1 : hint]
        if hint < pos or not ("A" <= before <= "Z" or before.isdigit()
                              or (before == "-" and text[hint] == "\ufffe")):
            continue
        lo = max(pos, text.rfind("\n", 0, hint) + 1, hint - _LINE)
        m = _BREAK.search(text, lo, min(len(text), hint + _LINE))
        if m is None or not (m.start("brk") <= hint < m.end("brk")):
            continue
        start, end = m.span("brk")
        if owed:
            nl = text.find("\n", pos, start)
            if nl != -1:
                out += [text[pos : nl + 1], "\n" * owed]
                pos, owed = nl + 1, 0
        out += [text[pos:start], "-"]
        owed += text.count("\n", start, end)
        pos = end
    if not out:
        return None
    nl = text.find("\n", pos) if owed else -1
    if owed and nl == -1:
        out += [text[pos:], "\n" * owed]
    elif owed:
        out += [text[pos : nl + 1], "\n" * owed, text[nl + 1 :]]
    else:
        out.append(text[pos:])
    return "".join(out)
