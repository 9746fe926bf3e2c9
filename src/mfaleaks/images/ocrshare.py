"""What the workers of one scan read from images, shared between them, in memory only.

ocrcache.py keeps what a worker read in that worker (and on disk only which
images held nothing at all). The same screenshot attached to mails that went
to different workers was read by each of them: 0.1-0.25 s of tesseract apiece.
This table lives in an anonymous shared mapping that the worker server makes
when it preloads this module, before it forks the workers: every worker of the
scan sees it, none of it is ever written to a file, and it ends with the
processes.

A worker about to read an image claims its key. Another worker that meets the
key while it is claimed puts the file off (Busy: its parent sends it again at
the end of the scan, when the result is in) the first time, and waits for the
result (the claimant is reading it at that moment) after that, instead of
reading it too; if the claimant dies, gives up or takes longer than the wait
allowed, the waiter reads it itself. Slots and bytes
are bounded (SLOTS, DATA): past them, images are read per worker as before.
A POSIX record lock (fcntl.lockf) on an unlinked temporary file guards the
table: the kernel drops it when its holder dies, so a killed worker cannot
leave the others stuck. Without fork or fcntl (Windows) there is no table.
"""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import os
import pickle
import struct
import tempfile
import time
from collections.abc import Iterator
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: workers are not forked
    fcntl = None  # type: ignore[assignment]

SLOTS = 4096
PROBES = 64  # slots looked at from a key's own before the table counts as full
DATA = 32 * 2**20  # bytes of results (virtual: pages are used only once written)
POLL = 0.01  # s between two looks at a key another worker is reading

_VACANT, _CLAIMED, _DONE = 0, 1, 2
_HEAD = struct.Struct("<Q")  # bytes of DATA used
_SLOT = struct.Struct("<16sBiQI")  # key digest, state, claimant pid, offset, length
_NO_KEY = bytes(16)


class Mine:
    """claim() said: read it yourself, then publish() or release()."""


MINE = Mine()


class Busy(BaseException):
    """claim() said: another worker is reading this picture now; put the whole file off.
    A BaseException, so that extractors' `except Exception` lets it through."""


# Set by a worker while it scans a small file (scanjob.scan_one): its parent sends a
# file put off again at the end.
may_put_off = False
PUT_OFF_KEPT = 4096  # keys put off once by this process; past that, forgotten
_put_off: set[bytes] = set()


class _Table:
    def __init__(self) -> None:
        self.map = mmap.mmap(-1, _HEAD.size + SLOTS * _SLOT.size + DATA)  # MAP_SHARED
        fd, path = tempfile.mkstemp(prefix="mfaleaks-lock-")  # only locked, never written
        os.unlink(path)
        self.lock = fd

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        fcntl.lockf(self.lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.lockf(self.lock, fcntl.LOCK_UN)

    def find(self, digest: bytes) -> tuple[int, tuple[Any, ...]] | None:
        """The slot of this key, or the first vacant one on its way; None if full."""
        start = int.from_bytes(digest[:8], "little")
        for probe in range(PROBES):
            at = _HEAD.size + ((start + probe) % SLOTS) * _SLOT.size
            slot = _SLOT.unpack_from(self.map, at)
            if slot[0] == digest or slot[0] == _NO_KEY:
                return at, slot
        return None

    def put(self, at: int, *slot: Any) -> None:
        _SLOT.pack_into(self.map, at, *slot)


_table: _Table | None = None
if fcntl is not None and hasattr(os, "fork"):
    try:
        _table = _Table()
    except OSError:  # no memory to map, no temporary folder: each worker reads alone
        _table = None


def _digest(key: str) -> bytes:
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def claim(key: str, wait: float) -> tuple[Any, ...] | Mine | None:
    """What another worker of this scan read for `key`; MINE when this worker is to read
    it (then publish or release); None when the table is full (read it, keep it).
    Raises Busy when another worker is reading it and this one (may_put_off) has not
    put a file off for this key yet: it goes on with other files meanwhile, where
    waiting left a core idle while the other one ran tesseract."""
    if _table is None:
        return None
    digest, me = _digest(key), os.getpid()
    deadline = time.monotonic() + wait
    while True:
        with _table.locked():
            found = _table.find(digest)
            if found is None:
                return None
            at, (_, state, pid, offset, length) = found
            if state == _DONE:
                return pickle.loads(_table.map[offset:offset + length])  # type: ignore[no-any-return]
            if state == _VACANT or pid == me or not _alive(pid) or time.monotonic() > deadline:
                _table.put(at, digest, _CLAIMED, me, 0, 0)
                return MINE
            if may_put_off and digest not in _put_off:
                if len(_put_off) >= PUT_OFF_KEPT:
                    _put_off.clear()
                _put_off.add(digest)
                raise Busy  # (the lock is let go on the way out)
        time.sleep(POLL)  # another worker is reading it right now


def publish(key: str, items: tuple[Any, ...]) -> None:
    """The result of a claim, for the other workers (if it still holds and fits)."""
    if _table is None:
        return
    data = pickle.dumps(items, pickle.HIGHEST_PROTOCOL)
    digest = _digest(key)
    with _table.locked():
        found = _table.find(digest)
        if found is None or found[1][1] != _CLAIMED or found[1][2] != os.getpid():
            return  # taken over by a worker that waited too long
        at = found[0]
        (used,) = _HEAD.unpack_from(_table.map, 0)
        if used + len(data) > DATA:
            _table.put(at, digest, _VACANT, 0, 0, 0)
            return
        start = _HEAD.size + SLOTS * _SLOT.size + used
        _table.map[start:start + len(data)] = data
        _HEAD.pack_into(_table.map, 0, used + len(data))
        _table.put(at, digest, _DONE, 0, start, len(data))


def release(key: str) -> None:
    """Give a claim up (the read failed): the next worker to meet the key reads it."""
    if _table is None:
        return
    digest = _digest(key)
    with _table.locked():
        found = _table.find(digest)
        if found is not None and found[1][1] == _CLAIMED and found[1][2] == os.getpid():
            _table.put(found[0], digest, _VACANT, 0, 0, 0)


def clear() -> None:
    """Forget everything (ocrcache.clear_memory: the bench and the tests read cold)."""
    _put_off.clear()
    if _table is None:
        return
    with _table.locked():
        end = _HEAD.size + SLOTS * _SLOT.size
        _table.map[:end] = bytes(end)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
