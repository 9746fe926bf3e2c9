"""The process pool: each worker builds the rule engine once, then scans whole
files (with everything inside them) and streams FileResults back.

No per-file process start-up; SIGINT is left to the parent, which stops the
pool and still writes the report of what was scanned. What runs inside a
worker is scanjob.py, which this module does not import: the main process
only routes files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mfaleaks import contents, forkstart, memo
from mfaleaks.models import FileResult, ScanError, Source
from mfaleaks.spec import EngineSpec

if TYPE_CHECKING:
    from mfaleaks.score import Engine


def _init(spec: EngineSpec) -> None:
    """In a new worker (the fork server has imported scanjob already)."""
    from mfaleaks import scanjob

    scanjob.init(spec)


def _scan_batch(batch: list[Source]) -> list[FileResult]:
    from mfaleaks import scanjob

    return scanjob.scan_batch(batch)


Done = tuple[object, Source, FileResult]
"""(the caller's tag, the source, its result)."""

BATCH_FILES = 64  # files per round trip to a worker ...
BATCH_BYTES = 4 * 1024 * 1024  # ... or this many bytes, whichever comes first
RECYCLE_BATCHES = 1000  # then a fresh worker process (leaks in C libraries stay small)


@dataclass
class _Lane:
    """One worker process with its own queue of batches."""

    pool: ProcessPoolExecutor | None = None
    sent: int = 0  # batches sent to this process (recycled after RECYCLE_BATCHES)
    out: int = 0  # batches out now
    batch: list[tuple[object, Source]] = field(default_factory=list)
    bytes: int = 0


def _spread(size: int) -> int:
    """Sizes to lanes: copies (same size) meet in one worker, other sizes scatter."""
    return (size * 0x9E3779B1 >> 16) & 0xFFFF


class Workers:
    """`jobs` worker processes fed in batches, with a bounded backlog.

    Each worker has its own lane. A small file goes to the lane its size picks,
    so copies of a content reach the worker that remembers it (contents.py)
    without the parent reading anything; when that lane is full while another
    sits idle, the file goes to the idle one instead (both cores stay busy; a
    copy may then be scanned twice). Big files go to the least busy lane.

    `submit` queues a source and returns what has finished meanwhile; it blocks
    while its lane has `window` batches out, so the parent never holds more
    than jobs x (window + 1) x BATCH_FILES sources however big the tree. A
    batch leaves early when its worker would otherwise sit idle. With jobs=1
    everything runs in this process. A worker that dies (a crash in a parser,
    the OOM killer) takes its lane's batches with it: those files are read
    again one at a time in a new process, and a file that kills a worker again
    is reported instead of read.
    """

    def __init__(self, spec: EngineSpec, jobs: int, window: int | None = None) -> None:
        self.spec = spec
        self.jobs = jobs
        self.window = window or 4  # batches out per lane: fewer stalls than 2 (1.85 -> 1.67 s)
        self._engine: Engine | None = spec.build() if jobs <= 1 else None
        if self._engine is not None:  # in this process: forget what another engine saw
            contents.clear()
            memo.clear()
        self._lanes = [_Lane() for _ in range(max(1, jobs))]
        self._old: list[ProcessPoolExecutor] = []
        self._out: dict[Future[list[FileResult]], tuple[_Lane, list[tuple[object, Source]]]] = {}
        self.max_backlog = 0  # most sources out at once (tests check the bound)
        self._held = 0  # sources submitted whose results have not been returned
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
        return self._held

    def submit(self, source: Source, tag: object = None) -> list[Done]:
        if self._engine is not None:
            from mfaleaks.scanjob import scan_one

            return [(tag, source, scan_one(source, self._engine, self.spec.limits))]
        lane = self._lane_for(source)
        lane.batch.append((tag, source))
        lane.bytes += source.size
        self._held += 1
        self.max_backlog = max(self.max_backlog, self._held)
        full = len(lane.batch) >= BATCH_FILES or lane.bytes >= BATCH_BYTES
        # Asking every future costs more than the file: ask when a batch is due to leave,
        # and now and then, so an idle worker gets a partial batch soon enough.
        done = self._collect(block=False) if full or self._held % 8 == 0 else []
        if full or lane.out == 0:
            self._send(lane)
        while lane.out >= self.window:
            done.extend(self._collect(block=True))
        return done

    def wait(self) -> list[Done]:
        """Block until something finishes (sends the partial batches first)."""
        for lane in self._lanes:
            if lane.batch:
                self._send(lane)
        return self._collect(block=True) if self._out else []

    def finish(self) -> Iterator[Done]:
        """Everything still out, as it finishes."""
        while self._out or any(lane.batch for lane in self._lanes):
            yield from self.wait()

    def close(self) -> None:
        for pool in self._pools():
            pool.shutdown(wait=True)
        self._drop_all()

    def terminate(self) -> None:
        """Stop at once (Ctrl-C): kill the workers, drop what is queued."""
        for pool in self._pools():
            for proc in list(getattr(pool, "_processes", {}).values()):
                proc.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
        self._drop_all()
        self._out = {}
        self._held = 0

    def _pools(self) -> list[ProcessPoolExecutor]:
        return [*self._old, *(lane.pool for lane in self._lanes if lane.pool is not None)]

    def _drop_all(self) -> None:
        self._old = []
        for lane in self._lanes:
            lane.pool, lane.sent = None, 0

    def _lane_for(self, source: Source) -> _Lane:
        if not contents.small(source):
            return min(self._lanes, key=lambda lane: (lane.out, len(lane.batch)))
        home = self._lanes[_spread(source.size) % len(self._lanes)]
        if home.out >= self.window:
            idle = [lane for lane in self._lanes if lane.out == 0]
            if idle:
                return idle[0]
        return home

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            1, mp_context=forkstart.context(), initializer=_init, initargs=(self.spec,)
        )

    def _send(self, lane: _Lane) -> None:
        if lane.pool is None:
            lane.pool = self._new_pool()
        elif lane.sent >= RECYCLE_BATCHES:
            lane.pool.shutdown(wait=False)  # its batches still finish
            self._old.append(lane.pool)
            lane.pool, lane.sent = self._new_pool(), 0
        batch = lane.batch
        lane.batch, lane.bytes = [], 0
        lane.sent += 1
        lane.out += 1
        self._out[lane.pool.submit(_scan_batch, [source for _, source in batch])] = (lane, batch)

    def _collect(self, block: bool) -> list[Done]:
        if block and self.before_block is not None:
            self.before_block()
        if block:
            finished = wait(self._out, return_when=FIRST_COMPLETED).done
        else:  # asked on every submit: done() is far cheaper than wait(timeout=0)
            finished = {future for future in self._out if future.done()}
        done: list[Done] = []
        lost: dict[int, list[tuple[object, Source]]] = {}
        for future in finished:
            lane, batch = self._out.pop(future)
            lane.out -= 1
            try:
                results = future.result()
            except BrokenProcessPool:
                lost.setdefault(self._lanes.index(lane), []).extend(batch)
                continue
            except Exception as exc:  # e.g. a result that cannot be pickled
                results = [_failed(s, f"internal error: {type(exc).__name__}") for _, s in batch]
            done.extend((tag, s, r) for (tag, s), r in zip(batch, results, strict=True))
        for index, batch in lost.items():
            done.extend(self._recover(self._lanes[index], batch))
        self._held -= len(done)
        return done

    def _recover(self, lane: _Lane, lost: list[tuple[object, Source]]) -> list[Done]:
        """A worker died, and with it every batch out in its lane: read those files again
        one at a time, so that a file that kills a worker again is known for sure."""
        mine = [f for f, (owner, _) in self._out.items() if owner is lane]
        wait(mine)  # they fail (or finish) promptly once the process is gone
        done: list[Done] = []
        for future in mine:
            _, batch = self._out.pop(future)
            lane.out -= 1
            try:
                done.extend((t, s, r) for (t, s), r in zip(batch, future.result(), strict=True))
            except Exception:  # BrokenProcessPool and the like
                lost.extend(batch)
        self._drop_pool(lane)
        for tag, source in lost:
            if lane.pool is None:
                lane.pool = self._new_pool()
            try:
                result = lane.pool.submit(_scan_batch, [source]).result()[0]
            except BrokenProcessPool:
                self._drop_pool(lane)
                result = _failed(source, "the worker process died reading this file; not scanned")
            except Exception as exc:  # a worker that failed otherwise
                result = _failed(source, f"internal error: {type(exc).__name__}")
            done.append((tag, source, result))
        return done

    @staticmethod
    def _drop_pool(lane: _Lane) -> None:
        if lane.pool is not None:
            lane.pool.shutdown(wait=False, cancel_futures=True)
        lane.pool, lane.sent = None, 0


def _failed(source: Source, reason: str) -> FileResult:
    result = FileResult(path=source.origin.path, bytes=source.size)
    result.errors.append(ScanError(source.origin.path, source.origin.member, reason))
    return result
