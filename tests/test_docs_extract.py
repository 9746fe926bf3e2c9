"""Document extractors on files written by each format's own library (tests/gen_docs.py).

These call the registered extractor for the classified kind and inspect what
comes out: text with its layout, anchors (page, sheet!cell, slide), child
sources (embedded images, attachments) and skips.
"""

from __future__ import annotations

import io
import random
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image

import gen_docs as gen
from mfaleaks.extract import EXTRACTORS
from mfaleaks.extract.base import Budget, Context, Limits
from mfaleaks.models import Origin, Skip, Source, TextChunk
from mfaleaks.sources.classify import Kind, classify


@dataclass
class Out:
    kind: Kind
    chunks: list[TextChunk] = field(default_factory=list)
    children: list[Source] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(c.text for c in self.chunks)

    def label(self, needle: str) -> str | None:
        """The anchor label in force where `needle` starts (the scorer's rule)."""
        for chunk in self.chunks:
            at = chunk.text.find(needle)
            if at >= 0:
                found = [label for offset, label in chunk.anchors if offset <= at]
                return found[-1] if found else None
        raise AssertionError(f"{needle!r} not in the extracted text")


def source_of(path: Path) -> Source:
    return Source(Origin(str(path)), path.name, fs_path=str(path), size=path.stat().st_size)


def extract(path: Path | Source, limits: Limits | None = None) -> Out:
    source = path if isinstance(path, Source) else source_of(path)
    kind = classify(source)
    out = Out(kind)
    for item in EXTRACTORS[kind](source, Context(limits or Limits(), Budget())):
        if isinstance(item, TextChunk):
            out.chunks.append(item)
        elif isinstance(item, Source):
            out.children.append(item)
        else:
            out.skips.append(item)
    return out


@pytest.fixture
def rng() -> random.Random:
    return random.Random(20240311)


@pytest.fixture
def codes(rng: random.Random) -> list[str]:
    return gen.google_codes(rng)


# -- Word ------------------------------------------------------------------------------------


def test_docx_reads_header_table_rows_footer_and_comments(tmp_path: Path,
                                                           codes: list[str]) -> None:
    out = extract(gen.docx_codes(tmp_path, codes))
    assert out.kind is Kind.OOXML and not out.skips
    text = out.text
    # Table rows are lines, cells separated by tabs: the two columns of Google's layout.
    assert f"1. {codes[0]}\t6. {codes[5]}\n" in text
    assert f"5. {codes[4]}\t10. {codes[9]}\n" in text
    assert out.label(codes[0]) == "body"
    assert out.label("IT handover") == "header"
    assert out.label("Prepared by the service desk") == "footer"
    assert out.label("Ask Jane before she leaves") == "comments"
    assert out.chunks[0].source == "docx" and out.chunks[0].whole


def test_docx_embedded_image_goes_back_as_child(tmp_path: Path, codes: list[str]) -> None:
    png = gen.code_image(["Backup codes", *codes[:3]])
    out = extract(gen.docx_image(tmp_path, png))
    assert [c.origin.chain for c in out.children] == [("word/media/image1.png",)]
    assert out.children[0].data == png
    assert out.children[0].depth == 1


def test_docx_order_table_keeps_its_columns(tmp_path: Path, rng: random.Random) -> None:
    out = extract(gen.docx_orders(tmp_path, rng))
    lines = out.text.splitlines()
    assert "Order number\tCustomer\tAmount" in lines
    assert sum(1 for line in lines if line.count("\t") == 2) == 13


def test_broken_part_costs_only_that_part(tmp_path: Path, codes: list[str]) -> None:
    good = gen.docx_codes(tmp_path, codes)
    bad = tmp_path / "broken.docx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "word/comments.xml":
                data = data[: len(data) // 2]  # truncated XML
            dst.writestr(info, data)
    out = extract(bad)
    assert codes[3] in out.text
    assert len(out.skips) == 1 and "word/comments.xml" in out.skips[0].reason


def test_part_with_a_dtd_is_refused(tmp_path: Path, codes: list[str]) -> None:
    """Entity expansion (billion laughs) needs a DTD; office parts never have one."""
    good = gen.docx_codes(tmp_path, codes)
    bomb = tmp_path / "laughs.docx"
    entities = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    evil = (f'<?xml version="1.0"?><!DOCTYPE w [<!ENTITY l0 "ha">{entities}]>'
            '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
            "<w:body><w:p><w:r><w:t>&l9;</w:t></w:r></w:p></w:body></w:document>").encode()
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bomb, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, evil if info.filename == "word/document.xml" else src.read(info))
    out = extract(bomb)
    assert any("DTD" in s.reason for s in out.skips)
    assert "haha" not in out.text
    assert "IT handover" in out.text  # the other parts are still read


# -- Excel -----------------------------------------------------------------------------------


def test_xlsx_rows_are_lines_and_cells_are_anchored(tmp_path: Path, codes: list[str]) -> None:
    out = extract(gen.xlsx_codes(tmp_path, codes))
    text = out.text
    assert out.kind is Kind.OOXML and not out.skips
    assert "Google\tjane.doe@example.com\t2-Step Verification on\n" in text
    # Column B of the second sheet reads as a cluster of lines, one code each.
    block = "".join(f"{i}\t{code}\n" for i, code in enumerate(codes, 1))
    assert block in text
    assert out.label(codes[0]) == "'2FA backup'!B3"
    assert out.label(codes[9]) == "'2FA backup'!B12"
    assert out.label("Google\tjane") == "Accounts!A2"
    assert "2FA backup\n" in text  # a meaningful sheet name is context
    assert out.label("use each code once") == "'2FA backup'!B3 comment"


def test_xlsx_numbers_read_as_digits(tmp_path: Path, rng: random.Random) -> None:
    out = extract(gen.xlsx_orders(tmp_path, rng))
    lines = out.text.splitlines()
    assert lines[:2] == ["Orders", "Order number\tDate\tCustomer\tTotal"]
    rows = lines[2:22]
    assert all(row.split("\t")[0].isdigit() and len(row.split("\t")[0]) == 8 for row in rows)
    assert out.label(rows[4].split("\t")[0]) == "Orders!A6"


def test_default_sheet_names_are_not_text(tmp_path: Path, codes: list[str]) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None and sheet.title == "Sheet"
    for code in codes:
        sheet.append([code])
    book.save(tmp_path / "plain.xlsx")
    out = extract(tmp_path / "plain.xlsx")
    assert out.text == "".join(f"{code}\n" for code in codes) + "\n"
    assert out.label(codes[1]) == "Sheet!A2"


def test_password_protected_office_file_is_skipped(tmp_path: Path, codes: list[str]) -> None:
    locked = gen.encrypt_office(gen.xlsx_codes(tmp_path, codes), "hunter2", "locked.xlsx")
    out = extract(locked)
    assert out.kind is Kind.OLE
    assert [s.reason for s in out.skips] == ["encrypted Office document: no password"]


# -- PowerPoint ------------------------------------------------------------------------------


def test_pptx_slides_notes_and_images(tmp_path: Path, rng: random.Random) -> None:
    github = gen.github_codes(rng)
    png = gen.code_image(["Backup codes"])
    out = extract(gen.pptx_codes(tmp_path, github, png))
    assert out.label("Laptop setup") == "slide 2"
    assert out.label("Shared accounts") == "slide 3"
    assert out.label(github[0]) == "slide 3 notes"
    assert "\n".join(github) in out.text
    [image] = out.children
    assert image.origin.chain == ("ppt/media/image1.png",)
    assert image.origin.meta == {"slide": "2"}


def test_pptx_table_rows(tmp_path: Path) -> None:
    out = extract(gen.pptx_timetable(tmp_path))
    assert "0715 0740\tPlatform 2\n0815 0840\tPlatform 2\n" in out.text
    assert out.label("product key") == "slide 2"


# -- OpenDocument ----------------------------------------------------------------------------


def test_odt_spaces_header_and_footer(tmp_path: Path, codes: list[str]) -> None:
    path = gen.odt_codes(tmp_path, codes)
    with zipfile.ZipFile(path) as zf:
        assert b"<text:s " in zf.read("content.xml")  # the double space is markup
    out = extract(path)
    assert out.kind is Kind.ODF and not out.skips
    assert "".join(f"{i}.  {code}\n" for i, code in enumerate(codes, 1)) in out.text
    assert out.label("personal notes") == "header/footer"
    assert out.label("Do not forward") == "header/footer"
    assert out.label(codes[0]) == "body"
    assert out.chunks[0].source == "odt"


def test_ods_cells(tmp_path: Path, codes: list[str]) -> None:
    out = extract(gen.ods_codes(tmp_path, codes))
    assert "".join(f"{i}\t{code}\n" for i, code in enumerate(codes, 1)) in out.text
    assert out.label(codes[0]) == "'Backup codes'!B3"
    assert out.label(codes[9]) == "'Backup codes'!B12"
    assert out.label("Google backup codes") == "'Backup codes'!A1"


def test_ods_empty_cells_do_not_merge_rows(tmp_path: Path, codes: list[str]) -> None:
    rows = [["Backup codes", "", ""], ["", codes[0], ""], ["", "", codes[1]], ["x", "", "y"]]
    out = extract(gen.ods_sheet(tmp_path, "sparse.ods", "Sheet1", rows))
    assert out.text == f"Backup codes\n{codes[0]}\n{codes[1]}\nx\ty\n"
    assert out.label(codes[0]) == "Sheet1!B2"
    assert out.label(codes[1]) == "Sheet1!C3"
    assert out.label("y") == "Sheet1!C4"


def test_odp_pages_and_notes(tmp_path: Path, codes: list[str]) -> None:
    out = extract(gen.odp_codes(tmp_path, codes))
    assert out.label("Quarterly review") == "slide 1"
    assert out.label("Accounts") == "slide 2"
    assert out.label(codes[0]) == "slide 2 notes"


def test_encrypted_odf_is_skipped(tmp_path: Path, codes: list[str]) -> None:
    plain = gen.odt_codes(tmp_path, codes)
    locked = tmp_path / "locked.odt"
    manifest = (b'<?xml version="1.0"?><manifest:manifest xmlns:manifest='
                b'"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry '
                b'manifest:full-path="content.xml"><manifest:encryption-data/>'
                b"</manifest:file-entry></manifest:manifest>")
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(locked, "w") as dst:
        for info in src.infolist():
            if info.filename == "META-INF/manifest.xml":
                dst.writestr(info, manifest)
            elif info.filename == "content.xml":
                dst.writestr(info, bytes(random.Random(1).randbytes(2000)))  # ciphertext
            else:
                dst.writestr(info, src.read(info))
    out = extract(locked)
    assert [s.reason for s in out.skips] == ["encrypted OpenDocument file: no password"]
    assert not out.chunks


# -- RTF -------------------------------------------------------------------------------------


def test_rtf_nbsp_codepage_and_picture(tmp_path: Path, codes: list[str]) -> None:
    png = gen.code_image(["Backup codes", *codes[:2]])
    out = extract(gen.rtf_codes(tmp_path, codes, image=png))
    assert out.kind is Kind.RTF
    assert "".join(f"{i}. {code}\n" for i, code in enumerate(codes, 1)) in out.text
    assert "\u00a0" not in out.text
    assert "Straße 5, München" in out.text
    assert [c.data for c in out.children] == [png]
    assert "89504e47" not in out.text  # picture hex is not text


# -- PDF -------------------------------------------------------------------------------------


def test_pdf_text_layer_page_by_page(tmp_path: Path, codes: list[str]) -> None:
    out = extract(gen.pdf_codes(tmp_path, codes))
    assert out.kind is Kind.PDF and not out.skips and not out.children
    assert out.label("roadmap") == "page 1"
    assert out.label(codes[0]) == "page 2"
    assert f"1. {codes[0]}" in out.text and "\r" not in out.text
    assert out.chunks[0].source == "pdf" and out.chunks[0].whole


def test_scanned_pdf_yields_its_image_at_native_resolution(tmp_path: Path,
                                                           codes: list[str]) -> None:
    out = extract(gen.pdf_scanned(tmp_path, codes))
    assert not out.chunks
    [image] = out.children
    assert image.origin.chain == ("page 1 image 1",)
    assert image.origin.meta == {"page": "1"}
    assert image.data is not None
    with Image.open(io.BytesIO(image.data)) as img:
        expected = Image.open(io.BytesIO(gen.code_image(gen.google_sheet(codes).splitlines())))
        assert img.size == expected.size  # not a rendering of the page
    assert classify(image) is Kind.IMAGE


def test_scanner_stamp_does_not_hide_the_scan(tmp_path: Path, codes: list[str]) -> None:
    out = extract(gen.pdf_scanned(tmp_path, codes, stamp="Scanned with CamScanner"))
    assert "Scanned with CamScanner" in out.text
    assert [c.origin.chain for c in out.children] == [("page 1 image 1",)]


def test_text_page_with_a_logo_is_not_a_scan(tmp_path: Path) -> None:
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    path = tmp_path / "letter.pdf"
    pdf = canvas.Canvas(str(path))
    pdf.drawImage(ImageReader(io.BytesIO(gen.code_image(["ACME"]))), 40, 760, width=90,
                  height=20)
    pdf.drawString(60, 700, "Dear customer, your order has shipped.")
    pdf.save()
    out = extract(path)
    assert "order has shipped" in out.text and not out.children


def test_qr_image_on_a_text_page_goes_out_once(tmp_path: Path) -> None:
    """A printed enrolment page: text, and a QR code for the image extractor to decode.
    The same QR on two pages goes out once."""
    uri = "otpauth://totp/Example:jdoe?secret=JBSWY3DPEHPK3PXP"
    out = extract(gen.pdf_enrolment(tmp_path, uri, pages=2))
    assert "authenticator app" in out.text
    assert [(c.origin.chain, c.origin.meta) for c in out.children] == [
        (("page 1 image 1",), {"page": "1"})]


def test_pdf_attachments_are_children(tmp_path: Path, rng: random.Random) -> None:
    data = gen.github_file(gen.github_codes(rng))
    out = extract(gen.pdf_with_attachment(tmp_path, "github-recovery-codes.txt", data))
    assert "attached file" in out.text
    assert [(c.origin.chain, c.data) for c in out.children] == [
        (("github-recovery-codes.txt",), data)]


def test_encrypted_pdf_is_skipped(tmp_path: Path) -> None:
    out = extract(gen.pdf_text(tmp_path, [["Backup codes 1234 5678"]], "locked.pdf",
                               password="hunter2"))
    assert [s.reason for s in out.skips] == ["encrypted PDF: no password"]
    assert not out.chunks


def test_pdf_page_limit(tmp_path: Path) -> None:
    path = gen.pdf_text(tmp_path, [[f"page text number {i}"] for i in range(1, 6)], "long.pdf")
    out = extract(path, Limits(max_pages=3))
    assert "page text number 3" in out.text and "number 4" not in out.text
    assert [s.reason for s in out.skips] == ["page limit (max_pages 3): 2 pages not read"]
    assert not extract(path, Limits(parse_timeout=0)).skips  # 0 turns the time limit off


def test_broken_pdf_is_a_skip(tmp_path: Path) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.7\n" + bytes(random.Random(3).randbytes(4000)))
    out = extract(path)
    assert len(out.skips) == 1 and out.skips[0].reason.startswith("PDF could not be opened")
