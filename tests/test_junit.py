"""`--format junit`: a test report CI servers can show; codes stay masked."""

from __future__ import annotations

import os
import random
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

from conftest import CliRun
from gen_ci import every_code, github_codes, github_file


def junit(run_cli: Callable[..., CliRun], *args: str) -> tuple[int, str, ET.Element]:
    res = run_cli("scan", "--format", "junit", "--jobs", "1", *args)
    assert res.exit_code in (0, 1), res.stderr
    assert res.stdout.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return res.exit_code, res.stdout, ET.fromstring(res.stdout)


def test_findings_fail_and_unreadable_files_skip(tmp_path: Path,
                                                  run_cli: Callable[..., CliRun]) -> None:
    codes = github_codes(random.Random(11))
    (tmp_path / "github-recovery-codes.txt").write_bytes(github_file(codes))
    # A name XML 1.0 cannot carry: the report must still parse.
    (tmp_path / "odd\x1bname.txt").write_text("see\n" + "\n".join(codes[:8]) + "\nrecovery codes\n")
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "notes.txt").write_text("milk, bread\n")
    code, out, root = junit(run_cli, "--show-secrets", str(tmp_path))
    assert code == 1
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    failed = [c for c in cases if c.find("failure") is not None]
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert len(failed) == 2 and len(skipped) == 1
    assert suite.get("failures") == root.get("failures") == "2"
    assert suite.get("skipped") == "1" and suite.get("tests") == "3"
    gh = next(c for c in failed if c.get("classname") == "github-recovery-codes"
              and c.get("file", "").endswith("github-recovery-codes.txt"))
    failure = gh.find("failure")
    assert failure is not None and failure.text is not None
    assert gh.get("line") == "1"
    assert "GitHub recovery codes: 16 code(s)" in failure.get("message", "")
    assert "fix: " in failure.text and "codes (masked): " in failure.text
    assert "\ufffd" in out  # the escape character was replaced, not copied
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["codes"] == "masked" and props["files"] == "3"
    for c in every_code(codes):  # masked even with --show-secrets
        assert c not in out


def test_no_findings_is_one_passing_case(tmp_path: Path, run_cli: Callable[..., CliRun]) -> None:
    (tmp_path / "notes.txt").write_text("milk, bread\n")
    code, _, root = junit(run_cli, str(tmp_path))
    assert code == 0
    cases = root.findall("testsuite/testcase")
    assert len(cases) == 1 and list(cases[0]) == []
    assert root.get("tests") == "1" and root.get("failures") == "0"
