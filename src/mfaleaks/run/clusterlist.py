"""Listing a tree on the cluster: folders as tasks, so the client never lists a share.

A worker lists the folders it is given and goes on into their subfolders,
depth first, until it has listed BUDGET entries; it answers with the records
of each folder it listed (listing.py's own, so discover turns them into the
same sources and errors as on one machine) and the folders it left for
others. The client keeps only that frontier of folders and a few listing
tasks in flight: what it holds does not grow with the number of files.

Folders are told apart by their real path, not (device, inode): each machine
numbers the devices of the same mount its own way, so a folder met again
through a followed symbolic link is known by every worker.

A folder of more than CHUNK entries is not one task's: the task that meets it
counts its entries (names only, no stat), lists the first CHUNK and hands back
one (folder, offset) piece per further CHUNK, which other tasks list by
skipping to their offset (the listing order of a folder that does not change
is the same each time it is read), one piece a task, its subfolders handed
back. Each piece is a FILES record of its own, so the client never holds more
than a few pieces at once, and a million files in one folder are listed by
~250 tasks side by side. The client gives the pieces' records right after the
first's, in order, before any other folder's: the scan cache takes a folder's
files as one run (a folder left is one listed whole).
"""

from __future__ import annotations

import itertools
import os
import stat
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any, Protocol

from mfaleaks.models import ScanError, Source
from mfaleaks.sources.listing import (
    ERROR,
    FILES,
    MAILDIR,
    Record,
    Stat,
    WalkOptions,
    close_listing,
    display,
    entry_files,
    folder_records,
    is_maildir,
    open_folder,
    stat_of,
)

BUDGET = 4096  # entries listed by one task (a task should carry >= 100 ms of work) ...
SECONDS = 0.2  # ... or this long, whichever comes first
TAKE = 8  # folders of the frontier handed to one task
CHUNK = 4096  # entries of a big folder listed by one task

Todo = str | tuple[str, int]
"""A folder to list, or a piece of a big one: (folder, offset of its first entry)."""
Listed = tuple[int, str, str | None, list[Record]]
"""One folder (or piece) a task listed: (index of the folder it was found in, in the same
answer, or -1 for one the client gave; the folder; its real path (None for a piece past the
first); its records)."""
Answer = tuple[list[Listed], list[tuple[int, Todo]]]
"""What a listing task gives: the folders it listed, and those it left (with their parent)."""
Root = tuple[str, Stat | str | None]
"""What a root of the command line is: ("file", Stat), ("dir", None), ("error", reason) or
("missing", reason)."""


def stat_root(root: str, follow_symlinks: bool) -> Root:
    """In a worker: a command-line path, as discover._walk_root sees it ("missing": the
    command line refuses it, as it refuses a path missing on one machine)."""
    try:
        st = os.stat(root) if follow_symlinks else os.lstat(root)
    except OSError as exc:
        return "missing" if not os.path.lexists(root) else "error", \
            f"cannot open: {exc.strerror}"
    if stat.S_ISLNK(st.st_mode):  # named on the command line: followed
        try:
            st = os.stat(root)
        except OSError as exc:
            return "error", f"broken symbolic link: {exc.strerror}"
    if stat.S_ISDIR(st.st_mode):
        return "dir", None
    return "file", stat_of(st)


def list_folders(todo: list[Todo], opts: WalkOptions, budget: int = BUDGET,
                 chunk: int = CHUNK) -> Answer:
    """In a worker: the records of the folders in todo and below, depth first, until
    about `budget` entries are listed; the folders not reached are handed back."""
    stack: list[tuple[int, Todo]] = [(-1, folder) for folder in reversed(todo)]
    out: list[Listed] = []
    back: list[tuple[int, Todo]] = []  # pieces, and what is below a piece
    seen: set[str] = set()
    listed = 0
    deadline = time.monotonic() + SECONDS
    while stack and (not out or (listed < budget and time.monotonic() < deadline)):
        parent, item = stack.pop()
        if isinstance(item, tuple):  # a piece: alone in its task (the client orders them)
            records, subdirs = _piece(item[0], item[1], opts, chunk)
            out.append((parent, item[0], None, records))
            back.extend((len(out) - 1, sub) for sub in subdirs)
            break
        key, records, subdirs, pieces = _one(item, opts, seen, chunk)
        out.append((parent, item, key, records))
        listed += 1 + sum(len(r[2]) for r in records if r[0] != ERROR and r[0] != MAILDIR)
        here = len(out) - 1
        back.extend((here, (item, k * chunk)) for k in range(1, pieces + 1))
        stack.extend((here, sub) for sub in reversed(subdirs))
    return out, stack + back


def _one(folder: str, opts: WalkOptions, seen: set[str], chunk: int,
         ) -> tuple[str | None, list[Record], list[str], int]:
    """One folder, as listing.listings lists it: (its real path, records, subfolders, pieces
    past the first left to list, for a folder of more than `chunk` entries)."""
    try:
        os.stat(folder)
    except OSError as exc:
        return None, [(ERROR, display(folder), f"cannot open folder: {exc.strerror}")], [], 0
    key = os.path.realpath(folder)
    if key in seen:
        return None, [(ERROR, display(folder), "skipped: symbolic link loop")], [], 0
    seen.add(key)
    try:
        fd = open_folder(folder)
    except OSError as exc:
        if is_maildir(folder):  # cur/new/tmp are what matter: try them
            return key, [_maildir(folder)], [], 0
        return key, [(ERROR, display(folder), f"cannot list folder: {exc.strerror}")], [], 0
    try:
        entries = _count(fd, chunk)
    except OSError:
        entries = 0  # folder_records says why
    if entries > chunk:
        os.close(fd)
        if is_maildir(folder):  # as folder_records asks a huge folder
            return key, [_maildir(folder)], [], 0
        first, below = _piece(folder, 0, opts, chunk)
        return key, first, below, (entries - 1) // chunk
    records: list[Record] = []
    try:
        walk = folder_records(folder, fd, opts)
        while True:
            try:
                records.append(next(walk))
            except StopIteration as stop:
                subdirs: list[str] | None = stop.value
                break
    finally:
        os.close(fd)
    if subdirs is None:
        return key, [_maildir(folder)], [], 0
    return key, records, subdirs, 0


def _count(fd: int, chunk: int) -> int:
    """A folder's entries, counted by name (no stat) if there are more than `chunk`.
    (scandir of a descriptor lists a copy of it and rewinds it when closed: the
    descriptor is left at the start for folder_records.)"""
    listing = os.scandir(fd)
    try:
        head = sum(1 for _ in itertools.islice(listing, chunk + 1))
        return head if head <= chunk else head + sum(1 for _ in listing)
    finally:
        close_listing(listing)


def _piece(folder: str, offset: int, opts: WalkOptions, chunk: int,
           ) -> tuple[list[Record], list[str]]:
    """Entries offset to offset + chunk of a big folder, in listing order, as
    listing.folder_records gives a huge folder's: (records, subfolders). A piece is a
    FILES record of its own (first and last: the cache's probe takes it alone)."""
    try:
        listing = os.scandir(folder)
    except OSError as exc:
        return [(ERROR, display(folder), f"cannot list folder: {exc.strerror}")], []
    try:
        deque(itertools.islice(listing, offset), maxlen=0)  # skipped, at C speed
        return _records(folder, itertools.islice(listing, chunk), opts)
    except OSError as exc:
        return [(ERROR, display(folder), f"cannot list folder: {exc.strerror}")], []
    finally:
        close_listing(listing)


def _records(folder: str, entries: Iterable[os.DirEntry[str]], opts: WalkOptions,
             ) -> tuple[list[Record], list[str]]:
    """Some entries of a folder as listing.folder_records tells them: (records,
    subfolders), the files in one FILES record after the errors."""
    records: list[Record] = []
    subdirs: list[str] = []
    files = list(entry_files(folder, entries, opts, subdirs, records))
    records.append((FILES, folder, files, True, True, None))
    return records, subdirs


def _maildir(folder: str) -> Record:
    """A Maildir's messages, read here (the client may not see the share): a MAILDIR
    record that carries them, as discover._maildir would give them."""
    from mfaleaks.sources.maildir import maildir_sources

    items: list[Source | ScanError] = []
    try:
        items.extend(maildir_sources(folder))
    except OSError as exc:
        items.append(ScanError(display(folder), None,
                               f"cannot read Maildir: {exc.strerror or exc}"))
    return (MAILDIR, folder, items)


class Pending(Protocol):
    """A task in flight (a Dask future)."""

    def done(self) -> bool: ...
    def result(self) -> Any: ...
    def release(self) -> None: ...


Submit = Callable[[list[Todo]], Pending]
"""Starts a listing task on some folders (list_folders on a worker)."""
Wait = Callable[[list[Pending]], None]
"""Blocks until at least one of the tasks is done."""


class FolderTasks:
    """The client's side: the records of a tree, from folder tasks kept `ahead` in flight.

    `seen` (real paths) holds the folders of one root, as discover's set does: a
    folder reached again through a followed link is listed once and reported as a
    loop the other time (a folder named twice on the command line is scanned twice,
    as on one machine)."""

    def __init__(self, submit: Submit, wait: Wait, ahead: int) -> None:
        self._submit, self._wait, self._ahead = submit, wait, max(1, ahead)
        self.seen: set[str] = set()
        self.tasks = 0  # listing tasks run (the bench reports tasks/s)

    def records(self, top: str) -> Iterator[Record]:
        self.seen = set()
        frontier: list[Todo] = [top]
        out: deque[Pending] = deque()
        while frontier or out:
            while frontier and len(out) < self._ahead:
                take = frontier[-TAKE:]
                del frontier[-TAKE:]
                out.append(self._submit(take[::-1]))
                self.tasks += 1
            self._wait(list(out))
            for future in [f for f in out if f.done()]:
                out.remove(future)
                listed, left = future.result()
                future.release()  # the scheduler forgets the answer
                ok = yield from self._accept(listed, left, frontier)
                frontier.extend(folder for parent, folder in left
                                if (parent < 0 or ok[parent]) and not isinstance(folder, tuple))

    def _accept(self, listed: list[Listed], left: list[tuple[int, Todo]],
                frontier: list[Todo]) -> Generator[Record, None, list[bool]]:
        """The records of the folders no other task listed first, each big one's pieces
        right after its first; returns, per folder, whether it was taken (the folders below
        one that was not are dropped)."""
        ok: list[bool] = []
        for parent, folder, key, records in listed:
            if parent >= 0 and not ok[parent]:
                ok.append(False)
                continue
            if key is not None and key in self.seen:
                ok.append(False)
                yield (ERROR, display(folder), "skipped: symbolic link loop")
                continue
            if key is not None:
                self.seen.add(key)
            ok.append(True)
            yield from records
            here = len(ok) - 1
            pieces: list[Todo] = [item for at, item in left
                                  if at == here and isinstance(item, tuple)]
            if pieces:
                frontier.extend((yield from self._pieces(pieces)))
        return ok

    def _pieces(self, pieces: list[Todo]) -> Generator[Record, None, list[Todo]]:
        """A big folder's other pieces, one a task, `ahead` at a time, their records in
        order; returns the folders found in them."""
        todo = deque(pieces)
        out: deque[Pending] = deque()
        below: list[Todo] = []
        while todo or out:
            while todo and len(out) < self._ahead:
                out.append(self._submit([todo.popleft()]))
                self.tasks += 1
            oldest = out.popleft()
            self._wait([oldest])
            listed, left = oldest.result()
            oldest.release()
            for _, _, _, records in listed:
                yield from records
            below.extend(item for _, item in left)
        return below
