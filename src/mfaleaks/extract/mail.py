"""Single messages (.eml, Maildir files) and the entry points for mailboxes.

Every message reaches the pipeline as a labelled child source, so findings
name it in `member` (`message 3 <id@host> 2024-05-01 alice@example.com
"Subject"`) and carry its date and sender. A top-level .eml is wrapped the
same way; the child is recognised by its label and its parts are walked.

Maildir: a folder with cur/, new/ and tmp/ is one mailbox. Discovery asks
`is_maildir(folder)` for each folder it enters; when true it yields
`maildir_sources(folder)` instead of walking the folder itself (that also
covers Maildir++ subfolders such as .Sent/ and messages left in tmp/).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from email.parser import BytesParser
from email.policy import compat32
from pathlib import Path

from mfaleaks.classify import SNIFF_BYTES, Kind, classify_bytes
from mfaleaks.extract.base import Context, Item
from mfaleaks.extract.mailhead import read_info
from mfaleaks.extract.mbox import extract_mbox
from mfaleaks.extract.mime import inline_child, is_labelled, message_child, size_text, walk_message
from mfaleaks.listing import in_order, open_folder
from mfaleaks.models import Origin, Skip, Source

__all__ = ["extract_eml", "extract_mbox", "is_maildir", "maildir_sources", "not_this_format"]

MAILDIR_PARTS = ("cur", "new", "tmp")


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


def is_maildir(folder: str | os.PathLike[str]) -> bool:
    return all(os.path.isdir(os.path.join(folder, part)) for part in MAILDIR_PARTS)


def maildir_sources(folder: str | os.PathLike[str]) -> Iterator[Source]:
    """One source per message file in cur/ and new/, Maildir++ subfolders included.

    `path` is the Maildir folder and `member` the message file relative to it
    (`cur/1714560000.M1P2.host:2,S`, `.Sent/cur/...`). tmp/ holds deliveries in
    progress, read anyway: a half-written message can still hold codes.
    """
    root = Path(folder)
    yield from _maildir(root, root)


def _maildir(root: Path, folder: Path) -> Iterator[Source]:
    for part in MAILDIR_PARTS:
        where = folder / part
        for entry in _entries(where):
            if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                continue
            stat = entry.stat(follow_symlinks=False)
            path = where / entry.name
            yield Source(
                origin=Origin(str(root), (path.relative_to(root).as_posix(),)),
                name=entry.name,
                fs_path=str(path),
                size=stat.st_size,
                mtime=stat.st_mtime,
                kind_hint=Kind.EML.value,
                uid=stat.st_uid,
                gid=stat.st_gid,
                mode=stat.st_mode,
            )
    subfolders = sorted(e.name for e in _entries(folder) if e.is_dir(follow_symlinks=False))
    for name in subfolders:
        if name not in MAILDIR_PARTS and is_maildir(folder / name):
            yield from _maildir(root, folder / name)


def _entries(folder: Path) -> Iterator[os.DirEntry[str]]:
    """A folder's entries in name order (bounded: a cur/ can be huge), listed without
    touching its access time; none if it cannot be listed. The entries stat through the
    folder's descriptor, open while they are iterated."""
    try:
        fd = open_folder(str(folder))
    except OSError:
        return
    try:
        try:
            entries = in_order(os.scandir(fd))
        except OSError:
            return
        yield from entries
    finally:
        os.close(fd)


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
