"""Mail headers -> who, when, what: the facts a finding in mail carries.

Header values arrive as RFC 2047 encoded words, raw 8-bit bytes in any
charset, or plain ASCII; all are decoded here without ever raising. The
message label ("<id@host> 2024-05-01 alice@example.com "Subject"") names a
message in a finding's member; its subject has code-like tokens masked,
because member names are printed in reports and codes must never be.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import Header, decode_header
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

from mfaleaks.sources.decode import decode_bytes

MAX_HEADER_BLOCK = 256 * 1024  # header blocks beyond this are junk, not headers
SUBJECT_LABEL = 60
_MAX_RECIPIENTS = 10
_WESTERN = frozenset({
    "us-ascii", "ascii", "iso-8859-1", "iso8859-1", "latin-1", "latin1", "iso-8859-15",
    "windows-1252", "cp1252",
})
_SPACES = re.compile(r"\s+")
_DIGIT_RUN = re.compile(r"\d(?:[ .-]?\d){5,}")
_TOKEN = re.compile(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*")
_BASE32_RUN = re.compile(r"\b[A-Z2-7]{16,}\b")
_ENVELOPE_DATE = re.compile(r"(\w{3} +\w{3} +\d{1,2} +\d{1,2}:\d\d(?::\d\d)? +\d{4})")


@dataclass(frozen=True)
class MessageInfo:
    message_id: str = ""
    date: datetime | None = None
    sender: str = ""  # "Name <addr>" as decoded
    address: str = ""  # the bare address, or the name when there is none
    recipients: str = ""
    subject: str = ""

    @property
    def core(self) -> str:
        """The part of the member label that identifies the message."""
        parts = [self.message_id]
        if self.date is not None:
            parts.append(self.date.date().isoformat())
        parts.append(self.address)
        if self.subject:
            parts.append(f'"{short_subject(self.subject)}"')
        return " ".join(p for p in parts if p)

    def meta(self) -> dict[str, str]:
        """Origin.meta entries; empty values are dropped by Origin.child."""
        return {
            "date": self.date.isoformat() if self.date is not None else "",
            "sender": self.sender,
            "recipients": self.recipients,
            "subject": mask_codes(self.subject),
            "message_id": self.message_id,
        }


def read_info(data: bytes) -> MessageInfo:
    """Parse only the header block of a raw message (cheap, for labels)."""
    return message_info(BytesHeaderParser(policy=compat32).parsebytes(header_block(data)))


def header_block(data: bytes) -> bytes:
    end = min((i for i in (data.find(b"\n\n"), data.find(b"\r\n\r\n")) if i != -1), default=-1)
    block = data[: end if end != -1 else MAX_HEADER_BLOCK]
    return block[:MAX_HEADER_BLOCK] + b"\n\n"


def message_info(msg: Message) -> MessageInfo:
    sender = header_text(msg.get("From", ""))
    name, addr = parseaddr(sender)
    return MessageInfo(
        message_id=_message_id(header_text(msg.get("Message-ID", ""))),
        date=_date(header_text(msg.get("Date", ""))) or _envelope_date(msg.get_unixfrom()),
        sender=sender,
        address=addr if "@" in addr else (name or sender)[:80],
        recipients=_recipients(msg),
        subject=header_text(msg.get("Subject", "")),
    )


def header_text(value: object) -> str:
    """A header value as readable text, whatever its encoding; never raises."""
    if value is None:
        return ""
    if isinstance(value, Header):
        pieces = decode_header(value)
    else:
        raw = str(value)
        try:
            pieces = decode_header(raw)
        except Exception:  # malformed encoded words: keep the raw text
            pieces = [(raw, None)]
    out = []
    for piece, charset in pieces:
        if isinstance(piece, str):
            # Raw 8-bit header bytes come back from the parser as surrogate escapes.
            out.append(unescape(piece))
        else:
            declared = None if charset in (None, "unknown-8bit") else charset
            out.append(decode_declared(piece, declared))
    return _SPACES.sub(" ", "".join(out)).strip()


def decode_declared(data: bytes, declared: str | None) -> str:
    """Bytes in their declared charset, surviving wrong and unknown labels.

    UTF-8 labelled as Latin-1 or ASCII is common (and would decode without
    error into mojibake), so valid UTF-8 wins over those labels.
    """
    if declared and declared.lower() in _WESTERN and not data.isascii():
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return decode_bytes(data, declared)


def unescape(text: str) -> str:
    """Raw 8-bit bytes that the parser kept as surrogate escapes, decoded."""
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    return decode_bytes(text.encode("utf-8", "surrogateescape"))


def short_subject(subject: str) -> str:
    masked = mask_codes(subject)
    if len(masked) <= SUBJECT_LABEL:
        return masked
    return masked[: SUBJECT_LABEL - 1].rstrip() + "…"


def mask_codes(text: str) -> str:
    """Hide what could be a code: 6+ digits (grouped or not), tokens of 6+ characters
    holding a digit, long base32 runs. Years and short numbers stay readable."""
    text = _DIGIT_RUN.sub(_hashes, text)
    text = _TOKEN.sub(lambda m: _hashes(m) if _code_like(m.group()) else m.group(), text)
    return _BASE32_RUN.sub(_hashes, text)


def _code_like(token: str) -> bool:
    return len(token) >= 6 and any(ch.isdigit() for ch in token)


def _hashes(match: re.Match[str]) -> str:
    return re.sub(r"[A-Za-z0-9]", "#", match.group())


def _message_id(value: str) -> str:
    value = value.strip()
    if not value:
        return ""
    if not value.startswith("<"):
        value = f"<{value.strip('<>')}>"
    return value[:100]


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.year < 1970 or parsed.year > 2200:
        return None
    return parsed


def _envelope_date(unixfrom: str | None) -> datetime | None:
    """The date on an mbox `From addr date` line, when the Date header is missing."""
    if not unixfrom:
        return None
    m = _ENVELOPE_DATE.search(unixfrom)
    if m is None:
        return None
    try:
        parsed = time.strptime(_SPACES.sub(" ", m.group(1)), "%a %b %d %H:%M:%S %Y")
    except ValueError:
        return None
    return datetime(*parsed[:6], tzinfo=UTC)


def _recipients(msg: Message) -> str:
    values = [header_text(v) for key in ("To", "Cc") for v in msg.get_all(key, [])]
    try:
        pairs = getaddresses(values)
    except Exception:  # odd address syntax: fall back to the raw text
        return ", ".join(values)[:300]
    if not any("@" in addr for _, addr in pairs):
        return ", ".join(values)[:300]  # display names only (Outlook stores): keep them whole
    addrs = [addr or name for name, addr in pairs if addr or name]
    more = len(addrs) - _MAX_RECIPIENTS
    text = ", ".join(addrs[:_MAX_RECIPIENTS])
    return f"{text} (+{more} more)" if more > 0 else text
