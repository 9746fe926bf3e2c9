"""A small picture of a screenshot with the codes hidden, for the HTML report.

Made at report time from the image on disk (images inside mails and archives
are not reopened), turned upright by its EXIF orientation as the image
extractor does, so the code boxes fall where the codes are. Every box where
codes were read is covered with a solid patch of the region's average colour
before the picture is shrunk, and every QR code in the image is covered too
(it carries a seed in full). A solid patch rather than a blur: blurred or
pixelated digits in a known layout can be recovered by trying candidates; a
flat patch holds nothing to recover.
"""

from __future__ import annotations

import base64
import io
import os
import stat
import warnings
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageOps, ImageStat

from mfaleaks.models import Box, open_noatime
from mfaleaks.sources.owner import mtime_text

SIDE = 320  # longest side of a thumbnail, pixels
MAX_BYTES = 64 * 1024**2
MAX_PIXELS = 80_000_000
SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff"})


def thumbnail(
    path: str, boxes: Sequence[Box], *, stamp: tuple[str, str] | None = None,
    qr_expected: bool = False, side: int = SIDE,
) -> tuple[str | None, str]:
    """(data: URI of a JPEG, "") or (None, why there is no thumbnail).

    `stamp`: the file's (mtime, size) when it was scanned; a file changed since then
    gets no thumbnail, because the boxes may no longer cover its codes.
    """
    if not boxes:
        return None, "no box where the codes were read"
    if os.path.splitext(path)[1].lower() not in SUFFIXES:
        return None, "not an image file on disk"
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_BYTES:
            return None, "not a regular image file of a sensible size"
        if stamp is not None and stamp != (mtime_text(st.st_mtime), str(st.st_size)):
            return None, "image changed since the scan"
        with open_noatime(path) as fh, Image.open(fh) as img, warnings.catch_warnings():
            if img.width * img.height > MAX_PIXELS:
                return None, "image too large"
            # Damaged EXIF is skipped by Pillow: no warning for it (extract/image.py).
            warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL(\.|$)")
            # Boxes are in the coordinates of the image as a viewer shows it (EXIF rotation
            # applied), as the image extractor reads it.
            rgb = _flatten(ImageOps.exif_transpose(img))
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        return None, "image cannot be read"
    qr_boxes = _qr_boxes(rgb)
    if qr_expected and not qr_boxes:
        return None, "QR code not located: not shown"
    hidden = [_clip(b, rgb.size) for b in boxes]
    if any(b is None for b in hidden):
        return None, "code box outside the image"
    for box in [b for b in hidden if b is not None] + qr_boxes:
        _cover(rgb, box)
    rgb.thumbnail((side, side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    rgb.save(buf, format="JPEG", quality=72, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii"), ""


def _flatten(img: Image.Image) -> Image.Image:
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        return ImageOps.autocontrast(img.convert("L")).convert("RGB")
    return img.convert("RGB")


def _qr_boxes(img: Image.Image) -> list[Box]:
    try:
        import zxingcpp
    except ImportError:
        return []
    out = []
    for code in zxingcpp.read_barcodes(img):
        p = code.position
        xs = [p.top_left.x, p.top_right.x, p.bottom_left.x, p.bottom_right.x]
        ys = [p.top_left.y, p.top_right.y, p.bottom_left.y, p.bottom_right.y]
        # The quiet zone and a module or two beyond the finder patterns: cover generously.
        pad = max(8, (max(xs) - min(xs)) // 8)
        box = _clip((min(xs) - pad, min(ys) - pad, max(xs) - min(xs) + 2 * pad,
                     max(ys) - min(ys) + 2 * pad), img.size)
        if box is not None:
            out.append(box)
    return out


def _clip(box: Box, size: tuple[int, int]) -> Box | None:
    """The box grown by a margin (OCR boxes hug the ink) and cut to the image; None if outside."""
    left, top, width, height = box
    pad = max(6, min(height, 400) // 4)
    x0, y0 = max(0, left - pad), max(0, top - pad)
    x1, y1 = min(size[0], left + width + pad), min(size[1], top + height + pad)
    if x1 <= x0 or y1 <= y0 or width <= 0 or height <= 0:
        return None
    return (x0, y0, x1 - x0, y1 - y0)


def _cover(img: Image.Image, box: Box) -> None:
    left, top, width, height = box
    region = img.crop((left, top, left + width, top + height))
    mean = tuple(int(v) for v in ImageStat.Stat(region).mean[:3])
    patch = Image.new("RGB", (width, height), mean)
    draw = ImageDraw.Draw(patch)
    ink = (200, 40, 40)
    # Diagonal hatching shows that something was hidden here, not that the area was empty.
    step = max(8, min(width, height) // 6)
    for x in range(-height, width, step):
        draw.line((x, height, x + height, 0), fill=ink, width=max(1, step // 6))
    draw.rectangle((0, 0, width - 1, height - 1), outline=ink, width=max(2, step // 4))
    img.paste(patch, (left, top))
