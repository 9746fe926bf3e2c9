"""Outlook items (.msg, .pst) -> RFC 822 bytes, walked like any other mail.

Turning an Outlook item into a MIME message gives one code path for labels,
bodies, attachments and forwarded messages, whatever the store. Text goes in
as UTF-8 base64 so any character survives; embedded messages become
message/rfc822 parts.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import Header
from email.utils import encode_rfc2231, format_datetime

from mfaleaks.extract.rtf import rtf_to_text

_MIME_HEADER = re.compile(r"(?im)^(content-[a-z-]+|mime-version):.*(?:\r?\n[ \t].*)*\r?\n?")
_CONTENT_TYPE = re.compile(r"^[A-Za-z0-9][\w.+-]*/[\w.+-]+$")
_NEWLINES = re.compile(r"[\r\n]+")


@dataclass
class Attachment:
    name: str
    data: bytes
    content_type: str = "application/octet-stream"


@dataclass
class Draft:
    """What an Outlook item says, before it becomes MIME."""

    transport_headers: str = ""  # the headers as received, when the store kept them
    subject: str = ""
    sender: str = ""
    to: str = ""
    cc: str = ""
    date: datetime | None = None
    message_id: str = ""
    plain: str = ""
    html: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    embedded: list[bytes] = field(default_factory=list)  # RFC 822 messages built already


def to_rfc822(draft: Draft) -> bytes:
    boundary = f"=_mfaleaks_{secrets.token_hex(12)}"
    lines = _headers(draft)
    if not (draft.plain or draft.html or draft.attachments or draft.embedded):
        # An item with nothing but headers (a contact, an empty note).
        return ("\r\n".join([*lines, "MIME-Version: 1.0", "", ""])).encode("utf-8", "replace")
    lines += ["MIME-Version: 1.0", f'Content-Type: multipart/mixed; boundary="{boundary}"', ""]
    out = ["\r\n".join(lines).encode("utf-8", "replace") + b"\r\n"]
    sep = f"--{boundary}\r\n".encode()
    bodies = [
        _leaf(f'{ctype}; charset="utf-8"', text.encode("utf-8", "replace"))
        for ctype, text in (("text/plain", draft.plain), ("text/html", draft.html))
        if text
    ]
    if len(bodies) == 2:  # two versions of one body, as Outlook keeps them
        alt = f"{boundary}_alt"
        bodies = [
            f'Content-Type: multipart/alternative; boundary="{alt}"\r\n\r\n'.encode()
            + b"".join(f"--{alt}\r\n".encode() + b for b in bodies)
            + f"--{alt}--\r\n".encode()
        ]
    out += [part for body in bodies for part in (sep, body)]
    for att in draft.attachments:
        ctype = att.content_type if _CONTENT_TYPE.match(att.content_type) else ""
        disposition = f"attachment; filename*={encode_rfc2231(att.name, 'utf-8')}"
        out += [sep, _leaf(ctype or "application/octet-stream", att.data, disposition)]
    for inner in draft.embedded:
        out += [sep, b"Content-Type: message/rfc822\r\n\r\n", inner, b"\r\n"]
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)


def _headers(draft: Draft) -> list[str]:
    raw = draft.transport_headers.replace("\x00", "").strip()
    # Received headers are kept; their MIME description belongs to the original
    # transport encoding, not to the parts we write below.
    lines = [ln for ln in _MIME_HEADER.sub("", raw + "\n").splitlines() if ln] if raw else []
    present = {ln.split(":", 1)[0].strip().lower() for ln in lines if not ln[:1].isspace()}
    wanted = (
        ("Subject", draft.subject),
        ("From", draft.sender),
        ("To", draft.to),
        ("Cc", draft.cc),
        ("Date", _date(draft.date)),
        ("Message-ID", draft.message_id),
    )
    for name, value in wanted:
        value = _NEWLINES.sub(" ", value.replace("\x00", "")).strip()
        if value and name.lower() not in present:
            lines.append(f"{name}: {_encode(value)}")
    return lines


def _leaf(ctype: str, data: bytes, disposition: str | None = None) -> bytes:
    head = f"Content-Type: {ctype}\r\nContent-Transfer-Encoding: base64\r\n"
    if disposition:
        head += f"Content-Disposition: {disposition}\r\n"
    return head.encode() + b"\r\n" + base64.encodebytes(data).replace(b"\n", b"\r\n") + b"\r\n"


def _encode(value: str) -> str:
    return value if value.isascii() else Header(value, "utf-8").encode()


def _date(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # Outlook stores UTC
    try:
        return format_datetime(value)
    except (ValueError, OverflowError):
        return ""


def add_rtf_body(draft: Draft, rtf: object) -> None:
    """Use the RTF body when it is the only one; send its pictures to OCR.

    Pictures pasted into an Outlook RTF body (a screenshot of codes) live only
    there, so an RTF body with pictures also goes to the pipeline as body.rtf.
    """
    if not isinstance(rtf, bytes) or not rtf:
        return
    if not (draft.plain.strip() or draft.html.strip()):
        draft.plain = rtf_text(rtf)
    if b"\\pict" in rtf:
        draft.attachments.append(Attachment("body.rtf", rtf, "text/rtf"))


def rtf_text(rtf: bytes) -> str:
    try:
        return rtf_to_text(rtf)[0]
    except Exception:  # malformed RTF: nothing to read
        return ""
