"""JSON strings read as the text they hold.

Exports keep notes and messages in JSON strings (Slack, Google Keep, 1Password,
Jupyter outputs): a note of ten codes is one line there, its line breaks written
as \\n, so a code right after one reads as "n5305 2471" and no longer stands
alone. `decoded` turns the escapes back into characters, and says for each line
of the result which line of the original it comes from.
"""

from __future__ import annotations

import re

# Escapes inside JSON text: worth decoding when one sits between letters or digits.
_MAYBE = re.compile(r'[\w\-]\\[nrtu"/\\]')
_ESCAPE = re.compile(r'\\(?:u([0-9a-fA-F]{4})|([nrt"/\\bf]))')
_SIMPLE = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "/": "/", "\\": "\\", "b": " ", "f": " "}


def decoded(text: str) -> tuple[str, list[int]] | None:
    """(text with JSON escapes decoded, original line index of each of its lines), or None.

    Only for text that looks like JSON (starts with { or [) and has escapes next to
    letters or digits.
    """
    head = text.lstrip()[:1]
    if head not in ("{", "[") or _MAYBE.search(text) is None:
        return None
    parts: list[str] = []
    lines = [0]
    line = 0
    pos = 0
    for m in _ESCAPE.finditer(text):
        chunk = text[pos : m.start()]
        for _ in range(chunk.count("\n")):
            line += 1
            lines.append(line)
        parts.append(chunk)
        if m.group(1):
            ch = chr(int(m.group(1), 16))
            if 0xD800 <= ord(ch) <= 0xDFFF:
                ch = "\ufffd"  # half of a surrogate pair: not worth pairing for codes
        else:
            ch = _SIMPLE[m.group(2)]
        if ch == "\n":
            lines.append(line)  # a new line of the result, the same line of the original
        parts.append(ch)
        pos = m.end()
    rest = text[pos:]
    for _ in range(rest.count("\n")):
        line += 1
        lines.append(line)
    parts.append(rest)
    return "".join(parts), lines
