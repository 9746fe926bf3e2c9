"""The README, docs/ and the rule-list snapshot stay in step with the code.

The option reference lives in docs/configuration.md, the README links to it.
A rule change shows up in review as a change of tests/snapshots/rules-list.txt;
regenerate it with `mfaleaks rules list --plain > tests/snapshots/rules-list.txt`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from conftest import REPO, CliRun
from mfaleaks.cli.command import cli


def test_docs_document_every_scan_option() -> None:
    reference = (REPO / "docs" / "configuration.md").read_text()
    # Only the option table counts: a flag named in passing is not documented.
    table = "\n".join(line for line in reference.splitlines() if line.startswith("| `-"))
    scan = cli.commands["scan"]
    missing = [
        opt for param in scan.params for opt in param.opts
        if opt.startswith("--") and opt not in ("--help",) and opt not in table
    ]
    assert not missing, f"the option table of docs/configuration.md does not mention {missing}"
    assert "(docs/configuration.md)" in (REPO / "README.md").read_text()


def test_readme_links_every_docs_page() -> None:
    readme = (REPO / "README.md").read_text()
    linked = set(re.findall(r"\]\((docs/[\w.-]+\.md)\)", readme))
    pages = {f"docs/{page.name}" for page in (REPO / "docs").glob("*.md")}
    assert linked <= pages, f"README.md links to missing pages {sorted(linked - pages)}"
    assert pages <= linked, f"README.md does not link {sorted(pages - linked)}"
    for page in (REPO / "docs").glob("*.md"):
        targets = re.findall(r"\]\(([\w./-]+\.md)(?:#[\w-]*)?\)", page.read_text())
        broken = [t for t in targets if not (page.parent / t).is_file()]
        assert not broken, f"{page.name} links to missing pages {broken}"


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
