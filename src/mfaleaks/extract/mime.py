"""One parsed message -> its body text, its attachments, its forwarded messages.

Bodies (text/plain, text/html without a file name) become one TextChunk that
starts with the Subject line, so words like "backup codes" in a subject count
as evidence for codes in the body. Everything else is handed back to the
pipeline as a child Source named after its file name, so images, archives and
documents inside mail are scanned like files on a share. A forwarded message
(message/rfc822) becomes a child message with its own label.

We decode payloads ourselves: the compat32 parser is fast and never raises,
and base64 that is truncated or holds junk is decoded as far as it goes, with
a Skip saying what was lost.
"""

from __future__ import annotations

import binascii
import mimetypes
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from email import errors
from email.generator import BytesGenerator
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from io import BytesIO

from mfaleaks.extract.base import Context, Item
from mfaleaks.extract.mailhead import (
    MessageInfo,
    decode_declared,
    header_text,
    read_info,
    unescape,
)
from mfaleaks.models import Skip, Source, TextChunk
from mfaleaks.sources.classify import Kind
from mfaleaks.sources.htmltext import html_to_text

MAX_NESTING = 40  # multipart inside multipart; real mail stays under 10
_B64_VALID = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n\t "
_NOT_B64 = re.compile(rb"[^A-Za-z0-9+/]")
_DELIMITER = re.compile(
    rb"(?mi)^--([\x21-\x7e]{1,70}?)(?:--)?[ \t]*\r?$(\n(?=content-[\w-]+:))?"
)
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f]")
_BOUNDARY_DEFECTS: dict[type[errors.MessageDefect], str] = {
    errors.StartBoundaryNotFoundDefect: "MIME start boundary never found: read as plain text",
    errors.CloseBoundaryNotFoundDefect: (
        "MIME closing boundary missing (message cut short?): parts read as far as they go"
    ),
    errors.MultipartInvariantViolationDefect: "multipart message without parts: read as text",
    errors.NoBoundaryInMultipartDefect: "multipart message without a boundary: read as text",
}


def message_child(
    parent: Source, data: bytes, prefix: str, ctx: Context, *, inline: bool, meta: bool = True
) -> Iterator[Item]:
    """Hand one message to the pipeline, labelled `prefix <id> date sender "subject"`.

    `inline`: the message is the container's own bytes (a message of an mbox or
    PST, the whole of an .eml), not content expanded from it, so its size is
    given back to the expansion budget once the pipeline is done with it;
    otherwise a mailbox larger than the budget would stop being read halfway.
    `meta`: put this message's date, sender etc. into the findings (a forwarded
    message keeps those of the message that carried it into the mailbox).
    """
    info = read_info(data)
    label = f"{prefix} {info.core}".strip()
    facts = info.meta() if meta else {}
    child = parent.child(label, data, name="message.eml", **facts)
    child = replace(child, kind_hint=Kind.EML.value)
    if inline:
        yield from inline_child(child, ctx)
    else:
        yield child


def inline_child(child: Source, ctx: Context) -> Iterator[Item]:
    """Yield a child made of its parent's own bytes; refund what the pipeline charged.

    The pipeline charges every child's size to the expansion budget before
    reading it; bytes that were already in the file are not expansion.
    """
    before = ctx.budget.expanded
    yield child
    if ctx.budget.expanded - before >= child.size:
        ctx.budget.expanded -= child.size


def is_labelled(source: Source, info: MessageInfo) -> bool:
    """True for a message that message_child made (its member ends with its label)."""
    chain = source.origin.chain
    return bool(chain) and chain[-1].endswith(info.core)


def walk_message(msg: Message, source: Source, ctx: Context, info: MessageInfo) -> Iterator[Item]:
    walker = _Walker(source, ctx)
    yield from walker.part(msg, "", 0)
    if walker.bodies or info.subject:
        yield walker.chunk(info.subject)
    found = {type(d) for part in msg.walk() for d in part.defects}
    if errors.StartBoundaryNotFoundDefect in found:  # it implies the part has no subparts
        found.discard(errors.MultipartInvariantViolationDefect)
        if walker.rebound:
            found.discard(errors.StartBoundaryNotFoundDefect)
            yield Skip("MIME boundary in the header is not the one the body uses: "
                       "parts split on the one it uses")
    for defect, reason in _BOUNDARY_DEFECTS.items():
        if defect in found:
            yield Skip(reason)


@dataclass
class _Walker:
    source: Source
    ctx: Context
    bodies: list[tuple[str, str]] = field(default_factory=list)
    parts: int = 0
    rebound: bool = False  # a multipart was split on a boundary other than the declared one

    def part(self, part: Message, number: str, level: int) -> Iterator[Item]:
        self.parts += 1
        limit = self.ctx.limits.max_members
        if self.parts > limit:
            if self.parts == limit + 1:
                yield Skip(f"more than {limit} MIME parts: the rest were not read")
            return
        if level > MAX_NESTING:
            yield Skip(f"MIME parts nested deeper than {MAX_NESTING} levels: not read")
            return
        ctype = part.get_content_type()
        if part.is_multipart():
            subs = [s for s in part.get_payload() if isinstance(s, Message)]
            if ctype in ("message/rfc822", "message/global"):
                for sub in subs:
                    yield from self.forwarded(sub, number)
            elif ctype == "multipart/alternative":
                yield from self.alternative(subs, number, level)
            else:
                for i, sub in enumerate(subs, 1):
                    yield from self.part(sub, _number(number, i), level + 1)
            return
        if part.get_content_maintype() == "multipart" and (fixed := _rebound(part)) is not None:
            self.rebound = True
            yield from self.part(fixed, number, level + 1)
            return
        filename = part_filename(part)
        if filename is None and part.get_content_disposition() != "attachment" and (
            ctype in ("text/plain", "text/html") or part.get_content_maintype() == "multipart"
        ):
            yield from self.body(part, ctype, number)
        else:
            yield from self.attachment(part, ctype, number, filename)

    def alternative(self, subs: list[Message], number: str, level: int) -> Iterator[Item]:
        """Keep one version of the body: the plain one unless the HTML says much more."""
        outer, branches = self.bodies, []
        for i, sub in enumerate(subs, 1):
            self.bodies = []
            yield from self.part(sub, _number(number, i), level + 1)
            branches.append(self.bodies)
        self.bodies = outer
        sizes = [sum(len(" ".join(text.split())) for _, text in b) for b in branches]
        longest = max(sizes, default=0)
        for branch, size in zip(branches, sizes, strict=True):
            if size and size >= 0.5 * longest:
                self.bodies.extend(branch)
                break

    def body(self, part: Message, ctype: str, number: str) -> Iterator[Item]:
        data, problem = part_bytes(part, self.ctx.limits.max_member_size)
        if problem:
            yield Skip(f"body part {number or 1}: {problem}")
        if data is None:
            return
        text = decode_declared(data, part.get_content_charset())
        if ctype == "text/html":
            self.bodies.append(("html body", html_to_text(text)))
        elif ctype.startswith("multipart/"):
            self.bodies.append(("body (broken MIME)", text))  # boundaries lost: raw text
        else:
            self.bodies.append(("body", text))

    def attachment(
        self, part: Message, ctype: str, number: str, filename: str | None
    ) -> Iterator[Item]:
        member = filename or f"part {number or 1} ({ctype})"
        data, problem = part_bytes(part, self.ctx.limits.max_member_size)
        if problem:
            yield Skip(f"{problem}", origin=self.source.origin.child(member))
        if data is None:
            return
        name = filename or f"part-{number or 1}{mimetypes.guess_extension(ctype) or '.bin'}"
        yield self.source.child(member, data, name=name)

    def forwarded(self, sub: Message, number: str) -> Iterator[Item]:
        buf = BytesIO()
        try:
            BytesGenerator(buf, mangle_from_=False, policy=compat32).flatten(sub)
        except Exception as exc:  # a broken inner message must not stop the outer
            yield Skip(f"forwarded message in part {number or 1} unreadable: {type(exc).__name__}")
            return
        yield from message_child(
            self.source, buf.getvalue(), "forwarded message", self.ctx, inline=False, meta=False
        )

    def chunk(self, subject: str) -> TextChunk:
        text = f"Subject: {subject}\n\n" if subject else ""
        anchors = [(0, "subject")] if subject else []
        for label, body in self.bodies:
            anchors.append((len(text), label))
            text += body.rstrip() + "\n\n"
        return TextChunk(text=text, source="mail", line=None, anchors=tuple(anchors), whole=True)


def part_bytes(part: Message, limit: int) -> tuple[bytes | None, str | None]:
    """The decoded payload of a leaf part, and what went wrong decoding it."""
    try:
        payload = part.get_payload()
    except ValueError:
        # The stdlib decodes 8-bit text with the charset label, and a label holding a
        # NUL raises; decode=True leaves the charset alone.
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes) or len(data) > limit:
            return None, "payload is not readable (unusable charset label)"
        return data, "unusable charset label: payload read as bytes"
    if not isinstance(payload, str):
        return None, "payload is not readable"
    if len(payload) > limit * 4 // 3 + 4096:
        return None, f"larger than {size_text(limit)}: not read"
    cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if cte == "base64":
        # Anything not ASCII is junk to base64 ('?' is counted and skipped as such); a
        # payload can hold any character, and "surrogateescape" failed on most of them.
        return _base64(payload.encode("ascii", "replace"))
    data = part.get_payload(decode=True)
    return (data if isinstance(data, bytes) else payload.encode("utf-8", "surrogateescape")), None


def size_text(n: int) -> str:
    return f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{n} bytes"


def _base64(raw: bytes) -> tuple[bytes, str | None]:
    junk = len(raw.translate(None, _B64_VALID))
    try:
        data = binascii.a2b_base64(raw)  # non-strict: skips characters outside the alphabet
    except binascii.Error:
        clean = _NOT_B64.sub(b"", raw)
        data = binascii.a2b_base64(clean[: len(clean) // 4 * 4])
        return data, f"base64 damaged (truncated or corrupt): decoded the first {len(data)} bytes"
    if junk:
        return data, f"base64 held {junk} invalid characters: they were skipped"
    return data, None


def part_filename(part: Message) -> str | None:
    try:
        raw = part.get_filename()
        if raw and "\ufffd" in raw:
            raw = _raw_filename(part) or raw
    except Exception:  # malformed RFC 2231 parameters
        return None
    if not raw:
        return None
    name = header_text(raw)  # filenames often carry RFC 2047 words, against the RFC
    name = _UNSAFE_NAME.sub("", name.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    return name[:150] or None


def _rebound(part: Message) -> Message | None:
    """A multipart whose declared boundary never occurs, re-split on the one that does.

    Senders that rewrite a boundary in one place only (or reuse the outer one)
    leave the parts intact in the body: find the "--x" delimiter lines the body
    actually has and parse again with that boundary.
    """
    raw = part.get_payload(decode=True)
    if not isinstance(raw, bytes) or not raw:
        return None
    found = list(_DELIMITER.finditer(raw))
    counts = Counter(m.group(1) for m in found)
    opens_part = {m.group(1) for m in found if m.group(2)}  # followed by a part header
    declared = (part.get_boundary() or "").encode("ascii", "replace")
    used = [b for b, n in counts.most_common(3)
            if (n >= 2 or b in opens_part) and b != declared]
    if not used:
        return None
    boundary = used[0].decode("ascii", "replace")
    head = f'Content-Type: {part.get_content_type()}; boundary="{boundary}"\n\n'.encode()
    fixed = BytesParser(policy=compat32).parsebytes(head + raw)
    return fixed if fixed.is_multipart() else None


def _raw_filename(part: Message) -> str | None:
    """A file name in raw 8-bit bytes (against the RFC, common in practice).

    compat32 hands such header values back with the bytes replaced by U+FFFD;
    the raw header still has them, so decode those ourselves.
    """
    clean = Message()
    for key, value in part.raw_items():
        if key.lower() in ("content-disposition", "content-type"):
            clean[key] = unescape(str(value))
    return clean.get_filename()


def _number(prefix: str, i: int) -> str:
    return f"{prefix}.{i}" if prefix else str(i)
