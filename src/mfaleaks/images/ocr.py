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

import dataclasses
import functools
import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageMath, ImageOps, ImageStat

from mfaleaks.images import engine
from mfaleaks.images.layout import Word, layout, words_from_tsv
from mfaleaks.models import Box

PSM = f"--psm {engine.PSM}"
LANG = engine.LANG
UPSCALE_MAX_SIDE = 1600  # without a line height: short side above which text is large enough
READABLE_LINE = 10.0  # px: lines at least this tall are read at their own size
TARGET_LINE = 20.0  # px: smaller lines are enlarged to about this height
REDUCE_FROM = 20.0  # px: lines at least this tall are read at half size (factor_for)
REDUCE_TO = 40.0  # px: ... and at most this tall (2x and 3x screenshots: 20-36 px)
REDUCE_REGULAR = 0.6  # ... when this share of ink runs is alike (LineStats.regular).
# Both say the runs are text lines, not filled boxes: a report's thumbnail whose codes
# are covered measured 22 px 'lines' at 0.19, one whose QR code is painted over 48 px
# at 0.80; read at half size, their 13-15 px text was lost. Screenshots: 0.77-0.96.
MAX_WORK_PIXELS = 16_000_000  # tesseract input cap: upscale less, or downscale, past this
SETTINGS = f"{PSM}|{LANG}|v5"  # part of the cache key: change it when preparation changes


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
    ink = gray.point(_INK_LUT)
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
# Lookup tables for Image.point: given a function, Pillow calls it 256 times per call
# in Python (~0.1 ms each; line_stats and the checks use them ~10 times per picture).
_INK_LUT = [255 if v < 128 else 0 for v in range(256)]


@functools.lru_cache(maxsize=16)
def _above_lut(threshold: int) -> list[int]:
    return [255 if v > threshold else 0 for v in range(256)]


def factor_for(line_height: float | None, size: tuple[int, int], reduce: bool = True) -> float:
    """Enlarge small text to lines of about TARGET_LINE px; never past MAX_WORK_PIXELS.
    Unless `reduce` is False (photos, lines of unlike heights), read text with lines of
    REDUCE_FROM to REDUCE_TO px at half size.

    Measured on the generated set (bench/bench_images.py): 1x screenshots (13 px
    lines) read as well at 1x as at 2x, in half the time; 0.5x ones need 3x.
    """
    w, h = size
    if reduce and line_height is not None and REDUCE_FROM <= line_height <= REDUCE_TO:
        # 2x and 3x screenshots (lines of 20-36 px) read at half size: 5-26% less CPU
        # each, the same codes, one more on a 2x GitHub page (15 -> 16 of 16). Other
        # factors did worse: to 12 px lines exactly (0.55 for 22 px lines) read up to 3
        # codes fewer there; a third (a 3x phone page) read the same codes, but its list
        # numbers came apart from them and into the finding's box; a phone photo of a
        # screen (21 px lines) read one code fewer at half size (photos are not reduced).
        factor = 0.5
    elif line_height is None or line_height < 3:
        factor = 2.0 if min(w, h) <= UPSCALE_MAX_SIDE else 1.0
    else:
        # Lines of 10 px and more read as well as larger ones (a 15 px serif font's
        # lines measure 10 px: at 1x it read the same codes as at 2x, in ~60% of the
        # time); below, tesseract starts to confuse 1 and 2 unless the text is
        # brought to ~20 px.
        small = line_height < READABLE_LINE
        factor = min(3.0, max(1.0, round(2 * TARGET_LINE / line_height) / 2)) if small else 1.0
    while factor > 1.0 and w * h * factor * factor > MAX_WORK_PIXELS:
        factor -= 0.5
    if w * h * factor * factor > MAX_WORK_PIXELS:
        factor = (MAX_WORK_PIXELS / (w * h)) ** 0.5
    return factor


def prepare(
    img: Image.Image, factor: float | None = None, blank: Sequence[Box] = ()
) -> tuple[Image.Image, float]:
    """Grayscale, dark text on light, resized: what tesseract reads best.

    `blank` areas (QR codes, already decoded) are painted over: tesseract would
    only read their modules as garbage words, slowly.
    """
    gray = _paint_over(dark_on_light(to_gray(img)), img, blank)
    if factor is None:
        stats = line_stats(gray)
        factor = factor_for(stats.median if stats.runs >= 8 else None, gray.size,
                            reduce=stats.regular >= REDUCE_REGULAR)
    if factor != 1.0:
        size = (max(1, round(gray.width * factor)), max(1, round(gray.height * factor)))
        gray = gray.resize(size, Image.Resampling.LANCZOS)
    return gray, factor


def _paint_over(gray: Image.Image, original: Image.Image, blank: Sequence[Box]) -> Image.Image:
    """`blank` boxes painted white on `gray`, copied first when it is still the caller's
    `original` (to_gray and dark_on_light return their input when it needs no change)."""
    if not blank:
        return gray
    gray = gray.copy() if gray is original else gray
    draw = ImageDraw.Draw(gray)
    for left, top, width, height in blank:
        draw.rectangle([left, top, left + width, top + height], fill=255)
    return gray


def read_text(
    img: Image.Image, timeout: float, factor: float | None = None, blank: Sequence[Box] = ()
) -> OcrText:
    """OCR one image; raises OcrError with a reason when tesseract fails or times out."""
    words, factor = _words_at(img, timeout, factor, blank)
    text, boxes = layout(words, factor, img.size)
    for scale in AGAIN_SCALES:
        regions = damaged_regions(words, factor, img.size) if _WORDING.search(text) else []
        if not regions:
            break
        # Recovery wording, and codes that came out damaged: the lines that hold them
        # are read once more at another scale, and where that reading has a whole code
        # in the place of a damaged word, it is taken (bench: 396 -> 403 of 414 codes,
        # main's 5.3 program read 397). Each group of damaged lines is read on its own,
        # with a few line heights of the page around it: not the whole strip of the page
        # from the first damaged line to the last (issue 20: 7.4 -> 1.6 MP of second
        # readings on the bench's 24 screenshots, and 270 -> 272 of their 276 codes).
        other = factor * scale if factor <= 2.0 else factor / scale
        for left, top, width, height in regions:
            shifted = [(x - left, y - top, w, h) for x, y, w, h in blank]
            crop = img.crop((left, top, left + width, top + height))
            again, other = _words_at(crop, timeout, other, shifted)
            words = mend(words, factor, again, other, (left, top))
        text, boxes = layout(words, factor, img.size)
    return OcrText(text, boxes, len(words), factor)


AROUND = 6.0  # line heights of the page kept left and right of a group of damaged words


def damaged_regions(words: list[Word], factor: float, size: tuple[int, int]) -> list[Box]:
    """Where to read again (boxes in the caller's pixels): the damaged words in groups
    whose strips (a word's height above and below it) overlap, each group with a line
    height more above and below and AROUND line heights left and right; [] when none.
    (Cropped to the words alone, tesseract read two codes fewer on the bench; the page's
    whole width one fewer than AROUND = 6 line heights, 4 as many as 6, 2 and 3 one fewer.)"""
    hit = sorted((_scaled(w, 1 / factor) for w in words if _damaged(w.text)),
                 key=lambda box: box[1])
    groups: list[list[tuple[float, float, float, float]]] = []
    for box in hit:
        # Strips that would overlap (each word's height above and below it) are one.
        last = groups[-1] if groups else []
        if last and box[1] - (box[3] - box[1]) <= max(b[3] for b in last) + _height(last):
            groups[-1].append(box)
        else:
            groups.append([box])
    out = []
    for group in groups:
        pad = _height(group)
        top = max(0, int(min(b[1] for b in group) - pad))
        bottom = min(size[1], int(max(b[3] for b in group) + pad) + 1)
        left = max(0, int(min(b[0] for b in group) - AROUND * pad))
        right = min(size[0], int(max(b[2] for b in group) + AROUND * pad) + 1)
        out.append((left, top, right - left, bottom - top))
    return out


def _height(boxes: list[tuple[float, float, float, float]]) -> float:
    return max(b[3] - b[1] for b in boxes)


def _words_at(
    img: Image.Image, timeout: float, factor: float | None, blank: Sequence[Box]
) -> tuple[list[Word], float]:
    prepared, factor = prepare(img, factor, blank)
    return words_from_tsv(_run_tesseract(prepared, timeout)), factor


def _run_tesseract(prepared: Image.Image, timeout: float) -> list[list[str]]:
    try:
        return engine.read_tsv(prepared, timeout)
    except engine.EngineError as exc:
        raise OcrError(str(exc)) from exc


def mend(
    words: list[Word], factor: float, again: list[Word], other: float,
    offset: tuple[int, int] = (0, 0),
) -> list[Word]:
    """Damaged words replaced by a whole code read at the same place in another pass
    (`again`, read at `other` from a crop whose corner is `offset` in the page)."""
    out = []
    for word in words:
        if _damaged(word.text):
            here = _scaled(word, 1 / factor)
            for candidate in again:
                there = _scaled(candidate, 1 / other)
                there = (there[0] + offset[0], there[1] + offset[1],
                         there[2] + offset[0], there[3] + offset[1])
                if _CODE.fullmatch(candidate.text) and _overlap(here, there) >= 0.5:
                    word = dataclasses.replace(word, text=candidate.text)
                    break
        out.append(word)
    return out


def _scaled(word: Word, k: float) -> tuple[float, float, float, float]:
    return (word.left * k, word.top * k, word.right * k, word.bottom * k)


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two (left, top, right, bottom) boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


AGAIN_SCALES = (2.0, 1.5)  # another pass at these scales, while codes stay damaged
_WORDING = re.compile(r"(?i)\b(?:backup|recovery|emergency|scratch)\s+(?:codes?|keys?)\b")
# Whole codes of the common shapes: 4+4 or 8-10 digits, 5-5 hex (GitHub), 4-4 letters
# and digits; a damaged one has digits and a code's length but not a code's shape.
_CODE = re.compile(r"(?<![\w-])(?:\d{4} ?\d{4}|\d{8,10}|[0-9a-f]{5}-[0-9a-f]{5}"
                   r"|[0-9A-Za-z]{4}-[0-9A-Za-z]{4})(?![\w-])")


def needs_second_pass(text: str) -> bool:
    """Recovery wording, and at least one code-length word with digits that is not a
    whole code (a misread character, a dropped one)."""
    return bool(_WORDING.search(text)) and any(_damaged(t) for t in text.split())


def _damaged(token: str) -> bool:
    token = token.rstrip(".,;:)")
    if not 7 <= len(token) <= 13 or "@" in token or "/" in token:
        return False
    return sum(ch.isdigit() for ch in token) >= 3 and not _CODE.fullmatch(token)


def edge_fraction(gray: Image.Image, threshold: int = 64) -> float:
    """Share of pixels on a sharp edge: text is made of them, smooth photos have few."""
    edges = gray.filter(ImageFilter.FIND_EDGES).point(_above_lut(threshold))
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


CONTRAST = 16  # grey levels from the background that count as content (content_box)


def content_box(gray: Image.Image) -> tuple[int, int, int, int] | None:
    """The (left, top, right, bottom) box around every pixel more than CONTRAST grey
    levels from the picture's most common grey (its background), or None when there is
    none. A few codes on a large empty page are a small share of it: the checks that
    judge a page by shares (spread of greys, edges, lines) judge this box instead."""
    hist = gray.histogram()
    ground = max(range(256), key=hist.__getitem__)
    return gray.point(_contrast_lut(ground)).getbbox()


@functools.lru_cache(maxsize=256)
def _contrast_lut(ground: int) -> list[int]:
    return [255 if abs(v - ground) > CONTRAST else 0 for v in range(256)]


# --- help for photos (issue 21): uneven light, tilt ------------------------------------------

FLAT_SIDE = 256  # long side of the copy the paper's brightness is estimated on
SKEW_LIMIT = 10  # degrees: the tilt looked for either way
SKEW_MIN = 1.5  # degrees: tesseract reads smaller tilts as well as straight lines


def uneven(stats: LineStats) -> bool:
    """A photo rather than a screenshot: much of it dark after dark_on_light (a desk, a
    shadow, the far side of a sheet lit from one side). Screenshots stay under 0.08."""
    return stats.ink > 0.15


def photo_dark_on_light(gray: Image.Image) -> Image.Image:
    """dark_on_light for a photo, where a dark desk or a shadow can make a sheet's mean
    dark: the strokes of text differ from their surroundings in one direction, so the
    side on which more pixels stand out from their neighbourhood's mean is the text's."""
    k = max(1, math.ceil(max(gray.size) / 1024))
    small = gray.reduce(k) if k > 1 else gray
    around = small.filter(ImageFilter.BoxBlur(3))
    darker = sum(ImageChops.subtract(around, small).histogram()[STROKE:])
    lighter = sum(ImageChops.subtract(small, around).histogram()[STROKE:])
    return ImageOps.invert(gray) if lighter > darker else gray


STROKE = 40  # grey levels by which a stroke of text stands out from its neighbourhood


def flatten(gray: Image.Image) -> Image.Image:
    """Even out the light: each pixel divided by the brightness of the paper around it
    (a max filter removes the strokes of text, then a blur), so a sheet lit from one side
    or lying on a dark desk becomes dark text on even white. ~30 ms for 2 MP."""
    k = max(1, math.ceil(max(gray.size) / FLAT_SIDE))
    paper = gray.reduce(k) if k > 1 else gray
    paper = paper.filter(ImageFilter.MaxFilter(5)).filter(ImageFilter.GaussianBlur(2))
    paper = paper.resize(gray.size, Image.Resampling.BILINEAR)
    flat = ImageMath.lambda_eval(
        lambda a: a["convert"](a["min"](a["g"] * 255 / (a["p"] + 1), 255), "L"),
        g=gray, p=paper,
    )
    return cast(Image.Image, flat)


def skew_angle(gray: Image.Image) -> float:
    """The tilt of the text lines in degrees (counter-clockwise positive, as
    Image.rotate takes it to put them level), from a small copy: the angle at which
    rows of ink are sharpest (projection profile), 0.5 degree steps."""
    k = max(1, math.ceil(max(gray.size) / 512))
    small = gray.reduce(k) if k > 1 else gray
    ink = small.point(_INK_LUT)
    best, best_score = 0.0, -1.0
    for step in range(-2 * SKEW_LIMIT, 2 * SKEW_LIMIT + 1):
        angle = step / 2
        turned = ink.rotate(angle, resample=Image.Resampling.NEAREST) if angle else ink
        rows = turned.resize((1, turned.height), Image.Resampling.BOX).tobytes()
        mean = sum(rows) / len(rows)
        score = sum((v - mean) ** 2 for v in rows)
        if score > best_score:
            best, best_score = angle, score
    return best


def turn_box(box: Box, angle: float, size: tuple[int, int]) -> Box:
    """A box found on a picture turned by `angle` about its centre (same size), in the
    pixels of the picture before the turn: the bounding box of its corners turned back."""
    cx, cy = size[0] / 2, size[1] / 2
    rad = math.radians(angle)  # Image.rotate turns counter-clockwise on screen
    cos, sin = math.cos(rad), math.sin(rad)
    left, top, width, height = box
    xs, ys = [], []
    for x, y in ((left, top), (left + width, top), (left, top + height),
                 (left + width, top + height)):
        dx, dy = x - cx, y - cy
        xs.append(cx + dx * cos - dy * sin)
        ys.append(cy + dx * sin + dy * cos)
    x0, y0 = max(0, math.floor(min(xs))), max(0, math.floor(min(ys)))
    x1, y1 = min(size[0], math.ceil(max(xs))), min(size[1], math.ceil(max(ys)))
    return (x0, y0, max(1, x1 - x0), max(1, y1 - y0))


def level_photo(
    full: Image.Image, flat_work: Image.Image, blank: Sequence[Box]
) -> tuple[Image.Image, float]:
    """A photo's page for tesseract: light evened out, QR codes painted over, turned
    level when its lines tilt by SKEW_MIN or more (tesseract's own tolerance is a few
    degrees). The angle turned (0.0 if none) maps the words' boxes back (turn_box)."""
    gray = _paint_over(photo_dark_on_light(to_gray(full)), full, blank)
    flat = flatten(gray)
    angle = skew_angle(flat_work)
    if abs(angle) < SKEW_MIN:
        return flat, 0.0
    return flat.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=255), angle
