"""A progress display on stderr, only when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

from mfaleaks.models import FileResult

if TYPE_CHECKING:  # rich is imported only when there is a terminal to draw on
    from rich.live import Live
    from rich.text import Text


class ProgressDisplay:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.files = 0
        self.bytes = 0
        self.findings = 0
        self.start = time.perf_counter()
        self._live: Live | None = None

    def __enter__(self) -> ProgressDisplay:
        if self.enabled:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(self._render(""), console=Console(stderr=True),
                              refresh_per_second=8, transient=True)
            self._live.__enter__()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.__exit__(et, ev, tb)

    def callback(self) -> Callable[[FileResult], None] | None:
        """update, or None when nothing is drawn (no call per file then)."""
        return self.update if self.enabled else None

    def update(self, result: FileResult) -> None:
        self.files += result.files
        self.bytes += result.bytes
        self.findings += len(result.findings)
        if self._live is not None:
            self._live.update(self._render(result.path))

    def _render(self, path: str) -> Text:
        from rich.text import Text

        elapsed = max(time.perf_counter() - self.start, 1e-6)
        return Text(
            f"{self.files} files  {self.bytes / 1e6:.1f} MB  "
            f"{self.bytes / 1e6 / elapsed:.1f} MB/s  {self.findings} findings  {path[-60:]}"
        )
