"""mbox files (Google Takeout, Thunderbird, Apple Mail, mutt), message by message.

The file is read in blocks and cut where a separator line starts. A separator
is a whole `From <addr> <date>` line as mbox writers produce it, not any line
starting with "From ": bodies hold unescaped "From here on..." lines, and
treating those as separators invents messages and cuts real ones in two.
Memory holds one block plus one message, whatever the size of the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from mfaleaks.extract.base import Context, Item
from mfaleaks.extract.mime import message_child, size_text
from mfaleaks.models import Skip, Source

BLOCK = 4 * 1024 * 1024
MAX_SEPARATOR = 1000  # a longer line is not a separator line

_DAY = rb"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_MONTH = rb"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_TIME = rb"\d{1,2}:\d\d(?::\d\d)?"
_ZONE = rb"(?:[+-]\d{4}|[A-Z]{1,5})"
_SEPARATOR = re.compile(
    rb"From \S{1,500} +(?:"
    # asctime, as written by nearly everyone: Tue Jan  9 09:48:13 [+0000] 2024 [+0000]
    + _DAY + rb" +" + _MONTH + rb" +\d{1,2} +" + _TIME + rb"(?: +" + _ZONE + rb")? +\d{4}"
    + rb"(?: +" + _ZONE + rb")?"
    # RFC 2822 dates, as some converters write them: Tue, 9 Jan 2024 09:48:13 +0000
    + rb"|(?:" + _DAY + rb", *)?\d{1,2} +" + _MONTH + rb" +\d{4} +" + _TIME
    + rb"(?: +" + _ZONE + rb")?"
    + rb")[ \t]*\r?(?:\n|\Z)"
)


@dataclass(frozen=True)
class RawMessage:
    number: int
    offset: int  # of its separator line in the file
    data: bytes | None  # None when the message is larger than the limit
    size: int


def extract_mbox(source: Source, ctx: Context) -> Iterator[Item]:
    limit = ctx.limits.max_member_size
    with source.open() as fh:
        for raw in split_mbox(fh, limit):
            prefix = f"message {raw.number}"
            if raw.data is None:
                yield Skip(
                    f"{prefix} (at byte {raw.offset}) is larger than {size_text(limit)}: not read"
                )
                continue
            yield from message_child(source, raw.data, prefix, ctx, inline=True)


def split_mbox(fh: BinaryIO, limit: int, block: int = BLOCK) -> Iterator[RawMessage]:
    splitter = _Splitter(limit)
    carry = b""
    at_line_start = True  # does carry (the unfinished last line) start a line?
    base = 0  # file offset of carry[0]
    while True:
        chunk = fh.read(block)
        eof = not chunk
        buf = carry + chunk
        cut = 0  # buf[:cut] is already in the current message
        pos = 0 if at_line_start and buf.startswith(b"From ") else _next_candidate(buf, 0)
        while pos != -1:
            end = buf.find(b"\n", pos)
            if end == -1 and not eof:
                break  # unfinished line: it is carried into the next round
            if _SEPARATOR.match(buf, pos, len(buf) if end == -1 else end + 1):
                splitter.add(buf[cut:pos])
                yield from splitter.finish(base + pos)
                cut = pos
            pos = -1 if end == -1 else _next_candidate(buf, end)
        if eof:
            splitter.add(buf[cut:])
            yield from splitter.finish(None)
            return
        # Carry the unfinished last line, unless it cannot be a separator line.
        tail = buf.rfind(b"\n") + 1
        starts_line = tail > 0 or at_line_start
        if not starts_line or len(buf) - max(tail, cut) > MAX_SEPARATOR:
            tail, at_line_start = len(buf), False
        else:
            tail, at_line_start = max(tail, cut), True
        splitter.add(buf[cut:tail])
        carry = buf[tail:]
        base += tail


def _next_candidate(buf: bytes, start: int) -> int:
    """The next line start at or after `start` that begins with "From ", or -1."""
    i = buf.find(b"\nFrom ", start)
    return -1 if i == -1 else i + 1


class _Splitter:
    """The message being assembled; dropped (but counted) once over the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[bytes] = []
        self.size = 0
        self.start = 0
        self.number = 0

    def add(self, piece: bytes) -> None:
        if not piece:
            return
        self.size += len(piece)
        if self.size <= self.limit:
            self.parts.append(piece)
        else:
            self.parts.clear()

    def finish(self, next_start: int | None) -> Iterator[RawMessage]:
        """Close the current message; the next one starts at `next_start`."""
        data = b"".join(self.parts) if self.size <= self.limit else None
        # Text before the first separator is kept only when it is more than blank lines.
        if self.size and (data is None or data.strip()):
            self.number += 1
            yield RawMessage(self.number, self.start, data, self.size)
        self.parts, self.size = [], 0
        if next_start is not None:
            self.start = next_start
