"""Maildir folders as sources: a folder with cur/, new/ and tmp/ is one mailbox.

Discovery asks `is_maildir(folder)` for each folder it enters; when true it
yields `maildir_sources(folder)` instead of walking the folder itself (that also
covers Maildir++ subfolders such as .Sent/ and messages left in tmp/). Each
message is a source labelled EML, read by extract/mail.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from mfaleaks.models import Origin, Source
from mfaleaks.sources.classify import Kind
from mfaleaks.sources.listing import in_order, open_folder

MAILDIR_PARTS = ("cur", "new", "tmp")


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
