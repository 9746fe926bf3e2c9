"""Scale: a first scan and a cached rescan of one folder, next to kingfisher and detect-secrets.

Usage: python bench/bench_scale.py [FOLDER] [--size-mb 200] [--jobs N] [--unique] [--rounds N]
                                   [--low] [--no-kingfisher] [--no-detect-secrets] [--timeout 900]
                                   [--scan-arg=ARG ...]

Without FOLDER, builds one under /tmp with bench_text.py's builder: the Python
standard library's text files, copied until --size-mb is reached (so the folder
holds about six copies of each file, which mfaleaks reads once each). With
--unique, every file of copy N gets a last line "# copy N": no two copies share
content, so nothing is saved by reading copies once.

Prints, for each run: seconds, MB/s, files/s, images/s (when the folder has
images) and peak RSS (largest single process, and the whole process tree),
sampled from /proc every 50 ms. Runs, each in the same session:
1. mfaleaks scan --cache NEW (first scan: everything is read, and a cache written);
2. mfaleaks scan --cache SAME (rescan: nothing changed);
3. mfaleaks scan (no cache: what kingfisher and --min-confidence low compare with);
4. with --low, mfaleaks scan --min-confidence low (no cache);
5. kingfisher scan DIR --no-validate --no-update-check (pip install kingfisher-bin);
6. detect-secrets -c JOBS scan --all-files . in DIR (pip install detect-secrets).
Each --scan-arg is passed to every mfaleaks scan (e.g. --scan-arg=--no-ocr for a
real tree such as /usr/share without its pictures).
Those tools do not look for backup codes: the comparison is of throughput on the
same bytes. The machine load (1-minute average) is printed before and after.

Before each round every file is read once, so that the first tool of a round does
not pay for a cold page cache that the next ones find warm. With --rounds N the
first scan (with a new cache), the rescan, the plain scan, low and kingfisher run N
times, interleaved so that a change of machine load falls on all of them, and the
medians, the best times and their ratios are printed at the end (detect-secrets runs
in round 1 only).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_text

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp"}


@dataclass
class Run:
    label: str
    seconds: float
    peak_one_mb: float  # the largest single process
    peak_tree_mb: float  # all processes of the run together
    rc: int
    note: str = ""
    cpu: float = 0.0  # user + system seconds of the tool's processes (see timed)


def build_unique(target: Path, size_mb: int) -> None:
    bench_text.build(target, size_mb)
    for copy in sorted(target.glob("copy*")):
        line = f"\n# {copy.name}\n".encode()
        for dirpath, _, names in os.walk(copy):
            for name in names:
                with open(os.path.join(dirpath, name), "ab") as fh:
                    fh.write(line)


def census(folder: Path) -> tuple[int, int, int]:
    files = size = images = 0
    for dirpath, _, names in os.walk(folder):
        for name in names:
            files += 1
            size += os.lstat(os.path.join(dirpath, name)).st_size
            images += Path(name).suffix.lower() in IMAGE_SUFFIXES
    return files, size, images


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, IndexError, ValueError):
        return 0.0


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_ticks(pid: int) -> int:
    """utime + stime of a process (all its threads), in clock ticks; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rpartition(")")[2].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0


def _tree_rss(root: int, cpu: dict[int, int] | None = None) -> tuple[float, float]:
    """(largest, sum) of the resident sizes in MB of root and its descendants; `cpu`
    keeps the CPU ticks last seen of each (workers are not the bench's children)."""
    todo, values = [root], []
    while todo:
        pid = todo.pop()
        values.append(_rss_mb(pid))
        if cpu is not None:
            cpu[pid] = max(cpu.get(pid, 0), _cpu_ticks(pid))
        todo.extend(bench_text.children(pid))
    return max(values, default=0.0), sum(values)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(label: str, cmd: list[str], timeout: float, cwd: str | None = None) -> Run:
    peak = [0.0, 0.0]
    cpu_before = _children_cpu()
    start = time.perf_counter()
    # A session of its own: on timeout the whole tool goes, workers included.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd,
                            start_new_session=True)
    done = threading.Event()

    ticks: dict[int, int] = {}

    def sample() -> None:
        while not done.wait(0.05):
            one, tree = _tree_rss(proc.pid, ticks)
            peak[0], peak[1] = max(peak[0], one), max(peak[1], tree)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        done.set()
        return Run(label, timeout, peak[0], peak[1], -1, f"stopped after {timeout:.0f} s")
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    note = ""
    if proc.returncode not in (0, 1):
        note = err.decode(errors="replace").strip().splitlines()[-1:][0][:200] if err else ""
    elif label.startswith("mfaleaks"):
        report = json.loads(out)
        note = "; ".join(report["notices"]) + f"; {len(report['findings'])} finding(s)"
    # The processes the tool waited for count in full; others (a fork server's workers)
    # as last sampled, up to 50 ms short each.
    cpu = max(_children_cpu() - cpu_before, sum(ticks.values()) / _TICK)
    return Run(label, seconds, peak[0], peak[1], proc.returncode, note, cpu)


def warm(folder: Path) -> float:
    """Read every file once (page cache); seconds taken."""
    start = time.perf_counter()
    for dirpath, _, names in os.walk(folder):
        for name in names:
            try:
                with open(os.path.join(dirpath, name), "rb", buffering=0) as fh:
                    while fh.read(1 << 20):
                        pass
            except OSError:
                continue
    return time.perf_counter() - start


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", nargs="?")
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--unique", action="store_true", help="no content shared between copies")
    ap.add_argument("--no-kingfisher", action="store_true")
    ap.add_argument("--no-detect-secrets", action="store_true")
    ap.add_argument("--timeout", type=float, default=900.0,
                    help="seconds per run; a run stopped there gives a lower bound")
    ap.add_argument("--low", action="store_true",
                    help="also time a first scan at --min-confidence low")
    ap.add_argument("--rounds", type=int, default=1,
                    help="repeat the runs, interleaved, and print the medians")
    ap.add_argument("--scan-arg", action="append", default=[],
                    help="an argument for every mfaleaks scan (repeatable)")
    args = ap.parse_args()
    if args.folder:
        folder = Path(args.folder)
        if not folder.is_dir():
            # Timing a scan that stops at once on a usage error means nothing.
            sys.exit(f"bench_scale: no such folder: {folder} (leave it out to build one)")
    else:
        kind = "unique" if args.unique else "text"
        folder = Path(f"/tmp/mfaleaks-bench-{kind}-{args.size_mb}")
        if not folder.exists():
            (build_unique if args.unique else bench_text.build)(folder, args.size_mb)
    files, size, images = census(folder)
    mb = size / 1e6
    print(f"folder: {folder} ({files} files, {mb:.1f} MB, {images} images), "
          f"jobs {args.jobs}, {os.cpu_count()} CPUs; load before: {load()}")

    bindir = Path(sys.executable).parent
    kingfisher = shutil.which("kingfisher", path=str(bindir)) or shutil.which("kingfisher")
    if not kingfisher and not args.no_kingfisher:
        print("kingfisher: not installed (pip install kingfisher-bin)")
    detect = shutil.which("detect-secrets", path=str(bindir)) or shutil.which("detect-secrets")
    if not detect and not args.no_detect_secrets:
        print("detect-secrets: not installed (pip install detect-secrets)")
    rounds: list[list[Run]] = []
    for number in range(1, args.rounds + 1):
        print(f"round {number}: load {load()}; page cache warmed in {warm(folder):.2f} s")
        runs = one_round(folder, bindir, kingfisher, detect if number == 1 else None, args)
        report(runs, files, mb, images)
        rounds.append(runs)
    if args.rounds > 1:
        medians(rounds)
    print(f"load after: {load()}")


def one_round(
    folder: Path, bindir: Path, kingfisher: str | None, detect: str | None,
    args: argparse.Namespace,
) -> list[Run]:
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="mfaleaks-bench-") as tmp:
        cache = str(Path(tmp) / "cache.sqlite")
        scan = [str(bindir / "mfaleaks"), "scan", "-q", "--format", "json", "--jobs",
                str(args.jobs), *args.scan_arg, "--cache", cache, str(folder)]
        runs.append(timed("mfaleaks first scan", scan, args.timeout))
        runs.append(timed("mfaleaks rescan", scan, args.timeout))
    plain = [str(bindir / "mfaleaks"), "scan", "-q", "--format", "json", "--jobs",
             str(args.jobs), *args.scan_arg, str(folder)]
    runs.append(timed("mfaleaks scan", plain, args.timeout))
    if args.low:
        low = [str(bindir / "mfaleaks"), "scan", "-q", "--format", "json", "--jobs",
               str(args.jobs), *args.scan_arg, "--min-confidence", "low", str(folder)]
        runs.append(timed("mfaleaks low", low, args.timeout))
    if kingfisher and not args.no_kingfisher:
        runs.append(timed("kingfisher", [kingfisher, "scan", str(folder), "--no-validate",
                                         "--no-update-check", "--jobs", str(args.jobs)],
                          args.timeout))
    if detect and not args.no_detect_secrets:
        # Run from inside the folder: given a path outside the working directory it
        # scans nothing at all (0.6 s for any folder).
        runs.append(timed("detect-secrets", [detect, "-c", str(args.jobs), "scan",
                                             "--all-files", "."],
                          args.timeout, cwd=str(folder)))
    return runs


def report(runs: list[Run], files: int, mb: float, images: int) -> None:
    for run in runs:
        rate = f"{mb / run.seconds:7.1f} MB/s {files / run.seconds:8.0f} files/s"
        if images:
            rate += f" {images / run.seconds:6.1f} images/s"
        if run.rc < 0:
            rate = "(did not finish)".ljust(len(rate))
        print(f"{run.label:20s} {run.seconds:8.2f} s (cpu {run.cpu:6.2f} s) {rate}  "
              f"peak RSS {run.peak_one_mb:5.0f} MB (tree {run.peak_tree_mb:5.0f} MB)  "
              f"exit {run.rc}  {run.note}")
    by = {run.label: run for run in runs}
    first, plain = by["mfaleaks first scan"], by["mfaleaks scan"]
    print(f"rescan / first scan: {by['mfaleaks rescan'].seconds / first.seconds:.3f}")
    for run in runs:
        if run.label == "mfaleaks low":
            print(f"mfaleaks low / mfaleaks scan: {run.seconds / plain.seconds:.2f}x the time, "
                  f"{run.cpu / max(plain.cpu, 1e-9):.2f}x the CPU")
        elif not run.label.startswith("mfaleaks"):
            bound = "at most " if run.rc < 0 else ""  # stopped by --timeout
            print(f"mfaleaks scan / {run.label}: {bound}{plain.seconds / run.seconds:.2f}x "
                  f"the time (first scan with --cache: {first.seconds / run.seconds:.2f}x)")


def medians(rounds: list[list[Run]]) -> None:
    """Per tool, the median and the best over the rounds, and the ratios of each."""
    times: dict[str, list[float]] = {}
    for runs in rounds:
        for run in runs:
            if run.rc >= 0:
                times.setdefault(run.label, []).append(run.seconds)
    for name, pick in (("medians", statistics.median), ("best", min)):
        got = {label: pick(values) for label, values in times.items()}
        print(f"{name} over {len(rounds)} rounds: " + ", ".join(
            f"{label} {seconds:.2f} s ({len(times[label])})" for label, seconds in got.items()))
        first, plain = got.get("mfaleaks first scan"), got.get("mfaleaks scan")
        if first and "mfaleaks rescan" in got:
            print(f"  rescan / first scan: {got['mfaleaks rescan'] / first:.3f}")
        if plain and "mfaleaks low" in got:
            print(f"  low / scan: {got['mfaleaks low'] / plain:.2f}x the time")
        if plain and first and "kingfisher" in got:
            print(f"  mfaleaks scan / kingfisher: {plain / got['kingfisher']:.2f}x the time "
                  f"(first scan with --cache: {first / got['kingfisher']:.2f}x)")
    ratios = [r[1].seconds / r[0].seconds for r in rounds if len(r) > 1]
    under = sum(ratio < 0.1 for ratio in ratios)
    print(f"rounds with the rescan under a tenth of the first scan: {under} of {len(ratios)}")


if __name__ == "__main__":
    main()
