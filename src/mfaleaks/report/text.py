"""The human report: one table per service and a summary, via rich."""

from __future__ import annotations

import io
import re
from itertools import groupby

from rich.console import Console
from rich.table import Table
from rich.text import Text

from mfaleaks.models import ScanResult


def render(result: ScanResult, *, color: bool = False, width: int = 120) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=color, no_color=not color,
                      highlight=False, soft_wrap=False)
    findings = sorted(result.findings, key=lambda f: (f.service, f.path, f.member or ""))
    for service, group in groupby(findings, key=lambda f: f.service):
        items = list(group)
        table = Table(title=f"{service}: {items[0].title}" if len(
            {f.rule_id for f in items}) == 1 else service, title_justify="left", expand=False)
        for col in ("path", "member", "line", "confidence", "count", "codes (masked)"):
            table.add_column(col, overflow="fold")
        for f in items:
            codes = ", ".join(f.secrets if f.secrets is not None else f.redacted)
            line = str(f.line) if f.line is not None else (f.location or "")
            table.add_row(_inert(f.path), _inert(f.member or ""), _inert(line),
                          f.confidence.value, str(f.count), _inert(codes))
        console.print(table)
        console.print(_inert(f"  fix: {items[0].remediation}"), soft_wrap=True)
        console.print()
    if result.errors:
        console.print(f"Not scanned or partly scanned ({len(result.errors)}):")
        for e in result.errors:
            where = f"{e.path} :: {e.member}" if e.member else e.path
            console.print(_inert(f"  {where}: {e.reason}"), soft_wrap=True)
        console.print()
    for notice in result.notices:
        console.print(_inert(f"note: {notice}"), soft_wrap=True)
    s = result.stats
    services = len({f.service for f in result.findings})
    console.print(
        f"{len(result.findings)} finding(s) in {services} service(s); "
        f"{s.files} file(s), {s.bytes / 1e6:.1f} MB scanned in {s.seconds:.2f} s; "
        f"{s.skipped} skipped" + ("; INCOMPLETE" if result.incomplete else "")
    )
    return buf.getvalue()


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _inert(text: str) -> Text:
    """Text from the scanned tree (names, members, reasons) shown as it is: not read as
    rich markup (a member named "x[/]y" crashed the report) and with control
    characters escaped (a file name can hold a terminal escape sequence)."""
    return Text(_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text))
