"""The process pool: each worker builds the rule engine once, then scans whole
files (with everything inside them) and streams FileResults back.

No per-file process start-up; SIGINT is left to the parent, which stops the
pool and still writes the report of what was scanned. What runs inside a
worker is scanjob.py, which this module does not import: the main process
only routes files. Each worker is a WorkerProcess (workerproc.py) with its own
pipes; the parent waits on all of them at once with poll(2), from one thread.
"""

from __future__ import annotations

import contextlib
import select
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mfaleaks.cache import children as memo
from mfaleaks.cache import contents
from mfaleaks.models import FileResult, ScanError, Source
from mfaleaks.run.spec import EngineSpec
from mfaleaks.run.workerproc import WorkerProcess

if TYPE_CHECKING:
    from mfaleaks.detect.score import Engine

Done = tuple[object, Source, FileResult]
"""(the caller's tag, the source, its result)."""

Batch = list[tuple[object, Source]]

BATCH_FILES = 64  # files per round trip to a worker ...
BATCH_BYTES = 4 * 1024 * 1024  # ... or this many bytes, whichever comes first
RECYCLE_BATCHES = 1000  # then a fresh worker process (leaks in C libraries stay small)
# poll(2) and non-blocking pipes: where there are none (Windows), everything is scanned
# in this process (jobs=1).
POOL = hasattr(select, "poll")
_READY = (select.POLLIN | select.POLLHUP | select.POLLERR) if POOL else 0


@dataclass
class _Lane:
    """One worker process with its own queue of batches."""

    proc: WorkerProcess | None = None
    sent: int = 0  # batches sent to this process (recycled after RECYCLE_BATCHES)
    out: int = 0  # batches out now
    queue: deque[Batch] = field(default_factory=deque)  # those batches, oldest first
    batch: Batch = field(default_factory=list)
    bytes: int = 0


def _full(lane: _Lane) -> bool:
    return len(lane.batch) >= BATCH_FILES or lane.bytes >= BATCH_BYTES


def _spread(size: int) -> int:
    """Sizes to lanes: copies (same size) meet in one worker, other sizes scatter."""
    return (size * 0x9E3779B1 >> 16) & 0xFFFF


class Workers:
    """`jobs` worker processes fed in batches, with a bounded backlog.

    Each worker has its own lane. A small file goes to the lane its size picks,
    so copies of a content reach the worker that remembers it (contents.py)
    without the parent reading anything; when that lane is full while another
    sits idle, the file goes to the idle one instead, and a lane's batch whose
    worker has `window` batches out goes to a worker with room (both cores stay
    busy; a copy may then be scanned twice). Big files go to the least busy lane.

    `submit` queues a source and returns what has finished meanwhile; it blocks
    while its lane's batch is full and every worker has `window` batches out, so
    the parent never holds more than jobs x (window + 1) x BATCH_FILES sources
    however big the tree, besides the files workers put off while another one
    read a picture they hold (at most one per picture and worker), which
    finish() sends again. A
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
        self._engine: Engine | None = spec.build() if jobs <= 1 or not POOL else None
        self._in_process = contextlib.ExitStack()  # undone by close() and terminate()
        if self._engine is not None:  # in this process: forget what another engine saw
            from mfaleaks.run import scanjob

            contents.clear()
            memo.clear()
            self._in_process.enter_context(scanjob.alarm_held())
        self._lanes = [_Lane() for _ in range(max(1, jobs))]
        self.max_backlog = 0  # most sources out at once (tests check the bound)
        self._held = 0  # sources submitted whose results have not been returned
        # Sources a worker put off (ocrshare.Busy), sent again by finish(): at most one
        # per picture and worker, since a worker waits the second time it meets one.
        self._later: list[tuple[object, Source]] = []
        self.put_off = 0  # files put off (the tests look)

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
            from mfaleaks.run.scanjob import scan_one

            return [(tag, source, scan_one(source, self._engine, self.spec.limits))]
        lane = self._queue(tag, source)
        self._held += 1
        self.max_backlog = max(self.max_backlog, self._held)
        full = _full(lane)
        # Polling costs more than the file: poll when a batch is due to leave, and now
        # and then, so an idle worker gets a partial batch soon enough.
        done = self._collect(block=False) if full or self._held % 8 == 0 else []
        if full or lane.out == 0:
            done.extend(self._dispatch(lane))
        while _full(lane):  # it could not leave: every worker is at its window
            done.extend(self._collect(block=True))
            done.extend(self._dispatch(lane))
        return done

    def wait(self) -> list[Done]:
        """Block until something finishes (sends the partial batches first)."""
        done: list[Done] = []
        for lane in self._lanes:
            if lane.batch:
                done.extend(self._send(lane))
        if not done and any(lane.out for lane in self._lanes):
            done.extend(self._collect(block=True))
        return done

    def finish(self) -> Iterator[Done]:
        """Everything still out, as it finishes, then what workers put off (by now the
        pictures they met are read, and shared: see ocrshare)."""
        while True:
            while any(lane.out or lane.batch for lane in self._lanes):
                yield from self.wait()
            if not self._later:
                return
            later, self._later = self._later, []
            for tag, source in later:  # (still counted in _held)
                self._queue(tag, source)

    def close(self) -> None:
        """Let the workers go (every batch has been answered: see finish)."""
        self._in_process.close()
        for lane in self._lanes:
            if lane.proc is not None:
                lane.proc.leave()
                lane.proc, lane.sent = None, 0

    def terminate(self) -> None:
        """Stop at once (Ctrl-C): kill the workers, drop what is queued."""
        self._in_process.close()
        for lane in self._lanes:
            if lane.proc is not None:
                lane.proc.kill()
            lane.proc, lane.sent, lane.out = None, 0, 0
            lane.queue.clear()
            lane.batch, lane.bytes = [], 0
        self._later.clear()
        self._held = 0

    def _queue(self, tag: object, source: Source) -> _Lane:
        """Into the batch of the lane it goes to."""
        lane = self._lane_for(source)
        lane.batch.append((tag, source))
        lane.bytes += source.size
        return lane

    def _lane_for(self, source: Source) -> _Lane:
        if not contents.small(source):
            return min(self._lanes, key=lambda lane: (lane.out, len(lane.batch)))
        home = self._lanes[_spread(source.size) % len(self._lanes)]
        if home.out >= self.window:
            idle = [lane for lane in self._lanes if lane.out == 0]
            if idle:
                return idle[0]
        return home

    def _dispatch(self, lane: _Lane) -> list[Done]:
        """The lane's batch to its worker or, that one at its window, to one with room:
        waiting for a worker busy with one slow file (a picture, a large mailbox) left
        the others idle once they had answered what they had (~0.1 s a scan)."""
        if lane.out < self.window:
            return self._send(lane)
        spare = [other for other in self._lanes if other.out < self.window]
        if not spare:
            return []
        batch = lane.batch
        lane.batch, lane.bytes = [], 0
        return self._send(min(spare, key=lambda other: other.out), batch)

    def _send(self, lane: _Lane, batch: Batch | None = None) -> list[Done]:
        """A batch (by default the lane's own) to the lane's worker (a new one first, when
        due)."""
        done: list[Done] = []
        if lane.proc is not None and lane.sent >= RECYCLE_BATCHES:
            while lane.out:  # its replies come in order: let it answer what it has
                done.extend(self._collect(block=True))
            if lane.proc is not None:  # (or it died meanwhile)
                lane.proc.leave()
                lane.proc, lane.sent = None, 0
        if lane.proc is None:
            lane.proc = WorkerProcess(self.spec)
        if batch is None:
            batch = lane.batch
            lane.batch, lane.bytes = [], 0
        lane.sent += 1
        lane.out += 1
        lane.queue.append(batch)
        lane.proc.send([source for _, source in batch])
        return done

    def _collect(self, block: bool) -> list[Done]:
        """Replies that are in (block: wait for at least one); writes what waits to go."""
        done: list[Done] = []
        wait = block
        while True:
            poller = select.poll()
            by_fd: dict[int, _Lane] = {}
            for lane in self._lanes:
                proc = lane.proc
                if proc is None or not lane.out:
                    continue
                if proc.outbox.pending:
                    proc.flush()
                writing = select.POLLOUT if proc.outbox.pending else 0
                poller.register(proc.read_fd, _READY | writing)
                poller.register(proc.sentinel, _READY)
                by_fd[proc.read_fd] = by_fd[proc.sentinel] = lane
            if not by_fd:
                break
            answered: list[_Lane] = []
            for fd, events in poller.poll(-1 if wait else 0):
                lane = by_fd[fd]
                if events & _READY and lane not in answered:
                    answered.append(lane)
            for lane in answered:  # (only writable: flushed on the next round)
                done.extend(self._answer(lane))
            if not answered and not wait:
                break
            if done:
                wait = False  # take what else is in, without waiting
        later = [(tag, source) for tag, source, result in done if result.put_off]
        if later:  # not results: finish() sends them again
            self._later.extend(later)
            self.put_off += len(later)
            done = [item for item in done if not item[2].put_off]
        self._held -= len(done)
        return done

    def _answer(self, lane: _Lane) -> list[Done]:
        """The oldest batch's results, or, the worker gone, all its batches read again."""
        assert lane.proc is not None
        reply = lane.proc.receive()
        if reply is None:
            return self._recover(lane)
        lane.out -= 1
        batch = lane.queue.popleft()
        ok, results = reply
        if not ok:
            results = [_failed(s, str(results)) for _, s in batch]
        return [(tag, s, r) for (tag, s), r in zip(batch, results, strict=True)]

    def _recover(self, lane: _Lane) -> list[Done]:
        """A worker died, and with it every batch out in its lane: read those files again
        one at a time, so that a file that kills a worker again is known for sure."""
        lost = [item for batch in lane.queue for item in batch]
        lane.queue.clear()
        lane.out = 0
        self._drop(lane)
        done: list[Done] = []
        for tag, source in lost:
            if lane.proc is None:
                lane.proc = WorkerProcess(self.spec)
            lane.proc.send([source])
            while lane.proc.outbox.pending:
                select.select([], [lane.proc.outbox.fd], [], 0.1)
                lane.proc.flush()
            reply = lane.proc.receive()
            if reply is None:
                self._drop(lane)
                result = _failed(source, "the worker process died reading this file; not scanned")
            elif not reply[0]:
                result = _failed(source, str(reply[1]))
            else:
                result = reply[1][0]
            done.append((tag, source, result))
        return done

    @staticmethod
    def _drop(lane: _Lane) -> None:
        if lane.proc is not None:
            lane.proc.kill()
        lane.proc, lane.sent = None, 0


def _failed(source: Source, reason: str) -> FileResult:
    result = FileResult(path=source.origin.path, bytes=source.size)
    result.errors.append(ScanError(source.origin.path, source.origin.member, reason))
    return result
