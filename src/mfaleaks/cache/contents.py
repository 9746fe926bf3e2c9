"""Small files in a worker: read whole in one go, hashed, and scanned once per content.

Most files of a share are small. Reading one whole costs a single open and
read, after which classification and extraction work on the bytes in memory.
Its SHA-256 keys the cache (--cache) and a per-worker memory of results. The
parent sends every small file of a given size to the same worker (run/pool.py),
so copies of a file, which have the same size, meet that memory: the same file
in ten folders is scanned once and placed at each. Bigger files are streamed,
and hashed by the parent first (run/plan.py).

Without --cache (every_digest False) only copies need the hash, and a copy has
the size and the name (which counts in scoring, so it is in the key) of the
file it copies: a file is hashed only when this worker has met that size and
name before, and the first file of them then (if it is still as the walk saw
it). Hashing every file cost ~5% of a scan's CPU on a Python install, where 10
MB of 674 MB of small files share a size and a name.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from mfaleaks.cache.record import Stored, place, stored_of
from mfaleaks.models import FileResult, Identity, Source, open_fd_noatime

SMALL_FILE = 4 * 1024 * 1024  # read whole up to this size; bigger ones are streamed
MEMO_SIZE = 20_000  # contents remembered per worker (~360 bytes each: 7 MB)

Key = tuple[bytes, str, str]  # sha256, file name (name hints count in scoring), kind hint
_memo: OrderedDict[Key, Stored] = OrderedDict()
Shape = tuple[int, str, str]  # size, file name, kind hint: what a copy shares with its first
# The first file of each shape, not hashed: its path, stat facts and result (None once hashed).
_firsts: OrderedDict[Shape, tuple[str, tuple[int, int, int, int], Identity | None,
                                  Stored] | None] = OrderedDict()
every_digest = True  # set per worker (scanjob.init): --cache keys every content by its hash


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
    if not every_digest and source.data is None and source.stat_key is not None:
        shape = (len(data), source.name, source.kind_hint or "")
        if shape not in _firsts:  # the first of its size and name here: no copy of one
            result = scan(whole)
            kept = stored_of(result, whole)
            if kept is not None and kept.lasting:
                assert source.fs_path is not None
                _keep(_firsts, shape, (source.fs_path, source.stat_key, source.identity, kept))
            return result
        first = _firsts[shape]
        if first is not None:
            _firsts[shape] = None  # from now on each of this shape is hashed
            if (earlier := file_digest(first[0], first[2], first[1])) is not None:
                _keep(_memo, (earlier, *shape[1:]), first[3])
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
        _keep(_memo, key, kept)
    return result


def _keep(memory: OrderedDict[Any, Any], key: Any, value: Any) -> None:
    memory[key] = value
    while len(memory) > MEMO_SIZE:
        memory.popitem(last=False)


def file_digest(path: str, identity: Identity | None,
                stat_key: tuple[int, int, int, int] | None = None) -> bytes | None:
    """The SHA-256 of a file on disk, read with the workers' own open (a regular file, still
    the one the walk listed); None when it cannot be read. With stat_key, also None unless
    stat says the file is still as the walk listed it (size, mtime, ctime, inode) before
    and after the read: a file scanned earlier is then the content that was scanned."""
    try:
        fd = open_fd_noatime(path, identity)
    except OSError:
        return None  # gone, a pipe, a device or another file: the worker says why
    try:
        if stat_key is not None and _stat_key(fd) != stat_key:
            return None
        h = hashlib.sha256()
        # Plain reads into the hash: a buffered file object costs more than the hash on
        # the small files that make up most of a share.
        while block := os.read(fd, 1 << 20):
            h.update(block)
        if stat_key is not None and _stat_key(fd) != stat_key:
            return None  # written to while read
    except OSError:
        return None
    finally:
        os.close(fd)
    return h.digest()


def _stat_key(fd: int) -> tuple[int, int, int, int]:
    st = os.fstat(fd)
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


def clear() -> None:
    _memo.clear()
    _firsts.clear()
