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
engine's usual search. ASCII text is searched as it is, case-insensitively
(Hyperscan's ASCII case folding is exactly what bytes.lower() does); other
text is lower-cased as the engine does it, then searched. A gate anchor is
searched in its form without look-behind (gates.Gate.forward), which holds
exactly where the anchor does, in the text as it is. Without Hyperscan (no
wheel for the platform, a CPU without SSSE3) the engine searches every text.
The compiled database is kept between runs (hscache.py).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

from mfaleaks import hscache

try:
    import hyperscan

    HYPERSCAN = True
except ImportError:  # pragma: no cover - wheels exist for Linux and macOS
    HYPERSCAN = False


def _literal(word: bytes) -> bytes:
    """A Hyperscan expression matching word as is: all but ASCII letters and digits escaped."""
    return b"".join(bytes([c]) if bytes([c]).isalnum() else b"\\x%02x" % c for c in word)


class Prefilter:
    """Says whether a text may hold one of some words or gates; never "no" wrongly."""

    def __init__(
        self, database: Any, left: list[re.Pattern[str]], anchors: list[re.Pattern[str]],
        non_ascii_opens: bool,
    ) -> None:
        self._db = database
        self._scratch = hyperscan.Scratch(database)
        self._left = left  # anchors Hyperscan does not take: searched with re
        self._anchors = anchors  # all of them, for text that is not ASCII
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
        exprs = [(_literal(n), once | hyperscan.HS_FLAG_CASELESS) for n in needles]
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
        return cls(database, left, [a for a, _ in anchors], non_ascii_opens)

    def may_match(self, text: str, low: bytes | None = None) -> bool:
        """False only if the text holds none of the words and gates. `low`: the text as
        match.lowered() gives it, when the caller has it (not needed for ASCII text)."""
        if text.isascii():
            if _found(self._db, text.encode("ascii"), self._scratch):
                return True
            return any(anchor.search(text) for anchor in self._left)
        if self._non_ascii_opens:
            return True
        # Lower-cased as the engine's lowered() does it. The anchors searched in
        # it can only add a "maybe"; they are searched in the text as it is.
        if low is None:
            low = text.lower().encode("utf-8", "surrogatepass")
        if _found(self._db, low, self._scratch):
            return True
        return any(anchor.search(text) for anchor in self._anchors)


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
