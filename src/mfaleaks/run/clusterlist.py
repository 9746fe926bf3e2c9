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
"""

from __future__ import annotations

import os
import stat
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from typing import Any, Protocol

from mfaleaks.models import ScanError, Source
from mfaleaks.sources.listing import (
    ERROR,
    MAILDIR,
    Record,
    Stat,
    WalkOptions,
    display,
    folder_records,
    is_maildir,
    open_folder,
    stat_of,
)

BUDGET = 4096  # entries listed by one task (a task should carry >= 100 ms of work) ...
SECONDS = 0.2  # ... or this long, whichever comes first
TAKE = 8  # folders of the frontier handed to one task

Listed = tuple[int, str, str | None, list[Record]]
"""One folder a task listed: (index of the folder it was found in, in the same answer, or
-1 for one the client gave; the folder; its real path; its records)."""
Answer = tuple[list[Listed], list[tuple[int, str]]]
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


def list_folders(todo: list[str], opts: WalkOptions, budget: int = BUDGET) -> Answer:
    """In a worker: the records of the folders in todo and below, depth first, until
    about `budget` entries are listed; the folders not reached are handed back."""
    stack = [(-1, folder) for folder in reversed(todo)]
    out: list[Listed] = []
    seen: set[str] = set()
    listed = 0
    deadline = time.monotonic() + SECONDS
    while stack and (not out or (listed < budget and time.monotonic() < deadline)):
        parent, folder = stack.pop()
        key, records, subdirs = _one(folder, opts, seen)
        out.append((parent, folder, key, records))
        listed += 1 + sum(len(r[2]) for r in records if r[0] != ERROR and r[0] != MAILDIR)
        here = len(out) - 1
        stack.extend((here, sub) for sub in reversed(subdirs))
    return out, stack


def _one(folder: str, opts: WalkOptions, seen: set[str]) -> tuple[str | None, list[Record],
                                                                   list[str]]:
    """One folder, as listing.listings lists it: (its real path, records, subfolders)."""
    try:
        os.stat(folder)
    except OSError as exc:
        return None, [(ERROR, display(folder), f"cannot open folder: {exc.strerror}")], []
    key = os.path.realpath(folder)
    if key in seen:
        return None, [(ERROR, display(folder), "skipped: symbolic link loop")], []
    seen.add(key)
    try:
        fd = open_folder(folder)
    except OSError as exc:
        if is_maildir(folder):  # cur/new/tmp are what matter: try them
            return key, [_maildir(folder)], []
        return key, [(ERROR, display(folder), f"cannot list folder: {exc.strerror}")], []
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
        return key, [_maildir(folder)], []
    return key, records, subdirs


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


Submit = Callable[[list[str]], Pending]
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
        frontier = [top]
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
                ok = yield from self._accept(listed)
                frontier.extend(folder for parent, folder in left if parent < 0 or ok[parent])

    def _accept(self, listed: list[Listed]) -> Generator[Record, None, list[bool]]:
        """The records of the folders no other task listed first; returns, per folder,
        whether it was taken (the folders below one that was not are dropped)."""
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
        return ok
