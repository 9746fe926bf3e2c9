"""JSON strings read as the text they hold.

Exports keep notes and messages in JSON strings (Slack, Google Keep, 1Password,
Jupyter outputs): a note of ten codes is one line there, its line breaks written
as \\n, so a code right after one reads as "n5305 2471" and no longer stands
alone. `decoded` turns the escapes back into characters; `line_map` says for
each line of the result which line of the original it comes from. The map is
asked for only when a finding needs its line: package data (botocore's JSON, say)
holds hundreds of thousands of escapes, and a Python step per escape was ~15% of
a scan of site-packages.
"""

from __future__ import annotations

import re

# Escapes inside JSON text: worth decoding when one sits between letters or digits. The
# backslash comes first so that re skips to each one at memchr speed; led by the class,
# the search tried every character (~14 ms per MB of JSON without escapes, against 0.5).
_MAYBE = re.compile(r'\\(?<=[\w\-]\\)[nrtu"/\\]')
_ESCAPE = re.compile(r'\\(?:u([0-9a-fA-F]{4})|([nrt"/\\bf]))')
_UNICODE = re.compile(r"\\u([0-9a-fA-F]{4})")
_SIMPLE = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "/": "/", "\\": "\\", "b": " ", "f": " "}
# A newline of the original, or an escape (taken whole, in order, as decoded() takes them:
# the n of an escaped backslash and n, "\\\\n", is no newline).
_BREAK = re.compile(r"\n|" + _ESCAPE.pattern)


def decoded(text: str) -> str | None:
    """The text with its JSON escapes decoded, or None.

    Only for text that looks like JSON (starts with { or [) and has escapes next to
    letters or digits.
    """
    head = text.lstrip()[:1]
    if head not in ("{", "[") or _MAYBE.search(text) is None:
        return None
    if "\\\\" in text:
        # An escaped backslash may stand before n, u...: one pass that takes escapes in order.
        return _ESCAPE.sub(_one, text)
    # Without one, every backslash starts its own escape and no replacement makes a
    # backslash: plain replaces, in C, give what the pass above gives.
    for escape, char in _SIMPLE.items():
        if escape != "\\":
            text = text.replace("\\" + escape, char)
    if "\\u" in text:
        text = _UNICODE.sub(_one, text)
    return text


def line_map(text: str) -> list[int]:
    """For each line of `decoded(text)`, the index of the line of `text` it comes from."""
    lines = [0]
    line = 0
    for m in _BREAK.finditer(text):
        if m.group(0) == "\n":
            line += 1
            lines.append(line)
        elif m.group(2) == "n" or m.group(1) in ("000a", "000A"):
            lines.append(line)  # a new line of the result, the same line of the original
    return lines


def _one(m: re.Match[str]) -> str:
    if m.group(1):
        code = int(m.group(1), 16)
        # Half of a surrogate pair: not worth pairing for codes.
        return "\ufffd" if 0xD800 <= code <= 0xDFFF else chr(code)
    return _SIMPLE[m.group(2)]
