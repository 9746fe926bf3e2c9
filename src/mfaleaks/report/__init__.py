"""Renderers: pure functions from a ScanResult to text. None filters or sorts."""

from __future__ import annotations

from typing import assert_never

from mfaleaks.config import Format
from mfaleaks.models import ScanResult


def render(result: ScanResult, fmt: Format, *, color: bool = False) -> str:
    # Each renderer is imported when asked for: the text one brings rich (~25 ms of start-up).
    if fmt is Format.TEXT:
        from mfaleaks.report import text as text_report

        return text_report.render(result, color=color)
    if fmt is Format.JSON or fmt is Format.JSONL:
        from mfaleaks.report import json as json_report

        if fmt is Format.JSON:
            return json_report.render(result)
        return json_report.render_lines(result)
    if fmt is Format.SARIF:
        from mfaleaks.report import sarif as sarif_report

        return sarif_report.render(result)
    if fmt is Format.JUNIT:
        from mfaleaks.report import junit as junit_report

        return junit_report.render(result)
    assert_never(fmt)
