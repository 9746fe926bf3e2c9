"""Images: QR codes always, text by OCR unless the picture cannot hold any.

PNG, JPEG, GIF, BMP, TIFF (every page), WebP, and HEIC/HEIF through
pillow-heif when the optional `gpl` extra is installed. Sizes are checked
against `Limits.max_pixels` before any pixel is decoded (decompression
bombs). Large JPEGs are decoded at a reduced size for QR codes and the text
check, and at full size only when OCR is due.

Icons, tiny images, blank images and photos without sharp detail or without
lines of text are dismissed in a few milliseconds instead of costing a
tesseract run. What is judged is the part of the page that differs from its
background, so a few codes on a large empty page are kept. Most of a dismissal
is decoding: PNG inflating (a one-colour 1280x800: ~10 ms) and JPEG Huffman
decoding, which a 1/8 draft does not skip (a 1.8 MB 12 MP photo: ~20 ms). A
PNG's compressed size cannot decide it sooner: one code line adds 120-1100
bytes, less than zlib levels 1-9 differ on the empty page alone (measured).
What is read is cached by content hash (`mfaleaks.images.ocrcache`).

The chunks carry `source="ocr"` or `"qr"` and a pixel box per word (per QR
code), in the coordinates of the image as a viewer shows it (EXIF rotation
applied). Look-alike characters are put right by the matcher
(`mfaleaks.detect.ocrfix.normalise_ocr` for chunks whose source is "ocr"), not here.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

from PIL import Image, ImageOps, ImageStat, UnidentifiedImageError

from mfaleaks.extract.base import Context, Item
from mfaleaks.images import ocr, ocrshare, qr
from mfaleaks.images.ocrcache import cache_key, lookup, store
from mfaleaks.limits import Limits
from mfaleaks.models import Skip, Source, TextChunk

MIN_SIDE = 12  # px: nothing narrower holds a readable line
MIN_PIXELS = 4_000  # icons and spacers
GLANCE_SIDE = 512  # long side of the copy that decides whether a page is worth decoding
GLANCE_STEP = 32  # grey levels between neighbours that make an edge at glance size
GLANCE_EDGES = 0.003  # share of such edges below which nothing is worth reading
WORK_SIDE = 2048  # long side of the copy that QR decoding and the line check use
CHECK_SIDE = 1024  # long side of the copy that the edge check uses
CHECK_PAD = 32  # px at CHECK_SIDE of ground kept around what a near-empty page holds
MAX_IMAGE_BYTES = 256 * 1024 * 1024
NO_TESSERACT = "tesseract not installed: image text not read"
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif")
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError,
                  Image.DecompressionBombError)


def extract_image(source: Source, ctx: Context) -> Iterator[Item]:
    data = _read(source, ctx)
    if isinstance(data, Skip):
        yield data
        return
    want_ocr = ctx.limits.ocr and ocr.tesseract_available()
    settings = ocr.cache_settings() if want_ocr else "qr-only"
    key = cache_key(hashlib.sha256(data).hexdigest(), settings)
    items = lookup(ctx, key)
    if items is None:
        items = _read_once(key, data, ctx, want_ocr)
        store(ctx, key, items)
    yield from items
    if ctx.limits.ocr and not want_ocr:
        yield Skip(NO_TESSERACT)


def _read_once(key: str, data: bytes, ctx: Context, want_ocr: bool) -> tuple[TextChunk | Skip, ...]:
    """read_image, unless another worker of this scan read these bytes (ocrshare.py)."""
    shared = f"{key}:{_limits_id(ctx.limits)}"  # what is read depends on the limits too
    got = ocrshare.claim(shared, ctx.limits.ocr_timeout + 1.0)
    if isinstance(got, tuple):
        return got
    try:
        items = tuple(read_image(data, ctx, want_ocr))
    except BaseException:
        if got is ocrshare.MINE:
            ocrshare.release(shared)
        raise
    if got is ocrshare.MINE:
        # A failure (a timeout, a damaged page) may not be the other worker's: it reads.
        if any(isinstance(item, Skip) for item in items):
            ocrshare.release(shared)
        else:
            ocrshare.publish(shared, items)
    return items


@functools.lru_cache(maxsize=8)
def _limits_id(limits: Limits) -> str:
    return hashlib.sha256(repr(limits).encode()).hexdigest()[:16]


def _read(source: Source, ctx: Context) -> bytes | Skip:
    cap = min(MAX_IMAGE_BYTES, ctx.limits.max_member_size)
    if source.size > cap:
        return Skip(f"image of {source.size // 2**20} MiB is over the {cap // 2**20} MiB limit")
    with source.open() as fh:
        data = fh.read(cap + 1)
    if len(data) > cap:
        return Skip(f"image is over the {cap // 2**20} MiB limit")
    return data


def read_image(data: bytes, ctx: Context, want_ocr: bool) -> Iterator[TextChunk | Skip]:
    """Every page of one image file; problems become Skip items, never exceptions."""
    with warnings.catch_warnings():
        # Our own pixel limit is checked below; Pillow's warning would only repeat it.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        # Damaged metadata ("Corrupt EXIF data", "Tag data larger than file") is
        # skipped by Pillow, and the picture read: a warning on stderr per file would
        # only bury the report (a CI log, a pre-commit hook).
        warnings.filterwarnings("ignore", category=UserWarning, module=PIL_MODULES)
        try:
            img = _open(data)
        except _Missing as exc:
            yield Skip(str(exc))
            return
        except _DECODE_ERRORS as exc:
            yield Skip(_decode_reason(exc))
            return
        pages = getattr(img, "n_frames", 1) if img.format in ("TIFF", "HEIF", "MPO") else 1
        if img.format == "MPO":
            pages = 1  # the other pictures of an MPO are depth maps and previews
        limit = ctx.limits.max_pages
        for index in range(min(pages, limit)):
            label = f"page {index + 1}" if pages > 1 else None
            try:
                if index:
                    img.seek(index)
                yield from _read_page(img, data, index, label, ctx, want_ocr)
            except _DECODE_ERRORS as exc:
                yield Skip(_decode_reason(exc, label))
        if pages > limit:
            yield Skip(f"image has {pages} pages: only the first {limit} were read")


PIL_MODULES = r"PIL(\.|$)"


class _Missing(Exception):
    """An optional decoder is not installed."""


def _open(data: bytes) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        if data[4:8] != b"ftyp" or data[8:12] not in _HEIF_BRANDS:
            raise
    try:
        import pillow_heif
    except ImportError as exc:
        raise _Missing(
            "HEIC/HEIF image not read: pillow-heif is not installed (the 'gpl' extra)"
        ) from exc
    pillow_heif.register_heif_opener()
    return Image.open(io.BytesIO(data))


def _decode_reason(exc: BaseException, label: str | None = None) -> str:
    where = f" ({label})" if label else ""
    if isinstance(exc, Image.DecompressionBombError):
        return f"image{where} has too many pixels to decode safely"
    if isinstance(exc, UnidentifiedImageError):
        return "image format not recognised or file damaged"
    text = str(exc).lower()
    if "truncated" in text:
        return f"image{where} is truncated"
    return f"image{where} could not be decoded ({type(exc).__name__})"


@dataclass
class _Page:
    # Full-size, upright, grayscale (all OCR reads: ocr.prepare would make it gray
    # anyway), so the colour picture can go; None until needed (large JPEG).
    full: Image.Image | None
    work: Image.Image  # upright grayscale, long side <= WORK_SIDE
    scale: float  # work pixels per full pixel
    size: tuple[int, int]  # full size, upright


def _read_page(
    img: Image.Image, data: bytes, index: int, label: str | None, ctx: Context, want_ocr: bool
) -> Iterator[TextChunk | Skip]:
    w, h = img.size
    where = f" ({label})" if label else ""
    if w * h > ctx.limits.max_pixels:
        yield Skip(f"image{where} of {w}x{h} pixels is over the {ctx.limits.max_pixels:,} pixel "
                   "limit: not decoded")
        return
    if min(w, h) < MIN_SIDE or w * h < MIN_PIXELS:
        ctx.budget.pictures_dismissed += 1  # an icon, a spacer
        return
    glance, gray = _glance(img, data)
    if glance_reason(glance):
        # One colour, or no sharp edge at all: no text and no QR code worth reading
        # (a QR code is all sharp edges).
        ctx.budget.pictures_dismissed += 1
        return
    page = _load(img, data, index, gray)
    anchors = ((0, label),) if label else ()
    codes = qr.read_qr(page.work, page.scale)
    yield from qr.qr_chunks(codes, anchors)
    if not want_ocr:
        return
    text_work = ocr.dark_on_light(page.work)
    # A photo of a sheet or a screen: its light evened out before anything is judged.
    photo = ocr.uneven(ocr.line_stats(_shrink(text_work, CHECK_SIDE)))
    if photo:
        text_work = ocr.flatten(ocr.photo_dark_on_light(page.work))
    if no_text_reason(text_work) is not None:
        ctx.budget.pictures_dismissed += 1
        return
    stats = ocr.line_stats(text_work)
    line = stats.median / page.scale if stats.runs >= 8 else None
    full = page.full if page.full is not None else _full(data, index)
    reduce = not photo and stats.regular >= ocr.REDUCE_REGULAR  # text lines, not a photo
    factor = ocr.factor_for(line, full.size, reduce)
    blank = [c.box for c in codes]
    angle = 0.0
    if photo:
        full, angle = ocr.level_photo(full, text_work, blank)
        blank = []
    ctx.budget.pictures_read += 1
    try:
        result = ocr.read_text(full, ctx.limits.ocr_timeout, factor, blank)
    except ocr.OcrError as exc:
        yield Skip(f"{exc}{where}")
        return
    if result.words:
        boxes = result.boxes
        if angle:
            boxes = tuple((a, b, ocr.turn_box(box, angle, full.size)) for a, b, box in boxes)
        yield TextChunk(result.text, "ocr", None, anchors, boxes, True)


def _glance(img: Image.Image, data: bytes) -> tuple[Image.Image, Image.Image | None]:
    """A grayscale copy, long side <= GLANCE_SIDE, made as cheaply as the format allows:
    a JPEG decodes at 1/8 size (no full decode for a photo that will be dismissed).
    Second, the full-size grayscale page when one was made on the way and the page is
    upright already (_load takes it rather than converting the page again), else None."""
    if img.format == "JPEG" and img.tell() == 0:
        small = Image.open(io.BytesIO(data))
        small.draft("L", _draft_size(small.size, GLANCE_SIDE))
        return _shrink(ocr.to_gray(small), GLANCE_SIDE), None
    img.load()  # the page is decoded whole anyway if it is read
    gray = ocr.to_gray(img)
    upright = img.getexif().get(_ORIENTATION, 1) in (0, 1)
    return _shrink(gray, GLANCE_SIDE), gray if upright else None


def _draft_size(size: tuple[int, int], side: int) -> tuple[int, int]:
    """The size to ask a JPEG's draft for: what _shrink(img, side) makes of the full
    picture. Draft picks the largest of 1/1, 1/2, 1/4, 1/8 that is at least the size
    asked, so asking for `side` itself (512 of a 4000 px photo: 1/8 gives 500) chose
    1/4 for the glance and the full size for the work copy, decoded at 4x and 4x the
    pixels (12 MP photo: glance 1000x750 instead of 500x375)."""
    k = max(1, math.ceil(max(size) / side))
    return (max(1, size[0] // k), max(1, size[1] // k))


def glance_reason(glance: Image.Image) -> str | None:
    """Why a small grayscale copy shows that a page holds nothing to read, or None.

    Measured on the generated sets (bench/bench_images.py): screenshots, 60% ones,
    blurred phone photos of codes and QR codes all had an edge share above 0.01 at
    this size, photos without text below 0.001.
    """
    box = ocr.content_box(glance)
    if box is None:
        return "one colour"
    glance = glance.crop(box)  # a few codes on a large empty page: the codes are judged
    if ImageStat.Stat(glance).stddev[0] < 4:
        return "one colour"
    if ocr.step_edges(glance, GLANCE_STEP) < GLANCE_EDGES:
        return "no sharp edges"
    return None


def _load(img: Image.Image, data: bytes, index: int, gray: Image.Image | None = None) -> _Page:
    if img.format == "JPEG" and max(img.size) > WORK_SIDE:
        # JPEG decodes at 1/2, 1/4 or 1/8 size for almost nothing: enough for QR
        # codes and the text check; the full picture is decoded only for OCR.
        small = Image.open(io.BytesIO(data))
        small.draft("L", _draft_size(small.size, WORK_SIDE))
        work = _shrink(ocr.to_gray(_upright(small)), WORK_SIDE)
        upright_full = _upright_size(img)
        return _Page(None, work, work.width / upright_full[0], upright_full)
    full = gray if gray is not None else ocr.to_gray(_upright(img))
    work = _shrink(full, WORK_SIDE)
    return _Page(full, work, work.width / full.width, full.size)


def _full(data: bytes, index: int) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    if index:
        img.seek(index)
    return ocr.to_gray(_upright(img))


def _upright(img: Image.Image) -> Image.Image:
    """As a viewer shows it: EXIF orientation applied, pixels loaded."""
    if img.getexif().get(_ORIENTATION, 1) in (0, 1):
        img.load()  # upright already: exif_transpose would return a full-size copy
        return img
    out = ImageOps.exif_transpose(img)
    out.load()
    return out


_ORIENTATION = 0x0112  # the EXIF tag


def _upright_size(img: Image.Image) -> tuple[int, int]:
    orientation = img.getexif().get(0x0112, 1)
    w, h = img.size
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def _shrink(img: Image.Image, side: int) -> Image.Image:
    k = math.ceil(max(img.size) / side)
    return img.reduce(k) if k > 1 else img


def no_text_reason(gray: Image.Image) -> str | None:
    """Why a (dark-on-light, grayscale) image cannot hold text, or None when it may.

    Deliberately lenient: a wrong dismissal loses codes, a wrong pass costs one
    tesseract run. Thresholds come from the generated set (bench/bench_images.py):
    screenshots had edge shares 0.02-0.05, ink below 0.08 and regular lines
    (>= 0.6); smooth photos had edge shares under 0.006.
    """
    check = _shrink(gray, CHECK_SIDE)
    box = ocr.content_box(check)
    if box is None:
        return "blank"
    left, top, right, bottom = (box[0] - CHECK_PAD, box[1] - CHECK_PAD,
                                box[2] + CHECK_PAD, box[3] + CHECK_PAD)
    if left > 0 or top > 0 or right < check.width or bottom < check.height:
        # Judged on the part that holds something (with some ground around it, as a page
        # has), at up to the page's own resolution: a few codes on a 4000 px page are a
        # tiny share of it and 3 px lines at CHECK_SIDE.
        k = gray.width / check.width
        region = (max(0, math.floor(left * k)), max(0, math.floor(top * k)),
                  min(gray.width, math.ceil(right * k)), min(gray.height, math.ceil(bottom * k)))
        check = _shrink(gray.crop(region), CHECK_SIDE)
    if ImageStat.Stat(check).stddev[0] < 4:
        return "blank"
    edges = ocr.edge_fraction(check)
    if edges < 0.008:
        return "no sharp detail"
    if edges > 0.3:
        return "noise"
    stats = ocr.line_stats(check)
    if stats.runs < 3:
        return "no lines"
    if stats.ink > 0.15 and stats.regular < 0.5:
        return "dark areas without lines of text"
    return None
