"""The image extractor on real files: formats, pages, QR codes, limits, failures, cache."""

from __future__ import annotations

import base64
import dataclasses
import io
import random
import struct
import sys
import urllib.parse
import zlib
from pathlib import Path

import pytesseract
import pytest
from PIL import Image, ImageDraw, ImageFont

from mfaleaks.detect.ocrfix import normalise_ocr
from mfaleaks.extract import image as image_module
from mfaleaks.extract.base import Budget, Context, Limits
from mfaleaks.extract.image import NO_TESSERACT, extract_image, no_text_reason
from mfaleaks.images import engine, ocr, ocrcache
from mfaleaks.images.qr import migration_lines
from mfaleaks.models import Origin, Skip, Source, TextChunk

sys.path.insert(0, str(Path(__file__).parent))
import gen_images as gen

needs_tesseract = pytest.mark.skipif(not ocr.tesseract_available(),
                                     reason="tesseract not installed")


def _source(data: bytes, name: str = "shot.png") -> Source:
    return Source(Origin(f"/share/{name}"), name, data=data, size=len(data))


def _run(data: bytes, name: str = "shot.png", limits: Limits | None = None,
         ctx: Context | None = None) -> list[TextChunk | Skip]:
    ctx = ctx or Context(limits or Limits(), Budget())
    items = list(extract_image(_source(data, name), ctx))
    assert all(isinstance(i, TextChunk | Skip) for i in items)
    return items  # type: ignore[return-value]


def _chunks(items: list[TextChunk | Skip], source: str) -> list[TextChunk]:
    return [i for i in items if isinstance(i, TextChunk) and i.source == source]


def _skips(items: list[TextChunk | Skip]) -> list[str]:
    return [i.reason for i in items if isinstance(i, Skip)]


@pytest.fixture(autouse=True)
def _cold_cache() -> None:
    ocrcache.clear_memory()  # each test reads its images for real


@pytest.fixture(scope="module")
def codes_crop() -> tuple[list[str], Image.Image]:
    """The code box of a Google page: small, so each OCR run is quick."""
    codes = gen.google_codes(random.Random(5))
    page = gen.render_google(codes)
    return codes, page.crop((300, 230, 1000, 620))


def _has_codes(chunk: TextChunk, codes: list[str]) -> bool:
    text = normalise_ocr(chunk.text)
    return all(c in text or c.replace(" ", "") in text for c in codes)


# --- formats ------------------------------------------------------------------------------


@needs_tesseract
@pytest.mark.parametrize(("fmt", "opts"), [
    ("GIF", {}), ("BMP", {}), ("WEBP", {"quality": 90}), ("JPEG", {"quality": 70}),
])
def test_common_formats_are_read(fmt: str, opts: dict[str, object],
                                 codes_crop: tuple[list[str], Image.Image]) -> None:
    codes, img = codes_crop
    items = _run(gen.encode(img, fmt, **opts), f"codes.{fmt.lower()}")
    ocr_chunks = _chunks(items, "ocr")
    assert len(ocr_chunks) == 1 and _has_codes(ocr_chunks[0], codes)
    assert ocr_chunks[0].line is None and ocr_chunks[0].whole
    assert _skips(items) == []


@needs_tesseract
def test_every_tiff_page_is_read_and_labelled(
    codes_crop: tuple[list[str], Image.Image],
) -> None:
    codes, img = codes_crop
    blank = Image.new("RGB", img.size, "white")
    data = gen.encode_tiff_pages([blank, img, img.convert("L")])
    chunks = _chunks(_run(data, "scan.tif"), "ocr")
    assert [c.anchors for c in chunks] == [((0, "page 2"),), ((0, "page 3"),)]
    assert all(_has_codes(c, codes) for c in chunks)


@needs_tesseract
def test_tiff_pages_past_the_limit_are_reported(
    codes_crop: tuple[list[str], Image.Image],
) -> None:
    _, img = codes_crop
    data = gen.encode_tiff_pages([img.convert("L")] * 3)
    items = _run(data, "scan.tif", Limits(max_pages=1))
    assert len(_chunks(items, "ocr")) == 1
    assert _skips(items) == ["image has 3 pages: only the first 1 were read"]


@needs_tesseract
def test_heic_is_read_through_pillow_heif(codes_crop: tuple[list[str], Image.Image]) -> None:
    pytest.importorskip("pillow_heif", reason="the gpl extra (pillow-heif) is not installed")
    codes, img = codes_crop
    data = gen.encode(img.resize((img.width * 2, img.height * 2)), "HEIF", quality=90)
    assert data[4:12] in (b"ftypheic", b"ftypmif1")
    chunks = _chunks(_run(data, "IMG_0042.HEIC"), "ocr")
    assert len(chunks) == 1 and _has_codes(chunks[0], codes)


@needs_tesseract
def test_exif_rotation_is_applied_before_reading(
    codes_crop: tuple[list[str], Image.Image],
) -> None:
    codes, img = codes_crop
    turned = img.rotate(90, expand=True)  # the sensor's orientation
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    buf = io.BytesIO()
    turned.save(buf, format="JPEG", quality=90, exif=exif)
    chunks = _chunks(_run(buf.getvalue(), "photo.jpg"), "ocr")
    assert len(chunks) == 1 and _has_codes(chunks[0], codes)
    right = max(b[0] + b[2] for _, _, b in chunks[0].boxes)
    assert right <= img.width  # boxes in the upright picture's pixels


# --- QR codes -----------------------------------------------------------------------------


def test_otpauth_qr_code_gives_a_qr_chunk_with_its_box() -> None:
    secret = gen.base32_secret(random.Random(1))
    uri = gen.otpauth_uri("ACME Corp", "jdoe@example.com", secret)
    img = gen.render_enrolment(uri, secret)
    items = _run(gen.encode(img, "PNG"), "enrol.png", Limits(ocr=False))
    (chunk,) = _chunks(items, "qr")
    assert chunk.text == uri and chunk.whole
    (start, end, box), = chunk.boxes
    assert (start, end) == (0, len(uri))
    # The QR code was pasted at (320, 180) CSS px, 260 px wide, quiet zone included.
    assert 320 <= box[0] <= 345 and 180 <= box[1] <= 205
    assert 200 <= box[2] <= 260 and 200 <= box[3] <= 260


def test_authenticator_export_is_spelled_out_seed_by_seed() -> None:
    rng = random.Random(2)
    accounts = [("Example", "alice@example.com", rng.randbytes(10)),
                ("GitHub", "jdoe", rng.randbytes(20))]
    uri = gen.migration_uri(accounts)
    img = gen.render_export(uri)
    items = _run(gen.encode(img, "JPEG", quality=85), "export.jpg", Limits(ocr=False))
    (chunk,) = _chunks(items, "qr")
    first, *seeds = chunk.text.splitlines()
    assert first == uri
    assert len(seeds) == 2
    for line, (issuer, account, secret) in zip(seeds, accounts, strict=True):
        parts = urllib.parse.urlsplit(line)
        query = urllib.parse.parse_qs(parts.query)
        assert parts.scheme == "otpauth" and parts.netloc == "totp"
        assert urllib.parse.unquote(parts.path) == f"/{issuer}:{account}"
        assert query["issuer"] == [issuer]
        assert query["secret"] == [base64.b32encode(secret).decode().rstrip("=")]


def test_broken_migration_payloads_give_no_lines() -> None:
    assert list(migration_lines("otpauth-migration://offline?data=")) == []
    assert list(migration_lines("otpauth-migration://offline?data=%%%")) == []
    assert list(migration_lines("otpauth-migration://offline?data=CgP_")) == []  # truncated


# --- what is not read ---------------------------------------------------------------------


def test_photo_without_text_is_dismissed_cheaply() -> None:
    photo = gen.render_photo(random.Random(3))
    assert no_text_reason(ocr.dark_on_light(ocr.to_gray(photo))) is not None
    assert _run(gen.encode(photo, "JPEG", quality=85), "holiday.jpg") == []


def test_screenshots_are_not_dismissed(codes_crop: tuple[list[str], Image.Image]) -> None:
    for img in (codes_crop[1], gen.render_github(gen.github_codes(random.Random(4)),
                                                  theme="dark")):
        assert no_text_reason(ocr.dark_on_light(ocr.to_gray(img))) is None


def test_icons_and_blank_images_give_nothing() -> None:
    icon = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    assert _run(gen.encode(icon, "PNG"), "favicon.png") == []
    blank = Image.new("L", (800, 600), 240)
    assert no_text_reason(blank) == "blank"


def test_dismissed_pictures_are_counted() -> None:
    rng = random.Random(8)
    cases = [
        ("icon.png", gen.encode(gen.render_photo(rng, (48, 48)), "PNG")),
        ("blank.png", gen.encode(Image.new("RGB", (1280, 800), (240, 240, 240)), "PNG")),
        ("photo.png", gen.encode(gen.render_photo(rng, (800, 600)), "PNG")),
        ("photo.jpg", gen.encode(gen.render_photo(rng, (2400, 1800)), "JPEG", quality=90)),
    ]
    for name, data in cases:
        ctx = Context(Limits(), Budget())
        assert _run(data, name, ctx=ctx) == [], name
        assert (ctx.budget.pictures_dismissed, ctx.budget.pictures_read) == (1, 0), name


def test_large_jpeg_is_glanced_at_an_eighth() -> None:
    # A 4000 px photo: 1/8 gives 500 px, under the glance's 512, and is enough.
    data = gen.encode(Image.new("RGB", (4000, 3000), (90, 120, 150)), "JPEG", quality=80)
    img = Image.open(io.BytesIO(data))
    img.draft("L", image_module._draft_size(img.size, image_module.GLANCE_SIDE))
    assert img.size == (500, 375)  # decoded at 1/8 (main asked for 512 px and got 1/4)
    img = Image.open(io.BytesIO(data))
    img.draft("L", image_module._draft_size(img.size, image_module.WORK_SIDE))
    assert img.size == (2000, 1500)  # the work copy at 1/2 (main decoded it whole)


@needs_tesseract
def test_one_code_line_on_a_page_is_read() -> None:
    # Main dismissed this as "one colour": the line is a tiny share of the page.
    page = Image.new("RGB", (1280, 800), (255, 255, 255))
    font = ImageFont.truetype(str(gen.FONTS["dejavu-sans"]), 15)
    ImageDraw.Draw(page).text((500, 400), "Backup code: 8921 4410", fill=(0, 0, 0), font=font)
    ctx = Context(Limits(), Budget())
    items = _run(gen.encode(page, "PNG"), ctx=ctx)
    assert (ctx.budget.pictures_dismissed, ctx.budget.pictures_read) == (0, 1)
    assert "8921 4410" in normalise_ocr(" ".join(c.text for c in _chunks(items, "ocr")))


@needs_tesseract
@pytest.mark.parametrize(("fmt", "canvas"), [("PNG", (2560, 1600)), ("JPEG", (4000, 3000))])
def test_small_code_box_on_a_large_canvas_is_read(
    codes_crop: tuple[list[str], Image.Image], fmt: str, canvas: tuple[int, int],
) -> None:
    """No shortcut that dismisses near-empty pictures may drop a few codes on a big
    white page (most of the picture one colour, compressing to almost nothing)."""
    codes, crop = codes_crop
    box = crop.crop((0, 0, crop.width, crop.height // 2))  # the first rows of codes only
    page = Image.new("RGB", canvas, (255, 255, 255))
    page.paste(box, (canvas[0] // 3, canvas[1] // 2))
    ctx = Context(Limits(), Budget())
    items = _run(gen.encode(page, fmt, **({"quality": 90} if fmt == "JPEG" else {})),
                 f"page.{fmt.lower()}", ctx=ctx)
    assert ctx.budget.pictures_dismissed == 0
    assert ctx.budget.pictures_read == 1
    text = normalise_ocr("\n".join(c.text for c in _chunks(items, "ocr")))
    assert sum(c in text or c.replace(" ", "") in text for c in codes) >= 4, text


def test_images_over_the_pixel_limit_are_not_decoded() -> None:
    img = Image.new("L", (1200, 1000), 255)
    items = _run(gen.encode(img, "PNG"), "big.png", Limits(max_pixels=1_000_000))
    assert _skips(items) == ["image of 1200x1000 pixels is over the 1,000,000 pixel limit: "
                             "not decoded"]


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


def test_decompression_bombs_are_refused_before_decoding() -> None:
    # Over our limit (80 M pixels by default): refused from the header alone.
    assert _skips(_run(_png_header_only(10_000, 10_000), "bomb.png")) == [
        "image of 10000x10000 pixels is over the 80,000,000 pixel limit: not decoded"]
    # So large that Pillow refuses to open it at all.
    assert _skips(_run(_png_header_only(100_000, 100_000), "bomb.png")) == [
        "image has too many pixels to decode safely"]


def test_damaged_images_become_skips() -> None:
    good = gen.encode(gen.render_photo(random.Random(6), (640, 480)), "PNG")
    assert _skips(_run(good[: len(good) // 2], "cut.png")) == ["image is truncated"]
    assert _skips(_run(b"\x89PNG\r\n\x1a\n" + b"\0" * 200, "junk.png")) == [
        "image format not recognised or file damaged"]


# --- switches and the cache ---------------------------------------------------------------


@needs_tesseract
def test_no_ocr_reads_qr_codes_only(codes_crop: tuple[list[str], Image.Image]) -> None:
    assert _run(gen.encode(codes_crop[1], "PNG"), limits=Limits(ocr=False)) == []


def test_missing_tesseract_is_a_skip_per_image(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")
    monkeypatch.setenv(engine.FORCE_ENV, "program")  # and no tesseract in process
    engine.reset()
    try:
        secret = gen.base32_secret(random.Random(7))
        uri = gen.otpauth_uri("ACME", "bob@example.com", secret)
        items = _run(gen.encode(gen.render_enrolment(uri, secret), "PNG"), "enrol.png")
    finally:
        monkeypatch.undo()
        engine.reset()
    assert [c.text for c in _chunks(items, "qr")] == [uri]  # QR codes are still read
    assert _skips(items) == [NO_TESSERACT]


@needs_tesseract
def test_the_same_image_is_read_once(codes_crop: tuple[list[str], Image.Image]) -> None:
    data = gen.encode(codes_crop[1], "PNG")
    ctx = Context(Limits(), Budget())
    first = _run(data, "a.png", ctx=ctx)
    keys = [k for k in ctx.budget.cache if k.startswith("image:")]
    assert len(keys) == 1
    cached = ctx.budget.cache[keys[0]]
    second = _run(data, "copy-in-another-mail.png", ctx=ctx)
    assert second == first and ctx.budget.cache[keys[0]] is cached


@dataclasses.dataclass(frozen=True)
class _CacheLimits(Limits):
    ocr_cache: str | None = None  # the field the CLI's cache option fills


@needs_tesseract
def test_disk_cache_keeps_only_verdicts_for_empty_images(
    tmp_path: Path, codes_crop: tuple[list[str], Image.Image]
) -> None:
    db = tmp_path / "ocr.sqlite"
    limits = _CacheLimits(ocr_cache=str(db))
    photo = gen.encode(gen.render_photo(random.Random(8), (900, 600)), "PNG")
    screenshot = gen.encode(codes_crop[1], "PNG")
    assert _run(photo, "p.png", limits) == []
    assert _chunks(_run(screenshot, "s.png", limits), "ocr")
    assert db.stat().st_mode & 0o777 == 0o600
    import sqlite3

    rows = sqlite3.connect(db).execute("SELECT key, verdict FROM images").fetchall()
    assert [r[1] for r in rows] == ["empty"]  # the screenshot's text is not stored
    ocrcache.clear_memory()
    ctx = Context(limits, Budget())
    assert _run(photo, "p.png", ctx=ctx) == []
    assert list(ctx.budget.cache.values()) == [()]
    raw = db.read_bytes()
    assert b"backup" not in raw.lower() and b"Backup" not in raw


@needs_tesseract
@pytest.mark.parametrize("scale", [2, 3])
def test_one_line_of_large_text_on_a_large_page_is_read_reduced(scale: int) -> None:
    # A 2x or 3x page that holds one line (a code pasted in a note): its line height is
    # judged from that one line, the page read at half size, and the code and its box
    # come back in the picture's own pixels.
    c = gen.Canvas((1280, 800), gen.THEMES["light"], "dejavu-sans", scale)
    c.text((380, 390), "Backup code: 4821 7730", 16)
    gray = c.image.convert("L")
    assert ocr.read_text(gray, 60).scale == 0.5
    (chunk,) = _chunks(_run(gen.encode(c.image, "PNG")), "ocr")
    start = chunk.text.index("4821 7730")
    boxes = [b for s, e, b in chunk.boxes if s < start + 9 and e > start]
    spot = c.spots["Backup code: 4821 7730"]
    assert spot[0] < boxes[0][0] < spot[0] + spot[2]  # on the drawn line, past its words
    assert abs(boxes[-1][0] + boxes[-1][2] - spot[0] - spot[2]) <= 4 * scale
    assert abs(boxes[0][1] - spot[1]) <= 4 * scale


@needs_tesseract
def test_a_1x_page_with_a_filled_box_is_not_reduced() -> None:
    # A key painted over (a report's thumbnail): the box's runs of ink look like 21 px
    # lines, but they are not alike text lines, so the page's 13-15 px text is read at
    # its own size, not at half (the report's thumbnail tests lost their text so).
    uri = gen.otpauth_uri("Acme", "kim@example.com", gen.base32_secret(random.Random(5)))
    page = gen.render_enrolment(uri, gen.base32_secret(random.Random(5))).convert("L")
    ImageDraw.Draw(page).rectangle((369, 304, 805, 501), fill=0)
    stats = ocr.line_stats(page)
    assert stats.median >= ocr.REDUCE_FROM and stats.regular < ocr.REDUCE_REGULAR
    read = ocr.read_text(page, 60)
    assert read.scale == 1 and "authenticator app" in read.text.lower()


@needs_tesseract
def test_ocr_time_limit_gives_a_skip() -> None:
    page = gen.render_github(gen.github_codes(random.Random(10)), scale=2)
    items = _run(gen.encode(page, "PNG"), "slow.png", Limits(ocr_timeout=0.05))
    assert _skips(items) == ["OCR timed out after 0.05 s"]
    assert _chunks(items, "ocr") == []
