"""Test images that look like the real thing: backup-code pages, QR enrolment
screens, authenticator exports and photos without text.

Everything is drawn with Pillow from a seeded `random.Random`, so any test,
bench or fixture can rebuild the same files. The codes are made up here and
returned with each sample, which is what the tests check the OCR against.

    python tests/gen_images.py OUTDIR    # writes the recall set and truth.json
"""

from __future__ import annotations

import base64
import io
import json
import random
import sys
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import qrcode
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

FONT_DIR = Path("/usr/share/fonts/truetype")
FONTS = {
    "dejavu-sans": FONT_DIR / "dejavu/DejaVuSans.ttf",
    "dejavu-mono": FONT_DIR / "dejavu/DejaVuSansMono.ttf",
    "liberation-sans": FONT_DIR / "liberation/LiberationSans-Regular.ttf",
    "liberation-serif": FONT_DIR / "liberation/LiberationSerif-Regular.ttf",
    "liberation-mono": FONT_DIR / "liberation/LiberationMono-Regular.ttf",
}
BOLD = {
    "dejavu-sans": FONT_DIR / "dejavu/DejaVuSans-Bold.ttf",
    "dejavu-mono": FONT_DIR / "dejavu/DejaVuSansMono-Bold.ttf",
    "liberation-sans": FONT_DIR / "liberation/LiberationSans-Bold.ttf",
    "liberation-serif": FONT_DIR / "liberation/LiberationSerif-Bold.ttf",
    "liberation-mono": FONT_DIR / "liberation/LiberationMono-Bold.ttf",
}
RGB = tuple[int, int, int]
Spots = dict[str, tuple[int, int, int, int]]


@dataclass(frozen=True)
class Theme:
    bg: RGB
    fg: RGB
    muted: RGB
    accent: RGB
    panel: RGB


LIGHT = Theme((255, 255, 255), (32, 33, 36), (95, 99, 104), (26, 115, 232), (241, 243, 244))
DARK = Theme((32, 33, 36), (232, 234, 237), (154, 160, 166), (138, 180, 248), (48, 49, 52))
THEMES = {"light": LIGHT, "dark": DARK}


@dataclass
class Sample:
    """One generated image with what a reader should find in it."""

    name: str
    data: bytes
    service: str | None  # "google", "github", "totp" or None for a negative
    codes: list[str] = field(default_factory=list)  # codes OCR should read
    qr: list[str] = field(default_factory=list)  # payloads of the QR codes
    meta: dict[str, str] = field(default_factory=dict)
    spots: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)  # text -> box


# --- made-up codes ---------------------------------------------------------------------------


def _not_date(d: str) -> bool:
    y, m, day = int(d[:4]), int(d[4:6]), int(d[6:])
    if 1900 <= y <= 2099 and 1 <= m <= 12 and 1 <= day <= 31:
        return False
    day, m, y = int(d[:2]), int(d[2:4]), int(d[4:])
    return not (1900 <= y <= 2099 and 1 <= m <= 12 and 1 <= day <= 31)


def google_codes(rng: random.Random, n: int = 10) -> list[str]:
    """Ten 8-digit codes as '4821 7730', none that reads as a date."""
    out: list[str] = []
    while len(out) < n:
        d = f"{rng.randrange(10**8):08d}"
        if _not_date(d) and len(set(d)) >= 4 and f"{d[:4]} {d[4:]}" not in out:
            out.append(f"{d[:4]} {d[4:]}")
    return out


def github_codes(rng: random.Random, n: int = 16) -> list[str]:
    """GitHub's shape: 10 lower-case hex as abcde-01234, each with a digit."""
    out: list[str] = []
    while len(out) < n:
        h = "".join(rng.choice("0123456789abcdef") for _ in range(10))
        if any(c.isdigit() for c in h) and any(c.isalpha() for c in h):
            out.append(f"{h[:5]}-{h[5:]}")
    return out


def base32_secret(rng: random.Random, n: int = 32) -> str:
    return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(n))


def otpauth_uri(issuer: str, account: str, secret: str) -> str:
    label = urllib.parse.quote(f"{issuer}:{account}")
    query = urllib.parse.urlencode({"secret": secret, "issuer": issuer})
    return f"otpauth://totp/{label}?{query}"


# --- otpauth-migration payloads (protobuf written by hand) ---------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field_bytes(num: int, value: bytes) -> bytes:
    return _varint(num << 3 | 2) + _varint(len(value)) + value


def _field_int(num: int, value: int) -> bytes:
    return _varint(num << 3) + _varint(value)


def migration_uri(accounts: Sequence[tuple[str, str, bytes]]) -> str:
    """Google Authenticator's export: (issuer, account, secret bytes) per seed."""
    body = b""
    for issuer, account, secret in accounts:
        params = (
            _field_bytes(1, secret)
            + _field_bytes(2, f"{issuer}:{account}".encode())
            + _field_bytes(3, issuer.encode())
            + _field_int(4, 1)  # SHA1
            + _field_int(5, 1)  # six digits
            + _field_int(6, 2)  # TOTP
        )
        body += _field_bytes(1, params)
    body += _field_int(2, 1) + _field_int(3, 1) + _field_int(4, 0) + _field_int(5, 123456789)
    data = urllib.parse.quote(base64.b64encode(body).decode(), safe="")
    return f"otpauth-migration://offline?data={data}"


# --- drawing -------------------------------------------------------------------------------


class Canvas:
    """A page drawn in CSS pixels and rendered at a device scale (1x, 2x, 3x)."""

    def __init__(self, size: tuple[int, int], theme: Theme, font: str, scale: float) -> None:
        self.scale = scale
        self.theme = theme
        self.font = font
        self.image = Image.new("RGB", (round(size[0] * scale), round(size[1] * scale)), theme.bg)
        self.draw = ImageDraw.Draw(self.image)
        self.spots: dict[str, tuple[int, int, int, int]] = {}  # text -> ink box in device px

    def _font(self, px: float, bold: bool, font: str | None) -> ImageFont.FreeTypeFont:
        name = font or self.font
        path = BOLD[name] if bold else FONTS[name]
        return ImageFont.truetype(str(path), max(6, round(px * self.scale)))

    def text(
        self,
        xy: tuple[float, float],
        text: str,
        px: float = 14,
        *,
        bold: bool = False,
        color: RGB | None = None,
        font: str | None = None,
    ) -> float:
        """Draw text with its top-left at xy (CSS px); returns the width in CSS px."""
        f = self._font(px, bold, font)
        pos = (xy[0] * self.scale, xy[1] * self.scale)
        self.draw.text(pos, text, font=f, fill=color or self.theme.fg)
        left, top, right, bottom = self.draw.textbbox(pos, text, font=f)
        self.spots[text] = (round(left), round(top), round(right - left), round(bottom - top))
        return self.draw.textlength(text, font=f) / self.scale

    def rect(
        self, box: tuple[float, float, float, float], fill: RGB | None, outline: RGB | None = None,
        radius: float = 0,
    ) -> None:
        s = self.scale
        self.draw.rounded_rectangle(
            [box[0] * s, box[1] * s, box[2] * s, box[3] * s],
            radius=radius * s, fill=fill, outline=outline, width=max(1, round(s)),
        )

    def paste(self, img: Image.Image, xy: tuple[float, float], side: float) -> None:
        px = round(side * self.scale)
        self.image.paste(img.resize((px, px), Image.Resampling.NEAREST),
                         (round(xy[0] * self.scale), round(xy[1] * self.scale)))


def _chrome(c: Canvas, title: str, nav: Sequence[str], active: int) -> None:
    """A browser-like top bar and a left navigation column."""
    t = c.theme
    c.rect((0, 0, 1280, 64), t.bg, t.panel)
    c.text((24, 20), title, 20, color=t.muted)
    c.rect((360, 12, 900, 52), t.panel, radius=8)
    c.text((400, 24), "Search", 15, color=t.muted)
    c.rect((1208, 14, 1244, 50), t.accent, radius=18)
    c.text((1219, 22), "J", 16, bold=True, color=t.bg)
    for i, item in enumerate(nav):
        y = 96 + i * 44
        if i == active:
            c.rect((0, y - 10, 240, y + 28), t.panel, radius=0)
        c.text((32, y), item, 15, color=t.accent if i == active else t.fg)


def render_google(
    codes: Sequence[str], email: str = "jdoe@example.com", *, font: str = "dejavu-sans",
    theme: str = "light", scale: float = 1, code_font: str | None = None,
    spots: dict[str, tuple[int, int, int, int]] | None = None,
) -> Image.Image:
    """Google Account > Security > 2-Step Verification > Backup codes, 1280x800."""
    c = Canvas((1280, 800), THEMES[theme], font, scale)
    t = c.theme
    _chrome(c, "Google Account", ["Home", "Personal info", "Data & privacy", "Security",
                                  "People & sharing", "Payments & subscriptions"], 3)
    x = 320
    c.text((x, 96), "<-  2-Step Verification", 16, color=t.muted)
    c.text((x, 140), "Backup codes", 30)
    c.text((x, 196), "Keep these backup codes somewhere safe but accessible.", 16)
    c.rect((x, 236, x + 640, 556), None, t.muted, radius=8)
    c.text((x + 24, 256), f"({email})", 15, color=t.muted)
    for i, code in enumerate(codes[:10]):
        col, row = divmod(i, 5)
        cx, cy = x + 48 + col * 300, 300 + row * 46
        c.text((cx, cy), f"{i + 1}.", 18, color=t.muted)
        c.text((cx + 40, cy), code, 18, font=code_font)
    c.text((x, 580), "You can only use each backup code once.", 15)
    c.text((x, 608), "These codes were generated on: Nov 27, 2025", 15, color=t.muted)
    for i, label in enumerate(["Get new codes", "Print", "Download"]):
        bx = x + i * 170
        c.rect((bx, 660, bx + 150, 700), None, t.muted, radius=20)
        c.text((bx + 22, 670), label, 15, color=t.accent)
    if spots is not None:
        spots.update(c.spots)
    return c.image


def render_github(
    codes: Sequence[str], *, font: str = "liberation-sans", theme: str = "light",
    scale: float = 1, code_font: str = "dejavu-mono",
    spots: dict[str, tuple[int, int, int, int]] | None = None,
) -> Image.Image:
    """GitHub Settings > Password and authentication > Recovery codes, 1280x800."""
    c = Canvas((1280, 800), THEMES[theme], font, scale)
    t = c.theme
    _chrome(c, "GitHub", ["Public profile", "Account", "Appearance", "Password and authentication",
                          "Sessions", "SSH and GPG keys"], 3)
    x = 300
    c.text((x, 92), "Recovery codes", 26)
    c.text((x, 136), "Recovery codes can be used to access your account in the event you lose", 15)
    c.text((x, 158), "access to your device and cannot receive two-factor authentication "
           "codes.", 15)
    c.rect((x, 196, x + 760, 540), t.panel, t.muted, radius=6)
    c.text((x + 20, 210), "Keep your recovery codes as safe as your password.", 15, bold=True)
    for i, code in enumerate(codes[:16]):
        col, row = divmod(i, 8)
        c.text((x + 120 + col * 300, 250 + row * 34), code, 17, font=code_font)
    for i, label in enumerate(["Download", "Print", "Copy"]):
        bx = x + 20 + i * 130
        c.rect((bx, 556, bx + 116, 592), t.panel, t.muted, radius=6)
        c.text((bx + 18, 565), label, 15)
    c.text((x, 620), "Generate new recovery codes", 20, bold=True)
    c.text((x, 652), "When you generate new recovery codes, you must download or print the", 15)
    c.text((x, 674), "new codes. Your old codes won't work anymore.", 15)
    if spots is not None:
        spots.update(c.spots)
    return c.image


def render_phone(
    codes: Sequence[str], email: str = "jdoe@example.com", *, font: str = "liberation-sans",
    theme: str = "dark",
    spots: dict[str, tuple[int, int, int, int]] | None = None,
) -> Image.Image:
    """A phone screenshot (390x844 CSS px at 3x): codes in one column."""
    c = Canvas((390, 844), THEMES[theme], font, 3)
    t = c.theme
    c.text((28, 14), "9:41", 15, bold=True)
    c.rect((330, 18, 356, 30), None, t.fg, radius=3)
    c.rect((332, 20, 350, 28), t.fg)
    c.text((20, 64), "<", 22, color=t.accent)
    c.text((20, 110), "Backup codes", 26)
    c.text((20, 156), "Keep these backup codes somewhere", 15)
    c.text((20, 178), "safe but accessible.", 15)
    c.text((20, 210), f"({email})", 14, color=t.muted)
    for i, code in enumerate(codes[:10]):
        y = 252 + i * 42
        c.text((48, y), f"{i + 1}.", 17, color=t.muted)
        c.text((96, y), code, 17)
    c.text((20, 690), "You can only use each backup code once.", 14)
    c.rect((20, 740, 370, 788), t.accent, radius=24)
    c.text((150, 753), "Download", 16, bold=True, color=t.bg)
    if spots is not None:
        spots.update(c.spots)
    return c.image


def render_receipt(rng: random.Random, *, theme: str = "light") -> Image.Image:
    """A hard negative: an order page full of 8-digit numbers in 4+4 groups."""
    c = Canvas((1280, 800), THEMES[theme], "liberation-sans", 1)
    c.text((320, 80), "Your orders", 28)
    c.text((320, 130), "Thank you for shopping with us. Track your parcels below.", 16)
    for i in range(8):
        y = 190 + i * 44
        order = f"{rng.randrange(2000, 2100)} {rng.randrange(1000, 9999)}"
        parcel = f"{rng.randrange(1000, 9999)} {rng.randrange(1000, 9999)}"
        c.text((320, y), f"Order {order}", 16)
        c.text((560, y), f"Tracking {parcel}", 16)
        c.text((820, y), f"{rng.randrange(5, 300)}.{rng.randrange(10, 99)} EUR", 16)
    c.text((320, 580), "Questions about an order? Call +49 30 2345 6712", 15, color=c.theme.muted)
    return c.image


def _qr(payload: str) -> Image.Image:
    q = qrcode.QRCode(border=4, box_size=1, error_correction=qrcode.constants.ERROR_CORRECT_M)
    q.add_data(payload)
    q.make(fit=True)
    img = q.make_image(fill_color="black", back_color="white")
    return img.get_image().convert("RGB")  # type: ignore[no-any-return]


def render_enrolment(
    uri: str, secret: str, *, font: str = "dejavu-sans", theme: str = "light", scale: float = 1,
) -> Image.Image:
    """A 'Set up authenticator app' page with the seed's QR code and the key."""
    c = Canvas((1280, 800), THEMES[theme], font, scale)
    t = c.theme
    c.text((320, 80), "Set up authenticator app", 28)
    c.text((320, 132), "Scan this QR code with your authenticator app.", 16)
    c.paste(_qr(uri), (320, 180), 260)
    c.text((320, 470), "Can't scan it? Enter this setup key instead:", 15, color=t.muted)
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)).lower()
    c.text((320, 498), grouped, 16, font="dejavu-mono")
    c.rect((320, 560, 440, 600), t.accent, radius=6)
    c.text((350, 570), "Next", 16, bold=True, color=t.bg)
    return c.image


def render_export(uri: str, *, theme: str = "dark") -> Image.Image:
    """Google Authenticator's 'Export accounts' screen on a phone."""
    c = Canvas((390, 844), THEMES[theme], "liberation-sans", 3)
    c.text((20, 60), "Export accounts", 24)
    c.text((20, 104), "Scan this QR code", 16)
    c.paste(_qr(uri), (45, 180), 300)
    c.text((20, 520), "Exporting 3 accounts", 14, color=c.theme.muted)
    return c.image


def render_photo(rng: random.Random, size: tuple[int, int] = (1600, 1200)) -> Image.Image:
    """A photo without text: sky gradient, soft blobs, sensor noise."""
    w, h = size
    top, bottom = (90, 140, 210), (200, 190, 160)
    grad = Image.new("RGB", (1, 256))
    for y in range(256):
        f = y / 255
        colour = tuple(round(a + (b - a) * f) for a, b in zip(top, bottom, strict=True))
        grad.putpixel((0, y), colour)
    img = grad.resize((w, h), Image.Resampling.BILINEAR)
    blobs = Image.new("RGB", (w, h))
    mask = Image.new("L", (w, h), 0)
    d, m = ImageDraw.Draw(blobs), ImageDraw.Draw(mask)
    for _ in range(14):
        cx, cy, r = rng.randrange(w), rng.randrange(h // 3, h), rng.randrange(w // 20, w // 5)
        colour = (rng.randrange(40, 120), rng.randrange(70, 150), rng.randrange(30, 90))
        d.ellipse([cx - r, cy - r // 2, cx + r, cy + r // 2], fill=colour)
        m.ellipse([cx - r, cy - r // 2, cx + r, cy + r // 2], fill=200)
    img.paste(blobs, (0, 0), mask.filter(ImageFilter.GaussianBlur(w / 150)))
    noise = Image.effect_noise((w, h), 24).convert("RGB")
    return Image.blend(img, noise, 0.12)


def render_printed(
    codes: Sequence[str], email: str = "jdoe@example.com", *, font: str = "liberation-sans",
    spots: dict[str, tuple[int, int, int, int]] | None = None,
) -> Image.Image:
    """Google's printed backup-code sheet: a white page, ten codes in two columns."""
    c = Canvas((850, 1100), LIGHT, font, 1)
    c.text((80, 90), "Backup codes", 30, bold=True)
    c.text((80, 140), f"{email}", 17)
    c.text((80, 172), "Keep these backup codes somewhere safe but accessible.", 16)
    for i, code in enumerate(codes[:10]):
        col, row = divmod(i, 5)
        x, y = 120 + col * 320, 250 + row * 56
        c.rect((x - 20, y - 10, x + 260, y + 36), None, (180, 180, 180), radius=4)
        c.text((x, y), f"{i + 1}. {code}", 21)
    c.text((80, 560), "You can only use each backup code once.", 16)
    c.text((80, 590), "Generated Nov 27, 2025", 14, color=LIGHT.muted)
    if spots is not None:
        spots.update(c.spots)
    return c.image


CHAT_DARK = Theme((11, 20, 26), (233, 237, 239), (134, 150, 160), (0, 168, 132), (32, 44, 51))
CHAT_MINE = (0, 92, 75)  # a dark chat app's bubble for one's own messages


def render_chat(
    messages: Sequence[tuple[bool, Sequence[str]]], *, title: str = "Alex",
    spots: dict[str, tuple[int, int, int, int]] | None = None,
) -> Image.Image:
    """A dark chat app on a phone (390x844 CSS px at 3x): bubbles of a few lines each,
    (mine, lines) per message; mine on the right in green, theirs on the left."""
    c = Canvas((390, 844), CHAT_DARK, "dejavu-sans", 3)
    t = c.theme
    c.rect((0, 0, 390, 96), t.panel)
    c.text((20, 54), "<", 22, color=t.fg)
    c.text((60, 56), title, 18, bold=True)
    y = 120.0
    for mine, lines in messages:
        width = max(len(line) for line in lines) * 8.6 + 28
        left = 390 - 14 - width if mine else 14
        height = 22 * len(lines) + 20
        c.rect((left, y, left + width, y + height), CHAT_MINE if mine else t.panel, radius=10)
        for i, line in enumerate(lines):
            c.text((left + 14, y + 10 + i * 22), line, 15)
        y += height + 12
    if spots is not None:
        spots.update(c.spots)
    return c.image


def phone_photo(
    page: Image.Image, rng: random.Random, *, tilt: float, light: float = 0.35,
    blur: float = 0.8, quality: int = 70, orientation: int = 1, shot: float = 1.0,
) -> bytes:
    """A page as a phone photographs it: on a desk, turned `tilt` degrees, lit from one
    side (`light`: how much darker the far side is), out of focus, sensor noise, JPEG;
    `shot` scales the page in the picture; `orientation` (EXIF) stores the pixels
    turned, for a viewer to put upright as a phone does."""
    w, h = page.size
    pw, ph = round(w * shot), round(h * shot)
    margin = round(max(pw, ph) * 0.12)
    desk = Image.new("RGB", (pw + 2 * margin, ph + 2 * margin), (96, 82, 64))
    # a soft shadow under the sheet, then the sheet
    shadow = Image.new("L", desk.size, 0)
    ImageDraw.Draw(shadow).rectangle(
        [margin + 6, margin + 8, margin + pw + 6, margin + ph + 8], fill=120)
    desk.paste((40, 34, 28), (0, 0), shadow.filter(ImageFilter.GaussianBlur(8)))
    desk.paste(page.convert("RGB").resize((pw, ph), Image.Resampling.LANCZOS),
               (margin, margin))
    turned = desk.rotate(tilt, resample=Image.Resampling.BICUBIC, expand=True,
                         fillcolor=(96, 82, 64))
    # uneven light: a gradient from full light to (1 - light) across the picture
    ramp = Image.linear_gradient("L").rotate(rng.choice((90, -90, 0, 180)))
    ramp = ramp.resize(turned.size).point(lambda v: round(255 * (1 - light * v / 255)))
    lit = ImageChops.multiply(turned, Image.merge("RGB", (ramp, ramp, ramp)))
    if blur:
        lit = lit.filter(ImageFilter.GaussianBlur(blur))
    noise = Image.effect_noise(lit.size, 18).convert("RGB")
    lit = Image.blend(lit, noise, 0.06)
    exif = Image.Exif()
    if orientation != 1:
        # The sensor's pixels: turned back from how the viewer will show them.
        undo = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90,
                8: Image.Transpose.ROTATE_270}[orientation]
        lit = lit.transpose(undo)
        exif[0x0112] = orientation
    return encode(lit, "JPEG", quality=quality, exif=exif.tobytes())


# --- encoding ------------------------------------------------------------------------------


def encode(img: Image.Image, fmt: str, **opts: object) -> bytes:
    buf = io.BytesIO()
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    img.save(buf, format=fmt, **opts)
    return buf.getvalue()


def encode_tiff_pages(pages: Sequence[Image.Image]) -> bytes:
    buf = io.BytesIO()
    # Copies: Pillow keeps the options of an image's last save on it and would pass
    # them (JPEG quality ...) to the TIFF encoder of an appended page.
    first, *rest = (p.copy() for p in pages)
    first.save(buf, format="TIFF", save_all=True, append_images=rest)
    return buf.getvalue()


# --- the recall set ------------------------------------------------------------------------

Render = Callable[[], Image.Image]


def screenshot_set(rng: random.Random) -> list[Sample]:
    """Backup-code screenshots over fonts, themes, scales and encodings."""
    out: list[Sample] = []
    variants = [
        ("google-dejavu-light-1x.png", "dejavu-sans", "light", 1, "PNG"),
        ("google-liberation-dark-1x.png", "liberation-sans", "dark", 1, "PNG"),
        ("google-serif-light-2x.png", "liberation-serif", "light", 2, "PNG"),
        ("google-mono-dark-2x.png", "dejavu-mono", "dark", 2, "PNG"),
        ("google-dejavu-light-1x-q70.jpg", "dejavu-sans", "light", 1, "JPEG"),
        ("google-liberation-dark-1x-q70.jpg", "liberation-sans", "dark", 1, "JPEG"),
    ]
    for name, font, theme, scale, fmt in variants:
        codes, spots = google_codes(rng), Spots()
        img = render_google(codes, font=font, theme=theme, scale=scale, spots=spots)
        data = encode(img, fmt, quality=70) if fmt == "JPEG" else encode(img, fmt)
        out.append(Sample(name, data, "google", codes, meta={"font": font, "theme": theme},
                          spots=spots))
    for name, theme, scale, fmt in [
        ("github-light-1x.png", "light", 1, "PNG"),
        ("github-dark-1x-q70.jpg", "dark", 1, "JPEG"),
        ("github-light-2x.webp", "light", 2, "WEBP"),
    ]:
        codes, spots = github_codes(rng), Spots()
        img = render_github(codes, theme=theme, scale=scale, spots=spots)
        opts: dict[str, object] = {"quality": 70} if fmt == "JPEG" else {}
        if fmt == "WEBP":
            opts = {"lossless": True}
        out.append(Sample(name, encode(img, fmt, **opts), "github", codes, meta={"theme": theme},
                          spots=spots))
    codes, spots = google_codes(rng), Spots()
    phone = render_phone(codes, spots=spots)
    out.append(Sample("phone-dark.png", encode(phone, "PNG"), "google", codes, spots=spots,
                      meta={"named": "no"}))  # the page never says "Google"
    return out


def qr_set(rng: random.Random) -> list[Sample]:
    secret = base32_secret(rng)
    uri = otpauth_uri("ACME Corp", "jdoe@example.com", secret)
    img = render_enrolment(uri, secret)
    out = [Sample("enrol-totp.png", encode(img, "PNG"), "totp", qr=[uri])]
    accounts = [
        ("Example", "alice@example.com", rng.randbytes(10)),
        ("GitHub", "jdoe", rng.randbytes(20)),
        ("ACME", "bob@acme.test", rng.randbytes(16)),
    ]
    mig = migration_uri(accounts)
    out.append(Sample("authenticator-export.jpg", encode(render_export(mig), "JPEG", quality=85),
                      "totp", qr=[mig], meta={"accounts": str(len(accounts))}))
    return out


def photo_set(rng: random.Random) -> list[Sample]:
    """Negatives: a photo without text and an order page full of look-alike numbers."""
    return [
        Sample("holiday.jpg", encode(render_photo(rng), "JPEG", quality=85), None),
        Sample("orders.png", encode(render_receipt(rng), "PNG"), None),
    ]


def people_set(rng: random.Random) -> list[Sample]:
    """Pictures as people take them (issue 21): phone photos of printed and on-screen
    codes, screenshots at 60% and at 3x, a dark chat app; and their look-alikes."""
    out: list[Sample] = []

    def google(name: str, render: Callable[..., Image.Image], encode_as: Callable[
            [Image.Image], bytes], **meta: str) -> None:
        codes, spots = google_codes(rng), Spots()
        data = encode_as(render(codes, spots=spots))
        out.append(Sample(name, data, "google", codes, meta=meta))

    google("photo-printed-tilt3.jpg", render_printed,
           lambda p: phone_photo(p, rng, tilt=3.0), named="no")
    google("photo-printed-tilt-7-exif6.jpg", render_printed,
           lambda p: phone_photo(p, rng, tilt=-7.0, orientation=6, light=0.5), named="no")
    google("photo-printed-blur.jpg", render_printed,
           lambda p: phone_photo(p, rng, tilt=1.5, blur=1.6, light=0.55), named="no")
    google("photo-screen-tilt4.jpg", lambda c, spots: render_google(c, spots=spots),
           lambda p: phone_photo(p, rng, tilt=4.0, shot=1.6))
    google("screenshot-60pct.png", lambda c, spots: render_google(c, spots=spots),
           lambda p: encode(p.resize((768, 480), Image.Resampling.LANCZOS), "PNG"))
    google("screenshot-60pct-dark.jpg", lambda c, spots: render_google(c, theme="dark",
                                                                        spots=spots),
           lambda p: encode(p.resize((768, 480), Image.Resampling.LANCZOS), "JPEG",
                            quality=70))
    google("screenshot-3x.png", lambda c, spots: render_google(c, scale=3, spots=spots),
           lambda p: encode(p, "PNG"))

    codes, spots = google_codes(rng), Spots()
    chat = render_chat([
        (False, ["can you send me the backup", "codes for the shared account?"]),
        (True, ["sure, Google backup codes:"]),
        (True, [f"{i + 1}. {c}" for i, c in enumerate(codes[:5])]),
        (True, [f"{i + 6}. {c}" for i, c in enumerate(codes[5:10])]),
        (False, ["thanks!"]),
    ], spots=spots)
    out.append(Sample("chat-dark.png", encode(chat, "PNG"), "google", codes))

    # Look-alikes: numbers in 4+4 groups without recovery wording.
    order = render_chat([
        (False, ["your parcels are on the way"]),
        (False, [f"Tracking {rng.randrange(1000, 9999)} {rng.randrange(1000, 9999)}"
                 for _ in range(5)]),
        (True, ["great, and the invoice?"]),
        (False, [f"Invoice {rng.randrange(1000, 9999)} {rng.randrange(1000, 9999)}"
                 for _ in range(3)]),
    ], title="Parcel service")
    out.append(Sample("chat-dark-parcels.png", encode(order, "PNG"), None))
    out.append(Sample("photo-receipt-tilt5.jpg",
                      phone_photo(render_receipt(rng), rng, tilt=5.0), None))
    return out


def build_set(rng: random.Random) -> list[Sample]:
    return screenshot_set(rng) + qr_set(rng) + photo_set(rng)


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1:
        print("usage: gen_images.py OUTDIR", file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    truth = []
    for s in build_set(random.Random(4)):
        (out / s.name).write_bytes(s.data)
        truth.append({"name": s.name, "service": s.service, "codes": len(s.codes)})
    (out / "truth.json").write_text(json.dumps(truth, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
