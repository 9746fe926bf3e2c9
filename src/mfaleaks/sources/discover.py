"""Command-line paths -> a stream of sources on disk.

Walks folders without recursion limits (iteratively), never follows symbolic
links unless asked (and then detects loops), and skips what is not a regular
file. Every skipped path is reported with its reason; nothing here reads
file contents. The system calls are listing.py's; this module decides what
each listed entry becomes.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Protocol

from mfaleaks.models import FileResult, Origin, ScanError, Source
from mfaleaks.sources.listing import (
    ERROR,
    FILES,
    MAILDIR,
    PACKED,
    SEEN,
    Record,
    Stat,
    WalkOptions,
    display,
    excluded,
    key_of,
    listings,
    listings_by_child,
    mtime_of,
    stat_of,
    unpacked,
)

__all__ = ["WalkOptions", "discover", "display", "file_root", "from_records"]


def _kind_name(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device file"
    return "not a regular file"


if TYPE_CHECKING:  # types only: a Protocol class costs start-up to build

    class FolderCheck(Protocol):
        """Files of one folder that need no reading (the cache, on a rescan)."""

        def files(self, files: list[tuple[str, Stat]]) -> list[tuple[str, Stat]]:
            """Of some regular files of the folder, those it does not answer for (in
            done()): they need a Source."""

        def whole(self, count: int, size: int) -> bool:
            """Does it answer for every file of the folder unseen (count regular files of
            size bytes in all; then they count in done())?"""

        def done(self) -> FileResult | None:
            """One result for every file answered for in the folder, if any."""

    Probe = Callable[[str, bytes | None], FolderCheck | None]
    """A folder the walk is about to list, and its listing's folder_digest if it has one
    -> how to check its files, or None."""


def discover(
    paths: tuple[str, ...], opts: WalkOptions, probe: Probe | None = None
) -> Iterator[Source | ScanError | FileResult]:
    """Every file under paths as a Source to read; with a probe (the cache, on a rescan),
    the files it answers for come out as one FileResult per folder instead."""
    seen_dirs: set[tuple[int, int]] = set()
    for root in paths:
        yield from _walk_root(root, opts, seen_dirs, probe)


def _walk_root(
    root: str, opts: WalkOptions, seen_dirs: set[tuple[int, int]], probe: Probe | None
) -> Iterator[Source | ScanError | FileResult]:
    try:
        st = os.stat(root) if opts.follow_symlinks else os.lstat(root)
    except OSError as exc:
        yield ScanError(display(root), None, f"cannot open: {exc.strerror}")
        return
    if stat.S_ISLNK(st.st_mode):
        # A symlink named on the command line is followed: the user asked for it.
        try:
            st = os.stat(root)
        except OSError as exc:
            yield ScanError(display(root), None, f"broken symbolic link: {exc.strerror}")
            return
    if stat.S_ISDIR(st.st_mode):
        yield from _walk_dir(root, opts, seen_dirs, probe)
    elif (item := file_root(root, stat_of(st), opts)) is not None:
        yield item


def file_root(root: str, st: Stat, opts: WalkOptions) -> Source | ScanError | None:
    """A file named on the command line; None when excluded (files named one by one,
    as pre-commit passes staged names, honour excludes too)."""
    return None if _excluded_file(root, opts.excludes) else _file(root, st, opts)


def _excluded_file(path: str, patterns: tuple[str, ...]) -> bool:
    """The file, or a folder on its relative path, matches an exclude pattern."""
    if not patterns:
        return False
    if os.path.isabs(path):
        return excluded(display(path), display(os.path.basename(path)), patterns)
    parts = os.path.normpath(path).split(os.sep)
    for i in range(len(parts), 0, -1):
        if parts[i - 1] in (".", ".."):
            break
        if excluded(display(os.sep.join(parts[:i])), display(parts[i - 1]), patterns):
            return True
    return False


def _file(path: str, st: Stat, opts: WalkOptions, name: str | None = None) -> Source | ScanError:
    shown = display(path)
    mode, size = st[0], st[1]
    if not stat.S_ISREG(mode):
        return ScanError(shown, None, f"skipped: {_kind_name(mode)}")
    if opts.max_file_size and size > opts.max_file_size:
        return ScanError(
            shown, None, f"skipped: {size} bytes is over --max-file-size ({opts.max_file_size})"
        )
    return Source(
        origin=Origin(shown),
        name=display(os.path.basename(path) if name is None else name),
        fs_path=path,
        size=size,
        mtime=mtime_of(st),
        uid=st[5],
        gid=st[6],
        device=st[7],
        mode=mode,
        stat_key=key_of(st),
    )


def _walk_dir(
    top: str, opts: WalkOptions, seen_dirs: set[tuple[int, int]], probe: Probe | None
) -> Iterator[Source | ScanError | FileResult]:
    # With a cache (a probe) a child makes the walk's system calls while this process
    # compares what they say with the cache: on a rescan that is all there is to do.
    records = (listings_by_child if probe is not None and PIPELINE else listings)(
        top, opts, seen_dirs)
    yield from from_records(records, opts, probe, seen_dirs)


def from_records(
    records: Iterable[Record], opts: WalkOptions, probe: Probe | None,
    seen_dirs: set[tuple[int, int]] | None = None,
) -> Iterator[Source | ScanError | FileResult]:
    """What the records of a walk (listing.py's, made here, by a child or by the workers
    of a cluster) stand for. A MAILDIR record may carry its messages already."""
    check = None
    limit = opts.max_file_size or sys.maxsize
    for record in records:
        kind = record[0]
        if kind == PACKED:
            check = probe(record[1], record[3]) if probe is not None else None
            # (A file over the size limit goes to _file for its reason.)
            if check is not None and record[6] <= limit and check.whole(record[4], record[5]):
                if (answered := check.done()) is not None:
                    yield answered
                continue
            record, kind, probed = unpacked(record), FILES, True
        else:
            probed = False
        if kind == FILES:
            _, folder, files, first, last, digest = record
            if first and not probed:
                check = probe(folder, digest) if probe is not None else None
            if check is not None:
                # Regular files within the size limit are asked about; the others
                # (a FIFO, a file too big) go to _file for their reason.
                asked: list[tuple[str, Stat]] = []
                others: list[tuple[str, Stat]] = []
                for f in files:
                    (asked if stat.S_ISREG(f[1][0]) and f[1][1] <= limit else others).append(f)
                files = others + check.files(asked)
            for name, st in files:
                yield _file(os.path.join(folder, name), st, opts, name)
            if last and check is not None and (answered := check.done()) is not None:
                yield answered
        elif kind == SEEN:
            if seen_dirs is not None:
                seen_dirs.add(record[1])  # the child's set is its own
        elif kind == ERROR:
            yield ScanError(record[1], None, record[2])
        else:
            assert kind == MAILDIR
            yield from record[2] if len(record) > 2 else _maildir(record[1])


PIPELINE = True  # tests turn it off to check both ways give the same


def _maildir(folder: str) -> Iterator[Source | ScanError]:
    """A Maildir (cur/new/tmp, with Maildir++ subfolders) is one mailbox."""
    from mfaleaks.sources.maildir import maildir_sources

    try:
        yield from maildir_sources(folder)
    except OSError as exc:
        yield ScanError(display(folder), None, f"cannot read Maildir: {exc.strerror or exc}")
