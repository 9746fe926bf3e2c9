"""RTF documents: striprtf for the text, embedded pictures to the pipeline for OCR.

Picture data (hex in {\\pict ...} groups) is cut out before striprtf runs: it
is most of the bytes of a document with images and striprtf tokenises every
byte in Python.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable, Iterator

from striprtf import striprtf

from mfaleaks.extract.base import Context, Item, read_capped
from mfaleaks.models import Source, TextChunk

_to_text: Callable[..., str] = striprtf.rtf_to_text  # untyped library
MAX_RTF = 64 * 1024 * 1024
# Groups of hex data (pictures, embedded objects, Word's theme and XML data store).
_BULK = re.compile(rb"\{\\pict\b|\{\\\*\\(?:objdata|themedata|colorschememapping|datastore)\b")
_BRACE = re.compile(rb"\\[{}\\]|[{}]")  # escaped braces do not count
_BLIP = re.compile(rb"\\(pngblip|jpegblip)")
_NOT_HEX = re.compile(rb"[^0-9a-fA-F\s]")
_SIGNATURES = {"png": b"89504e47", "jpg": b"ffd8ff"}
_CODEPAGE = re.compile(rb"\\ansicpg(\d+)")
_MIN_PICTURE = 2048  # hex characters: smaller pictures are bullets and rules


def extract_rtf(source: Source, ctx: Context) -> Iterator[Item]:
    raw, cut = read_capped(source, MAX_RTF, "RTF")
    if cut is not None:
        yield cut
    text, pictures = rtf_to_text(raw)
    if text.strip():
        yield TextChunk(text=text, source="rtf", line=None)
    for index, (ext, data) in enumerate(pictures, 1):
        yield source.child(f"picture {index}.{ext}", data)


def rtf_to_text(raw: bytes) -> tuple[str, list[tuple[str, bytes]]]:
    """The text of an RTF document in its declared code page, and its pictures.

    Also used for Outlook's RTF-only message bodies (mailbuild.py).
    """
    stripped, pictures = cut_pictures(raw)
    codepage = _CODEPAGE.search(stripped[:4096])
    encoding = f"cp{codepage.group(1).decode()}" if codepage else "cp1252"
    try:
        text = _to_text(stripped.decode("latin-1"), encoding=encoding, errors="replace")
    except LookupError:
        text = _to_text(stripped.decode("latin-1"), encoding="cp1252", errors="replace")
    # striprtf turns \~ into NBSP: a code typed as "4821\~7730" must read "4821 7730".
    return text.replace("\u00a0", " ").replace("\r\n", "\n"), pictures


def cut_pictures(raw: bytes) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The RTF without its picture and object groups, and the PNG/JPEG pictures."""
    kept: list[bytes] = []
    pictures: list[tuple[str, bytes]] = []
    pos = 0
    while (match := _BULK.search(raw, pos)) is not None:
        end = _group_end(raw, match.start())
        kept.append(raw[pos : match.start()])
        kept.append(b" ")
        picture = _picture(raw[match.start() : end])
        if picture is not None:
            pictures.append(picture)
        pos = end
    kept.append(raw[pos:])
    return b"".join(kept), pictures


def _group_end(raw: bytes, start: int) -> int:
    depth = 0
    for brace in _BRACE.finditer(raw, start):
        token = brace.group()
        if token == b"{":
            depth += 1
        elif token == b"}":
            depth -= 1
            if depth == 0:
                return brace.end()
    return len(raw)


def _picture(group: bytes) -> tuple[str, bytes] | None:
    """Hex data ends a picture group: after the last control word or nested group."""
    blip = _BLIP.search(group)
    if blip is None:
        return None
    ext = "png" if blip.group(1) == b"pngblip" else "jpg"
    body = group[:-1] if group.endswith(b"}") else group
    last = None
    for last in _NOT_HEX.finditer(body):  # noqa: B007 - we want the last one
        pass
    region = body[last.end() if last else 0 :]
    # A control word's numeric argument can look like hex: start at the file signature.
    at = region[:64].lower().find(_SIGNATURES[ext])
    if at < 0:
        return None
    hexdata = region[at:].translate(None, b" \t\r\n")
    if len(hexdata) < _MIN_PICTURE:
        return None
    try:
        return ext, binascii.unhexlify(hexdata[: len(hexdata) // 2 * 2])
    except binascii.Error:
        return None
