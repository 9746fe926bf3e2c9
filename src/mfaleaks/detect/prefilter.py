"""Prefilter: one Hyperscan pass that dismisses text which cannot yield a finding.

Most text (code, docs, mail) holds neither recovery wording nor a gate of a
distinctive shape, and the engine then stops after its term search (see
Engine.scan_chunk). Finding that out took a lower-cased copy of the text, an
Aho-Corasick pass for ~700 words and another for the gates: on the standard
library, a third of a worker's time. Hyperscan answers "is any of these here"
for all of them in one SIMD pass, with no callback unless one occurs.

The answer must never be "no" where the engine's own search would find
something, so it errs towards "maybe": any raw occurrence of a word counts,
before the engine's word-boundary checks, and a "maybe" costs only the
engine's usual search. Text is searched as it is, as UTF-8, case-insensitively
(Hyperscan's ASCII case folding is exactly what bytes.lower() does). Lower-casing
text that is not ASCII, as the engine does, cost more than the search (a fifth
of the standard library's text is in such files): instead, each letter beyond
ASCII of a word is also searched in its upper case, and a character whose
lower case is something else (KELVIN SIGN is "k") makes the answer "maybe".
A gate anchor is searched in its form without look-behind (gates.Gate.forward),
which holds exactly where the anchor does. Without Hyperscan (no
wheel for the platform, a CPU without SSSE3) the engine searches every text.
The compiled database is kept between runs (hscache.py).

At --min-confidence low a cluster needs no word: a few same-shape codes may
score low on their own (score.low_paths says which shapes, and what else they
need). The prefilter for low adds, to the words and gates, each such shape's
pattern without its lookarounds (any occurrence: "maybe"), and for the letters
and hex that also need their service named or a file of codes alone, the
service's names and a count: codes alone fill 80% of the non-empty lines, so
fewer lines holding a long enough run of [a-z0-9] than that rule it out, and
fewer lines holding a digit, where every code holds one (their `validate`
says so). Source code passed the first count in one file of ten (an identifier
of eight letters on most lines) and the second in one of 600.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import regex

from mfaleaks.detect import hscache
from mfaleaks.detect.match import MAX_GAP_LINES
from mfaleaks.detect.rules.model import Shape
from mfaleaks.detect.shapescan import relaxed

try:
    import hyperscan

    HYPERSCAN = True
except ImportError:  # pragma: no cover - wheels exist for Linux and macOS
    HYPERSCAN = False


_ESCAPED = [bytes([c]) if bytes([c]).isalnum() else b"\\x%02x" % c for c in range(256)]


def _literal(word: bytes) -> bytes:
    """A Hyperscan expression matching word as is: all but ASCII letters and digits escaped."""
    return b"".join(map(_ESCAPED.__getitem__, word))  # a table: the engine's build waits for this


def _any_case(needle: bytes) -> bytes:
    """An expression for the lower-cased UTF-8 needle in text that is not lower-cased:
    with Hyperscan's (ASCII) case folding, it matches wherever text.lower() holds the
    needle, unless the text holds one of lower_odd()."""
    if needle.isascii():
        return _literal(needle)
    return b"".join(map(_char_any_case, needle.decode("utf-8", "surrogatepass")))


@functools.cache
def _char_any_case(ch: str) -> bytes:
    forms = {ch.encode("utf-8", "surrogatepass")}
    upper = ch.upper()
    if not ch.isascii() and len(upper) == 1:
        # 'σ' and final 'ς' both come from 'Σ', which is the upper case of both.
        forms.add(upper.encode("utf-8", "surrogatepass"))
    alternatives = sorted(_literal(f) for f in forms)
    return alternatives[0] if len(alternatives) == 1 else b"(?:" + b"|".join(alternatives) + b")"


# Characters whose lower case is not one non-ASCII character of which they are the
# upper case (str.lower() aside from its final-sigma rule): KELVIN SIGN lowers to
# "k", CAPITAL I WITH DOT to two characters, ANGSTROM SIGN to the 'å' of another
# 'Å', titlecase digraphs to a letter whose upper case is another digraph.
_LOWER_ODD_UNICODE = "14.0.0"
_LOWER_ODD = (
    "\u0130\u01c5\u01c8\u01cb\u01f2\u03f4\u1e9e\u1f88\u1f89\u1f8a\u1f8b\u1f8c\u1f8d"
    "\u1f8e\u1f8f\u1f98\u1f99\u1f9a\u1f9b\u1f9c\u1f9d\u1f9e\u1f9f\u1fa8\u1fa9\u1faa"
    "\u1fab\u1fac\u1fad\u1fae\u1faf\u1fbc\u1fcc\u1ffc\u2126\u212a\u212b"
)


@functools.cache
def lower_odd() -> str:
    """The characters of _LOWER_ODD for the Unicode version this Python lower-cases by."""
    if unicodedata.unidata_version == _LOWER_ODD_UNICODE:
        return _LOWER_ODD
    return compute_lower_odd()  # ~80 ms, once per process: another Python's Unicode tables


def compute_lower_odd() -> str:
    """_LOWER_ODD worked out from this Python's str.lower() (every code point past ASCII)."""
    odd = []
    for start in range(0, 0x110000, 0x400):
        block = "".join(map(chr, range(max(start, 0x80), start + 0x400)))
        if block.lower() == block:
            continue  # nothing to lower (and surrogates lower to themselves)
        for c in block:
            low = c.lower()
            if low != c and (len(low) != 1 or low.isascii() or low.upper() != c):
                odd.append(c)
    return "".join(odd)


@dataclass(frozen=True)
class LowPaths:
    """What may still give a low finding in text without a seed word, a gate or a
    telling file name (score.low_paths works it out from the rules)."""

    counted: tuple[tuple[Shape, int], ...]  # shapes whose codes score low if this many
    # A service's names (lower-cased, with whether a letter or digit may not come
    # before / after), one of its shapes and how many codes, named, may score low.
    named: tuple[tuple[tuple[tuple[str, tuple[bool, bool]], ...], Shape, int], ...]
    alone: tuple[tuple[Shape, int], ...]  # letters and hex: low as a file of codes
    # (at least this many), or named
    labelled: tuple[Shape, ...]  # TOTP seeds: low after a key naming them


class _Unsupported(Exception):
    pass


class _LowSearch:
    """What may score low in a text without words: one Hyperscan database of codes
    (each expression standing for some shapes) and of service names, each of which
    asks for codes of its shapes (their own databases, searched only then)."""

    def __init__(
        self,
        plain: dict[_Expr, set[str]],
        named: dict[_Expr, set[tuple[_Expr, str]]],
        runs: dict[tuple[int, bool], set[str]],
        alone: frozenset[str] = frozenset(),
    ) -> None:
        ordered = sorted(set(plain) | set(named))  # _database's numbering
        self._db = _database(ordered)
        # The codes names ask for, in one database searched once a text (when a name
        # asks): a text naming several services was searched again for each of their
        # codes (~10% of a low scan of source text).
        codes = sorted({code for asked in named.values() for code, _ in asked})
        number = {code: i for i, code in enumerate(codes)}
        self._codes = _database(codes) if codes else None
        if self._db is None or (codes and self._codes is None):
            raise _Unsupported("Hyperscan compiled no database")
        self._scratch = hyperscan.Scratch(self._db)
        self._codes_scratch = hyperscan.Scratch(self._codes) if self._codes else None
        self._shapes = [frozenset(plain.get(expr, ())) for expr in ordered]
        self._asks = [
            tuple((number[code], shape) for code, shape in sorted(named.get(expr, ())))
            for expr in ordered
        ]
        # Per shortest run of codes alone, and whether each holds a digit: the shapes
        # (_LineCounts).
        self.runs = runs
        # Shapes in `plain` that score low only as a file of codes alone, each code
        # with a digit: their codes' lines must be 80% of the non-empty lines as well.
        self.alone = alone

    def shapes(self, data: bytes, counts: _LineCounts) -> set[str]:
        """The shapes worth running over the text (as ASCII, "?" for the rest; counts:
        of its lines)."""
        matched: list[int] = []

        def on_match(number: int, *_: object) -> None:
            matched.append(number)  # each once: single-match expressions

        self._db.scan(data, match_event_handler=on_match, scratch=self._scratch)
        found: set[str] = set()
        for number in matched:
            found |= self._shapes[number]
        if found & self.alone and not counts.digits_possible():
            found -= self.alone  # too few lines hold a digit: named, they may still score
        pending: dict[int, set[str]] = {}  # code asked for -> the shapes it stands for
        for number in matched:
            for code, shape in self._asks[number]:
                if shape not in found:
                    pending.setdefault(code, set()).add(shape)
        if pending:
            found |= self._asked(data, pending)
        for (run, digit), shapes in sorted(self.runs.items()):
            if not shapes <= found and counts.codes_alone_possible(run, digit):
                found |= shapes
        return found


    def _asked(self, data: bytes, pending: dict[int, set[str]]) -> set[str]:
        """The shapes of the pending codes found in the text (one pass, ended once every
        pending code is found)."""
        hits: set[int] = set()
        if self._codes is None:  # (no name asks for codes: nothing is pending)
            return set()

        def on_match(number: int, *_: object) -> bool:
            if number in pending:
                hits.add(number)
            return len(hits) == len(pending)  # True ends the scan

        with contextlib.suppress(hyperscan.ScanTerminated):
            self._codes.scan(data, match_event_handler=on_match, scratch=self._codes_scratch)
        return {shape for code in hits for shape in pending[code]}


class Prefilter:
    """Says whether a text may hold one of some words or gates; never "no" wrongly."""

    def __init__(
        self,
        database: Any,
        left: list[re.Pattern[str]],
        non_ascii_opens: bool,
        low: _LowSearch | None = None,
    ) -> None:
        self._db = database
        self._scratch = hyperscan.Scratch(database)
        self._left = left  # anchors Hyperscan does not take: searched with re
        self._non_ascii_opens = non_ascii_opens
        self._low = low  # for --min-confidence low (low_shapes)

    @classmethod
    def build(
        cls,
        words: Iterable[str],
        literals: Iterable[bytes],
        anchors: Iterable[tuple[re.Pattern[str], str]],
        non_ascii_opens: bool = False,
        low: LowPaths | None = None,
    ) -> Prefilter | None:
        """A prefilter for these words (lower-cased), gate literals (lower-cased,
        as UTF-8) and gate anchors (each with its form without look-behind).
        `non_ascii_opens`: a gate opens on any text that is not ASCII.
        `low`: also what may score low without words (see LowPaths).
        None without Hyperscan, or when it cannot compile them."""
        if not HYPERSCAN:
            return None
        once = hyperscan.HS_FLAG_SINGLEMATCH
        needles = {w.encode("utf-8") for w in words} | set(literals)
        exprs = [(_any_case(n), once | hyperscan.HS_FLAG_CASELESS) for n in needles]
        exprs += [(_literal(c.encode("utf-8")), once) for c in lower_odd()]
        left: list[re.Pattern[str]] = []
        for anchor, forward in anchors:
            # An anchor is an escaped literal between ASCII classes, matched case
            # sensitively (gates._anchor_gate); anything else stays with re.
            if anchor.flags & ~re.UNICODE or not forward or not forward.isascii():
                left.append(anchor)
            else:
                exprs.append((forward.encode("ascii"), once))
        database = _database(exprs)
        if database is None:
            return None
        search = None
        if low is not None:
            try:
                search = _LowSearch(*_low_exprs(low))
            except _Unsupported:
                return None  # a shape Hyperscan cannot take: no text is dismissed
        return cls(database, left, non_ascii_opens, search)

    def may_match(self, text: str) -> bool:
        """False only if the text holds none of the words and gates (nor, for low,
        anything else that may score low)."""
        return self.low_shapes(text) != frozenset()

    def low_shapes(self, text: str, data: bytes | None = None) -> frozenset[str] | None:
        """None if the text may hold one of the words or gates; else the shapes that
        may score low in it without them (none at all unless built for low). `data`:
        the text as UTF-8 (surrogatepass), when the caller has it."""
        ascii_text = text.isascii()
        if not ascii_text and self._non_ascii_opens:
            return None
        if data is None:
            data = text.encode("utf-8", "surrogatepass")
        if _found(self._db, data, self._scratch):
            return None
        # Forward anchors are ASCII classes and literals: in UTF-8 they match bytes
        # where they match characters, so only those Hyperscan did not take are left.
        if any(anchor.search(text) for anchor in self._left):
            return None
        if self._low is None:
            return frozenset()
        if not ascii_text:
            data = text.encode("ascii", "replace")  # one "?" a character (_bytewise)
        return frozenset(self._low.shapes(data, _LineCounts(data, ascii_text)))


_Expr = tuple[bytes, int]


def _database(exprs: list[_Expr]) -> Any:
    if not exprs:
        return None
    exprs = sorted(set(exprs))  # the same set, the same database (and cache file)
    key = _key(exprs)
    return _loaded(key) or _compiled(exprs, key)


def _low_exprs(
    low: LowPaths,
) -> tuple[
    dict[_Expr, set[str]],
    dict[_Expr, set[tuple[_Expr, str]]],
    dict[tuple[int, bool], set[str]],
    frozenset[str],
]:
    """Expressions of codes, each with the shapes its match asks to run; service
    names, each with expressions of codes that, found as well, ask for a shape; per
    shortest run of codes alone (and whether every code holds a digit), the shapes
    asked for where they may fill the file; the other shapes of codes alone whose
    codes hold a digit (their lines are counted too).

    They search text as ASCII, with one "?" for each other character (low_shapes):
    in UTF-8 mode, with Unicode digits, the expressions for codes of one cluster
    are too large for Hyperscan. _bytewise says why nothing is lost."""
    plain: dict[_Expr, set[str]] = {}
    for shape in low.labelled:
        plain.setdefault(_labelled(shape), set()).add(shape.name)
    runs: dict[tuple[int, bool], set[str]] = {}
    counted = list(low.counted)
    alone: set[str] = set()
    for shape, fewest in low.alone:
        try:
            runs.setdefault((_run_of(shape), _needs_digit(shape)), set()).add(shape.name)
        except _Unsupported:  # not a run to count: so many codes of it, as above
            counted.append((shape, fewest))
            if _needs_digit(shape):
                alone.add(shape.name)
    for shape, fewest in counted:
        plain.setdefault(_repeated(shape, fewest), set()).add(shape.name)
    named: dict[_Expr, set[tuple[_Expr, str]]] = {}
    repeated: dict[tuple[str, int], _Expr] = {}  # each made once: ~3 ms (the engine waits)
    for words, shape, fewest in low.named:
        key = (shape.name, fewest)
        if key not in repeated:
            repeated[key] = _repeated(shape, fewest)
        for word, bounds in words:
            asked = (repeated[key], shape.name)
            named.setdefault(_name(word, *bounds), set()).add(asked)
    return plain, named, runs, frozenset(alone)


def _name(word: str, lead: bool, tail: bool) -> _Expr:
    """A name as the engine accepts it: not inside a word where it wants a boundary.
    A "?" may be any character past ASCII: its lower case is not looked at (those
    that lower to ASCII are lower_odd(), which the word search keeps)."""
    edge_before = "(?:^|[^0-9A-Za-z])" if lead else ""
    edge_after = "(?:[^0-9A-Za-z]|$)" if tail else ""
    body = "".join("\\?" if not c.isascii() else _ESCAPED[ord(c)].decode() for c in word)
    expr = edge_before + body + edge_after
    return expr.encode("ascii"), hyperscan.HS_FLAG_SINGLEMATCH | hyperscan.HS_FLAG_CASELESS


def _relaxed(src: str) -> str:
    try:
        return relaxed(src)[0]
    except Exception as exc:  # shapescan's _Unsupported and parse errors alike
        raise _Unsupported(str(exc)) from exc


def _core(shape: Shape) -> str:
    """The shape's pattern without lookarounds: it matches wherever the pattern does.
    (In a group, relaxed() drops them all rather than read a character outside.)"""
    return _relaxed(f"(?:{shape.pattern.pattern})")


# In a pattern, what byte mode reads otherwise than `regex` does: \s takes \x1c-\x1f
# there, \w and \b take Unicode letters, \p needs UTF-8 mode; so any escape of a
# letter but \d and \x, and inline flags. Ignoring case, `regex` folds KELVIN SIGN
# to "k": such shapes are not taken either.
_NOT_BYTEWISE = re.compile(r"\\[A-Za-ce-wyz]|\(\?[a-z]")
_WIDE_CHAR = re.compile(r"\\x\{([0-9a-fA-F]+)\}|\\d|\\.|\[|\]|[^\x00-\x7f]")


def _bytewise(shape: Shape) -> str:
    r"""The shape's pattern without lookarounds, for its text as ASCII with one "?" for
    each other character: a character past ASCII in the pattern (written, or as
    \x{...}) becomes a "?", and \d (Unicode digits) takes "?" too. Where the pattern
    matches the text, this matches the same characters there."""
    core = _core(shape)
    if _NOT_BYTEWISE.search(core.replace("\\d", "")) or shape.pattern.flags & (
        regex.IGNORECASE | regex.MULTILINE | regex.DOTALL
    ):
        raise _Unsupported(f"{shape.name}: not the same pattern in byte mode")
    out: list[str] = []
    pos = 0
    in_class = False
    for m in _WIDE_CHAR.finditer(core):
        out.append(core[pos : m.start()])
        pos = m.end()
        token = m.group()
        if token == "[" and not in_class:
            in_class = True
        elif token == "]" and in_class:
            in_class = False
        elif token == "\\d":
            token = "0-9?" if in_class else "[0-9?]"
        elif m.group(1) is not None and int(m.group(1), 16) < 0x80:
            token = f"\\x{int(m.group(1), 16):02x}"
        elif m.group(1) is not None or not token.isascii():
            token = "?" if in_class else "\\?"
        out.append(token)
    out.append(core[pos:])
    return "".join(out)


def _repeated(shape: Shape, times: int) -> _Expr:
    """An expression for `times` codes of the shape in one cluster: each at most
    MAX_GAP_LINES line breaks after the one before (match.clusters), and each after
    a character its look-behind allows, where that holds (_edge)."""
    core = _bytewise(shape)
    edge = _edge(shape)
    expr = f"(?:^|{edge})(?:{core})" if edge else f"(?:{core})"
    if times > 1:
        gap = f"[^\\n]*(?:\\n[^\\n]*){{0,{MAX_GAP_LINES}}}"
        expr += f"(?:{gap}{edge}(?:{core})){{{times - 1}}}"
    return expr.encode("ascii"), hyperscan.HS_FLAG_SINGLEMATCH


_LOOK_BEHIND = re.compile(r"\(\?<!(\[(?:\\.|[^\]\\])*\])\)")
_ASCII = [chr(c) for c in range(128)]


def _edge(shape: Shape) -> str:
    """What must come before a code (or the start of the text): a character outside
    the class of the pattern's leading look-behind, or a "?". Only where every code
    ends with a character of that class, so that two codes never touch and the
    character read before one is never the last of another; "" otherwise."""
    m = _LOOK_BEHIND.match(shape.pattern.pattern)
    if m is None:
        return ""
    barred = regex.compile(m.group(1))
    core = _UNICODE_X.sub(lambda x: chr(int(x.group(1), 16)), _core(shape))
    try:
        last, nullable = _last_chars(re._parser.parse(core))  # type: ignore[attr-defined]
    except (re.error, _Unsupported, ValueError, OverflowError):
        return ""
    if nullable or not all(barred.fullmatch(c) for c in last):
        return ""
    before = {c for c in _ASCII if barred.fullmatch(c)}
    return "[" + "".join(f"\\x{ord(c):02x}" for c in _ASCII if c not in before or c == "?") + "]"


_UNICODE_X = re.compile(r"\\x\{([0-9a-fA-F]+)\}")
# \d in a pattern: the zero of each set of Unicode digits (Unicode 14.0.0; a test
# compares them with this Python's), for the look-behind to bar.
_DIGIT_ZEROS = (
    "0\u0660\u06f0\u07c0\u0966\u09e6\u0a66\u0ae6\u0b66\u0be6\u0c66\u0ce6\u0d66\u0de6"
    "\u0e50\u0ed0\u0f20\u1040\u1090\u17e0\u1810\u1946\u19d0\u1a80\u1a90\u1b50\u1bb0"
    "\u1c40\u1c50\ua620\ua8d0\ua900\ua9d0\ua9f0\uaa50\uabf0\uff10\U000104a0\U00010d30"
    "\U00011066\U000110f0\U00011136\U000111d0\U000112f0\U00011450\U000114d0\U00011650"
    "\U000116c0\U00011730\U000118e0\U00011950\U00011c50\U00011d50\U00011da0\U00016a60"
    "\U00016ac0\U00016b50\U0001d7ce\U0001d7d8\U0001d7e2\U0001d7ec\U0001d7f6\U0001e140"
    "\U0001e2f0\U0001e950\U0001fbf0"
)
_DIGITS = "".join(chr(ord(zero) + i) for zero in _DIGIT_ZEROS for i in range(10))


def _last_chars(items: Any) -> tuple[set[str], bool]:
    """The characters a match of this parsed pattern may end with, and whether it
    may be empty (re's parser; anything not plain raises _Unsupported)."""
    c = re._constants  # type: ignore[attr-defined]
    found: set[str] = set()
    for op, av in reversed(list(items)):
        if op is c.LITERAL:
            last, nullable = {chr(av)}, False
        elif op is c.IN:
            last, nullable = _class_chars(av), False
        elif op is c.CATEGORY and av is c.CATEGORY_DIGIT:
            last, nullable = set(_DIGITS), False
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT):
            low, _, body = av
            last, nullable = _last_chars(body)
            nullable = nullable or low == 0
        elif op is c.SUBPATTERN:
            _, add, _, body = av
            if add:
                raise _Unsupported("inline flags")
            last, nullable = _last_chars(body)
        elif op is c.BRANCH:
            last, nullable = set(), False
            for branch in av[1]:
                more, empty = _last_chars(branch)
                last |= more
                nullable = nullable or empty
        else:
            raise _Unsupported(str(op))
        found |= last
        if not nullable:
            return found, False
    return found, True


def _class_chars(items: Any) -> set[str]:
    c = re._constants  # type: ignore[attr-defined]
    chars: set[str] = set()
    for op, av in items:
        if op is c.LITERAL:
            chars.add(chr(av))
        elif op is c.RANGE:
            chars.update(map(chr, range(av[0], av[1] + 1)))
        elif op is c.CATEGORY and av is c.CATEGORY_DIGIT:
            chars.update(_DIGITS)
        else:
            raise _Unsupported(str(op))
    return chars


# fields.label_before: a key that names a TOTP secret holds one of these (matched
# ignoring case as `re` does it: KELVIN SIGN is a "k", LONG S an "s", each a "?").
_LABEL_WORDS = "(?i:[s?]ecret|[s?]eed|[k?]ey|otp|oath)"


def _labelled(shape: Shape) -> _Expr:
    """An expression for a code of the shape after a label word on its line
    (fields.label_before reads 120 characters back; bounded, it is too large)."""
    expr = f"{_LABEL_WORDS}[^\\n]*(?:{_bytewise(shape)})"
    return expr.encode("ascii"), hyperscan.HS_FLAG_SINGLEMATCH


_SIMPLE_RUN = re.compile(r"\(\?:\[((?:[a-z0-9]-[a-z0-9]|[a-z0-9])+)\]\{(\d+)(?:,\d*)?\}\)")


def _run_of(shape: Shape) -> int:
    """The length of the run of [a-z0-9] every code of the shape is: its pattern must
    be one class within [a-z0-9], repeated (lookarounds aside)."""
    m = _SIMPLE_RUN.fullmatch(_core(shape))
    if m is None or shape.pattern.flags & regex.IGNORECASE:
        raise _Unsupported(f"{shape.name}: not one class of [a-z0-9] repeated")
    for a, b in re.findall(r"(.)-(.)", m.group(1)):
        if a.isdigit() != b.isdigit():  # 0-z would take the punctuation between
            raise _Unsupported(f"{shape.name}: a range across letters and digits")
    return int(m.group(2))


# `validate` as `^` and lookaheads (none nested, no alternative), one of which wants a digit.
_LOOKAHEADS = re.compile(r"\^(?:\(\?=[^()|]*\))+")
_WANTS_DIGIT = ("(?=.*\\d)", "(?=.*[0-9])")


def _needs_digit(shape: Shape) -> bool:
    """Whether every code of the shape holds a digit: its `validate`, which every code
    must satisfy, asks for one."""
    check = shape.validate
    return check is not None and bool(_LOOKAHEADS.fullmatch(check.pattern)) and any(
        want in check.pattern for want in _WANTS_DIGIT
    )


# Bytes of ASCII letters a-z and digits become "a", a line break stays, the rest " ".
_CODED = bytes(
    ord("a") if chr(b) in "abcdefghijklmnopqrstuvwxyz0123456789" else b if b == 10 else 32
    for b in range(256)
)
# For non-empty lines: what str.strip() may take away goes (and, in text that was not
# ASCII, "?", which may stand for a space), a line break stays, the rest becomes "x".
_INK = bytes(b if b == 10 else ord("x") for b in range(256))
_BLANK = bytes(b for b in range(256) if b >= 0x80 or (b != 10 and chr(b).isspace()))
_BLANK_OR_WIDE = _BLANK + b"?"
# For lines holding a digit: ASCII digits become "d" (and, in text that was not ASCII,
# "?", which may stand for another digit), line breaks stay, the rest goes.
_DIGIT = bytes(ord("d") if 48 <= b <= 57 or b == ord("?") else b for b in range(256))
_NOT_DIGIT = bytes(b for b in range(256) if not (48 <= b <= 57 or b == 10))
_NOT_DIGIT_OR_WIDE = _NOT_DIGIT.replace(b"?", b"")


class _LineCounts:
    """Counts of one text's lines (as ASCII, "?" for the rest), each made once, the
    cheapest first (most texts are ruled out before the runs are counted)."""

    def __init__(self, data: bytes, ascii_text: bool) -> None:
        self._data = data
        self._ascii = ascii_text
        self._digits: bool | None = None  # digits_possible()
        self._nonempty: int | None = None
        self._coded: bytes | None = None
        self._runs: dict[int, int] = {}

    def codes_alone_possible(self, run: int, digit: bool) -> bool:
        """Whether codes (a run of [a-z0-9] this long, holding a digit if `digit`) may
        fill 80% of the non-empty lines, as score_cluster's "the file holds these
        codes and little else" wants.

        A line holding a code holds a run of that many (and a digit): there are at
        most as many such lines as non-overlapping runs (and as lines holding a
        digit); the lines with a character outside _BLANK are non-empty lines (fewer
        than str.splitlines() and strip() count, never more)."""
        if digit and not self.digits_possible():
            return False
        least = 0.8 * self._nonempty_lines()
        runs = self._runs.get(run)
        if runs is None:
            if self._coded is None:
                self._coded = self._data.translate(_CODED)
            runs = self._runs[run] = self._coded.count(b"a" * run)
        return runs >= least

    def digits_possible(self) -> bool:
        """Whether codes that hold a digit each may fill 80% of the non-empty lines: as
        many lines hold a digit (a "?" may be one)."""
        if self._digits is None:
            self._digits = self._digits_possible()
        return self._digits

    def _digits_possible(self) -> bool:
        data = self._data
        kept = data.translate(  # ~4x faster than the other counts
            _DIGIT, _NOT_DIGIT if self._ascii else _NOT_DIGIT_OR_WIDE)
        most = 1.25 * (kept.count(b"d\n") + kept.endswith(b"d"))  # non-empty lines at most
        if not most:
            return False
        # In most text a few lines in ten hold a digit, and a first part of it already
        # has more non-empty lines than that: counted part by part, from a part about
        # long enough (at the text's mean line length), until the count says.
        lines = kept.count(b"\n") + 1  # kept has every line break, and less else to pass
        return not self._more_nonempty_than(int(most), len(data) / lines)

    def _more_nonempty_than(self, most: int, line_length: float) -> bool:
        """Whether more than `most` lines are non-empty; counted through to the end
        (and kept for _nonempty_lines) only when they are not."""
        data, count, start = self._data, 0, 0
        step = max(4096, int((most + 1) * line_length * 1.2))
        while start < len(data):
            cut = data.find(b"\n", start + step)  # parts end at a line break (or the end)
            end = len(data) if cut < 0 else cut + 1
            count += self._count_nonempty(data[start:end])
            if count > most:
                return True
            start, step = end, step * 2
        self._nonempty = count
        return False

    def _nonempty_lines(self) -> int:
        if self._nonempty is None:
            self._nonempty = self._count_nonempty(self._data)
        return self._nonempty

    def _count_nonempty(self, data: bytes) -> int:
        ink = data.translate(_INK, _BLANK if self._ascii else _BLANK_OR_WIDE)
        return ink.count(b"x\n") + ink.endswith(b"x")


def _key(exprs: list[tuple[bytes, int]]) -> str:
    h = hashlib.sha256(f"hyperscan {getattr(hyperscan, '__version__', '')}\n".encode())
    for expr, flags in exprs:
        h.update(b"%d %d %s\n" % (flags, len(expr), expr))
    return h.hexdigest()


def _loaded(key: str) -> Any:
    """The database compiled by an earlier run (hscache.py), if Hyperscan takes it."""
    data = hscache.load(key)
    if data is None:
        return None
    try:
        return hyperscan.loadb(data, hyperscan.HS_MODE_BLOCK)
    except Exception:  # another engine version or CPU, or junk: compiled again
        return None


def _compiled(exprs: list[tuple[bytes, int]], key: str) -> Any:
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    try:
        database.compile(
            expressions=[e for e, _ in exprs],
            ids=list(range(len(exprs))),
            elements=len(exprs),
            flags=[f for _, f in exprs],
        )
    except hyperscan.error:
        return None
    hscache.save(key, hyperscan.dumpb(database))
    return database


def _found(database: Any, data: bytes, scratch: Any) -> bool:
    try:
        database.scan(data, match_event_handler=_stop, scratch=scratch)
    except hyperscan.ScanTerminated:
        return True
    return False


def _stop(*_: object) -> bool:
    return True  # one occurrence decides: stop the scan
