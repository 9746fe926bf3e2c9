"""What a worker process runs: its rule engine, built once, and the scan of a batch
of files under a time limit each.

The fork server preloads this module (forkstart.py) so that every worker
starts with it imported; the main process never imports it unless it scans
in-process (--jobs 1), which keeps the matching libraries out of its start-up.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator, MutableSequence
from types import FrameType
from typing import TYPE_CHECKING

from mfaleaks.cache import contents
from mfaleaks.detect.score import Engine
from mfaleaks.extract.base import Limits
from mfaleaks.images import ocrshare
from mfaleaks.models import FileResult, ScanError, Source
from mfaleaks.run import heap
from mfaleaks.run.pipeline import scan_source
from mfaleaks.run.spec import EngineSpec

if TYPE_CHECKING:
    from mfaleaks.sources.smb.worker import SmbAccess, WorkerShares

# Tesseract's OpenMP threads oversubscribe small machines; we parallelise with
# processes instead (ENGINEERING.md: 1.76 s -> 0.41 s per screenshot).
os.environ.setdefault("OMP_THREAD_LIMIT", "1")


class FileTimeout(BaseException):
    """BaseException so that extractors' `except Exception` cannot swallow it."""


_engine: Engine | None = None
_limits: Limits | None = None
_shares: WorkerShares | None = None  # this worker's SMB sessions, when the scan has shares


BIG_FILE = 32 * 1024 * 1024  # from this size on, a file is read with bounded_malloc on
@contextlib.contextmanager
def bounded_malloc() -> Iterator[None]:
    """Keep a big file's blocks out of the heap, so memory stays flat however big it is.

    glibc raises its mmap threshold after a big block is freed, then serves the
    next big blocks (4 MB text blocks, the 12-bytes-per-character buffer of
    str.lower) from a heap that fragments and only shrinks from the top: a
    590 MB text file peaked at 420 MB, a 100 MB one at 228 MB. With a 2 MiB
    threshold both peak at 125 MB, for ~50% more time (fresh pages for every
    block), so only files of BIG_FILE bytes and more are read that way (timed_scan).
    """
    heap.mmap_threshold(2 * 1024 * 1024)
    try:
        yield
    finally:
        heap.mmap_threshold(32 * 1024 * 1024)  # glibc's own ceiling for the dynamic threshold
        heap.release_free_heap()


_alarm_installed = False  # in a worker process the SIGALRM handler stays for good


def init(spec: EngineSpec, smb: SmbAccess | str | None = None) -> None:
    """smb: the account the main process logged on with (or a cluster worker's own), for
    this worker to read the files of shares itself (sources/smb/worker.py); a string: why
    it has none."""
    global _engine, _limits, _alarm_installed, _shares
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "setitimer"):
        signal.signal(signal.SIGALRM, _on_alarm)
        _alarm_installed = True
    # The worker server may have built this engine already (prebuilt.py).
    prebuilt = sys.modules.get("mfaleaks.run.prebuilt")
    engine = prebuilt.engine_for(spec) if prebuilt is not None else None
    _engine = engine if engine is not None else spec.build()
    _limits = spec.limits
    contents.every_digest = spec.digests
    if smb is not None:
        from mfaleaks.sources.smb.worker import WorkerShares

        _shares = WorkerShares(smb)
        _shares.warm()


def idle() -> None:
    """No batch for a while (workerproc.py): SMB sessions back to smbprotocol's keepalive."""
    if _shares is not None:
        _shares.idle()


def done() -> None:
    """The worker's inbox ended: log off its SMB sessions (their receiving threads would
    otherwise keep the process alive)."""
    global _shares
    if _shares is not None:
        _shares.close()
        _shares = None


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise FileTimeout


@contextlib.contextmanager
def alarm_held() -> Iterator[None]:
    """The time-limit handler installed once for a scan in this process (jobs=1), then
    the one before put back: installing it per file cost ~6% of a scan of small files."""
    global _alarm_installed
    if _alarm_installed or not hasattr(signal, "setitimer"):
        yield
        return
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    _alarm_installed = True
    try:
        yield
    finally:
        _alarm_installed = False
        signal.signal(signal.SIGALRM, previous)


def timed_scan(source: Source, engine: Engine, limits: Limits) -> FileResult:
    """scan_source under a wall-clock limit, so one pathological file cannot hang a scan."""
    use_alarm = limits.parse_timeout > 0 and hasattr(signal, "setitimer")
    if use_alarm and not _alarm_installed:
        # Called outside a scan (workers install the handler in init, a scan in this
        # process with alarm_held): the handler for this file only.
        with alarm_held():
            return timed_scan(source, engine, limits)
    budget = limits.parse_timeout + source.size / 1e6
    if use_alarm:
        signal.setitimer(signal.ITIMER_REAL, budget)
    try:
        if source.size < BIG_FILE:
            return scan_source(source, engine, limits)
        with bounded_malloc():
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


def scan_one(
    source: Source, engine: Engine, limits: Limits, may_put_off: bool = False
) -> FileResult:
    """A small file read whole (and its content scanned once per worker), else streamed.
    may_put_off: a small file may raise ocrshare.Busy (a big one waits instead: putting
    it off would throw away minutes of a large mailbox)."""
    ocrshare.may_put_off = may_put_off
    try:
        result = contents.scan_small(source, lambda whole: timed_scan(whole, engine, limits))
    finally:
        ocrshare.may_put_off = False
    return result if result is not None else timed_scan(source, engine, limits)


def scan_batch(
    batch: list[Source], reading: MutableSequence[int] | memoryview | None = None
) -> list[FileResult]:
    """In a worker: several small files per round trip (the parent sends batches). A file
    put off (ocrshare.Busy) comes back as such, for the parent to send again later.
    reading[0]: the place of the file being read, for the parent should this process die
    (workerproc.py); -1 outside files."""
    assert _engine is not None and _limits is not None
    results = []
    if reading is None:
        reading = [-1]
    # Files on shares are read here, a few ahead of the one being scanned.
    items = batch if _shares is None else _shares.read(batch)
    try:
        for at, source in enumerate(items):
            reading[0] = at
            if isinstance(source, FileResult):  # a file on a share that could not be read
                results.append(source)
                continue
            try:
                results.append(scan_one(source, _engine, _limits, may_put_off=True))
            except ocrshare.Busy:
                results.append(FileResult(path=source.origin.path, put_off=True))
    finally:
        reading[0] = -1
    if _shares is not None and (told := _shares.logons()):
        # One result carries the worker's logons to the main process (not one put off:
        # that one is dropped and its file sent again).
        carrier = next((r for r in results if not r.put_off), None)
        if carrier is None:
            _shares.untold(told)
        else:
            carrier.logons = (*carrier.logons, *told)
    return results
