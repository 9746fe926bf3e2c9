"""The human report: one table per service and a summary, via rich."""

from __future__ import annotations

import io
from itertools import groupby

from rich.console import Console
from rich.table import Table

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
            table.add_row(f.path, f.member or "", line, f.confidence.value, str(f.count), codes)
        console.print(table)
        console.print(f"  fix: {items[0].remediation}", soft_wrap=True)
        console.print()
    if result.errors:
        console.print(f"Not scanned or partly scanned ({len(result.errors)}):")
        for e in result.errors:
            where = f"{e.path} :: {e.member}" if e.member else e.path
            console.print(f"  {where}: {e.reason}", soft_wrap=True)
        console.print()
    for notice in result.notices:
        console.print(f"note: {notice}", soft_wrap=True)
    s = result.stats
    services = len({f.service for f in result.findings})
    console.print(
        f"{len(result.findings)} finding(s) in {services} service(s); "
        f"{s.files} file(s), {s.bytes / 1e6:.1f} MB scanned in {s.seconds:.2f} s; "
        f"{s.skipped} skipped" + ("; INCOMPLETE" if result.incomplete else "")
    )
    return buf.getvalue()
