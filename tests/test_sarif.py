"""`--format sarif`: SARIF 2.1.0 that validates, points at files and members, masks codes."""

from __future__ import annotations

import json
import os
import random
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from conftest import SHARED, CliRun
from gen_ci import every_code, github_codes, github_file, google_codes, google_text

SCHEMA = SHARED / "schemas" / "sarif-schema-2.1.0.json"
NO_SCHEMA = f"SARIF schema {SCHEMA} is absent (../shared is not beside the checkout)"


@pytest.fixture(scope="module")
def schema() -> jsonschema.Draft7Validator | None:
    """The SARIF schema's validator, or None when ../shared is absent."""
    if not SCHEMA.is_file():
        return None
    doc = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(doc)
    return jsonschema.Draft7Validator(doc)


@pytest.fixture(scope="module")
def validator(schema: jsonschema.Draft7Validator | None) -> jsonschema.Draft7Validator:
    """For tests that are about the schema: they skip without it."""
    if schema is None:
        pytest.skip(NO_SCHEMA)
    return schema


def sarif(run_cli: Callable[..., CliRun], *args: str) -> tuple[int, str, dict[str, Any]]:
    res = run_cli("scan", "--format", "sarif", "--jobs", "1", *args)
    assert res.exit_code in (0, 1), res.stderr
    return res.exit_code, res.stdout, json.loads(res.stdout)


def assert_valid(validator: jsonschema.Draft7Validator, log: dict[str, Any]) -> None:
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[str], list[str]]:
    """A checkout with a codes file at the top and Google codes inside a zip."""
    rng = random.Random(61)
    gh, g = github_codes(rng), google_codes(rng)
    root = tmp_path / "repo"
    (root / "keys").mkdir(parents=True)
    (root / "keys" / "github-recovery-codes.txt").write_bytes(github_file(gh))
    with zipfile.ZipFile(root / "old backup.zip", "w") as z:
        z.writestr("phone/Backup-codes-jdoe.txt", google_text(g))
    (root / "notes.txt").write_text("Shopping: milk, bread\nCall Anna at 10:30\n")
    monkeypatch.chdir(root)
    return root, gh, g


def test_findings_validate_and_point_at_files_and_members(
    project: tuple[Path, list[str], list[str]], validator: jsonschema.Draft7Validator,
    run_cli: Callable[..., CliRun],
) -> None:
    _, gh, g = project
    code, out, log = sarif(run_cli, ".")
    assert code == 1
    assert_valid(validator, log)
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert ids == sorted(set(ids)) == ["github-recovery-codes", "google-backup-codes"]
    for rule in rules:
        assert "Remediation:" in rule["help"]["text"] and rule["help"]["markdown"]
        assert rule["shortDescription"]["text"] and rule["helpUri"].startswith("https://")
        assert float(rule["properties"]["security-severity"]) >= 7.0
    by_rule = {r["ruleId"]: r for r in run["results"]}
    assert set(by_rule) == set(ids)

    top = by_rule["github-recovery-codes"]
    assert ids[top["ruleIndex"]] == "github-recovery-codes"
    phys = top["locations"][0]["physicalLocation"]
    assert phys["artifactLocation"] == {"uri": "keys/github-recovery-codes.txt",
                                        "uriBaseId": "%SRCROOT%"}
    assert phys["region"] == {"startLine": 1}
    assert top["level"] == "error" and top["properties"]["count"] == 16

    member = by_rule["google-backup-codes"]
    phys = member["locations"][0]["physicalLocation"]
    assert phys["artifactLocation"]["uri"] == "old%20backup.zip"  # escaped, relative
    assert "region" not in phys  # the line counts lines of the member, not of the zip
    assert "phone/Backup-codes-jdoe.txt" in member["message"]["text"]
    assert member["properties"]["memberChain"] == ["phone/Backup-codes-jdoe.txt"]
    assert member["properties"]["memberLine"] >= 1

    report = run_cli("scan", "--format", "json", "--jobs", "1", ".").report
    fps = {f["rule_id"]: f["fingerprint"] for f in report["findings"]}
    for rid, result in by_rule.items():
        assert result["partialFingerprints"] == {"mfaleaks/v1": fps[rid]}
    for c in every_code(gh, g):
        assert c not in out


def test_no_findings_validates(tmp_path: Path, validator: jsonschema.Draft7Validator,
                               run_cli: Callable[..., CliRun]) -> None:
    (tmp_path / "notes.txt").write_text("Shopping: milk, bread\n")
    code, _, log = sarif(run_cli, str(tmp_path))
    assert code == 0
    assert_valid(validator, log)
    run = log["runs"][0]
    assert run["results"] == [] and run["tool"]["driver"]["rules"] == []
    assert run["invocations"][0]["executionSuccessful"] is True
    assert run["invocations"][0]["toolExecutionNotifications"] == []


def test_unreadable_files_are_notifications(
    tmp_path: Path, validator: jsonschema.Draft7Validator, run_cli: Callable[..., CliRun],
) -> None:
    (tmp_path / "big.txt").write_text("x" * 5000)
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    codes = github_codes(random.Random(2))
    (tmp_path / "github-recovery-codes.txt").write_bytes(github_file(codes))
    code, _, log = sarif(run_cli, "--max-file-size", "4k", str(tmp_path))
    assert code == 1
    assert_valid(validator, log)
    notes = log["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    warned = {n["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]: n
              for n in notes if n["level"] == "warning"}
    big, pipe = (tmp_path / "big.txt").as_uri(), (tmp_path / "pipe").as_uri()
    assert big in warned and pipe in warned
    assert "max-file-size" in warned[big]["message"]["text"]
    assert "pipe" in warned[pipe]["message"]["text"].lower()
    assert all(n["descriptor"]["id"] == "not-scanned" for n in warned.values())
    assert len(log["runs"][0]["results"]) == 1


def test_show_secrets_leaves_sarif_masked(
    tmp_path: Path, schema: jsonschema.Draft7Validator | None, run_cli: Callable[..., CliRun],
) -> None:
    """The masking is checked with or without ../shared; only validation needs the schema."""
    codes = github_codes(random.Random(3))
    (tmp_path / "github-recovery-codes.txt").write_bytes(github_file(codes))
    _, out, log = sarif(run_cli, "--show-secrets", str(tmp_path))
    if schema is None:
        print(f"\nschema validation skipped: {NO_SCHEMA}")
    else:
        assert_valid(schema, log)
    for c in every_code(codes):
        assert c not in out
    notes = log["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert any("stay masked" in n["message"]["text"] for n in notes)


def test_suppressed_findings_are_counted_not_reported(
    tmp_path: Path, validator: jsonschema.Draft7Validator, run_cli: Callable[..., CliRun],
) -> None:
    codes = github_codes(random.Random(4))
    text = "# test data, not real  gitleaks:allow\n" + "\n".join(codes) + "\n"
    (tmp_path / "fixture-codes.txt").write_text(text)
    code, _, log = sarif(run_cli, str(tmp_path))
    assert code == 0
    assert_valid(validator, log)
    run = log["runs"][0]
    assert run["results"] == []
    assert run["properties"]["suppressed"] == 1
    assert run["properties"]["suppressedBy"] == {"inline": 1}
