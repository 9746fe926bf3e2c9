"""Gates: cheap necessary conditions of a shape, read from its pattern.

A distinctive shape runs over the whole of every chunk; most chunks cannot
hold it. A gate is something every match of the pattern contains (a literal
such as "otpauth", or a literal with the character classes around it), found
far faster than the pattern itself. Only syntax read with certainty counts;
anything else either ends a literal (which only weakens the gate) or leaves
the shape without one (it then always runs).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass

import ahocorasick_rs
import regex

from mfaleaks.detect.rules.model import Shape

_MAX_ALTERNATIVES = 32
_SAFE_ESCAPES = frozenset("dDsSwWbBAZntrfv")  # \x and friends take arguments: not read
_SAFE_FLAGS = frozenset("imsau")
_QUANTIFIER = regex.compile(r"\{(\d*)(?:,(\d*))?\}")
_SIMPLE_CLASS = regex.compile(r"\[(?:[A-Za-z0-9](?:-[A-Za-z0-9])?)+\]")
# Group openings read: lookaround, comment, named or plain group, scoped or inline flags.
_GROUP = regex.compile(
    r"\((?:\?(?:(?P<look><=|<!|=|!)|#[^)]*|P?<\w+>|:|(?P<flags>[a-zA-Z]+):"
    r"|(?P<inline>[a-zA-Z]+)(?=\)))|(?!\?))"
)
_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


class _Unreadable(Exception):
    """Pattern syntax the gate reader does not know: the shape gets no gate."""


@dataclass(frozen=True)
class _Lit:
    options: frozenset[str]  # the match holds one of these here
    ci: bool


@dataclass(frozen=True)
class _Class:
    source: str  # "[0-9a-f]": ASCII letters, digits and ranges only
    least: int  # repeated at least this often


_BREAK = "break"  # consumes text the reader does not follow
_ZERO = "zero"  # consumes nothing (lookaround, inline flags, comment)
_Item = _Lit | _Class | str


class _Reader:
    def __init__(self, source: str) -> None:
        self.src = source
        self.i = 0

    def peek(self, k: int = 0) -> str:
        return self.src[self.i + k] if self.i + k < len(self.src) else ""

    def branches(self, ci: bool) -> list[list[_Item]]:
        out: list[list[_Item]] = [[]]
        while self.peek() not in ("", ")"):
            if self.peek() == "|":
                self.i += 1
                out.append([])
            else:
                out[-1].append(self.quantified(self.atom(ci)))
        return out

    def quantified(self, item: _Item) -> _Item:
        c = self.peek()
        if c in ("?", "*", "+"):
            least = 1 if c == "+" else 0
            self.i += 1
        elif c == "{":
            m = _QUANTIFIER.match(self.src, self.i)
            if m is None:
                raise _Unreadable(self.src)
            least = int(m.group(1) or 0)
            self.i = m.end()
        else:
            return item
        if self.peek() in ("?", "+"):  # lazy or possessive
            self.i += 1
        if item == _ZERO:
            return _ZERO
        if isinstance(item, _Class) and least >= 1:
            return _Class(item.source, item.least * least)
        return _BREAK

    def atom(self, ci: bool) -> _Item:
        c = self.peek()
        if c == "\\":
            return self.escape(ci)
        if c == "[":
            return self.char_class(ci)
        if c == "(":
            return self.group(ci)
        self.i += 1
        if c in ".^$":
            return _BREAK
        if c in "?*+{":
            raise _Unreadable(self.src)
        return _Lit(frozenset({c}), ci) if c.isascii() else _BREAK

    def escape(self, ci: bool) -> _Item:
        c = self.peek(1)
        self.i += 2
        if c in _PUNCTUATION:
            return _Lit(frozenset({c}), ci)
        if c in _SAFE_ESCAPES:
            return _BREAK
        if c in ("p", "P"):  # \pL or \p{...}
            if self.peek() == "{":
                end = self.src.find("}", self.i)
                if end < 0:
                    raise _Unreadable(self.src)
                self.i = end + 1
            else:
                self.i += 1
            return _BREAK
        raise _Unreadable(self.src)

    def char_class(self, ci: bool) -> _Item:
        j = self.i + 1
        if self.src[j : j + 1] == "^":
            j += 1
        if self.src[j : j + 1] == "]":
            j += 1
        while j < len(self.src) and self.src[j] != "]":
            if self.src[j] == "[":  # POSIX or nested sets
                raise _Unreadable(self.src)
            j += 2 if self.src[j] == "\\" else 1
        if j >= len(self.src):
            raise _Unreadable(self.src)
        source = self.src[self.i : j + 1]
        self.i = j + 1
        return _Class(source, 1) if not ci and _SIMPLE_CLASS.fullmatch(source) else _BREAK

    def group(self, ci: bool) -> _Item:
        m = _GROUP.match(self.src, self.i)
        if m is None:
            raise _Unreadable(self.src)
        self.i = m.end()
        flags = m.group("flags") or m.group("inline") or ""
        if not set(flags) <= _SAFE_FLAGS:
            raise _Unreadable(self.src)
        inner = self.branches(ci or "i" in flags) if not m.group(0).startswith("(?#") else []
        if self.peek() != ")":
            raise _Unreadable(self.src)
        self.i += 1
        if m.group("look") or m.group("inline") or m.group(0).startswith("(?#"):
            return _ZERO
        return _literal_options(inner)


def _literal_options(branches: list[list[_Item]]) -> _Item:
    """A group of plain literal alternatives as one literal item; else a break."""
    options: set[str] = set()
    ci = False
    for items in branches:
        texts = {""}
        for item in items:
            if not isinstance(item, _Lit):
                return _BREAK
            texts = {t + o for t in texts for o in item.options}
            ci = ci or item.ci
        options |= texts
    if not options or len(options) > _MAX_ALTERNATIVES:
        return _BREAK
    return _Lit(frozenset(options), ci)


@dataclass(frozen=True)
class Gate:
    """A necessary condition for a shape's pattern to match a text.

    `literals` (lower-cased): the match holds one of them, so the lower-cased
    text does. With `ascii_only`, some of it is matched case-insensitively,
    which non-ASCII text can satisfy with other letters (Kelvin sign, long s):
    then the gate only speaks for ASCII text. `anchor`: a stdlib `re` pattern
    every match contains, searched in the text as it is; `forward`: the same
    condition without look-behind (slower in `re`, which cannot start from the
    literal, but what engines without look-behind can take).
    """

    literals: tuple[str, ...] = ()
    ascii_only: bool = False
    anchor: re.Pattern[str] | None = None
    forward: str = ""


def gate_of(pattern: regex.Pattern[str]) -> Gate | None:
    """The strongest gate read from the pattern, or None (the shape always runs)."""
    if pattern.flags & (regex.VERBOSE | regex.V1):
        return None
    try:
        reader = _Reader(pattern.pattern)
        branches = reader.branches(bool(pattern.flags & regex.IGNORECASE))
    except (_Unreadable, IndexError):
        return None
    if reader.i != len(pattern.pattern) or len(branches) != 1:
        return None
    runs = _runs(branches[0])
    best = max(runs, key=lambda r: min(len(o) for o in r[0].options), default=None)
    if best is not None and min(len(o) for o in best[0].options) >= 3:
        lit = best[0]
        return Gate(tuple(sorted({o.lower() for o in lit.options})), ascii_only=lit.ci)
    return _anchor_gate(branches[0], runs)


def _runs(items: list[_Item]) -> list[tuple[_Lit, int, int]]:
    """Maximal runs of adjacent literals: (combined literal, first item, last item)."""
    runs: list[tuple[_Lit, int, int]] = []
    current: tuple[_Lit, int, int] | None = None
    for k, item in enumerate(items):
        if item == _ZERO:
            continue
        if not isinstance(item, _Lit):
            current = None
            continue
        if current is not None:
            joined = {a + b for a in current[0].options for b in item.options}
            if len(joined) <= _MAX_ALTERNATIVES:
                current = (_Lit(frozenset(joined), current[0].ci or item.ci), current[1], k)
                runs[-1] = current
                continue
        current = (item, k, k)
        runs.append(current)
    return runs


def _anchor_gate(items: list[_Item], runs: list[tuple[_Lit, int, int]]) -> Gate | None:
    """A one-way literal with the classes right around it: '-' in [0-9a-f]{5}-[0-9a-f]{5}."""

    def neighbour(k: int, step: int) -> _Class | None:
        k += step
        while 0 <= k < len(items) and items[k] == _ZERO:
            k += step
        item = items[k] if 0 <= k < len(items) else None
        return item if isinstance(item, _Class) else None

    best: tuple[int, str, str] | None = None
    for lit, first, last in runs:
        if lit.ci or len(lit.options) != 1:
            continue
        (text,) = lit.options
        before, after = neighbour(first, -1), neighbour(last, 1)
        if before is None and after is None:
            continue
        esc = re.escape(text)
        source = forward = esc
        if before is not None:
            source += f"(?<={before.source}{{{before.least}}}{esc})"
            forward = f"{before.source}{{{before.least}}}{esc}"
        if after is not None:
            source += f"{after.source}{{{after.least}}}"
            forward += f"{after.source}{{{after.least}}}"
        weight = len(text) + (before.least if before else 0) + (after.least if after else 0)
        if best is None or weight > best[0]:
            best = (weight, source, forward)
    return Gate(anchor=re.compile(best[1]), forward=best[2]) if best is not None else None


# Letters that (?i) matches with a character whose lower() is not that letter:
# LONG S stays 'ſ', CAPITAL I WITH DOT becomes 'i' + COMBINING DOT (found by trying
# every code point against every ASCII letter; KELVIN SIGN lowers to 'k', so it is fine).
_OTHER_LOWER = {"s": ("s", "\u017f"), "i": ("i", "i\u0307")}
_MAX_SPELLINGS = 64


def _lowered_spellings(literal: str) -> list[str] | None:
    """How a case-insensitive ASCII literal can appear in lower-cased text; None if too many."""
    options = [_OTHER_LOWER.get(ch, (ch,)) for ch in literal]
    count = 1
    for o in options:
        count *= len(o)
    if count > _MAX_SPELLINGS:
        return None
    return ["".join(p) for p in itertools.product(*options)]


class Gates:
    """Which of some shapes could match a text, judged by their gates."""

    def __init__(self, shapes: Iterable[Shape]) -> None:
        always: set[str] = set()
        self._literals: list[tuple[bytes, str, bool]] = []  # (literal, shape, ASCII only)
        self._anchors: list[tuple[re.Pattern[str], str, str]] = []  # (anchor, forward, shape)
        for shape in shapes:
            gate = gate_of(shape.pattern)
            if gate is None:
                always.add(shape.name)
            elif gate.anchor is not None:
                self._anchors.append((gate.anchor, gate.forward, shape.name))
            else:
                for lit in gate.literals:
                    spellings = _lowered_spellings(lit) if gate.ascii_only else [lit]
                    unsure = spellings is None  # too many: open on any non-ASCII text
                    self._literals.extend(
                        (v.encode("utf-8"), shape.name, unsure) for v in spellings or [lit]
                    )
        self.always = frozenset(always)
        words = sorted({lit for lit, _, _ in self._literals})
        # Leftmost-first lets the automaton skip ahead with a SIMD prefilter (the
        # default kind cannot): 10x faster, and only "is any literal here" is asked.
        first = ahocorasick_rs.MATCHKIND_LEFTMOST_FIRST
        self._ac = ahocorasick_rs.BytesAhoCorasick(words, matchkind=first) if words else None

    @property
    def literals(self) -> list[bytes]:
        """Every gate literal, lower-cased, as UTF-8."""
        return [lit for lit, _, _ in self._literals]

    @property
    def non_ascii_opens(self) -> bool:
        """Does some gate open on any text that is not ASCII (see open)?"""
        return any(ascii_only for _, _, ascii_only in self._literals)

    @property
    def anchors(self) -> list[tuple[re.Pattern[str], str]]:
        """Every gate anchor, with its form without look-behind (see Gate)."""
        return [(anchor, forward) for anchor, forward, _ in self._anchors]

    def open(self, text: str, low: bytes) -> set[str]:
        """Shapes to run on text; `low` is text lower-cased, as UTF-8."""
        out = set(self.always)
        if self._ac is not None and self._ac.find_matches_as_indexes(low):
            out.update(name for lit, name, _ in self._literals if lit in low)
        if not text.isascii():
            out.update(name for _, name, ascii_only in self._literals if ascii_only)
        out.update(name for anchor, _, name in self._anchors if anchor.search(text))
        return out
