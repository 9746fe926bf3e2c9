"""The shortcuts of the matcher (gates, byte-level term search) lose nothing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

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


def test_findings_are_the_same_without_the_prefilter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every text of the bundled fixtures, through the real pipeline (OCR off), at the
    default confidence: at LOW the engine looks at every text and never asks the
    prefilter, so the comparison would hold whatever the prefilter said."""
    config = ScanConfig(paths=(str(FIXTURES),), jobs=1, limits=replace(Limits(), ocr=False))
    assert config.min_confidence is not Confidence.LOW
    answers: list[bool] = []
    real = Prefilter.may_match

    def counted(self: Prefilter, text: str) -> bool:
        answer = real(self, text)
        answers.append(answer)
        return answer

    def findings() -> list[tuple[str, str | None, str, str, float]]:
        result = run_scan(config)  # jobs=1: in this process, where the patch is
        return sorted((f.path, f.member, f.rule_id, f.fingerprint, f.score)
                      for f in result.findings)

    with monkeypatch.context() as patch:
        patch.setattr(Prefilter, "may_match", counted)
        with_prefilter = findings()
    # The prefilter was asked, and dismissed texts the comparison then rests on.
    assert answers.count(False) >= 10, answers
    monkeypatch.setattr(prefilter_module, "HYPERSCAN", False)
    assert Engine(PACK, min_confidence=config.min_confidence)._prefilter is None
    assert findings() == with_prefilter
    assert len(with_prefilter) >= 25
