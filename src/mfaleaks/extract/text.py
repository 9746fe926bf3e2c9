"""Plain text: streamed in large blocks, decoded, cut at line boundaries.

A file is read in blocks of BLOCK bytes; each chunk ends at a paragraph break
(blank line) near the end of the block when there is one, else at a line end,
so a cluster of codes is rarely cut in two. Memory stays at a few blocks
whatever the file size, including a 1 GB file with no newline at all.
"""

from __future__ import annotations

from collections.abc import Iterator

from mfaleaks.extract.base import Context, Item
from mfaleaks.models import Source, TextChunk
from mfaleaks.sources.decode import StreamDecoder, decode_bytes

BLOCK = 4 * 1024 * 1024
_TAIL = 256 * 1024  # how far back from a block's end to look for a clean cut


def extract_text(source: Source, ctx: Context) -> Iterator[Item]:
    yield from text_chunks(source, "text")


def text_chunks(source: Source, kind: str) -> Iterator[TextChunk]:
    if source.data is not None and len(source.data) <= BLOCK:
        # Already in memory and one block: what the loop below gives, without the
        # stream, the incremental decoder and the cutting (most files of a share).
        text = decode_bytes(source.data)
        if text:
            yield TextChunk(text=text, source=kind, line=1, whole=True)
        return
    with source.open() as fh:
        first = fh.read(BLOCK)
        decoder = StreamDecoder(first)
        line = 1
        pending = ""
        block = first
        whole = True
        while block:
            nxt = fh.read(BLOCK)
            text = pending + decoder.decode(block, final=not nxt)
            if nxt:
                cut = _cut_point(text)
                text, pending = text[:cut], text[cut:]
                whole = False
            else:
                pending = ""
            if text:
                yield TextChunk(text=text, source=kind, line=line, whole=whole and not nxt)
                if nxt or pending:  # lines are counted only for a chunk that follows
                    line += text.count("\n")
            block = nxt
        if pending:
            yield TextChunk(text=pending, source=kind, line=line, whole=False)


def _cut_point(text: str) -> int:
    start = max(0, len(text) - _TAIL)
    para = text.rfind("\n\n", start)
    if para != -1:
        return para + 2
    nl = text.rfind("\n", start)
    if nl != -1:
        return nl + 1
    return len(text)
