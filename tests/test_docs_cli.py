"""End to end through the real CLI: a share of documents and archives, one scan.

Every format has a planted positive that must be found with its service and
where it sits (page, sheet!cell, slide, archive member), and the hard
negatives (order tables, a timetable, a product key, an invoice) must not
reach the default medium confidence. Traps end as recorded errors.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

import gen_docs as gen
from conftest import invoke


class Share:
    def __init__(self, root: Path) -> None:
        self.root = root
        rng = random.Random(4242)
        self.google = gen.google_codes(rng)
        self.github = gen.github_codes(rng)
        docs = root / "docs"
        docs.mkdir(parents=True)
        g, h = self.google, self.github
        gen.docx_codes(docs, g)
        gen.xlsx_codes(docs, g)
        gen.pptx_codes(docs, h)
        gen.odt_codes(docs, g)
        gen.ods_codes(docs, g)
        gen.odp_codes(docs, g)
        gen.rtf_codes(docs, g)
        gen.pdf_codes(docs, g)
        gen.pdf_scanned(docs, gen.google_codes(rng))
        gen.pdf_enrolment(docs, "otpauth://totp/Example:jdoe@example.com?"
                                 "secret=JBSWY3DPEHPK3PXQ7Q4A&issuer=Example")
        (docs / "export.xml").write_text(
            '<?xml version="1.0"?><backup service="google" kind="backup codes">'
            + "".join(f"<code>{c}</code>" for c in g) + "</backup>\n")
        negatives = root / "negatives"
        negatives.mkdir()
        gen.docx_orders(negatives, rng)
        gen.xlsx_orders(negatives, rng)
        gen.pptx_timetable(negatives)
        gen.pdf_invoice(negatives, rng)
        gen.ods_orders(negatives, rng)
        archives = root / "archives"
        archives.mkdir()
        gen.export_zip(archives, h, rng)
        gen.compressed_tar(archives, "home.tar.xz",
                           {"jdoe/Backup-codes-jdoe.txt": gen.google_sheet(g).encode()})
        gen.single_compressed(archives, "github-recovery-codes.txt.gz", gen.github_file(h))
        gen.sevenzip(archives, "laptop.7z", {"Desktop/github-recovery-codes.txt":
                                             gen.github_file(h)})
        traps = root / "traps"
        traps.mkdir()
        gen.pdf_text(traps, [["Backup codes"]], "locked.pdf", password="hunter2")
        gen.encrypted_zip(traps, {"Backup-codes-jdoe.txt": gen.google_sheet(g).encode()},
                          b"hunter2")
        gen.zip_bomb(traps, mib=1024)
        plain = gen.docx_codes(traps, g)
        gen.encrypt_office(plain, "hunter2", "locked.docx")
        plain.unlink()
        gen.nested_zip(traps, 50, {"github-recovery-codes.txt": gen.github_file(h)})


@pytest.fixture(scope="module")
def share(tmp_path_factory: pytest.TempPathFactory) -> Share:
    return Share(tmp_path_factory.mktemp("docs-share"))


@pytest.fixture(scope="module")
def report(share: Share) -> dict[str, Any]:
    res = invoke("scan", "--format", "json", "--jobs", "1", "--quiet", str(share.root))
    assert res.exit_code == 1, res.stderr
    return res.report


def found(report: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if Path(f["path"]).name == name]


POSITIVES = [
    ("handover.docx", "google", "body", None),
    ("passwords.xlsx", "google", "'2FA backup'!B3", None),
    ("onboarding.pptx", "github", "slide 3 notes", None),
    ("notes.odt", "google", "body", None),
    ("backup.ods", "google", "'Backup codes'!B3", None),
    ("review.odp", "google", "slide 2 notes", None),
    ("codes.rtf", "google", None, None),
    ("printout.pdf", "google", "page 2", None),
    ("export.xml", "google", None, None),
    ("export.zip", "github", None, "inner.tar / github-recovery-codes.txt"),
    ("home.tar.xz", "google", None, "jdoe/Backup-codes-jdoe.txt"),
    ("github-recovery-codes.txt.gz", "github", None, "github-recovery-codes.txt"),
    ("laptop.7z", "github", None, "Desktop/github-recovery-codes.txt"),
]


@pytest.mark.parametrize(("name", "service", "location", "member"), POSITIVES)
def test_planted_positive_is_found_where_it_is(report: dict[str, Any], name: str,
                                               service: str, location: str | None,
                                               member: str | None) -> None:
    findings = found(report, name)
    assert [f["service"] for f in findings] == [service]
    [finding] = findings
    assert finding["confidence"] in ("medium", "high")
    assert finding["count"] == (16 if service == "github" else 10)
    assert finding["location"] == location
    assert finding["member"] == member


@pytest.mark.parametrize("name", ["open-orders.docx", "orders-2024.xlsx",
                                  "shuttle-timetable.pptx", "invoice-0318.pdf",
                                  "order-list.ods", "orders.csv"])
def test_hard_negatives_are_not_reported(report: dict[str, Any], name: str) -> None:
    assert found(report, name) == []
    assert not [f for f in report["findings"] if (f["member"] or "").endswith(name)]


def test_scanned_pdf_is_read_through_ocr(report: dict[str, Any]) -> None:
    [finding] = found(report, "scan-0042.pdf")
    assert finding["service"] == "google"
    assert finding["member"] == "page 1 image 1"
    assert finding["meta"].get("page") == "1"


def test_qr_code_printed_in_a_pdf_is_decoded(report: dict[str, Any]) -> None:
    [finding] = found(report, "authenticator-setup.pdf")
    assert finding["service"] == "totp"
    assert finding["member"] == "page 1 image 1"
    assert finding["meta"].get("page") == "1"


def test_traps_end_as_recorded_errors(report: dict[str, Any]) -> None:
    errors = {(Path(e["path"]).name, e["reason"]): e["member"] for e in report["errors"]}
    assert errors[("locked.pdf", "encrypted PDF: no password")] is None
    reason = "encrypted archive member Backup-codes-jdoe.txt: no password"
    assert errors[("secret.zip", reason)] == "Backup-codes-jdoe.txt"
    assert errors[("locked.docx", "encrypted Office document: no password")] is None
    [bomb] = [(r, m) for (n, r), m in errors.items() if n == "bomb.zip"]
    assert bomb[0].startswith("compression ratio limit (max_ratio 200)")
    assert bomb[1] == "zeros.bin"
    [deep] = [(r, m) for (n, r), m in errors.items() if n == "level1.zip"]
    assert deep[0] == "nesting depth limit reached (max_depth 8); members not read"
    assert deep[1] == " / ".join(f"level{i}.zip" for i in range(2, 10))
    assert found(report, "level1.zip") == []  # the codes 50 levels down are out of reach


def test_depth_option_reaches_deeper(share: Share, tmp_path: Path) -> None:
    nested = gen.nested_zip(tmp_path, 12, {"github-recovery-codes.txt":
                                           gen.github_file(share.github)})
    res = invoke("scan", "--format", "json", "--jobs", "1", "--quiet", "--max-depth", "12",
                 str(nested))
    [finding] = res.report["findings"]
    assert finding["member"].endswith("level12.zip / github-recovery-codes.txt")
    assert not res.report["errors"]


def test_limit_options_reach_the_extractors(tmp_path: Path) -> None:
    many = tmp_path / "many.zip"
    many.write_bytes(gen.zip_bytes({f"f{i:02d}.txt": b"x" for i in range(30)}))
    bomb = gen.zip_bomb(tmp_path, mib=64)
    res = invoke("scan", "--format", "json", "--jobs", "1", "--quiet", "--max-members", "5",
                 "--max-ratio", "5000", str(tmp_path))
    reasons = sorted(e["reason"] for e in res.report["errors"])
    assert reasons == ["member count limit reached (max_members 5); 25 more members not read"]
    res = invoke("scan", "--format", "json", "--jobs", "1", "--quiet", "--max-ratio", "5000",
                 "--max-expanded", "1M", str(bomb))
    assert [(e["member"], e["reason"]) for e in res.report["errors"]] == [
        ("zeros.bin", "expansion limit reached (max_expanded 1048576 bytes from one file); "
         "rest not read")]


def test_codes_never_appear_in_the_report(report: dict[str, Any], share: Share) -> None:
    text = json.dumps(report)
    assert not [c for c in share.google + share.github if c in text]
