"""Mailbox throughput and memory: MB/s and peak RSS on generated mbox files.

Usage: python bench/bench_mail.py [--sizes-mb 100,500] [--ocr] [--keep]

Builds Takeout-like mbox files under /tmp (text and HTML bodies, binary, CSV,
zip and PNG attachments, codes in one message out of 500), then measures,
each in a fresh process so peak RSS belongs to that run alone:
- split: the mbox splitter alone (read, find separators, assemble messages);
- extract: split + MIME parsing + payload decoding, no rule engine, children
  not followed;
- scan: `mfaleaks scan --jobs 1` end to end (OCR off unless --ocr).
Peak RSS at two sizes shows whether memory stays flat as the file grows.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

SPLIT = """
import sys
from mfaleaks.extract.mbox import split_mbox
n = 0
with open(sys.argv[1], "rb") as fh:
    for raw in split_mbox(fh, 512 * 2**20):
        n += 1
print(n)
"""

EXTRACT = """
import sys
from mfaleaks.extract.base import Budget, Context, Limits
from mfaleaks.extract.mail import extract_eml
from mfaleaks.extract.mbox import extract_mbox
from mfaleaks.models import Origin, Source, TextChunk
ctx = Context(Limits(ocr=False), Budget())
path = sys.argv[1]
box = Source(Origin(path), "box.mbox", fs_path=path)
messages = chunks = children = 0
for message in extract_mbox(box, ctx):
    if not isinstance(message, Source):
        continue
    messages += 1
    for item in extract_eml(message, ctx):
        if isinstance(item, TextChunk):
            chunks += 1
        elif isinstance(item, Source):
            children += 1
print(messages, chunks, children)
"""


def build(path: Path, size_mb: int) -> int:
    import gen_mail

    with path.open("wb") as fh:
        return gen_mail.write_big_mbox(fh, size_mb * 1_000_000, random.Random(size_mb))


MEASURE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({"rc": proc.returncode, "out": proc.stdout, "err": proc.stderr[-800:],
                  "secs": time.perf_counter() - start,
                  "peak": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def run(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) of the largest process of this run, its stdout.

    A fresh wrapper process per run: RUSAGE_CHILDREN only ever grows, so the
    bench's own would report the largest of all runs so far.
    """
    wrapped = subprocess.run([sys.executable, "-c", MEASURE, *cmd], capture_output=True,
                             text=True, check=True)
    res = json.loads(wrapped.stdout)
    if res["rc"] not in (0, 1):
        sys.exit(f"{cmd[:3]} failed ({res['rc']}): {res['err']}")
    return float(res["secs"]), res["peak"] / 1024, str(res["out"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes-mb", default="100,500")
    ap.add_argument("--ocr", action="store_true", help="OCR image attachments too")
    ap.add_argument("--keep", action="store_true", help="keep the generated mbox files")
    args = ap.parse_args()
    python = sys.executable
    exe = str(Path(python).with_name("mfaleaks"))
    for size_mb in sorted(int(s) for s in args.sizes_mb.split(",")):
        path = Path(f"/tmp/mfaleaks-bench-mail-{size_mb}.mbox")
        if not path.exists():
            start = time.perf_counter()
            count = build(path, size_mb)
            print(f"built {path} ({count} messages) in {time.perf_counter() - start:.0f} s")
        mb = path.stat().st_size / 1e6
        print(f"{path.name}: {mb:.0f} MB")
        secs, peak, out = run([python, "-c", SPLIT, str(path)])
        print(f"  split   {mb / secs:7.1f} MB/s  {secs:6.1f} s  peak RSS {peak:5.0f} MB"
              f"  ({out.strip()} messages)")
        secs, peak, out = run([python, "-c", EXTRACT, str(path)])
        messages, chunks, children = out.split()
        print(f"  extract {mb / secs:7.1f} MB/s  {secs:6.1f} s  peak RSS {peak:5.0f} MB"
              f"  ({messages} messages, {chunks} bodies, {children} attachments)")
        cmd = [exe, "scan", "-q", "--format", "json", "--jobs", "1", "--file-timeout", "0"]
        cmd += [] if args.ocr else ["--no-ocr"]
        secs, peak, out = run([*cmd, str(path)])
        report = json.loads(out)
        print(f"  scan    {mb / secs:7.1f} MB/s  {secs:6.1f} s  peak RSS {peak:5.0f} MB"
              f"  ({len(report['findings'])} findings, {len(report['errors'])} errors,"
              f" OCR {'on' if args.ocr else 'off'})")
        if not args.keep:
            path.unlink()


if __name__ == "__main__":
    main()
