"""One big file, every worker: a single text file scanned with --jobs 1 and --jobs 2.

Usage: python bench/bench_split.py [--size-mb 1024] [--path /tmp/mfaleaks-big.txt]
                                   [--low] [--rounds 1]

Builds (once, seeded) a text file of log-like lines, with a set of backup codes
under recovery wording every ~50 MB, then scans it with --jobs 1 and --jobs 2
in the same run (and with --low, both again at --min-confidence low). Prints
wall seconds, CPU seconds of the process tree, MB/s, the findings and the
speed-up of --jobs 2 (a big file is split into windows: run/plan.py). The load
average is printed before and after: other work on the machine shows there.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_export import load, timed_tree


def build(path: Path, size: int, seed: int = 11) -> None:
    rng = random.Random(seed)
    words = ["request", "served", "user", "login", "cache", "miss", "build", "deploy",
             "worker", "queue", "retry", "timeout", "database", "backup", "job", "finished"]
    with open(path, "w") as fh:
        total = next_codes = 0
        while total < size:
            if total >= next_codes:
                codes = "".join(f"{rng.randrange(10**4):04d} {rng.randrange(10**4):04d}\n"
                                for _ in range(10))
                block = f"Backup codes for the admin console\n{codes}"
                next_codes += 50_000_000
            else:
                block = "".join(
                    f"2026-12-06T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00 "
                    f"{' '.join(rng.choice(words) for _ in range(8))} "
                    f"id={rng.getrandbits(32):08x}\n"
                    for _ in range(1000)
                )
            fh.write(block)
            total += len(block)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=float, default=1024)
    ap.add_argument("--path", type=Path, default=Path("/tmp/mfaleaks-big.txt"))
    ap.add_argument("--low", action="store_true")
    args = ap.parse_args()
    size = int(args.size_mb * 1e6)
    if not args.path.exists() or abs(args.path.stat().st_size - size) > 1e6:
        build(args.path, size)
    mb = args.path.stat().st_size / 1e6
    bindir = Path(sys.executable).parent
    print(f"load average before: {load()}")
    levels = ["medium", "low"] if args.low else ["medium"]
    for level in levels:
        walls = {}
        for jobs in (1, 2):
            out = Path(f"/tmp/mfaleaks-split-{jobs}.json")
            wall, cpu, rc = timed_tree([str(bindir / "mfaleaks"), "scan", str(args.path),
                                        "--jobs", str(jobs), "--min-confidence", level,
                                        "--format", "json", "--output", str(out)])
            found = len(json.loads(out.read_text())["findings"]) if out.exists() else -1
            walls[jobs] = wall
            print(f"{level} --jobs {jobs}: {wall:.2f} s wall, {cpu:.2f} s CPU, "
                  f"{mb / wall:.1f} MB/s, {found} finding(s) (exit {rc})", flush=True)
        print(f"{level}: --jobs 2 is {walls[1] / walls[2]:.2f}x faster than --jobs 1")
    print(f"load average after: {load()}")
    os.sync()


if __name__ == "__main__":
    main()
