"""HTML files: markup removed, line structure kept."""

from __future__ import annotations

from collections.abc import Iterator

from mfaleaks.extract.base import Context, Item, read_capped
from mfaleaks.models import Source, TextChunk
from mfaleaks.sources.decode import decode_bytes
from mfaleaks.sources.htmltext import html_to_text

MAX_HTML = 64 * 1024 * 1024


def extract_html(source: Source, ctx: Context) -> Iterator[Item]:
    raw, cut = read_capped(source, MAX_HTML, "HTML")
    if cut is not None:
        yield cut
    yield TextChunk(text=html_to_text(decode_bytes(raw)), source="html", line=None)
