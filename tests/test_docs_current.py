"""The README and the rule-list snapshot stay in step with the code.

A rule change shows up in review as a change of tests/snapshots/rules-list.txt;
regenerate it with `mfaleaks rules list --plain > tests/snapshots/rules-list.txt`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from conftest import REPO, CliRun
from mfaleaks.cli.command import cli


def test_readme_documents_every_scan_option() -> None:
    readme = (REPO / "README.md").read_text()
    scan = cli.commands["scan"]  # type: ignore[attr-defined]
    missing = [
        opt for param in scan.params for opt in param.opts
        if opt.startswith("--") and opt not in ("--help",) and opt not in readme
    ]
    assert not missing, f"README.md does not mention {missing}"


def test_readme_quick_start_is_two_commands() -> None:
    readme = (REPO / "README.md").read_text()
    block = readme.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make demo", "make test"]
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_rules_list_snapshot(run_cli: Callable[..., CliRun]) -> None:
    res = run_cli("rules", "list", "--plain")
    assert res.exit_code == 0
    snapshot = (REPO / "tests" / "snapshots" / "rules-list.txt").read_text()
    assert res.stdout == snapshot, (
        "rule pack changed: review and regenerate tests/snapshots/rules-list.txt"
    )
    assert len(re.findall(r"^\S+\t", snapshot, re.M)) >= 20
