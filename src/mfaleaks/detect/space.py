"""How many values a code of a given shape could have been: the guessing space that
decides how a fingerprint must be hashed (mask.fingerprint).

Worked out from the rule's own shape, not from the characters seen: at each
position of the code, count the characters that the shape's pattern would also
accept there (the code with that one character changed still matches the
pattern in full). A fixed character (the R of a Steam revocation code R12345)
counts 1, a digit 10, a base32 character 32, a separator nothing (fingerprints
drop separators and case, so a letter and its capital are one guess). The
product over positions is an upper bound on the work of guessing the code: a
pattern's other constraints (validate's "at least one digit") only shrink it.

R12345 is 10^5 values (16.6 bits), not 36^6 (31 bits) as counting every
character as a letter or digit said.
"""

from __future__ import annotations

import functools
import math

import regex

from mfaleaks.detect.rules.model import Shape
from mfaleaks.detect.shapesource import code_pattern

_CANDIDATES = "0123456789abcdefghijklmnopqrstuvwxyz"
_UNKNOWN_ALPHABET = 64  # a letter outside ASCII: no way to enumerate, counted generously


@functools.cache
def _code_pattern(pattern: regex.Pattern[str]) -> regex.Pattern[str]:
    return code_pattern(pattern)


def position_choices(shape: Shape, code: str) -> list[int] | None:
    """Per letter or digit of `code`, how many characters the shape accepts there
    (case folded); None if the code does not match its shape's pattern alone."""
    pattern = _code_pattern(shape.pattern)
    if pattern.fullmatch(code) is None:
        return None
    out = []
    for i, ch in enumerate(code):
        if not ch.isalnum():
            continue  # a separator: dropped from fingerprints
        if not ch.isascii():
            out.append(_UNKNOWN_ALPHABET)
            continue
        head, tail = code[:i], code[i + 1 :]
        out.append(sum(
            1 for c in _CANDIDATES
            if pattern.fullmatch(head + c + tail) is not None
            or (c.isalpha() and pattern.fullmatch(head + c.upper() + tail) is not None)
        ))
    return out


def guess_bits(shape: Shape, code: str, fallback: float) -> float:
    """log2 of the number of codes of this shape the code could have been; `fallback`
    (an estimate from the characters alone) when the shape cannot tell."""
    if shape.kind == "uri":
        return fallback  # a URI's label is no secret, and its secret is long: no need
    choices = position_choices(shape, code)
    if choices is None:
        return fallback
    return sum(math.log2(n) for n in choices if n > 1)
