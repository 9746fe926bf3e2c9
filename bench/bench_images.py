"""Images: screenshots per second on 2 cores, time to dismiss a photo, recall.

Usage: python bench/bench_images.py [--screens 24] [--jobs 2]

1. Throughput: N generated 1280x800 backup-code screenshots (Google and GitHub
   pages, light and dark, four fonts, PNG and JPEG q70) read by the image
   extractor (decode, QR, text check, OCR) in a pool of --jobs processes; then
   the same folder through `mfaleaks scan --jobs N` (process start included).
2. Dismissal: a 12 MP and a 2 MP photo without text through the extractor.
3. Recall on the generated test set (tests/gen_images.py): codes read by OCR,
   and images whose finding has the expected service through the real CLI;
   negatives must give nothing above low.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from mfaleaks.detect.ocrfix import normalise_ocr
from mfaleaks.extract.base import Budget, Context, Limits
from mfaleaks.extract.image import extract_image
from mfaleaks.images import ocrcache
from mfaleaks.models import Origin, Source, TextChunk

REPO = Path(__file__).resolve().parents[1]
MFALEAKS = str(Path(sys.executable).parent / "mfaleaks")


def _gen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_images", REPO / "tests" / "gen_images.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_images"] = module
    spec.loader.exec_module(module)
    return module


gen = _gen()


def screenshots(n: int, seed: int = 42) -> list[tuple[str, bytes, list[str]]]:
    rng = random.Random(seed)
    fonts = ["dejavu-sans", "liberation-sans", "liberation-serif", "dejavu-mono"]
    out = []
    for i in range(n):
        theme = "dark" if i % 2 else "light"
        if i % 4 == 3:
            codes = gen.github_codes(rng)
            img = gen.render_github(codes, theme=theme)
        else:
            codes = gen.google_codes(rng)
            img = gen.render_google(codes, font=fonts[i % len(fonts)], theme=theme)
        if i % 3 == 2:
            out.append((f"shot{i:02d}.jpg", gen.encode(img, "JPEG", quality=70), codes))
        else:
            out.append((f"shot{i:02d}.png", gen.encode(img, "PNG"), codes))
    return out


def read(item: tuple[str, bytes]) -> tuple[str, str, float]:
    name, data = item
    start = time.perf_counter()
    ctx = Context(Limits(), Budget())
    chunks = list(extract_image(Source(Origin(name), name, data=data, size=len(data)), ctx))
    text = "\n".join(c.text for c in chunks if isinstance(c, TextChunk) and c.source == "ocr")
    return name, text, time.perf_counter() - start


def throughput(
    shots: list[tuple[str, bytes, list[str]]], jobs: int, warm: list[tuple[str, bytes, list[str]]]
) -> dict[str, str]:
    items = [(name, data) for name, data, _ in shots]
    # The pool's processes are forked from this one, and share its table of pictures
    # read (ocrshare): emptied, so that no phase finds the readings of the one before.
    ocrcache.clear_memory()
    with multiprocessing.Pool(jobs) as pool:
        # Warm the workers (imports, first tesseract) on other pictures than the timed ones.
        pool.map(read, [(name, data) for name, data, _ in warm], chunksize=1)
        start = time.perf_counter()
        results = pool.map(read, items, chunksize=1)
        wall = time.perf_counter() - start
    codes = {name: c for name, _, c in shots}
    read_ok = sum(
        sum(c in normalise_ocr(t) or c.replace(" ", "") in normalise_ocr(t) for c in codes[n])
        for n, t, _ in results
    )
    total = sum(len(c) for c in codes.values())
    per_image = statistics.median(r[2] for r in results)
    return {
        f"pool of {jobs}: images/s ({len(items)} screenshots)": f"{len(items) / wall:.2f}",
        f"pool of {jobs}: median s per image": f"{per_image:.3f}",
        f"pool of {jobs}: codes read": f"{read_ok}/{total}",
    }


def cli_throughput(shots: list[tuple[str, bytes, list[str]]], jobs: int) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        for name, data, _ in shots:
            Path(tmp, name).write_bytes(data)
        cmd = [MFALEAKS, "scan", tmp, "--format", "json", "--jobs", str(jobs)]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, check=False)
        wall = time.perf_counter() - start
    report = json.loads(proc.stdout)
    return {
        f"CLI --jobs {jobs}: images/s (start-up included)": f"{len(shots) / wall:.2f}",
        "CLI findings": str(len(report["findings"])),
    }


def dismissal() -> dict[str, str]:
    rng = random.Random(7)
    out = {}
    for label, size, fmt in [("12 MP JPEG", (4000, 3000), "JPEG"),
                             ("2 MP PNG", (1600, 1200), "PNG")]:
        data = gen.encode(gen.render_photo(rng, size), fmt, quality=90)
        times = []
        for _ in range(5):
            ocrcache.clear_memory()
            _, text, seconds = read((f"photo.{fmt.lower()}", data))
            assert text == "", "a photo without text was OCR'd"
            times.append(seconds)
        out[f"dismiss a {label} photo (median of 5)"] = f"{statistics.median(times) * 1000:.0f} ms"
    return out


def recall() -> dict[str, str]:
    samples = gen.build_set(random.Random(4))
    with tempfile.TemporaryDirectory() as tmp:
        for s in samples:
            Path(tmp, s.name).write_bytes(s.data)
        cmd = [MFALEAKS, "scan", tmp, "--format", "json", "--jobs", "2"]
        report = json.loads(subprocess.run(cmd, capture_output=True, check=False).stdout)
    by_file: dict[str, list[dict[str, object]]] = {}
    for f in report["findings"]:
        by_file.setdefault(Path(str(f["path"])).name, []).append(f)
    positives = [s for s in samples if s.service]
    def right(s: Any, f: dict[str, object]) -> bool:
        # A page that never names its service can only be matched by a generic rule.
        services = {s.service, "generic"} if s.meta.get("named") == "no" else {s.service}
        return f["service"] in services and f["confidence"] != "low"

    hit = [s.name for s in positives if any(right(s, f) for f in by_file.get(s.name, []))]
    negatives = [s for s in samples if not s.service]
    noisy = [s.name for s in negatives
             if any(f["confidence"] != "low" for f in by_file.get(s.name, []))]
    codes_total = codes_read = 0
    for s in samples:
        if s.codes:
            _, text, _ = read((s.name, s.data))
            text = normalise_ocr(text)
            codes_total += len(s.codes)
            codes_read += sum(c in text or c.replace(" ", "") in text for c in s.codes)
    missed = sorted({s.name for s in positives} - set(hit))
    return {
        "generated set: images with the right service (medium+)":
            f"{len(hit)}/{len(positives)}" + (f" missed {missed}" if missed else ""),
        "generated set: codes read by OCR": f"{codes_read}/{codes_total}",
        "negatives above low": f"{len(noisy)}/{len(negatives)}",
        "errors": str(len(report["errors"])),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--screens", type=int, default=24)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    shots = screenshots(args.screens)
    warm = screenshots(args.jobs, seed=43)
    figures: dict[str, str] = {}
    figures.update(throughput(shots, args.jobs, warm))
    figures.update(throughput(shots[: max(4, args.screens // 3)], 1, warm))
    figures.update(cli_throughput(shots, args.jobs))
    figures.update(dismissal())
    figures.update(recall())
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
