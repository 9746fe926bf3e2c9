"""A worker killed mid-scan (issue 19): what a scan reads and finds, undisturbed and with
one process SIGKILLed, and how long each takes.

Usage: python bench/bench_kill.py [FOLDER] [--size-mb 60] [--jobs 2] [--after 1.5]
                                  [--victim worker|lister] [--rounds 3]

Without FOLDER, builds one under /tmp with bench_text.py's builder (copies of the
standard library's text files, a few planted code files). Each round runs an
undisturbed scan, then one where, --after seconds in, a worker (a child of the fork
server) or the listing child (`mfaleaks scan` in ps, forked by the scanning process)
gets SIGKILL. Prints files, findings, errors, "incomplete", the notices about workers,
and seconds for each; the scans use --min-confidence low, as in the issue. The machine
load (1-minute average) is printed before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_text


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _victim(scan: int, kind: str) -> int | None:
    for child in _children(scan):
        line = _cmdline(child)
        if kind == "worker" and "forkserver" in line:
            workers = [w for w in _children(child) if "forkserver" in _cmdline(w)]
            if workers:
                return workers[0]
        if kind == "lister" and "mfaleaks" in line and "scan" in line:
            return child
    return None


def scan(folder: Path, jobs: int, kill: str | None, after: float) -> dict[str, object]:
    exe = str(Path(sys.executable).with_name("mfaleaks"))
    with tempfile.TemporaryDirectory() as out:
        report = Path(out) / "report.json"
        cmd = [exe, "scan", "-q", "--format", "json", "--jobs", str(jobs), "--min-confidence",
               "low", "-o", str(report), str(folder)]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE)
        killed = None
        if kill is not None:
            time.sleep(after)
            deadline = time.perf_counter() + 5
            while killed is None and proc.poll() is None and time.perf_counter() < deadline:
                killed = _victim(proc.pid, kill)
                time.sleep(0.005)
            if killed is not None:
                os.kill(killed, signal.SIGKILL)
        _, err = proc.communicate()
        seconds = time.perf_counter() - start
        data = json.loads(report.read_text())
    return {"seconds": seconds, "files": data["stats"]["files"], "findings":
            len(data["findings"]), "errors": len(data["errors"]), "incomplete":
            data["incomplete"], "notices": [n for n in data["notices"] if "worker" in n],
            "killed": killed, "rc": proc.returncode, "stderr": err.decode()[-300:]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", nargs="?")
    ap.add_argument("--size-mb", type=int, default=60)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--after", type=float, default=1.5)
    ap.add_argument("--victim", choices=("worker", "lister"), default="worker")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    folder = Path(args.folder or f"/tmp/mfaleaks-bench-text-{args.size_mb}")
    if not folder.exists():
        bench_text.build(folder, args.size_mb)
    files, size = bench_text.folder_size(folder)
    print(f"folder: {folder} ({files} files, {size / 1e6:.1f} MB); load {os.getloadavg()[0]:.1f}")
    for n in range(args.rounds):
        for kill in (None, args.victim):
            r = scan(folder, args.jobs, kill, args.after)
            label = "undisturbed" if kill is None else f"{kill} killed ({r['killed']})"
            print(f"round {n + 1} {label}: {r['seconds']:.2f} s, {r['files']} files, "
                  f"{r['findings']} findings, {r['errors']} errors, incomplete "
                  f"{r['incomplete']}, exit {r['rc']}")
            for notice in r["notices"]:  # type: ignore[attr-defined]
                print(f"    {notice}")
            if kill is not None and r["killed"] is None:
                print("    (nothing to kill: the scan had ended or not started its processes)")
    print(f"load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
