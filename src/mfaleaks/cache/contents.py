"""Small files in a worker: read whole in one go, hashed, and scanned once per content.

Most files of a share are small. Reading one whole costs a single open and
read, after which classification and extraction work on the bytes in memory,
and its SHA-256 comes almost free: it keys the cache (--cache) and a per-worker
memory of results. The parent sends every small file of a given size to the
same worker (run/pool.py), so copies of a file, which have the same size, meet
that memory: the same file in ten folders is scanned once and placed at each.
Bigger files are streamed, and hashed by the parent first (run/plan.py).
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from collections.abc import Callable

from mfaleaks.cache.record import Stored, place, stored_of
from mfaleaks.models import FileResult, Identity, Source, open_fd_noatime

SMALL_FILE = 4 * 1024 * 1024  # read whole up to this size; bigger ones are streamed
MEMO_SIZE = 20_000  # contents remembered per worker (~360 bytes each: 7 MB)

Key = tuple[bytes, str, str]  # sha256, file name (name hints count in scoring), kind hint
_memo: OrderedDict[Key, Stored] = OrderedDict()


def small(source: Source) -> bool:
    return source.fs_path is not None and source.data is None and source.size <= SMALL_FILE


def read_whole(path: str, size: int, identity: Identity | None = None) -> bytes | None:
    """The file's bytes, or None when it is unreadable, not a regular file (or not the
    file the walk saw) or has grown past SMALL_FILE (the streaming path then reads it
    or says why it cannot)."""
    try:
        fd = open_fd_noatime(path, identity)
    except OSError:
        return None
    try:
        parts = []
        left = SMALL_FILE + 1
        # Ask for the size the walk saw (plus one byte to see the end): os.read
        # allocates what it is asked for, and 4 MiB per small file costs more
        # than reading it.
        want = min(size, SMALL_FILE) + 1
        while left > 0 and (block := os.read(fd, min(want, left))):
            parts.append(block)
            left -= len(block)
            want = 1 << 20
    except OSError:
        return None
    finally:
        os.close(fd)
    data = b"".join(parts)
    return data if len(data) <= SMALL_FILE else None


def scan_small(source: Source, scan: Callable[[Source], FileResult]) -> FileResult | None:
    """scan(source with its bytes in memory), or the result of the same content seen before;
    None when the file is not small or cannot be read whole."""
    if source.data is not None and source.fs_path is not None and source.size <= SMALL_FILE:
        whole, data = source, source.data  # read already, by this worker (a file on a share)
    elif not small(source):
        return None
    else:
        assert source.fs_path is not None
        read = read_whole(source.fs_path, source.size, source.identity)
        if read is None:
            return None
        whole, data = source.with_data(read), read
    digest = hashlib.sha256(data).digest()
    key = (digest, source.name, source.kind_hint or "")
    stored = _memo.get(key)
    if stored is not None:
        _memo.move_to_end(key)
        result = place(stored, whole)
        result.digest, result.reused = digest, True
        return result
    result = scan(whole)
    result.digest = digest
    kept = stored_of(result, whole)
    if kept is not None and kept.lasting:  # a time limit or read error: read it again next time
        _memo[key] = kept
        while len(_memo) > MEMO_SIZE:
            _memo.popitem(last=False)
    return result


def clear() -> None:
    _memo.clear()
