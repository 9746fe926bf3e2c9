"""Where the code shapes can match in a large text: one Hyperscan pass for all of them.

On text dense with numbers and recovery wording (a user export with a Recovery
Phone column, a package list) every shape runs over the whole text, and the
`regex` module managed ~20-40 MB/s per shape: ~0.6 s per MB for the ~20 shapes.
Hyperscan finds, for all of them in one pass, every offset where a relaxed form
of each shape can end; the exact pattern then only runs in small windows
around those offsets, so what it yields is what it yields over the whole text.

The relaxed form matches wherever the pattern does: lookarounds are dropped,
except that a leading negative lookbehind of one class becomes "start of text
or a character outside the class" and a trailing negative lookahead that starts
with one class becomes "a character outside it or the end", so that a run of
digits or hex is reported once, not at every length. Why the windows give the
same matches as a search of the whole text (finditer's leftmost, non-overlapping
matches): every match ends at or before a reported end (the relaxed match may
take one character more), and starts at most `width` characters before it;
windows reach `width + 2` characters left of each end and `width + 9` right of
it, and those that overlap are merged. In a window, a match that ends after the
window's last reported end cannot be one of the whole text (it would have a
reported end of its own, in this window or one merged with it): it comes from
the window's end cutting the text (the pattern then sees an end of text that is
not there) and is dropped; any other match is at least 8 characters from the
window's end, further than any lookahead reads (shapes with a longer lookahead,
or no bound on their width, are not taken). A match of the whole text never
straddles two windows, so the chain of non-overlapping matches is the same.

Shapes Hyperscan cannot compile, and text that is not valid UTF-8 as a str
(lone surrogates), are searched with their pattern as before.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from typing import Any

import regex

try:
    import hyperscan

    HYPERSCAN = True
except ImportError:  # pragma: no cover - wheels exist for Linux and macOS
    HYPERSCAN = False

from mfaleaks.detect.rules.model import Shape

MIN_TEXT = 64 * 1024  # below this, the patterns over the text cost less than a pass
MAX_WIDTH = 256  # longest match of a shape taken here
MAX_LOOK = 8  # longest lookaround read past the match (see the module docstring)
# Windows closer than this are searched as one: a call per window cost more than
# the pattern over a few dozen characters more (any windows may be merged).
MERGE_GAP = 64

_PROPERTY = re.compile(r"\\[pP](?:\{[^}]*\}|[A-Za-z])")
_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


class _Unsupported(Exception):
    pass


def _class_end(src: str, i: int) -> int:
    """Index just past the character class opening at src[i] == '['."""
    j = i + 1
    if src[j : j + 1] == "^":
        j += 1
    if src[j : j + 1] == "]":
        j += 1
    while j < len(src):
        c = src[j]
        if c == "\\":
            j += 2
            continue
        if c == "[":
            raise _Unsupported("nested class")
        if c == "]":
            return j + 1
        j += 1
    raise _Unsupported("open class")


def _group_end(src: str, i: int) -> int:
    """Index just past the group opening at src[i] == '('."""
    depth = 0
    j = i
    while j < len(src):
        c = src[j]
        if c == "\\":
            j += 2
            continue
        if c == "[":
            j = _class_end(src, j)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    raise _Unsupported("open group")


def _negated(cls: str) -> str:
    """[X] -> [^X] and [^X] -> [X]."""
    return "[" + cls[2:] if cls.startswith("[^") else "[^" + cls[1:]


def _first_class(body: str) -> str | None:
    """The class a lookaround body starts with, if it is the whole first alternative."""
    if not body.startswith("["):
        return None
    end = _class_end(body, 0)
    return body[:end] if end == len(body) or body[end] == "|" else None


def _width(src: str) -> int:
    """Longest match of a `regex` pattern's source (lookarounds count as nothing)."""
    plain = _PROPERTY.sub("a", src)
    try:
        return int(re._parser.parse(plain).getwidth()[1])  # type: ignore[attr-defined]
    except (re.error, RecursionError, AttributeError) as exc:
        raise _Unsupported(str(exc)) from exc


def relaxed(src: str) -> tuple[str, int]:
    """(Hyperscan expression matching wherever src does, src's longest match)."""
    out: list[str] = []
    i = 0
    depth = 0
    top_level_or = False
    looks: list[tuple[int, int, str, str]] = []  # (start, end, kind, body) of lookarounds
    while i < len(src):
        c = src[i]
        if c == "\\":
            out.append(src[i : i + 2])
            i += 2
            continue
        if c == "[":
            end = _class_end(src, i)
            out.append(src[i:end])
            i = end
            continue
        if c == "(":
            for kind in ("(?<!", "(?<=", "(?!", "(?="):
                if src.startswith(kind, i):
                    end = _group_end(src, i)
                    if src[end : end + 1] in ("?", "*", "+", "{"):
                        raise _Unsupported("quantified lookaround")
                    looks.append((len(out), end, kind, src[i + len(kind) : end - 1]))
                    out.append("")  # filled in below
                    i = end
                    break
            else:
                named = re.match(r"\(\?P<\w+>", src[i:])
                if named:
                    out.append("(?:")
                    i += named.end()
                elif src.startswith("(?#", i) or src.startswith("(?P=", i):
                    raise _Unsupported("comment or back reference")
                else:
                    out.append("(")
                    i += 1
                depth += 1
            continue
        if c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            top_level_or = True
        out.append(c)
        i += 1
    for index, end, kind, body in looks:
        if _width(body) > MAX_LOOK:
            raise _Unsupported("long lookaround")
        cls = _first_class(body)
        if top_level_or or cls is None:
            continue
        if kind == "(?<!" and index == 0:
            out[index] = f"(?:^|{_negated(cls)})"
        elif kind == "(?!" and end == len(src):
            out[index] = f"(?:{_negated(cls)}|$)"
    expr = _UNICODE_ESCAPE.sub(lambda m: "\\x{" + m.group(1) + "}", "".join(out))
    width = _width(src)
    if width > MAX_WIDTH:
        raise _Unsupported("unbounded width")
    return expr, width


class ShapeScanner:
    """One Hyperscan database of the relaxed shapes; windows per shape for a text."""

    def __init__(self, shapes: Iterable[Shape]) -> None:
        self.widths: dict[str, int] = {}
        self._names: list[str] = []
        self._db: Any = None
        if not HYPERSCAN:
            return
        exprs: list[bytes] = []
        flags: list[int] = []
        for shape in shapes:
            try:
                expr, width = relaxed(shape.pattern.pattern)
            except _Unsupported:
                continue
            flag = hyperscan.HS_FLAG_UTF8 | hyperscan.HS_FLAG_UCP
            if shape.pattern.flags & regex.IGNORECASE:
                flag |= hyperscan.HS_FLAG_CASELESS
            if shape.pattern.flags & regex.MULTILINE:
                flag |= hyperscan.HS_FLAG_MULTILINE
            if shape.pattern.flags & regex.DOTALL:
                flag |= hyperscan.HS_FLAG_DOTALL
            if not _compiles(expr.encode("utf-8"), flag):
                continue
            exprs.append(expr.encode("utf-8"))
            flags.append(flag)
            self._names.append(shape.name)
            self.widths[shape.name] = width
        if exprs:
            db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
            db.compile(expressions=exprs, ids=list(range(len(exprs))),
                       elements=len(exprs), flags=flags)
            self._db = db
            self._scratch = hyperscan.Scratch(db)

    def ends(self, text: str) -> dict[str, list[int]] | None:
        """Per shape taken here, the sorted offsets (in text) where it may end;
        None when the text is not searched this way."""
        if self._db is None or len(text) < MIN_TEXT:
            return None
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            return None  # lone surrogates: not valid UTF-8 for Hyperscan
        found: list[list[int]] = [[] for _ in self._names]

        def on_match(shape: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
            found[shape].append(end)

        self._db.scan(data, match_event_handler=on_match, scratch=self._scratch)
        if len(data) != len(text):
            found = _as_characters(data, found)
        # Hyperscan reports in order of end, nearly: sorted to be sure (linear then).
        return {name: sorted(ends) for name, ends in zip(self._names, found, strict=True)}


def _compiles(expr: bytes, flag: int) -> bool:
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    try:
        db.compile(expressions=[expr], ids=[0], elements=1, flags=[flag])
    except hyperscan.error:
        return False
    return True


def _as_characters(data: bytes, found: list[list[int]]) -> list[list[int]]:
    """Byte offsets -> character offsets: a byte offset less the continuation bytes
    before it (text past ASCII is mostly sparse: a few names, accents)."""
    tails = [m.start() for m in _CONTINUATION.finditer(data)]
    out = []
    for ends in found:
        mapped = []
        for e in ends:
            k = bisect.bisect_left(tails, e)
            # An end inside a character (not expected) moves on to its end.
            while k < len(tails) and tails[k] == e:
                e += 1
                k += 1
            mapped.append(e - k)
        out.append(mapped)
    return out


_CONTINUATION = re.compile(rb"[\x80-\xbf]")


def windows(ends: list[int], width: int, size: int) -> list[tuple[int, int, int]]:
    """(start, stop, last end) of the merged windows around the ends (see module doc)."""
    out: list[tuple[int, int, int]] = []
    left, right = width + 2, width + MAX_LOOK + 1
    lo = hi = last = -1
    for e in ends:
        a = e - left if e > left else 0
        if a <= hi + MERGE_GAP:
            hi, last = e + right, e
            continue
        if last >= 0:
            out.append((lo, min(hi, size), last))
        lo, hi, last = a, e + right, e
    if last >= 0:
        out.append((lo, min(hi, size), last))
    return out
