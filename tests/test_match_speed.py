"""The shortcuts of the matcher (gates, byte-level term search) lose nothing."""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from mfaleaks.config import ScanConfig
from mfaleaks.detect import prefilter as prefilter_module
from mfaleaks.detect.gates import Gates, gate_of
from mfaleaks.detect.match import TermIndex, lowered
from mfaleaks.detect.prefilter import Prefilter
from mfaleaks.detect.rules.load import DEFAULT_RULES_DIR, load_pack
from mfaleaks.detect.rules.model import Shape
from mfaleaks.detect.score import Engine
from mfaleaks.detect.shapescan import MIN_TEXT, ShapeScanner
from mfaleaks.limits import Limits
from mfaleaks.models import Confidence, Origin, Source, TextChunk
from mfaleaks.run.scan import run_scan

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

PACK = load_pack([DEFAULT_RULES_DIR])
ENGINE = Engine(PACK, min_confidence=Confidence.MEDIUM)


def _open(gates: Gates, text: str) -> set[str]:
    return gates.open(text, text.lower().encode("utf-8", "surrogatepass"))


def _samples() -> list[str]:
    texts = [e.text for r in PACK.rules for e in (*r.examples, *r.negative_examples)]
    return [v for t in texts for v in (t, t.upper(), t.lower(), f"K\u212a ſ {t} İı")]


def test_every_distinctive_shape_has_a_gate() -> None:
    for name in ENGINE.distinctive:
        assert gate_of(ENGINE.by_shape[name][0].pattern) is not None, name


def test_a_gate_opens_wherever_its_shape_matches() -> None:
    for name, (shape, _) in ENGINE.by_shape.items():
        gates = Gates([shape])
        for text in _samples():
            if shape.pattern.search(text):
                assert name in _open(gates, text), (name, text)


def test_gates_read_literals_and_anchors() -> None:
    gate = gate_of(regex.compile(r'"(?:ab_c|de_f)"\s*:\s*"(?P<code>\w+)"'))
    assert gate is not None and set(gate.literals) == {'"ab_c"', '"de_f"'}
    gate = gate_of(regex.compile(r"(?<![\p{L}])[0-9a-f]{5}-[0-9a-f]{5}"))
    assert gate is not None and gate.anchor is not None
    assert gate.anchor.search("x 1a2b3-4c5d6 y") and not gate.anchor.search("ab-cd 12345")
    gate = gate_of(regex.compile(r"(?i:Otp)AUTH://"))
    assert gate is not None and gate.literals == ("otpauth://",) and gate.ascii_only


def test_unread_syntax_gives_no_gate() -> None:
    for pattern in (r"abcd|efgh", r"\x41BCD", r"(?x) a b c d", r"[[:alpha:]]abcd", r"(?>abc)d"):
        assert gate_of(regex.compile(pattern)) is None, pattern


def test_quantified_literals_are_not_required() -> None:
    gate = gate_of(regex.compile(r"ab?cde*fgh"))
    assert gate is not None and gate.literals == ("fgh",)


def test_case_insensitive_gate_opens_on_non_ascii_text() -> None:
    shape = regex.compile(r"(?i:kelvin)")
    gates = Gates([Shape(name="k", pattern=shape, validate=None, kind="other")])
    text = "\u212aelvin"  # KELVIN SIGN matches k case-insensitively
    assert shape.search(text)
    assert "k" in _open(gates, text)


def test_term_offsets_are_characters_in_non_ascii_text() -> None:
    index = TermIndex(PACK)
    text = "ünïcödé — Backup codes: 1234 5678"
    hits = index.find(text)
    assert hits and all(text[s:e].lower() == text.lower()[s:e] for s, e, _ in hits)
    assert any(text[s:e] == "Backup codes" for s, e, _ in hits)


def test_plain_code_yields_nothing_and_codes_are_still_found() -> None:
    source = Source(origin=Origin("x.py"), name="x.py")
    code = "def f(x):\n    return x + 1  # see RFC 1234-5678\n" * 50
    assert list(ENGINE.scan_chunk(TextChunk(code), source)) == []
    github = next(r for r in PACK.rules if r.id == "github-recovery-codes")
    # The example inside a source file with a neutral name still counts.
    text = code + github.examples[0].text + code
    found = list(ENGINE.scan_chunk(TextChunk(text), source))
    assert "github-recovery-codes" in [f.rule_id for f in found]


def test_word_boundaries_on_non_ascii_text_are_those_of_the_str() -> None:
    """any_accepted checks boundaries in UTF-8 bytes; it must agree with the str search."""
    seeds = ENGINE._seeds
    for text, expected in (
        ("Notizen: recovery codes für Konto", True),
        ("Notizen: érecovery codes für Konto", False),  # glued to a word: not the term
        ("Notizen: ärecovery codes", False),
        ("Notizen — recovery codes", True),
        ("日本語recovery codes", False),  # CJK letters are letters too
        ("«2fa» ist an", True),
        ("ä2faé", False),
    ):
        found = ENGINE.terms.scan(text)
        exact = ENGINE.terms.scan(text)
        list(exact.accepted())  # forces the str search
        assert found.any_accepted(seeds) is expected, text
        assert exact.any_accepted(seeds) is expected, text


@given(st.lists(st.sampled_from(["recovery codes", "2fa", "aws", "mm", "sha", "seed", " ",
                                  "x", "é", "日", "-", "\n", "ä2faé"]),
                max_size=14).map("".join))
@settings(max_examples=400, deadline=None)
def test_any_accepted_is_any_wanted_accepted_match(text: str) -> None:
    """any_accepted checks the wanted matches alone: its answer is that of accepted()."""
    seeds = ENGINE._seeds
    expected = any(seeds[i] for i, _, _ in ENGINE.terms.scan(text).accepted())
    assert ENGINE.terms.scan(text).any_accepted(seeds) is expected
    exact = ENGINE.terms.scan(text)
    list(exact.accepted())  # offsets mapped to characters first
    assert exact.any_accepted(seeds) is expected


def test_gates_open_for_letters_that_lower_to_something_else() -> None:
    """(?i) matches 'ſ' for s and 'İ' for i, whose lower() is not s / i: the gates spell
    their literals those ways too, so they still open (and need not open on every
    non-ASCII text)."""
    tried = 0
    for name, (shape, _) in ENGINE.by_shape.items():
        gates = Gates([shape])
        for text in _samples():
            for variant in (text.replace("s", "\u017f"), text.replace("i", "\u0130"),
                            text.replace("i", "\u0130").replace("S", "\u017f")):
                if shape.pattern.search(variant):
                    tried += 1
                    assert name in _open(gates, variant), (name, variant)
    assert tried  # the otpauth examples match with those letters
    shape = ENGINE.by_shape["otpauth-migration-uri"][0]
    text = "x otpauth-m\u0130grat\u0130on://offline?data=CjEKCkhlbGxvId6tvu8SGEV4 y"
    assert shape.pattern.search(text) and "otpauth-migration-uri" in _open(Gates([shape]), text)


def test_gates_stay_shut_on_ordinary_non_ascii_text() -> None:
    gates = Gates([ENGINE.by_shape[n][0] for n in ENGINE.distinctive])
    assert _open(gates, "Grüße aus Köln — keine Codes hier, nur Text.") == set(gates.always)


# The prefilter (prefilter.py) may only dismiss text the engine's own search
# would dismiss too: no gate open and no seed word respecting word boundaries.


def _search_finds_something(text: str) -> bool:
    _, lowb, low = lowered(text)
    return bool(ENGINE.gates.open(text, lowb)) or ENGINE.terms.scan_lowered(
        text, lowb, low
    ).any_accepted(ENGINE._seeds)


def _prefilter() -> Prefilter:
    assert ENGINE._prefilter is not None  # hyperscan is a dependency: the prefilter is on
    return ENGINE._prefilter


def test_prefilter_keeps_every_text_the_search_keeps() -> None:
    prefilter, kept = _prefilter(), 0
    seeds = [ENGINE.terms.pattern(i) for i, s in enumerate(ENGINE._seeds) if s]
    texts = _samples() + [f"x {w.upper()} y" for w in seeds] + [f"{w.title()}:" for w in seeds]
    for text in texts:
        if _search_finds_something(text):
            kept += 1
            assert prefilter.may_match(text), text
    assert kept > len(seeds)


def test_prefilter_lowers_non_ascii_text_as_the_engine_does() -> None:
    prefilter = _prefilter()
    # KELVIN SIGN lowers to "k": only the lower-cased text holds "backup codes".
    for text in ("BAC\u212aUP CODES: 1234 5678", "x AUTENTICACIÓN DE DOS FACTORES y", "Grüße, otpauth://totp/x",
                 "x CÓDIGOS DE RECUPERAÇÃO", "x Códigos De RecuperaÇão", "clÉ secrÈte"):
        assert _search_finds_something(text), text
        assert prefilter.may_match(text), text


def test_lower_odd_is_what_this_pythons_unicode_says() -> None:
    assert prefilter_module.lower_odd() == prefilter_module.compute_lower_odd()
    assert "\u212a" in prefilter_module.lower_odd() and "Å" not in prefilter_module.lower_odd()


def test_prefilter_finds_words_in_every_case_the_engine_lowers() -> None:
    """Each letter of a seed word replaced by every character that lowers to it."""
    prefilter = _prefilter()
    lowers_to: dict[str, list[str]] = {}
    for c in map(chr, range(0x80, 0x110000)):
        if len(c.lower()) == 1 and c.lower() != c:
            lowers_to.setdefault(c.lower(), []).append(c)
    lowers_to.setdefault("ς", []).append("Σ")  # at a word's end, "Σ" lowers to "ς"
    tried = 0
    for i, seed in enumerate(ENGINE._seeds):
        word = ENGINE.terms.pattern(i)
        if not seed or word.isascii():
            continue
        for k, ch in enumerate(word):
            for other in [*lowers_to.get(ch, []), ch.upper()]:
                text = f"x {word[:k]}{other}{word[k + 1:].upper()} y"
                if _search_finds_something(text):
                    tried += 1
                    assert prefilter.may_match(text), text
    assert tried > 1000


def test_prefilter_finds_anchors_without_look_behind() -> None:
    prefilter = _prefilter()
    assert prefilter.may_match("key 1a2b3-4c5d6 here")
    assert not prefilter.may_match("see ab-cd 12345 and -decade and 1a2b3-4c5dz")


def test_prefilter_dismisses_ordinary_text() -> None:
    prefilter = _prefilter()
    for text in (
        "def f(x):\n    return x + 1  # see RFC 1234-5678\n" * 50,
        "Order 12345678 shipped to 221B Baker Street. Phone +44 20 7946 0958.",
        "Grüße aus Köln — keine Codes hier, nur Text.",
    ):
        assert not _search_finds_something(text)
        assert not prefilter.may_match(text), text


_PIECES = st.sampled_from(
    ["backup", "codes", "recovery", "Code", "2FA", "seed", "TOTP", "otpauth://totp/",
     "\u212a", "\u0130", "\u017f", "ß", "\u1e9e", "é", "É", "Ó", "ó", "\u212b", "日本",
     "a3-", "-", "1a2b3", "4c5d6", "12345678",
     " ", "\n", "_", ".", ":", "Wiederherstellungscodes", "CÓDIGOS", '"shared_secret"']
)


@given(st.lists(_PIECES, max_size=12).map("".join))
@settings(max_examples=400, deadline=None)
def test_prefilter_never_dismisses_what_the_search_keeps(text: str) -> None:
    if _search_finds_something(text):
        assert _prefilter().may_match(text)


@pytest.mark.parametrize("confidence", [Confidence.MEDIUM, Confidence.LOW])
def test_findings_are_the_same_without_the_prefilter(
    monkeypatch: pytest.MonkeyPatch, confidence: Confidence
) -> None:
    """Every text of the bundled fixtures, through the real pipeline (OCR off), at the
    default confidence and at low, where the prefilter also names the shapes to run."""
    config = ScanConfig(paths=(str(FIXTURES),), jobs=1, min_confidence=confidence,
                        limits=replace(Limits(), ocr=False))
    answers: list[frozenset[str] | None] = []
    real = Prefilter.low_shapes

    def counted(self: Prefilter, text: str, data: bytes | None = None) -> frozenset[str] | None:
        answer = real(self, text, data)
        answers.append(answer)
        return answer

    def findings() -> list[tuple[str, str | None, str, str, float]]:
        result = run_scan(config)  # jobs=1: in this process, where the patch is
        return sorted((f.path, f.member, f.rule_id, f.fingerprint, f.score)
                      for f in result.findings)

    with monkeypatch.context() as patch:
        patch.setattr(Prefilter, "low_shapes", counted)
        with_prefilter = findings()
    # The prefilter was asked, and dismissed texts the comparison then rests on.
    assert answers.count(frozenset()) >= 10, answers
    if confidence is Confidence.LOW:  # and it ran only some shapes over others
        assert any(a for a in answers), answers
    monkeypatch.setattr(prefilter_module, "HYPERSCAN", False)
    assert Engine(PACK, min_confidence=confidence)._prefilter is None
    assert findings() == with_prefilter
    assert len(with_prefilter) >= 25


# At --min-confidence low a cluster needs no word (score.low_paths): the prefilter
# keeps what may score low on the cluster alone, a service named, a file of codes,
# a TOTP label; and runs only the shapes it kept the text for.

LOW_ENGINE = Engine(PACK, min_confidence=Confidence.LOW)


def _no_prefilter_engine() -> Engine:
    engine = Engine(PACK, min_confidence=Confidence.LOW)
    engine._prefilter = None
    return engine


NO_PREFILTER = _no_prefilter_engine()


def _low_findings(engine: Engine, text: str, name: str) -> list[tuple[str, str, int | None]]:
    source = Source(origin=Origin(name), name=name, data=b"")
    chunk = TextChunk(text=text, source="text", line=1, whole=True)
    return sorted((f.rule_id, f.fingerprint, f.line) for f in engine.scan_chunk(chunk, source))


_DIGIT_ZERO = "\u0660"  # ARABIC-INDIC DIGIT ZERO: \d, and "?" to the prefilter


def _arabic(digits: str) -> str:
    return "".join(chr(ord(_DIGIT_ZERO) + int(d)) if d.isdigit() else d for d in digits)


# Clusters with no recovery or two-factor word near them, each a path to a low finding.
WORDLESS = [
    "\n".join(["4829 1937", "5512 8830", "7301 4465", "9184 2276", "3390 6158"]),
    "\n".join(["482913745", "551288301", "730144652", "918422763"]),
    "values\n" + "\n".join(["72049135", "18306627", "94412058", "30587719"]) + "\nend",
    "\n".join(["9f2c4a7e1b3d5c60", "0a1b2c3d4e5f6a7b", "5e6f7a8b9c0d1e2f", "c3d4e5f6a7b8c9d0"]),
    "\n".join(["k4m9q2x7w1", "p8r3t6v0z5", "b2n7c1d9f4", "g6h3j8l0s5"]),
    "our gitlab: 9f2c4a7e1b3d5c60 0a1b2c3d4e5f6a7b 5e6f7a8b9c0d1e2f",
    "meta account 4829 1937, 5512 8830, 7301 4465",
    "duo 482913745",
    "otp_secret = JBSWY3DPEHPK3PXP",
    "login: alice\nkey: JBSW Y3DP EHPK 3PXP\nnote: from the 2fa app",
    "\n".join(_arabic(c) for c in ["4829 1937", "5512 8830", "7301 4465", "9184 2276"]),
    "\n".join(["ABCD-EFGH", "JKLM-NPQR", "STUV-WXYZ", "A2B3-C4D5"]),
    "\n".join(["a1b2-c3d4", "e5f6-g7h8", "j9k2-m3n4", "p5q6-r7s8"]),
    "Σ\n" + "\n".join(["4829 1937", "5512 8830", "7301 4465", "9184 2276"]),
]


# A TOTP seed labelled by its column's header (fields.column_label), lines away.
TABLES = ["name,secret\nalice,JBSWY3DPEHPK3PXP\n", "name,otp\nalice,JBSWY3DPEHPK3PXP\n",
          "name,one time password\nbob,JBSWY3DPEHPK3PXQ\n"]


def _low_texts() -> list[tuple[str, str]]:
    texts = [(e.text, e.filename) for r in PACK.rules for e in (*r.examples, *r.negative_examples)]
    texts += [(t, "notes.txt") for t, _ in texts]
    texts += [(t, n) for t in WORDLESS for n in ("notes.txt", "export.csv", "tests/data.txt")]
    texts += [(t, n) for t in TABLES for n in ("export.csv", "notes.txt")]
    return texts


def test_low_prefilter_keeps_seeds_labelled_by_their_column() -> None:
    for text in TABLES:
        assert LOW_ENGINE._prefilter is not None
        assert not LOW_ENGINE._prefilter.low_shapes(text)  # no word: the table opens it
        expected = _low_findings(NO_PREFILTER, text, "export.csv")
        assert expected and _low_findings(LOW_ENGINE, text, "export.csv") == expected


def test_low_prefilter_keeps_every_low_finding() -> None:
    found = 0
    for text, name in _low_texts():
        expected = _low_findings(NO_PREFILTER, text, name)
        found += bool(expected)
        assert _low_findings(LOW_ENGINE, text, name) == expected, (name, text)
    assert found >= len(WORDLESS)  # the paths above do score low without words


def test_low_prefilter_keeps_wordless_clusters_and_runs_their_shapes() -> None:
    prefilter = LOW_ENGINE._prefilter
    assert prefilter is not None
    scored = 0
    for text in WORDLESS:
        scored += bool(_low_findings(NO_PREFILTER, text, "notes.txt"))
        shapes = prefilter.low_shapes(text)
        assert shapes is None or shapes, text
    assert scored >= 8  # most are a path to a low finding indeed, the rest come close
    assert prefilter.low_shapes(WORDLESS[0]) == {"digits-4-4"}
    assert prefilter.low_shapes(WORDLESS[4]) == {"alnum-8-12"}


def test_low_prefilter_asks_for_the_codes_of_every_name_in_one_text() -> None:
    """Names ask for their services' codes (searched together, once a text): a text
    naming several services gets the shapes each name alone gets, and only those whose
    codes it holds."""
    prefilter = LOW_ENGINE._prefilter
    assert prefilter is not None
    gitlab, meta, duo = WORDLESS[5], WORDLESS[6], WORDLESS[7]
    alone = [prefilter.low_shapes(t) for t in (gitlab, meta, duo)]
    assert all(alone), alone
    both = prefilter.low_shapes(gitlab + "\n\n" + meta + "\n\n" + duo)
    assert both == frozenset().union(*alone)  # type: ignore[arg-type]
    # Named, without their codes: nothing asked for is found.
    assert prefilter.low_shapes("our gitlab and meta accounts, and duo") == frozenset()
    text = gitlab + "\nmeta account, duo"  # meta and duo named, only gitlab's codes
    shapes = prefilter.low_shapes(text)
    others = (alone[1] | alone[2]) - alone[0]  # type: ignore[operator]
    assert shapes and "hex-16" in shapes and others and not shapes & others
    for t in (gitlab + "\n\n" + meta + "\n\n" + duo, text):
        assert _low_findings(LOW_ENGINE, t, "notes.txt") == _low_findings(NO_PREFILTER, t,
                                                                           "notes.txt")


def test_low_prefilter_dismisses_ordinary_text() -> None:
    prefilter = LOW_ENGINE._prefilter
    assert prefilter is not None
    for text in (
        "def f(x):\n    return x + 1  # see RFC 4226, section 5.3\n" * 50,
        "Order 12345678 shipped to 221B Baker Street.\nPhone +44 20 7946 0958.\nThanks!",
        "Grüße aus Köln — keine Codes hier, nur Text.",
        "hash = 0x200000  # or 12345678901234567890\nnext = hash + 1\nprint(next)\nreturn\n",
        "class Meta:\n    metadata = {}\n" * 10,
    ):
        assert not _low_findings(NO_PREFILTER, text, "notes.txt")
        assert prefilter.low_shapes(text) == frozenset(), text


def test_low_prefilter_counts_lines_with_a_digit_for_codes_alone() -> None:
    """Letters and hex scored as "a file of codes" hold a digit each (their validate):
    a file whose lines hold words of eight letters, not digits, runs no shape; nor
    one where few lines hold a digit, unless their service is named."""
    prefilter = LOW_ENGINE._prefilter
    assert prefilter is not None
    words = "\n".join(["function argument", "continue", "register(handler)", "settings"] * 20)
    assert prefilter.low_shapes(words) == frozenset()
    codes = "\n".join(["k4m9q2x7w1", "p8r3t6v0z5", "b2n7c1d9f4", "g6h3j8l0s5"])
    assert prefilter.low_shapes(codes) == {"alnum-8-12"}
    # Lines with a digit but too few of them (80% of the non-empty lines hold codes).
    assert prefilter.low_shapes(codes + "\n" + "\n".join(["notes here"] * 2)) == frozenset()
    assert prefilter.low_shapes(codes + "\n\n  \n\t\nnotes here") == {"alnum-8-12"}
    # Codes of a shape that is no run (abcd-1234) alone, among prose, or named.
    dashed = "\n".join(["a1b2-c3d4", "e5f6-g7h8", "j9k2-m3n4", "p5q6-r7s8"])
    prose = dashed + "\n" + "\n".join(["some words of prose here"] * 20)
    assert prefilter.low_shapes(dashed) == {"alnum-4-4"}
    assert prefilter.low_shapes(prose) == frozenset()
    assert prefilter.low_shapes("discord\n" + prose) == {"alnum-4-4"}
    for text in (words, codes, dashed, prose, "discord\n" + prose):
        expected = _low_findings(NO_PREFILTER, text, "n.txt")
        assert _low_findings(LOW_ENGINE, text, "n.txt") == expected


def test_the_digit_zeros_are_this_pythons() -> None:
    zeros = "".join(c for c in map(chr, range(0x110000)) if unicodedata.decimal(c, None) == 0)
    assert zeros == prefilter_module._DIGIT_ZEROS


_LOW_PIECES = st.sampled_from(
    ["4829 1937", "482913745", "72049135", "9f2c4a7e1b3d5c60", "k4m9q2x7w1", "ABCD-EFGH",
     "a1b2-c3d4", _arabic("5512 8830"), "JBSWY3DPEHPK3PXP", "gitlab", "Meta", "duo",
     "secret: ", "ſeed=", "\u212aey: ", " ", "\n", "\n\n", "-", ".", "x", "é", "1. ", "\t",
     "abcdefghjk", "settings"]
)


@given(st.lists(_LOW_PIECES, max_size=16).map("".join))
@settings(max_examples=150, deadline=None)
def test_low_prefilter_never_loses_a_finding(text: str) -> None:
    assert _low_findings(LOW_ENGINE, text, "n.txt") == _low_findings(NO_PREFILTER, text, "n.txt")


def _big(rng: random.Random, blocks: list[str]) -> str:
    """~200 KB of code-like text dense with code-shaped things (hex ids, digit runs, long
    runs that reach into the wording's spans), with `blocks` placed at random."""
    hexes = "0123456789abcdef"
    lines = []
    for n in range(3000):
        kind = rng.randrange(6)
        if kind == 0:
            lines.append(f"    id_{n} = '{''.join(rng.choices(hexes, k=rng.choice([8, 16, 20])))}'")
        elif kind == 1:
            a, b = rng.randrange(10**7, 10**8), rng.randrange(10**7, 10**8)
            lines.append(f"    order = {a}  # {b}")
        elif kind == 2:
            lines.append("".join(rng.choices(hexes, k=rng.choice([40, 270, 300, 600]))))
        else:
            lines.append(f"    return compute(x_{n}, y={n})  # plain code")
    for block in blocks:
        lines.insert(rng.randrange(len(lines)), block)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("seed", range(6))
def test_big_text_searched_around_its_wording_finds_what_a_whole_search_finds(
    monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """Text over MIN_TEXT whose wording sits in a few places: the shapes are searched in
    the spans with a margin (ShapeScanner.search_within), and the findings are those of a
    search of the whole text (offsets put back, clusters, scores). Whether the margin is
    wide enough is the next test's: these findings stay the same without one."""
    from mfaleaks.detect import score

    rng = random.Random(seed)
    # Examples that open no gate: a distinctive shape's gate has the whole text searched.
    examples = [e.text for r in PACK.rules for e in r.examples if not _open(ENGINE.gates, e.text)]
    blocks = rng.sample(examples, 4)
    # Wording alone before long runs and code-shaped ids, and a code block just past
    # the end of a span (4 x WIDE after its word).
    blocks.append("Recovery codes:\n" + "".join(rng.choices("0123456789abcdef", k=300)))
    blocks.append("backup codes\n" + "x" * (4 * score.WIDE - 20) + "\n"
                  + rng.choice(examples))
    text = _big(rng, blocks)
    assert len(text) > MIN_TEXT
    source = Source(origin=Origin("notes.py"), name="notes.py")
    within: list[int] = []
    real = ShapeScanner.search_within

    def counted(self: ShapeScanner, text: str, spans: list[tuple[int, int]]) -> Any:
        within.append(len(spans))
        return real(self, text, spans)

    def findings() -> list[tuple[str, str, int | None, float]]:
        return sorted((f.rule_id, f.fingerprint, f.line, f.score)
                      for f in ENGINE.scan_chunk(TextChunk(text), source))

    with monkeypatch.context() as patch:
        patch.setattr(ShapeScanner, "search_within", counted)
        around = findings()
    assert within, "the spans covered most of the text: nothing searched within them"
    with monkeypatch.context() as patch:
        patch.setattr(score, "_around", lambda *_: None)
        whole = findings()
    assert around == whole
    assert whole  # the examples are found


@pytest.mark.parametrize("seed", range(8))
def test_search_within_spans_gives_the_tokens_of_a_whole_search(seed: int) -> None:
    """Per shape, the codes that start inside the spans are the same from search_within
    as from a search of the whole text, with spans that start and end inside long runs
    of hex digits and inside codes (what the margin is for)."""
    from mfaleaks.detect.match import run_tokens, shape_tokens

    rng = random.Random(seed)
    text = _big(rng, [])
    run_ends = [m.end() for m in re.finditer(r"[0-9a-f]{270,}", text)]
    code_ids = [m.start() for m in re.finditer(r"'[0-9a-f]{16,20}'|\d{8}", text)]
    spans = []
    for end in sorted(rng.sample(run_ends, 12)):
        # A long run enters the span, its last 6-40 characters inside (a code's length),
        # and the span ends inside an id or a number further on.
        lo = end - rng.randrange(6, 40)
        after = [at for at in code_ids if at > lo + 200]
        hi = (rng.choice(after[:20]) + rng.randrange(2, 8)) if after else len(text)
        if not spans or lo > spans[-1][1]:
            spans.append((lo, hi))
    scanner = ENGINE.shape_scanner
    whole = scanner.search(text)
    within = scanner.search_within(text, spans)
    assert whole[0] is not None and within[0] is not None
    assert whole[1] is not None and within[1] is not None

    def tokens(found: Any, name: str, shape: Shape) -> list[tuple[int, int, str]]:
        ends, runs = found
        if name in runs:
            made = run_tokens(shape, text, spans, runs[name])
        else:
            made = shape_tokens(shape, text, spans, ends[name], scanner.widths.get(name, 0))
        return [(t.start, t.end, t.text) for t in made]

    compared = 0
    for name, (shape, _) in ENGINE.by_shape.items():
        if name in whole[1] or (name in whole[0] and scanner.widths.get(name)):
            assert tokens(within, name, shape) == tokens(whole, name, shape), name
            compared += bool(tokens(whole, name, shape))
    assert compared  # some shapes had codes in the spans
