"""End-to-end runs of the real CLI: findings, services, masking, exit codes."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import CliRun
from sample_codes import GITHUB, GOOGLE


def google_text() -> str:
    rows = [f"{i + 1}. {GOOGLE[i]}    {i + 6}. {GOOGLE[i + 5]}" for i in range(5)]
    return ("SAVE YOUR BACKUP CODES\nKeep these backup codes somewhere safe but accessible.\n\n"
            + "\n".join(rows) + "\n\n(jdoe@gmail.com)\n* You can only use each backup code once.\n")


@pytest.fixture
def share(tmp_path: Path) -> Path:
    root = tmp_path / "share"
    (root / "jdoe").mkdir(parents=True)
    (root / "jdoe" / "github-recovery-codes.txt").write_bytes(
        ("\r\n".join(GITHUB) + "\r\n").encode())
    (root / "jdoe" / "Backup-codes-jdoe.txt").write_text(google_text())
    (root / "notes.txt").write_text("Shopping: milk, bread\nCall Anna at 10:30\n")
    return root


def test_finds_services_and_masks_codes(share: Path, run_cli: Callable[..., CliRun]) -> None:
    res = run_cli("scan", "--format", "json", "--jobs", "1", str(share))
    assert res.exit_code == 1
    report = res.report
    by_service = {f["service"]: f for f in report["findings"]}
    assert set(by_service) == {"github", "google"}
    gh, g = by_service["github"], by_service["google"]
    assert gh["count"] == 16 and gh["confidence"] == "high" and gh["line"] == 1
    assert g["count"] == 10 and g["rule_id"] == "google-backup-codes"
    assert g["redacted"][0] == "53•• ••••"
    assert "secrets" not in g
    for code in GITHUB + GOOGLE:
        assert code not in res.stdout and code.replace(" ", "") not in res.stdout
    assert report["stats"]["files"] == 3
    assert report["tool"]["name"] == "mfaleaks"
    assert len(gh["fingerprint"]) >= 32


def test_show_secrets_prints_codes(share: Path, run_cli: Callable[..., CliRun]) -> None:
    res = run_cli("scan", "--format", "json", "--jobs", "1", "--show-secrets", str(share))
    gh = next(f for f in res.report["findings"] if f["service"] == "github")
    assert gh["secrets"] == GITHUB


def test_text_format_groups_by_service(share: Path, run_cli: Callable[..., CliRun]) -> None:
    res = run_cli("scan", "--jobs", "1", str(share))
    assert res.exit_code == 1
    assert "GitHub recovery codes" in res.stdout and "Google backup codes" in res.stdout
    assert "2 finding(s) in 2 service(s)" in res.stdout
    assert GITHUB[0] not in res.stdout


def test_jsonl_writes_one_finding_per_line(share: Path, run_cli: Callable[..., CliRun]) -> None:
    res = run_cli("scan", "--format", "jsonl", "--jobs", "1", str(share))
    lines = res.stdout.splitlines()
    assert len(lines) == 2
    assert {json.loads(line)["service"] for line in lines} == {"github", "google"}


def test_exit_codes(share: Path, tmp_path: Path, run_cli: Callable[..., CliRun]) -> None:
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "a.txt").write_text("nothing to see\n")
    assert run_cli("scan", "--jobs", "1", str(clean)).exit_code == 0
    assert run_cli("scan", "--jobs", "1", str(share)).exit_code == 1
    assert run_cli("scan", "--jobs", "1", "--exit-zero", str(share)).exit_code == 0
    assert run_cli("scan", "--jobs", "1", "--min-confidence", "bogus", str(share)).exit_code == 2
    assert run_cli("scan", "--no-such-flag", str(share)).exit_code == 2


def test_invalid_rule_file_exits_2_naming_file_and_field(
    share: Path, tmp_path: Path, run_cli: Callable[..., CliRun]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[rules]]\nid='x'\nservice='x'\ntitle='X'\nremediation='r'\nshapes=['nope']\n")
    res = run_cli("scan", "--jobs", "1", "--rules", str(bad), str(share))
    assert res.exit_code == 2
    assert str(bad) in res.stderr and "rules[x].shapes" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_output_file_is_private(
    share: Path, tmp_path: Path, run_cli: Callable[..., CliRun]
) -> None:
    out = tmp_path / "report.json"
    out.write_text("old")
    os.chmod(out, 0o644)
    res = run_cli("scan", "--format", "json", "--jobs", "1", "-o", str(out), str(share))
    assert res.exit_code == 1
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert len(json.loads(out.read_text())["findings"]) == 2


def test_output_to_a_pipe_leaves_its_mode(
    share: Path, tmp_path: Path, run_cli: Callable[..., CliRun]
) -> None:
    # -o /dev/null (a FIFO here, not the machine's device): written, never chmodded. As
    # root, chmod 0600 on /dev/null once locked every other user (and apt's gpgv) out.
    import threading

    fifo = tmp_path / "report.pipe"
    os.mkfifo(fifo, 0o666)
    os.chmod(fifo, 0o666)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    res = run_cli("scan", "--format", "json", "--jobs", "1", "-o", str(fifo), str(share))
    reader.join(60)
    assert res.exit_code == 1
    assert len(json.loads(got[0])["findings"]) == 2
    assert stat.S_IMODE(fifo.stat().st_mode) == 0o666


def test_stdin(run_cli: Callable[..., CliRun]) -> None:
    res = run_cli("scan", "--format", "json", "--jobs", "1", "-", input=google_text())
    assert res.exit_code == 1
    assert res.report["findings"][0]["path"] == "-"
    assert res.report["findings"][0]["service"] == "google"


def test_exclude_and_min_confidence(share: Path, run_cli: Callable[..., CliRun]) -> None:
    res = run_cli("scan", "--format", "json", "--jobs", "1", "--exclude", "github-*", str(share))
    assert {f["service"] for f in res.report["findings"]} == {"google"}
    res = run_cli("scan", "--format", "json", "--jobs", "1", "--min-confidence", "high",
                  str(share))
    assert all(f["confidence"] == "high" for f in res.report["findings"])


def test_unreadable_and_special_files_are_listed_not_fatal(
    share: Path, run_cli: Callable[..., CliRun]
) -> None:
    os.mkfifo(share / "pipe")
    (share / "link.txt").symlink_to(share / "notes.txt")
    locked = share / "locked.txt"
    locked.write_text("x")
    locked.chmod(0)
    try:
        res = run_cli("scan", "--format", "json", "--jobs", "1", str(share))
    finally:
        locked.chmod(0o600)
    assert res.exit_code == 1
    reasons = {Path(e["path"]).name: e["reason"] for e in res.report["errors"]}
    assert "FIFO" in reasons["pipe"]
    assert "symbolic link" in reasons["link.txt"]
    if os.geteuid() != 0:  # root reads everything
        assert "Permission denied" in reasons["locked.txt"]


def test_symlink_loop_with_follow(tmp_path: Path, run_cli: Callable[..., CliRun]) -> None:
    root = tmp_path / "loop"
    (root / "a").mkdir(parents=True)
    (root / "a" / "back").symlink_to(root)
    (root / "a" / "github-recovery-codes.txt").write_text("\n".join(GITHUB) + "\n")
    res = run_cli("scan", "--format", "json", "--jobs", "1", "--follow-symlinks", str(root))
    assert res.exit_code == 1
    assert len(res.report["findings"]) == 1
    assert any("loop" in e["reason"] for e in res.report["errors"])


def test_parallel_jobs_match_single_process(share: Path, run_cli: Callable[..., CliRun]) -> None:
    def key(report: dict[str, Any]) -> list[tuple[str, str]]:
        return sorted((f["path"], f["fingerprint"]) for f in report["findings"])

    one = run_cli("scan", "--format", "json", "--jobs", "1", str(share)).report
    two = run_cli("scan", "--format", "json", "--jobs", "2", str(share)).report
    assert key(one) == key(two) and len(key(one)) == 2


def test_rules_list_and_check(run_cli: Callable[..., CliRun]) -> None:
    res = run_cli("rules", "list")
    assert res.exit_code == 0 and "google-backup-codes" in res.stdout
    res = run_cli("rules", "check")
    assert res.exit_code == 0 and " 0 failures" in res.stdout


def test_rules_check_fails_on_bad_examples(tmp_path: Path, run_cli: Callable[..., CliRun]) -> None:
    bad = tmp_path / "r.toml"
    bad.write_text(
        "[shapes.six]\nkind='digits'\npattern='''\\d{6}'''\n[vocabulary]\nrecovery=['x']\n"
        "[[rules]]\nid='x'\nservice='x'\ntitle='X'\nremediation='r'\nshapes=['six']\n"
        "examples=['no code']\nnegative_examples=['n']\n")
    res = run_cli("rules", "check", str(bad))
    assert res.exit_code == 1 and "examples[0] is not found" in res.stdout


def test_missing_path_is_a_usage_error(tmp_path: Path, run_cli: Callable[..., CliRun]) -> None:
    res = run_cli("scan", "--jobs", "1", str(tmp_path / "no-such-folder"))
    assert res.exit_code == 2
    assert "no such file or folder" in res.stderr


def test_installed_command_flushes_and_exits_with_its_code(share: Path) -> None:
    """The console script leaves without the interpreter's teardown (cli._exit): the
    report must still be complete and the exit code kept."""
    import subprocess
    import sys

    command = Path(sys.executable).parent / "mfaleaks"
    done = subprocess.run([str(command), "scan", "--format", "json", str(share)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert {f["service"] for f in json.loads(done.stdout)["findings"]} == {"github", "google"}
    clean = subprocess.run([str(command), "scan", str(share / "notes.txt")],
                           capture_output=True, text=True, timeout=120)
    assert clean.returncode == 0, clean.stderr
