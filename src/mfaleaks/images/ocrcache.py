"""What was read from an image, remembered by the hash of its bytes.

The same screenshot often sits in many mails: it is read once. Three levels:

- `ctx.budget.cache`: everything read from the current file on disk;
- a small per-process LRU, so a worker does not read the same picture again
  for the next file it is given;
- optionally an SQLite file (the CLI's cache option) that survives the run.
  It holds **no text**: only the hashes of images in which nothing at all was
  found (no text, no QR code), which are the bulk of a photo folder. Images
  with text are read again on the next run, so no code ever reaches the disk.
  The file is created 0600 all the same.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mfaleaks.models import Skip, TextChunk

if TYPE_CHECKING:  # extract/ imports this module: no import cycle at run time
    from mfaleaks.extract.base import Context

Items = tuple[TextChunk | Skip, ...]
LRU_SIZE = 128
_EMPTY = "empty"

_lru: OrderedDict[str, Items] = OrderedDict()
_disk: dict[tuple[str, int], sqlite3.Connection | None] = {}


def cache_key(digest: str, settings: str) -> str:
    return f"image:{digest}:{settings}"


def lookup(ctx: Context, key: str) -> Items | None:
    hit = ctx.budget.cache.get(key)
    if isinstance(hit, tuple):
        return hit
    items = _lru.get(key)
    if items is not None:
        _lru.move_to_end(key)
        ctx.budget.cache[key] = items
        return items
    db = _connection(disk_path(ctx))
    if db is not None:
        try:
            row = db.execute("SELECT verdict FROM images WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error:
            row = None
        if row is not None and row[0] == _EMPTY:
            ctx.budget.cache[key] = ()
            return ()
    return None


def store(ctx: Context, key: str, items: Sequence[TextChunk | Skip]) -> None:
    frozen = tuple(items)
    ctx.budget.cache[key] = frozen
    _lru[key] = frozen
    _lru.move_to_end(key)
    while len(_lru) > LRU_SIZE:
        _lru.popitem(last=False)
    if frozen:
        return  # text or a failure: never persisted
    db = _connection(disk_path(ctx))
    if db is not None:
        with contextlib.suppress(sqlite3.Error):  # a busy or read-only cache only costs speed
            db.execute(
                "INSERT OR REPLACE INTO images (key, verdict, seen) VALUES (?, ?, ?)",
                (key, _EMPTY, time.time()),
            )


def disk_path(ctx: Context) -> str | None:
    """The on-disk cache file, when the CLI was given one (Limits.ocr_cache)."""
    path = getattr(ctx.limits, "ocr_cache", None)
    return path if isinstance(path, str) and path else None


def _connection(path: str | None) -> sqlite3.Connection | None:
    if path is None:
        return None
    key = (path, os.getpid())  # a connection must not cross a fork into a worker
    if key not in _disk:
        _disk[key] = _open(path)
    return _disk[key]


def _open(path: str) -> sqlite3.Connection | None:
    try:
        # Create the file ourselves so that it is private from the first byte.
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        db = sqlite3.connect(path, timeout=2.0, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS images "
            "(key TEXT PRIMARY KEY, verdict TEXT NOT NULL, seen REAL NOT NULL)"
        )
    except (OSError, sqlite3.Error):
        return None
    return db


def clear_memory() -> None:
    """Forget the per-process LRU and what the workers share (the bench measures cold
    reads)."""
    from mfaleaks.images import ocrshare

    _lru.clear()
    ocrshare.clear()
