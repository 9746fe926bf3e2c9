"""Compiled rules x text chunks -> code tokens, clusters and nearby words.

Shapes shared by several rules are scanned once per chunk; every context word
of every rule is found by one alternation over the lower-cased text.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable
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

    def find(self, text: str) -> list[tuple[int, int, tuple[Term, ...]]]:
        """(start, end, terms) in text order; offsets index the lower-cased text."""
        if self._ac is None:
            return []
        low = text.lower()
        try:
            matches = self._ac.find_matches_as_indexes(low, overlapping=True)
        except UnicodeEncodeError:
            # Lone surrogates cannot cross into Rust; '?' keeps every offset.
            low = low.encode("utf-8", "replace").decode("utf-8")
            matches = self._ac.find_matches_as_indexes(low, overlapping=True)
        out = []
        n = len(low)
        for index, start, end in matches:
            if self._lead[index] and start > 0 and low[start - 1].isalnum():
                continue
            if self._tail[index] and end < n and low[end].isalnum():
                continue
            hit = self._terms.get(self._keys[index])
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
