"""Command-line paths -> a stream of sources on disk.

Walks folders without recursion limits (iteratively), never follows symbolic
links unless asked (and then detects loops), and skips what is not a regular
file. Every skipped path is reported with its reason; nothing here reads
file contents.
"""

from __future__ import annotations

import fnmatch
import itertools
import operator
import os
import stat
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from mfaleaks.models import FileResult, Origin, ScanError, Source


@dataclass(frozen=True)
class WalkOptions:
    excludes: tuple[str, ...] = ()
    follow_symlinks: bool = False
    max_file_size: int = 0  # 0: no limit


def display(path: str) -> str:
    """A printable form of a file name that is not valid UTF-8."""
    if path.isascii():
        return path  # the common case, and a constant-time check
    return os.fsencode(path).decode("utf-8", "backslashreplace")


SORT_LIMIT = 10_000  # a folder with more entries is walked in listing order, not sorted


def in_order(
    listing: Iterator[os.DirEntry[str]],
) -> list[os.DirEntry[str]] | Iterator[os.DirEntry[str]]:
    """A folder's entries sorted by name, or in listing order past SORT_LIMIT entries.

    Memory stays bounded whatever the folder: a mail spool or a Maildir cur/ can
    hold hundreds of thousands of files, and only SORT_LIMIT entries are held.
    The report is sorted anyway; only the order of reading changes.
    """
    head = list(itertools.islice(listing, SORT_LIMIT))
    if len(head) < SORT_LIMIT:
        _close(listing)
        head.sort(key=_NAME)
        return head
    return _rest(head, listing)


_NAME = operator.attrgetter("name")


def _rest(
    head: list[os.DirEntry[str]], listing: Iterator[os.DirEntry[str]]
) -> Iterator[os.DirEntry[str]]:
    try:
        yield from head
        del head[:]
        yield from listing
    except OSError:
        return  # the folder failed part way (I/O error): what was listed is scanned
    finally:
        _close(listing)


def _close(listing: object) -> None:
    close = getattr(listing, "close", None)
    if close is not None:
        close()


_FOLDER_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
_NOATIME = getattr(os, "O_NOATIME", 0)


def open_folder(path: str) -> int:
    """A descriptor to list a folder without touching its access time where the OS
    allows it (O_NOATIME: folders we own, or as root): the scanned tree is left as it
    was, folders included. os.scandir(path) would update it (relatime: once a day)."""
    if _NOATIME:
        try:
            return os.open(path, _FOLDER_FLAGS | _NOATIME)
        except PermissionError:
            pass  # someone else's folder: O_NOATIME is refused, list it the plain way
    return os.open(path, _FOLDER_FLAGS)


def _excluded(path: str, name: str, patterns: tuple[str, ...]) -> bool:
    return any(
        fnmatch.fnmatch(path, p) or fnmatch.fnmatch(name, p) or fnmatch.fnmatch(path, f"*/{p}")
        for p in patterns
    )


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

        def file(self, name: str, st: os.stat_result) -> bool:
            """True: this file is answered for (in done()), no Source needed."""

        def done(self) -> FileResult | None:
            """One result for every file answered for in the folder, if any."""

    Probe = Callable[[str], FolderCheck | None]
    """A folder the walk is about to list -> how to check its files, or None."""


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
    elif not _excluded_file(root, opts.excludes):
        # Files named one by one (pre-commit passes staged names) honour excludes too.
        yield _file(root, st, opts)


def _excluded_file(path: str, patterns: tuple[str, ...]) -> bool:
    """The file, or a folder on its relative path, matches an exclude pattern."""
    if not patterns:
        return False
    if os.path.isabs(path):
        return _excluded(display(path), display(os.path.basename(path)), patterns)
    parts = os.path.normpath(path).split(os.sep)
    for i in range(len(parts), 0, -1):
        if parts[i - 1] in (".", ".."):
            break
        if _excluded(display(os.sep.join(parts[:i])), display(parts[i - 1]), patterns):
            return True
    return False


def _file(
    path: str, st: os.stat_result, opts: WalkOptions, name: str | None = None
) -> Source | ScanError:
    shown = display(path)
    if not stat.S_ISREG(st.st_mode):
        return ScanError(shown, None, f"skipped: {_kind_name(st.st_mode)}")
    if opts.max_file_size and st.st_size > opts.max_file_size:
        return ScanError(
            shown, None,
            f"skipped: {st.st_size} bytes is over --max-file-size ({opts.max_file_size})",
        )
    return Source(
        origin=Origin(shown),
        name=display(os.path.basename(path) if name is None else name),
        fs_path=path,
        size=st.st_size,
        mtime=st.st_mtime,
        uid=st.st_uid,
        gid=st.st_gid,
        mode=st.st_mode,
        stat_key=(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino),
    )


_MAILDIR = ("cur", "new", "tmp")


def is_maildir(path: str) -> bool:
    return all(os.path.isdir(os.path.join(path, d)) for d in _MAILDIR)


def _listed_maildir(entries: list[os.DirEntry[str]]) -> bool:
    """is_maildir, told from a folder's sorted listing (no stat for the usual folder)."""
    found = [e for e in entries if e.name in _MAILDIR]
    return len(found) == 3 and all(e.is_dir() for e in found)


def _walk_dir(
    top: str, opts: WalkOptions, seen_dirs: set[tuple[int, int]], probe: Probe | None
) -> Iterator[Source | ScanError | FileResult]:
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder)
        except OSError as exc:
            yield ScanError(display(folder), None, f"cannot open folder: {exc.strerror}")
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:
            yield ScanError(display(folder), None, "skipped: symbolic link loop")
            continue
        seen_dirs.add(key)
        try:
            fd = open_folder(folder)
        except OSError as exc:
            if is_maildir(folder):  # cur/new/tmp are what matter: try them
                yield from _maildir(folder)
                continue
            yield ScanError(display(folder), None, f"cannot list folder: {exc.strerror}")
            continue
        try:
            # Entries listed from a descriptor stat through it: it stays open until the
            # folder is done (their .path is only the name, hence the joins below).
            subdirs = yield from _folder(folder, fd, opts, probe)
        finally:
            os.close(fd)
        if subdirs is None:  # a Maildir
            yield from _maildir(folder)
            continue
        stack.extend(reversed(subdirs))


def _folder(
    folder: str, fd: int, opts: WalkOptions, probe: Probe | None
) -> Generator[Source | ScanError | FileResult, None, list[str] | None]:
    """The files of one listed folder; returns its subfolders (None: it is a Maildir)."""
    try:
        entries = in_order(os.scandir(fd))
    except OSError as exc:
        yield ScanError(display(folder), None, f"cannot list folder: {exc.strerror}")
        return []
    # A Maildir is one mailbox. A folder listed in full tells it by its entries;
    # a huge one (never a Maildir's root, in practice) is asked with stat.
    if _listed_maildir(entries) if isinstance(entries, list) else is_maildir(folder):
        _close(entries)
        return None
    subdirs = []
    check = probe(folder) if probe is not None else None
    try:
        for entry in entries:
            name = entry.name
            path = os.path.join(folder, name)
            if opts.excludes and _excluded(display(path), display(name), opts.excludes):
                continue
            try:
                if entry.is_symlink():
                    if not opts.follow_symlinks:
                        yield ScanError(
                            display(path), None,
                            "skipped: symbolic link not followed (use --follow-symlinks)",
                        )
                        continue
                    est = os.stat(path)
                else:
                    est = entry.stat(follow_symlinks=False)
            except OSError as exc:
                yield ScanError(display(path), None, f"cannot open: {exc.strerror}")
                continue
            if stat.S_ISDIR(est.st_mode):
                subdirs.append(path)
            elif not (
                check is not None
                and stat.S_ISREG(est.st_mode)
                and not (opts.max_file_size and est.st_size > opts.max_file_size)
                and check.file(name, est)
            ):
                yield _file(path, est, opts, name)
    finally:
        _close(entries)
    if check is not None and (answered := check.done()) is not None:
        yield answered
    return subdirs


def _maildir(folder: str) -> Iterator[Source | ScanError]:
    """A Maildir (cur/new/tmp, with Maildir++ subfolders) is one mailbox."""
    from mfaleaks.extract.mail import maildir_sources

    try:
        yield from maildir_sources(folder)
    except OSError as exc:
        yield ScanError(display(folder), None, f"cannot read Maildir: {exc.strerror or exc}")
