"""The shortcuts the dense-text path takes give what the plain computations give: run
shapes that share one length-bounded Hyperscan expression, byte offsets turned into
character offsets by counting, lower-casing the ASCII bytes of mostly-ASCII text,
term matches of non-ASCII text placed without a second search, spans merged by
jumping from seed to seed (detect/shapescan.py, match.py, score.py)."""

from __future__ import annotations

import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from mfaleaks.detect import holds, match, score, shapescan
from mfaleaks.detect.match import Term, Token, lowered, run_tokens, shape_tokens
from mfaleaks.detect.rules.load import DEFAULT_RULES_DIR, load_pack
from mfaleaks.detect.score import Engine
from mfaleaks.models import Confidence

PACK = load_pack([DEFAULT_RULES_DIR])
ENGINE = Engine(PACK, min_confidence=Confidence.MEDIUM)
SCANNER = ENGINE.shape_scanner

# Runs of the run shapes' classes, of lengths around their bounds (7 to 25), with and
# without the letters and digits their validation asks for, between boundaries.
_RUN_CHARS = ["0123456789abcdef", "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
              "0123456789abcdefghijklmnopqrstuvwxyz", "0123456789", "abcdef", "QRSTUV"]
_RUNS = st.tuples(st.sampled_from(_RUN_CHARS), st.integers(1, 25), st.randoms()).map(
    lambda t: "".join(t[2].choice(t[0]) for _ in range(t[1])))
_SEPARATORS = st.sampled_from([" ", "\n", ",", "-", ".", "/", "@", "+", "=", "_", "é", "€",
                               "Ⅻ", "𝟘", ":"])


@given(st.lists(st.tuples(_RUNS, _SEPARATORS), max_size=25))
@settings(max_examples=300, deadline=None)
def test_runs_of_a_shared_bounded_expression_are_the_pattern_matches(
    pieces: list[tuple[str, str]],
) -> None:
    _assert_runs_are_matches("".join(run + sep for run, sep in pieces),
                             sorted(SCANNER.run_shapes))


def _assert_runs_are_matches(text: str, names: list[str]) -> None:
    """The tokens each run shape makes of Hyperscan's runs are its pattern's matches."""
    runs = SCANNER.runs(text)
    assert runs is not None
    said: dict[str, bool] = {}  # shared by the shapes, as Engine._scan shares it
    for name in names:
        assert name in SCANNER.run_shapes
        shape = ENGINE.by_shape[name][0]
        assert run_tokens(shape, text, None, runs[name], said) == shape_tokens(shape, text)


def test_shapes_of_one_class_share_an_expression_that_holds_their_lengths() -> None:
    # hex-8-20, hex-16 and hex-12 differ in length only: one expression reports each run
    # once; its bounds (8 to 20) keep a 24-character run from being reported at all.
    assert {"hex-8-20", "hex-16", "hex-12"} <= SCANNER.run_shapes
    assert len(SCANNER._run_groups) < len(SCANNER.run_shapes)
    text = "id 0123456789abcdef0123456f, 0123456789abcdef; 01234567abcd\n"
    runs = SCANNER.runs(text)
    assert runs is not None
    assert [text[a:b] for a, b in zip(runs["hex-16"].starts, runs["hex-16"].stops,
                                       strict=True)] == ["0123456789abcdef"]
    assert [text[a:b] for a, b in zip(runs["hex-8-20"].starts, runs["hex-8-20"].stops,
                                       strict=True)] == ["0123456789abcdef", "01234567abcd"]
    bounded = shapescan.run_expression(
        ENGINE.by_shape["hex-16"][0].pattern, ENGINE.by_shape["hex-16"][0].validate, (16, 16))
    plain = shapescan.run_expression(
        ENGINE.by_shape["hex-16"][0].pattern, ENGINE.by_shape["hex-16"][0].validate)
    assert bounded is not None and plain is not None and bounded[0] != plain[0]


@given(st.text(alphabet="ab1 \n-üé€日𝄞\ud800", max_size=80), st.data())
@settings(max_examples=300, deadline=None)
def test_byte_offsets_become_character_offsets(text: str, data: st.DataObject) -> None:
    raw = text.encode("utf-8", "surrogatepass")
    offsets = data.draw(st.lists(st.integers(0, len(raw)), max_size=30))
    in_order = sorted(offsets)
    got_any, got_sorted = shapescan.as_characters(raw, [offsets, in_order])

    def plain(e: int) -> int:  # continuation bytes before e: inside a character, its end
        return e - sum(1 for b in raw[:e] if 0x80 <= b < 0xC0)

    assert got_any == [plain(e) for e in offsets]
    assert got_sorted == [plain(e) for e in in_order]
    # Both ways, whichever as_characters took: continuation bytes placed by bisection
    # (few of them) and counted between offsets (many).
    flags = raw.translate(shapescan._CONTINUATION_FLAGS)
    every = sorted(in_order + list(range(len(raw) + 1)))  # more offsets than such bytes
    for way in (shapescan._placed, shapescan._counted):
        assert way(flags, [offsets, in_order, [], every]) == [
            got_any, got_sorted, [], [plain(e) for e in every]]
    # One list alone (the others mapped as one, with their distinct offsets in order).
    assert shapescan.as_characters(raw, [[], offsets]) == [[], got_any]
    assert shapescan.as_characters(raw, [in_order]) == [got_sorted]
    for e in in_order:
        if e == len(raw) or not 0x80 <= raw[e] < 0xC0:  # at a character's start
            assert len(raw[:e].decode("utf-8", "surrogatepass")) == plain(e)


@given(st.text(alphabet="aBZ \nüÜİΣσẞßȺ日\ud800ǅＡﬀ", max_size=40))
@settings(max_examples=300, deadline=None)
def test_lowered_is_str_lower(text: str) -> None:
    low = text.lower()
    _, lowb, low_text = lowered(text)
    assert lowb == low.encode("utf-8", "surrogatepass")
    assert low_text == (None if text.isascii() else low)


_WORDS = st.sampled_from(["backup codes", "Recovery", "recovery-code", "2FA", "mfa", "tel",
                          "phone", "código", "récupération", "ü", "İ", "日本", "x", "1", " ",
                          "\n", "_", "authenticator", "seed", "order", "\ud800"])


@given(st.lists(_WORDS, max_size=40).map("".join))
@settings(max_examples=300, deadline=None)
def test_term_matches_of_non_ascii_text_are_those_of_the_text(text: str) -> None:
    found = ENGINE.terms.scan(text)
    low = text.lower()
    # What the str search finds, at character offsets, with the same word boundaries.
    index = ENGINE.terms
    expected = []
    for number, start, end in index.search_text(low):
        lead, tail = index.bounded(number)
        if lead and start > 0 and low[start - 1 : start].isalnum():
            continue
        if tail and end < len(low) and low[end : end + 1].isalnum():
            continue
        expected.append((number, start, end))
    assert list(found.accepted()) == expected


@given(st.lists(st.integers(0, 40_000), max_size=60), st.integers(0, 50_000))
@settings(max_examples=300, deadline=None)
def test_merged_spans_are_the_union_of_each_seeds_span(seeds: list[int], end: int) -> None:
    starts = sorted(seeds)
    plain: list[tuple[int, int]] = []
    for s in starts:  # the loop _spans ran before: a step per seed
        lo, hi = max(s - score.WIDE, 0), s + 4 * score.WIDE
        if plain and lo <= plain[-1][1]:
            plain[-1] = (plain[-1][0], max(plain[-1][1], hi))
        else:
            plain.append((lo, hi))
    assert score._merged_spans(starts, end) == [(lo, min(hi, end)) for lo, hi in plain]


_GROUP_CHARS = ["ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", "0123456789abcdef", "ABCDEFGHXYZ",
                "abcdefghijklmnopqrstuvwxyz0123456789", "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"]
_GROUPED = st.tuples(
    st.sampled_from(_GROUP_CHARS),
    st.lists(st.sampled_from([2, 3, 4, 4, 5, 5, 6, 11]), min_size=1, max_size=8),
    st.booleans(), st.randoms(),
).map(lambda t: "-".join((["A3"] if t[2] else [])
                         + ["".join(t[3].choice(t[0]) for _ in range(k)) for k in t[1]]))


@given(st.lists(st.tuples(_GROUPED, _SEPARATORS), max_size=8))
@settings(max_examples=300, deadline=None)
def test_segments_reported_whole_are_the_pattern_matches(
    pieces: list[tuple[str, str]],
) -> None:
    # alnum-groups, alnum-7x4, alnum-5x5, hex-5-5, the 1Password key...: a match is a
    # whole run of its characters between boundaries, found without windows.
    _assert_runs_are_matches(
        "".join(code + sep for code, sep in pieces),
        ["alnum-groups", "alnum-7x4", "alnum-5x5", "alnum-4-4", "hex-5-5", "base32-4-4",
         "onepassword-secret-key"])


def test_a_segment_shape_needs_its_characters_inside_both_boundaries() -> None:
    ok = r"(?<![\p{L}\p{N}_\-])[A-Z0-9]{4}(?:-[A-Z0-9]{4}){2}(?![\p{L}\p{N}_\-])"
    assert shapescan.segment_expression(regex.compile(ok)) is not None
    # A hyphen outside the boundary classes: a code could continue past one.
    assert shapescan.segment_expression(regex.compile(ok.replace(r"_\-])", "_])"))) is None
    # A line break is where the text is padded: it must be outside the boundary classes.
    assert shapescan.segment_expression(regex.compile(ok.replace("_", r"_\n"))) is None
    # A body that may match nothing, or written with escapes, is not taken.
    assert shapescan.segment_expression(
        regex.compile(r"(?<![\p{L}\p{N}])(?:[a-z]{4})?(?![\p{L}\p{N}])")) is None
    assert shapescan.segment_expression(
        regex.compile(r"(?<![\p{L}\p{N}])\d{4}(?![\p{L}\p{N}])")) is None


def test_shapes_that_take_all_of_an_expressions_runs_share_its_lists() -> None:
    # Every run 16 hex characters long: hex-16 and hex-8-20 take them all, and share
    # one list (mapped to characters once); hex-12 takes none of them.
    text = "Müller,0123456789abcdef\nÜ,fedcba9876543210,x\n"
    runs = SCANNER.runs(text)
    assert runs is not None
    assert runs["hex-16"].starts is runs["hex-8-20"].starts
    assert [text[a:b] for a, b in zip(runs["hex-16"].starts, runs["hex-16"].stops,
                                       strict=True)] == ["0123456789abcdef", "fedcba9876543210"]
    assert runs["hex-12"].starts == []


_SPANS = st.lists(st.tuples(st.integers(0, 300), st.integers(0, 60)), max_size=6).map(
    lambda pairs: _disjoint(sorted(pairs)))


def _disjoint(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, size in pairs:
        lo = max(lo, out[-1][1]) if out else lo
        out.append((lo, lo + size))
    return out


@given(st.lists(st.tuples(_RUNS, _SEPARATORS), max_size=25), _SPANS)
@settings(max_examples=300, deadline=None)
def test_run_tokens_in_spans_are_the_matches_that_start_in_them(
    pieces: list[tuple[str, str]], spans: list[tuple[int, int]],
) -> None:
    text = "".join(run + sep for run, sep in pieces)
    runs = SCANNER.runs(text)
    assert runs is not None
    for name in sorted(SCANNER.run_shapes):
        shape = ENGINE.by_shape[name][0]
        plain = [t for t in shape_tokens(shape, text)
                 if any(lo <= t.start < hi for lo, hi in spans)]
        assert run_tokens(shape, text, spans, runs[name], {}) == plain


_TOKENS = st.lists(st.tuples(st.integers(0, 500), st.integers(1, 12)), max_size=40)


@given(_TOKENS, st.text(alphabet="ab \n", max_size=40).map(lambda s: s * 30),
       st.integers(1, 5))
@settings(max_examples=300, deadline=None)
def test_clusters_are_the_runs_of_near_tokens_of_enough_tokens(
    spots: list[tuple[int, int]], text: str, fewest: int,
) -> None:
    tokens: list[Token] = []
    for gap, size in spots:  # in order, not overlapping
        start = (tokens[-1].end if tokens else 0) + gap
        tokens.append(Token(start, start + size, text[start : start + size]))
    shape = ENGINE.by_shape["hex-16"][0]
    plain: list[list[Token]] = []  # the loop clusters() ran before, then the floor
    for token in tokens:
        if plain and (token.start - plain[-1][-1].end > match.MAX_GAP_CHARS
                      or text.count("\n", plain[-1][-1].end, token.start)
                      > match.MAX_GAP_LINES):
            plain.append([])
        if not plain:
            plain.append([])
        plain[-1].append(token)
    got = match.clusters(shape, tokens, text, fewest)
    assert [list(c.tokens) for c in got] == [c for c in plain if len(c) >= fewest]
    assert all(c.shape is shape for c in got)


# Runs of 16 hex characters (hex-16 and hex-8-20 take them all: shared lists) or of
# other lengths (then only some shapes take them), between boundaries.
_HEX_RUNS = st.tuples(st.sampled_from([16, 16, 16, 12, 9]), st.randoms()).map(
    lambda t: "".join(t[1].choice("0123456789abcdef") for _ in range(t[0])))


@given(st.lists(st.tuples(_HEX_RUNS, _SEPARATORS), max_size=25), _SPANS, _SPANS)
@settings(max_examples=300, deadline=None)
def test_tokens_made_once_for_shared_runs_are_each_shapes_run_tokens(
    pieces: list[tuple[str, str]], spans: list[tuple[int, int]], others: list[tuple[int, int]],
) -> None:
    text = "".join(run + sep for run, sep in pieces)
    runs = SCANNER.runs(text)
    assert runs is not None
    made: dict[tuple[object, ...], tuple[list[Token], list[int]]] = {}
    said: dict[str, bool] = {}
    # In the order Engine._scan takes them, each with its own spans (or none).
    for name, where in [("hex-8-20", spans), ("hex-16", others), ("hex-12", None),
                        ("hex-16", None), ("hex-8-20", others)]:
        shape = ENGINE.by_shape[name][0]
        assert (match.shared_run_tokens(shape, text, where, runs[name], said, made)
                == run_tokens(shape, text, where, runs[name], {}))


_TERM_TUPLES = [(Term("Recovery", "vocab:recovery"),), (Term("recovery", "vocab:recovery"),),
                (Term("backup codes", "vocab:recovery"), Term("backup codes", "keyword:x")),
                (Term("GitHub", "name:github"),), (Term("order", "vocab:negative"),)]


@given(st.lists(st.tuples(st.integers(0, 400), st.integers(0, len(_TERM_TUPLES) - 1)),
                max_size=40),
       st.integers(0, 400), st.integers(0, 400))
@settings(max_examples=300, deadline=None)
def test_words_near_by_kind_are_the_distinct_words_in_text_order(
    spots: list[tuple[int, int]], lo: int, size: int,
) -> None:
    # Found.hits shares one tuple of terms per word: Hits.distinct takes each once.
    hits = match.Hits(sorted(((s, s + 3, _TERM_TUPLES[k]) for s, k in spots),
                             key=lambda h: h[0]))
    plain: dict[str, list[str]] = {}  # _by_kind of every hit, then each label once
    for t in hits.within(lo, lo + size):
        plain.setdefault(t.kind, []).append(t.label)
    assert score._by_kind(hits.distinct(lo, lo + size)) == {
        kind: list(dict.fromkeys(labels)) for kind, labels in plain.items()}


# Segment shapes whose validation asks for a digit and a letter (alnum-groups...): the
# expression holds it (holds.py). Groups of digits only, letters only, or both.
_FOLDED = ["alnum-groups", "alnum-7x4", "alnum-5x5", "alnum-4-4", "hex-5-5"]
_MIXED_GROUPS = st.tuples(
    st.sampled_from(["0123456789", "abcdef", "ABCDEFXYZ", "a1", "A1", "Ab", "f0"]),
    st.lists(st.sampled_from([3, 4, 4, 5, 5, 6]), min_size=1, max_size=8), st.randoms(),
).map(lambda t: "-".join("".join(t[2].choice(t[0]) for _ in range(k)) for k in t[1]))


@given(st.lists(st.tuples(_MIXED_GROUPS, _SEPARATORS), max_size=8))
@settings(max_examples=300, deadline=None)
def test_segments_whose_expression_holds_the_validation_are_the_pattern_matches(
    pieces: list[tuple[str, str]],
) -> None:
    # "Full-time", "2024-0101": a body's match without a digit or a letter is no code.
    assert all(SCANNER.run_shapes >= {name} and name in SCANNER._validated
               for name in _FOLDED)
    _assert_runs_are_matches("".join(code + sep for code, sep in pieces), _FOLDED)


@given(st.sampled_from(_FOLDED), st.data())
@settings(max_examples=300, deadline=None)
def test_a_body_holding_classes_matches_the_body_and_the_validation(
    name: str, data: st.DataObject,
) -> None:
    shape = ENGINE.by_shape[name][0]
    assert shape.validate is not None
    found = shapescan.segment_expression(shape.pattern, shape.validate)
    assert found is not None and found[3]
    segment = shapescan._SEGMENT_SHAPE.fullmatch(shape.pattern.pattern)
    assert segment is not None
    body = segment.group(2)
    members = shapescan._held(shape.validate, sorted(found[1]))
    assert members is not None
    folded = regex.compile(holds.holding(body, members) or "")
    plain = regex.compile(body)
    alphabet = data.draw(st.sampled_from(["0123456789", "abcdef", "ABCDEF", found[1]]))
    sizes = data.draw(st.lists(st.sampled_from([4, 4, 5, 5, 3, 6]), min_size=1, max_size=8))
    code = "A3-" if name == "onepassword-secret-key" else ""
    code += "-".join(data.draw(st.text(alphabet=alphabet, min_size=k, max_size=k))
                     for k in sizes)
    want = plain.fullmatch(code) is not None and shape.validate.search(code) is not None
    assert (folded.fullmatch(code) is not None) == want


@given(st.lists(st.sampled_from(["[a-z0-9]", "[A-Z]", "x", "7", "-", "(?:", ")", "{2}",
                                 "{1,3}", "?"]), min_size=1, max_size=9),
       st.lists(st.sampled_from("ab7xZ-"), max_size=10))
@settings(max_examples=500, deadline=None)
def test_holding_is_the_body_with_a_digit_and_a_letter(parts: list[str], chars: list[str],
                                                       ) -> None:
    # Any body of the segment syntax (unreadable ones give None), any string.
    body = "".join(parts)
    try:
        plain = regex.compile(body)
    except regex.error:
        return
    digits, letters = list("0123456789"), [chr(c) for c in range(65, 91)] + [
        chr(c) for c in range(97, 123)]
    got = holds.holding(body, [digits, letters])
    if got is None:
        return
    text = "".join(chars)
    want = (plain.fullmatch(text) is not None and any(c in digits for c in text)
            and any(c in letters for c in text))
    assert (regex.fullmatch(got, text) is not None) == want


@given(st.lists(st.text(alphabet=st.sampled_from("0123456789abcdefxXAB"), max_size=24)
                | st.sampled_from(["abcde", "abcdef", "123456", "x1x2x3", "aaaaab", "Q1b2C3",
                                   "XXXX", "01234567", "9f8e7d6c5b4a"]),
                max_size=30))
@settings(max_examples=500, deadline=None)
def test_placeholders_of_many_codes_are_each_codes(codes: list[str]) -> None:
    # Run values of ASCII letters and digits, any length: in C loops over all of them.
    assert match._alnum_placeholders(codes) == [match.looks_placeholder(c) for c in codes]


@given(st.text(alphabet="ab1 \n-üé€日𝄞\ud800\udfff퟿0123456789abcdef", max_size=120))
@settings(max_examples=300, deadline=None)
def test_text_encoded_once_is_read_as_each_reader_encoded_it(text: str) -> None:
    # Engine._scan encodes a chunk once (surrogatepass) for the prefilter, the words and
    # the shapes; a lone surrogate still keeps the text from Hyperscan's shape search.
    data = text.encode("utf-8", "surrogatepass")
    assert lowered(text, data) == lowered(text)
    try:
        text.encode("utf-8")
        valid = True
    except UnicodeEncodeError:
        valid = False
    got = SCANNER.search(text, data)
    assert got == SCANNER.search(text)
    assert (got != (None, None)) == valid
    prefilter = ENGINE._prefilter
    assert prefilter is not None
    assert prefilter.low_shapes(text, data) == prefilter.low_shapes(text)
