"""The demo share: every planted positive is found with the right service, no
hard negative reaches medium, and no finding is unexplained.

Also regenerates the share into a temporary folder and checks that the
committed fixtures/ match the generator (so nobody edits fixtures by hand).
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import REPO, invoke

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


@functools.cache
def _demo_report() -> dict[str, Any]:
    """One scan of the demo share (with OCR) for every test of this module."""
    res = invoke("scan", "--format", "json", "--jobs", "1", str(FIXTURES))
    assert res.exit_code in (0, 1), res.stderr
    return res.report


def test_demo_share_precision_and_recall() -> None:
    report = _demo_report()
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
    # The generator pins every date it would stamp, so the bytes must be the same too.
    edited = [name for name in committed
              if (out / name).read_bytes() != (FIXTURES / name).read_bytes()]
    assert not edited, f"fixtures differ from scripts/make_fixtures.py: {edited}"


def per_class(root: Path, report: dict[str, Any]) -> dict[str, dict[str, tuple[int, int]]]:
    """Per class of the precision cases (issue 21): recall, precision and attribution.

    recall: positives with a finding of the expected service / positives;
    precision: findings on the class's files that a positive expects / all of them;
    attribution: findings on positives naming the expected service / findings on positives.
    """
    expected = [e for e in json.loads((root / "expected.json").read_text()) if e.get("class")]
    out: dict[str, dict[str, tuple[int, int]]] = {}
    for cls in sorted({e["class"] for e in expected}):
        mine = [e for e in expected if e["class"] == cls]
        paths = {e["path"] for e in mine}
        found = [f for f in report["findings"]
                 if Path(f["path"]).relative_to(root).as_posix() in paths]
        positives = [e for e in mine if e["service"]]
        pos_paths = {e["path"] for e in positives}
        on_pos = [f for f in found if Path(f["path"]).relative_to(root).as_posix() in pos_paths]
        out[cls] = {
            "recall": (sum(1 for e in positives if any(_match(e, f, root) for f in found)),
                       len(positives)),
            "precision": (sum(1 for f in found if any(_match(e, f, root) for e in positives)),
                          len(found)),
            "attribution": (sum(1 for f in on_pos if any(_match(e, f, root) for e in positives)),
                            len(on_pos)),
        }
    return out


def test_precision_classes_recall_precision_attribution() -> None:
    """Issue 21's classes: every planted positive found and named, no look-alike reported,
    and >= 95% of the findings on positives name the right service."""
    stats = per_class(FIXTURES, _demo_report())
    assert set(stats) == {"attribution", "devdocs", "exports", "logs", "tables", "wrapped"}
    for cls, figures in stats.items():
        print(f"\n{cls:12}" + "  ".join(f"{k} {a}/{b}" for k, (a, b) in figures.items()), end="")
        got, of = figures["recall"]
        assert got == of, (cls, figures)
        got, of = figures["precision"]
        assert got == of, (cls, figures)
        got, of = figures["attribution"]
        assert got >= 0.95 * of, (cls, figures)
