"""Findings -> incidents through the real scanner: every copy, owner, exposure, age, ranking,
and the Markdown and CSV renderings of `mfaleaks report`."""

from __future__ import annotations

import csv
import io
import json
import os
import pwd
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import CliRun
from gen_incidents import ALL_CODES, GOOGLE, build_share
from mfaleaks.models import Confidence, Finding, Origin, Severity, Source
from mfaleaks.report.load import load_report
from mfaleaks.sources.owner import Clue, clues, file_facts, home_user, probable_owner
from mfaleaks.triage.incidents import Exposure, build_incidents, exposure_of


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A folder others may enter (pytest's own tmp_path sits in a 0700 folder, which would
    make every file in it private)."""
    path = Path(tempfile.mkdtemp(prefix="mfaleaks-test-"))
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


@pytest.fixture
def share_report(open_dir: Path, tmp_path: Path, run_cli: Callable[..., CliRun]) -> Path:
    root = build_share(open_dir / "tree")
    out = tmp_path / "report.json"
    res = run_cli("scan", "--format", "json", "--jobs", "1", "-q", "-o", str(out), str(root))
    assert res.exit_code == 1, res.stderr
    return out


def test_same_codes_in_several_places_are_one_incident(share_report: Path) -> None:
    result = load_report(share_report.read_text())
    incidents = build_incidents(result.findings)
    assert [i.service for i in incidents] == ["google", "discord", "github"]
    google = incidents[0]
    places = {(loc.path.split("/tree/")[1], loc.member) for loc in google.locations}
    assert ("home/jdoe/Downloads/Backup-codes-jdoe.txt", None) in places
    assert ("backup/jdoe-docs.zip", "Downloads/Backup-codes-jdoe.txt") in places
    assert any(p == "mail/sent.eml" and m and "a1@corp.example" in m for p, m in places)
    assert len(google.locations) == 3 and google.count == 10
    assert google.id.startswith("MFA-") and google.rank == 1


def test_owner_exposure_and_age_come_from_the_copies(share_report: Path) -> None:
    google, discord, github = build_incidents(load_report(share_report.read_text()).findings)

    # The address in Google's file and the mail's sender both point at jdoe.
    assert google.owner.name == "jdoe@gmail.com" and google.owner.strength == "strong"
    assert any("written next to the codes" in e for e in google.owner.evidence)
    assert any("home folder" in e and "/home/jdoe" in e for e in google.owner.evidence)
    assert any("jdoe@corp.example sent the mail" in e for e in google.owner.evidence)
    assert discord.owner.name == "jd@example.com"
    assert github.owner.name == "amy"  # only the home folder speaks for her

    assert google.exposure is Exposure.WORLD
    assert google.mailed_to == ("helpdesk@corp.example", "amy@corp.example")
    assert any("mailed to 2 other people" in n for n in google.exposure_notes)
    assert not any("only its owner" in n for n in google.exposure_notes)  # the 0600 zip
    assert discord.exposure is Exposure.GROUP
    # 0644, but inside a 0700 home folder: nobody else gets in.
    assert github.exposure is Exposure.OWNER_ONLY
    assert any("(0700) keeps others out" in n for n in github.exposure_notes)

    # The oldest copy is the mail of May 2023, older than the file's 400-day-old mtime.
    assert google.since == datetime(2023, 5, 2, 10, 0, tzinfo=UTC)
    assert google.age_bucket == "over 1 year"
    mtimes = [loc.when for loc in google.locations if loc.when_note == "file modified"]
    assert any(w is not None and (datetime.now(UTC) - w).days in (399, 400) for w in mtimes)
    assert discord.age_days == 0 and discord.age_bucket == "under 30 days"


def test_remediation_lists_the_rule_advice_then_every_copy(share_report: Path) -> None:
    google = build_incidents(load_report(share_report.read_text()).findings)[0]
    steps = google.remediation
    assert "Get new codes" in steps[0] and "old set stops working" in steps[0]
    assert "https://myaccount.google.com/two-step-verification/backup-codes" in steps[0]
    deletes = [s for s in steps if s.startswith("Delete")]
    assert len(deletes) == 3
    assert any(s.startswith("Delete the mail message <a1@corp.example>") for s in deletes)
    assert any("Downloads/Backup-codes-jdoe.txt from " in s and "jdoe-docs.zip" in s
               for s in deletes)
    assert steps[-1].startswith("Ask helpdesk@corp.example, amy@corp.example to delete")


def test_scan_records_file_facts_from_the_stat(share_report: Path) -> None:
    data = json.loads(share_report.read_text())
    me = pwd.getpwuid(os.getuid()).pw_name
    by_path = {f["path"].split("/tree/")[1]: f["meta"] for f in data["findings"]}
    meta = by_path["home/jdoe/Downloads/Backup-codes-jdoe.txt"]
    assert meta["file_mode"] == "0644" and meta["file_owner"] == me
    assert meta["file_uid"] == str(os.getuid())
    assert meta["account"] == "jdoe@gmail.com"
    assert datetime.fromisoformat(meta["file_mtime"]) < datetime.now(UTC) - timedelta(days=399)
    assert "file_others_blocked" not in meta
    gh = by_path["home/amy/github-recovery-codes.txt"]
    assert gh["file_others_blocked"].endswith("/home/amy (0700)")
    assert by_path["share/discord_backup_codes.txt"]["account"] == "jd@example.com"


def test_file_facts_never_read_the_file(tmp_path: Path) -> None:
    secret = tmp_path / "codes.txt"
    secret.write_text("x")
    os.chmod(secret, 0o000)  # unreadable (except to root): facts come from the stat alone
    st = secret.stat()
    source = Source(origin=Origin(str(secret)), name="codes.txt", fs_path=str(secret),
                    mtime=st.st_mtime, uid=st.st_uid, gid=st.st_gid, mode=st.st_mode)
    facts = file_facts(source)
    assert facts["file_mode"] == "0000" and facts["file_uid"] == str(os.getuid())
    assert exposure_of(facts)[0] is Exposure.OWNER_ONLY


def test_home_folders_on_every_system() -> None:
    assert home_user("/home/jdoe/Downloads/x.txt") == ("jdoe", "/home/jdoe")
    assert home_user("/Users/Jane/Desktop/codes.png") == ("Jane", "/Users/Jane")
    assert home_user(r"C:\Users\jdoe\Documents\codes.txt") == ("jdoe", r"C:\Users\jdoe")
    assert home_user("/mnt/backup/home/bob/a/b.txt") == ("bob", "/mnt/backup/home/bob")
    assert home_user(r"C:\Users\Public\Documents\codes.txt") is None
    assert home_user("/srv/share/codes.txt") is None
    assert home_user("/home/jdoe") is None  # the folder itself, no file in it


def test_mail_clues_weigh_who_sent_and_who_received() -> None:
    automated = clues({"sender": "Acme <no-reply@acme.example>",
                       "recipients": "kim@corp.example"}, "/m.mbox", "message 1")
    assert probable_owner(automated).name == "kim@corp.example"
    self_mail = clues({"sender": "kim@corp.example", "recipients": "kim@corp.example"},
                      "/m.mbox", "message 1")
    owner = probable_owner(self_mail)
    assert owner.name == "kim@corp.example" and "mailed the codes to themself" in owner.evidence[0]
    forwarded = clues({"sender": "Kim <kim@corp.example>",
                       "recipients": "desk@corp.example, lee@corp.example (+3 more)"},
                      "/m.mbox", "message 1")
    owner = probable_owner(forwarded)
    assert owner.name == "kim@corp.example"
    assert owner.others == ("desk@corp.example", "lee@corp.example")
    assert probable_owner([]).name is None and probable_owner([]).strength == "unknown"
    # The same clue from several copies counts once; a user name joins its address.
    twice = [Clue("bob", 1.5, "bob owns the file"), Clue("bob", 1.5, "bob owns the file"),
             Clue("bob@corp.example", 2.0, "bob@corp.example sent the mail")]
    owner = probable_owner(twice)
    assert owner.name == "bob@corp.example" and owner.strength == "probable"
    assert len(owner.evidence) == 2


def _finding(fp: str, severity: Severity, meta: dict[str, str], path: str = "/x.txt") -> Finding:
    return Finding(
        rule_id="r", service=f"svc-{fp}", title="t", severity=severity,
        confidence=Confidence.HIGH, score=9.0, path=path, member=None, line=1, source="text",
        count=10, redacted=("12•• ••••",), fingerprint=fp * 10, remediation="fix it",
        meta=meta,
    )


def test_ranking_is_severity_then_exposure_then_age() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    old = {"file_mode": "0600", "file_mtime": "2020-01-01T00:00:00+00:00"}
    new_world = {"file_mode": "0644", "file_mtime": "2025-12-01T00:00:00+00:00"}
    old_world = {"file_mode": "0644", "file_mtime": "2021-01-01T00:00:00+00:00"}
    findings = [
        _finding("a", Severity.HIGH, old_world),
        _finding("b", Severity.CRITICAL, old),
        _finding("c", Severity.CRITICAL, new_world),
        _finding("d", Severity.CRITICAL, old_world),
        _finding("e", Severity.CRITICAL, {}),  # nothing known: between owner-only and group
    ]
    ranked = build_incidents(findings, now)
    assert [i.fingerprint[0] for i in ranked] == ["d", "c", "e", "b", "a"]
    assert [i.rank for i in ranked] == [1, 2, 3, 4, 5]
    assert ranked[0].age_days == (now - datetime(2021, 1, 1, tzinfo=UTC)).days
    assert ranked[2].age_bucket == "unknown" and ranked[2].exposure is Exposure.UNKNOWN


def test_exposure_from_permission_bits_and_blocking_folders() -> None:
    assert exposure_of({"file_mode": "0644"})[0] is Exposure.WORLD
    assert exposure_of({"file_mode": "0640", "file_group": "staff"}) == (
        Exposure.GROUP, ["file mode 0640: members of group staff can read it"])
    assert exposure_of({"file_mode": "0644", "file_others_blocked": "/home/a (0750)"})[0] is (
        Exposure.GROUP)
    assert exposure_of({"file_mode": "0644", "file_others_blocked": "/home/a (0700)",
                        "file_group_blocked": "/home/a (0700)"})[0] is Exposure.OWNER_ONLY
    level, notes = exposure_of({"file_mode": "0600", "sender": "a@x.example",
                                "recipients": "a@x.example, b@x.example"})
    assert level is Exposure.MAILED and notes[-1] == "mailed to 1 other person: b@x.example"


def _report(tmp_path: Path, run_cli: Callable[..., CliRun], report: Path, fmt: str) -> str:
    out = tmp_path / f"out.{fmt}"
    res = run_cli("report", str(report), "--format", fmt, "--output", str(out))
    assert res.exit_code == 0, res.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    return out.read_text()


def _assert_no_code(text: str) -> None:
    for code in ALL_CODES:
        assert code not in text and code.replace(" ", "").replace("-", "") not in text, code


def test_markdown_report(share_report: Path, tmp_path: Path,
                         run_cli: Callable[..., CliRun]) -> None:
    text = _report(tmp_path, run_cli, share_report, "markdown")
    assert text.startswith("# Leaked MFA recovery material: 3 incident(s)")
    assert "### 1. Google backup codes (critical)" in text
    assert "- **Owner:** jdoe@gmail.com (strong)" in text
    assert "| world-readable | 1 |" in text and "| over 1 year | 1 |" in text
    assert text.count("- [ ] Delete") == 5
    assert "discord\\_backup\\_codes.txt" in text  # underscores escaped outside code spans
    _assert_no_code(text)


def test_csv_checklist(share_report: Path, tmp_path: Path, run_cli: Callable[..., CliRun]) -> None:
    rows = list(csv.DictReader(io.StringIO(_report(tmp_path, run_cli, share_report, "csv"))))
    assert [r["service"] for r in rows] == ["google", "discord", "github"]
    google = rows[0]
    assert google["status"] == "open" and google["id"].startswith("MFA-")
    assert google["summary"] == ("Revoke Google backup codes of jdoe@gmail.com: 3 copies, "
                                 "world-readable")
    assert google["copies"] == "3" and len(google["locations"].splitlines()) == 3
    assert google["remediation"].startswith("1. Sign in to the Google account")
    assert google["exposure"] == "world-readable" and google["owner_strength"] == "strong"
    assert int(google["age_days"]) > 365
    _assert_no_code("\n".join(",".join(r.values()) for r in rows))


def test_csv_cells_cannot_become_formulas(tmp_path: Path, run_cli: Callable[..., CliRun]) -> None:
    finding = {"rule_id": "r", "service": "=HYPERLINK(\"http://x\")", "severity": "high",
               "confidence": "high", "path": "@SUM(A1)", "fingerprint": "f" * 40}
    report = tmp_path / "r.json"
    report.write_text(json.dumps({"findings": [finding]}))
    rows = list(csv.reader(io.StringIO(_report(tmp_path, run_cli, report, "csv"))))
    cells = rows[1]
    assert "'=HYPERLINK(\"http://x\")" in cells
    assert all(not c.startswith(("=", "@", "+", "-")) for c in cells)


def test_report_reads_what_show_secrets_wrote_without_printing_codes(
        tmp_path: Path, run_cli: Callable[..., CliRun]) -> None:
    root = build_share(tmp_path / "tree")
    res = run_cli("scan", "--format", "json", "--jobs", "1", "--show-secrets", str(root))
    assert GOOGLE[0] in res.stdout  # the saved report holds codes in full...
    report = tmp_path / "secrets.json"
    report.write_text(res.stdout)
    for fmt in ("markdown", "csv", "html"):
        _assert_no_code(_report(tmp_path, run_cli, report, fmt))  # ...the renderings never


@pytest.mark.parametrize(("content", "reason"), [
    (b"{not json", "invalid JSON"),
    (b'{"findings": 3}', "not an mfaleaks JSON report"),
    (b'{"findings": [{"rule_id": "x"}]}', "finding 1 lacks service"),
    (b'{"findings": [{"rule_id": "x", "service": "s", "severity": "awful", "confidence": "high",'
     b' "path": "p", "fingerprint": "f"}]}', "finding 1: 'awful' is not a valid Severity"),
    (b"\xff\xfe\x00", "codec can't decode"),
])
def test_bad_report_is_one_line_and_exit_2(tmp_path: Path, run_cli: Callable[..., CliRun],
                                           content: bytes, reason: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    res = run_cli("report", str(bad), "--format", "markdown")
    assert res.exit_code == 2
    assert reason in res.stderr and res.stderr.count("\n") == 1 and res.stdout == ""


def test_missing_report_file_exit_2(tmp_path: Path, run_cli: Callable[..., CliRun]) -> None:
    res = run_cli("report", str(tmp_path / "nope.json"))
    assert res.exit_code == 2 and "No such file" in res.stderr and res.stderr.count("\n") == 1


def test_jsonl_report_renders_too(tmp_path: Path, run_cli: Callable[..., CliRun]) -> None:
    root = build_share(tmp_path / "tree")
    res = run_cli("scan", "--format", "jsonl", "--jobs", "1", str(root))
    report = tmp_path / "r.jsonl"
    report.write_text(res.stdout)
    rows: list[dict[str, Any]] = list(csv.DictReader(io.StringIO(
        _report(tmp_path, run_cli, report, "csv"))))
    assert len(rows) == 3 and rows[0]["service"] == "google"


def test_odd_values_in_a_saved_report_do_not_break_rendering(
        tmp_path: Path, run_cli: Callable[..., CliRun]) -> None:
    finding = {"rule_id": "r", "service": "s", "severity": "high", "confidence": "low",
               "path": "/p.png", "fingerprint": "0" * 40, "bbox": "x", "line": "7",
               "redacted": None, "count": "ten", "source": "ocr",
               "meta": {"file_mode": "rw-r--r--", "file_mtime": "yesterday", "date": None,
                        "recipients": "not an address", "file_size": 3}}
    report = tmp_path / "odd.json"
    report.write_text(json.dumps({"findings": [finding], "stats": "none"}))
    for fmt in ("html", "markdown", "csv"):
        res = run_cli("report", str(report), "--format", fmt)
        assert res.exit_code == 0, res.stderr
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert rows[0]["exposure"] == "unknown" and rows[0]["age_days"] == ""
