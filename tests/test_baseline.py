"""Baseline: record today's findings, then report only new ones; stale entries are listed."""

from __future__ import annotations

import json
import random
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import CliRun
from gen_ci import every_code, github_codes, github_file, google_codes, google_text


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    rng = random.Random(77)
    root = tmp_path / "share"
    (root / "jdoe").mkdir(parents=True)
    (root / "jdoe" / "github-recovery-codes.txt").write_bytes(github_file(github_codes(rng)))
    (root / "jdoe" / "notes.txt").write_text(google_text(google_codes(rng)))
    (root / "old").mkdir()
    (root / "old" / "github-recovery-codes (1).txt").write_bytes(github_file(github_codes(rng)))
    return root


def create(run_cli: Callable[..., CliRun], file: Path, *args: str) -> CliRun:
    res = run_cli("baseline", "create", str(file), "--jobs", "1", *args)
    assert res.exit_code == 0, res.stderr
    return res


def test_round_trip_reports_only_the_new_cluster(tree: Path, tmp_path: Path,
                                                 run_cli: Callable[..., CliRun]) -> None:
    base = tmp_path / "baseline.json"
    res = create(run_cli, base, str(tree))
    assert "baseline of 3 finding(s) written" in res.stderr
    before = run_cli("scan", "--format", "json", "--jobs", "1", str(tree)).report
    assert len(before["findings"]) == 3

    # A new cluster in an existing file; one old file is cleaned up.
    new_codes = github_codes(random.Random(5), 8)
    notes = tree / "jdoe" / "notes.txt"
    added = "\n\nGitHub recovery codes\n" + "\n".join(new_codes) + "\n"
    notes.write_text(notes.read_text() + added)
    gone = next(f["fingerprint"] for f in before["findings"] if "old" in f["path"])
    (tree / "old" / "github-recovery-codes (1).txt").unlink()

    res = run_cli("scan", "--format", "json", "--jobs", "1", "--baseline", str(base), str(tree))
    assert res.exit_code == 1
    report = res.report
    (new,) = report["findings"]
    assert new["path"].endswith("notes.txt") and new["service"] == "github" and new["count"] == 8
    assert report["stats"]["suppressed"] == 2
    assert report["stats"]["suppressed_by"] == {"baseline": 2}
    reasons = {f["suppressed"] for f in report["suppressed"]}
    assert reasons == {"baseline: in baseline baseline.json"}
    assert report["baseline_stale"] == [gone]
    assert any("1 baseline entry matched no finding" in n for n in report["notices"])

    # Text report: the new finding, and a note of what was hidden and what is stale.
    text = run_cli("scan", "--jobs", "1", "--baseline", str(base), str(tree)).stdout
    assert "1 finding(s)" in text and "2 finding(s) suppressed (baseline 2)" in text
    assert "1 baseline entry matched no finding" in text


def test_baseline_file_holds_fingerprints_only(tree: Path, tmp_path: Path,
                                               run_cli: Callable[..., CliRun]) -> None:
    base = tmp_path / "baseline.json"
    create(run_cli, base, "--quiet", str(tree))
    assert stat.S_IMODE(base.stat().st_mode) == 0o600
    text = base.read_text()
    doc = json.loads(text)
    assert set(doc) == {"mfaleaks_baseline", "findings"}
    fps = [e["fingerprint"] for e in doc["findings"]]
    assert fps == sorted(fps) and len(fps) == 3
    assert all(set(e) == {"fingerprint", "rule_id"} for e in doc["findings"])
    for name in ("github-recovery-codes.txt", "notes.txt", "jdoe", "\"line\""):
        assert name not in text
    rng = random.Random(77)  # the codes of the fixture, drawn again
    for c in every_code(github_codes(rng), google_codes(rng), github_codes(rng)):
        assert c not in text

    # No churn: an unrelated edit and a move give the same bytes.
    (tree / "jdoe" / "todo.txt").write_text("call the bank\n")
    (tree / "jdoe" / "github-recovery-codes.txt").rename(tree / "moved-codes.txt")
    create(run_cli, tmp_path / "again.json", "--quiet", str(tree))
    assert (tmp_path / "again.json").read_text() == text


def test_baseline_create_applies_the_config_but_not_its_baseline(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: Callable[..., CliRun],
) -> None:
    (tmp_path / ".mfaleaks.toml").write_text(
        'baseline = "mfaleaks-baseline.json"\nexclude = ["old"]\n')
    monkeypatch.chdir(tmp_path)
    create(run_cli, tmp_path / "mfaleaks-baseline.json", "--quiet", str(tree))
    assert len(json.loads((tmp_path / "mfaleaks-baseline.json").read_text())["findings"]) == 2
    # A later scan picks the baseline up from the config file.
    res = run_cli("scan", "--format", "json", "--jobs", "1", str(tree))
    assert res.exit_code == 0 and res.report["stats"]["suppressed"] == 2


@pytest.mark.parametrize(("content", "message"), [
    (None, "baseline file not found"),
    ("{not json", "baseline is not valid JSON"),
    ('{"findings": []}', "not an mfaleaks baseline"),
    ('{"mfaleaks_baseline": 1, "findings": [{"fingerprint": "d1371-c1714"}]}',
     "findings[0] has no valid fingerprint"),
])
def test_bad_baseline_is_a_usage_error(content: str | None, message: str, tree: Path,
                                       tmp_path: Path, run_cli: Callable[..., CliRun]) -> None:
    base = tmp_path / "b.json"
    if content is not None:
        base.write_text(content)
    res = run_cli("scan", "--jobs", "1", "--baseline", str(base), str(tree))
    assert res.exit_code == 2
    assert message in res.stderr and str(base) in res.stderr
