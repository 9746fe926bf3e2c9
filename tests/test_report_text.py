"""The text report's plain lines (skipped files, notices, summary) are written without
rich; rich itself is the oracle for what they must look like."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from rich.console import Console
from rich.text import Text

from mfaleaks.models import ScanError, ScanResult, Stats
from mfaleaks.report.text import escaped, render

NAMES = [
    "plain.txt",
    "x[/]y [bold]not markup[/bold].txt",
    "esc\x1b[31mred\x1b[0m\x07.txt",
    "tab\tand\nnewline\r.txt",
    "c1 \x85\x9b controls.txt",
    ":smile: emoji-like :thumbs_up:.txt",
    "wide 日本語 ファイル.txt",
    "a" * 300,  # longer than the width: written whole, as soft_wrap did
]


def through_rich(result: ScanResult, color: bool) -> str:
    """The plain part of the report as rich printed it before (one print per line)."""
    buf = io.StringIO()
    console = Console(file=buf, width=120, force_terminal=color, no_color=not color,
                      highlight=False, soft_wrap=False)
    if result.errors:
        console.print(f"Not scanned or partly scanned ({len(result.errors)}):")
        for e in result.errors:
            where = f"{e.path} :: {e.member}" if e.member else e.path
            console.print(Text(escaped(f"  {where}: {e.reason}")), soft_wrap=True)
        console.print()
    for notice in result.notices:
        console.print(Text(escaped(f"note: {notice}")), soft_wrap=True)
    s = result.stats
    console.print(f"0 finding(s) in 0 service(s); {s.files} file(s), {s.bytes / 1e6:.1f} MB "
                  f"scanned in {s.seconds:.2f} s; {s.skipped} skipped"
                  + ("; INCOMPLETE" if result.incomplete else ""))
    return buf.getvalue()


@pytest.mark.parametrize("color", [False, True])
@pytest.mark.parametrize("incomplete", [False, True])
def test_plain_lines_match_what_rich_printed(color: bool, incomplete: bool) -> None:
    errors = [ScanError(path=f"/share/{n}", member=None if i % 2 else f"member {n}",
                        reason=f"cannot read {n}") for i, n in enumerate(NAMES)]
    result = ScanResult(errors=errors, stats=Stats(files=12, bytes=3_456_789, skipped=8,
                                                   seconds=0.5), incomplete=incomplete,
                        notices=["cache: 3 unchanged file(s) not read", NAMES[2], NAMES[1]])
    ours = render(result, color=color)
    assert ours == through_rich(result, color)
    assert "\x1b" not in ours and "\x07" not in ours and "\x9b" not in ours


def test_empty_report_is_the_summary_alone() -> None:
    result = ScanResult(stats=Stats(files=2, bytes=10, seconds=0.01))
    assert render(result) == through_rich(result, False)
    assert render(result).count("\n") == 1


def test_a_report_without_findings_does_not_import_rich() -> None:
    code = (
        "import sys\n"
        "from mfaleaks.models import ScanError, ScanResult\n"
        "from mfaleaks.report.text import render\n"
        "out = render(ScanResult(errors=[ScanError('/a', None, 'unreadable')]))\n"
        "assert 'unreadable' in out, out\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'rich'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"
