"""Image -> text with word boxes, by tesseract (in process, or the program: engine.py).

Preparation follows what measured best on this kind of input (see bench/):
grayscale, dark mode inverted, small text upscaled with LANCZOS, page
segmentation mode 6. Otsu thresholding and digit whitelists made codes worse,
so tesseract binarises on its own.

The text keeps the page's layout (`mfaleaks.images.layout`): columns apart, one
line per text line, and every word's box in the pixels of the image the
caller passed in, not of the upscaled copy.

Nothing is written to disk: the page goes to the engine in memory and its
words come back in memory (engine.py), whichever engine reads.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageOps, ImageStat

from mfaleaks.images import engine
from mfaleaks.images.layout import layout, words_from_tsv
from mfaleaks.models import Box

PSM = f"--psm {engine.PSM}"
LANG = engine.LANG
UPSCALE_MAX_SIDE = 1600  # without a line height: short side above which text is large enough
READABLE_LINE = 11.0  # px: lines at least this tall are read at their own size
TARGET_LINE = 20.0  # px: smaller lines are enlarged to about this height
MAX_WORK_PIXELS = 16_000_000  # tesseract input cap: upscale less, or downscale, past this
SETTINGS = f"{PSM}|{LANG}|v2"  # part of the cache key: change it when preparation changes


class OcrError(Exception):
    """OCR could not run on one image; the message is a one-line reason."""


@dataclass(frozen=True)
class OcrText:
    text: str
    boxes: tuple[tuple[int, int, Box], ...]
    words: int
    scale: float  # factor applied before tesseract (for reports and the bench)


def tesseract_available() -> bool:
    return engine.current() is not None


def cache_settings() -> str:
    """SETTINGS and the engine that reads (5.5 in process and 5.3 as a program may
    read a page differently): what an image's cache key depends on."""
    return f"{SETTINGS}|{engine.identity()}"


def to_gray(img: Image.Image) -> Image.Image:
    """8-bit grayscale, transparency flattened on white, 16-bit scans scaled down."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        lo, hi = cast(tuple[float, float], img.getextrema())
        span = float(hi - lo) or 1.0
        return img.convert("F").point(lambda v: (v - lo) * 255.0 / span).convert("L")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img if img.mode == "RGBA" else img.convert("RGBA")  # convert() copies
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat.convert("L")
    return img if img.mode == "L" else img.convert("L")


def dark_on_light(gray: Image.Image) -> Image.Image:
    """Dark mode inverted: tesseract expects dark text on a light ground."""
    return ImageOps.invert(gray) if ImageStat.Stat(gray).mean[0] < 128 else gray


@dataclass(frozen=True)
class LineStats:
    """Runs of ink rows in narrow vertical strips: text lines, seen cheaply."""

    runs: int
    median: float  # typical run height in pixels: the height of a text line
    regular: float  # share of runs within 0.6-1.6x the median: lines of text are alike
    ink: float  # share of dark pixels


def line_stats(gray: Image.Image, strip: int = 32) -> LineStats:
    """Measured on dark-on-light grayscale; costs a few ms for a screenshot."""
    w, h = gray.size
    cols = max(1, w // strip)
    ink = gray.point(lambda v: 255 if v < 128 else 0)
    share = float(ImageStat.Stat(ink).mean[0]) / 255.0
    # Each pixel of the profile says whether a row of one strip holds any ink.
    profile = ink.resize((cols, h), Image.Resampling.BOX).tobytes()
    runs = [
        m.end() - m.start()
        for c in range(cols)
        for m in _INK_RUN.finditer(profile[c::cols])
        if m.end() - m.start() >= 3
    ]
    if not runs:
        return LineStats(0, 0.0, 0.0, share)
    med = float(statistics.median(runs))
    regular = sum(1 for r in runs if 0.6 * med <= r <= 1.6 * med) / len(runs)
    return LineStats(len(runs), med, regular, share)


_INK_RUN = re.compile(rb"[^\x00]+")


def factor_for(line_height: float | None, size: tuple[int, int]) -> float:
    """Enlarge small text to lines of about TARGET_LINE px; never past MAX_WORK_PIXELS.

    Measured on the generated set (bench/bench_images.py): 1x screenshots (13 px
    lines) read as well at 1x as at 2x, in half the time; 0.5x ones need 3x.
    """
    w, h = size
    if line_height is None or line_height < 3:
        factor = 2.0 if min(w, h) <= UPSCALE_MAX_SIDE else 1.0
    else:
        # Lines of 11 px and more read as well as larger ones; below, tesseract
        # starts to confuse 1 and 2 unless the text is brought to ~20 px.
        small = line_height < READABLE_LINE
        factor = min(3.0, max(1.0, round(2 * TARGET_LINE / line_height) / 2)) if small else 1.0
    while factor > 1.0 and w * h * factor * factor > MAX_WORK_PIXELS:
        factor -= 0.5
    if w * h > MAX_WORK_PIXELS:
        factor = (MAX_WORK_PIXELS / (w * h)) ** 0.5
    return factor


def prepare(
    img: Image.Image, factor: float | None = None, blank: Sequence[Box] = ()
) -> tuple[Image.Image, float]:
    """Grayscale, dark text on light, resized: what tesseract reads best.

    `blank` areas (QR codes, already decoded) are painted over: tesseract would
    only read their modules as garbage words, slowly.
    """
    gray = dark_on_light(to_gray(img))
    if blank:
        gray = gray.copy() if gray is img else gray
        draw = ImageDraw.Draw(gray)
        for left, top, width, height in blank:
            draw.rectangle([left, top, left + width, top + height], fill=255)
    if factor is None:
        stats = line_stats(gray)
        factor = factor_for(stats.median if stats.runs >= 8 else None, gray.size)
    if factor != 1.0:
        size = (max(1, round(gray.width * factor)), max(1, round(gray.height * factor)))
        gray = gray.resize(size, Image.Resampling.LANCZOS)
    return gray, factor


def read_text(
    img: Image.Image, timeout: float, factor: float | None = None, blank: Sequence[Box] = ()
) -> OcrText:
    """OCR one image; raises OcrError with a reason when tesseract fails or times out."""
    prepared, factor = prepare(img, factor, blank)
    words = words_from_tsv(_run_tesseract(prepared, timeout))
    text, boxes = layout(words, factor, img.size)
    return OcrText(text, boxes, len(words), factor)


def _run_tesseract(prepared: Image.Image, timeout: float) -> list[list[str]]:
    try:
        return engine.read_tsv(prepared, timeout)
    except engine.EngineError as exc:
        raise OcrError(str(exc)) from exc


def edge_fraction(gray: Image.Image, threshold: int = 64) -> float:
    """Share of pixels on a sharp edge: text is made of them, smooth photos have few."""
    edges = gray.filter(ImageFilter.FIND_EDGES).point(lambda v: 255 if v > threshold else 0)
    return float(ImageStat.Stat(edges).mean[0]) / 255.0


def step_edges(gray: Image.Image, step: int) -> float:
    """Share of neighbour pairs (across and down) more than `step` grey levels apart.
    ~10x cheaper than edge_fraction's 3x3 filter: for the first glance at a picture."""
    w, h = gray.size
    if w < 2 or h < 2:
        return 0.0
    across = ImageChops.difference(gray.crop((1, 0, w, h)), gray.crop((0, 0, w - 1, h)))
    down = ImageChops.difference(gray.crop((0, 1, w, h)), gray.crop((0, 0, w, h - 1)))
    sharp = sum(across.histogram()[step + 1:]) + sum(down.histogram()[step + 1:])
    return sharp / ((w - 1) * h + w * (h - 1))
