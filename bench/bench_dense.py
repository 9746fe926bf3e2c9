"""Worst case for scoring: text dense with codes and recovery wording, on one core.

Usage: python bench/bench_dense.py [--size-mb 1] [--repeat 3]

Builds (in memory, seeded) text where every line names recovery codes and
holds 8-digit numbers and GitHub-like codes, the shape of a dump of many users'
codes. Every span of it is worth scanning, so the per-byte shortcuts of
ordinary text do not apply: this measures shapes, clustering and scoring.
Prints seconds per MB (best of --repeat) and the findings made.
"""

from __future__ import annotations

import argparse
import random
import time

from mfaleaks.config import ScanConfig
from mfaleaks.models import Origin, Source, TextChunk
from mfaleaks.run.scan import engine_spec


def dense_text(size: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    parts: list[str] = []
    total = 0
    while total < size:
        line = (
            f"recovery codes {rng.randrange(10**4):04d} {rng.randrange(10**4):04d} "
            f"{rng.getrandbits(20):05x}-{rng.getrandbits(20):05x} "
        )
        parts.append(line)
        total += len(line)
    return "".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    engine = engine_spec(ScanConfig(paths=("-",))).build()
    source = Source(origin=Origin("dense.txt"), name="dense.txt", data=b"")
    text = dense_text(int(args.size_mb * 1_000_000))
    chunk = TextChunk(text=text)
    best, findings = float("inf"), 0
    for _ in range(args.repeat):
        start = time.perf_counter()
        findings = len(list(engine.scan_chunk(chunk, source)))
        best = min(best, time.perf_counter() - start)
    mb = len(text.encode()) / 1e6
    print(f"dense text: {mb:.2f} MB in {best:.2f} s (best of {args.repeat}): "
          f"{best / mb:.2f} s/MB, {findings} finding(s)")


if __name__ == "__main__":
    main()
