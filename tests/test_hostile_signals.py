"""Ctrl-C and SIGTERM stop a scan cleanly, and exit codes keep their meaning under
errors (issue 8; the core's contract: 0 nothing found, 1 found, 2 usage/config,
130 interrupted before anything was found).

The interrupt tests start the real CLI from Python with default signal handling
on a tree that takes at least 40 s to scan (dense code-like text whose reader,
loaded from tests/crashing_reader.py, takes a second per file), send the signal
once a reader is inside that slow part, and expect: the process ends within
STOP_BOUND seconds, the report of what was scanned is written (to -o) and says
`"incomplete": true`, exit 1 when the codes planted first were already found,
130 otherwise. Waiting for the reader, not for a time, keeps the tests right on
a loaded machine and however fast detection becomes.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import time
from pathlib import Path

import pytest

import crash_markers
import gen_hostile as gen
from hostile_cli import Run, Started, finish, group_members, run, start

STOP_BOUND = 20.0  # seconds from the signal to the end of the process (hang guard)


GUARD = 60.0  # seconds to wait for a reader to reach the slow files (a hang guard)


def slow_tree(root: Path, canary: bool) -> list[str]:
    """a-canary/ (scanned first) and b-slow/: 40 distinct files of dense code-like text,
    each read slowly (crash_markers.SLOW); the readers leave their marks in marks/."""
    codes = gen.plant_canary(root / "a-canary", random.Random(5)) if canary else []
    slow = root / "b-slow"
    slow.mkdir(parents=True)
    marks = root.parent / f"{root.name}-marks"
    marks.mkdir()
    rng = random.Random(6)
    for i in range(40):
        parts = [(crash_markers.SLOW + str(marks).encode()).decode() + "\n"]
        for n in range(2000):
            if canary:
                parts.append(f"recovery codes {rng.randrange(10**4):04d} "
                             f"{rng.randrange(10**4):04d} "
                             f"{rng.getrandbits(20):05x}-{rng.getrandbits(20):05x}\n")
            else:  # as costly to score, but ascending numbers: never a finding
                parts.append(f"recovery codes {20_000_000 + i * 10_000 + n:08d}\n")
        (slow / f"notes-{i:02d}.txt").write_text("".join(parts))
    return codes


def start_in_slow_part(args: list[str], root: Path, work: Path) -> Started:
    """Start the CLI on a slow tree; return once a reader has reached its slow files."""
    marks = root.parent / f"{root.name}-marks"
    before = set(marks.iterdir())
    child = start(args, work, measure=False, prelude=crash_markers.PRELUDE_IN_PROCESS)
    deadline = time.perf_counter() + GUARD
    while set(marks.iterdir()) == before and time.perf_counter() < deadline:
        assert child.proc.poll() is None, "the scan ended before a reader reached a slow file"
        time.sleep(0.02)
    assert set(marks.iterdir()) != before, "no reader reached the slow files"
    return child


def interrupted(root: Path, work: Path, sig: int, jobs: str,
                left: list[int] | None = None) -> tuple[Run, dict[str, object]]:
    child = start_in_slow_part(["scan", "--format", "json", "--jobs", jobs, "--quiet",
                                "-o", "report.json", str(root)], root, work)
    sent = time.perf_counter()
    os.kill(child.pid, sig)
    res = finish(child, STOP_BOUND + 1.5, reap_group=left is None)
    if left is not None:  # processes of the scan still alive a few seconds later
        deadline = time.perf_counter() + 5
        while group_members(child.pid) and time.perf_counter() < deadline:
            time.sleep(0.1)
        left += group_members(child.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
    print(f"{res.summary(f'signal {sig} with -j{jobs}')}; "
          f"stopped {time.perf_counter() - sent:.2f} s after the signal")
    assert not res.hung, f"the scan did not stop within {STOP_BOUND} s of the signal"
    assert b"Traceback" not in res.stderr, res.stderr.decode(errors="replace")[-2000:]
    report = json.loads((work / "report.json").read_text())
    assert report["incomplete"] is True
    assert any("interrupted" in n for n in report["notices"])
    assert report["stats"]["files"] < 41, "the scan was not interrupted: make the tree slower"
    return res, report


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("slow")
    with_codes, without = base / "with-codes", base / "without"
    slow_tree(with_codes, canary=True)
    slow_tree(without, canary=False)
    return with_codes, without


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_after_findings_exits_1_with_partial_report(
        trees: tuple[Path, Path], tmp_path: Path, sig: int) -> None:
    res, report = interrupted(trees[0], tmp_path, sig, "1")
    assert res.code == 1
    findings = report["findings"]
    assert isinstance(findings, list)
    assert any(f["path"].endswith("a-canary/github-recovery-codes.txt") for f in findings)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_before_findings_exits_130(
        trees: tuple[Path, Path], tmp_path: Path, sig: int) -> None:
    res, report = interrupted(trees[1], tmp_path, sig, "1")
    assert report["findings"] == []
    assert res.code == 130


def test_interrupt_with_workers_stops_them(trees: tuple[Path, Path], tmp_path: Path) -> None:
    """With two worker processes the parent stops them and still writes the report; no
    process of the scan is left behind."""
    left: list[int] = []
    res, report = interrupted(trees[0], tmp_path, signal.SIGINT, "2", left)
    assert res.code in (1, 130)
    assert not left, f"processes of the scan still running: {left}"
    assert (res.code == 1) == bool(report["findings"])


def test_baseline_is_not_written_when_interrupted(trees: tuple[Path, Path],
                                                  tmp_path: Path) -> None:
    child = start_in_slow_part(["baseline", "create", "baseline.json", "--jobs", "1",
                                "--quiet", str(trees[0])], trees[0], tmp_path)
    os.kill(child.pid, signal.SIGTERM)
    res = finish(child, STOP_BOUND)
    assert not res.hung and res.code == 130
    assert not (tmp_path / "baseline.json").exists()


# -- exit codes under errors -----------------------------------------------------------------


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Bad inputs only (no codes): damaged files, bombs, a FIFO, a dangling link."""
    root = tmp_path_factory.mktemp("broken") / "tree"
    root.mkdir()
    (root / "truncated.zip").write_bytes(gen.cut(gen.zip_of({"a.txt": b"x" * 9000}), 0.5))
    (root / "garbage.pdf").write_bytes(b"%PDF-1.7\n" + random.Random(1).randbytes(3000))
    (root / "overlap.zip").write_bytes(gen.overlapping_zip(20, 20))
    (root / "huge.jpg").write_bytes(gen.huge_jpeg_header())
    os.mkfifo(root / "fifo")
    os.symlink("nowhere", root / "dangling")
    return root


def scan_code(tmp_path: Path, *args: str) -> Run:
    res = run(["scan", "--jobs", "1", "--quiet", *args], tmp_path, timeout=120)
    assert not res.hung and b"Traceback" not in res.stderr, res.stderr.decode(errors="replace")
    return res


def test_errors_alone_exit_0(broken: Path, tmp_path: Path) -> None:
    res = scan_code(tmp_path, "--format", "json", str(broken))
    assert res.code == 0
    assert len(res.report["errors"]) >= 6


def test_errors_and_findings_exit_1_and_exit_zero_exits_0(broken: Path, tmp_path: Path) -> None:
    gen.plant_canary(tmp_path / "canary", random.Random(9))
    assert scan_code(tmp_path / "a", str(broken), str(tmp_path / "canary")).code == 1
    res = scan_code(tmp_path / "b", "--exit-zero", str(broken), str(tmp_path / "canary"))
    assert res.code == 0


def test_a_missing_path_is_a_usage_error_not_a_clean_scan(tmp_path: Path) -> None:
    """A mistyped PATH must not pass a CI job as "nothing found"."""
    res = scan_code(tmp_path, "--format", "json", str(tmp_path / "no-such-folder"))
    assert res.code == 2


@pytest.mark.parametrize("case", ["report-dir-missing", "bad-rules", "bad-baseline",
                                  "unknown-option", "bad-size"])
def test_usage_and_config_errors_exit_2_with_a_message(broken: Path, tmp_path: Path,
                                                      case: str) -> None:
    """An unwritable report used to end in a traceback and exit 1 (read as "found")."""
    bad_rules = tmp_path / "bad.toml"
    bad_rules.write_text("[[rules]]\nid = 'x'\nshapes = 'not a list'\n")
    bad_baseline = tmp_path / "baseline.json"
    bad_baseline.write_text("{")
    args = {
        "report-dir-missing": ["-o", str(tmp_path / "missing" / "report.json")],
        "bad-rules": ["--rules", str(bad_rules)],
        "bad-baseline": ["--baseline", str(bad_baseline)],
        "unknown-option": ["--no-such-option"],
        "bad-size": ["--max-file-size", "lots"],
    }[case]
    res = scan_code(tmp_path / "out", *args, str(broken))
    assert res.code == 2, (res.code, res.stderr)
    assert res.stderr.strip(), "a usage error says what is wrong"
    lines = res.stderr.decode().strip().splitlines()
    assert len(lines) <= 5 and lines[-1].startswith(("mfaleaks:", "Error:")), lines
