"""The human report: one table per service (rich), then the files not scanned and a summary.

Only the tables go through rich. The lines after them are plain text written as
they are: a rescan of a clean share has no table, so it does not import rich at
all (~18 ms of a 110 ms rescan), and a long list of skipped files is not laid
out line by line by rich (~0.15 ms a line)."""

from __future__ import annotations

import re
from itertools import groupby
from typing import TYPE_CHECKING

from mfaleaks.models import Finding, ScanResult

if TYPE_CHECKING:
    from rich.text import Text


def render(result: ScanResult, *, color: bool = False, width: int = 120) -> str:
    parts: list[str] = []
    if result.findings:
        parts.append(_tables(result.findings, color=color, width=width))
    if result.errors:
        parts.append(f"Not scanned or partly scanned ({len(result.errors)}):\n")
        for e in result.errors:
            where = f"{e.path} :: {e.member}" if e.member else e.path
            parts.append(f"  {escaped(where)}: {escaped(e.reason)}\n")
        parts.append("\n")
    for notice in result.notices:
        parts.append(f"note: {escaped(notice)}\n")
    s = result.stats
    services = len({f.service for f in result.findings})
    parts.append(
        f"{len(result.findings)} finding(s) in {services} service(s); "
        f"{s.files} file(s), {s.bytes / 1e6:.1f} MB scanned in {s.seconds:.2f} s; "
        f"{s.skipped} skipped" + ("; INCOMPLETE" if result.incomplete else "") + "\n"
    )
    return "".join(parts)


def _tables(found: list[Finding], *, color: bool, width: int) -> str:
    import io

    from rich.console import Console
    from rich.table import Table

    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=color, no_color=not color,
                      highlight=False, soft_wrap=False)
    findings = sorted(found, key=lambda f: (f.service, f.path, f.member or ""))
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
    return buf.getvalue()


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def escaped(text: str) -> str:
    """Control characters written as \\xNN: a file name can hold a terminal escape."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _inert(text: str) -> Text:
    """Text from the scanned tree (names, members, reasons) shown as it is: not read as
    rich markup (a member named "x[/]y" crashed the report) and with control
    characters escaped."""
    from rich.text import Text

    return Text(escaped(text))
