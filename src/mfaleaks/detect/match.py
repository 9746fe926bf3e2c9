"""Compiled rules x text chunks -> code tokens, clusters and nearby words.

Shapes shared by several rules are scanned once per chunk; every context word
of every rule is found in one Aho-Corasick pass over the lower-cased text (as
bytes), turned into Terms only when a chunk needs them. gates.py tells which
distinctive shapes can match at all.
"""

from __future__ import annotations

import bisect
import itertools
import operator
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import ahocorasick_rs
import regex

from mfaleaks.detect.rules.model import Rule, RulePack, Shape
from mfaleaks.detect.shapescan import ShapeRuns, as_characters, windows

MAX_GAP_LINES = 3  # codes further apart than this many line breaks start a new cluster
MAX_GAP_CHARS = 400


class Token(NamedTuple):
    # A tuple, not a frozen dataclass: text dense with ids makes ~10,000 per MB, and
    # a frozen dataclass took ~1 us each to build.
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


_JOINERS = regex.compile(r"[\s_\-.]+")  # compiled once: an engine keys ~1,000 terms
_SEPARATORS = regex.compile(r"[\s_\-]+")


def _term_key(text: str) -> str:
    return str(_JOINERS.sub("", text.lower()))


def _variants(term: str) -> set[str]:
    """Spellings of a multi-word term: 'backup codes', backup-codes, backup_codes, backupcodes."""
    parts = [p for p in _SEPARATORS.split(term.lower()) if p]
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
        self._sizes = [len(p) for p in self._patterns]  # in characters
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

    def pattern(self, index: int) -> str:
        """Pattern number `index`: a spelling of a term, lower-cased."""
        return self._patterns[index]

    def terms_of(self, index: int) -> list[Term]:
        """The terms pattern number `index` (as in Found.accepted) stands for."""
        return self._terms.get(self._keys[index], [])

    def bounded(self, index: int) -> tuple[bool, bool]:
        """Whether pattern number `index` must not follow / be followed by a letter
        or digit (Found.accepted)."""
        return self._lead[index], self._tail[index]

    @property
    def pattern_count(self) -> int:
        return len(self._patterns)


def lowered(text: str, data: bytes | None = None) -> tuple[str, bytes, str | None]:
    """(text, text lower-cased as UTF-8, the lower-cased str when not ASCII). `data`:
    the text as UTF-8 (surrogatepass), when the caller has it."""
    if text.isascii():
        # Bytes offsets are character offsets here, and lower-casing and
        # searching bytes costs about half of doing both on a str.
        return text, (data if data is not None else text.encode("ascii")).lower(), None
    if data is None:
        data = text.encode("utf-8", "surrogatepass")
    # Mostly ASCII (a name with an accent): when no other character changes case
    # (each is lowered alone: only a final sigma depends on what surrounds it, and a
    # sigma changes anyway), lowering the ASCII bytes is lowering the text, at a
    # third of the cost of str.lower() on a str that is not ASCII.
    others = data.translate(None, _ASCII_BYTES).decode("utf-8", "surrogatepass")
    if others.lower() == others:
        lowb = data.lower()
        return text, lowb, lowb.decode("utf-8", "surrogatepass")
    low = text.lower()
    # Searched as UTF-8 the matches are the same but at byte offsets: enough
    # to tell which patterns occur; offsets are only worked out if asked.
    return text, low.encode("utf-8", "surrogatepass"), low


_ASCII_BYTES = bytes(range(128))


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
            return next(self.accepted(wanted), None) is not None
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

    def accepted(self, wanted: Sequence[bool] | None = None) -> Iterator[tuple[int, int, int]]:
        """(pattern number, start, end) of the matches that respect word boundaries; only
        of the wanted pattern numbers when given (the others' boundaries are not checked:
        short words inside ordinary ones, "mm" in "command", are most matches)."""
        low = self._haystack
        if not self._exact:
            # The same matches at character offsets: the byte offsets mapped in one pass
            # (a second search of the str cost ~13 ms per MB of dense text).
            assert isinstance(low, str)
            # A match is its pattern: it ends len(pattern) characters after its start.
            matches = self._matches
            numbers = [i for i, _, _ in matches]
            starts, = as_characters(self.low, [[s for _, s, _ in matches]])
            sizes = self._index._sizes
            self._matches = list(zip(numbers, starts,
                                     [s + sizes[i] for i, s in zip(numbers, starts, strict=True)],
                                     strict=True))
            self._exact = True
        lead, tail = self._index._lead, self._index._tail
        n = len(low)
        # low[i:i+1] is a one-character str or bytes: isalnum() agrees on ASCII.
        for index, start, end in self._matches:
            if wanted is not None and not wanted[index]:
                continue
            if lead[index] and start > 0 and low[start - 1 : start].isalnum():
                continue
            if tail[index] and end < n and low[end : end + 1].isalnum():
                continue
            yield index, start, end

    def hits(self) -> list[tuple[int, int, tuple[Term, ...]]]:
        out = []
        text, index = self.text, self._index
        # Dense text repeats a few words on every line: their Terms are made once and
        # shared (they are frozen), which callers may use to work per word, not per hit.
        made: dict[tuple[int, str], tuple[Term, ...]] = {}
        for number, start, end in self.accepted():
            # Report the words as written in the text, not every spelling variant.
            word = text[start:end]
            terms = made.get((number, word))
            if terms is None:
                terms = made[number, word] = tuple(
                    Term(word, t.kind) for t in index.terms_of(number)
                )
            if terms:
                out.append((start, end, terms))
        out.sort(key=_FIRST)
        return out


_FIRST = operator.itemgetter(0)
_THIRD = operator.itemgetter(2)


class Hits:
    """Term hits of one chunk, searchable by window."""

    def __init__(self, hits: list[tuple[int, int, tuple[Term, ...]]]) -> None:
        self._hits = hits
        self._starts = [h[0] for h in hits]

    def __bool__(self) -> bool:
        return bool(self._hits)

    def within(self, lo: int, hi: int) -> list[Term]:
        """The terms of the hits that start in [lo, hi], in text order."""
        i = bisect.bisect_left(self._starts, lo)
        j = bisect.bisect_right(self._starts, hi)
        return [t for h in self._hits[i:j] for t in h[2]]

    def distinct(self, lo: int, hi: int) -> list[tuple[Term, ...]]:
        """The distinct tuples of terms (Found.hits shares one per word) of the hits that
        start in [lo, hi], in the order they first occur: within(lo, hi) without its
        repeats, in C loops (a cluster over a dense table's rows holds thousands)."""
        i = bisect.bisect_left(self._starts, lo)
        j = bisect.bisect_right(self._starts, hi)
        groups = list(map(_THIRD, self._hits[i:j]))
        return list(dict(zip(map(id, groups), groups, strict=True)).values())


def shape_tokens(
    shape: Shape,
    text: str,
    spans: list[tuple[int, int]] | None = None,
    ends: list[int] | None = None,
    width: int = 0,
) -> list[Token]:
    """Codes of one shape, in text order; only inside `spans` when given. With
    `ends` (shapescan.ShapeScanner.ends: where the shape may end, and its
    longest match `width`) the pattern only runs in windows around those."""
    if ends is not None:
        return _windowed(shape, text, spans or [(0, len(text))], ends, width)
    if spans is None:
        return _tokens(shape, text, 0, len(text))
    return [t for lo, hi in spans for t in _tokens(shape, text, lo, hi)]


def _windowed(
    shape: Shape, text: str, spans: list[tuple[int, int]], ends: list[int], width: int
) -> list[Token]:
    tokens: list[Token] = []
    wins = windows(ends, width, len(text))
    # Text dense with candidates has a window every few dozen characters: what is
    # the same for all of them is looked up once (a call per window cost 2-3x the
    # pattern's own work).
    search, group = shape.pattern.search, _code_group(shape)
    validate = shape.validate.search if shape.validate is not None else None
    passed: dict[str, bool] = {}  # validation per value: dense text repeats them
    append = tokens.append
    k, n = 0, len(wins)
    for lo, hi in spans:
        while k < n and wins[k][1] <= lo:
            k += 1
        j = k
        while j < n and wins[j][0] < hi:
            a, b, last = wins[j]
            j += 1
            # The codes that start in the span, whole: unlike a search cut at the
            # span's end, a long run of digits there does not yield its first part.
            # (A search at a time is finditer's walk: these shapes never match empty,
            # or Hyperscan would not have taken them.)
            pos = a if a > lo else lo
            while True:
                m = search(text, pos, b)
                if m is None or m.end() > last:
                    break  # the window's end cut the text here (shapescan.py)
                pos = m.end()
                start, stop = m.span(group)
                if start >= 0:
                    if start >= hi:
                        break  # codes come in order: none after this starts in the span
                    value = text[start:stop]
                    if validate is None:
                        ok = True
                    else:
                        known = passed.get(value)
                        ok = (known if known is not None
                              else passed.setdefault(value, validate(value) is not None))
                    if ok and not looks_placeholder(value):
                        append(Token(start, stop, value))
                if pos >= last:
                    break  # a next match would end after `last`: cut by the window
    return tokens


def run_tokens(
    shape: Shape,
    text: str,
    spans: list[tuple[int, int]] | None,
    runs: ShapeRuns,
    placeholders: dict[str, bool] | None = None,
) -> list[Token]:
    """Codes of a run shape, given its runs (shapescan.ShapeRuns: starts and ends, in
    order, each run a match of its pattern); only those that start inside `spans` when
    given. Text dense with ids has a run on every line: the runs are taken, sliced and
    filtered in C loops (map, compress), and what depends on a value alone (validation,
    looks_placeholder) is worked out once per distinct value. `placeholders`: what
    looks_placeholder said of values, kept by the caller for the other shapes of the
    same text (hex-16 and hex-8-20 take the same runs)."""
    starts, stops = runs.starts, runs.stops
    if spans is not None:
        starts, stops = _in_spans(starts, stops, spans)
    if not starts:
        return []
    values = list(map(text.__getitem__, map(slice, starts, stops)))
    # Per distinct value: is it a code (validation, and not a placeholder)?
    said = placeholders if placeholders is not None else {}
    code = _codes(dict.fromkeys(values), shape, runs, said)
    keep = list(map(code.__getitem__, values))
    if runs.odd:
        # Next to a non-ASCII character: whether that is a letter or digit the pattern
        # says (Hyperscan's Unicode tables may be older than regex's).
        group = _code_group(shape)
        for start in runs.odd:
            k = bisect.bisect_left(starts, start)
            if k < len(starts) and starts[k] == start and keep[k]:
                m = shape.pattern.match(text, start)
                keep[k] = m is not None and m.span(group) == (start, stops[k])
    if not all(keep):
        starts = list(itertools.compress(starts, keep))
        stops = list(itertools.compress(stops, keep))
        values = list(itertools.compress(values, keep))
    # Token(...) without its Python-level __new__, in a C loop.
    return list(map(tuple.__new__, itertools.repeat(Token),
                    zip(starts, stops, values, strict=True)))


def shared_run_tokens(
    shape: Shape,
    text: str,
    spans: list[tuple[int, int]] | None,
    runs: ShapeRuns,
    placeholders: dict[str, bool],
    made: dict[tuple[object, ...], tuple[list[Token], list[int]]],
) -> list[Token]:
    """run_tokens(shape, text, spans, runs, placeholders) for runs whose lists other
    shapes share (shapescan: hex-16 and hex-8-20 on an export's device ids): the
    tokens of all the runs are made once per list and what else they depend on (kept in
    `made`), and each shape takes those that start inside its spans. (run_tokens'
    filters are per run: the tokens of the runs in the spans are those of all the runs
    that start in them.)"""
    key = (id(runs.starts), None if runs.validated else shape.validate, runs.alnum,
           shape.pattern if runs.odd else None)
    known = made.get(key)
    if known is None:
        every = run_tokens(shape, text, None, runs, placeholders)
        known = made[key] = (every, [t.start for t in every])
    tokens, starts = known
    if spans is None:
        return list(tokens)
    out: list[Token] = []
    k, count = 0, len(starts)
    for lo, hi in spans:  # as run_tokens walks them
        k = bisect.bisect_left(starts, lo, k)
        j = bisect.bisect_left(starts, hi, k) if k < count else k
        out += tokens[k:j]
        k = j
    return out


def _in_spans(
    starts: list[int], stops: list[int], spans: list[tuple[int, int]]
) -> tuple[list[int], list[int]]:
    """The runs (starts, stops; in order) that start inside the spans (in order)."""
    some: list[int] = []
    ends: list[int] = []
    k, count = 0, len(starts)
    for lo, hi in spans:
        i = bisect.bisect_left(starts, lo, k)
        if i >= count:
            break
        j = bisect.bisect_left(starts, hi, i)
        if j > i:
            some += starts[i:j]
            ends += stops[i:j]
        k = j
    return some, ends


def _codes(
    values: dict[str, None], shape: Shape, runs: ShapeRuns, said: dict[str, bool]
) -> dict[str, bool]:
    """Per distinct value of a run shape's runs: does it pass the shape's validation and
    not look like a placeholder? (`said`: looks_placeholder per value, shared.)"""
    if shape.validate is not None and not runs.validated:
        search = shape.validate.search
        out = dict.fromkeys(values, False)
        passed = [value for value in values if search(value) is not None]
    else:
        out, passed = {}, list(values)
    unknown = [value for value in passed if value not in said]
    if unknown:
        said.update(zip(unknown, _alnum_placeholders(unknown) if runs.alnum
                        else map(looks_placeholder, unknown), strict=True))
    out.update(zip(passed, map(operator.not_, map(said.__getitem__, passed)), strict=True))
    return out


def _alnum_placeholders(codes: list[str]) -> list[bool]:
    """looks_placeholder of each code, for codes of ASCII letters and digits: its tests
    in C loops over all of them (an export has a distinct device id on every row)."""
    low = list(map(str.lower, codes))
    sizes = list(map(len, low))
    few = map(operator.le, map(len, map(set, low)),
              map(max, itertools.repeat(2), map(operator.floordiv, sizes, itertools.repeat(5))))
    xs = map(operator.ge, map(operator.mul, map(str.count, low, itertools.repeat("x")),
                              itertools.repeat(2)), sizes)
    out = list(map(operator.and_, map(operator.ge, sizes, itertools.repeat(6)),
                   map(operator.or_, few, xs)))
    # Five ascending letters or digits: one search of all of them, joined by a character
    # no sequence holds; a match is placed in its code by its start. (A code of fewer
    # than 6 holds no such five: its letters and digits are all it has, and 5 of them
    # ascending is no placeholder under 6.)
    joined = "\0".join(low)
    found = _ASCENDING.find_matches_as_indexes(joined)
    if found:
        firsts = list(itertools.accumulate(map(operator.add, sizes, itertools.repeat(1)),
                                           initial=0))
        for _, start, _ in found:
            k = bisect.bisect_right(firsts, start) - 1
            out[k] = sizes[k] >= 6
    return out


def _code_group(shape: Shape) -> int | str:
    """What is the code in a match: its group named `code`, or else all of it (0)."""
    group = _GROUPS.get(shape.pattern)
    if group is None:
        group = _GROUPS[shape.pattern] = "code" if "code" in shape.pattern.groupindex else 0
    return group


_GROUPS: dict[regex.Pattern[str], int | str] = {}  # a rule pack holds a few dozen shapes


def _tokens(
    shape: Shape, text: str, lo: int, hi: int, bound: int | None = None
) -> list[Token]:
    tokens = []
    group = _code_group(shape)
    for m in shape.pattern.finditer(text, lo, hi):
        if bound is not None and m.end() > bound:
            break  # the window's end cut the text here (shapescan.py)
        span = m.span(group)
        if span[0] < 0:
            continue
        value = text[span[0] : span[1]]
        if shape.validate is not None and not shape.validate.search(value):
            continue
        if looks_placeholder(value):
            continue
        tokens.append(Token(span[0], span[1], value))
    return tokens


def clusters(shape: Shape, tokens: list[Token], text: str, fewest: int = 1) -> list[Cluster]:
    """The runs of tokens no further apart than MAX_GAP_LINES line breaks and
    MAX_GAP_CHARS characters, of `fewest` tokens or more: a cluster of fewer cannot hold
    the codes any of the shape's rules asks for (Engine._scan), and is not made."""
    out: list[Cluster] = []
    if len(tokens) < fewest:
        return out
    count = text.count
    end = -1
    first = 0  # the current cluster's first token
    for k, token in enumerate(tokens):
        # (The gap is counted in place: a slice per token cost a copy of every gap.)
        if k and (token.start - end > MAX_GAP_CHARS
                  or count("\n", end, token.start) > MAX_GAP_LINES):
            if k - first >= fewest:
                out.append(Cluster(shape, tuple(tokens[first:k])))
            first = k
        end = token.end
    if tokens and len(tokens) - first >= fewest:
        out.append(Cluster(shape, tuple(tokens[first:])))
    return out


_ALNUM = regex.compile(r"[\p{L}\p{N}]")


def looks_placeholder(code: str) -> bool:
    """Made-up examples in docs: XXXX-XXXX, 1234 5678, abcde-01234, 0000 0000."""
    low = code.lower()
    if low.isascii():  # nearly every code: then the tests below run in C, on bytes
        data = low.encode("ascii").translate(None, _ASCII_NOT_ALNUM)
        n = len(data)
        if n < 6:
            return False
        if len(set(data)) <= max(2, n // 5) or data.count(b"x") * 2 >= n:
            return True
        # five ASCII letters or digits whose code points follow each other
        return _ASCII_RUN.search(data) is not None
    chars = "".join(c for c in low if c.isalnum())
    if len(chars) < 6:
        return False
    if len(set(chars)) <= max(2, len(chars) // 5) or chars.count("x") * 2 >= len(chars):
        return True
    run = longest = 1
    for a, b in itertools.pairwise(chars):
        run = run + 1 if ord(b) - ord(a) == 1 else 1
        longest = max(longest, run)
    return longest >= 5


_ASCII_NOT_ALNUM = bytes(i for i in range(128) if not chr(i).isalnum())
_ASCII_RUN = re.compile("|".join(
    seq[i : i + 5] for seq in ("0123456789", "abcdefghijklmnopqrstuvwxyz")
    for i in range(len(seq) - 4)
).encode("ascii"))
# The same five-character runs, for one word at a time: an automaton answers in a
# third of the time of the alternation above (~0.7 us against ~2.6 us a word).
_ASCENDING = ahocorasick_rs.AhoCorasick(_ASCII_RUN.pattern.decode("ascii").split("|"))


def rules_by_shape(rules: Iterable[Rule]) -> dict[str, tuple[Shape, list[Rule]]]:
    out: dict[str, tuple[Shape, list[Rule]]] = {}
    for rule in rules:
        for shape in rule.shapes:
            out.setdefault(shape.name, (shape, []))[1].append(rule)
    return out
