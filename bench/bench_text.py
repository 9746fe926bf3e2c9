"""Throughput on a folder of plain text: MB/s and files/s of `mfaleaks scan`.

Usage: python bench/bench_text.py [FOLDER] [--size-mb 100] [--jobs N]
Without FOLDER, builds one under /tmp from the Python standard library's
text files (copied until --size-mb is reached) with a few planted code files.

Memory: the workers are children of the fork server, not of the main process,
so getrusage sees none of them. The tree is sampled from /proc every 20 ms;
each process's peak is its VmHWM (the kernel's high-water mark, so no peak is
missed between samples). Printed: the main process, the largest worker, the sum
of the workers' peaks (an upper bound on what they held at once) and the largest
total of the whole tree seen in one sample.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import sysconfig
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

TEXT_SUFFIXES = {".py", ".txt", ".rst", ".cfg", ".toml", ".json", ".html", ".css", ".c", ".h"}


def build(target: Path, size_mb: int) -> None:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = [p for p in stdlib.rglob("*") if p.suffix in TEXT_SUFFIXES and p.is_file()
             and "site-packages" not in p.parts]
    target.mkdir(parents=True)
    total, copy = 0, 0
    while total < size_mb * 1_000_000:
        for src in files:
            dst = target / f"copy{copy}" / src.relative_to(stdlib)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            total += dst.stat().st_size
            if total >= size_mb * 1_000_000:
                break
        copy += 1
    rng = random.Random(5)
    for i in range(5):
        codes = "\n".join(f"{rng.randrange(16**5):05x}-{rng.randrange(16**5):05x}"
                          for _ in range(16))
        (target / f"github-recovery-codes-{i}.txt").write_text(codes + "\n")


def folder_size(folder: Path) -> tuple[int, int]:
    n = size = 0
    for dirpath, _, names in os.walk(folder):
        for name in names:
            n += 1
            size += os.lstat(os.path.join(dirpath, name)).st_size
    return n, size


@dataclass
class Memory:
    """Peak resident sizes (MB) seen in the tree of one run."""

    main: float = 0.0
    server: float = 0.0
    workers: dict[int, float] = field(default_factory=dict)  # pid -> VmHWM
    others: dict[int, float] = field(default_factory=dict)  # helpers outside the pool
    tree_now: float = 0.0  # the largest sum of current RSS over one sample

    def line(self) -> str:
        largest = max(self.workers.values(), default=0.0)
        return (f"peak RSS: main {self.main:.0f} MB, fork server {self.server:.0f} MB, "
                f"{len(self.workers)} workers: largest {largest:.0f} MB, "
                f"sum of peaks {sum(self.workers.values()):.0f} MB; "
                f"{len(self.others)} other helpers: "
                f"largest {max(self.others.values(), default=0.0):.0f} MB; "
                f"whole tree at once {self.tree_now:.0f} MB")


def _status_mb(pid: int) -> tuple[float, float]:
    """(VmHWM, VmRSS) of a process in MB; zeros once it is gone."""
    hwm = rss = 0.0
    try:
        with open(f"/proc/{pid}/status") as fh:
            for row in fh:
                if row.startswith("VmHWM:"):
                    hwm = int(row.split()[1]) / 1024
                elif row.startswith("VmRSS:"):
                    rss = int(row.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return hwm, rss


def children(pid: int) -> list[int]:
    """The child processes of pid (all its threads'), from /proc; bench_scale uses it too."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out.extend(int(c) for c in fh.read().split())
        except OSError:
            continue
    return out


def _is_fork_server(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return b"forkserver" in fh.read()
    except OSError:
        return False


def _sample(root: int, memory: Memory) -> None:
    """One walk of the tree: the main process; its child running
    multiprocessing.forkserver; the workers, which are the fork server's
    descendants; other helpers (resource tracker, listing process)."""
    todo, now = [(root, "main")], 0.0
    while todo:
        pid, role = todo.pop()
        hwm, rss = _status_mb(pid)
        now += rss
        if role == "main":
            memory.main = max(memory.main, hwm)
        elif role == "server":
            memory.server = max(memory.server, hwm)
        elif hwm:
            table = memory.workers if role == "worker" else memory.others
            table[pid] = max(table.get(pid, 0.0), hwm)
        for child in children(pid):
            if role == "main":
                todo.append((child, "server" if _is_fork_server(child) else "other"))
            else:
                todo.append((child, "worker" if role in ("server", "worker") else "other"))
    memory.tree_now = max(memory.tree_now, now)


def timed(cmd: list[str]) -> tuple[float, int, Memory]:
    memory, done = Memory(), threading.Event()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def sample() -> None:
        while not done.wait(0.02):
            _sample(proc.pid, memory)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    elapsed = time.perf_counter() - start
    done.set()
    sampler.join()
    if proc.returncode not in (0, 1):
        sys.exit(f"{cmd[0]} failed ({proc.returncode}): {err.decode()[-500:]}")
    return elapsed, proc.returncode, memory


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", nargs="?")
    ap.add_argument("--size-mb", type=int, default=100)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    folder = Path(args.folder) if args.folder else Path(f"/tmp/mfaleaks-bench-text-{args.size_mb}")
    if not folder.exists():
        build(folder, args.size_mb)
    files, size = folder_size(folder)
    exe = str(Path(sys.executable).with_name("mfaleaks"))
    elapsed, rc, memory = timed([exe, "scan", "-q", "--format", "json", "--jobs",
                                 str(args.jobs), str(folder)])
    print(f"folder: {folder} ({files} files, {size / 1e6:.1f} MB)")
    print(f"mfaleaks --jobs {args.jobs}: {elapsed:.2f} s, {size / 1e6 / elapsed:.1f} MB/s, "
          f"{files / elapsed:.0f} files/s, exit {rc}")
    print(f"  {memory.line()}")


if __name__ == "__main__":
    main()
