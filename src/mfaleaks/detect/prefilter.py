"""Prefilter: one Hyperscan pass that dismisses text which cannot yield a finding.

Most text (code, docs, mail) holds neither recovery wording nor a gate of a
distinctive shape, and the engine then stops after its term search (see
Engine.scan_chunk). Finding that out took a lower-cased copy of the text, an
Aho-Corasick pass for ~700 words and another for the gates: on the standard
library, a third of a worker's time. Hyperscan answers "is any of these here"
for all of them in one SIMD pass, with no callback unless one occurs.

The answer must never be "no" where the engine's own search would find
something, so it errs towards "maybe": any raw occurrence of a word counts,
before the engine's word-boundary checks, and a "maybe" costs only the
engine's usual search. Text is searched as it is, as UTF-8, case-insensitively
(Hyperscan's ASCII case folding is exactly what bytes.lower() does). Lower-casing
text that is not ASCII, as the engine does, cost more than the search (a fifth
of the standard library's text is in such files): instead, each letter beyond
ASCII of a word is also searched in its upper case, and a character whose
lower case is something else (KELVIN SIGN is "k") makes the answer "maybe".
A gate anchor is searched in its form without look-behind (gates.Gate.forward),
which holds exactly where the anchor does. Without Hyperscan (no
wheel for the platform, a CPU without SSSE3) the engine searches every text.
The compiled database is kept between runs (hscache.py).
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from mfaleaks.detect import hscache

try:
    import hyperscan

    HYPERSCAN = True
except ImportError:  # pragma: no cover - wheels exist for Linux and macOS
    HYPERSCAN = False


_ESCAPED = [bytes([c]) if bytes([c]).isalnum() else b"\\x%02x" % c for c in range(256)]


def _literal(word: bytes) -> bytes:
    """A Hyperscan expression matching word as is: all but ASCII letters and digits escaped."""
    return b"".join(map(_ESCAPED.__getitem__, word))  # a table: the engine's build waits for this


def _any_case(needle: bytes) -> bytes:
    """An expression for the lower-cased UTF-8 needle in text that is not lower-cased:
    with Hyperscan's (ASCII) case folding, it matches wherever text.lower() holds the
    needle, unless the text holds one of lower_odd()."""
    if needle.isascii():
        return _literal(needle)
    return b"".join(map(_char_any_case, needle.decode("utf-8", "surrogatepass")))


@functools.cache
def _char_any_case(ch: str) -> bytes:
    forms = {ch.encode("utf-8", "surrogatepass")}
    upper = ch.upper()
    if not ch.isascii() and len(upper) == 1:
        # 'σ' and final 'ς' both come from 'Σ', which is the upper case of both.
        forms.add(upper.encode("utf-8", "surrogatepass"))
    alternatives = sorted(_literal(f) for f in forms)
    return alternatives[0] if len(alternatives) == 1 else b"(?:" + b"|".join(alternatives) + b")"


# Characters whose lower case is not one non-ASCII character of which they are the
# upper case (str.lower() aside from its final-sigma rule): KELVIN SIGN lowers to
# "k", CAPITAL I WITH DOT to two characters, ANGSTROM SIGN to the 'å' of another
# 'Å', titlecase digraphs to a letter whose upper case is another digraph.
_LOWER_ODD_UNICODE = "14.0.0"
_LOWER_ODD = (
    "\u0130\u01c5\u01c8\u01cb\u01f2\u03f4\u1e9e\u1f88\u1f89\u1f8a\u1f8b\u1f8c\u1f8d"
    "\u1f8e\u1f8f\u1f98\u1f99\u1f9a\u1f9b\u1f9c\u1f9d\u1f9e\u1f9f\u1fa8\u1fa9\u1faa"
    "\u1fab\u1fac\u1fad\u1fae\u1faf\u1fbc\u1fcc\u1ffc\u2126\u212a\u212b"
)


@functools.cache
def lower_odd() -> str:
    """The characters of _LOWER_ODD for the Unicode version this Python lower-cases by."""
    if unicodedata.unidata_version == _LOWER_ODD_UNICODE:
        return _LOWER_ODD
    return compute_lower_odd()  # ~80 ms, once per process: another Python's Unicode tables


def compute_lower_odd() -> str:
    """_LOWER_ODD worked out from this Python's str.lower() (every code point past ASCII)."""
    odd = []
    for start in range(0, 0x110000, 0x400):
        block = "".join(map(chr, range(max(start, 0x80), start + 0x400)))
        if block.lower() == block:
            continue  # nothing to lower (and surrogates lower to themselves)
        for c in block:
            low = c.lower()
            if low != c and (len(low) != 1 or low.isascii() or low.upper() != c):
                odd.append(c)
    return "".join(odd)


class Prefilter:
    """Says whether a text may hold one of some words or gates; never "no" wrongly."""

    def __init__(self, database: Any, left: list[re.Pattern[str]], non_ascii_opens: bool) -> None:
        self._db = database
        self._scratch = hyperscan.Scratch(database)
        self._left = left  # anchors Hyperscan does not take: searched with re
        self._non_ascii_opens = non_ascii_opens

    @classmethod
    def build(
        cls,
        words: Iterable[str],
        literals: Iterable[bytes],
        anchors: Iterable[tuple[re.Pattern[str], str]],
        non_ascii_opens: bool = False,
    ) -> Prefilter | None:
        """A prefilter for these words (lower-cased), gate literals (lower-cased,
        as UTF-8) and gate anchors (each with its form without look-behind).
        `non_ascii_opens`: a gate opens on any text that is not ASCII.
        None without Hyperscan, or when it cannot compile them."""
        if not HYPERSCAN:
            return None
        once = hyperscan.HS_FLAG_SINGLEMATCH
        needles = {w.encode("utf-8") for w in words} | set(literals)
        exprs = [(_any_case(n), once | hyperscan.HS_FLAG_CASELESS) for n in needles]
        exprs += [(_literal(c.encode("utf-8")), once) for c in lower_odd()]
        anchors = list(anchors)
        left: list[re.Pattern[str]] = []
        for anchor, forward in anchors:
            # An anchor is an escaped literal between ASCII classes, matched case
            # sensitively (gates._anchor_gate); anything else stays with re.
            if anchor.flags & ~re.UNICODE or not forward or not forward.isascii():
                left.append(anchor)
            else:
                exprs.append((forward.encode("ascii"), once))
        if not exprs:
            return None
        exprs.sort()  # the same set, the same database (and cache file)
        key = _key(exprs)
        database = _loaded(key) or _compiled(exprs, key)
        if database is None:
            return None
        return cls(database, left, non_ascii_opens)

    def may_match(self, text: str) -> bool:
        """False only if the text holds none of the words and gates."""
        if text.isascii():
            data = text.encode("ascii")
        elif self._non_ascii_opens:
            return True
        else:
            data = text.encode("utf-8", "surrogatepass")
        if _found(self._db, data, self._scratch):
            return True
        # Forward anchors are ASCII classes and literals: in UTF-8 they match bytes
        # where they match characters, so only those Hyperscan did not take are left.
        return any(anchor.search(text) for anchor in self._left)


def _key(exprs: list[tuple[bytes, int]]) -> str:
    h = hashlib.sha256(f"hyperscan {getattr(hyperscan, '__version__', '')}\n".encode())
    for expr, flags in exprs:
        h.update(b"%d %d %s\n" % (flags, len(expr), expr))
    return h.hexdigest()


def _loaded(key: str) -> Any:
    """The database compiled by an earlier run (hscache.py), if Hyperscan takes it."""
    data = hscache.load(key)
    if data is None:
        return None
    try:
        return hyperscan.loadb(data, hyperscan.HS_MODE_BLOCK)
    except Exception:  # another engine version or CPU, or junk: compiled again
        return None


def _compiled(exprs: list[tuple[bytes, int]], key: str) -> Any:
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    try:
        database.compile(
            expressions=[e for e, _ in exprs],
            ids=list(range(len(exprs))),
            elements=len(exprs),
            flags=[f for _, f in exprs],
        )
    except hyperscan.error:
        return None
    hscache.save(key, hyperscan.dumpb(database))
    return database


def _found(database: Any, data: bytes, scratch: Any) -> bool:
    try:
        database.scan(data, match_event_handler=_stop, scratch=scratch)
    except hyperscan.ScanTerminated:
        return True
    return False


def _stop(*_: object) -> bool:
    return True  # one occurrence decides: stop the scan
