"""Plain text: streamed in large blocks, decoded, cut at line boundaries.

A file is read in blocks of BLOCK bytes; each chunk ends at a paragraph break
(blank line) near the end of the block when there is one, else at a line end,
so a cluster of codes is rarely cut in two. Memory stays at a few blocks
whatever the file size, including a 1 GB file with no newline at all.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import BinaryIO

from mfaleaks.extract.base import Context, Item
from mfaleaks.models import Source, TextChunk
from mfaleaks.sources.decode import StreamDecoder, decode_bytes

BLOCK = 4 * 1024 * 1024
_TAIL = 256 * 1024  # how far back from a block's end to look for a clean cut
# A window of a big file (Source.part) is read with this much of the text on each side:
# a cluster that starts in it and ends less than this past its edge is found whole.
OVERLAP = 256 * 1024
_COUNT = 8 * 1024 * 1024  # block size for counting lines without reading them as text
LAST_LINE = 2**62  # the end of the lines owned by the last window (and by one not yet read)
HEADER = 65536  # the most of a file's first line a later chunk carries (TextChunk.header)


def extract_text(source: Source, ctx: Context) -> Iterator[Item]:
    yield from text_chunks(source, "text")


def text_chunks(source: Source, kind: str) -> Iterator[TextChunk]:
    if source.part is not None and source.data is None:
        yield from _window_chunks(source, kind, *source.part)
        return
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
        header: str | None = None
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
                yield TextChunk(text=text, source=kind, line=line, whole=whole and not nxt,
                                header=header)
                if header is None:
                    header = first_line(text)
                if nxt or pending:  # lines are counted only for a chunk that follows
                    line += text.count("\n")
            block = nxt
        if pending:
            yield TextChunk(text=pending, source=kind, line=line, whole=False, header=header)


def first_line(text: str) -> str:
    """A text's first line (at most HEADER characters of it), without its line end."""
    end = text.find("\n", 0, HEADER)
    return text[: end if end != -1 else HEADER].rstrip("\r")


def _cut_point(text: str) -> int:
    start = max(0, len(text) - _TAIL)
    para = text.rfind("\n\n", start)
    if para != -1:
        return para + 2
    nl = text.rfind("\n", start)
    if nl != -1:
        return nl + 1
    return len(text)


def _window_chunks(source: Source, kind: str, start: int, stop: int) -> Iterator[TextChunk]:
    """The chunks of bytes [start, stop) of a big file, each window reaching OVERLAP
    bytes further on both sides, cut at line starts. The chunks say which lines are
    the window's own (TextChunk.owned): those that start in [start, stop), so that
    every line, and every cluster by its first line, belongs to exactly one window.

    Lines are counted from the window's first line, not the file's: each window
    counting the lines before it read the file up to there again (1.5 GB more for
    four windows of 1 GB, a quarter of the CPU of the scan). The worker says how many
    lines of its own it had (FileResult.lines) and the main process puts the
    windows' findings back on the file's lines (plan.py). The end of its own lines
    is known once the window has read that far: a chunk before that owns to LAST_LINE
    (it holds no line past the end).

    Only text in an encoding where a newline is the byte 0x0A (UTF-8, CP-1252, ASCII)
    is split; a window of other text yields nothing but the first, which is the file.
    """
    with source.open() as fh:
        head = fh.read(BLOCK)
        decoder = StreamDecoder(head)
        if decoder.encoding not in ("utf-8", "cp1252"):
            if start == 0:
                yield from text_chunks(_whole(source), kind)
            return
        size = fh.seek(0, 2)
        begin = _line_start(fh, max(0, start - OVERLAP))
        first_owned = _line_start(fh, start)
        end_owned = _line_start(fh, stop) if stop < size else size
        end = _line_start(fh, min(size, stop + OVERLAP)) if stop < size else size
        line = 1  # (of the window)
        own_first = line + _newlines(fh, begin, first_owned)  # (at most OVERLAP bytes)
        own_end = LAST_LINE  # until the window has read up to end_owned
        at, newlines = begin, own_first - 1  # where the read is, and the lines before it
        owned = (own_first, own_end)
        # A window after the first carries the file's first line: a table's header.
        header = first_line(StreamDecoder(head).decode(head[:HEADER * 4], final=False)) \
            if begin > 0 else None
        if begin > 0:
            decoder.skip = 0  # a byte-order mark is only at the very start
        fh.seek(begin)
        left = end - begin
        pending = ""
        while left > 0:
            block = fh.read(min(BLOCK, left))
            if not block:
                break
            left -= len(block)
            if own_end == LAST_LINE and stop < size:  # (the last window owns to the end)
                # Its own lines in this block: from first_owned (those before were
                # counted above) up to end_owned, where they end.
                lo, hi = max(0, first_owned - at), min(len(block), end_owned - at)
                if hi > lo:
                    newlines += block.count(b"\n", lo, hi)
                if at + len(block) >= end_owned:
                    own_end = 1 + newlines
                    owned = (own_first, own_end)
            at += len(block)
            text = pending + decoder.decode(block, final=left <= 0)
            if left > 0:
                cut = _cut_point(text)
                text, pending = text[:cut], text[cut:]
            else:
                pending = ""
            if text:
                yield TextChunk(text=text, source=kind, line=line, whole=False, owned=owned,
                                header=header)
                if header is None:
                    header = first_line(text)
                line += text.count("\n")
        if pending:
            yield TextChunk(text=pending, source=kind, line=line, whole=False, owned=owned,
                            header=header)


def window_base(source: Source, start: int) -> int:
    """The lines of the file before the first line of its window that starts at `start`
    (_window_chunks counts from there), read here: for the main process, when a window
    before it did not finish (a time limit, a reader that died) and did not say how many
    lines it owns."""
    with source.open() as fh:
        return _newlines(fh, 0, _line_start(fh, max(0, start - OVERLAP)))


def _whole(source: Source) -> Source:
    return dataclasses.replace(source, part=None)


def _line_start(fh: BinaryIO, offset: int) -> int:
    """The first offset at or after `offset` where a line starts (or the file's end)."""
    if offset == 0:
        return 0
    fh.seek(offset - 1)
    pos = offset - 1
    while True:
        block = fh.read(64 * 1024)
        if not block:
            return pos
        nl = block.find(b"\n")
        if nl != -1:
            return pos + nl + 1
        pos += len(block)


def _newlines(fh: BinaryIO, start: int, stop: int) -> int:
    fh.seek(start)
    count = 0
    left = stop - start
    while left > 0:
        block = fh.read(min(_COUNT, left))
        if not block:
            break
        count += block.count(b"\n")
        left -= len(block)
    return count
