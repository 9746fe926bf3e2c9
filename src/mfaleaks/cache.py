"""--cache FILE: what earlier scans found, so that a rescan reads only what changed.

An SQLite file that only the parent process reads and writes (workers never
touch these tables). Two tables:

- `files`: one row per file on disk (absolute path) with the stat facts that
  tell a changed file (size, mtime_ns, ctime_ns, inode) and the content row it
  produced. Same facts on the next run: the stored result is used and the file
  is not opened.
- `contents`: the result of reading some content, keyed by the SHA-256 of the
  bytes plus the file name and kind hint (both count in scoring). A moved or
  copied file is hashed, found here and not read again.

Results are stored as JSON (stored.py) with masked codes and fingerprints only:
`secrets` is always dropped, so with --show-secrets cached findings are not
used (the files are read again) and the cache is still brought up to date.

Everything is keyed by the engine key: a hash of the rule files, the options
that change results (confidence floor, limits), the package's own code and the
tesseract version. Any change starts the cache afresh. Rows of files under a
scanned folder that a complete scan did not see are removed at the end.

The file is created 0600 and is never one we did not create: an existing
file that is not an mfaleaks cache is refused, not overwritten.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import sqlite3
import stat
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mfaleaks import __version__
from mfaleaks.errors import ConfigError
from mfaleaks.extract.base import Limits
from mfaleaks.stored import Stored, from_json, to_json

SCHEMA = 1
APP_ID = 0x6D66614C  # "mfaL" in the SQLite header: this file is an mfaleaks cache
COMMIT_EVERY = 0.5  # seconds: workers write the OCR table of the same file meanwhile
SEEN_BATCH = 2000
_SQLITE_MAGIC = b"SQLite format 3\x00"
_FOREIGN_OK = {"images"}  # ocrcache.py keeps its table in the same file

StatKey = tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, inode
ContentKey = tuple[bytes, str, str]  # sha256, file name, kind hint


def stat_key(st: os.stat_result) -> StatKey:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def engine_key(rule_files: Iterable[Path], options: object, ocr: bool) -> str:
    """What a cached result depends on besides the file: change any of it, start afresh."""
    h = hashlib.sha256(f"schema {SCHEMA} mfaleaks {__version__} {sys.version_info[:2]}".encode())
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        h.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    for path in rule_files:
        h.update(path.name.encode() + b"\0" + Path(path).read_bytes())
    h.update(repr(options).encode())
    if ocr:
        h.update(_tesseract_version().encode())
    return h.hexdigest()


def _tesseract_version() -> str:
    try:
        import pytesseract

        return str(pytesseract.get_tesseract_version())
    except Exception:
        return "none"


class ScanCache:
    """The cache file of one scan; open with ScanCache.open, end with close()."""

    def __init__(
        self, db: sqlite3.Connection, path: Path, scan_id: int, fresh: bool, reset: bool
    ) -> None:
        self.db = db
        self.path = path
        self.scan_id = scan_id
        self.fresh = fresh  # a new cache, or one just reset: nothing to reuse
        self.reset = reset  # results of another engine key were dropped
        self.problem: str | None = None  # a write failed: the cache is left as it was
        self._last_commit = time.monotonic()
        self._seen: list[bytes] = []  # unchanged files, marked seen in batches
        db.execute("BEGIN")

    @classmethod
    def open(cls, path: Path, key: str) -> ScanCache:
        _create_private(path)
        try:
            db = sqlite3.connect(path, timeout=10.0, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            fresh, reset = _prepare(db, path, key)
            row = db.execute("SELECT v FROM meta WHERE k = 'scans'").fetchone()
            scan_id = int(row[0]) + 1 if row else 1
            db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('scans', ?)", (str(scan_id),))
        except sqlite3.Error as exc:
            raise ConfigError(f"{path}: cannot use as cache: {exc}") from exc
        return cls(db, path, scan_id, fresh, reset)

    # ---- reads ------------------------------------------------------------------------------

    def by_stat(self, path: bytes, key: StatKey) -> tuple[Stored, int] | None:
        """The stored result of an unchanged file (and mark it seen)."""
        row = self.db.execute(
            "SELECT c.id, c.result FROM files f JOIN contents c ON c.id = f.content "
            "WHERE f.path = ? AND f.size = ? AND f.mtime_ns = ? AND f.ctime_ns = ? AND f.ino = ?",
            (path, *key),
        ).fetchone()
        if row is None:
            return None
        self._seen.append(path)
        if len(self._seen) >= SEEN_BATCH:
            self._mark_seen()
        return from_json(row[1]), row[0]

    def by_content(self, key: ContentKey) -> tuple[Stored, int] | None:
        row = self.db.execute(
            "SELECT id, result FROM contents WHERE digest = ? AND name = ? AND hint = ?", key
        ).fetchone()
        return (from_json(row[1]), row[0]) if row else None

    # ---- writes -----------------------------------------------------------------------------

    def store(self, content: ContentKey | None, stored: Stored) -> int | None:
        """Keep a content's result; its row id (None if the write failed)."""
        digest, name, hint = content if content else (None, "", "")
        row = self._write(
            "INSERT INTO contents (digest, name, hint, result) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (digest, name, hint) DO UPDATE SET result = excluded.result "
            "RETURNING id",
            (digest, name, hint, to_json(stored)),
        )
        return int(row[0]) if row else None

    def remember(self, path: bytes, key: StatKey, content_id: int) -> None:
        """This file (as stat sees it now) holds that content."""
        self._write(
            "INSERT OR REPLACE INTO files (path, size, mtime_ns, ctime_ns, ino, content, seen) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (path, *key, content_id, self.scan_id),
        )

    def close(self, complete: bool, roots: Iterable[bytes]) -> None:
        """Commit; after a complete scan forget files that are gone from the scanned roots."""
        self._mark_seen()
        if complete and self.problem is None:
            for root in roots:
                prefix = root.rstrip(b"/") + b"/"
                self._write(
                    "DELETE FROM files WHERE seen != ? AND "
                    "(path = ? OR substr(path, 1, ?) = ?)",
                    (self.scan_id, root, len(prefix), prefix),
                )
            self._write(
                "DELETE FROM contents WHERE id NOT IN (SELECT content FROM files)", ()
            )
        with contextlib.suppress(sqlite3.Error):
            self.db.execute("COMMIT")
        self.db.close()

    def _mark_seen(self) -> None:
        if self._seen and self.problem is None:
            try:
                self.db.executemany(
                    "UPDATE files SET seen = ? WHERE path = ?",
                    [(self.scan_id, path) for path in self._seen],
                )
            except sqlite3.Error as exc:
                self.problem = f"cache {self.path} not updated: {exc}"
        self._seen.clear()

    def commit(self) -> None:
        """Let others (workers keeping OCR verdicts here) write while we wait."""
        if self.problem is None and self.db.in_transaction:
            try:
                self.db.execute("COMMIT")
                self.db.execute("BEGIN")
            except sqlite3.Error as exc:
                self.problem = f"cache {self.path} not updated: {exc}"
            self._last_commit = time.monotonic()

    def _write(self, sql: str, args: tuple[object, ...]) -> tuple[Any, ...] | None:
        """Run one statement; its first row (RETURNING), None if none or if it failed."""
        if self.problem is not None:
            return None
        try:
            row: tuple[Any, ...] | None = self.db.execute(sql, args).fetchone()
            if time.monotonic() - self._last_commit > COMMIT_EVERY:
                self.commit()
            return row
        except sqlite3.Error as exc:
            # Another scan holding the file, a full disk: the scan goes on uncached.
            self.problem = f"cache {self.path} not updated: {exc}"
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
            return None


def _create_private(path: Path) -> None:
    """Create the file 0600 ourselves, or check that an existing one is ours."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        return
    except FileExistsError:
        pass
    except OSError as exc:
        raise ConfigError(f"{path}: cannot create cache file: {exc.strerror}") from exc
    try:
        st = os.stat(path)
        with open(path, "rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot open cache file: {exc.strerror}") from exc
    if not stat.S_ISREG(st.st_mode) or (head and head != _SQLITE_MAGIC):
        raise ConfigError(f"{path}: not an mfaleaks cache file; refusing to overwrite it")
    if st.st_mode & 0o077:
        os.chmod(path, 0o600)  # our cache, made private (older or copied file)


def _prepare(db: sqlite3.Connection, path: Path, key: str) -> tuple[bool, bool]:
    """Check the file is ours, create or reset the tables: (nothing reusable, was reset)."""
    app_id = db.execute("PRAGMA application_id").fetchone()[0]
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if app_id != APP_ID and tables - _FOREIGN_OK:
        raise ConfigError(f"{path}: an SQLite file that is not an mfaleaks cache; not touched")
    db.execute(f"PRAGMA application_id = {APP_ID}")
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version != SCHEMA:
        db.executescript("DROP TABLE IF EXISTS files; DROP TABLE IF EXISTS contents;"
                         "DROP TABLE IF EXISTS meta;")
        db.execute(f"PRAGMA user_version = {SCHEMA}")
    db.executescript(
        """
        CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS contents (
            id INTEGER PRIMARY KEY, digest BLOB, name TEXT NOT NULL, hint TEXT NOT NULL,
            result TEXT NOT NULL, UNIQUE (digest, name, hint));
        CREATE TABLE IF NOT EXISTS files (
            path BLOB PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
            ctime_ns INTEGER NOT NULL, ino INTEGER NOT NULL, content INTEGER NOT NULL,
            seen INTEGER NOT NULL);
        CREATE INDEX IF NOT EXISTS files_content ON files (content);
        """
    )
    row = db.execute("SELECT v FROM meta WHERE k = 'engine'").fetchone()
    if row is not None and row[0] == key:
        return False, False
    db.execute("DELETE FROM files")
    db.execute("DELETE FROM contents")
    db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('engine', ?)", (key,))
    return True, row is not None


# Not in the key: the cache path itself, and time limits (a result cut short by one
# is never stored, so they cannot change what the cache holds).
_NOT_IN_KEY = ("ocr_cache", "parse_timeout", "ocr_timeout")


def options_of(limits: Limits, min_confidence: str) -> str:
    """The scan options that change results, as stable text."""
    fields = {f.name: getattr(limits, f.name) for f in dataclasses.fields(limits)}
    for name in _NOT_IN_KEY:
        fields.pop(name, None)
    return repr((min_confidence, sorted(fields.items())))
