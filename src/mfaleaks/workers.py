"""The process pool: each worker builds the rule engine once, then scans whole
files (with everything inside them) and streams FileResults back.

No per-file process start-up; SIGINT is left to the parent, which stops the
pool and still writes the report of what was scanned.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from mfaleaks.extract.base import Limits
from mfaleaks.models import Confidence, ScanError, Source
from mfaleaks.pipeline import FileResult, scan_source
from mfaleaks.rules.load import load_pack
from mfaleaks.score import Engine

# Tesseract's OpenMP threads oversubscribe small machines; we parallelise with
# processes instead (ENGINEERING.md: 1.76 s -> 0.41 s per screenshot).
os.environ.setdefault("OMP_THREAD_LIMIT", "1")


@dataclass(frozen=True)
class EngineSpec:
    """What a worker needs to build its own Engine (picklable)."""

    rule_files: tuple[Path, ...]
    show_secrets: bool
    min_confidence: Confidence
    limits: Limits

    def build(self) -> Engine:
        return Engine(
            load_pack(self.rule_files),
            show_secrets=self.show_secrets,
            min_confidence=self.min_confidence,
        )


class FileTimeout(BaseException):
    """BaseException so that extractors' `except Exception` cannot swallow it."""


_engine: Engine | None = None
_limits: Limits | None = None


BIG_FILE = 32 * 1024 * 1024  # from this size on, a file is read with bounded_malloc on
_M_MMAP_THRESHOLD = -3  # glibc mallopt parameter
_libc: ctypes.CDLL | None = None


def _mmap_threshold(size: int) -> None:
    global _libc
    try:
        _libc = _libc or ctypes.CDLL(None)
        _libc.mallopt(_M_MMAP_THRESHOLD, size)
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass


@contextlib.contextmanager
def bounded_malloc(source: Source) -> Iterator[None]:
    """Keep a big file's blocks out of the heap, so memory stays flat however big it is.

    glibc raises its mmap threshold after a big block is freed, then serves the
    next big blocks (4 MB text blocks, the 12-bytes-per-character buffer of
    str.lower) from a heap that fragments and only shrinks from the top: a
    590 MB text file peaked at 420 MB, a 100 MB one at 228 MB. With a 2 MiB
    threshold both peak at 125 MB, for ~50% more time (fresh pages for every
    block), so only files of BIG_FILE bytes and more are read that way.
    """
    if source.size < BIG_FILE:
        yield
        return
    _mmap_threshold(2 * 1024 * 1024)
    try:
        yield
    finally:
        _mmap_threshold(32 * 1024 * 1024)  # glibc's own ceiling for the dynamic threshold
        if _libc is not None and hasattr(_libc, "malloc_trim"):
            _libc.malloc_trim(0)


def _init(spec: EngineSpec) -> None:
    global _engine, _limits
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _engine = spec.build()
    _limits = spec.limits


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise FileTimeout


def timed_scan(source: Source, engine: Engine, limits: Limits) -> FileResult:
    """scan_source under a wall-clock limit, so one pathological file cannot hang a scan."""
    use_alarm = limits.parse_timeout > 0 and hasattr(signal, "setitimer")
    budget = limits.parse_timeout + source.size / 1e6
    if use_alarm:
        previous = signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, budget)
    try:
        with bounded_malloc(source):
            return scan_source(source, engine, limits)
    except FileTimeout:
        result = FileResult(path=source.origin.path, bytes=source.size)
        result.errors.append(
            ScanError(
                source.origin.path, source.origin.member,
                f"time limit reached ({budget:.0f} s for this file); not fully scanned",
            )
        )
        return result
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


def scan_batch(batch: list[Source]) -> list[FileResult]:
    """In a worker: several small files per round trip (the parent sends batches)."""
    assert _engine is not None and _limits is not None
    return [timed_scan(source, _engine, _limits) for source in batch]


Done = tuple[object, Source, FileResult]
"""(the caller's tag, the source, its result)."""

BATCH_FILES = 32  # files per round trip to a worker ...
BATCH_BYTES = 4 * 1024 * 1024  # ... or this many bytes, whichever comes first
RECYCLE_BATCHES = 1000  # then fresh worker processes (leaks in C libraries stay small)


class Workers:
    """A pool of `jobs` worker processes fed in batches, with a bounded backlog.

    `submit` queues a source and returns what has finished meanwhile; it blocks
    while `window` batches are out, so the parent never holds more than
    window x BATCH_FILES sources however big the tree. A batch leaves early
    when a worker would otherwise sit idle. With jobs=1 everything runs in this
    process. A worker that dies (a crash in a parser, the OOM killer) takes the
    batches out with it: those files are read again one at a time in a new pool,
    and a file that kills a worker again is reported instead of read.
    """

    def __init__(self, spec: EngineSpec, jobs: int, window: int | None = None) -> None:
        self.spec = spec
        self.jobs = jobs
        self.window = window or 2 * jobs
        self._engine = spec.build() if jobs <= 1 else None
        self._pool: ProcessPoolExecutor | None = None
        self._old: list[ProcessPoolExecutor] = []
        self._sent = 0
        self._batch: list[tuple[object, Source]] = []
        self._bytes = 0
        self._out: dict[Future[list[FileResult]], list[tuple[object, Source]]] = {}
        self.max_backlog = 0  # most sources out at once (tests check the bound)
        self.before_block: Callable[[], None] | None = None  # e.g. commit the cache first

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, et: type[BaseException] | None, *rest: object) -> None:
        if et is None:
            self.close()
        else:
            self.terminate()

    @property
    def backlog(self) -> int:
        """Sources handed to submit whose results have not come back yet."""
        return len(self._batch) + sum(len(b) for b in self._out.values())

    def submit(self, source: Source, tag: object = None) -> list[Done]:
        if self._engine is not None:
            return [(tag, source, timed_scan(source, self._engine, self.spec.limits))]
        self._batch.append((tag, source))
        self._bytes += source.size
        done = self._collect(block=False)
        full = len(self._batch) >= BATCH_FILES or self._bytes >= BATCH_BYTES
        if full or len(self._out) < self.jobs:
            self._send(self._batch)
            self._batch, self._bytes = [], 0
        self.max_backlog = max(self.max_backlog, self.backlog)
        while len(self._out) >= self.window:
            done.extend(self._collect(block=True))
        return done

    def wait(self) -> list[Done]:
        """Block until something finishes (sends a partial batch if nothing is out)."""
        if self._batch:
            self._send(self._batch)
            self._batch, self._bytes = [], 0
        return self._collect(block=True) if self._out else []

    def finish(self) -> Iterator[Done]:
        """Everything still out, as it finishes."""
        while self._batch or self._out:
            yield from self.wait()

    def close(self) -> None:
        for pool in [*self._old, *([self._pool] if self._pool else [])]:
            pool.shutdown(wait=True)
        self._old, self._pool = [], None

    def terminate(self) -> None:
        """Stop at once (Ctrl-C): kill the workers, drop what is queued."""
        for pool in [*self._old, *([self._pool] if self._pool else [])]:
            for proc in list(getattr(pool, "_processes", {}).values()):
                proc.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
        self._old, self._pool, self._out = [], None, {}

    def _new_pool(self) -> ProcessPoolExecutor:
        ctx = mp.get_context("forkserver" if hasattr(os, "fork") else "spawn")
        return ProcessPoolExecutor(
            self.jobs, mp_context=ctx, initializer=_init, initargs=(self.spec,)
        )

    def _send(self, batch: list[tuple[object, Source]]) -> None:
        if self._pool is None:
            self._pool = self._new_pool()
        elif self._sent >= RECYCLE_BATCHES:
            self._pool.shutdown(wait=False)  # its batches still finish
            self._old.append(self._pool)
            self._pool, self._sent = self._new_pool(), 0
        self._sent += 1
        self._out[self._pool.submit(scan_batch, [source for _, source in batch])] = batch

    def _collect(self, block: bool) -> list[Done]:
        if block and self.before_block is not None:
            self.before_block()
        finished, _ = wait(self._out, timeout=None if block else 0, return_when=FIRST_COMPLETED)
        done: list[Done] = []
        lost: list[tuple[object, Source]] = []
        for future in finished:
            batch = self._out.pop(future)
            try:
                results = future.result()
            except BrokenProcessPool:
                lost.extend(batch)
                continue
            except Exception as exc:  # e.g. a result that cannot be pickled
                results = [_failed(s, f"internal error: {type(exc).__name__}") for _, s in batch]
            done.extend((tag, s, r) for (tag, s), r in zip(batch, results, strict=True))
        if lost:
            done.extend(self._recover(lost))
        return done

    def _recover(self, lost: list[tuple[object, Source]]) -> list[Done]:
        """A worker died, and with it every batch out in its pool: read those files again
        one at a time, so that a file that kills a worker again is known for sure."""
        wait(self._out)  # the others fail (or finish) promptly once the pool is broken
        done: list[Done] = []
        for future, batch in list(self._out.items()):
            del self._out[future]
            try:
                done.extend((t, s, r) for (t, s), r in zip(batch, future.result(), strict=True))
            except Exception:  # BrokenProcessPool and the like
                lost.extend(batch)
        self._drop_pool()
        for tag, source in lost:
            if self._pool is None:
                self._pool = self._new_pool()
            try:
                result = self._pool.submit(scan_batch, [source]).result()[0]
            except BrokenProcessPool:
                self._drop_pool()
                result = _failed(source, "the worker process died reading this file; not scanned")
            except Exception as exc:  # a worker that failed otherwise
                result = _failed(source, f"internal error: {type(exc).__name__}")
            done.append((tag, source, result))
        return done

    def _drop_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool, self._sent = None, 0


def _failed(source: Source, reason: str) -> FileResult:
    result = FileResult(path=source.origin.path, bytes=source.size)
    result.errors.append(ScanError(source.origin.path, source.origin.member, reason))
    return result
