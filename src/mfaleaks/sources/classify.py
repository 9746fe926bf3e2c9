"""Content type from magic bytes (python-magic) plus our own sniffers.

The extension is only a hint: a .txt that is a zip is a zip. libmagic alone is
wrong for mbox (text/plain), for xlsx in its first KiB and for .msg (generic
OLE), so we sniff 8 KiB and add checks of our own.
"""

from __future__ import annotations

import functools
import re
from enum import StrEnum
from typing import Any

from mfaleaks.models import Source

SNIFF_BYTES = 8192


class Kind(StrEnum):
    EMPTY = "empty"
    TEXT = "text"
    HTML = "html"
    RTF = "rtf"
    MBOX = "mbox"
    EML = "eml"
    MSG = "msg"
    PST = "pst"
    PDF = "pdf"
    IMAGE = "image"
    ZIP = "zip"
    OOXML = "ooxml"
    ODF = "odf"
    TAR = "tar"
    GZIP = "gzip"
    BZIP2 = "bzip2"
    XZ = "xz"
    SEVENZ = "7z"
    SQLITE = "sqlite"
    OLE = "ole"
    BINARY = "binary"


_MBOX_FROM = re.compile(rb"\AFrom \S+ +\w{3} \w{3} [ \d]\d \d\d:\d\d(:\d\d)? ")
_HEADER = re.compile(rb"^([A-Za-z][A-Za-z0-9-]{1,40}):[ \t]", re.M)
_MAIL_HEADERS = {
    b"from", b"to", b"subject", b"date", b"message-id", b"received", b"return-path",
    b"mime-version", b"content-type", b"delivered-to", b"x-mailer", b"reply-to", b"cc",
}
_TEXT_MIMES = ("text/", "application/json", "application/xml", "application/javascript",
               "application/x-ndjson", "message/", "application/x-wine-extension-ini",
               "application/csv", "application/x-subrip", "application/x-empty")
_IMAGE_MIMES = ("image/",)
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

@functools.cache
def _libmagic() -> Any:
    """Loaded on first use: importing python-magic costs ~18 ms (it looks for the
    library with ctypes.util), which most runs, whose files are clean UTF-8, never need."""
    import magic

    return magic.Magic(mime=True)


def classify(source: Source) -> Kind:
    # A .msg/.pst/.ost goes to that extractor even when it is not one (renamed, empty,
    # damaged): it checks the signature, reports the file and reads what it really is.
    stem, dot, ext = source.name.rpartition(".")
    if dot and stem and ext.lower() in _OUTLOOK_NAMES:
        return _OUTLOOK_NAMES[ext.lower()]
    head = source.head(SNIFF_BYTES)
    return classify_bytes(head, source.name, source)


_OUTLOOK_NAMES = {"msg": Kind.MSG, "pst": Kind.PST, "ost": Kind.PST}


def classify_bytes(head: bytes, name: str = "", source: Source | None = None) -> Kind:
    if not head:
        return Kind.EMPTY
    own = _sniff(head)
    if own is Kind.OLE and source is not None:
        return _ole_kind(source)
    if own is not None:
        return own
    if _plain_utf8(head):
        # Clean UTF-8 without control bytes is text: libmagic would cost ~1 ms here
        # and tell us nothing our own mail/HTML checks do not.
        return _text_or_mail(head)
    known = _signature(head)
    if known is Kind.ZIP:
        return _zip_kind(source) if source is not None else Kind.ZIP
    return known if known is not None else _by_libmagic(head, source)


# Signatures whose kind libmagic gives (image/png, application/x-gettext-translation,
# ...), told without its ~0.1 ms a call: icons and translations are most of the files
# of /usr/share that are not text (9,700 of its 10,000 calls). Only for what is not
# clean UTF-8: a text that happens to start with "GIF89a" stays text, as before.
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", Kind.IMAGE),
    (b"\xff\xd8\xff", Kind.IMAGE),  # JPEG
    (b"GIF87a", Kind.IMAGE),
    (b"GIF89a", Kind.IMAGE),
    (b"\xde\x12\x04\x95", Kind.BINARY),  # gettext .mo, little-endian
    (b"\x95\x04\x12\xde", Kind.BINARY),  # and big-endian
    (b"TZif", Kind.BINARY),  # time zone data
    (b"PK\x03\x04", Kind.ZIP),
)


def _signature(head: bytes) -> Kind | None:
    for magic, kind in _SIGNATURES:
        if head.startswith(magic):
            return kind
    return None


def _by_libmagic(head: bytes, source: Source | None) -> Kind:
    mime = _libmagic().from_buffer(head)
    if mime == "application/zip":  # (a head that starts PK\x03\x04 is told by _signature)
        return _zip_kind(source) if source is not None else Kind.ZIP
    if mime.startswith(_IMAGE_MIMES) and mime != "image/svg+xml":
        return Kind.IMAGE
    if mime == "text/html":
        return Kind.HTML
    if mime == "text/rtf":
        return Kind.RTF
    if mime == "message/rfc822":
        return Kind.EML
    if mime.startswith(_TEXT_MIMES) or mime == "image/svg+xml":
        return _text_or_mail(head)
    if _looks_utf16(head):
        return Kind.TEXT
    return Kind.BINARY


def _sniff(head: bytes) -> Kind | None:
    if head.startswith(b"%PDF-"):
        return Kind.PDF
    if head.startswith(b"\x7fELF") or _is_pyc(head):
        # Binaries of code trees, not read: libmagic took ~0.26 ms per .pyc to say so
        # (5.5 s of CPU for the 20,749 of a Python install with its packages).
        return Kind.BINARY
    if head.startswith(b"!BDN"):
        return Kind.PST
    if head.startswith(b"SQLite format 3\x00"):
        return Kind.SQLITE
    if head.startswith(_OLE_MAGIC):
        return Kind.OLE  # refined by _ole_kind when the whole source is at hand
    if head.startswith(b"{\\rtf"):
        return Kind.RTF
    if head.startswith(b"\x1f\x8b"):
        return Kind.GZIP
    if head.startswith(b"BZh") and head[3:4].isdigit():
        return Kind.BZIP2
    if head.startswith(b"\xfd7zXZ\x00"):
        return Kind.XZ
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return Kind.SEVENZ
    if len(head) > 262 and head[257:262] == b"ustar":
        return Kind.TAR
    if _MBOX_FROM.match(head.lstrip(b"\r\n")):  # exports may start with blank lines
        return Kind.MBOX
    return None


def _is_pyc(head: bytes) -> bool:
    """CPython 3 bytecode (PEP 552): a 2-byte magic number of 3.x then CR LF, then flags."""
    return (len(head) >= 16 and head[2:4] == b"\r\n"
            and 3000 <= int.from_bytes(head[:2], "little") < 4000
            and head[4:8] in (b"\0\0\0\0", b"\1\0\0\0", b"\3\0\0\0"))


_MSG_STREAM = "__substg1.0_".encode("utf-16-le")


def _ole_kind(source: Source) -> Kind:
    """Outlook .msg is an OLE file whose directory names __substg1.0_ streams.

    The directory often lies past the first 8 KiB, so look further.
    """
    with source.open() as fh:
        block = fh.read(256 * 1024)
        while block:
            if _MSG_STREAM in block:
                return Kind.MSG
            block = fh.read(256 * 1024)
    return Kind.OLE


def _text_or_mail(head: bytes) -> Kind:
    # An RFC 822 message starts with headers: several known ones in the first lines.
    # The first line is checked first: most text files fail it, and cheaply.
    if _HEADER.match(head.lstrip()):
        names = {m.group(1).lower() for m in _HEADER.finditer(head[:4096])}
        top = head.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
        if len(names & _MAIL_HEADERS) >= 3 and _HEADER.match(top.lstrip()):
            return Kind.EML
    low = head[:1024].lower()
    if b"<html" in low or b"<!doctype html" in low:
        return Kind.HTML
    return Kind.TEXT


# Control bytes that text does not hold (tab, line breaks, form feed and ESC aside).
_CONTROL = bytes([*range(0x00, 0x09), *range(0x0E, 0x1B), *range(0x1C, 0x20), 0x7F])


def _plain_utf8(head: bytes) -> bool:
    if len(head.translate(None, _CONTROL)) != len(head):  # 5x faster than a regex search
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        # A character cut by the end of the sniffed block is fine.
        return err.start >= len(head) - 3 and err.reason == "unexpected end of data"
    return True


def _looks_utf16(head: bytes) -> bool:
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return True
    sample = head[:4096]
    if len(sample) < 8:
        return False
    zeros_odd = sample[1::2].count(0)
    zeros_even = sample[0::2].count(0)
    half = len(sample) // 2
    return max(zeros_odd, zeros_even) > 0.4 * half and min(zeros_odd, zeros_even) < 0.05 * half


def _zip_kind(source: Source) -> Kind:
    """Office files are zips; tell them apart by their member names."""
    import zipfile  # only for zips: ~3 ms off the start of every run

    try:
        with source.open() as fh, zipfile.ZipFile(fh) as zf:
            names = set(zf.namelist()[:200])
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        return Kind.ZIP
    if "[Content_Types].xml" in names and any(
        n.startswith(("word/", "xl/", "ppt/")) for n in names
    ):
        return Kind.OOXML
    if "mimetype" in names and "content.xml" in names:
        return Kind.ODF
    return Kind.ZIP
