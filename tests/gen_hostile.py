"""Builds the hostile and broken input suite (issue 8): files that must never
crash, hang or balloon a scan.

Every builder writes under a given folder and returns what it made. `tree()`
makes the quick cases in one folder beside a planted GitHub recovery-codes
file (the canary that proves the rest of the tree is still scanned) and says,
per path, what the report's `errors` must say about it. The large cases
(1 GB without a newline, 10 million lines, a 5,000-page PDF, a 20000x20000
image, bombs) have builders of their own so a test can time and measure each
one alone.

    python tests/gen_hostile.py OUT            # the quick tree
    python tests/gen_hostile.py OUT --big      # and the large cases (about 1.1 GB)
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import random
import socket
import struct
import sys
import tarfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_archives import tar_bytes, zip_bytes
from gen_docs import deflated_zeros, gzip_bomb, nested_zip, zip_bomb

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
MIB = 1 << 20


# -- made-up codes ------------------------------------------------------------------------


def github_codes(rng: random.Random, n: int = 16) -> list[str]:
    def five() -> str:
        while True:
            s = "".join(rng.choice("0123456789abcdef") for _ in range(5))
            if any(c.isdigit() for c in s) and any(c.isalpha() for c in s):
                return s

    return [f"{five()}-{five()}" for _ in range(n)]


def github_file(codes: Sequence[str]) -> bytes:
    """GitHub's github-recovery-codes.txt download: one code per line, CRLF."""
    return "".join(c + "\r\n" for c in codes).encode()


def plant_canary(folder: Path, rng: random.Random) -> list[str]:
    """The file beside the bad inputs that every scan must still find."""
    folder.mkdir(parents=True, exist_ok=True)
    codes = github_codes(rng)
    (folder / "github-recovery-codes.txt").write_bytes(github_file(codes))
    return codes


# -- expectations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One bad input and what the report must say about it.

    `path` is relative to the tree's root, as the file system spells it (names
    that are not UTF-8 carry surrogate escapes); `expect` is a regular
    expression that the reason of an error on that path (or on a member in
    it) must match, None when the input is harmless and needs no error (an
    empty file hides nothing). `follow` is the expectation under
    --follow-symlinks when it differs.
    """

    name: str
    path: str
    expect: str | None
    follow: str | None = None
    codes: tuple[str, ...] = ()  # codes planted in this input that must be found

    @property
    def shown(self) -> str:
        """The path as the report prints it (bytes that are not UTF-8 escaped)."""
        return os.fsencode(self.path).decode("utf-8", "backslashreplace")


@dataclass
class Tree:
    root: Path
    cases: list[Case] = field(default_factory=list)
    canary: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # case -> why it was not made

    def add(self, name: str, rel: str, data: bytes | None, expect: str | None,
            **extra: object) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if data is not None:
            path.write_bytes(data)
        self.cases.append(Case(name, rel, expect, **extra))  # type: ignore[arg-type]
        return path


# -- images ------------------------------------------------------------------------------------


def sample_image(fmt: str, size: tuple[int, int] = (640, 400)) -> bytes:
    """A picture with lines of dark text-like strokes (worth an OCR run when intact)."""
    img = Image.new("L", size, 255)
    draw = ImageDraw.Draw(img)
    for row in range(12):
        draw.text((20, 20 + 30 * row), f"Line {row} of the meeting notes, room 4.{row}", fill=0)
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def zlib_zeros(size: int) -> list[bytes]:
    """A zlib stream of `size` zero bytes, built in pieces without compressing them all."""
    pieces, _, _ = deflated_zeros(size // MIB)
    pieces.pop()  # the empty final block comes after the remainder
    rest = zlib.compressobj(9, zlib.DEFLATED, -15)
    pieces.append(rest.compress(bytes(size % MIB)) + rest.flush())
    adler = ((size % 65521) << 16) | 1  # Adler-32 of zeros: A stays 1, B adds 1 per byte
    return [b"\x78\xda", *pieces, struct.pack(">I", adler)]


def huge_png(side: int = 20_000) -> bytes:
    """A valid side x side RGB PNG of black pixels: about 1.2 MB on disk, 1.2 GB decoded."""
    raw = side * (1 + 3 * side)  # each row: a filter byte, then RGB
    idat = b"".join(zlib_zeros(raw))
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)
            + _png_chunk(b"IEND", b""))


def huge_jpeg_header(width: int = 65_000, height: int = 65_000) -> bytes:
    """A small JPEG whose frame header claims width x height pixels."""
    data = bytearray(sample_image("JPEG", (64, 64)))
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        at = data.find(marker)
        if at >= 0:
            struct.pack_into(">HH", data, at + 5, height, width)
            return bytes(data)
    raise AssertionError("no SOF marker")


# -- PDF, written by hand: reportlab would take minutes for thousands of pages ---------------


def minimal_pdf(pages: int, text: str = "Quarterly report, nothing secret here.",
                *, cyclic: bool = False, deep: int = 0) -> bytes:
    """A valid PDF whose pages share one content stream.

    `cyclic`: the page tree's Kids point back at the root. `deep`: the first
    page carries an array nested that many levels.
    """
    content = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"",  # the page tree, filled in below
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    ]
    first = len(objects) + 1
    extra = b" /Junk " + b"[" * deep + b"]" * deep if deep else b""
    for i in range(pages):
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                       b"/Resources << /Font << /F1 3 0 R >> >> /Contents 4 0 R"
                       + (extra if i == 0 else b"") + b" >>")
    kids = b" ".join(b"%d 0 R" % (first + i) for i in range(pages))
    if cyclic:
        kids += b" 2 0 R"
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages)
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % off for off in offsets))
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
              % (len(objects) + 1, xref))
    return out.getvalue()


# -- archives and documents ------------------------------------------------------------------


zip_of = zip_bytes


def tar_of(members: dict[str, bytes]) -> bytes:
    return tar_bytes(members, tarfile.GNU_FORMAT)  # GNU: member names of any length


def docx_of(document_xml: bytes) -> bytes:
    """The smallest Word package around a given word/document.xml."""
    types = (b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/'
             b'2006/content-types"><Override PartName="/word/document.xml" ContentType="'
             b'application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"'
             b"/></Types>")
    return zip_of({"[Content_Types].xml": types, "word/document.xml": document_xml})


W = b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def docx_text(lines: Sequence[str]) -> bytes:
    body = b"".join(b"<w:p><w:r><w:t>%s</w:t></w:r></w:p>" % line.encode() for line in lines)
    return docx_of(b"<w:document %s><w:body>%s</w:body></w:document>" % (W, body))


def billion_laughs_docx() -> bytes:
    lol = b'<!ENTITY a0 "lol">' + b"".join(
        b'<!ENTITY a%d "%s">' % (i, b"&a%d;" % (i - 1) * 10) for i in range(1, 10))
    xml = (b'<?xml version="1.0"?><!DOCTYPE w:document [' + lol + b"]><w:document " + W
           + b"><w:body><w:p><w:r><w:t>&a9;</w:t></w:r></w:p></w:body></w:document>")
    return docx_of(xml)


def deep_xml_docx(depth: int = 20_000) -> bytes:
    """A paragraph whose run is nested `depth` elements deep (random ids keep it under
    the compression-ratio limit, so the parser really meets the nesting)."""
    rng = random.Random(depth)
    opens = b"".join(b'<w:r w:rsidR="%08X">' % rng.getrandbits(32) for _ in range(depth))
    xml = (b"<w:document " + W + b"><w:body><w:p>" + opens + b"<w:t>x</w:t>"
           + b"</w:r>" * depth + b"</w:p></w:body></w:document>")
    return docx_of(xml)


def overlapping_zip(entries: int = 200, mib: int = 100) -> bytes:
    """A non-recursive zip bomb: many central-directory entries share one deflated member."""
    pieces, crc, size = deflated_zeros(mib)
    body = b"".join(pieces)
    out = io.BytesIO()
    name = b"zeros.bin"
    out.write(b"PK\x03\x04" + struct.pack("<HHHHHIIIHH", 20, 0, 8, 0, 0x21, crc, len(body),
                                           size, len(name), 0) + name + body)
    start = out.tell()
    central = b"".join(
        b"PK\x01\x02" + struct.pack("<HHHHHHIIIHHHHHII", 20, 20, 0, 8, 0, 0x21, crc, len(body),
                                    size, len(b"z%04d.bin" % i), 0, 0, 0, 0, 0o100644 << 16, 0)
        + b"z%04d.bin" % i for i in range(entries))
    out.write(central + b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, entries, entries,
                                                     len(central), start, 0))
    return out.getvalue()


def zip64_count_bomb(entries: int = 4_000_000_000) -> bytes:
    """A tiny zip (one stored member) whose zip64 end record claims `entries` members."""
    data, name = b"hello\n", b"a.txt"
    local = b"PK\x03\x04" + struct.pack("<HHHHHIIIHH", 20, 0, 0, 0, 0x21, zlib.crc32(data),
                                        len(data), len(data), len(name), 0) + name + data
    start = len(local)
    zip64_end = b"PK\x06\x06" + struct.pack("<QHHIIQQQQ", 44, 45, 45, 0, 0, entries, entries,
                                            0, start)
    locator = b"PK\x06\x07" + struct.pack("<IQI", 0, start, 1)
    end = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF,
                                      0xFFFFFFFF, 0)
    return local + zip64_end + locator + end


def nested_gzip(depth: int, data: bytes) -> bytes:
    for _ in range(depth):
        data = gzip.compress(data, mtime=0)
    return data


def cut(data: bytes, share: float) -> bytes:
    return data[: int(len(data) * share)]


def flip(data: bytes, rng: random.Random, start: float = 0.3, count: int = 64) -> bytes:
    """Overwrite `count` bytes after the first `start` share with random ones."""
    out = bytearray(data)
    lo = int(len(out) * start)
    for _ in range(count):
        out[rng.randrange(lo, len(out))] = rng.randrange(256)
    return bytes(out)


# -- mail ------------------------------------------------------------------------------------


def deep_multipart(depth: int = 3000) -> bytes:
    head = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: nested\r\nMIME-Version: 1.0\r\n"
    parts = [head]
    for i in range(depth):
        parts.append(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i))
    parts.append(b"Content-Type: text/plain\r\n\r\nhello\r\n")
    return b"".join(parts)


def truncated_mail() -> bytes:
    return (b"From: a@example.com\r\nTo: b@example.com\r\nSubject: cut\r\n"
            b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="x"\r\n\r\n'
            b"--x\r\nContent-Type: application/zip; name=a.zip\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\nUEsDBBQAAAAIA")


def garbage_mail(rng: random.Random) -> bytes:
    return (b"From: a@example.com\r\nTo: b@example.com\r\nSubject: =?x-bogus?B?////?=\r\n"
            b'Content-Type: text/plain; charset="x-unknown-\xff"\r\n'
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + rng.randbytes(4096))


def long_header_mail(size: int = 8 * MIB) -> bytes:
    return (b"From: a@example.com\r\nTo: b@example.com\r\nX-Long: " + b"a" * size
            + b"\r\nSubject: long\r\n\r\nbody\r\n")


def mbox_broken(rng: random.Random) -> bytes:
    return (b"From a@example.com Mon Jan  1 00:00:00 2024\n" + rng.randbytes(2048)
            + b"\nFrom \nFrom x\n\n" + b"From b@example.com Mon Jan  1 00:00:00 2024\n")


# -- the quick tree ----------------------------------------------------------------------------

DAMAGED = r"damaged|truncated|could not be|not recognised|cannot|not an?\b|no \w+ signature"
REDOS_SIZE = MIB  # a quadratic regex takes minutes on this much; a linear one milliseconds


def tree(root: Path, seed: int = 8, shared: Path | None = SHARED) -> Tree:
    """The quick hostile cases under `root`, beside root/canary/github-recovery-codes.txt."""
    rng = random.Random(seed)
    t = Tree(root)
    t.canary = plant_canary(root / "canary", rng)
    png, jpeg = sample_image("PNG"), sample_image("JPEG")
    pdf = minimal_pdf(3)

    # Empty files hide nothing: no error needed, only no crash.
    for ext in ("txt", "pdf", "png", "jpg", "zip", "docx", "eml", "mbox", "rtf", "html",
                "gz", "tar"):
        t.add(f"empty-{ext}", f"empty/empty.{ext}", b"", None)
    t.add("empty-msg", "empty/empty.msg", b"", r"empty")
    t.add("empty-pst", "empty/empty.pst", b"", r"not an Outlook|empty")

    t.add("truncated-png", "broken/truncated.png", cut(png, 0.5), DAMAGED)
    t.add("truncated-jpeg", "broken/truncated.jpg", cut(jpeg, 0.4), DAMAGED)
    t.add("garbage-png", "broken/garbage.png", png[:16] + rng.randbytes(3000), DAMAGED)
    t.add("truncated-pdf", "broken/truncated.pdf", cut(pdf, 0.6), DAMAGED)
    t.add("garbage-pdf", "broken/garbage.pdf", b"%PDF-1.7\n" + rng.randbytes(5000), DAMAGED)
    t.add("cyclic-pdf", "broken/cyclic-pages.pdf", minimal_pdf(2, cyclic=True), None)
    t.add("deep-array-pdf", "broken/deep-array.pdf", minimal_pdf(1, deep=100_000), None)
    codes_zip = zip_of({"notes.txt": b"nothing here\n" * 200, "more.txt": b"x" * 5000})
    t.add("truncated-zip", "broken/truncated.zip", cut(codes_zip, 0.5), DAMAGED)
    t.add("crc-zip", "broken/bad-crc.zip", flip(codes_zip, rng, 0.1, 16), DAMAGED)
    good_docx = docx_text(["Meeting notes"] * 50)
    t.add("truncated-docx", "broken/truncated.docx", cut(good_docx, 0.5), DAMAGED)
    t.add("broken-xml-docx", "broken/broken-xml.docx",
          docx_of(b"<w:document " + W + b"><w:body><w:p>unclosed"), r"could not be parsed")
    t.add("billion-laughs-docx", "broken/billion-laughs.docx", billion_laughs_docx(),
          r"DTD")
    t.add("deep-xml-docx", "broken/deep-xml.docx", deep_xml_docx(), r"nest|deep")
    t.add("truncated-targz", "broken/truncated.tar.gz",
          cut(gzip.compress(tar_of({"a.txt": rng.randbytes(9000)}), mtime=0), 0.5), DAMAGED
          + r"|end of|stream")
    t.add("garbage-msg", "broken/garbage.msg",
          b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + rng.randbytes(3000), DAMAGED)
    t.add("random-pst", "broken/random.pst", rng.randbytes(4000), r"not an Outlook")
    t.add("garbage-pst", "broken/garbage.pst", b"!BDN" + rng.randbytes(6000), DAMAGED)
    msg = shared / "corpora" / "outlook-msg" / "unicode.msg" if shared else None
    if msg is not None and msg.is_file():
        t.add("truncated-msg", "broken/truncated.msg", cut(msg.read_bytes(), 0.3), DAMAGED)
    else:
        t.skipped["truncated-msg"] = "no .msg seed (../shared/corpora absent)"
    pst = shared / "corpora" / "outlook-pst" / "outlook.pst" if shared else None
    if pst is not None and pst.is_file():
        t.add("truncated-pst", "broken/truncated.pst", pst.read_bytes()[:20_000], DAMAGED)
    else:
        t.skipped["truncated-pst"] = "no .pst seed (../shared/corpora absent)"

    t.add("deep-multipart-eml", "mail/deep-multipart.eml", deep_multipart(), None)
    t.add("truncated-eml", "mail/truncated.eml", truncated_mail(), None)
    t.add("garbage-eml", "mail/garbage.eml", garbage_mail(rng), None)
    t.add("long-header-eml", "mail/long-header.eml", long_header_mail(), None)
    t.add("broken-mbox", "mail/broken.mbox", mbox_broken(rng), None)

    t.add("zip-bomb", "bombs/bomb.zip", None, r"ratio|expansion|size limit")
    zip_bomb(root / "bombs", 1024)
    t.add("gzip-bomb", "bombs/bomb.tar.gz", None, r"ratio|expansion|size limit")
    gzip_bomb(root / "bombs", 1)
    t.add("overlap-bomb", "bombs/overlap.zip", overlapping_zip(), r"ratio|overlap|expansion")
    t.add("count-bomb", "bombs/count.zip", zip64_count_bomb(), r"member count")
    t.add("nested-zip-200", "bombs/level1.zip", None, r"nesting depth")
    nested_zip(root / "bombs", 200, {"deepest.txt": b"hello\n"})
    t.add("nested-gzip-200", "bombs/deep.txt.gz", nested_gzip(200, b"hello\n"),
          r"nesting depth")

    # Regular expressions that backtrack over the whole input would hang on these.
    n = REDOS_SIZE
    t.add("redos-comments", "redos/comments.html", b"<html>" + b"<!--" * (n // 4), None)
    t.add("redos-script", "redos/script.html", b"<html>" + b"<script>" * (n // 8), None)
    t.add("redos-tags", "redos/tags.html", b"<html>" + b"<p" * (n // 2), None)
    t.add("redos-otpauth", "redos/otpauth.txt", b"otpauth://totp/x" * (n // 16), None)
    t.add("deep-rtf", "redos/deep.rtf", b"{\\rtf1 " + b"{" * n + b"text", None)
    t.add("pict-rtf", "redos/pict.rtf", b"{\\rtf1 " + b"{\\pict\\pngblip " * (n // 16), None)

    t.add("huge-png", "images/huge.png", huge_png(), r"pixel")
    t.add("huge-jpeg-header", "images/huge-header.jpg", huge_jpeg_header(), r"pixel")

    _special(t)
    _names(t, rng)
    return t


def _special(t: Tree) -> None:
    """Symbolic links, a FIFO, a socket and a device file (when allowed)."""
    links = t.root / "links"
    links.mkdir()
    os.symlink(".", links / "loop")
    os.symlink("b", links / "a")
    os.symlink("a", links / "b")
    os.symlink("missing-target", links / "dangling")
    os.symlink("/dev/null", links / "devnull")
    os.symlink("/dev/zero", links / "devzero")
    not_followed = r"symbolic link not followed"
    t.cases += [
        Case("symlink-loop-dir", "links/loop", not_followed, r"symbolic link loop"),
        Case("symlink-loop-file", "links/a", not_followed, r"levels of symbolic links"),
        Case("symlink-loop-file-b", "links/b", not_followed, r"levels of symbolic links"),
        Case("symlink-dangling", "links/dangling", not_followed, r"no such file|broken"),
        Case("symlink-devnull", "links/devnull", not_followed, r"device file"),
        Case("symlink-devzero", "links/devzero", not_followed, r"device file"),
    ]
    special = t.root / "special"
    special.mkdir()
    os.mkfifo(special / "fifo")
    t.cases.append(Case("fifo", "special/fifo", r"named pipe"))
    sock_path = special / "socket"
    if len(os.fsencode(sock_path)) < 100:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(sock_path))
        sock.close()
        t.cases.append(Case("socket", "special/socket", r"socket"))
    else:
        t.skipped["socket"] = "path too long for a unix socket"
    try:
        os.mknod(special / "null-device", 0o600 | 0o020000, os.makedev(1, 3))
        t.cases.append(Case("char-device", "special/null-device", r"device file"))
    except (PermissionError, OSError) as exc:
        t.skipped["char-device"] = f"mknod not permitted here ({exc.strerror})"


def _names(t: Tree, rng: random.Random) -> None:
    """Names that are not UTF-8, hold control characters or rich markup; codes inside."""
    names = t.root / "names"
    names.mkdir()
    cases = {
        "name-not-utf8": os.fsdecode(b"names/bad-\xff\xfe-github-recovery-codes.txt"),
        "name-escape": "names/esc-\x1b[31m-red-github-recovery-codes.txt",
        "name-markup": "names/[bold]markup[red]-github-recovery-codes.txt",
        "name-newline": "names/new\nline-github-recovery-codes.txt",
    }
    for name, rel in cases.items():
        codes = github_codes(rng)
        t.add(name, rel, github_file(codes), None, codes=tuple(codes))
    zip_codes, tar_codes = github_codes(rng), github_codes(rng)
    t.add("member-markup-zip", "names/members.zip", zip_of({
        "x[/]y [bold]github-recovery-codes.txt": github_file(zip_codes),
        "\x1b]0;pwned\x07title.txt": b"nothing\n",
    }), None, codes=tuple(zip_codes))
    bad = b"bad-\xff\xfe-github-recovery-codes.txt".decode("utf-8", "surrogateescape")
    t.add("member-not-utf8-tar", "names/members.tar", tar_of({bad: github_file(tar_codes)}),
          None, codes=tuple(tar_codes))


# -- the large cases ---------------------------------------------------------------------------

GIB = 1 << 30


def big_no_newline(path: Path, size: int = GIB) -> Path:
    """`size` bytes of base64-like text and spaces, no newline at all (streamed to disk)."""
    rng = random.Random(1)
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/ "
    block = bytes(rng.choice(alphabet) for _ in range(MIB))
    with open(path, "wb") as fh:
        left = size
        while left > 0:
            fh.write(block[:left])
            left -= MIB
    return path


def big_lines(path: Path, lines: int = 10_000_000) -> Path:
    """`lines` short lines ("ok 1234567\\n" and the like)."""
    with open(path, "wb") as fh:
        step = 100_000
        for start in range(0, lines, step):
            fh.write(b"".join(b"ok %d\n" % i for i in range(start, min(start + step, lines))))
    return path


def big_pdf(path: Path, pages: int = 5000) -> Path:
    path.write_bytes(minimal_pdf(pages))
    return path


def huge_image(path: Path, side: int = 20_000) -> Path:
    path.write_bytes(huge_png(side))
    return path


def text_image(path: Path, side: int = 8900, mode: str = "RGB") -> Path:
    """A side x side picture with lines of text: just under Limits.max_pixels at 8900,
    so it is decoded (and its text checked) in full: the memory bound of a legal image.
    RGBA is the heaviest mode to decode and flatten (4 bytes a pixel)."""
    img = Image.new(mode, (side, side), "white")
    draw = ImageDraw.Draw(img)
    for row in range(side // 45):
        draw.text((50, 20 + 40 * row), f"Line {row} of the meeting notes, room 4.{row}",
                  fill="black")
    img.save(path)
    return path


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--big", action="store_true", help="also write the large cases")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    made = tree(args.out / "tree")
    for name, why in made.skipped.items():
        print(f"not made: {name}: {why}")
    if args.big:
        big = args.out / "big"
        big.mkdir(exist_ok=True)
        big_no_newline(big / "no-newline.txt")
        big_lines(big / "lines.txt")
        big_pdf(big / "pages.pdf")
        huge_image(big / "huge.png")
    print(f"{len(made.cases)} cases in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
