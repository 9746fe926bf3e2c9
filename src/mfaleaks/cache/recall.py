"""What this scan and earlier ones know about a file: the planner's one door to the cache.

The planner (run/plan.py) decides per file between a stored result, a copy of
known content and a read by a worker. It asks four things here, each once on
a file's path: is the file unchanged (`unchanged`, `probe` for a whole
folder), is its content known (`known`), place known results at this path
(`place`), and keep what a worker found (`keep`). The SQLite store, the
in-scan memory of contents and the cache's key of a path stay behind them.
"""

from __future__ import annotations

import functools
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mfaleaks.cache.record import Stored, place, stored_of
from mfaleaks.cache.store import ContentKey, FilePath, ScanCache, StatKey, stat_key
from mfaleaks.models import FileResult, Source
from mfaleaks.sources.listing import FS_ENCODING, FS_ERRORS, Stat, display, key_of

if TYPE_CHECKING:
    from mfaleaks.sources.discover import FolderCheck

SEEN_SIZE = 20_000  # contents remembered in memory for this scan (the cache has them all)

Known = tuple[Stored, int | None]
"""A content's results without location, and its row in the cache if it has one."""


@dataclass
class Counts:
    unchanged: int = 0  # cache: same file, not opened
    known: int = 0  # content seen before (cache or this scan): hashed, not scanned again
    read: int = 0  # scanned by the workers


class Recall:
    """The scan cache (if any) and this scan's memory of contents, for one scan."""

    def __init__(self, cache: ScanCache | None, reuse_cache: bool) -> None:
        self.cache = cache
        # A fresh cache holds nothing; --show-secrets needs the codes the cache never keeps.
        self.reuse_cache = reuse_cache and cache is not None and not cache.fresh
        self.seen: OrderedDict[ContentKey, Known] = OrderedDict()
        self.counts = Counts()

    @property
    def keeps(self) -> bool:
        """Whether results are worth keeping (there is a cache to write to)."""
        return self.cache is not None

    def stat(self, source: Source) -> StatKey | None:
        """The file's stat key for the cache, or None without a cache."""
        if self.cache is None or source.fs_path is None:
            return None
        if source.stat_key is not None:  # the walk's own stat
            return source.stat_key
        try:
            return stat_key(os.stat(source.fs_path))
        except OSError:
            return None

    def unchanged(self, source: Source) -> FileResult | None:
        """The stored result of a file the cache knows unchanged (asked first, for every
        file: the cache follows the walk). A plain call: a rescan makes thousands."""
        if self.cache is None or self.cache.fresh or source.fs_path is None:
            return None  # a fresh cache holds nothing and has nothing to forget
        st = self.stat(source)
        if st is None:
            return None
        hit = self.cache.by_stat(_abs(source), st)
        if hit is None or not self.reuse_cache:
            return None
        self.counts.unchanged += 1
        return place(hit[0], source)

    def probe(self, folder: str, digest: bytes | None = None) -> FolderCheck | None:
        """For the walk (discover.Probe): the unchanged files of one folder with nothing to
        place but their path are answered together, without a Source: the bulk of a rescan.
        A folder whose listing has the digest of its clean rows is answered whole."""
        cache = self.cache
        if cache is None or not self.reuse_cache:
            return None
        where = _abs_dir(folder)
        whole = digest is not None and cache.same_folder(where, digest)
        if not whole:
            cache.folder(where)
        return _Unchanged(cache, self.counts, display(folder), whole)

    def known(self, content: ContentKey) -> Known | None:
        """Results for these bytes under this name: read earlier in this scan, or cached."""
        known = self.seen.get(content)
        if known is not None:
            self.seen.move_to_end(content)
            return known
        if self.reuse_cache:
            assert self.cache is not None
            return self.cache.by_content(content)
        return None

    def place(
        self, known: Known, source: Source, st: StatKey | None, content: ContentKey | None
    ) -> FileResult:
        """Known results at this file's place; the cache notes the file has them."""
        self.counts.known += 1
        stored, result_id = known
        if self.cache is not None and st is not None and result_id is not None:
            self.cache.remember(_abs(source), st, content, result_id)
        return place(stored, source)

    def keep(
        self, source: Source, result: FileResult, content: ContentKey | None, st: StatKey | None
    ) -> Known | None:
        """What a worker found in this file, kept for its copies and the next run; None when
        it cannot be placed elsewhere (a member outside the file), so copies are read too."""
        self.count_read(result)
        stored = stored_of(result, source)
        if stored is None:
            return None
        content_id = None
        hashed = content
        if hashed is None and result.digest is not None and source.fs_path is not None:
            hashed = (result.digest, source.name, source.kind_hint or "")
        keyed = hashed is not None or st is not None  # stdin is neither
        if self.cache is not None and stored.lasting and keyed:
            content_id = self.cache.store(stored)
            if content_id is not None and st is not None:
                self.cache.remember(_abs(source), st, hashed, content_id)
        if content is not None and stored.lasting:
            self.seen[content] = (stored, content_id)
            while len(self.seen) > SEEN_SIZE:
                self.seen.popitem(last=False)
        return stored, content_id

    def count_read(self, result: FileResult) -> None:
        """Count a worker's result: read, or answered from its memory of contents."""
        if result.reused:
            self.counts.known += 1
        else:
            self.counts.read += 1

    def close(self, complete: bool, roots: list[bytes], show_secrets: bool) -> list[str]:
        """Write what is left and say what the cache did (notices for the report)."""
        if self.cache is None:
            return []
        self.cache.close(complete, roots)
        return _notices(self.cache, self.counts, show_secrets)


class _Unchanged:
    """discover.FolderCheck over the cache's rows of the folder the walk is in."""

    def __init__(self, cache: ScanCache, counts: Counts, shown: str, whole: bool) -> None:
        self._cache, self._counts, self._shown = cache, counts, shown
        self._whole = whole  # the folder's digest matched: every file is unchanged and clean
        self._files = self._bytes = 0

    def files(self, files: list[tuple[str, Stat]]) -> list[tuple[str, Stat]]:
        if self._whole:
            self._files += len(files)
            self._bytes += sum(st[1] for _, st in files)
            return []
        cache = self._cache
        rows = cache.rows([name.encode(FS_ENCODING, FS_ERRORS) for name, _ in files])
        rest = []
        for (name, st), row in zip(files, rows, strict=True):
            if row is not None and row[0] == key_of(st) and cache.clean(row[1]):
                self._files += 1
                self._bytes += st[1]
            else:
                rest.append((name, st))  # read it, or place its findings with its facts
        return rest

    def whole(self, count: int, size: int) -> bool:
        if self._whole:
            self._files += count
            self._bytes += size
        return self._whole

    def done(self) -> FileResult | None:
        if not self._files:
            return None
        self._counts.unchanged += self._files
        return FileResult(path=self._shown, bytes=self._bytes, files=self._files)


@functools.lru_cache(maxsize=256)
def _abs_dir(folder: str) -> bytes:
    """The absolute form of a folder, ending in one separator (an smb:// folder as it is:
    it names one place whatever the working directory)."""
    if "://" in folder:
        return os.fsencode(folder).rstrip(b"/") + b"/"
    if (folder[:1] == "/" and "//" not in folder and "/./" not in folder
            and "/../" not in folder and not folder.endswith(("/.", "/.."))):
        # Already absolute and normal, as the walk's own joins are: abspath would give it
        # back (less a trailing separator). Most folders of a walk come only once.
        return folder.rstrip("/").encode(FS_ENCODING, FS_ERRORS) + b"/"
    return os.fsencode(os.path.abspath(folder)).rstrip(b"/") + b"/"


def _abs(source: Source) -> FilePath:
    """The cache's key of a file: its absolute folder and its name (one abspath a folder)."""
    assert source.fs_path is not None
    folder, sep, name = source.fs_path.rpartition("/")
    return _abs_dir(folder or ("/" if sep else ".")), name.encode(FS_ENCODING, FS_ERRORS)


def _notices(cache: ScanCache, counts: Counts, show_secrets: bool) -> list[str]:
    out = [
        f"cache: {counts.unchanged} unchanged file(s) not read, {counts.known} recognised "
        f"by content, {counts.read} read"
    ]
    if cache.reset:
        out.append("cache: the rules, the options or mfaleaks changed since the last run: "
                   "started afresh")
    if show_secrets:
        out.append("cache: --show-secrets needs the codes, which the cache never keeps: "
                   "every file was read again")
    if cache.problem:
        out.append(cache.problem)
    return out
