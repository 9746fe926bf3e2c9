"""Outlook .pst/.ost stores: every folder, every message, every attachment.

We read them in-process with libpff-python (`pypff`), not with Debian's
`readpst`: readpst can only write every message out as files, which would put
the codes we look for on disk in clear text, costs a process and a temporary
tree per store, and reports errors per store, not per message. pypff streams
one message at a time from a file object (opened read-only, no atime), and a
damaged message becomes a Skip while the rest of the store is still read.

Each message becomes an RFC 822 message (mailbuild) under a member naming its
folder: `Top of Personal Folders/Inbox / message 2 <id> 2024-05-01 ...`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from types import ModuleType
from typing import Any

from mfaleaks.extract.base import Context, Item
from mfaleaks.extract.mail import not_this_format
from mfaleaks.extract.mailbuild import Attachment, Draft, add_rtf_body, to_rfc822
from mfaleaks.extract.mime import message_child
from mfaleaks.models import Skip, Source
from mfaleaks.sources.classify import Kind
from mfaleaks.sources.decode import decode_bytes

PST_MAGIC = b"!BDN"
MAX_FOLDER_DEPTH = 64
MAX_EMBEDDED = 10
MISSING = (
    "reading Outlook .pst/.ost files needs the libpff-python package (pip install libpff-python)"
)

# MAPI property tags (MS-OXPROPS)
_SENDER_EMAIL = (0x0C1F, 0x0065)  # PR_SENDER_EMAIL_ADDRESS, PR_SENT_REPRESENTING_EMAIL_ADDRESS
_DISPLAY_TO, _DISPLAY_CC = 0x0E04, 0x0E03
_MESSAGE_ID = 0x1035
_CODEPAGE = 0x3FDE  # PR_INTERNET_CPID: the charset of the HTML body
_ATTACH_METHOD, _ATTACH_MIME, _ATTACH_SHORT_NAME = 0x3705, 0x370E, 0x3704
_EMBEDDED_MESSAGE = 5
_CODEPAGES = {65001: "utf-8", 1200: "utf-16-le", 20127: "ascii", 28591: "latin-1",
              50220: "iso2022_jp", 51932: "euc_jp", 936: "gbk", 54936: "gb18030"}


def extract_pst(source: Source, ctx: Context) -> Iterator[Item]:
    if source.head(len(PST_MAGIC)) != PST_MAGIC:
        yield from not_this_format(source, ctx, Kind.PST, "no PST signature (!BDN)")
        return
    try:
        import pypff
    except ImportError:
        yield Skip(MISSING)
        return
    with source.open() as fh:
        store = pypff.file()
        try:
            store.open_file_object(fh)
        except (OSError, ValueError, TypeError) as exc:
            yield Skip(f"Outlook store damaged or truncated, not read: {_why(exc)}")
            return
        try:
            root = store.get_root_folder()
            yield from _folder(root, "", source, ctx, pypff, 0)
        # MemoryError: libpff's "unable to create folder object" on a damaged store.
        except (OSError, ValueError, TypeError, MemoryError) as exc:
            yield Skip(f"Outlook store could not be read further: {_why(exc)}")
        finally:
            store.close()


def _folder(
    folder: Any, path: str, source: Source, ctx: Context, lib: ModuleType, level: int
) -> Iterator[Item]:
    if level > MAX_FOLDER_DEPTH:
        yield Skip(f"folder {path!r} nested too deep: not read")
        return
    where = source.child(path or "(root)", b"")  # only a parent for the messages' origins
    count = _count(folder, "number_of_sub_messages")
    for i in range(count):
        label = f"message {i + 1}"
        try:
            raw = to_rfc822(_draft(folder.get_sub_message(i), lib, ctx, 0))
        except (OSError, ValueError, TypeError, UnicodeError) as exc:
            yield Skip(f"{label} unreadable: {_why(exc)}", origin=where.origin)
            continue
        yield from message_child(where, raw, label, ctx, inline=True)
    for i in range(_count(folder, "number_of_sub_folders")):
        try:
            sub = folder.get_sub_folder(i)
            name = (sub.name or f"folder {i + 1}").replace("\x00", "")
        except (OSError, ValueError, TypeError) as exc:
            yield Skip(f"subfolder {i + 1} unreadable: {_why(exc)}", origin=where.origin)
            continue
        yield from _folder(sub, f"{path}/{name}" if path else name, source, ctx, lib, level + 1)


def _draft(message: Any, lib: ModuleType, ctx: Context, level: int) -> Draft:
    props = _properties(message)
    name = _text(_quiet(message, "sender_name"))
    email = next((props[t] for t in _SENDER_EMAIL if props.get(t)), "")
    sender = f"{name} <{email}>" if name and email and "@" in email else name or email
    draft = Draft(
        transport_headers=_text(_quiet(message, "transport_headers")),
        subject=_text(_quiet(message, "subject")),
        sender=sender,
        to=props.get(_DISPLAY_TO, ""),
        cc=props.get(_DISPLAY_CC, ""),
        date=_time(message, "client_submit_time") or _time(message, "delivery_time"),
        message_id=props.get(_MESSAGE_ID, ""),
        plain=_body(message, "plain_text_body", "utf-8"),
    )
    if not draft.plain.strip():
        draft.html = _body(message, "html_body", _codepage(props.get(_CODEPAGE)))
    add_rtf_body(draft, _quiet(message, "rtf_body"))
    for j in range(_count(message, "number_of_attachments")):
        _attach(draft, message.get_attachment(j), lib, ctx, level, j)
    return draft


def _attach(draft: Draft, att: Any, lib: ModuleType, ctx: Context, level: int, j: int) -> None:
    props = _properties(att)
    name = _text(_quiet(att, "long_filename")) or props.get(_ATTACH_SHORT_NAME, "")
    if props.get(_ATTACH_METHOD) == str(_EMBEDDED_MESSAGE) and level < MAX_EMBEDDED:
        inner = _embedded(att)
        if inner is not None:
            draft.embedded.append(to_rfc822(_draft(inner, lib, ctx, level + 1)))
            return
    size = _count(att, "size")
    if size > ctx.limits.max_member_size:
        draft.attachments.append(Attachment(f"{name or 'attachment'} (too large, not read)", b""))
        return
    data = att.read_buffer(size) if size else b""
    ctype = props.get(_ATTACH_MIME, "") or "application/octet-stream"
    draft.attachments.append(Attachment(name or f"attachment {j + 1}", data, ctype))


def _embedded(att: Any) -> Any:
    """The message inside an embedded-message attachment, where pypff exposes it."""
    try:
        if _count(att, "number_of_sub_items"):
            inner = att.get_sub_item(0)
            if hasattr(inner, "plain_text_body"):
                return inner
    except (OSError, ValueError, TypeError):
        pass
    return None


def _properties(item: Any) -> dict[int, str]:
    """String-valued MAPI properties of an item's first record set (int ones as digits)."""
    out: dict[int, str] = {}
    try:
        if not item.number_of_record_sets:
            return out
        entries = item.get_record_set(0).entries
    except (OSError, ValueError, TypeError):
        return out
    for entry in entries:
        try:
            tag, kind = entry.entry_type, entry.value_type
            if kind in (0x1F, 0x1E):  # PT_UNICODE, PT_STRING8
                out[tag] = _text(entry.data_as_string)
            elif kind == 0x03:  # PT_LONG
                out[tag] = str(entry.data_as_integer)
        except (OSError, ValueError, TypeError, UnicodeError):
            continue
    return out


def _body(message: Any, name: str, charset: str) -> str:
    data = _quiet(message, name)
    if not isinstance(data, bytes) or not data:
        return ""
    return decode_bytes(data.rstrip(b"\x00"), charset)


def _codepage(value: str | None) -> str:
    if not value or not value.isdigit():
        return "cp1252"
    number = int(value)
    return _CODEPAGES.get(number, f"cp{number}")


def _time(message: Any, name: str) -> datetime | None:
    value = _quiet(message, name)
    return value if isinstance(value, datetime) and value.year > 1601 else None


def _count(item: Any, name: str) -> int:
    value = _quiet(item, name)
    return value if isinstance(value, int) else 0


def _quiet(item: Any, name: str) -> Any:
    """pypff raises OSError for values a damaged store cannot give."""
    try:
        return getattr(item, name)
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = decode_bytes(value)
    return str(value).replace("\x00", "").strip()


def _why(exc: BaseException) -> str:
    # libpff chains every layer ("pypff_file_open: unable to open file. libpff_index_...:
    # unable to read index node data at offset: 22016 ..."); the outer two clauses,
    # without function names, say what happened and where.
    clauses = [c.split(": ", 1)[-1] for c in " ".join(str(exc).split()).split(". ") if c]
    return "; ".join(clauses[:2])[:200] or type(exc).__name__
