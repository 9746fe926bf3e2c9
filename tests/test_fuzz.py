"""A fuzz target per extractor: hypothesis mutates a valid seed file of each format
(bytes flipped, cut, inserted, repeated) and the pipeline reads the result.

Every mutant must come back as a result: no exception escapes the pipeline, the
reasons are one line, and no reason is the pipeline's catch-all for an exception
an extractor let through (each is a bug in that extractor). OCR is off (a run of
tesseract per example would cost the budget); QR decoding and every parser are
on. The suite runs a short session (FUZZ_EXAMPLES per format);
MFALEAKS_FUZZ_EXAMPLES raises it for a long one (docs/fuzzing.md).
"""

from __future__ import annotations

import gzip
import io
import os
import random
import tarfile
from collections.abc import Callable
from dataclasses import replace
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gen_docs
import gen_hostile as gen
from conftest import default_engine
from mfaleaks.extract.base import Limits
from mfaleaks.models import FileResult, Origin, Source
from mfaleaks.run.scanjob import timed_scan
from test_hostile import CATCH_ALL

FUZZ_EXAMPLES = int(os.environ.get("MFALEAKS_FUZZ_EXAMPLES", "100"))
LIMITS = replace(Limits(), ocr=False, parse_timeout=30.0)
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
_RNG = random.Random(8)
CODES = gen.github_codes(_RNG)
GOOGLE = gen_docs.google_codes(_RNG)


def _mail() -> bytes:
    outer = MIMEMultipart("mixed")
    outer.attach(MIMEText(gen_docs.google_sheet(GOOGLE), "plain", "utf-8"))
    outer.attach(MIMEText("<p>Your <b>codes</b></p><table><tr><td>1</td></tr></table>", "html"))
    part = MIMEApplication(gen.zip_of({"github-recovery-codes.txt": gen.github_file(CODES)}))
    part.add_header("Content-Disposition", "attachment", filename="codes.zip")
    outer.attach(part)
    outer["From"], outer["To"], outer["Subject"] = "it@example.com", "jd@example.com", "codes"
    return outer.as_bytes()


def _mbox() -> bytes:
    mail = _mail()
    return b"".join(b"From it@example.com Mon Jan  1 00:00:00 2024\n" + mail + b"\n"
                    for _ in range(2))


def _targz() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in {"codes/github-recovery-codes.txt": gen.github_file(CODES),
                           "readme.md": b"# export\n"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue(), mtime=0)


def _on_disk(build: Callable[[Path], Path]) -> Callable[[Path], bytes]:
    return lambda folder: build(folder).read_bytes()


def _qr_png() -> bytes:
    import qrcode

    buf = io.BytesIO()
    qrcode.make("otpauth://totp/Example:jd?secret=JBSWY3DPEHPK3PXPJBSWY3DP&issuer=Example"
                ).save(buf)
    return buf.getvalue()


def _shared(rel: str) -> Callable[[Path], bytes]:
    def read(folder: Path) -> bytes:
        path = SHARED / "corpora" / rel
        if not path.is_file():
            pytest.skip(f"seed {path} is absent (../shared not beside the checkout)")
        return path.read_bytes()
    return read


SEEDS: dict[str, tuple[str, Callable[[Path], bytes]]] = {
    "zip": ("export.zip", lambda f: gen.zip_of({
        "github-recovery-codes.txt": gen.github_file(CODES), "notes/a.txt": b"hello\n" * 50})),
    "docx": ("handover.docx", _on_disk(lambda f: gen_docs.docx_codes(f, GOOGLE))),
    "xlsx": ("passwords.xlsx", _on_disk(lambda f: gen_docs.xlsx_codes(f, GOOGLE))),
    "odt": ("notes.odt", _on_disk(lambda f: gen_docs.odt_codes(f, GOOGLE))),
    "pdf": ("printout.pdf", _on_disk(lambda f: gen_docs.pdf_codes(f, GOOGLE))),
    "pdf-minimal": ("report.pdf", lambda f: gen.minimal_pdf(3)),
    "png": ("screenshot.png", lambda f: gen_docs.code_image(["SAVE YOUR BACKUP CODES",
                                                             *GOOGLE[:4]])),
    "png-qr": ("qr.png", lambda f: _qr_png()),
    "jpeg": ("photo.jpg", lambda f: gen.sample_image("JPEG", (320, 200))),
    "eml": ("codes.eml", lambda f: _mail()),
    "mbox": ("inbox.mbox", lambda f: _mbox()),
    "rtf": ("codes.rtf", _on_disk(lambda f: gen_docs.rtf_codes(f, GOOGLE))),
    "tar.gz": ("export.tar.gz", lambda f: _targz()),
    "html": ("codes.html", lambda f: (
        "<html><head><title>x</title><style>p{}</style></head><body><h2>Backup codes</h2>"
        + "".join(f"<p>{c}</p>" for c in GOOGLE) + "<!-- end --></body></html>").encode()),
    "msg": ("unicode.msg", _shared("outlook-msg/unicode.msg")),
    "pst": ("outlook.pst", _shared("outlook-pst/outlook.pst")),
}



Op = tuple[str, float, float, bytes]
OPS = st.lists(st.tuples(
    st.sampled_from(["flip", "cut", "insert", "repeat", "zero"]),
    st.floats(0, 1, exclude_max=True), st.floats(0, 1), st.binary(min_size=1, max_size=16),
), min_size=1, max_size=6)


def mutate(seed: bytes, ops: list[Op]) -> bytes:
    data = bytearray(seed)
    for kind, where, amount, blob in ops:
        if not data:
            break
        at = int(where * len(data))
        if kind == "flip":
            data[at : at + len(blob)] = blob
        elif kind == "cut":
            del data[max(at, 1):]
        elif kind == "insert":
            data[at:at] = blob
        elif kind == "repeat":  # a stretch copied in again: lengths and offsets go wrong
            size = max(1, int(amount * min(len(data) - at, 4096)))
            data[at:at] = data[at : at + size]
        else:
            size = max(1, int(amount * 256))
            data[at : at + size] = bytes(min(size, len(data) - at))
    return bytes(data)


# Mutants that once let an exception escape (found by this fuzzer), replayed every run.
REGRESSIONS: dict[str, list[list[Op]]] = {
    "pdf-minimal": [[("zero", 0.3971, 0.861, b"v")]],  # PdfiumError loading a page
    "tar.gz": [[("flip", 0.1594, 0.957, b"\x15")]],  # zlib.error in the gzip stream
    "zip": [[("zero", 0.90625, 0.0625, b"\x00")]],  # empty member name: IndexError
    "eml": [[("cut", 0.25, 0.0, b"\x00"), ("zero", 0.59375, 1.0, b"\x00")]],  # NUL charset
    "mbox": [[("flip", 0.75, 0.0, b"\x80"), ("cut", 0.83984375, 0.0, b"\x00"),
              ("flip", 0.69921875, 0.0, b"\x00")]],  # NUL in a charset label, 8-bit body
    "pst": [[("zero", 0.1328125, 1.0, b"\x00")]],  # libpff MemoryError on the root folder
}


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, bytes]]:
    return {}


@pytest.mark.parametrize("fmt", list(SEEDS))
def test_fuzz_extractor(fmt: str, seeds: dict[str, tuple[str, bytes]],
                        tmp_path_factory: pytest.TempPathFactory) -> None:
    name, build = SEEDS[fmt]
    if fmt not in seeds:
        seeds[fmt] = (name, build(tmp_path_factory.mktemp(f"seed-{fmt}")))
    seed = seeds[fmt][1]
    intact = read(name, seed)
    assert not [e for e in intact.errors if CATCH_ALL.match(e.reason)], intact.errors
    for ops in REGRESSIONS.get(fmt, []):
        check(read(name, mutate(seed, ops)))

    @given(OPS)
    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    def fuzz(ops: list[Op]) -> None:
        check(read(name, mutate(seed, ops)))

    fuzz()


def check(result: FileResult) -> None:
    for error in result.errors:
        assert "\n" not in error.reason and len(error.reason) <= 300, error
        assert not CATCH_ALL.match(error.reason), f"exception escaped: {error.reason}"


def read(name: str, data: bytes) -> FileResult:
    source = Source(origin=Origin(name), name=name, data=data, size=len(data))
    result = timed_scan(source, default_engine(), LIMITS)
    assert result.path == name
    return result
