"""A worker process that dies mid-scan (issue 19): the real CLI, real worker processes,
real signals. Every file is still scanned or named in the errors, the report says
that workers died and how, and with --cache a file that crashes its reader is not
read again.

The readers that crash or wait to be killed come from tests/crash_markers.py,
which the scanning process preloads in its fork server (nothing in mfaleaks
knows of it). Nothing here is timed: the timeouts only guard against a hang.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import crash_markers
from hostile_cli import Run, finish, run, start
from sample_codes import DISCORD, GITHUB, GOOGLE

GUARD = 300.0  # seconds: a scan still running then is a hang


def _tree(root: Path) -> None:
    """~600 small files in three folders, codes in a few of them, sizes spread so that
    both lanes get batches."""
    rng = random.Random(19)
    words = ["meeting", "budget", "notes", "agenda", "server", "backup", "deploy", "review"]
    for folder in ("a", "m", "z"):
        for i in range(200):
            lines = [" ".join(rng.choices(words, k=8)) for _ in range(rng.randrange(1, 60))]
            path = root / folder / f"notes-{i:03d}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(lines) + "\n")
    (root / "a" / "github-recovery-codes.txt").write_text("\n".join(GITHUB) + "\n")
    (root / "m" / "Backup-codes-jdoe.txt").write_text(
        "Google backup codes\n" + "\n".join(GOOGLE) + "\n")
    (root / "z" / "discord_backup_codes.txt").write_text(
        "Discord backup codes\n" + "\n".join(DISCORD) + "\n")


def _scan(work: Path, tree: Path, *extra: str, prelude: str = "") -> Run:
    res = run(["scan", "--format", "json", "--jobs", "2", "-o", "report.json", *extra, str(tree)],
              work, timeout=GUARD, prelude=prelude)
    assert not res.hung
    return res


def _report(work: Path) -> dict[str, Any]:
    return json.loads((work / "report.json").read_text())  # type: ignore[no-any-return]


def _found(report: dict[str, Any]) -> list[tuple[Any, ...]]:
    return sorted((f["path"], f["member"], f["line"], f["rule_id"], f["fingerprint"])
                  for f in report["findings"])


def _worker_notices(report: dict[str, Any]) -> list[str]:
    return [n for n in report["notices"] if n.startswith("workers:")]


def test_a_worker_killed_mid_batch_loses_nothing(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    _tree(tree)
    rendezvous = tmp_path / "held"
    rendezvous.mkdir()
    # In the middle of a folder: the batch it is in holds files before and after it.
    (tree / "m" / "notes-100-held.txt").write_bytes(
        crash_markers.HOLD + str(rendezvous).encode() + b"\nplain notes\n")
    undisturbed = _scan(tmp_path / "undisturbed", tree)
    assert undisturbed.code == 1, undisturbed.stderr
    expected = _report(tmp_path / "undisturbed")
    assert len(expected["findings"]) == 3 and not expected["errors"]

    child = start(["scan", "--format", "json", "--jobs", "2", "-o", "report.json", str(tree)],
                  tmp_path / "killed", prelude=crash_markers.PRELUDE, measure=False)
    deadline = time.monotonic() + GUARD
    while not (held := list(rendezvous.iterdir())) and time.monotonic() < deadline:
        assert child.proc.poll() is None, "the scan ended before a worker reached the file"
        time.sleep(0.02)
    assert held, "no worker reached the held file"
    os.kill(int(held[0].name.split(".")[0]), signal.SIGKILL)
    res = finish(child, GUARD)
    assert not res.hung and res.code == 1, res.stderr
    report = _report(tmp_path / "killed")
    assert _found(report) == _found(expected)
    assert report["errors"] == []
    assert report["stats"]["files"] == expected["stats"]["files"] == 604
    assert report["incomplete"] is False
    (notice,) = _worker_notices(report)
    assert "1 worker process(es) died" in notice and "1 by signal 9 (SIGKILL)" in notice
    assert notice in res.stderr.decode()


def test_a_file_that_crashes_every_reader_is_named_and_the_rest_scanned(
    tmp_path: Path,
) -> None:
    tree = tmp_path / "tree"
    _tree(tree)
    crasher = tree / "m" / "notes-100-crash.txt"
    crasher.write_bytes(b"plain notes\n" + crash_markers.ABORT + b"\n")
    undisturbed = _scan(tmp_path / "undisturbed", tree)
    expected = _report(tmp_path / "undisturbed")
    assert undisturbed.code == 1 and len(expected["findings"]) == 3 and not expected["errors"]

    cache = tmp_path / "scan.cache"
    first = _scan(tmp_path / "first", tree, "--cache", str(cache),
                  prelude=crash_markers.PRELUDE)
    assert first.code == 1, first.stderr
    report = _report(tmp_path / "first")
    assert _found(report) == _found(expected)
    assert [(e["path"], e["reason"]) for e in report["errors"]] == [
        (str(crasher), "the reader crashed on this file (signal 6)")]
    assert report["stats"]["files"] == expected["stats"]["files"]
    assert report["incomplete"] is False  # every file was read or is named in the errors
    notices = _worker_notices(report)
    assert "2 worker process(es) died" in notices[0] and "2 by signal 6 (SIGABRT)" in notices[0]
    assert "1 file(s) crashed their reader twice" in notices[1]
    assert all(n in first.stderr.decode() for n in notices)

    # The verdict is kept for the content: neither the same file nor a copy of it under
    # the same name elsewhere is read again (no reader dies).
    second = _scan(tmp_path / "second", tree, "--cache", str(cache),
                   prelude=crash_markers.PRELUDE)
    again = _report(tmp_path / "second")
    assert second.code == 1 and not _worker_notices(again) and b"worker" not in second.stderr
    assert again["errors"] == report["errors"] and _found(again) == _found(expected)
    copy = tree / "z" / crasher.name
    copy.write_bytes(crasher.read_bytes())
    third = _scan(tmp_path / "third", tree, "--cache", str(cache),
                  prelude=crash_markers.PRELUDE)
    with_copy = _report(tmp_path / "third")
    assert third.code == 1 and not _worker_notices(with_copy)
    assert [(e["path"], e["reason"]) for e in with_copy["errors"]] == [
        (str(crasher), "the reader crashed on this file (signal 6)"),
        (str(copy), "the reader crashed on this file (signal 6)")]

    # A newer mfaleaks (another key for the cache) tries the file again.
    newer = "import mfaleaks\nmfaleaks.__version__ = '99.0'\n" + crash_markers.PRELUDE
    fourth = _scan(tmp_path / "fourth", tree, "--cache", str(cache), prelude=newer)
    retried = _report(tmp_path / "fourth")
    assert fourth.code == 1 and retried["tool"]["version"] == "99.0"
    assert "4 by signal 6 (SIGABRT)" in _worker_notices(retried)[0]  # the file and its copy
    assert retried["errors"] == with_copy["errors"]


# The listing child (sources/listing.py) is forked from the scanning process: a patch made
# there before the walk reaches it. It dies by SIGKILL after its first few records.
DYING_LISTER = """
import os, signal
from mfaleaks.sources import listing
_main, _listings = os.getpid(), listing.listings
def _dying(top, opts, seen, **kw):
    for n, record in enumerate(_listings(top, opts, seen, **kw)):
        if n == 4 and os.getpid() != _main:
            os.kill(os.getpid(), signal.SIGKILL)
        yield record
listing.listings = _dying
"""


def test_a_listing_process_that_dies_loses_nothing(tmp_path: Path) -> None:
    """The process that lists folders, SIGKILLed after its first records: this process
    lists the rest, and the scan covers the whole tree."""
    tree = tmp_path / "tree"
    _tree(tree)
    _scan(tmp_path / "undisturbed", tree)
    expected = _report(tmp_path / "undisturbed")
    res = _scan(tmp_path / "run", tree, prelude=DYING_LISTER)
    report = _report(tmp_path / "run")
    assert res.code == 1, res.stderr
    assert report["stats"]["files"] == expected["stats"]["files"] == 603
    assert _found(report) == _found(expected) and len(expected["findings"]) == 3
    assert report["errors"] == [] and report["incomplete"] is False


def test_one_cpu_still_reads_in_a_worker_process(tmp_path: Path) -> None:
    """On a machine (or a taskset, a container's cpuset) of one CPU, a scan without --jobs
    reads in one worker process: a reader that crashes on a file ends that process, not
    the scan. Asked for, --jobs 1 reads in the scan's own process (the pre-commit hook:
    it starts faster) and a crash ends the scan."""
    tree = tmp_path / "tree"
    _tree(tree)
    crasher = tree / "m" / "notes-100-crash.txt"
    crasher.write_bytes(b"plain notes\n" + crash_markers.ABORT + b"\n")

    def one_cpu() -> None:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    res = run(["scan", "--format", "json", "-o", "report.json", str(tree)], tmp_path / "one",
              timeout=GUARD, prelude=crash_markers.PRELUDE, preexec=one_cpu)
    assert not res.hung and res.code == 1, res.stderr
    report = _report(tmp_path / "one")
    assert [f["rule_id"] for f in report["findings"]] and len(report["findings"]) == 3
    assert [(e["path"], e["reason"]) for e in report["errors"]] == [
        (str(crasher), "the reader crashed on this file (signal 6)")]
    assert report["incomplete"] is False

    asked = run(["scan", "--format", "json", "--jobs", "1", "-o", "report.json", str(tree)],
                tmp_path / "asked", timeout=GUARD, prelude=crash_markers.PRELUDE_IN_PROCESS,
                preexec=one_cpu)
    assert not asked.hung and asked.code in (-signal.SIGABRT, 128 + signal.SIGABRT), asked.stderr
