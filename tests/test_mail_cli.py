"""Mailboxes end to end through the real CLI and rule engine."""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import corpus, invoke

sys.path.insert(0, str(Path(__file__).parent))
import gen_mail as gen

Scan = Callable[..., dict[str, Any]]
WHEN = datetime(2024, 3, 14, 8, 5, tzinfo=UTC)


@pytest.mark.parametrize("name", ["real-mail", "outlook-msg", "outlook-pst"])
def test_real_mail_corpora_give_no_finding_and_no_crash(name: str, scan_json: Scan) -> None:
    folder = corpus(name)
    report = scan_json(str(folder))
    assert report["findings"] == []
    assert report["stats"]["files"] == len(list(folder.iterdir()))
    for error in report["errors"]:  # malformed MIME in the corpus is reported, not fatal
        assert error["reason"] and "Traceback" not in error["reason"]
        assert "could not be parsed" not in error["reason"]


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[gen.Planted], dict[str, Any]]:
    folder = tmp_path_factory.mktemp("mail")
    data, planted = gen.planted_mailbox(random.Random(2024))
    (folder / "Takeout-alice.mbox").write_bytes(data)
    res = invoke("scan", "--format", "json", "--jobs", "1", str(folder / "Takeout-alice.mbox"))
    assert res.exit_code in (0, 1), res.stderr
    return planted, res.report


CASES = ["plain", "html", "attachment", "forwarded", "zip", "screenshot"]


@pytest.mark.parametrize("case", CASES)
def test_planted_codes_are_found_with_the_right_member(
    case: str, planted: tuple[list[gen.Planted], dict[str, Any]]
) -> None:
    cases, report = planted
    want = next(p for p in cases if p.case == case)
    label = f"message {want.number} {want.message_id} {want.date.date().isoformat()} "
    hits = [f for f in report["findings"] if f["member"].startswith(label)]
    assert len(hits) == 1, [f["member"] for f in report["findings"]]
    finding = hits[0]
    assert finding["rule_id"] == "google-backup-codes" and finding["confidence"] == "high"
    assert finding["path"].endswith("Takeout-alice.mbox")
    if case == "forwarded":  # the forwarded message's own label follows its Message-ID
        assert want.member_suffix in finding["member"]
    elif want.member_suffix:
        assert finding["member"].endswith(want.member_suffix)
    else:
        assert " / " not in finding["member"]
    assert finding["meta"]["date"] == want.date.isoformat()
    assert finding["meta"]["sender"] == want.sender
    assert all("••••" in code for code in finding["redacted"])


def test_only_the_planted_messages_have_findings(
    planted: tuple[list[gen.Planted], dict[str, Any]],
) -> None:
    cases, report = planted
    numbers = {f["member"].split(" ", 2)[1] for f in report["findings"]}
    assert numbers <= {str(p.number) for p in cases}
    assert report["errors"] == []


def test_maildir_is_one_mailbox(tmp_path: Path, scan_json: Scan) -> None:
    rng = random.Random(8)
    account = "bob@example.com"
    sheet = gen.google_sheet(gen.google_codes(rng), account, WHEN)
    codes = gen.Mail(f"Bob <{account}>", account, "Google backup codes", WHEN,
                     gen.message_id(rng), text=sheet)
    others = [gen.noise(rng, WHEN).build() for _ in range(3)]
    names = gen.write_maildir(tmp_path / "Maildir", [*others[:2], codes.build()], sent=others[2:])
    report = scan_json(str(tmp_path))
    [finding] = report["findings"]
    assert finding["path"] == str(tmp_path / "Maildir")
    assert finding["member"].startswith(f"{names[2]} / message {codes.message_id} ")
    assert finding["meta"]["sender"] == f"Bob <{account}>"


def test_damaged_mail_files_are_errors_and_the_rest_is_scanned(
    tmp_path: Path, scan_json: Scan
) -> None:
    rng = random.Random(6)
    data, _ = gen.planted_mailbox(rng, with_images=False)
    (tmp_path / "cut.mbox").write_bytes(data[: len(data) * 2 // 3])
    (tmp_path / "empty.msg").write_bytes(b"")
    (tmp_path / "fake.pst").write_bytes(rng.randbytes(5000))
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    (tmp_path / "corrupt.msg").write_bytes(ole + rng.randbytes(4000))
    report = scan_json(str(tmp_path))
    reasons = {Path(e["path"]).name: e["reason"] for e in report["errors"]}
    assert reasons["empty.msg"] == "not an Outlook .msg file: the file is empty"
    assert reasons["fake.pst"] == "not an Outlook .pst/.ost file: no PST signature (!BDN)"
    assert reasons["corrupt.msg"].startswith("Outlook .msg could not be read:")
    assert {Path(f["path"]).name for f in report["findings"]} == {"cut.mbox"}
    assert len(report["findings"]) >= 3
