"""QR codes in images: every one decoded with zxing-cpp, TOTP seeds spelled out.

An `otpauth://` payload is a TOTP/HOTP seed as it is; an
`otpauth-migration://` payload (Google Authenticator's export) carries many
seeds in a protobuf, which is decoded here by hand (no protobuf dependency)
into one `otpauth://` line per seed so that issuer and account can be shown
and each seed is matched like any other URI.
"""

from __future__ import annotations

import base64
import binascii
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass

import zxingcpp
from PIL import Image

from mfaleaks.models import Box, TextChunk

_ALGORITHMS = {1: "SHA1", 2: "SHA256", 3: "SHA512", 4: "MD5"}
_DIGITS = {1: 6, 2: 8}
_FORMATS = zxingcpp.BarcodeFormats(
    [zxingcpp.BarcodeFormat.QRCode, zxingcpp.BarcodeFormat.MicroQRCode]
)
MAX_TEXT = 64 * 1024  # a QR code holds under 3 KB; anything longer is not one


@dataclass(frozen=True)
class QrCode:
    text: str
    box: Box


def read_qr(img: Image.Image, scale: float = 1.0) -> list[QrCode]:
    """All QR codes in the image; boxes are divided by `scale` (for reduced copies)."""
    if img.mode not in ("L", "RGB"):
        img = img.convert("RGB")
    found = zxingcpp.read_barcodes(img, formats=_FORMATS)
    out = []
    for code in found:
        if not code.valid or not code.text or len(code.text) > MAX_TEXT:
            continue
        out.append(QrCode(code.text, _box(code.position, scale, img.size)))
    return out


def _box(position: zxingcpp.Position, scale: float, size: tuple[int, int]) -> Box:
    points = [position.top_left, position.top_right, position.bottom_right, position.bottom_left]
    xs = [min(max(p.x, 0), size[0]) for p in points]
    ys = [min(max(p.y, 0), size[1]) for p in points]
    left, top = int(min(xs) / scale), int(min(ys) / scale)
    right, bottom = -int(-max(xs) // scale), -int(-max(ys) // scale)
    return (left, top, max(1, right - left), max(1, bottom - top))


def qr_chunks(
    codes: list[QrCode], anchors: tuple[tuple[int, str], ...] = ()
) -> Iterator[TextChunk]:
    """One chunk per QR code, the whole text of the chunk boxed by the code's outline."""
    for code in codes:
        text = code.text
        if text[:22].lower().startswith("otpauth-migration://"):
            lines = list(migration_lines(text))
            if lines:
                text = "\n".join([text, *lines])
        yield TextChunk(text=text, source="qr", line=None, anchors=anchors,
                        boxes=((0, len(text), code.box),), whole=True)


# --- otpauth-migration -----------------------------------------------------------------------


def migration_lines(uri: str) -> Iterator[str]:
    """otpauth:// URIs for the seeds in a Google Authenticator export; none if malformed."""
    query = urllib.parse.urlsplit(uri).query
    data = urllib.parse.parse_qs(query).get("data")
    if not data:
        return
    # Form decoding reads '+' as a space; some exporters use the URL-safe alphabet.
    raw = data[0].strip().replace(" ", "+").replace("-", "+").replace("_", "/")
    try:
        payload = base64.b64decode(raw + "=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        return
    try:
        for num, value in _fields(payload):
            if num == 1 and isinstance(value, bytes):
                line = _otp_line(value)
                if line:
                    yield line
    except ValueError:
        return


def _otp_line(params: bytes) -> str | None:
    secret = b""
    name = issuer = ""
    algorithm, digits, kind, counter = 0, 0, 2, 0
    for num, value in _fields(params):
        if isinstance(value, bytes):
            if num == 1:
                secret = value
            elif num == 2:
                name = value.decode("utf-8", "replace")
            elif num == 3:
                issuer = value.decode("utf-8", "replace")
        elif num == 4:
            algorithm = value
        elif num == 5:
            digits = value
        elif num == 6:
            kind = value
        elif num == 7:
            counter = value
    if not secret:
        return None
    label = name if (not issuer or name.startswith(f"{issuer}:")) else f"{issuer}:{name}"
    query = {"secret": base64.b32encode(secret).decode().rstrip("=")}
    if issuer:
        query["issuer"] = issuer
    if algorithm in _ALGORITHMS and algorithm != 1:
        query["algorithm"] = _ALGORITHMS[algorithm]
    if digits in _DIGITS and digits != 1:
        query["digits"] = str(_DIGITS[digits])
    otp = "hotp" if kind == 1 else "totp"
    if otp == "hotp":
        query["counter"] = str(counter)
    return f"otpauth://{otp}/{urllib.parse.quote(label)}?{urllib.parse.urlencode(query)}"


def _fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    """Protobuf wire format: (field number, varint or length-delimited bytes)."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield num, value
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > len(buf):
                raise ValueError("truncated field")
            yield num, buf[pos : pos + length]
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("bad varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
