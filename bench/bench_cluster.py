"""The cluster's cost: one tree with --cluster local:2 and with --jobs 2, and a simulated
listing of a million files through a real scheduler.

Usage: python bench/bench_cluster.py [FOLDER] [--size-mb 60] [--tiny 0] [--rounds 1]
                                     [--files 1000000] [--per-folder 1000] [--no-scan]
                                     [--no-listing]

1. Scan: without FOLDER, builds one under /tmp with bench_text.py's builder (the
   standard library's text files, copied until --size-mb), or with --tiny N, N
   files of ~110 bytes, 100 a folder. Runs `mfaleaks scan --jobs 2` and
   `mfaleaks scan --cluster local:2` on it (interleaved, --rounds times), checks
   that both report the same fingerprints, and prints the seconds of each, the
   CPU seconds of all their processes, and the cluster's overhead (median of the
   rounds). The cluster's time includes starting its scheduler and two workers.
2. Listing: starts `dask scheduler` and two `dask worker` processes, then lists a
   tree of --files files (--per-folder a folder) that exists only in the tasks:
   each task makes up the records list_folders would give for its folders. The
   client drives them with the scan's own FolderTasks and discover.from_records,
   builds a Source per file and drops it. Prints tasks/s, files/s, and this
   process's RSS as the count grows and at its peak.

The machine load (1-minute average) is printed before and after: other work on
the machine shows up in every figure.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import bench_text
from daskcluster import start_cluster

MFALEAKS = str(Path(sys.executable).with_name("mfaleaks"))


def load() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


def subreaper() -> None:
    """Processes orphaned under this one (the fork server's workers) are reaped here, so
    their CPU time counts in RUSAGE_CHILDREN (Linux; elsewhere only direct children)."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def reap() -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                time.sleep(0.02)
        except ChildProcessError:
            return


def cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def build_tiny(folder: Path, files: int) -> None:
    rng = random.Random(9)
    words = ["budget", "meeting", "review", "invoice", "travel", "draft", "2024", "Q3"]
    for i in range(files):
        sub = folder / f"d{i // 100:04d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"n{i % 100}.txt").write_text(" ".join(rng.choice(words) for _ in range(20)))


def scan(folder: Path, *args: str) -> tuple[float, float, set[str]]:
    """Wall seconds, CPU seconds of every process of the scan, findings."""
    before = cpu()
    start = time.perf_counter()
    res = subprocess.run([MFALEAKS, "scan", "--format", "json", "--quiet", *args, str(folder)],
                         capture_output=True, text=True)
    seconds = time.perf_counter() - start
    reap()
    used = cpu() - before
    if res.returncode not in (0, 1):
        sys.exit(f"mfaleaks {' '.join(args)} exited {res.returncode}: {res.stderr[-2000:]}")
    report = json.loads(res.stdout)
    return seconds, used, {f["fingerprint"] + f["path"] for f in report["findings"]}


def bench_scan(folder: Path, rounds: int) -> None:
    files, size = bench_text.folder_size(folder)
    print(f"scan: {folder}: {files} files, {size / 1e6:.0f} MB; {load()}")
    local: list[tuple[float, float]] = []
    cluster: list[tuple[float, float]] = []
    for n in range(rounds):
        t_local, c_local, f_local = scan(folder, "--jobs", "2")
        t_cluster, c_cluster, f_cluster = scan(folder, "--cluster", "local:2")
        if f_local != f_cluster:
            sys.exit(f"different findings: {len(f_local)} with --jobs 2, {len(f_cluster)} "
                     "with --cluster local:2")
        local.append((t_local, c_local))
        cluster.append((t_cluster, c_cluster))
        print(f"  round {n + 1}: --jobs 2 {t_local:.2f} s ({c_local:.2f} s CPU), --cluster "
              f"local:2 {t_cluster:.2f} s ({c_cluster:.2f} s CPU) ({len(f_local)} findings, "
              f"the same); {load()}")
    a, b = (statistics.median(t for t, _ in local), statistics.median(t for t, _ in cluster))
    ca, cb = (statistics.median(c for _, c in local), statistics.median(c for _, c in cluster))
    print(f"scan: median --jobs 2 {a:.2f} s ({size / 1e6 / a:.1f} MB/s), --cluster local:2 "
          f"{b:.2f} s ({size / 1e6 / b:.1f} MB/s): overhead {100 * (b - a) / a:+.1f}%; CPU "
          f"{ca:.2f} s against {cb:.2f} s: {100 * (cb - ca) / ca:+.1f}%")


def made_up(folders: list[str], per_folder: int, fanout: int, files: int,
            budget: int) -> Any:
    """In a worker: what list_folders would answer for a tree of `files` files under
    folders named root/<i>/<j>..., `per_folder` files and `fanout` subfolders each."""
    import stat as st

    regular = st.S_IFREG | 0o644
    out: list[Any] = []
    stack = [(-1, folder) for folder in reversed(folders)]
    listed = 0
    while stack and (not out or listed < budget):
        parent, folder = stack.pop()
        index = int(folder.rsplit("/", 1)[1]) if "/" in folder else 0
        names = [(f"f{index}-{k}.txt", (regular, 2048, 1, 1, index * per_folder + k, 0, 0, 1))
                 for k in range(per_folder) if index * per_folder + k < files]
        out.append((parent, folder, folder, [(1, folder, names, True, True, None)]))
        listed += 1 + len(names)
        here = len(out) - 1
        subs = [f"{folder.rsplit('/', 1)[0] if '/' in folder else folder}/{index * fanout + j + 1}"
                for j in range(fanout) if (index * fanout + j + 1) * per_folder < files]
        stack.extend((here, sub) for sub in reversed(subs))
    return out, stack


def bench_listing(files: int, per_folder: int) -> None:
    import psutil
    from distributed import Client

    from mfaleaks.run.clusterlist import BUDGET, FolderTasks, Todo
    from mfaleaks.sources.discover import from_records
    from mfaleaks.sources.listing import WalkOptions

    work = Path(tempfile.mkdtemp(prefix="mfaleaks-bench-cluster-"))
    cluster = start_cluster(work, tls=False)
    try:
        with Client(cluster.address, set_as_default=False) as client:
            fanout = 10

            def submit(folders: list[Todo]) -> Any:
                return client.submit(made_up, folders, per_folder, fanout, files, BUDGET,
                                     pure=False)

            def wait(futures: list[Any]) -> None:
                from distributed import wait as dask_wait

                with client.as_current():
                    dask_wait(futures, return_when="FIRST_COMPLETED")

            tasks = FolderTasks(submit, wait, ahead=4)
            me = psutil.Process()
            print(f"listing: {files} made-up files, {per_folder} a folder, through "
                  f"{cluster.address} and 2 workers; RSS before {me.memory_info().rss / 2**20:.0f}"
                  f" MB; {load()}")
            start = time.perf_counter()
            count = 0
            step = files // 4
            for item in from_records(tasks.records("sim/0"), WalkOptions(), None):
                count += 1
                if count % step == 0:
                    print(f"  {count} files: RSS {me.memory_info().rss / 2**20:.0f} MB, "
                          f"{time.perf_counter() - start:.1f} s")
                del item
            seconds = time.perf_counter() - start
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"listing: {count} files in {tasks.tasks} tasks, {seconds:.1f} s: "
                  f"{tasks.tasks / seconds:.1f} tasks/s, {count / seconds:.0f} files/s; "
                  f"client peak RSS {peak:.0f} MB; {load()}")
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?")
    parser.add_argument("--size-mb", type=int, default=60)
    parser.add_argument("--tiny", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--files", type=int, default=1_000_000)
    parser.add_argument("--per-folder", type=int, default=1000)
    parser.add_argument("--no-scan", action="store_true")
    parser.add_argument("--no-listing", action="store_true")
    args = parser.parse_args()
    subreaper()
    if not args.no_scan:
        if args.folder:
            folder = Path(args.folder)
        elif args.tiny:
            folder = Path(f"/tmp/mfaleaks-bench-tiny-{args.tiny}")
            if not folder.exists():
                build_tiny(folder, args.tiny)
        else:
            folder = Path(f"/tmp/mfaleaks-bench-text-{args.size_mb}")
            if not folder.exists():
                bench_text.build(folder, args.size_mb)
        bench_scan(folder, args.rounds)
    if not args.no_listing:
        bench_listing(args.files, args.per_folder)


if __name__ == "__main__":
    main()
