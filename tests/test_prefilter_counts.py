"""The low prefilter's line counts (detect/prefilter.py, _LineCounts) against their plain
definitions: the shortcuts (a translated copy, parts counted until the count says) must
give what splitting the text into lines gives."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mfaleaks.detect.prefilter import _BLANK, _BLANK_OR_WIDE, _LineCounts

LINES = st.lists(st.sampled_from([
    "", "   ", "\t", "4821 9930", "code 7", "words only here", "x", "?", "  ? ", "12",
    "a" * 300, "a" * 300 + "5", " " * 50,
]), max_size=400)


def nonempty(data: bytes, ascii_text: bool) -> int:
    blank = set(_BLANK if ascii_text else _BLANK_OR_WIDE)
    return sum(1 for line in data.split(b"\n") if any(b not in blank for b in line))


def plain(data: bytes, ascii_text: bool) -> bool:
    digit = set(b"0123456789") | (set() if ascii_text else {ord("?")})
    with_digit = sum(1 for line in data.split(b"\n") if any(b in digit for b in line))
    most = 1.25 * with_digit
    return bool(most) and nonempty(data, ascii_text) <= most


def check(data: bytes, ascii_text: bool) -> None:
    counts = _LineCounts(data, ascii_text)
    assert counts.digits_possible() == plain(data, ascii_text)
    # Counted through (part by part, or kept from the parts): the same count.
    assert counts._nonempty_lines() == nonempty(data, ascii_text)


@settings(max_examples=400, deadline=None)
@given(LINES, st.booleans(), st.booleans())
def test_digits_possible_is_its_definition(lines: list[str], ascii_text: bool,
                                           final_break: bool) -> None:
    check(("\n".join(lines) + ("\n" if final_break else "")).encode("ascii"), ascii_text)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 1500), st.integers(0, 1500), st.integers(0, 5))
def test_long_texts_decided_part_by_part(codes: int, words: int, blanks: int) -> None:
    # Beyond the first part (4 KiB at least): codes then words, words then codes.
    code_lines = [f"{48210000 + i}" for i in range(codes)]
    word_lines = ["budget meeting notes", "x"] * words
    spacer = [""] * blanks
    for lines in (code_lines + spacer + word_lines, word_lines + spacer + code_lines):
        check("\n".join(lines).encode("ascii"), True)


def test_counted_through_many_parts() -> None:
    # Codes (4 lines in 5) with one-letter lines between, then many empty lines: the mean
    # line is short, so the count goes to the end over several parts, and for some lengths
    # a part ends just before a one-letter line.
    for n in range(1000, 1060):
        lines = [f"{48210000 + i}" if i % 5 else "x" for i in range(n)] + [""] * 4000
        check("\n".join(lines).encode("ascii"), True)
