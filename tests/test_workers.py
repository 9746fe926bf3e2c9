"""The worker pool (run/pool.py, workerproc.py, frames.py) with real worker processes:
replies in order, workers that die, recycled workers, and the wire format."""

from __future__ import annotations

import contextlib
import os
import signal
import threading

import pytest

from mfaleaks import frames
from mfaleaks.config import ScanConfig
from mfaleaks.models import Origin, Source
from mfaleaks.run import pool as workers
from mfaleaks.run.pool import Workers
from mfaleaks.run.scan import engine_spec
from mfaleaks.run.spec import EngineSpec
from mfaleaks.run.workerproc import WorkerProcess
from sample_codes import GITHUB


def _note(i: int, text: str = "") -> Source:
    data = (text or f"meeting notes {i}\n").encode()
    return Source(Origin(f"m{i}.txt"), name=f"m{i}.txt", data=data, size=len(data))


def _spec() -> EngineSpec:
    return engine_spec(ScanConfig(paths=(), jobs=2))


def test_every_source_comes_back_once_with_its_own_result() -> None:
    codes = "\n".join(GITHUB)
    with Workers(_spec(), jobs=2) as pool:
        done = []
        for i in range(500):
            text = f"GitHub recovery codes\n{codes}\n" if i % 100 == 7 else ""
            done.extend(pool.submit(_note(i, text), tag=i))
        done.extend(pool.finish())
    assert sorted(tag for tag, _, _ in done) == list(range(500))  # type: ignore[type-var]
    for tag, source, result in done:
        assert result.path == source.origin.path == f"m{tag}.txt"
        assert bool(result.findings) == (tag % 100 == 7), (tag, result.findings)
        assert not result.errors


def test_a_killed_worker_s_files_are_read_again_in_a_new_one() -> None:
    codes = "\n".join(GITHUB)
    with Workers(_spec(), jobs=2) as pool:
        done = pool.submit(_note(0, f"GitHub recovery codes\n{codes}\n"), tag=0)
        # The first file leaves at once, to a process that is still starting: killed
        # before it can answer (after would be fine too: its reply is read first).
        (victim,) = [lane.proc for lane in pool._lanes if lane.proc is not None]
        os.kill(victim.process.pid, signal.SIGKILL)
        for i in range(1, 40):
            done.extend(pool.submit(_note(i, f"GitHub recovery codes\n{codes}\n"), tag=i))
        done.extend(pool.finish())
        assert all(lane.proc is not victim for lane in pool._lanes)
    assert sorted(tag for tag, _, _ in done) == list(range(40))  # type: ignore[type-var]
    assert all(result.findings and not result.errors for _, _, result in done)


class _Doomed(WorkerProcess):
    """A real worker process, killed as soon as it is given work."""

    def send(self, batch: list[Source]) -> None:
        super().send(batch)
        with contextlib.suppress(ProcessLookupError):  # killed at its first batch already
            os.kill(self.process.pid, signal.SIGKILL)


def test_workers_that_die_before_reading_anything_end_in_errors_not_a_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Killed as soon as they are given work, before any file: no file to blame, so the
    batch is sent again, and after BARREN_DEATHS such deaths its files are reported."""
    monkeypatch.setattr(workers, "WorkerProcess", _Doomed)
    with Workers(_spec(), jobs=2) as pool:
        done = []
        for i in range(5):
            done.extend(pool.submit(_note(i), tag=i))
        done.extend(pool.finish())
    assert sorted(tag for tag, _, _ in done) == list(range(5))  # type: ignore[type-var]
    for _, _, result in done:
        assert [e.reason for e in result.errors] == [
            "not scanned: worker processes kept dying (signal 9)"]
    assert pool.unread == 5 and pool.deaths[-signal.SIGKILL] >= workers.BARREN_DEATHS
    assert "kept dying" in pool.notices()[-1]


def test_workers_are_recycled_after_their_share_of_batches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(workers, "RECYCLE_BATCHES", 3)
    monkeypatch.setattr(workers, "BATCH_FILES", 4)
    pids = set()
    with Workers(_spec(), jobs=2) as pool:
        done = []
        for i in range(200):
            done.extend(pool.submit(_note(i), tag=i))
            pids.update(lane.proc.process.pid for lane in pool._lanes if lane.proc)
        done.extend(pool.finish())
    assert sorted(tag for tag, _, _ in done) == list(range(200))  # type: ignore[type-var]
    assert len(pids) >= 200 // 4 // 3 // 2  # a new process every 3 batches (per lane)
    assert all(not result.errors for _, _, result in done)


def test_frames_cross_a_pipe_whole_whatever_their_size() -> None:
    r, w = os.pipe()
    payloads = [b"", b"x", os.urandom(3 * 1024 * 1024 + 7), b"end"]
    box = frames.Outbox(w)

    def writer() -> None:  # a non-blocking writer: flush until the reader took it all
        for p in payloads:
            box.put(p)
        while box.pending:
            box.flush()
        os.close(w)

    thread = threading.Thread(target=writer)
    thread.start()
    got = []
    while (frame := frames.read_frame(r)) is not None:
        got.append(bytes(frame))
    thread.join()
    os.close(r)
    assert got == payloads


def test_a_frame_cut_short_is_an_error_not_a_message() -> None:
    r, w = os.pipe()
    os.write(w, (100).to_bytes(8, "big") + b"only ten b")
    os.close(w)
    with pytest.raises(EOFError):
        frames.read_frame(r)
    os.close(r)


def test_workers_let_go_at_the_end_leave_by_themselves() -> None:
    """close() does not wait for the workers (that cost every scan ~4 ms a worker): the
    end of its inbox is a worker's cue to leave, and it does."""
    import time

    pool = Workers(_spec(), jobs=2)
    done = [d for i in range(200) for d in pool.submit(_note(i), tag=i)]
    done.extend(pool.finish())
    procs = [lane.proc.process for lane in pool._lanes if lane.proc is not None]
    assert len(procs) == 2 and all(p.is_alive() for p in procs)
    pool.close()
    deadline = time.monotonic() + 10
    while any(p.is_alive() for p in procs) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(p.is_alive() for p in procs)
    assert [p.exitcode for p in procs] == [0, 0]  # left, not killed
    assert len(done) == 200


def _own_handler(signum: int, frame: object) -> None:
    raise AssertionError("the test's SIGALRM handler ran")


@pytest.mark.parametrize("how", ["close", "terminate"])
def test_a_scan_in_this_process_puts_the_alarm_handler_back(how: str) -> None:
    from mfaleaks.run import scanjob

    before = signal.signal(signal.SIGALRM, _own_handler)
    try:
        pool = Workers(_spec(), jobs=1)
        # Installed once for the whole scan, not swapped per file.
        assert signal.getsignal(signal.SIGALRM) is scanjob._on_alarm
        done = [d for i in range(3) for d in pool.submit(_note(i), tag=i)]
        assert len(done) == 3 and signal.getsignal(signal.SIGALRM) is scanjob._on_alarm
        getattr(pool, how)()
        assert signal.getsignal(signal.SIGALRM) is _own_handler
    finally:
        signal.signal(signal.SIGALRM, before)


def test_a_file_over_its_time_limit_is_reported_in_this_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time
    from dataclasses import replace

    from mfaleaks.run import scanjob

    real = scanjob.scan_source

    def slow(source: Source, *args: object) -> object:
        if source.name == "m1.txt":
            time.sleep(5)  # the alarm interrupts it
        return real(source, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(scanjob, "scan_source", slow)
    spec = _spec()
    spec = replace(spec, limits=replace(spec.limits, parse_timeout=0.2))
    with Workers(spec, jobs=1) as pool:
        done = {tag: result for i in range(3) for tag, _, result in pool.submit(_note(i), tag=i)}
    assert [e.reason for e in done[1].errors] == [
        "time limit reached (0 s for this file); not fully scanned"]
    assert not done[0].errors and not done[2].errors


def test_a_stopped_worker_does_not_hold_up_the_others() -> None:
    """Batches of a worker at its window go to one with room (the parent used to wait for
    the busy one while the others, done with what they had, sat idle)."""
    with Workers(_spec(), jobs=2) as pool:
        i, done = 0, []
        while not all(lane.proc for lane in pool._lanes):  # both workers running
            done.extend(pool.submit(_note(i), tag=i))
            i += 1
        done.extend(pool.finish())
        stopped = pool._lanes[0].proc
        assert stopped is not None
        os.kill(stopped.process.pid, signal.SIGSTOP)
        previous = signal.signal(signal.SIGALRM, _timed_out)
        signal.alarm(30)
        try:
            start, count = len(done), workers.BATCH_FILES * pool.window * 6
            for k in range(i, i + count):
                done.extend(pool.submit(_note(k), tag=k))
            got = len(done) - start  # while one worker is stopped
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
            os.kill(stopped.process.pid, signal.SIGCONT)
        # Only what the stopped one holds (its window and a batch being filled) waits,
        # besides the other's batches still out.
        assert got >= count - pool.jobs * (pool.window + 1) * workers.BATCH_FILES
        done.extend(pool.finish())
    assert sorted(tag for tag, _, _ in done) == list(range(i + count))  # type: ignore[type-var]


def _timed_out(signum: int, frame: object) -> None:
    raise AssertionError("submit waited for the stopped worker")


def test_a_file_scanned_outside_a_scan_gets_the_handler_for_itself_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time
    from dataclasses import replace

    from mfaleaks.run import scanjob

    monkeypatch.setattr(scanjob, "scan_source", lambda *a: time.sleep(5))
    spec = _spec()
    limits = replace(spec.limits, parse_timeout=0.2)
    before = signal.signal(signal.SIGALRM, _own_handler)
    try:
        result = scanjob.timed_scan(_note(0), spec.build(), limits)
        assert signal.getsignal(signal.SIGALRM) is _own_handler
    finally:
        signal.signal(signal.SIGALRM, before)
    assert [e.reason for e in result.errors] == [
        "time limit reached (0 s for this file); not fully scanned"]
