"""Renderers: pure functions from a ScanResult to text. None filters or sorts."""

from __future__ import annotations

from typing import assert_never

from mfaleaks.config import Format
from mfaleaks.models import ScanResult
from mfaleaks.report import json as json_report
from mfaleaks.report import junit as junit_report
from mfaleaks.report import sarif as sarif_report
from mfaleaks.report import text as text_report


def render(result: ScanResult, fmt: Format, *, color: bool = False) -> str:
    if fmt is Format.TEXT:
        return text_report.render(result, color=color)
    if fmt is Format.JSON:
        return json_report.render(result)
    if fmt is Format.JSONL:
        return json_report.render_lines(result)
    if fmt is Format.SARIF:
        return sarif_report.render(result)
    if fmt is Format.JUNIT:
        return junit_report.render(result)
    assert_never(fmt)
