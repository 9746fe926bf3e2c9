"""Images: screenshots per second on 2 cores, time to dismiss a photo, recall.

Usage: python bench/bench_images.py [--screens 24] [--jobs 2] [--quick]

1. Throughput: N generated 1280x800 backup-code screenshots (Google and GitHub
   pages, light and dark, four fonts, PNG and JPEG q70) read by the image
   extractor (decode, QR, text check, OCR) in a pool of --jobs processes; then
   the same folder through `mfaleaks scan --jobs N` (process start included; three
   timed runs, then one more whose processes' CPU is sampled from /proc), and
   the CLI on one screenshot: what start-up costs.
   CPU seconds per picture too: the machine may be shared, wall time is not
   the whole story.
2. Dismissal: pictures that cannot hold a code (too small, one colour, photos
   without sharp edges) through the extractor, per picture.
3. Recall on the generated test set (tests/gen_images.py): codes read by OCR,
   and images whose finding has the expected service through the real CLI;
   negatives must give nothing above low.
4. Engines: codes read by tesserocr (5.5, in process) and by the tesseract
   program (MFALEAKS_OCR_ENGINE=program) on the screenshots and the test set.
5. Pictures as people take them (gen_images.people_set): codes read with each
   photo step turned off in turn, and CPU per picture (--quick skips 4 and 5).
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from PIL import Image

from mfaleaks.detect.ocrfix import normalise_ocr
from mfaleaks.extract.base import Budget, Context, Limits
from mfaleaks.extract.image import extract_image
from mfaleaks.images import engine, ocr, ocrcache
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


def read(item: tuple[str, bytes]) -> tuple[str, str, float, float]:
    """(name, OCR text, wall seconds, CPU seconds of this process)."""
    name, data = item
    start, cpu = time.perf_counter(), time.process_time()
    ctx = Context(Limits(), Budget())
    chunks = list(extract_image(Source(Origin(name), name, data=data, size=len(data)), ctx))
    text = "\n".join(c.text for c in chunks if isinstance(c, TextChunk) and c.source == "ocr")
    return name, text, time.perf_counter() - start, time.process_time() - cpu


def codes_read(codes: list[str], text: str) -> int:
    text = normalise_ocr(text)
    return sum(c in text or c.replace(" ", "") in text for c in codes)


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
    read_ok = sum(codes_read(codes[n], t) for n, t, _, _ in results)
    total = sum(len(c) for c in codes.values())
    per_image = statistics.median(r[2] for r in results)
    cpu = sum(r[3] for r in results) / len(results)
    return {
        f"pool of {jobs}: images/s ({len(items)} screenshots)": f"{len(items) / wall:.2f}",
        f"pool of {jobs}: median s per image": f"{per_image:.3f}",
        f"pool of {jobs}: CPU s per image": f"{cpu:.3f}",
        f"pool of {jobs}: codes read": f"{read_ok}/{total}",
    }


def cli_throughput(shots: list[tuple[str, bytes, list[str]]], jobs: int) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        for name, data, _ in shots:
            Path(tmp, name).write_bytes(data)
        cmd = [MFALEAKS, "scan", tmp, "--format", "json", "--jobs", str(jobs)]
        # Timed alone: the CPU sampler below reads every /proc/N/stat 50 times a second,
        # a quarter of a core that the two workers of a 2-core machine then lack.
        walls = []
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, check=False)
            walls.append(time.perf_counter() - start)
        with tempfile.TemporaryFile() as out:
            proc = subprocess.Popen(cmd, stdout=out, start_new_session=True)
            per_process: dict[int, float] = {}
            cpu = _session_cpu(proc, per_process)
            out.seek(0)
            report = json.loads(out.read())
    wall = statistics.median(walls)
    return {
        f"CLI --jobs {jobs}: images/s (start-up included, median of 3)":
            f"{len(shots) / wall:.2f} (best {len(shots) / min(walls):.2f})",
        f"CLI --jobs {jobs}: CPU s per image (all its processes)": f"{cpu / len(shots):.3f}",
        "CLI findings": str(len(report["findings"])),
        "CLI stats pictures read / dismissed":
            f"{report['stats'].get('pictures_read')} / {report['stats'].get('pictures_dismissed')}",
        # The scan's wall time follows its busiest worker: pictures go to workers in
        # batches by a hash of their size (run/pool.py), not to whichever is free.
        f"CLI --jobs {jobs}: CPU s of its {jobs} busiest processes": " / ".join(
            f"{c:.2f}" for c in sorted(per_process.values(), reverse=True)[:jobs]),
    }


def cli_startup(shots: list[tuple[str, bytes, list[str]]], jobs: int) -> dict[str, str]:
    """What a scan costs before and around its pictures: the CLI on one screenshot (start,
    fork server, rules, OCR engine, one picture), best of three; with the pool's CPU per
    picture, this says how much of the CLI's figure is start-up."""
    with tempfile.TemporaryDirectory() as tmp:
        name, data, _ = shots[0]
        Path(tmp, name).write_bytes(data)
        cmd = [MFALEAKS, "scan", tmp, "--format", "json", "--jobs", str(jobs)]
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, start_new_session=True)
            cpu = _session_cpu(proc)
            runs.append((time.perf_counter() - start, cpu))
    wall, cpu = min(runs)
    label = f"CLI --jobs {jobs} on one screenshot (best of 3)"
    return {label: f"{wall:.2f} s wall, {cpu:.2f} s CPU"}


def _session_cpu(proc: subprocess.Popen[bytes], per_process: dict[int, float] | None = None
                 ) -> float:
    """CPU seconds of every process of the scan's session (the CLI, the fork server, the
    workers), sampled from /proc every 20 ms until the CLI ends; each process's own in
    `per_process` when given."""
    tick = os.sysconf("SC_CLK_TCK")
    seen: dict[int, int] = {}
    while True:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path("/proc", entry, "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[3]) == proc.pid:  # session id
                seen[int(entry)] = int(fields[11]) + int(fields[12])
        if proc.poll() is not None:
            if per_process is not None:
                per_process.update({pid: ticks / tick for pid, ticks in seen.items()})
            return sum(seen.values()) / tick
        time.sleep(0.02)


def dismissal() -> dict[str, str]:
    rng = random.Random(7)
    cases = [
        ("a 48x48 icon (too small)", gen.encode(gen.render_photo(rng, (48, 48)), "PNG")),
        ("a one-colour 1280x800 PNG", gen.encode(Image.new("RGB", (1280, 800), (240, 240, 240)),
                                                "PNG")),
        ("a 2 MP PNG photo", gen.encode(gen.render_photo(rng, (1600, 1200)), "PNG")),
        ("a 12 MP JPEG photo", gen.encode(gen.render_photo(rng, (4000, 3000)), "JPEG",
                                          quality=90)),
    ]
    out = {}
    for label, data in cases:
        times, cpus = [], []
        for _ in range(5):
            ocrcache.clear_memory()
            _, text, seconds, cpu = read(("photo", data))
            assert text == "", "a picture without text was OCR'd"
            times.append(seconds)
            cpus.append(cpu)
        decode = _decode_ms(data)
        out[f"dismiss {label} (median of 5)"] = (
            f"{statistics.median(times) * 1000:.1f} ms wall, "
            f"{statistics.median(cpus) * 1000:.1f} ms CPU; of which decoding {decode:.1f} ms; "
            f"counted dismissed: {_dismissed(data)}")
    out.update(kept())
    return out


def _dismissed(data: bytes) -> bool:
    ocrcache.clear_memory()
    ctx = Context(Limits(), Budget())
    list(extract_image(Source(Origin("p"), "p", data=data, size=len(data)), ctx))
    return ctx.budget.pictures_dismissed == 1


def kept() -> dict[str, str]:
    """Pictures that must not be dismissed: a few codes on a large, mostly empty page (a
    small share of the picture). Main dismissed all three as one colour."""
    codes = gen.google_codes(random.Random(5))
    crop = gen.render_google(codes).crop((300, 230, 1000, 620))
    half = crop.crop((0, 0, crop.width, crop.height // 2))
    out = {}
    pages = (("half a code box on a 2560x1600 PNG", (2560, 1600), half, "PNG"),
             ("a code box on a 3840x2160 PNG", (3840, 2160), crop, "PNG"),
             ("half a code box on a 4000x3000 JPEG", (4000, 3000), half, "JPEG"))
    for label, canvas, box, fmt in pages:
        page = Image.new("RGB", canvas, (255, 255, 255))
        page.paste(box, (canvas[0] // 3, canvas[1] // 2))
        data = gen.encode(page, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
        ocrcache.clear_memory()
        _, text, _, cpu = read(("page", data))
        shown = [c for c in codes if c in normalise_ocr(text) or c.replace(" ", "") in text]
        out[f"kept: {label}"] = (f"dismissed: {_dismissed(data)}; {len(shown)} codes read "
                                 f"({cpu:.2f} CPU s)")
    return out


def _decode_ms(data: bytes) -> float:
    """What the glance costs just to decode (JPEG at 1/8 size, others whole)."""
    times = []
    for _ in range(5):
        start = time.perf_counter()
        img = Image.open(io.BytesIO(data))
        if img.format == "JPEG":
            img.draft("L", (img.width // 8, img.height // 8))
        img.load()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


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
    codes_total = got = 0
    for s in samples:
        if s.codes:
            _, text, _, _ = read((s.name, s.data))
            codes_total += len(s.codes)
            got += codes_read(s.codes, text)
    missed = sorted({s.name for s in positives} - set(hit))
    return {
        "generated set: images with the right service (medium+)":
            f"{len(hit)}/{len(positives)}" + (f" missed {missed}" if missed else ""),
        "generated set: codes read by OCR": f"{got}/{codes_total}",
        "negatives above low": f"{len(noisy)}/{len(negatives)}",
        "errors": str(len(report["errors"])),
    }


def engines(shots: list[tuple[str, bytes, list[str]]]) -> dict[str, str]:
    """Codes read by each engine on the same pictures, one process, cold."""
    pictures = [(n, d, c) for n, d, c in shots]
    pictures += [(s.name, s.data, s.codes) for s in gen.build_set(random.Random(4)) if s.codes]
    out = {}
    for name in ("tesserocr", "program"):
        if name == "program":
            os.environ[engine.FORCE_ENV] = "program"
        engine.reset()
        try:
            if engine.identity().startswith(name):
                got = cpu = 0.0
                for picture, data, codes in pictures:
                    ocrcache.clear_memory()
                    _, text, _, seconds = read((picture, data))
                    got += codes_read(codes, text)
                    cpu += seconds
                total = sum(len(c) for _, _, c in pictures)
                # The program's own CPU is its process's, not counted here.
                out[f"engine {engine.identity()}: codes read"] = f"{got:.0f}/{total}"
        finally:
            os.environ.pop(engine.FORCE_ENV, None)
            engine.reset()
    return out


def people() -> dict[str, str]:
    """gen_images.people_set: photo steps turned off in turn (all on last)."""
    samples = [s for s in gen.people_set(random.Random(21)) if s.codes]
    steps: list[tuple[str, dict[str, Any]]] = [
        ("no photo help", {"uneven": lambda _stats: False}),
        ("light evened out only", {"SKEW_MIN": 99.0,
                                   "photo_dark_on_light": ocr.dark_on_light}),
        ("+ photo polarity", {"SKEW_MIN": 99.0}),
        ("+ levelled (all steps)", {}),
    ]
    out = {}
    for label, patch in steps:
        saved = {k: getattr(ocr, k) for k in patch}
        for k, v in patch.items():
            setattr(ocr, k, v)
        try:
            got = 0
            cpu = 0.0
            for s in samples:
                ocrcache.clear_memory()
                _, text, _, seconds = read((s.name, s.data))
                got += codes_read(s.codes, text)
                cpu += seconds
        finally:
            for k, v in saved.items():
                setattr(ocr, k, v)
        total = sum(len(s.codes) for s in samples)
        out[f"photos etc. ({len(samples)} pictures), {label}"] = (
            f"{got}/{total} codes, {cpu / len(samples):.3f} CPU s per picture")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--screens", type=int, default=24)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    shots = screenshots(args.screens)
    warm = screenshots(args.jobs, seed=43)
    figures: dict[str, str] = {"OCR engine": engine.identity()}
    figures.update(throughput(shots, args.jobs, warm))
    figures.update(throughput(shots[: max(4, args.screens // 3)], 1, warm))
    figures.update(cli_throughput(shots, args.jobs))
    figures.update(cli_startup(shots, args.jobs))
    figures.update(dismissal())
    figures.update(recall())
    if not args.quick:
        figures.update(engines(shots))
        figures.update(people())
    figures["load average (1, 5, 15 min) at the end"] = " ".join(
        f"{x:.1f}" for x in os.getloadavg())
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
