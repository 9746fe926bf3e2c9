"""classify.py's own sniffers: binaries of code trees are known without libmagic."""

from __future__ import annotations

import os
import py_compile
import sys
from pathlib import Path

import pytest

from mfaleaks.sources import classify
from mfaleaks.sources.classify import Kind, classify_bytes


def _no_libmagic() -> None:
    raise AssertionError("libmagic was asked")


@pytest.mark.parametrize("invalidation", list(py_compile.PycInvalidationMode))
def test_bytecode_is_binary_without_libmagic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, invalidation: py_compile.PycInvalidationMode
) -> None:
    source = tmp_path / "codes.py"
    source.write_text('CODES = ["1234 5678", "2345 6789"]  # backup codes\n' * 50)
    head = Path(py_compile.compile(str(source), cfile=str(tmp_path / "codes.pyc"),
                                   invalidation_mode=invalidation)).read_bytes()[:8192]
    assert classify_bytes(head, "codes.pyc") is Kind.BINARY  # what libmagic says too
    monkeypatch.setattr(classify, "_libmagic", _no_libmagic)
    assert classify_bytes(head, "codes.pyc") is Kind.BINARY


def test_an_elf_binary_is_binary_without_libmagic(monkeypatch: pytest.MonkeyPatch) -> None:
    head = Path(os.path.realpath(sys.executable)).read_bytes()[:8192]
    assert head.startswith(b"\x7fELF")
    assert classify_bytes(head, "python") is Kind.BINARY
    monkeypatch.setattr(classify, "_libmagic", _no_libmagic)
    assert classify_bytes(head, "python") is Kind.BINARY


def test_what_only_looks_like_bytecode_is_not_taken_for_it() -> None:
    # A 2,573-byte BMP: its size field starts with CR LF, its reserved field is zeros.
    bmp = b"BM" + (2573).to_bytes(4, "little") + bytes(4) + (54).to_bytes(4, "little")
    assert not classify._is_pyc(bmp + bytes(40))
    assert not classify._is_pyc(b"Hi\r\n\0\0\0\0" + bytes(16))  # no 3.x magic number
    assert not classify._is_pyc(b"\xa7\r\r\n\0\0\0\0")  # too short to be one
    assert classify._is_pyc(b"\xa7\r\r\n\0\0\0\0" + bytes(8))  # 3.11's magic number


def _signed_heads() -> list[tuple[str, bytes]]:
    """Real files of each signature classify.py tells without libmagic, made here."""
    import io
    import struct
    import zipfile

    from PIL import Image

    out = []
    picture = Image.new("RGB", (64, 48), (200, 40, 40))
    for fmt, name in (("PNG", "icon.png"), ("JPEG", "photo.jpg"), ("GIF", "anim.gif")):
        buf = io.BytesIO()
        picture.save(buf, fmt)
        out.append((name, buf.getvalue()))
    out.append(("old.gif", b"GIF87a" + struct.pack("<HH", 1, 1) + b"\x80\x00\x00"
                + bytes(6) + b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"))
    # A gettext catalog: magic, revision 0, one message (offsets of its tables).
    for order in ("<", ">"):
        mo = struct.pack(order + "IIIIIII", 0x950412DE, 0, 1, 28, 36, 0, 0)
        mo += struct.pack(order + "II", 5, 44) + struct.pack(order + "II", 6, 50)
        out.append((f"fr{order}.mo", mo + b"hello\0bonjour\0"))
    # Time zone data, version 2, no transitions (a header and one type).
    tz = b"TZif2" + bytes(15) + struct.pack(">6I", 0, 0, 0, 0, 1, 4)
    out.append(("UTC", tz + struct.pack(">iBB", 0, 0, 0) + b"UTC\0"))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("notes.txt", "hello")
    out.append(("notes.zip", buf.getvalue()))
    return out


@pytest.mark.parametrize(("name", "data"), _signed_heads())
def test_known_signatures_get_libmagic_s_kind_without_it(
    monkeypatch: pytest.MonkeyPatch, name: str, data: bytes
) -> None:
    head = data[:8192]
    assert classify._signature(head) is not None  # (told by its signature)
    by_libmagic = classify._by_libmagic(head, None)
    monkeypatch.setattr(classify, "_libmagic", _no_libmagic)
    assert classify_bytes(head, name) is by_libmagic


def test_a_text_that_starts_like_a_signature_stays_text() -> None:
    for start in ("GIF89a", "TZif", "PK"):
        assert classify_bytes(f"{start} is how that format begins\n".encode(), "notes.txt") \
            is Kind.TEXT
