"""Compiled rules x text chunks -> code tokens, clusters and nearby words.

Shapes shared by several rules are scanned once per chunk; every context word
of every rule is found by one alternation over the lower-cased text.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import ahocorasick_rs
import regex

from mfaleaks.rules.model import Rule, RulePack, Shape

MAX_GAP_LINES = 3  # codes further apart than this many line breaks start a new cluster
MAX_GAP_CHARS = 400


@dataclass(frozen=True)
class Token:
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Cluster:
    shape: Shape
    tokens: tuple[Token, ...]

    @property
    def start(self) -> int:
        return self.tokens[0].start

    @property
    def end(self) -> int:
        return self.tokens[-1].end


@dataclass(frozen=True)
class Term:
    """A word or phrase looked for near codes, and what it is evidence of."""

    label: str  # the term as written in the rule file
    kind: str  # "vocab:<set>" | "keyword:<rule id>" | "name:<rule id>"


def _term_key(text: str) -> str:
    return str(regex.sub(r"[\s_\-.]+", "", text.lower()))


def _variants(term: str) -> set[str]:
    """Spellings of a multi-word term: 'backup codes', backup-codes, backup_codes, backupcodes."""
    parts = [p for p in regex.split(r"[\s_\-]+", term.lower()) if p]
    return {sep.join(parts) for sep in (" ", "-", "_", "")}


class TermIndex:
    """Finds every context term in a text in one Aho-Corasick pass."""

    def __init__(self, pack: RulePack) -> None:
        terms: dict[str, list[Term]] = {}

        def add(words: Iterable[str], kind: str) -> None:
            for word in words:
                known = terms.setdefault(_term_key(word), [])
                if all(t.kind != kind for t in known):
                    known.append(Term(word, kind))

        for name, words in pack.vocabulary.items():
            add(words, f"vocab:{name}")
        for rule in pack.rules:
            add(rule.keywords, f"keyword:{rule.id}")
            add(rule.names, f"name:{rule.id}")
        self._terms = terms
        patterns: dict[str, str] = {}
        for ts in terms.values():
            for t in ts:
                for v in _variants(t.label):
                    patterns.setdefault(v, _term_key(t.label))
        self._patterns = sorted(patterns)
        self._keys = [patterns[p] for p in self._patterns]
        # Word boundaries are checked after the search: a term starting with an
        # ASCII letter or digit must not continue a word; short ones (2fa, mfa,
        # tel) must not be followed by one either.
        self._lead = [p[:1].isascii() and p[:1].isalnum() for p in self._patterns]
        self._tail = [len(p) <= 4 and p.isascii() for p in self._patterns]
        # The DFA costs a little memory and runs ~3x faster than the default NFA here.
        self._ac = (
            ahocorasick_rs.AhoCorasick(
                self._patterns, implementation=ahocorasick_rs.Implementation.DFA
            )
            if self._patterns
            else None
        )
        self._bytes_ac = (
            ahocorasick_rs.BytesAhoCorasick(
                [p.encode("utf-8") for p in self._patterns],
                implementation=ahocorasick_rs.Implementation.DFA,
            )
            if self._patterns
            else None
        )

    def find(self, text: str) -> list[tuple[int, int, tuple[Term, ...]]]:
        """(start, end, terms) in text order; offsets index the lower-cased text."""
        return self.scan(text).hits()

    def scan(self, text: str) -> Found:
        """Every raw match in text, not yet checked or turned into Terms."""
        return self.scan_lowered(*lowered(text))

    def scan_lowered(self, text: str, lowb: bytes, low: str | None) -> Found:
        """scan(text), given lowered(text)."""
        return Found(self, text, lowb, self._search(lowb), low)

    def _search(self, low: bytes) -> list[tuple[int, int, int]]:
        if self._bytes_ac is None:
            return []
        return self._bytes_ac.find_matches_as_indexes(low, overlapping=True)

    def search_text(self, low: str) -> list[tuple[int, int, int]]:
        """Matches in lower-cased text at character offsets."""
        if self._ac is None:
            return []
        try:
            return self._ac.find_matches_as_indexes(low, overlapping=True)
        except UnicodeEncodeError:
            # Lone surrogates cannot cross into Rust; '?' keeps every offset.
            low = low.encode("utf-8", "replace").decode("utf-8")
            return self._ac.find_matches_as_indexes(low, overlapping=True)

    def terms_of(self, index: int) -> list[Term]:
        """The terms pattern number `index` (as in Found.accepted) stands for."""
        return self._terms.get(self._keys[index], [])

    @property
    def pattern_count(self) -> int:
        return len(self._patterns)


def lowered(text: str) -> tuple[str, bytes, str | None]:
    """(text, text lower-cased as UTF-8, the lower-cased str when not ASCII)."""
    if text.isascii():
        # Bytes offsets are character offsets here, and lower-casing and
        # searching bytes costs about half of doing both on a str.
        return text, text.encode("ascii").lower(), None
    low = text.lower()
    # Searched as UTF-8 the matches are the same but at byte offsets: enough
    # to tell which patterns occur; offsets are only worked out if asked.
    return text, low.encode("utf-8", "surrogatepass"), low


def _char_before(data: bytes, i: int) -> str:
    """The character that ends at byte i of UTF-8 data."""
    j = i - 1
    while j > 0 and data[j] & 0xC0 == 0x80:  # continuation bytes
        j -= 1
    return data[j:i].decode("utf-8", "surrogatepass")


def _char_at(data: bytes, i: int) -> str:
    """The character that starts at byte i of UTF-8 data."""
    j = i + 1
    while j < len(data) and data[j] & 0xC0 == 0x80:
        j += 1
    return data[i:j].decode("utf-8", "surrogatepass")


class Found:
    """Raw term matches in one text: checked and turned into Terms only on demand."""

    def __init__(
        self,
        index: TermIndex,
        text: str,
        low: bytes,
        matches: list[tuple[int, int, int]],
        low_text: str | None,
    ) -> None:
        self._index = index
        self.text = text
        self.low = low  # the lower-cased text as UTF-8 (ASCII: offsets are the text's)
        self._matches = matches
        # What the offsets of _matches index: `low` (ASCII), or else first UTF-8
        # bytes and, once worked out, the lower-cased str.
        self._haystack: str | bytes = low if low_text is None else low_text
        self._exact = low_text is None

    def any_accepted(self, wanted: Sequence[bool]) -> bool:
        """Does a match of a wanted pattern number respect word boundaries?"""
        if not any(wanted[i] for i, _, _ in self._matches):
            return False  # cheap: without an occurrence there is no match
        if self._exact:
            return any(wanted[i] for i, _, _ in self.accepted())
        # Non-ASCII text, matched as UTF-8: the characters around a match are decoded
        # where they are, instead of searching the str again for character offsets.
        low, n = self.low, len(self.low)
        lead, tail = self._index._lead, self._index._tail
        for index, start, end in self._matches:
            if not wanted[index]:
                continue
            if lead[index] and start > 0 and _char_before(low, start).isalnum():
                continue
            if tail[index] and end < n and _char_at(low, end).isalnum():
                continue
            return True
        return False

    def accepted(self) -> Iterator[tuple[int, int, int]]:
        """(pattern number, start, end) of the matches that respect word boundaries."""
        low = self._haystack
        if not self._exact:
            assert isinstance(low, str)
            self._matches = self._index.search_text(low)
            self._exact = True
        lead, tail = self._index._lead, self._index._tail
        n = len(low)
        # low[i:i+1] is a one-character str or bytes: isalnum() agrees on ASCII.
        for index, start, end in self._matches:
            if lead[index] and start > 0 and low[start - 1 : start].isalnum():
                continue
            if tail[index] and end < n and low[end : end + 1].isalnum():
                continue
            yield index, start, end

    def hits(self) -> list[tuple[int, int, tuple[Term, ...]]]:
        out = []
        text, index = self.text, self._index
        for number, start, end in self.accepted():
            hit = index.terms_of(number)
            if hit:
                # Report the words as written in the text, not every spelling variant.
                word = text[start:end]
                out.append((start, end, tuple(Term(word, t.kind) for t in hit)))
        out.sort(key=lambda h: h[0])
        return out


class Hits:
    """Term hits of one chunk, searchable by window."""

    def __init__(self, hits: list[tuple[int, int, tuple[Term, ...]]]) -> None:
        self._hits = hits
        self._starts = [h[0] for h in hits]

    def __bool__(self) -> bool:
        return bool(self._hits)

    def within(self, lo: int, hi: int) -> list[Term]:
        i = bisect.bisect_left(self._starts, lo)
        j = bisect.bisect_right(self._starts, hi)
        return [t for h in self._hits[i:j] for t in h[2]]


def shape_tokens(
    shape: Shape, text: str, spans: list[tuple[int, int]] | None = None
) -> list[Token]:
    """Codes of one shape, in text order; only inside `spans` when given."""
    if spans is None:
        return _tokens(shape, text, 0, len(text))
    return [t for lo, hi in spans for t in _tokens(shape, text, lo, hi)]


def _tokens(shape: Shape, text: str, lo: int, hi: int) -> list[Token]:
    tokens = []
    has_code_group = "code" in shape.pattern.groupindex
    for m in shape.pattern.finditer(text, lo, hi):
        span = m.span("code") if has_code_group else m.span()
        if span[0] < 0:
            continue
        value = text[span[0] : span[1]]
        if shape.validate is not None and not shape.validate.search(value):
            continue
        if looks_placeholder(value):
            continue
        tokens.append(Token(span[0], span[1], value))
    return tokens


def clusters(shape: Shape, tokens: list[Token], text: str) -> list[Cluster]:
    out: list[Cluster] = []
    current: list[Token] = []
    for token in tokens:
        if current:
            gap = text[current[-1].end : token.start]
            if gap.count("\n") > MAX_GAP_LINES or len(gap) > MAX_GAP_CHARS:
                out.append(Cluster(shape, tuple(current)))
                current = []
        current.append(token)
    if current:
        out.append(Cluster(shape, tuple(current)))
    return out


_ALNUM = regex.compile(r"[\p{L}\p{N}]")


def looks_placeholder(code: str) -> bool:
    """Made-up examples in docs: XXXX-XXXX, 1234 5678, abcde-01234, 0000 0000."""
    chars = [c.lower() for c in code if c.isalnum()]
    if len(chars) < 6:
        return False
    if len(set(chars)) <= max(2, len(chars) // 5):
        return True
    if chars.count("x") * 2 >= len(chars):
        return True
    run = longest = 1
    for a, b in itertools.pairwise(chars):
        run = run + 1 if ord(b) - ord(a) == 1 else 1
        longest = max(longest, run)
    return longest >= 5


def rules_by_shape(rules: Iterable[Rule]) -> dict[str, tuple[Shape, list[Rule]]]:
    out: dict[str, tuple[Shape, list[Rule]]] = {}
    for rule in rules:
        for shape in rule.shapes:
            out.setdefault(shape.name, (shape, []))[1].append(rule)
    return out


# -- Gates: cheap necessary conditions of a shape, read from its pattern --------
#
# A distinctive shape runs over the whole of every chunk; most chunks cannot
# hold it. A gate is something every match of the pattern contains (a literal
# such as "otpauth", or a literal with the character classes around it), found
# far faster than the pattern itself. Only syntax read with certainty counts;
# anything else either ends a literal (which only weakens the gate) or leaves
# the shape without one.

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
    every match contains, searched in the text as it is.
    """

    literals: tuple[str, ...] = ()
    ascii_only: bool = False
    anchor: re.Pattern[str] | None = None


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

    best: tuple[int, str] | None = None
    for lit, first, last in runs:
        if lit.ci or len(lit.options) != 1:
            continue
        (text,) = lit.options
        before, after = neighbour(first, -1), neighbour(last, 1)
        if before is None and after is None:
            continue
        esc = re.escape(text)
        source = esc
        if before is not None:
            source += f"(?<={before.source}{{{before.least}}}{esc})"
        if after is not None:
            source += f"{after.source}{{{after.least}}}"
        weight = len(text) + (before.least if before else 0) + (after.least if after else 0)
        if best is None or weight > best[0]:
            best = (weight, source)
    return Gate(anchor=re.compile(best[1])) if best is not None else None


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
        self._anchors: list[tuple[re.Pattern[str], str]] = []
        for shape in shapes:
            gate = gate_of(shape.pattern)
            if gate is None:
                always.add(shape.name)
            elif gate.anchor is not None:
                self._anchors.append((gate.anchor, shape.name))
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

    def open(self, text: str, low: bytes) -> set[str]:
        """Shapes to run on text; `low` is text lower-cased, as UTF-8."""
        out = set(self.always)
        if self._ac is not None and self._ac.find_matches_as_indexes(low):
            out.update(name for lit, name, _ in self._literals if lit in low)
        if not text.isascii():
            out.update(name for _, name, ascii_only in self._literals if ascii_only)
        out.update(name for anchor, name in self._anchors if anchor.search(text))
        return out
