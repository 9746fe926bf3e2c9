"""Bytes to text for plain-text sources in any common encoding.

Order: BOM (UTF-8, UTF-16, UTF-32), UTF-16 without BOM (NUL pattern), strict
UTF-8, then CP-1252 with Latin-1 for the five bytes CP-1252 leaves undefined.
Never raises: every byte sequence decodes to some text.
"""

from __future__ import annotations

import codecs

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def _cp1252_fallback(err: UnicodeError) -> tuple[str, int]:
    assert isinstance(err, UnicodeDecodeError)
    bad = err.object[err.start : err.end]
    return bad.decode("latin-1"), err.end


codecs.register_error("mfaleaks-latin1", _cp1252_fallback)


def sniff_encoding(head: bytes) -> tuple[str, int]:
    """The encoding of a text whose first bytes are `head`, and the BOM length."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name, len(bom)
    sample = head[:4096]
    if len(sample) >= 8:
        half = len(sample) // 2
        odd, even = sample[1::2].count(0), sample[0::2].count(0)
        if odd > 0.4 * half and even < 0.05 * half:
            return "utf-16-le", 0
        if even > 0.4 * half and odd < 0.05 * half:
            return "utf-16-be", 0
    try:
        sample.decode("utf-8")
        return "utf-8", 0
    except UnicodeDecodeError as err:
        # A multi-byte character cut at the end of the sample is still UTF-8.
        if err.start >= len(sample) - 3 and err.reason == "unexpected end of data":
            return "utf-8", 0
    return "cp1252", 0


def decode_bytes(data: bytes, declared: str | None = None) -> str:
    """Decode a whole byte string: declared charset first, then sniffing."""
    if declared:
        try:
            return data.decode(declared)
        except (LookupError, ValueError):  # ValueError: a charset label with a NUL in it
            pass
    if b"\x00" not in data[:4096] and not data.startswith(codecs.BOM_UTF8):
        # No BOM and no UTF-16 NULs: sniffing would pick UTF-8 if it all decodes as
        # UTF-8 (most files), and decoding it is what finds that out.
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    encoding, bom = sniff_encoding(data[:8192])
    return decode_with(data[bom:], encoding)


def decode_with(data: bytes, encoding: str) -> str:
    if encoding == "utf-8":
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            encoding = "cp1252"
    if encoding == "cp1252":
        return data.decode("cp1252", errors="mfaleaks-latin1")
    return data.decode(encoding, errors="replace")


class StreamDecoder:
    """Incremental decoding for files read block by block.

    A UTF-8 file that turns out to hold a stray CP-1252 byte further on keeps
    decoding: that block falls back to CP-1252 instead of failing the file.
    """

    def __init__(self, head: bytes) -> None:
        self.encoding, self.skip = sniff_encoding(head)
        name = "utf-8" if self.encoding in ("utf-8", "cp1252") else self.encoding
        self._dec = codecs.getincrementaldecoder(name)(errors="strict")

    def decode(self, block: bytes, final: bool = False) -> str:
        if self.skip:
            block, self.skip = block[self.skip :], 0
        if self.encoding == "cp1252":
            return block.decode("cp1252", errors="mfaleaks-latin1")
        try:
            return self._dec.decode(block, final)
        except UnicodeDecodeError:
            if self.encoding != "utf-8":
                self._dec = codecs.getincrementaldecoder(self.encoding)(errors="replace")
                return self._dec.decode(block, final)
            pending, _ = self._dec.getstate()
            self._dec.reset()
            return (pending + block).decode("cp1252", errors="mfaleaks-latin1")
