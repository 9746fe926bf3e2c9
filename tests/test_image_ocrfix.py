"""OCR look-alike normalisation: digits and hex put right, words left alone."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mfaleaks.detect.ocrfix import normalise_ocr


@pytest.mark.parametrize(
    ("seen", "meant"),
    [
        ("1. 482l 773O", "1. 4821 7730"),
        ("4S21 I730", "4521 1730"),
        ("B821 7|30", "8821 7130"),
        ("ala3c-1fc2d", "a1a3c-1fc2d"),
        ("aQa9a-4d296", "a0a9a-4d296"),
        ("c7#c3-23bdd 33f£2-7d9b7", "c7fc3-23bdd 33ff2-7d9b7"),
        ("@85eb-cc042", "085eb-cc042"),
        ("692F0", "692f0"),
        ("dlafc-3b2e9", "d1afc-3b2e9"),  # a half with no digit: its pair says it is hex
        ("3b2e9-cafSe 1f0c4-dlafc", "3b2e9-caf5e 1f0c4-d1afc"),
    ],
)
def test_look_alikes_in_codes_become_digits_or_hex(seen: str, meant: str) -> None:
    assert normalise_ocr(seen) == meant


@pytest.mark.parametrize(
    "text",
    [
        "Keep these backup codes somewhere safe but accessible.",
        "You can only use each backup code once.",
        "(jdoe@example.com) SOS ISO LOL",
        "b0b48-d1e5a",  # real hex: b stays b
        "AB2C-DE7F",  # upper-case base32 (Sentry) keeps its letters
        "JBSWY3DPEHPK3PXP",  # a base32 seed keeps its letters
        "2fa B2B Q3",
        "cliff-faced 2024",  # a hyphenated pair of words, with no digit in it
        "SSO-login 12345-67890",
    ],
)
def test_words_and_real_codes_are_left_alone(text: str) -> None:
    assert normalise_ocr(text) == text


@given(st.text(alphabet=st.sampled_from("0123456789abcdefOolISsBZgq|#£@ -.\n\tXYZkm"),
               max_size=80))
def test_length_is_kept_and_a_second_pass_changes_nothing(text: str) -> None:
    once = normalise_ocr(text)
    assert len(once) == len(text)
    assert normalise_ocr(once) == once
    for a, b in zip(text, once, strict=True):
        assert a == b or not a.isspace()  # whitespace never moves: boxes stay aligned
