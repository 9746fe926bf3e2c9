"""Inline allow markers: a marker on the codes or on the line above suppresses that cluster."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gen_ci import every_code, github_codes, google_codes, google_text
from mfaleaks.detect.inline import MARKERS, allow_marker

ScanJson = Callable[..., dict[str, Any]]


HEADING = "GitHub recovery codes\n"


def codes_block(seed: int) -> tuple[list[str], str]:
    """Eight codes, one a line (the heading goes above any marker line)."""
    codes = github_codes(random.Random(seed), 8)
    return codes, "\n".join(codes) + "\n"


@pytest.mark.parametrize("comment", [
    "# mfaleaks:allow test fixture",
    "// gitleaks:allow",
    "# pragma: allowlist secret",
    "# pragma: allowlist nextline secret",
    "<!-- trufflehog:ignore -->",
    "# ggignore",
    "# MFALEAKS: ALLOW",
])
def test_marker_on_the_line_above_suppresses(comment: str, tmp_path: Path,
                                             scan_json: ScanJson) -> None:
    codes, block = codes_block(1)
    (tmp_path / "fixtures.txt").write_text(f"intro\n{HEADING}{comment}\n{block}")
    report = scan_json(str(tmp_path))
    assert report["findings"] == []
    assert report["stats"]["suppressed"] == 1
    assert report["stats"]["suppressed_by"] == {"inline": 1}
    (hidden,) = report["suppressed"]
    assert hidden["suppressed"].startswith("inline: marked '")
    assert hidden["allow_marker"] in {name for name, _ in MARKERS}
    for c in every_code(codes):
        assert c not in str(report)


def test_marker_on_a_code_line_suppresses(tmp_path: Path, scan_json: ScanJson) -> None:
    codes = github_codes(random.Random(2), 8)
    lines = [*codes[:4], f"{codes[4]}  # gitleaks:allow", *codes[5:]]
    (tmp_path / "fixtures.txt").write_text(HEADING + "\n".join(lines) + "\n")
    report = scan_json(str(tmp_path))
    assert report["findings"] == [] and report["suppressed"][0]["allow_marker"] == "gitleaks:allow"


def test_marker_elsewhere_does_not_suppress(tmp_path: Path, scan_json: ScanJson) -> None:
    """Two lines above, below the codes, or the `nosec` of code linters: still reported."""
    _, block = codes_block(3)
    (tmp_path / "two-above.txt").write_text(f"# mfaleaks:allow\n{HEADING}{block}")
    (tmp_path / "below.txt").write_text(f"{HEADING}{block}\nnothing here\n# mfaleaks:allow\n")
    (tmp_path / "nosec.txt").write_text(f"{HEADING}# nosec\n{block}")
    report = scan_json(str(tmp_path))
    assert sorted(Path(f["path"]).name for f in report["findings"]) == [
        "below.txt", "nosec.txt", "two-above.txt"]
    assert report["stats"]["suppressed"] == 0


def test_marker_covers_only_its_own_cluster(tmp_path: Path, scan_json: ScanJson) -> None:
    _, block = codes_block(4)
    g = google_codes(random.Random(4))
    text = f"{HEADING}# gitleaks:allow\n{block}\n\n\n" + google_text(g)
    (tmp_path / "both.txt").write_text(text)
    report = scan_json(str(tmp_path))
    assert [f["service"] for f in report["findings"]] == ["google"]
    assert [f["service"] for f in report["suppressed"]] == ["github"]


def test_no_inline_allow_audits_marked_findings(tmp_path: Path, scan_json: ScanJson) -> None:
    _, block = codes_block(5)
    (tmp_path / "fixtures.txt").write_text(f"{HEADING}# mfaleaks:allow\n{block}")
    report = scan_json("--no-inline-allow", str(tmp_path))
    (finding,) = report["findings"]
    assert finding["allow_marker"] == "mfaleaks:allow"
    assert "inline marker 'mfaleaks:allow' ignored (--no-inline-allow)" in finding["evidence"]
    assert report["stats"]["suppressed"] == 0


def test_inline_marker_inside_an_archive(tmp_path: Path, scan_json: ScanJson) -> None:
    """Markers are read from extracted text, so they work inside containers too."""
    import zipfile

    _, block = codes_block(6)
    with zipfile.ZipFile(tmp_path / "docs.zip", "w") as z:
        z.writestr("docs/example-codes.txt", f"{HEADING}# mfaleaks:allow sample\n{block}")
        z.writestr("docs/real-codes.txt", HEADING + codes_block(7)[1])
    report = scan_json(str(tmp_path))
    assert [f["member"] for f in report["findings"]] == ["docs/real-codes.txt"]
    assert [f["member"] for f in report["suppressed"]] == ["docs/example-codes.txt"]


@pytest.mark.parametrize(("text", "span", "expected"), [
    ("a1\nb2 gitleaks:allow\nc3\n", "b2", "gitleaks:allow"),
    ("gitleaks:allow\nb2\nc3\n", "b2", "gitleaks:allow"),
    ("gitleaks:allow\nx\nb2\n", "b2", None),
    ("b2\ngitleaks:allow\n", "b2", None),
    ("b2 c3", "b2", None),
    ("b2 # Pragma: AllowList Secret", "b2", "pragma: allowlist secret"),
    ("noggignore here\nb2", "b2", None),
])
def test_allow_marker_window(text: str, span: str, expected: str | None) -> None:
    start = text.index(span)
    assert allow_marker(text, start, start + len(span)) == expected
