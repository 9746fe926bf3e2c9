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
