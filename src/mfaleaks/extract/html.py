"""HTML files: markup removed, line structure kept."""

from __future__ import annotations

from collections.abc import Iterator

from mfaleaks.decode import decode_bytes
from mfaleaks.extract.base import Context, Item
from mfaleaks.htmltext import html_to_text
from mfaleaks.models import Skip, Source, TextChunk

MAX_HTML = 64 * 1024 * 1024


def extract_html(source: Source, ctx: Context) -> Iterator[Item]:
    with source.open() as fh:
        raw = fh.read(MAX_HTML + 1)
    if len(raw) > MAX_HTML:
        yield Skip(f"HTML larger than {MAX_HTML // 2**20} MiB: only the first part was read")
        raw = raw[:MAX_HTML]
    yield TextChunk(text=html_to_text(decode_bytes(raw)), source="html", line=None)
