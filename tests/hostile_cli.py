"""Run the real CLI in a child process and measure it: exit code, output, wall
time and peak RSS (os.wait4's rusage: the child and every process it waited
for, e.g. tesseract). Used by the hostile-input tests.

The child starts with default SIGINT handling even when the tests run as a
background job (which inherits SIGINT ignored), so Ctrl-C tests mean something.
A run that outlives its `timeout` is a hang: its whole process group is killed
and the run reports `hung=True`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BOOT = (
    "import signal, sys\n"
    "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    "sys.argv[0] = 'mfaleaks'\n"
    "{prelude}\n"
    "from mfaleaks.cli.command import entry\n"
    "entry()\n"
)

# Peak RSS is measured by a small parent of the scanner: Linux counts the memory of a
# process before exec in its ru_maxrss, so a scanner forked straight from a big pytest
# would report pytest's size. The wrapper reports RUSAGE_CHILDREN after the scanner ends.
MEASURE = (
    "import os, resource, sys\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    os.execv(sys.argv[2], sys.argv[2:])\n"
    "_, status = os.waitpid(pid, 0)\n"
    "with open(sys.argv[1], 'w') as fh:\n"
    "    fh.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "code = os.waitstatus_to_exitcode(status)\n"
    "sys.exit(code if code >= 0 else 128 - code)\n"
)


@dataclass
class Run:
    code: int
    stdout: bytes
    stderr: bytes
    seconds: float
    peak_rss_mb: float
    hung: bool
    measured: bool = True

    @property
    def report(self) -> dict[str, Any]:
        import json

        return json.loads(self.stdout)  # type: ignore[no-any-return]

    def summary(self, name: str) -> str:
        rss = f"peak RSS {self.peak_rss_mb:.0f} MB" if self.measured else "RSS not measured"
        return f"hostile {name}: exit {self.code}, {self.seconds:.2f} s, {rss}"


def command(args: Sequence[str], prelude: str = "") -> list[str]:
    return [sys.executable, "-c", BOOT.format(prelude=prelude), *args]


def start(args: Sequence[str], out_dir: Path, *, prelude: str = "",
          preexec: Callable[[], None] | None = None,
          env: dict[str, str] | None = None, measure: bool = True) -> Started:
    """Start the CLI; stdout and stderr go to files (a pipe could fill and block it).

    measure=False starts the scanner itself (its pid is the one to signal); otherwise
    a small wrapper process runs it and records its peak RSS.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    rss = out_dir.parent / f".{out_dir.name}.peak-rss"
    rss.unlink(missing_ok=True)
    cmd = command(args, prelude)
    if measure:
        cmd = [sys.executable, "-c", MEASURE, str(rss), *cmd]
    stdout, stderr = out_dir / "stdout", out_dir / "stderr"
    child_env = dict(os.environ if env is None else env)
    child_env.setdefault("OMP_THREAD_LIMIT", "1")
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=out_dir, env=child_env,
                                start_new_session=True, preexec_fn=preexec)
    return Started(proc, stdout, stderr, time.perf_counter(), rss if measure else None)


@dataclass
class Started:
    proc: subprocess.Popen[bytes]  # kept so that subprocess never reaps the child itself
    stdout: Path
    stderr: Path
    started: float
    rss_file: Path | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid


def finish(child: Started, timeout: float, reap_group: bool = True) -> Run:
    """Wait for the child (polling wait4 so its rusage is ours), killing it on timeout."""
    pid, started = child.pid, child.started
    deadline = started + timeout
    hung = False
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            break
        if time.perf_counter() > deadline:
            hung = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            _, status, usage = os.wait4(pid, 0)
            break
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    child.proc.returncode = code
    if reap_group:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)  # workers or a forkserver left behind
    peak = usage.ru_maxrss  # KiB; an upper bound (see MEASURE) when not measured
    if child.rss_file is not None and child.rss_file.exists():
        peak = int(child.rss_file.read_text() or peak)
    return Run(code, child.stdout.read_bytes(), child.stderr.read_bytes(), seconds,
               peak / 1024, hung, child.rss_file is not None)


def run(args: Sequence[str], out_dir: Path, *, timeout: float = 120.0, prelude: str = "",
        preexec: Callable[[], None] | None = None) -> Run:
    return finish(start(args, out_dir, prelude=prelude, preexec=preexec), timeout)


def group_members(pgid: int) -> list[int]:
    """Live processes in a process group (Linux /proc), zombies excluded."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry))
    return found
