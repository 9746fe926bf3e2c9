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

A run shape, `(?<![C1])[K]{m,n}(?![C2])` with K a class of ASCII letters and digits
inside C1 and C2 (hex-16, alnum-8-12...), needs no pattern at all: its matches are
the maximal runs of K of m to n characters between a character outside C1 and one
outside C2, which Hyperscan finds exactly in a second database (it reports where a
run ends; the run starts after the last byte before it outside K). On text dense
with such runs (an export: ids and phone numbers on every row) a window and a
pattern call per candidate cost ~8 us; a reported run costs ~1 us. Where a run
touches a non-ASCII character, whose class Hyperscan's Unicode tables might see
otherwise than `regex`'s, the pattern confirms it. Shapes whose validation asks for
a character of one or two classes have it folded into the expression, with their
lengths where the classes allow (shapes differing only in length share one
expression). A segment shape, (?<![C1])BODY(?![C2]) with BODY written with ASCII
letters, digits and hyphens that are all in C1 and C2 (alnum-groups, hex-5-5...),
is found the same way: each of its matches is a whole run of those characters; a
validation asking for a character of one or two classes is folded into its expression
too (holds.py), so that a run without them ("Full-time") is not reported.

A shape whose match has no bound (or a long one) is searched with its pattern
over the whole text, but only if Hyperscan says it may occur. Shapes Hyperscan
cannot compile, and text that is not valid UTF-8 as a str (lone surrogates),
are searched with their pattern as before.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import operator
import re
from collections.abc import Iterable
from typing import Any, NamedTuple

import regex

try:
    import hyperscan

    HYPERSCAN = True
except ImportError:  # pragma: no cover - wheels exist for Linux and macOS
    HYPERSCAN = False

from mfaleaks.detect import hscache
from mfaleaks.detect.holds import class_members, holding
from mfaleaks.detect.rules.model import Shape
from mfaleaks.detect.shapesource import Unsupported, class_end, strict_group_end

# Where only spans around recovery wording are searched (score.Engine._spans), a pass
# over all of a small text costs more than the patterns over the spans.
MIN_TEXT = 64 * 1024
MAX_WIDTH = 256  # longest match of a shape searched in windows
MAX_LOOK = 8  # longest lookaround read past the match (see the module docstring)
# search_within's margin: a match that starts in a span ends within MAX_WIDTH, and reads
# MAX_LOOK past either end (windows() reaches width + 2 back).
AROUND = MAX_WIDTH + MAX_LOOK + 2
# Windows closer than this are searched as one: a call per window cost more than
# the pattern over a few dozen characters more (any windows may be merged).
MERGE_GAP = 64

_PROPERTY = re.compile(r"\\[pP](?:\{[^}]*\}|[A-Za-z])")
_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_REPEAT = re.compile(r"\{(\d*),(\d+)\}\??")


# The pattern-source scanners are shapesource's strict ones: what they cannot read
# exactly (a nested class, an open group) is not windowed.
_Unsupported = Unsupported
_class_end = class_end
_group_end = strict_group_end


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
            # A word boundary asserts something: without it the form only matches more
            # (and Hyperscan takes no \b with Unicode classes).
            out.append("" if src[i + 1 : i + 2] in ("b", "B") else src[i : i + 2])
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
        rep = _REPEAT.match(src, i) if c == "{" else None
        if rep and int(rep.group(2)) > MAX_WIDTH:
            # {m,n} with n past MAX_WIDTH: the shape is searched whole anyway, and Hyperscan
            # spends ~20 s to refuse a long bounded repeat of a Unicode class (otpauth's
            # {0,512}): {m,} matches wherever it does.
            out.append("{" + rep.group(1) + ",}")
            i = rep.end()
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
    return expr, _width(src)


_RUN_SHAPE = re.compile(
    r"\(\?<!(\[[^\[\]]*\])\)(\[[0-9A-Za-z-]+\])\{(\d+)(?:,(\d+))?\}\(\?!(\[[^\[\]]*\])\)"
)
# Flags that change what a class or an anchor means: such shapes are not taken as runs.
_RUN_FLAGS = regex.IGNORECASE | regex.MULTILINE | regex.DOTALL | regex.VERBOSE | regex.ASCII


def run_expression(
    pattern: regex.Pattern[str],
    validate: regex.Pattern[str] | None = None,
    lengths: tuple[int, int] | None = None,
) -> tuple[str, int, int] | None:
    """(Hyperscan expression matching a run shape's codes with one character on each
    side, shortest and longest code), or None when the shape is not a run shape (see
    the module docstring). A `validate` that asks for characters of some classes
    somewhere in the code is folded in where it can be: then runs without them are not
    reported at all, and the length is checked on the reported runs. With `lengths`
    (shortest, longest) the folded expression holds those bounds too where the classes
    allow it (they split the run's characters in two, or one of them is asked for):
    then runs of other lengths are not reported either (an export's employee ids
    and device ids, one a row, each a Python call)."""
    if pattern.flags & _RUN_FLAGS:
        return None
    m = _RUN_SHAPE.fullmatch(pattern.pattern)
    if m is None:
        return None
    before, body, low, high, after = m.groups()
    high = high or low
    try:
        cls_before, cls_body, cls_after = (regex.compile(c) for c in (before, body, after))
    except regex.error:
        return None
    # A run must not start or end inside a longer run: every K character is in C1 and
    # C2. The text is padded with a line break on each side (ShapeScanner.runs), which
    # must stand where the pattern sees the start or end of the text: outside both.
    chars = [chr(i) for i in range(128) if cls_body.fullmatch(chr(i))]
    if any(not (cls_before.fullmatch(c) and cls_after.fullmatch(c)) for c in chars):
        return None
    if cls_before.fullmatch("\n") or cls_after.fullmatch("\n") or int(low) > int(high):
        return None
    members = _held(validate, chars) if validate is not None else None
    bounded = _bounded(chars, members, *lengths) if members and lengths else None
    if members is None:
        core = f"{body}{{{low},{high}}}"
    elif bounded is not None:
        core = bounded
    else:
        held = [_ascii_class(m) for m in members]
        run = _ascii_class(chars) + "*"
        orders = [held] if len(held) == 1 else [held, held[::-1]]
        core = "(?:" + "|".join(run + run.join(order) + run for order in orders) + ")"
    expr = f"{_negated(before)}{core}{_negated(after)}"
    return _UNICODE_ESCAPE.sub(lambda u: "\\x{" + u.group(1) + "}", expr), int(low), int(high)


def _run_body(pattern: regex.Pattern[str]) -> str:
    """The characters of a run shape's runs (its body class: ASCII only)."""
    m = _RUN_SHAPE.fullmatch(pattern.pattern)
    assert m is not None
    body = regex.compile(m.group(2))
    return "".join(chr(i) for i in range(128) if body.fullmatch(chr(i)))


# (?<![C1])BODY(?![C2]) where BODY is written with classes of ASCII letters, digits and
# hyphens, those characters, groups and counts (alnum-groups, hex-5-5, alnum-7x4...).
_SEGMENT_SHAPE = re.compile(
    r"\(\?<!(\[[^\[\]]*\])\)"
    r"((?:\[[0-9A-Za-z-]+\]|[0-9A-Za-z-]|\\-|\(\?:|\)|\{\d+(?:,\d+)?\}|\?)+)"
    r"\(\?!(\[[^\[\]]*\])\)"
)
_SEGMENT_SYNTAX = re.compile(r"\[[0-9A-Za-z-]+\]|\(\?:|\{\d+(?:,\d+)?\}|[()?\\]")


def segment_expression(
    pattern: regex.Pattern[str], validate: regex.Pattern[str] | None = None,
) -> tuple[str, str, int, bool] | None:
    """(Hyperscan expression matching a segment shape's codes with one character on
    each side, the characters its codes are made of, its longest code, whether the
    expression holds `validate`), or None.

    A segment shape is (?<![C1])BODY(?![C2]) whose BODY holds only ASCII characters of
    both C1 and C2 (K), and never nothing: a match is then preceded and followed by
    characters outside K, so it is a whole run of K characters, and a run of K between
    a character outside C1 and one outside C2 is a match if BODY matches all of it.
    Like a run shape's, its matches are what Hyperscan reports, without windows. A
    `validate` that asks for a character of one or two classes is folded in where it
    can be (holds.py): runs without them are then not reported at all."""
    if pattern.flags & _RUN_FLAGS:
        return None
    m = _SEGMENT_SHAPE.fullmatch(pattern.pattern)
    if m is None:
        return None
    before, body, after = m.groups()
    try:
        cls_before, cls_after, whole = (regex.compile(c) for c in (before, after, body))
    except regex.error:
        return None
    chars = set(_SEGMENT_SYNTAX.sub("", body).replace("\\", ""))
    for cls in re.findall(r"\[[0-9A-Za-z-]+\]", body):
        chars |= class_members(cls)
    if not chars or any(not (cls_before.fullmatch(c) and cls_after.fullmatch(c))
                        for c in chars):
        return None
    if cls_before.fullmatch("\n") or cls_after.fullmatch("\n") or whole.fullmatch(""):
        return None
    width = _width(body)
    if width > MAX_WIDTH:
        return None
    held = _held(validate, sorted(chars)) if validate is not None else None
    core = holding(body, held) if held else None
    expr = f"{_negated(before)}{core or body}{_negated(after)}"
    return expr, "".join(sorted(chars)), width, core is not None


# validate = '^(?=.*A)(?=.*B)': the code holds an A and a B (A, B: \d or a class).
_HOLDS = re.compile(r"\(\?=\.\*(\\d|\[[^\[\]\\]*\])\)")


def _bounded(chars: list[str], held: list[list[str]], low: int, high: int) -> str | None:
    """A run of `chars` of `low` to `high` characters holding one of each `held` class:
    the characters before the first one of another class than the run's first, that
    one, and the rest. None when the classes do not allow it (then the length is
    checked on each run reported)."""
    if len(held) == 1:
        others = [c for c in chars if c not in held[0]]
        if not others:
            return None  # every run holds one: nothing to fold
        first, second = [others], [held[0]]
    else:
        a, b = held
        if set(a) & set(b) or sorted(a + b) != sorted(chars):
            return None
        first, second = [a, b], [b, a]
    anything = _ascii_class(chars)
    alts = []
    for p in range(len(held) - 1, high):  # p characters before the one that decides
        rest_low, rest_high = max(0, low - p - 1), high - p - 1
        rest = f"{anything}{{{rest_low},{rest_high}}}" if rest_high > 0 else ""
        for lead, then in zip(first, second, strict=True):
            head = f"{_ascii_class(lead)}{{{p}}}" if p else ""
            alts.append(f"{head}{_ascii_class(then)}{rest}")
    return "(?:" + "|".join(alts) + ")"


def _held(validate: regex.Pattern[str], chars: list[str]) -> list[list[str]] | None:
    """The classes (of run characters) of which a code must hold one each, when that is
    all `validate` asks (one or two of them); else None."""
    if validate.flags & _RUN_FLAGS or not validate.pattern.startswith("^"):
        return None
    atoms = _HOLDS.findall(validate.pattern)
    if not 1 <= len(atoms) <= 2 or "".join(f"(?=.*{a})" for a in atoms) != validate.pattern[1:]:
        return None
    out = []
    for atom in atoms:
        cls = regex.compile(atom)
        members = [c for c in chars if cls.fullmatch(c)]
        if not members:
            return None  # no code passes: left to the validation of each code
        out.append(members)
    return out


def _ascii_class(chars: list[str]) -> str:
    return "[" + "".join(f"\\x{ord(c):02x}" for c in chars) + "]"


class ShapeScanner:
    """One Hyperscan database of the relaxed shapes; windows per shape for a text.

    Compiling it takes seconds (the Unicode classes of ~20 shapes): like the
    prefilter's, the compiled database is kept between runs (hscache.py)."""

    def __init__(self, shapes: Iterable[Shape]) -> None:
        # Per shape taken: its longest match, or None when that is more than MAX_WIDTH
        # (then Hyperscan only tells whether it may occur at all: see Engine.scan_chunk).
        self.widths: dict[str, int | None] = {}
        self._names: list[str] = []
        self._db: Any = None
        # Run shapes (see the module docstring), found exactly by a database of their own.
        self.run_shapes: frozenset[str] = frozenset()
        self._run_names: list[str] = []
        self._run_db: Any = None
        if not HYPERSCAN:
            return
        shapes = list(shapes)
        # Shapes with the same run expression (hex-8-20, hex-16 and hex-12 differ only
        # in length) share one: each run is reported once and handed to the shapes
        # whose lengths it fits (a Python call per run and shape cost more than the
        # scan on text dense with ids: ~1 us each, five shapes on every row).
        exprs: dict[bytes, list[tuple[str, int, int]]] = {}  # expr -> (name, low, high)
        # Run shapes whose validation the expression holds (a reported run passes it),
        # and those whose runs are letters and digits only (match.run_tokens).
        self._validated: set[str] = set()
        self._alnum: set[str] = set()
        for shape in shapes:
            run = run_expression(shape.pattern, shape.validate)
            if run is not None:
                exprs.setdefault(run[0].encode("utf-8"), []).append((shape.name, *run[1:]))
                if shape.validate is None or run_expression(shape.pattern) != run:
                    self._validated.add(shape.name)
                if _run_body(shape.pattern).isalnum():
                    self._alnum.add(shape.name)
        # Segment shapes: each its own expression, any length its pattern allows.
        chars_of = {}
        for shape in shapes:
            if shape.name in self._validated | self._alnum or any(
                shape.name == name for group in exprs.values() for name, _, _ in group
            ):
                continue
            segment = segment_expression(shape.pattern, shape.validate)
            if segment is not None:
                exprs.setdefault(segment[0].encode("utf-8"), []).append(
                    (shape.name, 1, segment[2]))
                chars_of[shape.name] = segment[1]
                if shape.validate is None or segment[3]:
                    self._validated.add(shape.name)
                if segment[1].isalnum():
                    self._alnum.add(shape.name)
        # The expression a group shares holds the lengths of all its shapes, if it can.
        by_name = {shape.name: shape for shape in shapes}
        for unbounded, group in list(exprs.items()):
            shape = by_name[group[0][0]]
            bounds = (min(low for _, low, _ in group), max(high for _, _, high in group))
            run = run_expression(shape.pattern, shape.validate, bounds)
            if run is not None and run[0].encode("utf-8") != unbounded:
                del exprs[unbounded]
                exprs[run[0].encode("utf-8")] = group
        # Only ends are reported: where a run starts is found in the data (_runs), and
        # asking Hyperscan for starts (SOM_LEFTMOST) tripled the time of its scan.
        flag = hyperscan.HS_FLAG_UTF8 | hyperscan.HS_FLAG_UCP
        runs = [("", expr, flag, 0) for expr in exprs]
        loaded = (_load(runs) or _compile(runs)) if runs else None
        if loaded is not None:
            self._run_db, taken = loaded
            self._run_scratch = hyperscan.Scratch(self._run_db)
            groups = [exprs[runs[i][1]] for i in taken]
            self._run_names = [name for group in groups for name, _, _ in group]
            # Per expression taken: a table marking the bytes of its runs' characters
            # (the characters of its shapes' runs, ASCII: shapes of one expression
            # share them), as 1, all others 0.
            self._run_marks = []
            for group in groups:
                name = group[0][0]
                chars = chars_of.get(name) or _run_body(by_name[name].pattern)
                self._run_marks.append(bytes(1 if chr(i) in chars else 0 for i in range(256)))
            # Per expression taken: its shapes (indices in _run_names) with their
            # shortest and longest codes, and one more than the longest of them.
            self._run_groups: list[list[tuple[int, int, int]]] = []
            first = 0
            for group in groups:
                self._run_groups.append([(first + k, low, high)
                                         for k, (_, low, high) in enumerate(group)])
                first += len(group)
            self._run_limits = [max(high for _, _, high in group) + 1 for group in groups]
            self.run_shapes = frozenset(self._run_names)
        candidates: list[tuple[str, bytes, int, int]] = []  # (name, expression, flags, width)
        for shape in shapes:
            if shape.name in self.run_shapes:
                continue
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
            candidates.append((shape.name, expr.encode("utf-8"), flag, width))
        if not candidates:
            return
        loaded = _load(candidates)
        if loaded is None:
            loaded = _compile(candidates)
        if loaded is None:
            return
        self._db, taken = loaded
        self._scratch = hyperscan.Scratch(self._db)
        for index in taken:
            name, _, _, width = candidates[index]
            self._names.append(name)
            self.widths[name] = width if width <= MAX_WIDTH else None

    def ends(self, text: str) -> dict[str, list[int]] | None:
        """Per shape taken here, the sorted offsets (in text) where it may end;
        None when the text is not searched this way."""
        return self.search(text)[0]

    def runs(self, text: str) -> Runs | None:
        """Per run shape, the runs that may be its codes (see `Runs`); None when not
        searched this way."""
        return self.search(text)[1]

    def search(
        self, text: str, data: bytes | None = None,
    ) -> tuple[dict[str, list[int]] | None, Runs | None]:
        """(ends, runs) of one text: encoded once, and offsets turned into characters
        in one pass over the bytes. `data`: the text as UTF-8 (surrogatepass), when the
        caller has it."""
        if self._db is None and self._run_db is None:
            return None, None
        if data is None:
            data = text.encode("utf-8", "surrogatepass")
        if b"\xed" in data and _SURROGATE.search(data):
            return None, None  # lone surrogates: not valid UTF-8 for Hyperscan
        found = self._ends(data) if self._db is not None else []
        starts, stops, odd = self._runs(data) if self._run_db is not None else ([], [], [])
        # Hyperscan reports in order of end, nearly: sorted to be sure (linear then). A
        # shape's runs never overlap: sorted apart, starts and ends still pair up.
        for offsets in [*found, *starts, *stops, *odd]:
            offsets.sort()
        _share(starts, stops, odd)
        if len(data) != len(text):
            # Lists that shapes share are mapped once (a pass over the data each), and
            # stay shared.
            distinct = {id(offsets): offsets for offsets in [*found, *starts, *odd]}
            mapped = dict(zip(distinct, as_characters(data, list(distinct.values())),
                              strict=True))
            # A run is ASCII: its end is its start plus its length in bytes.
            ended: dict[tuple[int, int], list[int]] = {}
            for i, (a, b) in enumerate(zip(starts, stops, strict=True)):
                key = (id(a), id(b))
                if key not in ended:
                    ended[key] = list(map(operator.add, mapped[id(a)],
                                          map(operator.sub, b, a)))
                stops[i] = ended[key]
            found = [mapped[id(offsets)] for offsets in found]
            starts = [mapped[id(offsets)] for offsets in starts]
            odd = [mapped[id(offsets)] for offsets in odd]
        ends = dict(zip(self._names, found, strict=True)) if self._db is not None else None
        runs = ({name: ShapeRuns(starts[i], stops[i], odd[i],
                                 name in self._validated, name in self._alnum)
                 for i, name in enumerate(self._run_names)}
                if self._run_db is not None else None)
        return ends, runs

    def search_within(
        self, text: str, spans: list[tuple[int, int]],
    ) -> tuple[dict[str, list[int]] | None, Runs | None]:
        """search(text) as far as codes that start inside `spans` (merged, in order) can
        tell: each span is searched with AROUND characters on both sides, so a match
        that starts in it is found whole with what its lookarounds read, and a run
        that enters it from outside the margin is longer than any run shape takes (the
        runs cut at a margin's edge are longer still). Big text that holds its wording
        in a few places (an API model of 2 MB naming "MFA" twice) was searched whole
        for shapes the engine only wants in the spans (score.Engine._scan)."""
        if self._run_db is not None and max(self._run_limits) > AROUND:
            return self.search(text)  # (not with the bundled shapes: their runs are <= 46)
        ends: dict[str, list[int]] | None = (
            {name: [] for name in self._names} if self._db is not None else None)
        runs: Runs | None = (
            {name: ShapeRuns([], [], [], name in self._validated, name in self._alnum)
             for name in self._run_names} if self._run_db is not None else None)
        for lo, hi in widened(spans, AROUND, len(text)):
            part_ends, part_runs = self.search(text[lo:hi])
            if part_ends is None and part_runs is None:
                return None, None  # lone surrogates: as search() on the whole text
            if ends is not None and part_ends is not None:
                for name, offsets in part_ends.items():
                    ends[name].extend([x + lo for x in offsets])
            if runs is not None and part_runs is not None:
                for name, found in part_runs.items():
                    merged = runs[name]
                    merged.starts.extend([x + lo for x in found.starts])
                    merged.stops.extend([x + lo for x in found.stops])
                    merged.odd.extend([x + lo for x in found.odd])
        return ends, runs

    def _ends(self, data: bytes) -> list[list[int]]:
        found: list[list[int]] = [[] for _ in self._names]

        def on_match(shape: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
            found[shape].append(end)

        self._db.scan(data, match_event_handler=on_match, scratch=self._scratch)
        return found

    def _runs(self, data: bytes) -> tuple[list[list[int]], list[list[int]], list[list[int]]]:
        padded = b"\n" + data + b"\n"
        # Per expression, its runs short enough for one of its shapes, each once (not
        # once per shape: the callback is the cost, a Python call per run): starts,
        # stops, and the starts of those next to a character of several bytes.
        at: list[list[int]] = [[] for _ in self._run_marks]
        until: list[list[int]] = [[] for _ in self._run_marks]
        near: list[list[int]] = [[] for _ in self._run_marks]
        limits = self._run_limits
        # Per expression: its runs' bytes marked (1) in the padded data; a run starts
        # after the last unmarked byte before its end. (The character before a run is
        # outside its class: a run reported is a whole run of it.)
        # (Marked when an expression first reports: most texts need one or none.)
        made: dict[bytes, Any] = {}
        before: list[Any] = [None] * len(self._run_marks)

        def on_match(expr: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
            # The match ends with one character after the run (it may take several
            # bytes); offsets in `padded` are one more than in `data`.
            end -= 1
            while padded[end] & 0xC0 == 0x80:  # back to the last character's first byte
                end -= 1
            last_outside = before[expr]
            if last_outside is None:
                table = self._run_marks[expr]
                last_outside = made.get(table)
                if last_outside is None:
                    last_outside = made[table] = padded.translate(table).rfind
                before[expr] = last_outside
            start = last_outside(0, 0, end) + 1
            if end - start < limits[expr]:  # (a run is ASCII: bytes are characters)
                at[expr].append(start - 1)
                until[expr].append(end - 1)
                # A neighbour of several bytes (the one before ends with a byte of 0x80
                # or more).
                if padded[start - 1] >= 0x80 or padded[end] >= 0x80:
                    near[expr].append(start - 1)

        self._run_db.scan(padded, match_event_handler=on_match, scratch=self._run_scratch)
        starts: list[list[int]] = [[] for _ in self._run_names]
        stops: list[list[int]] = [[] for _ in self._run_names]
        odd: list[list[int]] = [[] for _ in self._run_names]
        for expr, group in enumerate(self._run_groups):
            if not at[expr]:
                continue
            lengths = list(map(operator.sub, until[expr], at[expr]))
            shortest, longest = min(lengths), max(lengths)
            for shape, low, high in group:
                if low <= shortest and longest <= high:
                    # Every run fits: shapes that take them all share the lists.
                    starts[shape], stops[shape], odd[shape] = at[expr], until[expr], near[expr]
                elif low <= longest and shortest <= high:
                    keep = [low <= length <= high for length in lengths]
                    starts[shape] = list(itertools.compress(at[expr], keep))
                    stops[shape] = list(itertools.compress(until[expr], keep))
                    if near[expr]:
                        beside = set(near[expr])
                        odd[shape] = [s for s in starts[shape] if s in beside]
        return starts, stops, odd


def _share(starts: list[list[int]], stops: list[list[int]], odd: list[list[int]]) -> None:
    """Shapes given the same runs (hex-16 and hex-8-20 on an export's device ids) get
    the same lists, in place: what is made of them is made once (search,
    score.Engine._scan). Lists are compared in C, and only those of equal length."""
    first: dict[int, list[int]] = {}  # per length of a non-empty list: shapes holding one
    for i, runs in enumerate(starts):
        if not runs:
            continue
        for j in first.setdefault(len(runs), []):
            if starts[j] == runs and stops[j] == stops[i] and odd[j] == odd[i]:
                starts[i], stops[i], odd[i] = starts[j], stops[j], odd[j]
                break
        else:
            first[len(runs)].append(i)


class ShapeRuns(NamedTuple):
    """The runs of one run shape in a text (match.run_tokens turns them into codes)."""

    # The starts and the ends (in text) of its runs, in order; run k is
    # text[starts[k]:stops[k]], and every match of its pattern is one. Shapes given
    # the same runs share these lists (the same objects).
    starts: list[int]
    stops: list[int]
    # The starts of the runs next to a non-ASCII character (in order): whether that
    # is a letter or digit the pattern confirms.
    odd: list[int]
    # Every run passes the shape's validation (the expression holds it).
    validated: bool
    # Its runs are ASCII letters and digits only.
    alnum: bool


Runs = dict[str, ShapeRuns]


def _key(candidates: list[tuple[str, bytes, int, int]]) -> str:
    h = hashlib.sha256(f"shapescan {getattr(hyperscan, '__version__', '')}\n".encode())
    for _, expr, flag, _ in candidates:
        h.update(b"%d %d %s\n" % (flag, len(expr), expr))
    return h.hexdigest()


def _load(candidates: list[tuple[str, bytes, int, int]]) -> tuple[Any, list[int]] | None:
    """(database, the candidates it holds) compiled by an earlier run, if any."""
    data = hscache.load(_key(candidates))
    if data is None:
        return None
    head, _, blob = data.partition(b"\n")
    try:
        taken = [int(i) for i in head.split(b",") if i]
        if any(not 0 <= i < len(candidates) for i in taken):
            return None
        return hyperscan.loadb(blob, hyperscan.HS_MODE_BLOCK), taken
    except Exception:  # another engine version or CPU, or junk: compiled again
        return None


def _compile(candidates: list[tuple[str, bytes, int, int]]) -> tuple[Any, list[int]] | None:
    taken = list(range(len(candidates)))
    db = _database([candidates[i] for i in taken])
    if db is None:  # one of them Hyperscan does not take: find which
        taken = [i for i in taken if _database([candidates[i]]) is not None]
        db = _database([candidates[i] for i in taken]) if taken else None
    if db is None:
        return None
    head = ",".join(map(str, taken)).encode()
    hscache.save(_key(candidates), head + b"\n" + hyperscan.dumpb(db))
    return db, taken


def _database(candidates: list[tuple[str, bytes, int, int]]) -> Any:
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    try:
        db.compile(expressions=[e for _, e, _, _ in candidates], ids=list(range(len(candidates))),
                   elements=len(candidates), flags=[f for _, _, f, _ in candidates])
    except hyperscan.error:
        return None
    return db


def as_characters(data: bytes, found: list[list[int]]) -> list[list[int]]:
    """Byte offsets -> character offsets: an offset less the continuation bytes before
    it (an offset inside a character, not expected, gives that character's end). Text
    with few characters of several bytes (names with an accent in a table): the
    continuation bytes are listed once and each offset is placed among them by
    bisection, in C loops. Otherwise they are counted between consecutive offsets."""
    flags = data.translate(_CONTINUATION_FLAGS)  # 1 at a continuation byte, 0 elsewhere
    if flags.count(1) <= sum(map(len, found)):
        return _placed(flags, found)
    return _counted(flags, found)


def _placed(flags: bytes, found: list[list[int]]) -> list[list[int]]:
    """as_characters among the continuation bytes (few of them), listed once. A list in
    order longer than that list: where each continuation byte falls among the offsets
    (bisection), and the counts summed up along the offsets, in C loops but for a step
    per continuation byte; any other list by bisection of each offset."""
    where = []
    find = flags.find
    at = find(1)
    while at >= 0:
        where.append(at)
        at = find(1, at + 1)
    out = []
    sub = operator.sub
    for ends in found:
        if not where or not ends:
            out.append(list(ends))
        elif len(ends) > len(where) and all(map(operator.le, ends,
                                                 itertools.islice(ends, 1, None))):
            # Continuation byte k lies before the offsets from index `cut` on.
            steps = [0] * (len(ends) + 1)
            for cut in map(bisect.bisect_right, itertools.repeat(ends), where):
                steps[cut] += 1
            out.append(list(map(sub, ends, itertools.accumulate(steps))))
        else:
            out.append(list(map(sub, ends, map(bisect.bisect_left, itertools.repeat(where),
                                               ends))))
    return out


def _counted(flags: bytes, found: list[list[int]]) -> list[list[int]]:
    """as_characters by counting the continuation bytes between consecutive offsets
    (a list in order is mapped without a Python step per offset; the count runs back
    in one out of order). Several lists are mapped as one, their distinct offsets in
    order: one pass over the data, not one per list."""
    if sum(1 for ends in found if ends) > 1:
        every = sorted(set().union(*found))
        table = dict(zip(every, _counted(flags, [every])[0], strict=True))
        return [list(map(table.__getitem__, ends)) for ends in found]
    count = flags.count
    out = []
    for ends in found:
        if all(map(operator.le, ends, itertools.islice(ends, 1, None))):
            seen = itertools.accumulate(map(count, itertools.repeat(1),
                                            itertools.chain((0,), ends), ends))
            out.append(list(map(operator.sub, ends, seen)))
            continue
        mapped: list[int] = []
        append = mapped.append
        prev = total = 0
        for e in ends:
            if e >= prev:
                total += count(1, prev, e)
            else:
                total -= count(1, e, prev)
            prev = e
            append(e - total)
        out.append(mapped)
    return out


# A surrogate (U+D800-U+DFFF) as surrogatepass writes it: never in valid UTF-8.
_SURROGATE = re.compile(rb"\xed[\xa0-\xbf]")
_CONTINUATION_FLAGS = bytes(1 if 0x80 <= i < 0xC0 else 0 for i in range(256))


def widened(spans: list[tuple[int, int]], margin: int, size: int) -> list[tuple[int, int]]:
    """The spans (sorted by start) widened by `margin` on both sides (within 0..size),
    overlaps merged."""
    out: list[tuple[int, int]] = []
    for lo, hi in spans:
        lo, hi = max(0, lo - margin), min(size, hi + margin)
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


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
