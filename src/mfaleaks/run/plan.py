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

What is known comes from cache/recall.py; this module only decides and
schedules. Results come back identical to reading every file (timings aside):
the location-dependent parts (path, member prefix, file facts) are redone for
each place (cache/record.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from mfaleaks.cache import contents
from mfaleaks.cache.recall import Recall
from mfaleaks.cache.store import (
    ContentKey,
    ScanCache,
    StatKey,
    engine_key,
    holds_engine,
    options_of,
)
from mfaleaks.config import ScanConfig, SmbLogin
from mfaleaks.detect.fpkey import key_identity
from mfaleaks.models import FileResult, ScanResult, Source
from mfaleaks.run.spec import EngineSpec
from mfaleaks.sources.smb.path import is_smb

if TYPE_CHECKING:
    from typing import Protocol

    from mfaleaks.sources.discover import Probe
    from mfaleaks.sources.smb.worker import SmbAccess

    Done = tuple[object, Source, FileResult]

    class Pool(Protocol):
        """Where files are read: the local pool (pool.Workers) or a cluster's workers
        (cluster.ClusterPool)."""

        def submit(self, source: Source, tag: object = None) -> list[Done]: ...
        def wait(self) -> list[Done]: ...
        def finish(self) -> Iterator[Done]: ...
        def close(self) -> None: ...
        def terminate(self) -> None: ...
        def notices(self) -> list[str]: ...

        @property
        def jobs(self) -> int: ...

        @property
        def unread(self) -> int: ...

HASH_LIMIT = 256 * 1024 * 1024  # bigger files are not hashed: no dedupe, cached by path only
MAX_WAITING = 1_000  # copies waiting for a content being read; more: wait for the workers


@dataclass
class _Tag:
    content: ContentKey | None
    stat: StatKey | None
    waiting: list[tuple[Source, StatKey | None]] = field(default_factory=list)


SPLIT_FILE = 64 * 1024 * 1024  # from this size on, a file is scanned in windows ...
WINDOW = 32 * 1024 * 1024  # ... of at least this many bytes, by several workers at once


@dataclass
class _Window:
    """One window of a file split across workers: its results are added up in `whole`
    once all are back (their lines count from each window's start: _numbered)."""

    tag: _Tag
    source: Source  # the whole file
    whole: FileResult
    left: int  # windows not back yet
    parts: dict[int, FileResult] = field(default_factory=dict)  # by the window's start


def windows_of(size: int, jobs: int) -> list[tuple[int, int]]:
    """Byte ranges a big file is split into for `jobs` workers ([(0, size)]: not split).
    Twice as many windows as workers, so that one slow window does not leave the
    others idle; each at least WINDOW bytes."""
    if jobs < 2 or size < SPLIT_FILE:
        return [(0, size)]
    count = max(1, min(2 * jobs, size // WINDOW))
    cuts = [size * i // count for i in range(count + 1)]
    return list(itertools.pairwise(cuts))


def _numbered(parts: dict[int, FileResult], source: Source) -> list[FileResult]:
    """The windows' results in file order, their findings on the file's lines: a window
    counts lines from its own first one (extract/text.py), and the lines before it are
    those the windows before it own, less the ones it reads before its own. After a
    window that did not say (it ran out of time, or its reader died: no findings), the
    lines before each are counted here. No window says when the file was not split as
    text (its first window read it whole, on the file's lines)."""
    out = []
    before = 0  # lines the windows so far own
    told = any(p.lines is not None for p in parts.values())
    lost = False  # a window before this one did not say how many lines it owns
    for start in sorted(parts):
        part = parts[start]
        if part.lines is None:
            lost = lost or told
            out.append(part)
            continue
        ahead, own = part.lines
        shift: int | None = before - ahead
        if lost and part.findings:
            from mfaleaks.extract.text import window_base  # (rarely: not on every start)

            try:
                shift = window_base(source, start)
            except OSError:
                shift = None  # the file is gone: its lines are not known
        if shift != 0:
            part.findings = [
                dataclasses.replace(f, line=None if shift is None else f.line + shift)
                if f.line is not None else f for f in part.findings]
        before += own
        out.append(part)
    return out


def _merged(into: FileResult, part: FileResult) -> None:
    into.findings.extend(part.findings)
    into.errors.extend(e for e in part.errors if e not in into.errors)
    into.seconds += part.seconds
    into.kind = into.kind or part.kind
    into.logons += part.logons


def content_key(source: Source) -> ContentKey | None:
    """SHA-256 of the file plus name and kind hint; None when not worth or not able to hash."""
    if source.fs_path is None or source.size > HASH_LIMIT:
        return None
    if source.data is not None:  # read already (a file on an SMB share)
        return (hashlib.sha256(source.data).digest(), source.name, source.kind_hint or "")
    if is_smb(source.fs_path):  # a file on a share that its worker reads (and hashes)
        return None
    digest = contents.file_digest(source.fs_path, source.identity)
    return (digest, source.name, source.kind_hint or "") if digest is not None else None


def smb_access(config: ScanConfig) -> SmbAccess | None:
    """The account workers log on with to read files on shares themselves (smb/worker.py):
    the main process's, handed to them in memory; None when no path is on a share."""
    targets = [p for p in config.paths if is_smb(p)]
    if not targets:
        return None
    from mfaleaks.sources.smb.url import parse_target
    from mfaleaks.sources.smb.worker import SmbAccess

    warm: list[tuple[str, int, str | None]] = []
    for text in targets:  # (the main process parsed them already: they parse)
        target = parse_target(text)
        if (where := (target.host, target.port, target.share)) not in warm:
            warm.append(where)
    return SmbAccess(config.smb or SmbLogin(), config.follow_symlinks, tuple(warm))


def cache_key(spec: EngineSpec) -> str:
    """What cached results depend on besides the files (cache.engine_key): reads every
    rule file and the package's code, so computed once per run."""
    options = options_of(spec.limits, spec.min_confidence.value)
    # Keyed fingerprints (weak code sets) hold only with the key they were made with.
    return engine_key(spec.rule_files, (options, key_identity()), spec.limits.ocr)


def rules_known_good(config: ScanConfig, key: str) -> frozenset[str] | None:
    """Their rule ids, if the cache was written by a run with these very rule files (and
    this mfaleaks): they loaded then, so the parent need not compile them again."""
    return holds_engine(config.cache, key) if config.cache is not None else None


class Planner:
    """Decides per file: stored result, copy of known content, or a read by a worker."""

    def __init__(self, start: Callable[[], Pool], recall: Recall, reads: bool = True) -> None:
        self._start = start
        self._workers: Pool | None = None
        self.recall = recall
        # False on a cluster: this process may not see the files, and hashing a big one
        # here would read it twice over the network (its copies are read again instead,
        # and the cache keeps it by path).
        self.reads = reads
        self.reading: dict[ContentKey, _Tag] = {}
        self.waiting = 0

    def add(self, source: Source) -> Iterator[FileResult]:
        """A file that is not unchanged (Recall.unchanged): copies, known content, reads."""
        if source.fs_path is None:  # stdin
            yield from self._finished(self.workers.submit(source, _Tag(None, None)))
            return
        recall = self.recall
        st = recall.stat(source)
        # A small file is hashed by its worker, unless the cache may know its content.
        hash_here = self.reads and (not contents.small(source) or recall.reuse_cache)
        content = content_key(source) if hash_here else None
        if content is not None:
            tag = self.reading.get(content)
            if tag is not None:  # a worker is reading this very content
                tag.waiting.append((source, st))
                self.waiting += 1
                while self.waiting > MAX_WAITING:
                    yield from self._finished(self.workers.wait())
                return
            known = recall.known(content)
            if known is not None:
                yield recall.place(known, source, st, content)
                return
        tag = _Tag(content, st)
        if content is not None:
            self.reading[content] = tag
        # (A small file is read whole by its worker, and its content scanned once.)
        # (Nor is a file on a share that a worker reads: each window would read it all.)
        one = contents.small(source) or (source.data is None and is_smb(source.fs_path))
        parts = [] if one else windows_of(source.size, self.workers.jobs)
        if len(parts) < 2:
            yield from self._finished(self.workers.submit(source, tag))
            return
        # One big file, every worker: each scans a window (extract/text.py).
        whole = FileResult(path=source.origin.path, bytes=source.size)
        window = _Window(tag, source, whole, len(parts))
        for start, stop in parts:
            part = dataclasses.replace(source, part=(start, stop))
            yield from self._finished(self.workers.submit(part, window))

    @property
    def started(self) -> Pool | None:
        """The pool, if one was started."""
        return self._workers

    @property
    def workers(self) -> Pool:
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

    def _finished(self, done: Iterable[tuple[object, Source, FileResult]]) -> Iterator[FileResult]:
        recall = self.recall
        for tag, source, result in done:
            if isinstance(tag, _Window):
                window = tag
                assert source.part is not None
                window.parts[source.part[0]] = result
                window.left -= 1
                if window.left:
                    continue
                for part in _numbered(window.parts, window.source):
                    _merged(window.whole, part)
                tag, source, result = window.tag, window.source, window.whole
                result.findings.sort(key=lambda f: f.line or 0)
            assert isinstance(tag, _Tag)
            yield result
            if tag.content is not None:
                self.reading.pop(tag.content, None)
            elif not recall.keeps:
                recall.count_read(result)
                continue  # nothing to remember it for, and no copy waits for it
            known = recall.keep(source, result, tag.content, tag.stat)
            for copy, st in tag.waiting:
                self.waiting -= 1
                if known is None:  # a member outside the file: nothing to share, read it
                    yield from self._finished(self.workers.submit(copy, _Tag(None, None)))
                else:
                    yield recall.place(known, copy, st, tag.content)


if TYPE_CHECKING:
    Walk = Callable[[Probe | None], Iterable[Source | FileResult]]
    """The files to scan, given a probe that may answer some of them (discover.discover)."""
    Fill = Callable[[Iterable[Source | FileResult]], Iterator[Source | FileResult]]
    """The same stream with the bytes of sources that were only listed (sources/smb/scan.py)."""


class Remote(Protocol):
    """The SMB side of a scan as the cache sees it (sources/smb/scan.py, SmbScan)."""

    def locations(self) -> dict[str, bool]: ...
    def listed_whole(self) -> list[str]: ...
    def on_link(self, note: Callable[[str], None]) -> None: ...


def scan_sources(
    walk: Walk,
    spec: EngineSpec,
    config: ScanConfig,
    report: ScanResult,
    key: str | None = None,
    rule_ids: Iterable[str] | None = None,
    fill: Fill | None = None,
    pool: Callable[[], Pool] | None = None,
    remote: Remote | None = None,
) -> Iterator[FileResult]:
    """Every source's result, as it finishes; reads only what neither cache nor copies give.
    `key` is cache_key(spec) when the caller has it already; `rule_ids` those of the rules
    the caller compiled, for the cache to vouch for them next time (rules_known_good);
    `pool` starts where files are read, if not on this machine (a cluster's workers);
    `remote`: the locations on shares (sources/smb/scan.py), for the cache's sweep.
    What the cache did and workers that died go to report's notices (and alerts); files
    the pool could not read at all make it incomplete."""
    cache = None
    if config.cache is not None:
        cache = ScanCache.open(config.cache, key or cache_key(spec), rule_ids)
    # Files gone from these are forgotten at the end (and from a folder the walk left). A
    # location on a share only when its walk listed every folder (remote.listed_whole).
    roots = [os.fsencode(os.path.abspath(p)) for p in config.paths if p != "-" and not is_smb(p)]
    on_shares = remote.locations() if remote is not None else {}
    if cache is not None:
        cache.listing([*roots, *map(os.fsencode, on_shares)],
                      [os.fsencode(url) for url, folder in on_shares.items() if folder])
        if remote is not None:  # folders DFS links lead to, as the walk finds them
            remote.on_link(lambda url: cache.listed_also(os.fsencode(url)))
    complete = False

    access = smb_access(config) if pool is None else None

    def start() -> Pool:
        from mfaleaks.run.pool import Workers  # the pool and the engine: only when reading

        return Workers(spec, config.jobs, smb=access, in_process=not config.pooled)

    recall = Recall(cache, reuse_cache=not spec.show_secrets)
    planner = Planner(pool or start, recall, reads=pool is None)
    if access is not None and rule_ids is not None:
        # A first scan of shares (rule_ids: the rules were compiled, no cache vouched for
        # them) reads files: its workers start and log on while the first folders are
        # listed. (A rescan may read nothing: its pool starts at the first changed file.)
        planner.workers  # noqa: B018 - starts the pool

    def unread() -> Iterator[Source | FileResult]:
        for source in walk(recall.probe):
            if isinstance(source, FileResult):  # answered by the probe
                yield source
            else:
                result = recall.unchanged(source)
                yield source if result is None else result

    try:
        try:
            # fill reads what the walk only listed (files on SMB shares), in batches.
            for item in unread() if fill is None else fill(unread()):
                if isinstance(item, FileResult):
                    yield item
                else:
                    yield from planner.add(item)
            yield from planner.finish()
        except BaseException:
            planner.stop(ok=False)
            raise
        planner.stop(ok=True)
        complete = True
    finally:
        if complete and remote is not None:
            roots += [os.fsencode(url) for url in remote.listed_whole()]
        report.notices.extend(recall.close(complete, roots, spec.show_secrets))
        started = planner.started
        if started is not None:
            said = started.notices()
            report.notices.extend(said)
            report.alerts.extend(said)
            if started.unread:
                report.incomplete = True
