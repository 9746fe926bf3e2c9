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
import hashlib
import select
import signal
import threading
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mfaleaks.cache import children as memo
from mfaleaks.cache import contents
from mfaleaks.models import READER_CRASHED, FileResult, ScanError, Source
from mfaleaks.run.forkstart import PICTURE_SUFFIXES
from mfaleaks.run.spec import EngineSpec
from mfaleaks.run.workerproc import WorkerProcess

if TYPE_CHECKING:
    from mfaleaks.detect.score import Engine
    from mfaleaks.sources.smb.worker import SmbAccess

Done = tuple[object, Source, FileResult]
"""(the caller's tag, the source, its result)."""

Batch = list[tuple[object, Source]]

BATCH_FILES = 64  # files per round trip to a worker ...
BATCH_BYTES = 4 * 1024 * 1024  # ... or this many bytes, whichever comes first
RECYCLE_BATCHES = 1000  # then a fresh worker process (leaks in C libraries stay small)
# Workers that die one after another without reading a file (killed as they start, a
# crash while building the engine): after this many, what they held is reported unread.
BARREN_DEATHS = 3
# A picture costs ~0.25 s of OCR, a text file ~1 ms: routed by a hash of their sizes,
# 24 screenshots fell 17:7 on two workers, and the scan waited for the busier one. A
# picture (by its name, forkstart.PICTURE_SUFFIXES: routing only, what it is is still
# sniffed from its bytes) leaves in a batch of its own for the lane with the fewest out.
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
    alone: bool = False  # a file that was being read when its worker died, read again alone


def _full(lane: _Lane) -> bool:
    return len(lane.batch) >= BATCH_FILES or lane.bytes >= BATCH_BYTES


def _picture(source: Source) -> bool:
    dot = source.name.rfind(".")
    return dot != -1 and source.name[dot:].lower() in PICTURE_SUFFIXES


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
    busy; a copy may then be scanned twice). Big files and pictures go to the
    least busy lane, a picture in a batch of its own (PICTURE_SUFFIXES).

    `submit` queues a source and returns what has finished meanwhile; it blocks
    while its lane's batch is full and every worker has `window` batches out, so
    the parent never holds more than jobs x (window + 1) x BATCH_FILES sources
    however big the tree, besides the files workers put off while another one
    read a picture they hold (at most one per picture and worker), which
    finish() sends again. A
    batch leaves early when its worker would otherwise sit idle. With jobs=1
    everything runs in this process, unless in_process=False (one worker process).

    A worker that dies (a crash in a native parser, the OOM killer) is noticed
    when its pipe closes or its process sentinel fires, whichever comes first.
    The file it was reading (workerproc.py tells which) is read again alone, in
    a fresh process of its own beside the lanes; the rest of its batches go to a
    new worker in its lane, as they were. A file whose second reader dies too is
    reported (READER_CRASHED) instead of read.
    """

    def __init__(self, spec: EngineSpec, jobs: int, window: int | None = None,
                 smb: SmbAccess | None = None, in_process: bool | None = None) -> None:
        self.spec = spec
        self.smb = smb  # the workers read small files on shares themselves (smb/worker.py)
        self.jobs = jobs
        self.window = window or 4  # batches out per lane: fewer stalls than 2 (1.85 -> 1.67 s)
        # in_process None: with one job (a single worker process isolates a crash).
        alone = jobs <= 1 if in_process is None else in_process
        self._engine: Engine | None = spec.build() if alone or not POOL else None
        self._in_process = contextlib.ExitStack()  # undone by close() and terminate()
        if self._engine is not None:  # in this process: forget what another engine saw
            from mfaleaks.run import scanjob

            contents.clear()
            contents.every_digest = spec.digests
            memo.clear()
            self._in_process.enter_context(scanjob.alarm_held())
        self._lanes = [_Lane() for _ in range(max(1, jobs))]
        self.max_backlog = 0  # most sources out at once (tests check the bound)
        self._held = 0  # sources submitted whose results have not been returned
        # Sources a worker put off (ocrshare.Busy), sent again by finish(): at most one
        # per picture and worker, since a worker waits the second time it meets one.
        self._later: list[tuple[object, Source]] = []
        self.put_off = 0  # files put off (the tests look)
        self._alone: list[_Lane] = []  # one process per file read again after a death
        self.deaths: Counter[int] = Counter()  # worker exit codes (negative: signals)
        self.crashed = 0  # files reported unread: their reader died twice
        self.unread = 0  # files reported unread: workers kept dying before reading
        self._barren = 0  # deaths in a row without a file to blame
        # A scan of shares: every worker starts now, in a thread (the fork server may still
        # be preloading, and this process has folders to list meanwhile), and logs on to
        # the servers as it starts (smb/worker.py, warm) instead of at its first batch.
        self._starting: threading.Thread | None = None
        if smb is not None and smb.warm and self._engine is None:
            self._starting = threading.Thread(target=self._start_all, daemon=True,
                                              name="mfaleaks-workers-start")
            self._starting.start()

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
        if not done and (self._alone or any(lane.out for lane in self._lanes)):
            done.extend(self._collect(block=True))
        return done

    def notices(self) -> list[str]:
        """What the report says of workers that died (nothing when none did)."""
        if not self.deaths:
            return []
        total = sum(self.deaths.values())
        how = ", ".join(f"{n} by {_cause(code, named=True)}"
                        for code, n in sorted(self.deaths.items()))
        out = [f"workers: {total} worker process(es) died during the scan ({how}); the files "
               "they held were read again by new ones"]
        if self.crashed:
            out.append(f"workers: {self.crashed} file(s) crashed their reader twice and were "
                       "not scanned: they are listed in the errors")
        if self.unread:
            out.append(f"workers: {self.unread} file(s) were not scanned: worker processes kept "
                       "dying before they read anything")
        return out

    def finish(self) -> Iterator[Done]:
        """Everything still out, as it finishes, then what workers put off (by now the
        pictures they met are read, and shared: see ocrshare)."""
        while True:
            while self._alone or any(lane.out or lane.batch for lane in self._lanes):
                yield from self.wait()
            if not self._later:
                return
            later, self._later = self._later, []
            for tag, source in later:  # (still counted in _held)
                self._queue(tag, source)

    def close(self) -> None:
        """Let the workers go (every batch has been answered: see finish)."""
        self._started()
        self._in_process.close()
        for lane in [*self._lanes, *self._alone]:
            if lane.proc is not None:
                lane.proc.leave()
                lane.proc, lane.sent = None, 0

    def terminate(self) -> None:
        """Stop at once (Ctrl-C): kill the workers, drop what is queued."""
        self._started()
        self._in_process.close()
        for lane in [*self._lanes, *self._alone]:
            if lane.proc is not None:
                lane.proc.kill()
            lane.proc, lane.sent, lane.out = None, 0, 0
            lane.queue.clear()
            lane.batch, lane.bytes = [], 0
        self._alone.clear()
        self._later.clear()
        self._held = 0

    def _queue(self, tag: object, source: Source) -> _Lane:
        """Into the batch of the lane it goes to."""
        lane = self._lane_for(source)
        lane.batch.append((tag, source))
        lane.bytes += BATCH_BYTES if _picture(source) else source.size  # (pictures: alone)
        return lane

    def _lane_for(self, source: Source) -> _Lane:
        if not contents.small(source) or _picture(source):
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
            while lane.out and lane.sent >= RECYCLE_BATCHES:  # its replies come in order:
                done.extend(self._collect(block=True))  # let it answer what it has
            if lane.proc is not None and lane.sent >= RECYCLE_BATCHES:  # (not a new one)
                lane.proc.leave()
                lane.proc, lane.sent = None, 0
        if batch is None:
            batch = lane.batch
            lane.batch, lane.bytes = [], 0
        self._put(lane, batch)
        return done

    def _start_all(self) -> None:
        for lane in self._lanes:
            if lane.proc is None:
                lane.proc = WorkerProcess(self.spec, self.smb)

    def _started(self) -> None:
        """The early start over (those it could not start are started when needed)."""
        if self._starting is not None:
            self._starting.join()
            self._starting = None

    def _put(self, lane: _Lane, batch: Batch) -> None:
        """A batch down the lane's pipe (to a new worker if it has none)."""
        self._started()
        if lane.proc is None:
            lane.proc = WorkerProcess(self.spec, self.smb)
        lane.sent += 1
        lane.out += 1
        lane.queue.append(batch)
        lane.proc.send([source for _, source in batch])

    def _collect(self, block: bool) -> list[Done]:
        """Replies that are in (block: wait for at least one); writes what waits to go."""
        done: list[Done] = []
        wait = block
        while True:
            poller = select.poll()
            by_fd: dict[int, _Lane] = {}
            for lane in [*self._lanes, *self._alone] if self._alone else self._lanes:
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
        """The oldest batch's results, or, the worker gone, what it held sent again."""
        assert lane.proc is not None
        reply = lane.proc.receive()
        if reply is None:
            return self._recover(lane)
        self._barren = 0
        lane.out -= 1
        batch = lane.queue.popleft()
        ok, results = reply
        if not ok:
            results = [_failed(s, str(results)) for _, s in batch]
        if lane.alone:  # its one file is read: let the process go
            lane.proc.leave()
            lane.proc = None
            self._alone.remove(lane)
        return [(tag, s, r) for (tag, s), r in zip(batch, results, strict=True)]

    def _recover(self, lane: _Lane) -> list[Done]:
        """A worker died, and with it every batch out in its lane (each reply it wrote has
        been read: its pipe is at its end). The file it was reading is read again alone in
        a fresh process, or, if that was its second reader, reported; the rest of its
        batches go to a new worker in the lane, in their order."""
        proc = lane.proc
        assert proc is not None
        at = proc.reading()
        code = proc.ended()
        self.deaths[code] += 1
        lost = list(lane.queue)
        lane.queue.clear()
        lane.proc, lane.sent, lane.out = None, 0, 0
        done: list[Done] = []
        if at is not None and lost and at < len(lost[0]):
            suspect = lost[0][at]
            lost[0] = lost[0][:at] + lost[0][at + 1 :]
            if lane.alone:
                tag, source = suspect
                done.append((tag, source, _crashed(source, code)))
                self.crashed += 1
            else:
                self._read_alone(suspect)
        else:
            self._barren += 1
        if lane.alone:
            self._alone.remove(lane)
        for batch in lost:
            if not batch:
                continue
            if self._barren >= BARREN_DEATHS:
                reason = f"not scanned: worker processes kept dying ({_cause(code)})"
                done.extend((tag, source, _failed(source, reason)) for tag, source in batch)
                self.unread += len(batch)
            elif lane.alone:
                self._read_alone(batch[0])  # it died before it began: once more
            else:
                self._put(lane, batch)
        return done

    def _read_alone(self, item: tuple[object, Source]) -> None:
        lane = _Lane(alone=True)
        self._alone.append(lane)
        self._put(lane, [item])

def _failed(source: Source, reason: str) -> FileResult:
    result = FileResult(path=source.origin.path, bytes=source.size)
    result.errors.append(ScanError(source.origin.path, source.origin.member, reason))
    return result


def _crashed(source: Source, code: int) -> FileResult:
    """The verdict on a file whose reader died twice. It depends on the content (and on
    this mfaleaks: the cache's key): with the file's digest, --cache keeps it for the
    content, as a worker's own result would be kept."""
    result = _failed(source, f"{READER_CRASHED} ({_cause(code)})")
    if contents.small(source):  # (a bigger one was hashed by the planner already)
        result.digest = _digest(source)
    return result


def _digest(source: Source) -> bytes | None:
    assert source.fs_path is not None
    data = contents.read_whole(source.fs_path, source.size, source.identity)
    return hashlib.sha256(data).digest() if data is not None else None


def _cause(code: int, named: bool = False) -> str:
    """An exit code as people say it: "signal 9" (named: "signal 9 (SIGKILL)"),
    "exit status 1"."""
    if code >= 0:
        return f"exit status {code}"
    if named:
        with contextlib.suppress(ValueError):
            return f"signal {-code} ({signal.Signals(-code).name})"
    return f"signal {-code}"
