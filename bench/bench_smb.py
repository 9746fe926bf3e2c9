"""SMB against local: files/s and MB/s of the same tree read over loopback SMB and from disk.

Usage: python bench/bench_smb.py [--size-mb 40] [--jobs 2]
Needs root and Debian's samba (as the SMB tests): it starts a private smbd on a free
port (tests/smbserver.py) serving a tree it builds under /tmp from the Python standard
library's text files, with a few planted code files. Two measures, each local then SMB:

1. transport: walk the tree and read every file (os.walk + read / the SMB walk +
   pipelined compound reads), with the SMB round trips per file;
2. scan: `mfaleaks scan --no-ocr --jobs N` of the folder / of smb://127.0.0.1:PORT/bench.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

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


def timed(fn: object) -> tuple[float, float, object]:
    """Wall seconds, this process's CPU seconds (both threads: smbprotocol parses answers
    in a thread of its own), and what fn returned."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()  # type: ignore[operator]
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


class CpuWatch:
    """CPU seconds of the scan's processes (the command, its fork server and workers) and
    of smbd's (its process group), sampled from /proc every 20 ms while the scan runs:
    the workers are children of the fork server, which the OS does not account to us."""

    def __init__(self, root: int, smbd_group: int | None) -> None:
        self.root, self.group = root, smbd_group
        self.scan: dict[str, float] = {}
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
        while not self._stop.wait(0.02):
            parents: dict[str, int] = {}
            cpu: dict[str, float] = {}
            for pid in filter(str.isdigit, os.listdir("/proc")):
                st = _stat(pid)
                if st is None:
                    continue
                parents[pid], cpu[pid] = st[0], st[2]
                if self.group and st[1] == self.group:
                    self.smbd[pid] = st[2]
            for pid in cpu:
                up, seen = pid, 0
                while up in parents and seen < 8:
                    if int(up) == self.root:
                        self.scan[pid] = cpu[pid]
                        break
                    up, seen = str(parents[up]), seen + 1

    def stop(self) -> tuple[float, float]:
        self._stop.set()
        self._thread.join()
        smbd = sum(v - self.smbd_start.get(pid, 0.0) for pid, v in self.smbd.items())
        return sum(self.scan.values()), smbd


def scan(args: list[str], env: dict[str, str], smbd_group: int | None
         ) -> tuple[float, float, float, float]:
    """Wall seconds; CPU seconds of the command's main process, of all its processes
    (workers included), and of smbd."""
    cmd = [str(REPO / ".venv" / "bin" / "mfaleaks"), "scan", "--no-ocr", "-q", "--format",
           "json", *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    watch = CpuWatch(proc.pid, smbd_group)
    _, err = proc.communicate()
    elapsed = time.perf_counter() - start
    total, smbd = watch.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        sys.exit(f"scan failed ({proc.returncode}): {err.decode()[-500:]}")
    main = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return elapsed, main, max(total, main), smbd


def line(what: str, seconds: float, files: int, size: int, base: float | None) -> str:
    rate = f"{files / seconds:8.0f} files/s {size / seconds / 1e6:7.1f} MB/s"
    share = f"  ({base / seconds * 100:3.0f}% of local)" if base else ""
    return f"  {what:<6} {seconds:6.2f} s {rate}{share}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=2)
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
        t_smb, cpu_smb, (n, got, requests) = timed(lambda: read_smb(server))  # type: ignore[misc]
        assert (n, got) == (files, size), (n, got, files, size)
        print("transport: walk and read every file")
        print(line("local", t_local, files, size, None))
        print(line("smb", t_smb, files, size, t_local))
        print(f"  smb round trips: {requests} ({requests / files:.2f} per file); client CPU "
              f"{cpu_smb / files * 1e3:.2f} ms per file (local read {cpu_local / files * 1e3:.3f})")
        env = dict(os.environ, MFALEAKS_SMB_PASSWORD=server.password)
        jobs = ["--jobs", str(args.jobs)]
        t_scan_local, main_local, all_local, _ = scan([*jobs, str(tree)], env, None)
        group = server.process.pid if server.process is not None else None
        t_scan_smb, main_smb, all_smb, smbd = scan(
            [*jobs, "--smb-user", server.user, server.url("bench")], env, group)
        print(f"scan: mfaleaks scan --no-ocr --jobs {args.jobs}")
        # CPU seconds: the command's main process; all its processes (workers included,
        # sampled from /proc); smbd serving it.
        print(line("local", t_scan_local, files, size, None) +
              f"  CPU main {main_local:.2f} s, all {all_local:.2f} s")
        print(line("smb", t_scan_smb, files, size, t_scan_local) +
              f"  CPU main {main_smb:.2f} s, all {all_smb:.2f} s, smbd {smbd:.2f} s")
        # Per file, all the scan's processes: steadier than wall time on a shared machine.
        print(f"  CPU per file: local {all_local / files * 1e3:.2f} ms, smb "
              f"{all_smb / files * 1e3:.2f} ms (+ smbd {smbd / files * 1e3:.2f} ms); "
              f"local/smb {all_local / all_smb * 100:.0f}%")
        print(f"load average after: {os.getloadavg()[0]:.1f}")
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
