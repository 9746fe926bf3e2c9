"""Screenshots and QR codes end to end: the real CLI, rule engine and tesseract."""

from __future__ import annotations

import random
import shutil
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from conftest import invoke
from mfaleaks.extract.image import NO_TESSERACT
from mfaleaks.images import engine, ocr, ocrcache

sys.path.insert(0, str(Path(__file__).parent))
import gen_images as gen

pytestmark = pytest.mark.skipif(not ocr.tesseract_available(), reason="tesseract not installed")

Box = tuple[int, int, int, int]


def _scan(*args: str) -> tuple[dict[str, Any], str]:
    res = invoke("scan", "--format", "json", "--jobs", "1", *args)
    assert res.exit_code in (0, 1), res.stderr
    return res.report, res.stdout


@pytest.fixture(scope="module")
def recall_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[gen.Sample], Path]:
    folder = tmp_path_factory.mktemp("pictures")
    samples = gen.build_set(random.Random(4))
    for s in samples:
        (folder / s.name).write_bytes(s.data)
    return samples, folder


@pytest.fixture(scope="module")
def scanned(recall_set: tuple[list[gen.Sample], Path]) -> tuple[dict[str, Any], str]:
    ocrcache.clear_memory()
    return _scan(str(recall_set[1]))


def _by_file(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for f in report["findings"]:
        out.setdefault(Path(f["path"]).name, []).append(f)
    return out


def _contains(outer: list[int], inner: Box, slack: int) -> bool:
    return (outer[0] <= inner[0] + slack and outer[1] <= inner[1] + slack
            and outer[0] + outer[2] >= inner[0] + inner[2] - slack
            and outer[1] + outer[3] >= inner[1] + inner[3] - slack)


def _union(boxes: list[Box]) -> Box:
    left, top = min(b[0] for b in boxes), min(b[1] for b in boxes)
    return (left, top, max(b[0] + b[2] for b in boxes) - left,
            max(b[1] + b[3] for b in boxes) - top)


def test_every_screenshot_gives_its_service_with_a_tight_box(
    recall_set: tuple[list[gen.Sample], Path], scanned: tuple[dict[str, Any], str]
) -> None:
    report, _ = scanned
    found = _by_file(report)
    for s in recall_set[0]:
        if not s.codes:
            continue
        (f,) = found[s.name]
        expected = {"google": ("google-backup-codes", "generic-numeric-recovery-codes"),
                    "github": ("github-recovery-codes",)}[str(s.service)]
        assert f["rule_id"] in expected, s.name
        if s.name != "phone-dark.png":  # the phone page does not name Google
            assert f["rule_id"] == expected[0], s.name
        assert f["source"] == "ocr" and f["confidence"] in ("high", "medium"), s.name
        assert f["count"] >= (9 if s.service == "google" else 12), s.name
        # The box holds every code it counted and little more than the code table.
        codes = _union([s.spots[c] for c in s.codes])
        slack = codes[3] // 20
        assert _contains(f["bbox"], codes, slack), (s.name, f["bbox"], codes)
        assert f["bbox"][2] * f["bbox"][3] <= 1.6 * codes[2] * codes[3], (s.name, f["bbox"])


def test_qr_codes_give_totp_findings_with_issuer_shown_and_secret_masked(
    recall_set: tuple[list[gen.Sample], Path], scanned: tuple[dict[str, Any], str]
) -> None:
    report, stdout = scanned
    found = _by_file(report)
    enrol = next(s for s in recall_set[0] if s.name == "enrol-totp.png")
    (uri_finding,) = [f for f in found["enrol-totp.png"] if f["source"] == "qr"]
    assert uri_finding["rule_id"] == "totp-uri" and uri_finding["confidence"] == "high"
    assert "ACME%20Corp" in uri_finding["redacted"][0]
    x, y, w, h = uri_finding["bbox"]
    assert 320 <= x <= 345 and 180 <= y <= 205 and 200 <= w <= 260 and 200 <= h <= 260
    export = [f for f in found["authenticator-export.jpg"] if f["rule_id"] == "totp-uri"]
    assert export and export[0]["source"] == "qr" and export[0]["count"] == 3
    assert any("GitHub" in r for r in export[0]["redacted"])
    # No seed and no payload in the clear anywhere in the report.
    for s in recall_set[0]:
        for payload in s.qr:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(payload).query)
            for value in [*query.get("secret", []), *query.get("data", [])]:
                assert value not in stdout and urllib.parse.quote(value) not in stdout
    assert enrol.qr


def test_negatives_and_codes_stay_out_of_the_report(
    recall_set: tuple[list[gen.Sample], Path], scanned: tuple[dict[str, Any], str]
) -> None:
    report, stdout = scanned
    found = _by_file(report)
    assert "holiday.jpg" not in found
    assert all(f["confidence"] == "low" for f in found.get("orders.png", []))
    assert report["errors"] == []
    for s in recall_set[0]:
        for code in s.codes:
            assert code not in stdout and code.replace(" ", "") not in stdout


def test_no_ocr_keeps_qr_codes_only(recall_set: tuple[list[gen.Sample], Path]) -> None:
    folder = recall_set[1]
    ocrcache.clear_memory()
    report, _ = _scan("--no-ocr", str(folder / "enrol-totp.png"),
                      str(folder / "google-dejavu-light-1x.png"))
    assert [(Path(f["path"]).name, f["source"]) for f in report["findings"]] == [
        ("enrol-totp.png", "qr")]
    assert report["errors"] == []


def test_without_tesseract_images_are_listed_as_not_read(
    recall_set: tuple[list[gen.Sample], Path], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    folder = recall_set[1]
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH where no tesseract lives
    monkeypatch.setenv(engine.FORCE_ENV, "program")  # and no tesseract in process
    assert shutil.which("tesseract") is None
    engine.reset()
    ocrcache.clear_memory()
    try:
        report, _ = _scan(str(folder / "enrol-totp.png"), str(folder / "github-light-1x.png"))
    finally:
        monkeypatch.undo()
        engine.reset()
    assert [(Path(f["path"]).name, f["source"]) for f in report["findings"]] == [
        ("enrol-totp.png", "qr")]
    assert sorted((Path(e["path"]).name, e["reason"]) for e in report["errors"]) == [
        ("enrol-totp.png", NO_TESSERACT), ("github-light-1x.png", NO_TESSERACT)]


def test_screenshot_attached_to_a_mail_is_found_with_its_member(tmp_path: Path) -> None:
    codes = gen.google_codes(random.Random(9))
    spots: dict[str, Box] = {}
    png = gen.encode(gen.render_google(codes, spots=spots, theme="dark"), "PNG")
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "jdoe@example.com", "me@example.com", "codes"
    msg.set_content("see attached")
    msg.add_attachment(png, maintype="image", subtype="png", filename="Screenshot 2025-11-27.png")
    (tmp_path / "codes.eml").write_bytes(msg.as_bytes())
    ocrcache.clear_memory()
    report, _ = _scan(str(tmp_path))
    (f,) = report["findings"]
    assert f["rule_id"] == "google-backup-codes" and f["source"] == "ocr"
    assert "Screenshot 2025-11-27.png" in f["member"]
    assert _contains(f["bbox"], _union([spots[c] for c in codes]), 4)


def test_damaged_exif_is_read_past_without_a_warning(tmp_path: Path) -> None:
    """Pillow warns of metadata it skips ("Tag data larger than file"): the picture is
    still read (its codes found), and no warning reaches stderr, file after file."""
    import struct
    import warnings

    from PIL import Image

    codes = gen.google_codes(random.Random(4))
    picture = gen.render_google(codes, spots={}, theme="light")
    exif = Image.Exif()
    exif[0x010E] = "x" * 100  # ImageDescription, then its length made absurd
    raw = exif.tobytes()
    endian = ">" if raw[6:8] == b"MM" else "<"
    at = raw.find(struct.pack(f"{endian}H", 0x010E))
    damaged = raw[: at + 4] + struct.pack(f"{endian}I", 0xFFFFFF) + raw[at + 8 :]
    picture.convert("RGB").save(tmp_path / "Screenshot.jpg", exif=damaged, quality=95)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Image.open(tmp_path / "Screenshot.jpg").getexif()
        assert any("larger than file" in str(w.message) for w in caught)  # damaged indeed
        caught.clear()
        ocrcache.clear_memory()
        report, _ = _scan(str(tmp_path))
    assert [str(w.message) for w in caught] == []
    assert [f["rule_id"] for f in report["findings"]] == ["google-backup-codes"]


def test_the_program_fallback_reads_the_same_codes_and_says_so(
    recall_set: tuple[list[gen.Sample], Path], monkeypatch: pytest.MonkeyPatch,
) -> None:
    if engine.program_path() is None:
        pytest.skip("no tesseract program to fall back to")
    shot = str(recall_set[1] / "google-dejavu-light-1x.png")
    ocrcache.clear_memory()
    engine.reset()
    default, _ = _scan(shot)
    in_process = engine.current()
    assert in_process is not None
    settings = ocr.cache_settings()
    monkeypatch.setenv(engine.FORCE_ENV, "program")
    engine.reset()
    ocrcache.clear_memory()
    try:
        fallback, _ = _scan(shot)
        assert ocr.cache_settings() != settings or in_process.name == "program"
    finally:
        monkeypatch.undo()
        engine.reset()
    assert [(f["rule_id"], f["count"]) for f in fallback["findings"]] == [
        (f["rule_id"], f["count"]) for f in default["findings"]]
    assert any("tesseract program" in n and engine.FORCE_ENV in n for n in fallback["notices"])
    if in_process.name == "tesserocr":  # the notice is for the fallback only
        assert not any("tesseract program" in n for n in default["notices"])
    assert fallback["stats"]["pictures_read"] == 1
