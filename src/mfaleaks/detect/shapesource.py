"""Reading a shape's pattern source: where its `code` group is, and what is around it.

Shared by reasons.py (searching the code group alone) and space.py (the guessing
space of one code); only the rule pack's own patterns are read here.
"""

from __future__ import annotations

import re

import regex

from mfaleaks.detect.rules.model import Shape


def group_end(source: str, i: int) -> int:
    """The index just past the group that opens at source[i] == '('."""
    depth, in_class = 0, False
    while i < len(source):
        c = source[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            if source[i + 1 : i + 2] == "]":  # a literal ']' first in a class
                i += 1
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(source)


_BOUNDARY = re.compile(r"\(\?<?[!=]|\(\?[a-zA-Z]+\)")  # a lookaround or a flag group
_BLANKS = {"^", "$", "[ \\t]*", "\\r?"}


def code_group(shape: Shape) -> tuple[str, bool] | None:
    """(the source of a shape's `code` group, whether the pattern needs more than
    lookarounds, anchors and blanks around it); None when the whole match is the code."""
    source: str = shape.pattern.pattern
    start = source.find("(?P<code>")
    if start < 0:
        return None
    end = group_end(source, start)
    outside = []
    for part in (source[:start], source[end:]):
        i = 0
        while i < len(part):
            if _BOUNDARY.match(part, i):
                i = group_end(part, i)
                continue
            outside.append(part[i])
            i += 1
    rest = "".join(outside)
    for blank in _BLANKS:
        rest = rest.replace(blank, "")
    return source[start + len("(?P<code>") : end - 1], bool(rest.strip())


def code_pattern(pattern: regex.Pattern[str]) -> regex.Pattern[str]:
    """The code alone: the `code` group's pattern, or else the whole pattern."""
    source: str = pattern.pattern
    start = source.find("(?P<code>")
    if start >= 0:
        source = source[start + len("(?P<code>") : group_end(source, start) - 1]
    return regex.compile(source, pattern.flags & ~regex.MULTILINE)
