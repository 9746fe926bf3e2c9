"""Masking and fingerprints: the only places that look at a code's characters
on the way out.

Masks keep separators and at most a quarter of the characters (never more
than 4, none at all for a code whose whole value is guessable), so an analyst
can tell two sets apart without learning a usable code. Fingerprints must be
stable (baselines, caches, incidents) yet must not let anyone holding a report
recover a code set by trying every value. How many values a set could have
been is worked out from its rule's shape (space.py), and decides the hash:

- 96 bits or more: SHA-256 (trying 2^95 values is out of reach whatever the hash);
- 48 to 96 bits: scrypt, deliberately slow and memory-hard (~40 ms and 16 MiB a
  try on one core, unloaded);
- under 48 bits: scrypt keyed with a secret kept on this machine (fpkey.py),
  written with a "k:" prefix. The bar: inverting a published fingerprint must
  cost more than 100,000 CPU-years. At 40 ms a try, 2^47 tries (half of 2^48,
  the expected work) are 178,000 CPU-years; a single Sentry code (2^40) would
  be 700, one 8-digit code (2^26.6) about 23 days, a Steam revocation code
  (10^5) half an hour. Keyed, they cannot be tried at all without the key.
  docs/fingerprints.md says what that costs baselines.
"""

from __future__ import annotations

import hashlib
import math

import regex

from mfaleaks.detect.fpkey import KEYED_PREFIX, fingerprint_key
from mfaleaks.detect.rules.model import Shape
from mfaleaks.detect.space import guess_bits

MASK = "•"
_ALNUM = regex.compile(r"[\p{L}\p{N}]")
_SEPARATORS = regex.compile(r"[^\p{L}\p{N}]+")
SLOW_HASH_BELOW_BITS = 96  # sets guessable in fewer tries than 2**96 get scrypt
KEYED_BELOW_BITS = 48  # and in fewer than 2**48, scrypt with this machine's key
GUESSABLE_BITS = 24  # a code this weak (R12345, 6 digits) is shown without any character
_URI_SECRET = regex.compile(r"(?i)(?:secret|data)=[^&\s]")


def normalise(code: str) -> str:
    """The canonical form used for fingerprints: separators gone, lower case."""
    return str(_SEPARATORS.sub("", code)).lower()


def entropy_bits(code: str) -> float:
    """A rough bound on the guessing work for one code, from its characters alone
    (masks use it; fingerprints ask the rule's shape, set_bits)."""
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


def set_bits(codes: list[str], shape: Shape | None, enough: float = math.inf) -> float:
    """log2 of the values the set of codes could have been (each code from its shape);
    stops counting once past `enough`."""
    unique = {normalise(c): c for c in codes}
    bits = 0.0
    for norm in sorted(unique):
        rough = entropy_bits(norm)
        bits += rough if shape is None else guess_bits(shape, unique[norm], rough)
        if bits >= enough:
            break
    return bits


def is_keyed(fp: str) -> bool:
    return fp.startswith(KEYED_PREFIX)


def fingerprint(rule_id: str, codes: list[str], shape: Shape | None = None) -> str:
    """Hash of the rule id and the normalised set of codes; no path, no line.

    `shape` is the shape the codes were found as: it tells how guessable they are.
    """
    unique = sorted({normalise(c) for c in codes})
    body = f"{rule_id}\0" + "\n".join(unique)
    bits = set_bits(codes, shape, enough=SLOW_HASH_BELOW_BITS)
    if bits >= SLOW_HASH_BELOW_BITS:
        return hashlib.sha256(body.encode()).hexdigest()[:40]
    salt = b"mfaleaks-fingerprint-v1"
    if bits < KEYED_BELOW_BITS:
        salt += fingerprint_key()
    # ~40 ms and 16 MiB per call: cheap once per finding, costly per guess.
    slow = hashlib.scrypt(body.encode(), salt=salt, n=2**14, r=8, p=1, dklen=20)
    return (KEYED_PREFIX if bits < KEYED_BELOW_BITS else "") + slow.hex()
