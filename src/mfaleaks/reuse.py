"""Files on disk -> results, reading each content once: cache hits, moved files, copies.

For each discovered file, in the parent process:

1. with --cache, an unchanged file (same size, mtime, ctime, inode at the same
   path) gets its stored result without being opened;
2. a small file (contents.SMALL_FILE) goes to a worker, which reads it whole,
   hashes it and scans each content once (copies have the same size, and the
   same size goes to the same worker); on a rescan one that changed is hashed
   here first, so that a moved or copied file is found in the cache;
3. a bigger file is hashed here (SHA-256, ~2 GB/s) and known content (the same
   bytes under the same name earlier in this scan, or in the cache) is placed
   at this path without being read again; a copy of content that a worker is
   reading right now waits for it;
4. anything else goes to the workers.

Results come back identical to reading every file (timings aside): the
location-dependent parts (path, member prefix, file facts) are redone for
each place (stored.py).
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mfaleaks import contents
from mfaleaks.cache import (
    ContentKey,
    FilePath,
    ScanCache,
    StatKey,
    engine_key,
    holds_engine,
    options_of,
    stat_key,
)
from mfaleaks.config import ScanConfig
from mfaleaks.listing import FS_ENCODING, FS_ERRORS, Stat, display, key_of
from mfaleaks.models import FileResult, Source, open_fd_noatime
from mfaleaks.spec import EngineSpec
from mfaleaks.stored import Stored, place, stored_of

if TYPE_CHECKING:
    from mfaleaks.discover import FolderCheck, Probe
    from mfaleaks.workers import Workers

HASH_LIMIT = 256 * 1024 * 1024  # bigger files are not hashed: no dedupe, cached by path only
SEEN_SIZE = 20_000  # contents remembered in memory for this scan (the cache has them all)
MAX_WAITING = 1_000  # copies waiting for a content being read; more: wait for the workers


@dataclass
class Counts:
    unchanged: int = 0  # cache: same file, not opened
    known: int = 0  # content seen before (cache or this scan): hashed, not scanned again
    read: int = 0  # scanned by the workers


@dataclass
class _Tag:
    content: ContentKey | None
    stat: StatKey | None
    waiting: list[tuple[Source, StatKey | None]] = field(default_factory=list)


def content_key(source: Source) -> ContentKey | None:
    """SHA-256 of the file plus name and kind hint; None when not worth or not able to hash."""
    if source.fs_path is None or source.size > HASH_LIMIT:
        return None
    h = hashlib.sha256()
    try:
        # The workers' own open: a regular file, still the one the walk listed.
        fd = open_fd_noatime(source.fs_path, source.identity)
    except OSError:
        return None  # gone, a pipe, a device or another file: the worker says why
    try:
        # Plain reads into the hash: a buffered file object costs more than the hash on
        # the small files that make up most of a share.
        while block := os.read(fd, 1 << 20):
            h.update(block)
    except OSError:
        return None
    finally:
        os.close(fd)
    return (h.digest(), source.name, source.kind_hint or "")


def cache_key(spec: EngineSpec) -> str:
    """What cached results depend on besides the files (cache.engine_key): reads every
    rule file and the package's code, so computed once per run."""
    options = options_of(spec.limits, spec.min_confidence.value)
    return engine_key(spec.rule_files, options, spec.limits.ocr)


def rules_known_good(config: ScanConfig, key: str) -> frozenset[str] | None:
    """Their rule ids, if the cache was written by a run with these very rule files (and
    this mfaleaks): they loaded then, so the parent need not compile them again."""
    return holds_engine(config.cache, key) if config.cache is not None else None


class Planner:
    """Decides per file: stored result, copy of known content, or a read by a worker."""

    def __init__(
        self, start: Callable[[], Workers], cache: ScanCache | None, reuse_cache: bool
    ) -> None:
        self._start = start
        self._workers: Workers | None = None
        self.cache = cache
        self.reuse_cache = reuse_cache and cache is not None and not cache.fresh
        self.seen: OrderedDict[ContentKey, tuple[Stored, int | None]] = OrderedDict()
        self.reading: dict[ContentKey, _Tag] = {}
        self.waiting = 0
        self.counts = Counts()

    def unchanged(self, source: Source) -> FileResult | None:
        """The stored result of a file the cache knows unchanged (asked first, for every
        file: the cache follows the walk). A plain call: a rescan makes thousands."""
        if self.cache is None or self.cache.fresh or source.fs_path is None:
            return None  # a fresh cache holds nothing and has nothing to forget
        st = self._stat(source)
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
        if cache is None or cache.fresh or not self.reuse_cache:
            return None
        where = _abs_dir(folder)
        whole = digest is not None and cache.same_folder(where, digest)
        if not whole:
            cache.folder(where)
        return _Unchanged(cache, self.counts, display(folder), whole)

    def add(self, source: Source) -> Iterator[FileResult]:
        """Everything but `unchanged`: copies, cache hits by content, reads."""
        if source.fs_path is None:  # stdin
            yield from self._finished(self.workers.submit(source, _Tag(None, None)))
            return
        st = self._stat(source) if self.cache is not None else None
        # A small file is hashed by its worker, unless the cache may know its content.
        hash_here = not contents.small(source) or self.reuse_cache
        content = content_key(source) if hash_here else None
        if content is not None:
            tag = self.reading.get(content)
            if tag is not None:  # a worker is reading this very content
                tag.waiting.append((source, st))
                self.waiting += 1
                while self.waiting > MAX_WAITING:
                    yield from self._finished(self.workers.wait())
                return
            known = self._known(content)
            if known is not None:
                self.counts.known += 1
                yield self._placed(known, source, st, content)
                return
        tag = _Tag(content, st)
        if content is not None:
            self.reading[content] = tag
        yield from self._finished(self.workers.submit(source, tag))

    @property
    def workers(self) -> Workers:
        """The pool, started at the first file to read: a rescan of unchanged files has none."""
        if self._workers is None:
            self._workers = self._start()
        return self._workers

    def finish(self) -> Iterator[FileResult]:
        if self._workers is not None:
            for done in self._workers.finish():
                yield from self._finished([done])

    def stop(self, ok: bool) -> None:
        """Close the pool (wait for it), or kill it after an error or Ctrl-C."""
        if self._workers is None:
            return
        if ok:
            self._workers.close()
        else:
            self._workers.terminate()

    def _known(self, content: ContentKey) -> tuple[Stored, int | None] | None:
        known = self.seen.get(content)
        if known is not None:
            self.seen.move_to_end(content)
            return known
        if self.reuse_cache:
            assert self.cache is not None
            return self.cache.by_content(content)
        return None

    def _placed(
        self,
        known: tuple[Stored, int | None],
        source: Source,
        st: StatKey | None,
        content: ContentKey | None,
    ) -> FileResult:
        stored, result_id = known
        if self.cache is not None and st is not None and result_id is not None:
            self.cache.remember(_abs(source), st, content, result_id)
        return place(stored, source)

    def _finished(self, done: Iterable[tuple[object, Source, FileResult]]) -> Iterator[FileResult]:
        for tag, source, result in done:
            assert isinstance(tag, _Tag)
            if result.reused:
                self.counts.known += 1
            else:
                self.counts.read += 1
            yield result
            if tag.content is not None:
                self.reading.pop(tag.content, None)
            elif self.cache is None:
                continue  # nothing to remember it for, and no copy waits for it
            stored = stored_of(result, source)
            if stored is None:  # a member outside the file: nothing to share, read copies too
                for copy, _ in tag.waiting:
                    self.waiting -= 1
                    yield from self._finished(self.workers.submit(copy, _Tag(None, None)))
                continue
            content_id = None
            content = tag.content
            if content is None and result.digest is not None and source.fs_path is not None:
                content = (result.digest, source.name, source.kind_hint or "")
            keyed = content is not None or tag.stat is not None  # stdin is neither
            if self.cache is not None and stored.lasting and keyed:
                content_id = self.cache.store(stored)
                if content_id is not None and tag.stat is not None:
                    self.cache.remember(_abs(source), tag.stat, content, content_id)
            if tag.content is not None and stored.lasting:
                self.seen[tag.content] = (stored, content_id)
                while len(self.seen) > SEEN_SIZE:
                    self.seen.popitem(last=False)
            for copy, st in tag.waiting:
                self.waiting -= 1
                self.counts.known += 1
                yield self._placed((stored, content_id), copy, st, tag.content)

    @staticmethod
    def _stat(source: Source) -> StatKey | None:
        assert source.fs_path is not None
        if source.stat_key is not None:  # the walk's own stat
            return source.stat_key
        try:
            return stat_key(os.stat(source.fs_path))
        except OSError:
            return None


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

    def done(self) -> FileResult | None:
        if not self._files:
            return None
        self._counts.unchanged += self._files
        return FileResult(path=self._shown, bytes=self._bytes, files=self._files)


@functools.lru_cache(maxsize=256)
def _abs_dir(folder: str) -> bytes:
    """The absolute form of a folder, ending in one separator."""
    return os.fsencode(os.path.abspath(folder)).rstrip(b"/") + b"/"


def _abs(source: Source) -> FilePath:
    """The cache's key of a file: its absolute folder and its name (one abspath a folder)."""
    assert source.fs_path is not None
    folder, sep, name = source.fs_path.rpartition("/")
    return _abs_dir(folder or ("/" if sep else ".")), name.encode(FS_ENCODING, FS_ERRORS)


if TYPE_CHECKING:
    Walk = Callable[[Probe | None], Iterable[Source | FileResult]]
    """The files to scan, given a probe that may answer some of them (discover.discover)."""


def scan_sources(
    walk: Walk,
    spec: EngineSpec,
    config: ScanConfig,
    notices: list[str],
    key: str | None = None,
    rule_ids: Iterable[str] | None = None,
) -> Iterator[FileResult]:
    """Every source's result, as it finishes; reads only what neither cache nor copies give.
    `key` is cache_key(spec) when the caller has it already; `rule_ids` those of the rules
    the caller compiled, for the cache to vouch for them next time (rules_known_good)."""
    cache = None
    if config.cache is not None:
        cache = ScanCache.open(config.cache, key or cache_key(spec), rule_ids)
    roots = [os.fsencode(os.path.abspath(p)) for p in config.paths if p != "-"]
    if cache is not None:
        cache.listing(roots)
    complete = False

    def start() -> Workers:
        from mfaleaks.workers import Workers  # the pool and the engine: only when reading

        return Workers(spec, config.jobs)

    planner = Planner(start, cache, reuse_cache=not spec.show_secrets)
    try:
        try:
            for source in walk(planner.probe):
                if isinstance(source, FileResult):  # answered by the probe
                    yield source
                    continue
                result = planner.unchanged(source)
                if result is not None:
                    yield result
                else:
                    yield from planner.add(source)
            yield from planner.finish()
        except BaseException:
            planner.stop(ok=False)
            raise
        planner.stop(ok=True)
        complete = True
    finally:
        if cache is not None:
            cache.close(complete, roots)
            notices.extend(_notices(cache, planner.counts, spec.show_secrets))


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
