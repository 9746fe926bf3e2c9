"""Plain text in any common encoding, including streamed big files."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfaleaks.extract import text as text_mod
from mfaleaks.models import Origin, Source
from mfaleaks.sources.decode import StreamDecoder, decode_bytes, decode_with, sniff_encoding

SAMPLE = "Backup-Codes für jdoe – «sécurité» 5305 2471\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be",
                                      "cp1252", "latin-1", "utf-32"])
def test_decodes_common_encodings(encoding: str) -> None:
    data = SAMPLE.replace("–", "-").encode(encoding) if encoding == "latin-1" else \
        SAMPLE.encode(encoding)
    expected = SAMPLE.replace("–", "-") if encoding == "latin-1" else SAMPLE
    assert decode_bytes(data) == expected


def test_declared_charset_wins_and_bad_label_falls_back() -> None:
    assert decode_bytes("été".encode("cp1252"), declared="cp1252") == "été"
    assert decode_bytes("été".encode(), declared="x-unknown-charset") == "été"


def test_sniffs_bom_less_utf16() -> None:
    assert sniff_encoding(("hello world " * 20).encode("utf-16-le"))[0] == "utf-16-le"
    assert sniff_encoding(("hello world " * 20).encode("utf-16-be"))[0] == "utf-16-be"


@given(st.binary(max_size=2000))
@settings(max_examples=300)
def test_any_bytes_decode_without_error(data: bytes) -> None:
    assert isinstance(decode_bytes(data), str)
    dec = StreamDecoder(data[:100])
    assert isinstance(dec.decode(data[:50]) + dec.decode(data[50:], final=True), str)


@given(st.one_of(st.binary(max_size=5000), st.text(max_size=3000).map(str.encode),
                 st.text(max_size=300).map(lambda t: t.encode("utf-16-le"))))
@settings(max_examples=300)
def test_decoding_is_what_sniffing_says(data: bytes) -> None:
    """decode_bytes skips the sniffing where it would pick UTF-8: the text is the same."""
    encoding, bom = sniff_encoding(data[:8192])
    assert decode_bytes(data) == decode_with(data[bom:], encoding)
    utf8_bom = codecs.BOM_UTF8 + data
    encoding, bom = sniff_encoding(utf8_bom[:8192])
    assert decode_bytes(utf8_bom) == decode_with(utf8_bom[bom:], encoding)


@given(st.text(max_size=3000), st.integers(min_value=1, max_value=64))
@settings(max_examples=200)
def test_stream_decoder_round_trips_utf8(text: str, step: int) -> None:
    data = text.encode()
    dec = StreamDecoder(data[:8192])
    out = "".join(dec.decode(data[i:i + step]) for i in range(0, len(data), step))
    assert out + dec.decode(b"", final=True) == text


def test_text_chunks_keep_line_numbers_across_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(text_mod, "BLOCK", 1024)
    monkeypatch.setattr(text_mod, "_TAIL", 256)
    path = tmp_path / "big.txt"
    lines = [f"line {i} {'x' * (i % 50)}" for i in range(2000)]
    path.write_text("\n".join(lines) + "\n")
    source = Source(origin=Origin(str(path)), name="big.txt", fs_path=str(path))
    chunks = list(text_mod.text_chunks(source, "text"))
    assert len(chunks) > 10
    assert "".join(c.text for c in chunks) == path.read_text()
    for chunk in chunks:
        first = chunk.text.split("\n", 1)[0]
        assert first == lines[chunk.line - 1] or chunk.line == 1


def test_text_without_newlines_is_cut_in_bounded_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(text_mod, "BLOCK", 4096)
    path = tmp_path / "one-line.txt"
    path.write_text("a" * 50_000)
    source = Source(origin=Origin(str(path)), name="one-line.txt", fs_path=str(path))
    chunks = list(text_mod.text_chunks(source, "text"))
    assert max(len(c.text) for c in chunks) <= 4096
    assert sum(len(c.text) for c in chunks) == 50_000
