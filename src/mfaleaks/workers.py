"""The process pool: each worker builds the rule engine once, then scans whole
files (with everything inside them) and streams FileResults back.

No per-file process start-up; SIGINT is left to the parent, which stops the
pool and still writes the report of what was scanned.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
from collections.abc import Iterable, Iterator
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


def _init(spec: EngineSpec) -> None:
    global _engine, _limits
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _engine = spec.build()
    _limits = spec.limits


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise FileTimeout


def scan_one(source: Source) -> FileResult:
    assert _engine is not None and _limits is not None
    return timed_scan(source, _engine, _limits)


def timed_scan(source: Source, engine: Engine, limits: Limits) -> FileResult:
    """scan_source under a wall-clock limit, so one pathological file cannot hang a scan."""
    use_alarm = limits.parse_timeout > 0 and hasattr(signal, "setitimer")
    budget = limits.parse_timeout + source.size / 1e6
    if use_alarm:
        previous = signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, budget)
    try:
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


def run(sources: Iterable[Source], spec: EngineSpec, jobs: int) -> Iterator[FileResult]:
    """Scan sources with `jobs` processes (1: in this process), yielding as they finish."""
    if jobs <= 1:
        engine = spec.build()
        for source in sources:
            yield timed_scan(source, engine, spec.limits)
        return
    ctx = mp.get_context("forkserver" if hasattr(os, "fork") else "spawn")
    pool = ctx.Pool(jobs, initializer=_init, initargs=(spec,), maxtasksperchild=2000)
    try:
        yield from pool.imap_unordered(scan_one, sources, chunksize=4)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
