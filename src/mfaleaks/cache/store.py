"""--cache FILE: what earlier scans found, so that a rescan reads only what changed.

An SQLite file that only the parent process reads and writes (workers never
touch these tables). Three tables:

- `files`: one row per file on disk (its folder and name) with the stat facts
  that tell a changed file (size, mtime_ns, ctime_ns, inode), the key of its
  content (the SHA-256 of the bytes plus the file name and kind hint, both of
  which count in scoring) and the result it produced. Same facts on the next
  run: the stored result is used and the file is not opened. A folder's rows
  are read in one query when the walk enters it, unless its digest matched
  (below). A moved or copied file is hashed, found by its content key and not
  read again.
- `folders`: one row per folder that has rows in `files` (the end sweep reads
  these, not the file rows), with the folder_digest (listing.py) of its rows
  when they are all clean (no finding, no error) and few enough to be listed
  in one part (made from the rows a first scan writes, and on a rescan for
  the folders whose rows changed or that it found unchanged without a
  digest). A rescan's listing child makes the same digest of what it
  lists: equal, the folder is answered whole and its rows are not read (a
  rescan of an unchanged share reads ~900 folder rows instead of 12,000 file
  rows). An old digest is stale, not wrong: it describes rows that were
  clean for files with those very stat facts, so it can only match a folder
  whose files are still exactly those.
- `results`: each distinct result once (most files share the empty one), under
  an id taken from the hash of its text, so that a new result needs no round
  trip to the file.

Writes are gathered in memory and written together (WRITE_BATCH rows or
COMMIT_EVERY seconds), each time in a short transaction of its own: the write
lock is never held while the parent waits for a worker, and workers keep their
verdicts on empty images (ocrcache.py) in the same file. (A transaction held
open between writes had to be committed each time the parent waited: ~135
commits for 12,000 files.)

Results are stored as JSON (cache/record.py) with masked codes and fingerprints only:
`secrets` is always dropped, so with --show-secrets cached findings are not
used (the files are read again) and the cache is still brought up to date.

Everything is keyed by the engine key: a hash of the rule files, the options
that change results (confidence floor, limits), the package's own code, the
versions of the libraries that compile the rules and read files (regex, Pillow,
pdfium ...) and the tesseract program and language data. Any change starts the cache afresh; a
run that finds its key there knows its rule files loaded before, and does not
compile them again in the parent (the rule ids it needs are kept with the
key). Rows of files that are gone are removed
without rewriting the others (a rescan of an unchanged share writes nothing
per file): when the walk leaves a folder, the names it did not list; at the
end of a complete scan, the folders under a scanned root that it did not enter.

The file is created 0600 and is never one we did not create: an existing
file that is not an mfaleaks cache is refused, not overwritten.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import hashlib
import json
import operator
import os
import sqlite3
import stat
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mfaleaks import __version__
from mfaleaks.cache.record import Stored, from_json, to_json
from mfaleaks.errors import ConfigError
from mfaleaks.limits import Limits
from mfaleaks.sources.listing import PART, folder_digest

SCHEMA = 4  # 3: result ids from the hash of the result; 4: folders
APP_ID = 0x6D66614C  # "mfaL" in the SQLite header: this file is an mfaleaks cache
COMMIT_EVERY = 1.0  # seconds: what waits longer is written even if WRITE_BATCH is not reached
WRITE_BATCH = 2000  # file rows written together
FOLDER_ROWS = 50_000  # a bigger folder is looked up file by file (bounded memory)
FOLDERS_KEPT = 200_000  # a cache of up to this many folders has its digests read (~35 MB)
DIGEST_ROWS = 100_000  # a first scan keeps up to this many files' facts for the digests (~33 MB)
DIRTY_KEPT = 10_000  # folders whose digest is made again at the end (the rest go stale)
ENTERED_KEPT = 200_000  # folders remembered for the end sweep (~25 MB)
RESULTS_KEPT = 4096  # results remembered by text and by id
_SQLITE_MAGIC = b"SQLite format 3\x00"
_FOREIGN_OK = {"images"}  # ocrcache.py keeps its table in the same file

StatKey = tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, inode
_Row = tuple[StatKey, int]  # a cached file: its stat facts and its result's id
ContentKey = tuple[bytes, str, str]  # sha256, file name, kind hint
FilePath = tuple[bytes, bytes]  # absolute folder with its trailing separator, file name
# A row of `files`: dir, name, size, mtime_ns, ctime_ns, ino, digest, label, hint, result.
_FileRow = tuple[bytes, bytes, int, int, int, int, bytes | None, str, str, int]


def stat_key(st: os.stat_result) -> StatKey:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def holds_engine(path: Path, key: str) -> frozenset[str] | None:
    """The rule ids of the engine, if the cache file at path was last written by a run
    with this engine key (which compiled those rules). Read-only: a run whose rule pack
    fails to load never writes its key there."""
    if not path.is_file():
        return None
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = dict(db.execute("SELECT k, v FROM meta WHERE k IN ('engine', 'rule_ids')"))
        finally:
            db.close()
    except sqlite3.Error:
        return None
    if rows.get("engine") != key or "rule_ids" not in rows:
        return None
    try:
        ids = json.loads(rows["rule_ids"])
    except ValueError:
        return None
    return frozenset(str(i) for i in ids) if isinstance(ids, list) else None


def engine_key(rule_files: Iterable[Path], options: object, ocr: bool) -> str:
    """What a cached result depends on besides the file: change any of it, start afresh."""
    h = hashlib.sha256(f"schema {SCHEMA} mfaleaks {__version__} {sys.version_info[:2]}".encode())
    package = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))  # all of mfaleaks
    # os.walk and str paths: pathlib's rglob and sorting of Paths took 5 ms of a rescan.
    found = []
    for folder, _, names in os.walk(package):
        rel = os.path.relpath(folder, package).replace(os.sep, "/")
        found += [(name if rel == "." else f"{rel}/{name}", os.path.join(folder, name))
                  for name in names if name.endswith(".py")]
    for rel, where in sorted(found):
        with open(where, "rb") as fh:
            h.update(rel.encode() + b"\0" + fh.read())
    for path in rule_files:
        h.update(path.name.encode() + b"\0" + Path(path).read_bytes())
    h.update(repr(options).encode())
    h.update(_libraries_identity().encode())
    if ocr:
        h.update(_tesseract_identity().encode())
    return h.hexdigest()


# The libraries that compile the rules and read the files: an upgrade can change what a
# file yields, or break a pattern (a cache that vouched for the rules would then hide it).
_LIBRARIES = frozenset({
    "regex", "ahocorasick_rs", "pillow", "python_magic", "zxing_cpp", "pypdfium2",
    "striprtf", "extract_msg", "pillow_heif", "py7zr", "libpff_python",
    "tesserocr",  # its wheel bundles the libtesseract that reads pictures in process
})


def _libraries_identity() -> str:
    """Their installed versions, from the names of their .dist-info folders in the
    site-packages folders on sys.path (0.4 ms), where importing them or importlib.metadata
    would cost a rescan tens of milliseconds. Other sys.path entries are not listed: the
    current folder (python -m) may be a share of a million files."""
    found = []
    for folder in sys.path:
        if not folder.rstrip("/").endswith(("site-packages", "dist-packages")):
            continue
        try:
            names = os.listdir(folder)
        except OSError:  # a folder that is gone
            continue
        for name in names:
            if name.endswith(".dist-info"):
                project = name[: -len(".dist-info")].rsplit("-", 1)[0]
                if project.lower().replace("-", "_").replace(".", "_") in _LIBRARIES:
                    found.append(name)
    return "\n".join(sorted(found))


def _on_path(name: str) -> str | None:
    """shutil.which, without importing shutil (~2 ms) on every scan with --cache."""
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        path = os.path.join(folder, name)
        if folder and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def _tesseract_identity() -> str:
    """The tesseract program and its language data as installed (an upgrade changes OCR
    output). From file facts: asking `tesseract --version` costs a process start."""
    program = _on_path("tesseract")
    # Which engine reads (images/engine.py: tesserocr's version is among the libraries
    # above, unless the program is forced); kept in step with that module by hand,
    # since cache/ may not import images/.
    forced = os.environ.get("MFALEAKS_OCR_ENGINE", "")
    if program is None:
        return f"none {forced}"
    prefix = os.environ.get("TESSDATA_PREFIX", "")
    facts = [program, prefix, forced]
    data = glob.glob(os.path.join(prefix, "*.traineddata")) if prefix else []
    data += glob.glob("/usr/share/tesseract-ocr/*/tessdata/*.traineddata")  # Debian's place
    for path in [os.path.realpath(program), *sorted(data)]:
        with contextlib.suppress(OSError):
            st = os.stat(path)
            facts.append(f"{path} {st.st_size} {st.st_mtime_ns}")
    return "\n".join(facts)


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
        self._last_flush = time.monotonic()
        self._rows: list[_FileRow] = []  # file rows not written yet
        self._new_results: list[tuple[int, str]] = []  # results not written yet
        self._new_digests: set[bytes] = set()  # contents of the rows not written yet
        self._changes = db.total_changes  # rows changed since: results may be orphaned
        self._listed: tuple[bytes, ...] = ()  # folders walked in full (scanned folders)
        self._folder: bytes | None = None  # the folder whose rows are in _known
        self._known: dict[bytes, _Row] | None = None
        self._visited: set[bytes] | None = None  # names of _folder the walk gave
        # A folder too big to hold (FOLDER_ROWS): its names go to a temporary table.
        self._walked: list[tuple[bytes]] | None = None
        self._entered: set[bytes] = set()  # folders the walk gave files of
        self._swept = True  # _entered holds every folder entered: the end sweep may run
        self._digests: dict[bytes, bytes | None] | None = None  # folders table, at the start
        self._to_load = False
        # Digests to write at the end: a first scan keeps the facts of the rows it writes
        # (bounded); a rescan notes the folders whose rows it changed and reads them again.
        self._facts: dict[bytes, dict[bytes, StatKey]] = {}
        self._facts_kept = 0
        self._unclean: set[bytes] = set()  # folders of _facts with a result that is not clean
        self._dirty: set[bytes] = set()
        self._refound: list[tuple[bytes, bytes | None]] = []  # digests of unchanged folders
        self._roots_here: frozenset[bytes] = frozenset()  # names in _folder that are roots
        self._roots: set[tuple[bytes, bytes]] = set()  # the scanned files and folders
        self._root_folders: set[bytes] = set()  # the folders they are in
        self._found: set[tuple[bytes, bytes]] = set()  # the scanned files the walk gave
        self._ids: dict[str, int] = {}  # result text -> id
        self._empty_ids: dict[str, int] = {}  # kind -> id of its empty result
        self._results: dict[int, Stored] = {}  # id -> result

    @classmethod
    def open(cls, path: Path, key: str, rule_ids: Iterable[str] | None = None) -> ScanCache:
        """rule_ids: those of the rule pack this run compiled, kept with its key so that
        the next run with the same key need not compile it (holds_engine)."""
        _create_private(path)
        try:
            db = sqlite3.connect(path, timeout=10.0, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            fresh, reset = _prepare(db, path, key)
            if fresh:
                # Nothing to look up by content this run: the index is built once at the
                # end, from sorted keys, instead of row by row (41 instead of 59 ms for
                # 12,000 rows of random SHA-256 keys).
                db.execute("DROP INDEX IF EXISTS files_digest")
            if rule_ids is not None:
                db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('rule_ids', ?)",
                           (json.dumps(sorted(rule_ids)),))
            row = db.execute("SELECT v FROM meta WHERE k = 'scans'").fetchone()
            scan_id = int(row[0]) + 1 if row else 1
            db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('scans', ?)", (str(scan_id),))
        except sqlite3.Error as exc:
            raise ConfigError(f"{path}: cannot use as cache: {exc}") from exc
        return cls(db, path, scan_id, fresh, reset)

    # ---- reads ------------------------------------------------------------------------------

    def listing(self, roots: Iterable[bytes], folders: Iterable[bytes] = ()) -> None:
        """The scanned files and folders (absolute paths) that exist now; folders: those of
        them that are folders elsewhere (smb://...), which os.path cannot tell."""
        roots = [r.rstrip(b"/") or b"/" for r in roots]
        remote = {f.rstrip(b"/") for f in folders}
        self._listed = tuple(r.rstrip(b"/") + b"/" for r in roots
                             if r in remote or os.path.isdir(r))
        self._roots = {_split(r) for r in roots}
        self._root_folders = {f for f, _ in self._roots}
        # Digests are read when the walk enters its first folder: by then a rescan's
        # listing child (listing.py) is making its system calls meanwhile.
        self._to_load = not self.fresh

    def listed_also(self, folder: bytes) -> None:
        """A folder the walk lists in full like the roots (a DFS link's target, found on
        the way): names its listings no longer have are forgotten as it leaves them."""
        self._listed += (folder.rstrip(b"/") + b"/",)

    def _load_digests(self) -> None:
        """The folders table, if it has up to FOLDERS_KEPT rows (else no folder is skipped
        whole, and the end sweep asks the files table)."""
        try:
            rows = self.db.execute("SELECT dir, digest FROM folders LIMIT ?",
                                   (FOLDERS_KEPT + 1,)).fetchall()
        except sqlite3.Error:
            return
        if len(rows) <= FOLDERS_KEPT:
            self._digests = dict(rows)

    def same_folder(self, folder: bytes, digest: bytes) -> bool:
        """Does the listing of this folder (absolute, with its trailing separator) have the
        digest its clean rows had? Then the walk is in it, and every file is unchanged."""
        if self._to_load:
            self._to_load = False
            self._load_digests()
        # A folder without a row here has none in `files` either (_flush writes both):
        # its rows are none, and so is their digest. (A rescan meets many folders that
        # hold only folders: each would cost a query for no rows.)
        if self._digests is None or self._digests.get(folder, _NO_ROWS) != digest:
            return False
        if folder in self._root_folders:
            return False  # a file named on the command line is in it: looked up by name
        self._leave()
        self._folder, self._known, self._visited, self._walked = folder, None, None, None
        self._roots_here = frozenset()
        self._note_entered(folder)
        return True

    def by_stat(self, path: FilePath, key: StatKey) -> tuple[Stored, int] | None:
        """The stored result of an unchanged file. Asked for every file, in walk order."""
        if self.fresh:
            return None  # nothing stored, nothing to forget
        self.folder(path[0])
        return self.by_name(path[1], key)

    def folder(self, folder: bytes) -> None:
        """The walk is in this folder (absolute, with its trailing separator) now."""
        if folder != self._folder:
            self._leave()
            self._enter(folder)

    def by_name(self, name: bytes, key: StatKey) -> tuple[Stored, int] | None:
        """by_stat for a file of the folder the walk is in."""
        row = self._row(name)
        if row is None or row[0] != key:
            return None
        stored = self._result(row[1])
        return (stored, row[1]) if stored is not None else None

    def rows(self, names: list[bytes]) -> list[_Row | None]:
        """The cached rows of some files of the folder the walk is in (noting that they
        are there): a rescan asks this for every file, a folder at a time."""
        known, visited = self._known, self._visited
        if known is None or self._roots_here:
            return [self._row(name) for name in names]
        if visited is not None:
            visited.update(names)
        get = known.get
        return [get(name) for name in names]

    def clean(self, result_id: int) -> bool:
        """Is this stored result free of findings and errors?"""
        stored = self._result(result_id)
        return stored is not None and not stored.findings and not stored.errors

    def _row(self, name: bytes) -> _Row | None:
        """The cached row of a file of the folder the walk is in; notes that it is there."""
        if self._visited is not None:
            self._visited.add(name)
        elif self._walked is not None:
            self._walked.append((name,))
            if len(self._walked) >= WRITE_BATCH:
                self._keep_walked()
        if name in self._roots_here:
            assert self._folder is not None
            self._found.add((self._folder, name))
        if self._known is not None:
            return self._known.get(name)
        found = self.db.execute(
            "SELECT size, mtime_ns, ctime_ns, ino, result FROM files "
            "WHERE dir = ? AND name = ?", (self._folder, name)).fetchone()
        return ((found[0], found[1], found[2], found[3]), found[4]) if found else None

    def by_content(self, key: ContentKey) -> tuple[Stored, int] | None:
        if key[0] in self._new_digests:
            self._flush()  # its row is still in memory
        row = self.db.execute(
            "SELECT result FROM files WHERE digest = ? AND label = ? AND hint = ? LIMIT 1", key
        ).fetchone()
        stored = self._result(row[0]) if row else None
        return (stored, row[0]) if row and stored is not None else None

    def _note_entered(self, folder: bytes) -> None:
        if len(self._entered) < ENTERED_KEPT:
            self._entered.add(folder)
        else:
            self._swept = False  # memory stays bounded; gone folders wait for a smaller scan

    def _enter(self, folder: bytes) -> None:
        """Fetch a folder's rows at once: the walk gives its files one after another."""
        again = folder in self._entered
        self._note_entered(folder)
        self._folder = folder
        self._walked = None
        self._roots_here = frozenset(n for f, n in self._roots if f == folder)
        # Names not listed are gone only if the walk listed this whole folder, once.
        whole = not again and folder.startswith(self._listed) and bool(self._listed)
        if self._to_load:
            self._to_load = False
            self._load_digests()
        rows = self.db.execute(
            "SELECT name, size, mtime_ns, ctime_ns, ino, result FROM files WHERE dir = ? "
            "LIMIT ?", (folder, FOLDER_ROWS + 1)).fetchall()
        if len(rows) > FOLDER_ROWS:
            # Looked up file by file. The names the walk gives go to a temporary table
            # (memory stays flat), and the gone ones are forgotten on leaving.
            self._known = self._visited = None
            if whole:
                self._start_walked()
            return
        self._known = {r[0]: ((r[1], r[2], r[3], r[4]), r[5]) for r in rows}
        self._visited = set() if whole and self._known else None

    def _start_walked(self) -> None:
        try:
            self.db.execute("CREATE TEMP TABLE IF NOT EXISTS walked (name BLOB PRIMARY KEY)")
            self.db.execute("DELETE FROM temp.walked")
        except sqlite3.Error:
            return  # gone files here then wait for the folder to go
        self._walked = []

    def _keep_walked(self) -> bool:
        """Write the names gathered so far; False if that failed (then nothing is forgotten)."""
        names, self._walked = self._walked or [], []
        try:
            self.db.executemany("INSERT OR IGNORE INTO temp.walked (name) VALUES (?)", names)
        except sqlite3.Error:
            self._walked = None
            return False
        return True

    def _leave(self) -> None:
        """Forget the files of the folder just walked that it no longer holds."""
        if self._walked is not None:
            kept = self._keep_walked()
            self._walked = None
            if kept and self._folder is not None:
                self._write("DELETE FROM files WHERE dir = ? AND name NOT IN "
                            "(SELECT name FROM temp.walked)", (self._folder,))
                self._changed(self._folder)
            return
        if self._known is None or self._visited is None or self._folder is None:
            return
        known, visited, self._known, self._visited = self._known, self._visited, None, None
        gone = [(self._folder, name) for name in known if name not in visited]
        if gone and self.problem is None:
            try:
                self.db.executemany("DELETE FROM files WHERE dir = ? AND name = ?", gone)
            except sqlite3.Error as exc:
                self._failed(exc)
            self._changed(gone[0][0])
        elif len(visited) == len(known):
            self._digest_known(self._folder, known)

    def _digest_known(self, folder: bytes, known: dict[bytes, _Row]) -> None:
        """A folder looked at file by file whose rows all stay (no name gone or new): the
        digest of those rows, if they are clean and it is not the one stored. A folder
        the first scan left without one (DIGEST_ROWS) gets it here. (A file of it that
        changed is read again, and its folder's digest made again at the end.)"""
        if self._digests is None or len(self._refound) >= DIRTY_KEPT:
            return
        digest = self._clean_digest([(name, key, result) for name, (key, result) in known.items()])
        if digest is not None and digest != self._digests.get(folder):
            self._refound.append((folder, digest))

    def _result(self, result_id: int) -> Stored | None:
        stored = self._results.get(result_id)
        if stored is None:
            row = self.db.execute("SELECT json FROM results WHERE id = ?", (result_id,)).fetchone()
            if row is None:
                return None
            stored = from_json(row[0])
            _keep(self._results, result_id, stored)
        return stored

    # ---- writes -----------------------------------------------------------------------------

    def store(self, stored: Stored) -> int:
        """Keep a result (each distinct one once): its id. Written with the next rows."""
        # Most files have the empty result of their kind: its id is kept by kind, so no
        # JSON is built for those.
        empty = not stored.findings and not stored.errors
        if empty and stored.kind in self._empty_ids:
            return self._empty_ids[stored.kind]
        text = to_json(stored)
        result_id = self._ids.get(text)
        if result_id is None:
            result_id = result_id_of(text)
            self._new_results.append((result_id, text))
            _keep(self._ids, text, result_id)
        if empty:
            self._empty_ids[stored.kind] = result_id
        return result_id

    def remember(
        self, path: FilePath, key: StatKey, content: ContentKey | None, result_id: int
    ) -> None:
        """This file (as stat sees it now) holds that content, which gave that result."""
        if self.problem is not None:
            return
        digest, label, hint = content if content else (None, "", "")
        self._rows.append((*path, *key, digest, label, hint, result_id))
        if self.fresh:
            self._keep_facts(path, key, result_id)
        else:
            self._changed(path[0])
        if digest is not None:
            self._new_digests.add(digest)
        if len(self._rows) >= WRITE_BATCH or time.monotonic() - self._last_flush > COMMIT_EVERY:
            self._flush()

    def _keep_facts(self, path: FilePath, key: StatKey, result_id: int) -> None:
        """A first scan's row, for its folder's digest at the end (no need to read back)."""
        folder = path[0]
        if self._facts_kept >= DIGEST_ROWS and folder not in self._facts:
            return  # memory stays bounded: the next rescan makes its digest (_digest_known)
        # An empty result may not be written yet (clean() reads the file): its id is known.
        if self._facts_kept >= DIGEST_ROWS or not (
                result_id in self._empty_ids.values() or self.clean(result_id)):
            self._unclean.add(folder)  # (no digest: also for a folder not kept in full)
            return
        self._facts.setdefault(folder, {})[path[1]] = key
        self._facts_kept += 1

    def _changed(self, folder: bytes) -> None:
        """A rescan wrote or removed rows of this folder: its digest is made again at the end."""
        if len(self._dirty) < DIRTY_KEPT:
            self._dirty.add(folder)  # past that the old digest stays: stale, not wrong

    def close(self, complete: bool, roots: Iterable[bytes]) -> None:
        """Write what waits; after a complete scan forget files gone from the scanned roots."""
        self._flush()
        if complete and self.problem is None and not self.fresh:  # fresh: nothing old
            self._write("BEGIN IMMEDIATE", ())  # one transaction for the sweep
            self._leave()
            for root in roots:
                self._sweep(root.rstrip(b"/") or b"/")
            if self.db.total_changes != self._changes:  # an unchanged rescan changed nothing
                self._write("DELETE FROM results WHERE id NOT IN (SELECT result FROM files)", ())
            self._write("COMMIT", ())
        self._save_digests()
        if self.fresh:
            self._write(_DIGEST_INDEX, ())  # (a run killed before this: the next one makes it)
        self.db.close()

    def _save_digests(self) -> None:
        """The digests this run made: of the folders whose rows it wrote or removed, and of
        those it found unchanged without their digest (_digest_known)."""
        if self.problem is not None:
            return
        digests = self._refound  # (the dirty ones below come later: they win)
        for folder, facts in self._facts.items():
            if folder not in self._unclean and len(facts) <= PART:
                digests.append((folder, folder_digest(facts.items())))
        emptied: list[tuple[bytes]] = []
        for folder in self._dirty:
            has_rows, digest = self._digest_of_rows(folder)
            if has_rows:
                digests.append((folder, digest))
            else:
                emptied.append((folder,))
        if not digests and not emptied:
            return  # an unchanged rescan writes nothing
        try:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("INSERT OR REPLACE INTO folders (dir, digest) VALUES (?, ?)",
                                digests)
            self.db.executemany("DELETE FROM folders WHERE dir = ?", emptied)
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._failed(exc)

    def _digest_of_rows(self, folder: bytes) -> tuple[bool, bytes | None]:
        """(the folder has rows, their digest): None if one is not clean or they are too
        many for one listing part."""
        try:
            rows = self.db.execute(
                "SELECT name, size, mtime_ns, ctime_ns, ino, result FROM files WHERE dir = ? "
                "LIMIT ?", (folder, PART + 1)).fetchall()
        except sqlite3.Error:
            return True, None
        return bool(rows), self._clean_digest([(r[0], (r[1], r[2], r[3], r[4]), r[5])
                                               for r in rows])

    def _clean_digest(self, rows: list[tuple[bytes, StatKey, int]]) -> bytes | None:
        """folder_digest of a folder's rows (name, stat key, result id), if every result is
        clean and they are few enough to be listed in one part; else None."""
        if len(rows) > PART or not all(self.clean(result) for _, _, result in rows):
            return None
        return folder_digest((name, key) for name, key, _ in rows)

    def _sweep(self, root: bytes) -> None:
        """Rows below a scanned root that the walk did not give: the file or folder is gone."""
        folder, name = _split(root)
        if (folder, name) not in self._found:
            self._write("DELETE FROM files WHERE dir = ? AND name = ?", (folder, name))
            self._changed(folder)
        if not self._swept:
            return
        prefix = root.rstrip(b"/") + b"/"
        if self._digests is not None:
            # Every folder with rows has a row in folders, read at the start: those the
            # walk never entered are gone (the files table is not read: ~10 ms a rescan).
            gone = [f for f in self._digests if f.startswith(prefix) and f not in self._entered]
        else:
            try:
                rows = self.db.execute(
                    "SELECT DISTINCT dir FROM files WHERE substr(dir, 1, ?) = ?",
                    (len(prefix), prefix))
                gone = [r[0] for r in rows if r[0] not in self._entered]
            except sqlite3.Error as exc:
                self._failed(exc)
                return
        for folder in gone:
            self._write("DELETE FROM files WHERE dir = ?", (folder,))
            self._write("DELETE FROM folders WHERE dir = ?", (folder,))

    def _flush(self) -> None:
        """The results and rows gathered so far, in one short transaction."""
        rows, self._rows = self._rows, []
        # In key order (folder, name): the workers' results come back interleaved, and rows
        # put in B-tree order cost SQLite half as much (12,000 rows: ~115 -> ~65 ms).
        rows.sort(key=_KEY)
        results, self._new_results = self._new_results, []
        self._new_digests.clear()
        self._last_flush = time.monotonic()
        if not (rows or results) or self.problem is not None:
            return
        try:
            self.db.execute("BEGIN IMMEDIATE")
            # An id is a function of the text: a result already there is the same one.
            self.db.executemany("INSERT OR IGNORE INTO results (id, json) VALUES (?, ?)",
                                results)
            self.db.executemany(
                "INSERT OR REPLACE INTO files (dir, name, size, mtime_ns, ctime_ns, ino, "
                "digest, label, hint, result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            # In the same transaction: every folder with rows has a row in folders.
            self.db.executemany("INSERT OR IGNORE INTO folders (dir) VALUES (?)",
                                [(d,) for d in sorted({r[0] for r in rows})])
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._failed(exc)

    def _write(self, sql: str, args: tuple[object, ...]) -> tuple[Any, ...] | None:
        """Run one statement; its first row (RETURNING), None if none or if it failed."""
        if self.problem is not None:
            return None
        try:
            row: tuple[Any, ...] | None = self.db.execute(sql, args).fetchone()
            return row
        except sqlite3.Error as exc:
            self._failed(exc)
            return None

    def _failed(self, exc: sqlite3.Error) -> None:
        # Another scan holding the file, a full disk: the scan goes on uncached.
        self.problem = f"cache {self.path} not updated: {exc}"
        self._rows.clear()
        with contextlib.suppress(sqlite3.Error):
            self.db.execute("ROLLBACK")


_KEY = operator.itemgetter(0, 1)  # a file row's (dir, name)


def result_id_of(text: str) -> int:
    """The id of a result: 64 bits of the SHA-256 of its text, as SQLite's signed integer.
    Two distinct results share one with a chance of 1 in 2**64 per pair (the later one's
    files would then be given the earlier one's result)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


def _keep(memory: dict[Any, Any], key: object, value: object) -> None:
    """A bounded memory: emptied when full (results repeat in runs, not at random)."""
    if len(memory) >= RESULTS_KEPT:
        memory.clear()
    memory[key] = value


def _split(path: bytes) -> tuple[bytes, bytes]:
    """(the folder with its trailing separator, the name)."""
    cut = path.rfind(b"/") + 1
    return path[:cut], path[cut:]


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


_NO_ROWS = folder_digest(())  # the digest of a folder with no files

_DIGEST_INDEX = (
    "CREATE INDEX IF NOT EXISTS files_digest ON files (digest) WHERE digest IS NOT NULL")


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
                         "DROP TABLE IF EXISTS results; DROP TABLE IF EXISTS meta;"
                         "DROP TABLE IF EXISTS folders;")
        db.execute(f"PRAGMA user_version = {SCHEMA}")
    db.executescript(
        """
        CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS results (id INTEGER PRIMARY KEY, json TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS files (
            dir BLOB NOT NULL, name BLOB NOT NULL, size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL, ino INTEGER NOT NULL,
            digest BLOB, label TEXT NOT NULL, hint TEXT NOT NULL, result INTEGER NOT NULL,
            PRIMARY KEY (dir, name)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS folders (dir BLOB PRIMARY KEY, digest BLOB) WITHOUT ROWID;
        """
    )
    db.execute(_DIGEST_INDEX)
    row = db.execute("SELECT v FROM meta WHERE k = 'engine'").fetchone()
    if row is not None and row[0] == key:
        return False, False
    db.execute("DELETE FROM files")
    db.execute("DELETE FROM folders")
    db.execute("DELETE FROM results")
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
