"""Builds the document and archive test inputs with each format's own library.

Every builder writes into a given folder and returns the path. Codes are made
up from a seeded Random, so a rerun gives the same files. Used by the tests
(into tmp_path) and by scripts/fixtures_docs.py (the demo share).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import random
import struct
import tarfile
import zlib
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from gen_archives import tar_bytes, zip_bytes

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")

# -- made-up codes ------------------------------------------------------------------------


def google_codes(rng: random.Random) -> list[str]:
    return [f"{rng.randrange(10**4):04d} {rng.randrange(10**4):04d}" for _ in range(10)]


def github_codes(rng: random.Random) -> list[str]:
    def five() -> str:
        while True:
            s = "".join(rng.choice("0123456789abcdef") for _ in range(5))
            if any(c.isdigit() for c in s):
                return s

    return [f"{five()}-{five()}" for _ in range(16)]


def order_numbers(rng: random.Random, n: int = 12) -> list[str]:
    return [f"{rng.randrange(1000, 10**4)} {rng.randrange(10**4):04d}" for _ in range(n)]


def google_sheet(codes: list[str], email: str = "jane.doe@example.com") -> str:
    """The layout of Google's Backup-codes-<user>.txt download."""
    rows = [f"{i + 1}. {codes[i]}        {i + 6}. {codes[i + 5]}" for i in range(5)]
    return (
        "SAVE YOUR BACKUP CODES\n"
        "Keep these backup codes somewhere safe but accessible.\n\n"
        + "\n".join(rows)
        + f"\n\n({email})\n* You can only use each backup code once.\n"
        "* Need more? Visit g.co/2sv\n"
    )


# -- Word, Excel, PowerPoint --------------------------------------------------------------


def docx_codes(folder: Path, codes: list[str], image: bytes | None = None) -> Path:
    """A handover note: header, Google codes in a 5x2 table, footer, a comment."""
    import docx

    doc = docx.Document()
    section = doc.sections[0]
    section.header.paragraphs[0].text = "Acme Ltd - IT handover (confidential)"
    section.footer.paragraphs[0].text = "Prepared by the service desk"
    doc.add_heading("Handover notes", level=1)
    intro = doc.add_paragraph("Mailbox: jane.doe@example.com, Google account.")
    doc.add_comment(intro.runs, text="Ask Jane before she leaves", author="IT")
    doc.add_paragraph("Google 2-Step Verification backup codes (use each code once):")
    table = doc.add_table(rows=5, cols=2)
    for i in range(5):
        table.cell(i, 0).text = f"{i + 1}. {codes[i]}"
        table.cell(i, 1).text = f"{i + 6}. {codes[i + 5]}"
    doc.add_paragraph("Printer: 3rd floor, queue HR-Colour.")
    if image is not None:
        doc.add_picture(io.BytesIO(image))
    path = folder / "handover.docx"
    doc.save(str(path))
    return path


def docx_image(folder: Path, image: bytes) -> Path:
    """A document whose only content is a pasted screenshot."""
    import docx

    doc = docx.Document()
    doc.add_picture(io.BytesIO(image))
    path = folder / "screenshot-notes.docx"
    doc.save(str(path))
    return path


def docx_orders(folder: Path, rng: random.Random) -> Path:
    """Hard negative: an order table whose numbers have the Google code shape."""
    import docx

    doc = docx.Document()
    doc.add_heading("Open orders - March", level=1)
    doc.add_paragraph("Order numbers awaiting dispatch, see the invoice for totals.")
    table = doc.add_table(rows=1, cols=3)
    for cell, title in zip(table.rows[0].cells, ("Order number", "Customer", "Amount"),
                           strict=True):
        cell.text = title
    for number in order_numbers(rng):
        row = table.add_row().cells
        row[0].text = number
        row[1].text = rng.choice(["Miller GmbH", "Okafor Ltd", "Tanaka KK", "Silva SA"])
        row[2].text = f"{rng.randrange(20, 900)}.{rng.randrange(100):02d} EUR"
    path = folder / "open-orders.docx"
    doc.save(str(path))
    return path


def xlsx_codes(folder: Path, codes: list[str]) -> Path:
    """passwords.xlsx: an account list, and a sheet with codes in column B."""
    import openpyxl
    from openpyxl.comments import Comment

    book = openpyxl.Workbook()
    accounts = book.active
    assert accounts is not None
    accounts.title = "Accounts"
    accounts.append(["Service", "User", "Note"])
    accounts.append(["Google", "jane.doe@example.com", "2-Step Verification on"])
    accounts.append(["Printer", "admin", "see sticker"])
    sheet = book.create_sheet("2FA backup")
    sheet["A1"] = "Google backup codes (jane.doe@example.com)"
    for i, code in enumerate(codes):
        sheet.cell(row=i + 3, column=1, value=i + 1)
        sheet.cell(row=i + 3, column=2, value=code)
    sheet["B3"].comment = Comment("use each code once", "IT")
    path = folder / "passwords.xlsx"
    book.save(str(path))
    return path


def xlsx_orders(folder: Path, rng: random.Random) -> Path:
    """Hard negative: 8-digit order numbers stored as numbers, with dates and totals."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Orders"
    sheet.append(["Order number", "Date", "Customer", "Total"])
    for i in range(20):
        sheet.append([rng.randrange(10**7, 10**8), f"2024-03-{i + 1:02d}",
                      rng.choice(["Miller", "Okafor", "Tanaka"]), rng.randrange(20, 900)])
    path = folder / "orders-2024.xlsx"
    book.save(str(path))
    return path


def pptx_codes(folder: Path, codes: list[str], image: bytes | None = None) -> Path:
    """Three slides; the GitHub recovery codes are in the speaker notes of slide 3."""
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    layout = deck.slide_layouts[1]
    for title, body in (("New starter onboarding", "Welcome to the platform team"),
                        ("Laptop setup", "Install the VPN client and join Wi-Fi"),
                        ("Shared accounts", "The ops GitHub account uses two-factor")):
        slide = deck.slides.add_slide(layout)
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
    notes = deck.slides[2].notes_slide.notes_text_frame
    notes.text = "GitHub recovery codes for the ops account:\n" + "\n".join(codes)
    if image is not None:
        deck.slides[1].shapes.add_picture(io.BytesIO(image), Inches(1), Inches(3))
    path = folder / "onboarding.pptx"
    deck.save(str(path))
    return path


def pptx_timetable(folder: Path) -> Path:
    """Hard negative: a shuttle timetable table (4+4 digit pairs) and a product key."""
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = "Shuttle bus timetable (departure / arrival)"
    rows = [("0715 0740", "Platform 2"), ("0815 0840", "Platform 2"), ("0915 0940", "Platform 3"),
            ("1015 1040", "Platform 3"), ("1215 1240", "Platform 1"), ("1415 1440", "Platform 1"),
            ("1615 1640", "Platform 2"), ("1715 1740", "Platform 2")]
    shape = slide.shapes.add_table(len(rows), 2, Inches(1), Inches(2), Inches(6), Inches(4))
    for r, (times, platform) in enumerate(rows):
        shape.table.cell(r, 0).text = times
        shape.table.cell(r, 1).text = platform
    second = deck.slides.add_slide(deck.slide_layouts[1])
    second.shapes.title.text = "Licences"
    second.placeholders[1].text = "Windows 11 Pro product key: N4QP2-7XKVC-T8JWM-3RBYD-6GHF9"
    path = folder / "shuttle-timetable.pptx"
    deck.save(str(path))
    return path


def encrypt_office(plain: Path, password: str, name: str) -> Path:
    """Password-protect an OOXML file as Office does (ECMA-376 agile encryption in OLE)."""
    from msoffcrypto.format.ooxml import OOXMLFile

    path = plain.parent / name
    with open(plain, "rb") as src, open(path, "wb") as dst:
        OOXMLFile(src).encrypt(password, dst)
    return path


# -- OpenDocument -------------------------------------------------------------------------


def odt_codes(folder: Path, codes: list[str]) -> Path:
    """Codes numbered "1.  4821 7730": odfpy writes the double space as <text:s/>."""
    from odf import teletype
    from odf.opendocument import OpenDocumentText
    from odf.style import Footer, Header, MasterPage, PageLayout
    from odf.text import H, P

    doc = OpenDocumentText()
    layout = PageLayout(name="pm1")
    doc.automaticstyles.addElement(layout)
    master = MasterPage(name="Standard", pagelayoutname=layout)
    header = Header()
    header.addElement(P(text="Acme Ltd - personal notes"))
    master.addElement(header)
    footer = Footer()
    footer.addElement(P(text="Do not forward"))
    master.addElement(footer)
    doc.masterstyles.addElement(master)
    doc.text.addElement(H(outlinelevel=1, text="Google account"))
    doc.text.addElement(P(text="Backup codes for 2-Step Verification:"))
    for i, code in enumerate(codes, 1):
        para = P()
        teletype.addTextToElement(para, f"{i}.  {code}")
        doc.text.addElement(para)
    path = folder / "notes.odt"
    doc.save(str(path))
    return path


def ods_sheet(folder: Path, name: str, sheet_name: str, rows: list[list[str]]) -> Path:
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    doc = OpenDocumentSpreadsheet()
    table = Table(name=sheet_name)
    for values in rows:
        row = TableRow()
        for value in values:
            cell = TableCell(valuetype="string")
            if value:
                cell.addElement(P(text=value))
            row.addElement(cell)
        table.addElement(row)
    doc.spreadsheet.addElement(table)
    path = folder / name
    doc.save(str(path))
    return path


def ods_codes(folder: Path, codes: list[str]) -> Path:
    rows = [["Google backup codes", ""], ["", ""]]
    rows += [[str(i), code] for i, code in enumerate(codes, 1)]
    return ods_sheet(folder, "backup.ods", "Backup codes", rows)


def ods_orders(folder: Path, rng: random.Random) -> Path:
    rows = [["Order number", "Customer", "Invoice"]]
    rows += [[n, "Miller GmbH", f"INV-{i:04d}"] for i, n in enumerate(order_numbers(rng), 1)]
    return ods_sheet(folder, "order-list.ods", "Orders", rows)


def odp_codes(folder: Path, codes: list[str]) -> Path:
    """Two pages; the codes are in the notes of page 2."""
    from odf.draw import Frame, Page, TextBox
    from odf.opendocument import OpenDocumentPresentation
    from odf.presentation import Notes
    from odf.style import MasterPage, PageLayout
    from odf.text import P

    doc = OpenDocumentPresentation()
    layout = PageLayout(name="pl1")
    doc.automaticstyles.addElement(layout)
    master = MasterPage(name="Default", pagelayoutname=layout)
    doc.masterstyles.addElement(master)
    for number, title in enumerate(("Quarterly review", "Accounts"), 1):
        page = Page(masterpagename=master, name=f"page{number}")
        frame = Frame(width="20cm", height="3cm", x="1cm", y="1cm")
        box = TextBox()
        box.addElement(P(text=title))
        frame.addElement(box)
        page.addElement(frame)
        if number == 2:
            notes = Notes()
            nframe = Frame(width="16cm", height="10cm", x="2cm", y="14cm")
            nbox = TextBox()
            nbox.addElement(P(text="Google backup codes (2-Step Verification):"))
            for code in codes:
                nbox.addElement(P(text=code))
            nframe.addElement(nbox)
            notes.addElement(nframe)
            page.addElement(notes)
        doc.presentation.addElement(page)
    path = folder / "review.odp"
    doc.save(str(path))
    return path


# -- RTF ------------------------------------------------------------------------------------


def rtf_codes(folder: Path, codes: list[str], image: bytes | None = None,
              name: str = "codes.rtf") -> Path:
    r"""WordPad style; the space inside each code is a non-breaking space (\~).

    With `image`, the PNG is embedded the way Word does it: {\*\shppict{\pict\pngblip hex}}.
    """
    lines = [r"{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0 Calibri;}}\f0\fs22",
             r"\b Google backup codes\b0\par",
             r"Keep these backup codes somewhere safe.\par"]
    lines += [rf"{i}. {code.replace(' ', chr(92) + '~')}\par" for i, code in enumerate(codes, 1)]
    if image is not None:
        hexdata = image.hex()
        wrapped = "\n".join(hexdata[i : i + 128] for i in range(0, len(hexdata), 128))
        lines.append(r"{\*\shppict{\pict{\*\picprop}\picw900\pich400\pngblip" + "\n"
                     + wrapped + "}}")
    lines.append(r"Stra\'dfe 5, M\'fcnchen\par}")
    path = folder / name
    path.write_text("\n".join(lines), encoding="ascii")
    return path


# -- PDF ------------------------------------------------------------------------------------


def pdf_text(folder: Path, pages: list[list[str]], name: str, password: str | None = None) -> Path:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    path = folder / name
    pdf = canvas.Canvas(str(path), pagesize=A4, encrypt=password)
    for lines in pages:
        y = 800
        for line in lines:
            pdf.drawString(60, y, line)
            y -= 18
        pdf.showPage()
    pdf.save()
    return path


def pdf_with_attachment(folder: Path, name: str, data: bytes) -> Path:
    """A one-page PDF carrying a file attachment (added with pdfium itself)."""
    import pypdfium2 as pdfium

    plain = pdf_text(folder, [["See the attached file."]], "cover.pdf")
    pdf = pdfium.PdfDocument(str(plain))
    pdf.new_attachment(name).set_data(data)
    path = folder / "with-attachment.pdf"
    pdf.save(str(path))
    pdf.close()
    plain.unlink()
    return path


def pdf_codes(folder: Path, codes: list[str]) -> Path:
    """Page 1 an agenda, page 2 Google's print layout: two codes per row."""
    intro = ["Team offsite - agenda", "09:30 arrival", "10:00 roadmap"]
    sheet = google_sheet(codes).splitlines()
    return pdf_text(folder, [intro, sheet], "printout.pdf")


def pdf_invoice(folder: Path, rng: random.Random) -> Path:
    lines = ["INVOICE", "Invoice number 2024 0318", "Order numbers:"]
    lines += [f"Order {n}   1 x toner   49.00 EUR" for n in order_numbers(rng, 10)]
    lines += ["Total 490.00 EUR", "Tracking number 4411 2210"]
    return pdf_text(folder, [lines], "invoice-0318.pdf")


def code_image(lines: list[str], scale: int = 1) -> bytes:
    """A printed-and-scanned look: black text on white, PNG."""
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont
    if FONT.exists():
        font = ImageFont.truetype(str(FONT), 22 * scale)
    else:
        font = ImageFont.load_default(size=22 * scale)
    width, height = 900 * scale, (60 + 34 * len(lines)) * scale
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((40 * scale, (30 + 34 * i) * scale), line, fill=0, font=font)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def pdf_scanned(folder: Path, codes: list[str], stamp: str | None = None,
                name: str = "scan-0042.pdf") -> Path:
    """A scan: one page holding only an image of the code sheet, no text layer
    (or only a scanner app's `stamp` line)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    png = code_image(google_sheet(codes).splitlines())
    path = folder / name
    pdf = canvas.Canvas(str(path), pagesize=A4)
    pdf.drawImage(ImageReader(io.BytesIO(png)), 20, 60, width=555, height=720)
    if stamp:
        pdf.drawString(60, 30, stamp)
    pdf.showPage()
    pdf.save()
    return path


def pdf_enrolment(folder: Path, uri: str, pages: int = 1) -> Path:
    """A printed "set up your authenticator" page: instructions and the QR code (per page)."""
    import qrcode
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    qrcode.make(uri).save(buf)
    path = folder / "authenticator-setup.pdf"
    pdf = canvas.Canvas(str(path))
    for _ in range(pages):
        pdf.drawString(60, 780, "Scan this QR code with your authenticator app.")
        pdf.drawImage(ImageReader(io.BytesIO(buf.getvalue())), 60, 450, width=250, height=250)
        pdf.showPage()
    pdf.save()
    return path


# -- archives ---------------------------------------------------------------------------------


def github_file(codes: list[str]) -> bytes:
    return "".join(code + "\r\n" for code in codes).encode()


def export_zip(folder: Path, codes: list[str], rng: random.Random) -> Path:
    """export.zip / inner.tar / github-recovery-codes.txt, beside a hard negative."""
    orders = "order_number,customer\n" + "".join(f"{n},Miller\n" for n in order_numbers(rng))
    inner = tar_bytes({"github-recovery-codes.txt": github_file(codes),
                       "readme.md": b"# Laptop export\nFiles copied off the old laptop.\n"})
    path = folder / "export.zip"
    path.write_bytes(zip_bytes({"inner.tar": inner, "orders.csv": orders.encode()}))
    return path


def compressed_tar(folder: Path, name: str, members: dict[str, bytes]) -> Path:
    raw = tar_bytes(members)
    path = folder / name
    if name.endswith((".tar.gz", ".tgz")):
        path.write_bytes(gzip.compress(raw, mtime=0))
    elif name.endswith(".tar.bz2"):
        path.write_bytes(bz2.compress(raw))
    else:
        path.write_bytes(lzma.compress(raw))
    return path


def single_compressed(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(data, mtime=0))
    elif name.endswith(".bz2"):
        path.write_bytes(bz2.compress(data))
    else:
        path.write_bytes(lzma.compress(data))
    return path


def sevenzip(folder: Path, name: str, members: dict[str, bytes],
             password: str | None = None) -> Path:
    import py7zr

    path = folder / name
    with py7zr.SevenZipFile(path, "w", password=password) as archive:
        if password:
            archive.set_encrypted_header(False)
        for member, data in members.items():
            archive.writestr(data, member)
    return path


def encrypted_zip(folder: Path, members: dict[str, bytes], password: bytes) -> Path:
    """A real ZipCrypto (PKWARE traditional) archive: `unzip -P` opens it."""
    out = io.BytesIO()
    central = []
    for name, data in members.items():
        crc = zlib.crc32(data)
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        packed = comp.compress(data) + comp.flush()
        cipher = _ZipCrypto(password)
        header = bytes(11) + bytes([(crc >> 24) & 0xFF])  # 12-byte header, last byte checks
        body = cipher.encrypt(header + packed)
        fname = name.encode()
        offset = out.tell()
        fields = (20, 0x1, 8, 0, 0x21, crc, len(body), len(data), len(fname), 0)
        out.write(b"PK\x03\x04" + struct.pack("<HHHHHIIIHH", *fields) + fname + body)
        central.append(b"PK\x01\x02" + struct.pack("<HHHHHHIIIHHHHHII", 20, 20, 0x1, 8, 0,
                       0x21, crc, len(body), len(data), len(fname), 0, 0, 0, 0, 0o100644 << 16,
                       offset) + fname)
    start = out.tell()
    directory = b"".join(central)
    out.write(directory)
    out.write(b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, len(central), len(central),
                                          len(directory), start, 0))
    path = folder / "secret.zip"
    path.write_bytes(out.getvalue())
    return path


class _ZipCrypto:
    def __init__(self, password: bytes) -> None:
        self.keys = [0x12345678, 0x23456789, 0x34567890]
        for byte in password:
            self._update(byte)

    def _update(self, byte: int) -> None:
        k0, k1, k2 = self.keys
        k0 = zlib.crc32(bytes([byte]), k0 ^ 0xFFFFFFFF) ^ 0xFFFFFFFF
        k1 = ((k1 + (k0 & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        k2 = zlib.crc32(bytes([k1 >> 24]), k2 ^ 0xFFFFFFFF) ^ 0xFFFFFFFF
        self.keys = [k0, k1, k2]

    def encrypt(self, data: bytes) -> bytes:
        out = bytearray()
        for byte in data:
            temp = (self.keys[2] | 2) & 0xFFFF
            out.append(byte ^ (((temp * (temp ^ 1)) >> 8) & 0xFF))
            self._update(byte)
        return bytes(out)


def deflated_zeros(mib: int, prefix: bytes = b"") -> tuple[list[bytes], int, int]:
    """Raw deflate of `prefix` then `mib` MiB of zeros, built from one compressed MiB.

    A full flush ends each block on a byte boundary with a fresh dictionary, so
    the compressed MiB can be repeated: a real stream, made in a fraction of the
    time it takes to compress a gigabyte. Returns (pieces, crc32, size).
    """
    zero = bytes(1 << 20)
    head = zlib.compressobj(9, zlib.DEFLATED, -15)
    pieces = [head.compress(prefix) + head.flush(zlib.Z_FULL_FLUSH)] if prefix else []
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = comp.compress(zero) + comp.flush(zlib.Z_FULL_FLUSH)
    pieces += [block] * mib
    pieces.append(zlib.compressobj(9, zlib.DEFLATED, -15).flush())  # empty final block
    crc = zlib.crc32(prefix)
    for _ in range(mib):
        crc = zlib.crc32(zero, crc)
    return pieces, crc, len(prefix) + (mib << 20)


def zip_bomb(folder: Path, mib: int = 1024) -> Path:
    """`mib` MiB of zeros deflated into one member (about 1 MB per GiB), plus a note."""
    pieces, crc, size = deflated_zeros(mib)
    packed = sum(len(p) for p in pieces)
    note = b"nothing to see\n"
    out = io.BytesIO()
    central = []
    for name, method, body, crc32, usize in (
        (b"zeros.bin", 8, pieces, crc, size),
        (b"note.txt", 0, [note], zlib.crc32(note), len(note)),
    ):
        offset = out.tell()
        csize = sum(len(p) for p in body)
        out.write(b"PK\x03\x04" + struct.pack("<HHHHHIIIHH", 20, 0, method, 0, 0x21, crc32,
                                               csize, usize, len(name), 0) + name)
        for piece in body:
            out.write(piece)
        central.append(b"PK\x01\x02" + struct.pack("<HHHHHHIIIHHHHHII", 20, 20, 0, method, 0,
                       0x21, crc32, csize, usize, len(name), 0, 0, 0, 0, 0o100644 << 16,
                       offset) + name)
    start = out.tell()
    directory = b"".join(central)
    out.write(directory + b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 2, 2, len(directory),
                                                       start, 0))
    assert packed < size
    path = folder / "bomb.zip"
    path.write_bytes(out.getvalue())
    return path


def gzip_bomb(folder: Path, gib: int = 1) -> Path:
    """A .tar.gz whose single member is `gib` GiB of zeros."""
    info = tarfile.TarInfo("zeros.bin")
    info.size = (1 << 30) * gib
    info.mtime = 1_700_000_000
    # The member's zeros, then one more MiB of zeros: the tar's end-of-archive blocks.
    pieces, crc, size = deflated_zeros(1024 * gib + 1, info.tobuf(format=tarfile.USTAR_FORMAT))
    path = folder / "bomb.tar.gz"
    with open(path, "wb") as fh:
        fh.write(b"\x1f\x8b\x08\x00" + bytes(4) + b"\x02\xff")
        for piece in pieces:
            fh.write(piece)
        fh.write(struct.pack("<II", crc, size & 0xFFFFFFFF))
    return path


def nested_zip(folder: Path, depth: int, innermost: dict[str, bytes]) -> Path:
    """level1.zip holding level2.zip ... holding the innermost members."""
    data = zip_bytes(innermost)
    for level in range(depth, 1, -1):
        data = zip_bytes({f"level{level}.zip": data})
    path = folder / "level1.zip"
    path.write_bytes(data)
    return path
