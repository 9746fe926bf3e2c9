"""OCR look-alikes put right where a token can only be a number or hex.

Tesseract reads a code's 0 as O, Q or @, its 1 as l, I or |, its 5 as S, and
a monospaced f as # or £. Inside a token that is mostly digits (or mostly
lower-case hex with a digit), such a character can only be the one it
resembles; in a word it stays as it is. Every replacement is one character
for one, so offsets and word boxes of the OCR text stay valid.
"""

from __future__ import annotations

import re

# Characters tesseract puts in place of a digit. Lower-case a-f are left out so
# that a hex group of digits and 'b' is never read as a number.
_DIGIT = {
    "O": "0", "o": "0", "Q": "0",
    "l": "1", "I": "1", "i": "1", "|": "1", "!": "1",
    "Z": "2", "z": "2",
    "S": "5", "s": "5", "$": "5",
    "G": "6",
    "T": "7",
    "B": "8",
    "g": "9", "q": "9",
}
# In lower-case hex, a-f are real letters: map what cannot be hex, and capitals
# and accents that stand for a hex letter.
_HEX = {
    "O": "0", "o": "0", "Q": "0", "@": "0", "©": "0",
    "l": "1", "I": "1", "i": "1", "|": "1",
    "Z": "2", "z": "2",
    "S": "5", "s": "5",
    "g": "9", "q": "9",
    "A": "a", "B": "b", "C": "c", "D": "d", "E": "e", "F": "f",
    "é": "e", "è": "e", "ë": "e", "€": "e", "#": "f", "£": "f",
}
_HEX_CHARS = frozenset("0123456789abcdef")
_TOKEN = re.compile(r"[0-9A-Za-z|!$@©éèë€#£]{3,}")
_DIGIT_TABLE = str.maketrans(_DIGIT)
_HEX_TABLE = str.maketrans(_HEX)


# A list number glued to the code it numbers ("2.9558 2428", "4,1266 3849"): tesseract
# drops the space after the dot, and the code then reads as a decimal number.
# Only where a list starts: at the start of a line or after a column's gap.
_GLUED_NUMBER = re.compile(r"(?m)(^[ \t]*|(?<=  ))(\d{1,2})[.,](?=\d{4} \d{4}(?!\d))")


# A GitHub-style pair of five-character hex halves: one half may hold no digit at
# all ("dlafc-3b2e9"), and a token alone with no digit is a word, never mapped.
# Its pair, with digits, says what it is.
_LOOKS = "0-9A-Za-z|!$@©éèë€#£"
_PAIR = re.compile(rf"(?<![{_LOOKS}-])([{_LOOKS}]{{5}})-([{_LOOKS}]{{5}})(?![{_LOOKS}-])")


def normalise_ocr(text: str) -> str:
    """Map look-alikes to digits (or hex letters) inside code-like tokens; length is kept."""
    text = _TOKEN.sub(_fix, text)
    if "-" in text:
        text = _PAIR.sub(_fix_pair, text)
    return _GLUED_NUMBER.sub(r"\1\2 ", text)


def _fix_pair(m: re.Match[str]) -> str:
    pair = m.group()
    if sum(ch.isdigit() for ch in pair) < 2 or not all(
        ch in _HEX_CHARS or ch in _HEX for ch in m.group(1) + m.group(2)
    ):
        return pair
    if all(sum(ch in _HEX_CHARS for ch in half) >= 3 for half in m.groups()):
        return pair.translate(_HEX_TABLE)
    return pair


def _fix(m: re.Match[str]) -> str:
    token = m.group()
    digits = sum(ch.isdigit() for ch in token)
    if digits == 0 or digits == len(token):
        return token
    if digits * 2 >= len(token) and all(ch.isdigit() or ch in _DIGIT for ch in token):
        return token.translate(_DIGIT_TABLE)
    if len(token) >= 4 and all(ch in _HEX_CHARS or ch in _HEX for ch in token):
        real = sum(ch in _HEX_CHARS for ch in token)
        # Upper-case base32 (A-Z, 2-7) must not turn into hex: it has no lower-case
        # letter and none of the digits 0, 1, 8, 9.
        hexlike = any(ch in "abcdef0189" for ch in token)
        if real * 10 >= 6 * len(token) and hexlike:
            return token.translate(_HEX_TABLE)
    return token
