"""Throughput on a folder of plain text: MB/s and files/s of `mfaleaks scan`.

Usage: python bench/bench_text.py [FOLDER] [--size-mb 100] [--jobs N]
Without FOLDER, builds one under /tmp from the Python standard library's
text files (copied until --size-mb is reached) with a few planted code files.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import sysconfig
import time
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


def timed(cmd: list[str]) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        sys.exit(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    return elapsed, proc.returncode


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
    elapsed, rc = timed([exe, "scan", "-q", "--format", "json", "--jobs", str(args.jobs),
                         str(folder)])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"folder: {folder} ({files} files, {size / 1e6:.1f} MB)")
    print(f"mfaleaks --jobs {args.jobs}: {elapsed:.2f} s, {size / 1e6 / elapsed:.1f} MB/s, "
          f"{files / elapsed:.0f} files/s, peak RSS of one process {peak:.0f} MB, exit {rc}")


if __name__ == "__main__":
    main()
