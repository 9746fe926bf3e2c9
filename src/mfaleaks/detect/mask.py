"""Masking and fingerprints: the only places that look at a code's characters
on the way out.

Masks keep separators and at most a quarter of the characters (never more
than 4, none at all for a code whose whole value is guessable), so an analyst
can tell two sets apart without learning a usable code. Fingerprints must be
stable (baselines, caches, incidents) yet must not let anyone holding a report
recover a short code by trying every value: low-entropy sets are hashed with
scrypt, a deliberately slow, memory-hard function.
"""

from __future__ import annotations

import hashlib
import math

import regex

MASK = "•"
_ALNUM = regex.compile(r"[\p{L}\p{N}]")
_SEPARATORS = regex.compile(r"[^\p{L}\p{N}]+")
SLOW_HASH_BELOW_BITS = 96  # sets guessable in fewer tries than 2**96 get scrypt
GUESSABLE_BITS = 24  # a code this weak (R12345, 6 digits) is shown without any character
_URI_SECRET = regex.compile(r"(?i)(?:secret|data)=[^&\s]")


def normalise(code: str) -> str:
    """The canonical form used for fingerprints: separators gone, lower case."""
    return str(_SEPARATORS.sub("", code)).lower()


def entropy_bits(code: str) -> float:
    """An upper bound on the guessing work for one code, from its characters."""
    chars = normalise(code)
    if not chars:
        return 0.0
    if chars.isdigit():
        alphabet = 10
    elif all(c in "0123456789abcdef" for c in chars):
        alphabet = 16
    elif chars.isascii() and chars.isalnum():
        alphabet = 36
    else:
        alphabet = 64
    return len(chars) * math.log2(alphabet)


def mask(code: str) -> str:
    # Only a URI with a secret/data parameter is masked as one: a base32 seed may well
    # begin with the letters OTPAUTH, and mask_uri would hand it back whole.
    if code.lower().startswith("otpauth") and _URI_SECRET.search(code):
        return mask_uri(code)
    total = len(_ALNUM.findall(code))
    keep = 0 if entropy_bits(code) < GUESSABLE_BITS else min(4, total // 4)
    out = []
    for ch in code:
        if _ALNUM.match(ch):
            out.append(ch if keep > 0 else MASK)
            keep -= 1
        else:
            out.append(ch)
    return "".join(out)


def mask_uri(uri: str) -> str:
    """otpauth URIs: issuer and account stay readable, the secret/data is masked."""
    return str(regex.sub(
        r"(?i)((?:secret|data)=)([^&\s]+)",
        lambda m: m.group(1) + m.group(2)[:2] + MASK * 6,
        uri,
    ))


def fingerprint(rule_id: str, codes: list[str]) -> str:
    """Hash of the rule id and the normalised set of codes; no path, no line."""
    unique = sorted({normalise(c) for c in codes})
    body = f"{rule_id}\0" + "\n".join(unique)
    bits = sum(entropy_bits(c) for c in unique)
    if bits >= SLOW_HASH_BELOW_BITS:
        return hashlib.sha256(body.encode()).hexdigest()[:40]
    # ~40 ms and 16 MiB per call: cheap once per finding, costly per guess.
    slow = hashlib.scrypt(body.encode(), salt=b"mfaleaks-fingerprint-v1", n=2**14, r=8, p=1,
                          dklen=20)
    return slow.hex()
