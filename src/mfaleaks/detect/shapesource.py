"""Reading a shape's pattern source: where its `code` group is, and what is around it.

Shared by reasons.py (searching the code group alone) and space.py (the guessing
space of one code); only the rule pack's own patterns are read here.
"""

from __future__ import annotations

import re

import regex

from mfaleaks.detect.rules.model import Shape


class Unsupported(Exception):
    """A pattern source the strict scanners cannot read exactly."""


def class_end(src: str, i: int) -> int:
    """Index just past the character class opening at src[i] == '[' (strict)."""
    j = i + 1
    if src[j : j + 1] == "^":
        j += 1
    if src[j : j + 1] == "]":  # a literal ']' first in a class
        j += 1
    while j < len(src):
        c = src[j]
        if c == "\\":
            j += 2
            continue
        if c == "[":
            raise Unsupported("nested class")
        if c == "]":
            return j + 1
        j += 1
    raise Unsupported("open class")


def strict_group_end(src: str, i: int) -> int:
    """Index just past the group opening at src[i] == '(' (strict: raises Unsupported
    on what it cannot read exactly, for shapescan, which must not window a shape then)."""
    depth = 0
    j = i
    while j < len(src):
        c = src[j]
        if c == "\\":
            j += 2
            continue
        if c == "[":
            j = class_end(src, j)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    raise Unsupported("open group")


def group_end(source: str, i: int) -> int:
    """The index just past the group that opens at source[i] == '(' (lenient: never
    fails, since it masks reasons; what the strict scanner refuses is read as before)."""
    try:
        return strict_group_end(source, i)
    except Unsupported:
        return _lenient_group_end(source, i)


def _lenient_group_end(source: str, i: int) -> int:
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
