"""SMB against local: files/s and MB/s of the same tree read over loopback SMB and from disk.

Usage: python bench/bench_smb.py [--size-mb 40] [--jobs 2] [--rounds 3]
Needs root and Debian's samba (as the SMB tests): it starts a private smbd on a free
port (tests/smbserver.py) serving a tree it builds under /tmp from the Python standard
library's text files, with a few planted code files. Two measures, each local then SMB:

1. transport: walk the tree and read every file (os.walk + read / the SMB walk +
   pipelined compound reads), with the SMB round trips per file;
2. scan: `mfaleaks scan --no-ocr --jobs N` of the folder / of smb://127.0.0.1:PORT/bench,
   --rounds times, local and SMB one after the other in each round (wall times swing with
   the machine's load: the median of the rounds' ratios is the figure), with the CPU of
   each kind of process: the command, its fork server, its workers, smbd.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

from bench_text import build, folder_size  # noqa: E402
from mfaleaks.config import SmbLogin  # noqa: E402
from mfaleaks.sources.smb.client import SmbEntry, SmbOptions, SmbSession  # noqa: E402
from mfaleaks.sources.smb.url import parse_target  # noqa: E402
from smbserver import SmbServer, skip_reason, start_server  # noqa: E402


def read_local(folder: Path) -> tuple[int, int]:
    files = size = 0
    for dirpath, _, names in os.walk(folder):
        for name in sorted(names):
            with open(os.path.join(dirpath, name), "rb") as fh:
                size += len(fh.read())
            files += 1
    return files, size


def read_smb(server: SmbServer) -> tuple[int, int, int]:
    login = SmbLogin(server.user, password=server.password)
    with SmbSession(parse_target(server.url()), login, SmbOptions()) as session:
        share = session.share("bench")
        entries = [e for e in share.walk() if isinstance(e, SmbEntry)]
        size = 0
        for _, data in share.read_many(entries):
            assert isinstance(data, bytes), data
            size += len(data)
        return len(entries), size, share.requests


T = TypeVar("T")


def timed(fn: Callable[[], T]) -> tuple[float, float, T]:
    """Wall seconds, this process's CPU seconds (all its threads), and what fn returned."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - start, time.process_time() - cpu, out


_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: str) -> tuple[int, int, float] | None:
    """(parent pid, process group, CPU seconds of its threads) from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), int(fields[2]), (int(fields[11]) + int(fields[12])) / _TICK


def _command(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().decode(errors="replace")
    except OSError:
        return ""


class CpuWatch:
    """CPU seconds of the scan's processes, by kind (the command; its fork server, which
    preloads the workers' code; the workers, the fork server's children; others: the
    resource tracker, a listing child) and of smbd's (its process group), sampled from
    /proc every 20 ms while the scan runs: the workers are children of the fork server,
    which the OS does not account to us."""

    def __init__(self, root: int, smbd_group: int | None) -> None:
        self.root, self.group = root, smbd_group
        self.cpu: dict[str, float] = {}
        self.kind: dict[str, str] = {}
        self.smbd: dict[str, float] = {}
        self.smbd_start = self._smbd_now() if smbd_group else {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _smbd_now(self) -> dict[str, float]:
        out = {}
        for pid in filter(str.isdigit, os.listdir("/proc")):
            st = _stat(pid)
            if st is not None and st[1] == self.group:
                out[pid] = st[2]
        return out

    def _run(self) -> None:
        root = str(self.root)
        while not self._stop.wait(0.02):
            parents: dict[str, str] = {}
            cpu: dict[str, float] = {}
            for pid in filter(str.isdigit, os.listdir("/proc")):
                st = _stat(pid)
                if st is None:
                    continue
                parents[pid], cpu[pid] = str(st[0]), st[2]
                if self.group and st[1] == self.group:
                    self.smbd[pid] = st[2]
            for pid in cpu:
                if pid not in self.kind:
                    kind = self._kind(pid, parents, root)
                    if kind is None:
                        continue
                    self.kind[pid] = kind
                self.cpu[pid] = cpu[pid]

    def _kind(self, pid: str, parents: dict[str, str], root: str) -> str | None:
        if pid == root:
            return "main"
        chain: list[str] = []
        up = pid
        while up in parents and up != root and len(chain) < 8:
            chain.append(up)
            up = parents[up]
        if up != root:
            return None  # not the scan's
        top = chain[-1]  # the command's child this process descends from
        if "forkserver" not in _command(top):
            return "other"
        return "server" if top == pid else "workers"

    def stop(self) -> tuple[dict[str, float], float]:
        """CPU seconds by kind of process, and smbd's."""
        self._stop.set()
        self._thread.join()
        by_kind = dict.fromkeys(("main", "server", "workers", "other"), 0.0)
        for pid, seconds in self.cpu.items():
            by_kind[self.kind[pid]] += seconds
        smbd = sum(v - self.smbd_start.get(pid, 0.0) for pid, v in self.smbd.items())
        return by_kind, smbd


@dataclass
class Scan:
    wall: float
    cpu: dict[str, float]  # by kind of process (CpuWatch)
    smbd: float
    load: float  # load average (1 min) when it ended

    @property
    def total(self) -> float:
        return sum(self.cpu.values())

    def line(self, what: str, files: int, size: int, base: Scan | None) -> str:
        cpu = ", ".join(f"{kind} {seconds:.2f}" for kind, seconds in self.cpu.items())
        if self.smbd:
            cpu += f"; smbd {self.smbd:.2f}"
        return (line(what, self.wall, files, size, base.wall if base else None) +
                f"  CPU s: {cpu}; load {self.load:.1f}")


def scan(args: list[str], env: dict[str, str], smbd_group: int | None) -> Scan:
    """One scan's wall seconds and its processes' CPU seconds (and smbd's)."""
    cmd = [str(REPO / ".venv" / "bin" / "mfaleaks"), "scan", "--no-ocr", "-q", "--format",
           "json", *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    watch = CpuWatch(proc.pid, smbd_group)
    _, err = proc.communicate()
    elapsed = time.perf_counter() - start
    cpu, smbd = watch.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        sys.exit(f"scan failed ({proc.returncode}): {err.decode()[-500:]}")
    # The command's own CPU as the OS accounts it (exact; the samples may miss its end).
    cpu["main"] = max(cpu["main"], after.ru_utime + after.ru_stime - before.ru_utime
                      - before.ru_stime)
    return Scan(elapsed, cpu, smbd, os.getloadavg()[0])


def line(what: str, seconds: float, files: int, size: int, base: float | None) -> str:
    rate = f"{files / seconds:8.0f} files/s {size / seconds / 1e6:7.1f} MB/s"
    share = f"  ({base / seconds * 100:3.0f}% of local)" if base else ""
    return f"  {what:<6} {seconds:6.2f} s {rate}{share}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    reason = skip_reason()
    if reason:
        sys.exit(f"bench_smb: {reason}")
    work = Path(tempfile.mkdtemp(prefix="mfaleaks-bench-smb-"))
    tree = work / "tree"
    build(tree, args.size_mb)
    for folder, dirs, _ in os.walk(tree):  # the share is read as root; stays private here
        for d in dirs:
            os.chmod(os.path.join(folder, d), 0o755)
    files, size = folder_size(tree)
    server = start_server({"bench": tree})
    try:
        print(f"tree: {files} files, {size / 1e6:.1f} MB; smbd on 127.0.0.1:{server.port}; "
              f"load average {os.getloadavg()[0]:.1f}")
        read_local(tree)  # warm the page cache for both
        t_local, cpu_local, _ = timed(lambda: read_local(tree))
        t_smb, cpu_smb, (n, got, requests) = timed(lambda: read_smb(server))
        assert (n, got) == (files, size), (n, got, files, size)
        print("transport: walk and read every file")
        print(line("local", t_local, files, size, None))
        print(line("smb", t_smb, files, size, t_local))
        print(f"  smb round trips: {requests} ({requests / files:.2f} per file); client CPU "
              f"{cpu_smb / files * 1e3:.2f} ms per file (local read {cpu_local / files * 1e3:.3f})")
        env = dict(os.environ, MFALEAKS_SMB_PASSWORD=server.password)
        jobs = ["--jobs", str(args.jobs)]
        group = server.process.pid if server.process is not None else None
        print(f"scan: mfaleaks scan --no-ocr --jobs {args.jobs}, {args.rounds} round(s) of "
              "local then SMB; CPU s by process: the command (main), its fork server, its "
              "workers, others (resource tracker, listing child)")
        rounds: list[tuple[Scan, Scan]] = []
        for k in range(args.rounds):
            local = scan([*jobs, str(tree)], env, None)
            remote = scan([*jobs, "--smb-user", server.user, server.url("bench")], env, group)
            rounds.append((local, remote))
            print(f" round {k + 1}")
            print(local.line("local", files, size, None))
            print(remote.line("smb", files, size, local))
        ratios = [local.wall / remote.wall * 100 for local, remote in rounds]
        print(f"SMB files/s, % of local: {', '.join(f'{r:.0f}' for r in ratios)} "
              f"(median {statistics.median(ratios):.0f}%)")

        # Per file, steadier than wall time on a shared machine (medians of the rounds).
        def per_file(values: list[float]) -> str:
            return f"{statistics.median(values) / files * 1e3:.2f} ms"

        print(f"CPU per file, the scan's processes: local "
              f"{per_file([lo.total for lo, _ in rounds])}, smb "
              f"{per_file([sm.total for _, sm in rounds])} (+ smbd "
              f"{per_file([sm.smbd for _, sm in rounds])}); workers alone: local "
              f"{per_file([lo.cpu['workers'] for lo, _ in rounds])}, smb "
              f"{per_file([sm.cpu['workers'] for _, sm in rounds])}; local/smb "
              f"{statistics.median(lo.total / sm.total for lo, sm in rounds) * 100:.0f}%")
        print(f"load average after: {os.getloadavg()[0]:.1f}")
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
