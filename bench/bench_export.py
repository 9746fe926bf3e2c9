"""Dense data: an admin user export CSV (and a package-metadata TSV) next to kingfisher.

Usage: python bench/bench_export.py [--size-mb 80] [--jobs 2] [--tsv PATH] [--dir /tmp/...]

Builds, seeded, a CSV in the layout of a Google Workspace admin user export:
every row has Recovery Email and Recovery Phone columns, an employee id, dates,
an asset tag, a hex device id and its 2-step method (authenticator, backup
codes...), so every line holds recovery wording and numbers. The same bytes
are scanned under a name that names the service (google-workspace-users.csv)
and one that does not (users.csv): the cost per byte may not depend on the
name. With --tsv PATH (a TSV of package metadata, e.g. a copy of a package
list) its bytes are scanned as pypi.tsv and full.tsv.

Each mfaleaks run is timed with the CPU seconds of mfaleaks and its workers
(utime+stime of the whole process tree, sampled from /proc), next to
kingfisher on the same folder in the same run. Load averages are printed.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HEADER = (
    "First Name [Required],Last Name [Required],Email Address [Required],"
    "Password [Required],Org Unit Path [Required],Recovery Email,"
    "Recovery Phone [MUST BE IN THE E.164 FORMAT],Work Phone,Mobile Phone,"
    "Employee ID,Employee Type,Employee Title,Department,Cost Center,Building ID,"
    "Asset Tag,Device ID,Last Sign In [READ ONLY],Created [READ ONLY],"
    "2sv Enrolled [READ ONLY],2sv Enforced [READ ONLY],2sv Method [READ ONLY],"
    "Email Usage [READ ONLY]\n"
)
FIRST = ["Anna", "Ben", "Chloe", "David", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jon"]
LAST = ["Smith", "Nguyen", "Garcia", "Müller", "Rossi", "Kowalski", "Dubois", "Tanaka"]
UNITS = ["/", "/Sales", "/Engineering", "/Finance", "/Support/EMEA", "/Support/US"]
METHODS = ["Authenticator app", "Backup codes", "Security key", "Phone prompt", "SMS",
           "None"]
TITLES = ["Engineer", "Analyst", "Manager", "Designer", "Accountant", "Technician"]


def export_rows(size: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    out = [HEADER]
    total = len(HEADER)
    n = 0
    while total < size:
        n += 1
        first, last = rng.choice(FIRST), rng.choice(LAST)
        user = f"{first.lower()}.{last.lower()}{n}"

        def phone() -> str:
            return f"+1{rng.randrange(200, 999)}{rng.randrange(10**7):07d}"

        def day() -> str:
            y, m, d = rng.randrange(2015, 2026), rng.randrange(1, 13), rng.randrange(1, 29)
            return f"{y}/{m:02d}/{d:02d}"

        row = (
            f"{first},{last},{user}@example.com,****,{rng.choice(UNITS)},"
            f"{user}.recovery@gmail.com,{phone()},{phone()},{phone()},"
            f"E{rng.randrange(10**6):06d},Full-time,{rng.choice(TITLES)},Dept {rng.randrange(40)},"
            f"CC-{rng.randrange(10**4):04d},BLD-{rng.randrange(100):02d},"
            f"AT-{rng.randrange(10**6):06d},{rng.getrandbits(64):016x},"
            f"{day()} {rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d},"
            f"{day()},{rng.choice(['True', 'False'])},{rng.choice(['True', 'False'])},"
            f"{rng.choice(METHODS)},{rng.randrange(10**7)}\n"
        )
        out.append(row)
        total += len(row.encode())
    return "".join(out).encode()


def load() -> str:
    return os.getloadavg().__repr__()


TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
    except (OSError, IndexError, ValueError):
        return 0.0


def _tree(root: int) -> list[int]:
    todo, out = [root], []
    while todo:
        pid = todo.pop()
        out.append(pid)
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except OSError:
            continue
    return out


def timed_tree(cmd: list[str]) -> tuple[float, float, int]:
    """(wall s, CPU s of the process tree sampled every 20 ms, exit code). Workers are
    children of the fork server, not of mfaleaks: rusage of the child would miss them."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen: dict[int, float] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            for pid in _tree(proc.pid):
                seen[pid] = max(seen.get(pid, 0.0), _cpu(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    seen[proc.pid] = max(seen.get(proc.pid, 0.0), usage.ru_utime + usage.ru_stime)
    return wall, sum(seen.values()), os.waitstatus_to_exitcode(status)


def run_mfaleaks(bindir: Path, path: Path, jobs: int) -> tuple[float, float, int]:
    """(wall s, CPU s of the process tree, exit code)."""
    return timed_tree([str(bindir / "mfaleaks"), "scan", str(path), "--jobs", str(jobs),
                       "--no-ocr", "--format", "json", "--output", "/dev/null"])


def run_kingfisher(kingfisher: str, folder: Path) -> float:
    start = time.perf_counter()
    subprocess.run([kingfisher, "scan", str(folder), "--no-validate", "--no-update-check"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def pair(bindir: Path, kingfisher: str | None, work: Path, data: bytes,
         names: tuple[str, str], jobs: int) -> None:
    mb = len(data) / 1e6
    times = []
    for name in names:
        folder = work / name.replace(".", "_")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
        wall, cpu, rc = run_mfaleaks(bindir, folder / name, jobs)
        times.append(wall)
        line = (f"mfaleaks {name}: {wall:.2f} s wall, {cpu:.2f} s CPU, {mb / wall:.1f} MB/s "
                f"(exit {rc})")
        if kingfisher:
            kf = run_kingfisher(kingfisher, folder)
            line += f"; kingfisher {kf:.2f} s; ratio {wall / kf:.2f}x"
        print(line, flush=True)
        shutil.rmtree(folder)
    print(f"{names[0]} / {names[1]}: {times[0] / times[1]:.2f}x", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=float, default=80.0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--tsv", type=Path, help="a package-metadata TSV to scan as pypi.tsv/full.tsv")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/mfaleaks-bench-export"))
    args = ap.parse_args()
    bindir = Path(sys.executable).parent
    kingfisher = shutil.which("kingfisher", path=str(bindir)) or shutil.which("kingfisher")
    print(f"load average before: {load()}")
    args.dir.mkdir(parents=True, exist_ok=True)
    data = export_rows(int(args.size_mb * 1e6))
    pair(bindir, kingfisher, args.dir, data,
         ("google-workspace-users.csv", "users.csv"), args.jobs)
    if args.tsv:
        pair(bindir, kingfisher, args.dir, args.tsv.read_bytes(), ("pypi.tsv", "full.tsv"),
             args.jobs)
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
