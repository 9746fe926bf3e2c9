"""Outlook .msg files through extract-msg (GPL-3.0: the optional `gpl` extra).

The item becomes an RFC 822 message (mailbuild) and is walked like any mail:
body, HTML body (or the RTF body when it is all there is), attachments, and
embedded .msg items as forwarded messages. The library is imported on first
use, so a permissive install without it reports .msg files as skipped.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from datetime import datetime
from types import ModuleType
from typing import Any

from mfaleaks.extract.base import Context, Item
from mfaleaks.extract.mail import not_this_format, read_all
from mfaleaks.extract.mailbuild import Attachment, Draft, add_rtf_body, to_rfc822
from mfaleaks.extract.mime import message_child, size_text
from mfaleaks.models import Skip, Source
from mfaleaks.sources.classify import Kind
from mfaleaks.sources.decode import decode_bytes

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
MAX_EMBEDDED = 10  # .msg inside .msg inside ...
MISSING = (
    "reading Outlook .msg files needs the optional extract-msg package"
    " (pip install 'mfaleaks[gpl]')"
)


def extract_msg(source: Source, ctx: Context) -> Iterator[Item]:
    head = source.head(len(OLE_MAGIC))
    if not head.startswith(OLE_MAGIC):
        why = "the file is empty" if not head else "no OLE signature"
        yield from not_this_format(source, ctx, Kind.MSG, why)
        return
    lib = _library()
    if lib is None:
        yield Skip(MISSING)
        return
    limit = ctx.limits.max_member_size
    data = read_all(source, limit)
    if data is None:
        yield Skip(f"Outlook message larger than {size_text(limit)}: not read")
        return
    problems: list[str] = []
    try:
        item = lib.openMsg(io.BytesIO(data), strict=False)
    except Exception as exc:  # extract-msg raises many types for damaged files
        yield Skip(f"Outlook .msg could not be read: {_why(exc)}")
        return
    try:
        if not getattr(item, "classType", None):
            yield from not_this_format(source, ctx, Kind.MSG, "an OLE file without Outlook streams")
            return
        raw = to_rfc822(_draft(item, lib, problems, 0))
    except Exception as exc:  # a damaged stream surfaces while reading properties
        yield Skip(f"Outlook .msg could not be read: {_why(exc)}")
        return
    finally:
        item.close()
    for problem in problems:
        yield Skip(problem)
    yield from message_child(source, raw, "message", ctx, inline=True)


def _library() -> ModuleType | None:
    try:
        import extract_msg as lib
    except ImportError:
        return None
    # The library logs every oddity of a file as a warning; those become Skips here.
    logger = logging.getLogger("extract_msg")
    logger.propagate = False
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    return lib


def _draft(item: Any, lib: ModuleType, problems: list[str], level: int) -> Draft:
    draft = Draft(
        transport_headers=_text(getattr(item, "headerText", None)),
        subject=_text(getattr(item, "subject", None)),
        sender=_text(getattr(item, "sender", None)),
        to=_text(getattr(item, "to", None)),
        cc=_text(getattr(item, "cc", None)),
        date=date if isinstance(date := _quiet(item, "date"), datetime) else None,
        message_id=_text(getattr(item, "messageId", None)),
        plain=_text(_quiet(item, "body")),
    )
    if not draft.plain.strip():
        # htmlBody may be recovered from the RTF body; only worth it without plain text.
        html = _quiet(item, "htmlBody")
        draft.html = decode_bytes(html) if isinstance(html, bytes) else _text(html)
    add_rtf_body(draft, _quiet(item, "rtfBody"))
    for att in getattr(item, "attachments", None) or []:
        _attach(draft, att, lib, problems, level)
    return draft


def _attach(draft: Draft, att: Any, lib: ModuleType, problems: list[str], level: int) -> None:
    name = _text(getattr(att, "longFilename", None) or getattr(att, "name", None)) or "attachment"
    try:
        data = att.data
    except Exception as exc:  # one broken attachment must not lose the others
        problems.append(f"attachment {name!r} unreadable: {_why(exc)}")
        return
    if isinstance(data, bytes):
        ctype = _text(getattr(att, "mimetype", None)) or "application/octet-stream"
        draft.attachments.append(Attachment(name, data, ctype))
    elif isinstance(data, lib.MSGFile):
        if level >= MAX_EMBEDDED:
            problems.append(f"embedded message {name!r} nested too deep: not read")
            return
        draft.embedded.append(to_rfc822(_draft(data, lib, problems, level + 1)))
    elif data is not None:
        problems.append(f"attachment {name!r} of an unsupported kind: not read")


def _quiet(item: Any, name: str) -> Any:
    """A property that extract-msg computes on access and that may fail on odd files."""
    try:
        return getattr(item, name, None)
    except Exception:
        return None


def _text(value: object) -> str:
    if value is None:
        return ""
    return str(value).replace("\x00", "").strip()


def _why(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:160]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
