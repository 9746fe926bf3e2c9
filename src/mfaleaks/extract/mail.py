"""Single messages (.eml, Maildir files) and the entry points for mailboxes.

Every message reaches the pipeline as a labelled child source, so findings
name it in `member` (`message 3 <id@host> 2024-05-01 alice@example.com
"Subject"`) and carry its date and sender. A top-level .eml is wrapped the
same way; the child is recognised by its label and its parts are walked.

Maildir folders are found and listed by sources/maildir.py; their messages
come here as EML sources.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from email.parser import BytesParser
from email.policy import compat32

from mfaleaks.extract.base import Context, Item
from mfaleaks.extract.mailhead import read_info
from mfaleaks.extract.mbox import extract_mbox
from mfaleaks.extract.mime import inline_child, is_labelled, message_child, size_text, walk_message
from mfaleaks.models import Skip, Source
from mfaleaks.sources.classify import SNIFF_BYTES, Kind, classify_bytes

__all__ = ["extract_eml", "extract_mbox", "not_this_format"]

def extract_eml(source: Source, ctx: Context) -> Iterator[Item]:
    limit = ctx.limits.max_member_size
    data = read_all(source, limit)
    if data is None:
        yield Skip(f"message larger than {size_text(limit)}: not read")
        return
    info = read_info(data)
    if not is_labelled(source, info):
        yield from message_child(source, data, "message", ctx, inline=True)
        return
    msg = BytesParser(policy=compat32).parsebytes(data)
    yield from walk_message(msg, source, ctx, info)


def read_all(source: Source, limit: int) -> bytes | None:
    """The whole source, or None when it is larger than `limit` bytes."""
    if source.data is not None:
        return source.data if len(source.data) <= limit else None
    with source.open() as fh:
        if os.fstat(fh.fileno()).st_size > limit:
            return None  # do not read half a gigabyte only to drop it
        data = fh.read(limit + 1)
    return data if len(data) <= limit else None


def not_this_format(
    source: Source, ctx: Context, expected: Kind, why: str
) -> Iterator[Item]:
    """A file named like an Outlook file whose content is not: say so, then read what it is.

    The classifier routes .msg/.pst/.ost names here even when the content
    disagrees, so a renamed or damaged file is reported instead of silently
    counted as binary; if the content is something else readable (text, a zip,
    an RFC 822 message) it is still scanned as that.
    """
    actual = classify_bytes(source.head(SNIFF_BYTES), "", source)
    readable = actual not in (Kind.EMPTY, Kind.BINARY, Kind.OLE, expected)
    then = f"; read as {actual.value} instead" if readable else ""
    yield Skip(f"not an {_NAMES[expected]}: {why}{then}")
    if readable:
        yield from inline_child(replace(source, kind_hint=actual.value), ctx)


_NAMES = {Kind.MSG: "Outlook .msg file", Kind.PST: "Outlook .pst/.ost file"}
