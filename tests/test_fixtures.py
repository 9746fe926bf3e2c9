"""The demo share: every planted positive is found with the right service, no
hard negative reaches medium, and no finding is unexplained.

Also regenerates the share into a temporary folder and checks that the
committed fixtures/ match the generator (so nobody edits fixtures by hand).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import REPO

FIXTURES = REPO / "fixtures"


def _match(expect: dict[str, Any], finding: dict[str, Any], root: Path) -> bool:
    rel = Path(finding["path"]).relative_to(root).as_posix()
    if rel != expect["path"] or finding["service"] != expect["service"]:
        return False
    return expect.get("member") is None or expect["member"] in (finding["member"] or "")


def measure(root: Path, report: dict[str, Any]) -> tuple[list[Any], list[Any], list[Any]]:
    expected = json.loads((root / "expected.json").read_text())
    positives = [e for e in expected if e["service"]]
    negatives = {e["path"] for e in expected if not e["service"]}
    findings = report["findings"]
    missed = [e for e in positives if not any(_match(e, f, root) for f in findings)]
    unexplained = [f for f in findings if not any(_match(e, f, root) for e in positives)]
    on_negatives = [f for f in findings
                    if Path(f["path"]).relative_to(root).as_posix() in negatives]
    return missed, unexplained, on_negatives


def test_demo_share_precision_and_recall(scan_json: Callable[..., dict[str, Any]]) -> None:
    report = scan_json(str(FIXTURES))
    missed, unexplained, on_negatives = measure(FIXTURES, report)
    expected = json.loads((FIXTURES / "expected.json").read_text())
    positives = sum(1 for e in expected if e["service"])
    found = positives - len(missed)
    precision = (len(report["findings"]) - len(unexplained)) / max(1, len(report["findings"]))
    print(f"\nfixtures: recall {found}/{positives}, precision {precision:.3f}, "
          f"{len(report['findings'])} findings, {len(report['errors'])} errors")
    assert not missed, missed
    assert not on_negatives, on_negatives
    assert not unexplained, unexplained


def test_committed_fixtures_match_the_generator(tmp_path: Path) -> None:
    out = tmp_path / "fx"
    subprocess.run([sys.executable, str(REPO / "scripts" / "make_fixtures.py"), str(out)],
                   check=True, capture_output=True)
    assert json.loads((out / "expected.json").read_text()) == json.loads(
        (FIXTURES / "expected.json").read_text())
    generated = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    committed = sorted(p.relative_to(FIXTURES).as_posix() for p in FIXTURES.rglob("*")
                       if p.is_file())
    assert generated == committed
