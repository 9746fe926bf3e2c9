"""Folder listings: the system calls of a walk, as plain records.

A rescan spends half its walk in the kernel (a stat per file, ~2 us here) and
the other half comparing what stat says with the cache. The listings are
plain tuples, so a forked child can make the calls while this process does
the comparing: the two overlap instead of adding up. discover.py decides
what each listed entry becomes; nothing here reads a file.

A rescan forks its listing child before it loads anything else (cli/launch.py):
this module imports only what the child needs to list, and the rest (fnmatch,
signal, threading) where it is used.

Records, in walk order:
  (SEEN, (dev, ino))            a folder entered (loops are told by these)
  (FILES, folder, files, first, last, digest)
                                regular files and other non-folders of a
                                folder, as (name, Stat); a huge folder comes in
                                parts, `first` and `last` mark its ends; digest:
                                folder_digest of a folder listed in one part,
                                when asked (WalkOptions.digests), else None
  (PACKED, folder, packed, digest, count, size, largest)
                                on a walk with digests, a folder listed in one
                                part whose entries are all regular files:
                                `packed` is its files marshalled, opened only
                                if the cache does not answer for the folder as
                                a whole (count files, size bytes in all, the
                                largest of largest bytes): a rescan's parent
                                then has nothing to do per file
  (MAILDIR, folder)             a Maildir: the caller reads it as a mailbox
  (ERROR, shown path, reason)   something skipped, and why
"""

from __future__ import annotations

import itertools
import marshal
import operator
import os
import stat
import sys

from mfaleaks.frames import read_frame, widen_pipe, write_frame

try:  # hashlib's own blake2b, without the OpenSSL hashlib loads (~3 ms of the listing child)
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - a Python built without it
    from hashlib import blake2b

# Types only: typing and collections.abc cost ~9 ms to import, before the early fork.
# (mypy reads the block below; a TYPE_CHECKING taken from typing would import it.)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Generator, Iterable, Iterator, Set
    from typing import Any


class WalkOptions:
    """What a walk lists and how. Immutable, compared and pickled by value; a plain class,
    since dataclasses or typing.NamedTuple would cost their import before the fork."""

    __slots__ = ("excludes", "follow_symlinks", "max_file_size", "digests", "listers")  # noqa: RUF023 (in order)
    excludes: tuple[str, ...]
    follow_symlinks: bool
    max_file_size: int  # 0: no limit
    digests: bool  # a folder_digest per folder (a rescan compares them with the cache)
    listers: int  # children that share a rescan's listing (listings_by_child)

    def __init__(self, excludes: tuple[str, ...] = (), follow_symlinks: bool = False,
                 max_file_size: int = 0, digests: bool = False, listers: int = 1) -> None:
        for name, value in zip(self.__slots__, (excludes, follow_symlinks, max_file_size,
                                                digests, listers), strict=True):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"WalkOptions is immutable: cannot set {name}")

    def _values(self) -> tuple[tuple[str, ...], bool, int, bool, int]:
        return self.excludes, self.follow_symlinks, self.max_file_size, self.digests, self.listers

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WalkOptions) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in zip(self.__slots__,
                                                                    self._values(), strict=True))
        return f"WalkOptions({shown})"

    def __reduce__(self) -> tuple[type[WalkOptions], tuple[tuple[str, ...], bool, int, bool, int]]:
        return WalkOptions, self._values()


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
        close_listing(listing)
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
        close_listing(listing)


def close_listing(listing: object) -> None:
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


def excluded(path: str, name: str, patterns: tuple[str, ...]) -> bool:
    import fnmatch  # (only a walk with --exclude)

    return any(
        fnmatch.fnmatch(path, p) or fnmatch.fnmatch(name, p) or fnmatch.fnmatch(path, f"*/{p}")
        for p in patterns
    )


_MAILDIR = ("cur", "new", "tmp")


def is_maildir(path: str) -> bool:
    return all(os.path.isdir(os.path.join(path, d)) for d in _MAILDIR)


def listed_maildir(entries: list[os.DirEntry[str]]) -> bool:
    """is_maildir, told from a folder's sorted listing (no stat for the usual folder)."""
    found = [e for e in entries if e.name in _MAILDIR]
    return len(found) == 3 and all(e.is_dir() for e in found)


# mode, size, mtime_ns, ctime_ns, ino, uid, gid, dev
Stat = tuple[int, int, int, int, int, int, int, int]
Record = tuple["Any", ...]

SEEN, FILES, MAILDIR, ERROR, PACKED = 0, 1, 2, 3, 4
_KIND = 0o170000  # the file type bits of a mode (what stat.S_IFMT keeps)
PART = 4096  # files of a huge folder per record: memory stays bounded
_BATCH = 64  # records per message from the child


def stat_of(st: os.stat_result) -> Stat:
    return (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_uid,
            st.st_gid, st.st_dev)


def key_of(st: Stat) -> tuple[int, int, int, int]:
    """(size, mtime_ns, ctime_ns, ino): how the cache tells an unchanged file (StatKey)."""
    return st[1:5]


# What os.fsencode does, without its call per file (here and in run/plan.py).
FS_ENCODING, FS_ERRORS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()


def folder_digest(files: Iterable[tuple[bytes, tuple[int, int, int, int]]]) -> bytes:
    """One hash of a folder's files as (name as bytes, (size, mtime_ns, ctime_ns, inode)).

    The same whether it comes from a listing or from the cache's rows of the folder:
    equal digests say every file is there with the very stat facts the cache holds
    for it, and no other (the rescan then skips the folder's rows: cache/store.py)."""
    pairs = sorted(files, key=_FIRST)  # a folder never holds one name twice
    # marshal's format 2 is a function of the values alone (3 and later mark objects
    # seen twice, which depends on how they were made), and fast (30 ms for 50,000 files).
    return blake2b(marshal.dumps(pairs, 2), digest_size=16).digest()


_FIRST = operator.itemgetter(0)


def _digest_of_listing(files: list[tuple[str, Stat]]) -> bytes:
    return folder_digest((name.encode(FS_ENCODING, FS_ERRORS), st[1:5]) for name, st in files)


def mtime_of(st: Stat) -> float:
    """st_mtime as os.stat gives it (seconds plus nanoseconds times 1e-9)."""
    sec, nsec = divmod(st[2], 1_000_000_000)
    return sec + nsec * 1e-9


def listings(
    top: str, opts: WalkOptions, seen: set[tuple[int, int]], skip: Set[str] = frozenset(),
    share: tuple[int, int] = (0, 1),
) -> Iterator[Record]:
    """The records of the folder tree under top, made in this process. Folders in `skip`
    (listed already by a child that died) are listed for their subfolders only.

    share (i, n): one of n listings of the tree made side by side (listings_by_child).
    Down to SPLIT_DEPTH levels below top, this one tells only the folders whose
    (device, inode) falls to i (mine()), and goes through the others for their
    subfolders alone; a folder SPLIT_DEPTH levels down that falls to i is told with
    all it holds, and one that does not is left whole to its share. (A folder met on
    two ways down, a link followed or a folder mounted twice, is told once per share
    that meets it in a folder it tells whole: listings_by_child shares no walk that
    follows links.)"""
    # (folder, levels below top; MINE: in a folder this share tells whole)
    stack: list[tuple[str, int]] = [(top, 0)]
    parts = share[1]
    while stack:
        folder, depth = stack.pop()
        # Opened first: fstat through the descriptor costs a fraction of a stat by path.
        try:
            fd = open_folder(folder)
        except OSError as exc:
            fd, refused = -1, exc
        try:
            try:
                st = os.fstat(fd) if fd >= 0 else os.stat(folder)
            except OSError as exc:
                if share[0] == 0:  # (no inode to share it by: the first share tells it)
                    yield (ERROR, display(folder), f"cannot open folder: {exc.strerror}")
                continue
            key = (st.st_dev, st.st_ino)
            if key in seen:
                if parts == 1 or depth == MINE or mine(key, share):
                    yield (ERROR, display(folder), "skipped: symbolic link loop")
                continue
            seen.add(key)
            below = MINE if parts == 1 or depth == MINE else depth + 1
            if depth != MINE and parts > 1:
                if not mine(key, share):
                    if fd >= 0 and depth < SPLIT_DEPTH:
                        stack.extend((sub, below) for sub in reversed(_through(folder, fd, opts)))
                    continue
                if depth == SPLIT_DEPTH:
                    below = MINE
            yield (SEEN, key)
            if fd < 0:
                if folder in skip:
                    continue  # its error or its Maildir was told already
                if is_maildir(folder):  # cur/new/tmp are what matter: try them
                    yield (MAILDIR, folder)
                else:
                    yield (ERROR, display(folder), f"cannot list folder: {refused.strerror}")
                continue
            # Entries listed from a descriptor stat through it: it stays open until the
            # folder is done (their .path is only the name, hence the joins below).
            if folder in skip:
                subdirs = _subfolders(folder_records(folder, fd, opts))
                if subdirs is None:
                    continue  # a Maildir, told already
            else:
                subdirs = yield from folder_records(folder, fd, opts, pack=True)
        finally:
            if fd >= 0:
                os.close(fd)
        if subdirs is None:
            yield (MAILDIR, folder)
        else:
            stack.extend((sub, below) for sub in reversed(subdirs))


MINE = -1  # (a depth: in a folder that this share tells whole)
# Shares split folder by folder this far down, and by whole folders below: each share
# goes through the first levels only (its own and the others'), and the files of a
# Python install, /usr/lib or /usr/share fall 52-63% to one of two shares.
SPLIT_DEPTH = 4


def mine(key: tuple[int, int], share: tuple[int, int]) -> bool:
    """Does the folder with this (device, inode) fall to share i of n? (A hash of ints is
    the same in every process.)"""
    return hash(key) % share[1] == share[0]


def _through(folder: str, fd: int, opts: WalkOptions) -> list[str]:
    """The subfolders of a folder (open at fd) that another share lists, in the order
    folder_records gives them, with no stat of its files (as entry_files tells a
    subfolder); its errors are the other share's to tell, and a Maildir has none to go
    into."""
    try:
        entries = in_order(os.scandir(fd))
        if listed_maildir(entries) if isinstance(entries, list) else is_maildir(folder):
            close_listing(entries)
            return []
        found: list[str] = []
        try:
            for _ in entry_files(folder, entries, opts, found, [], files=False):
                pass  # (none: only the subfolders are told)
        finally:
            close_listing(entries)
        return found
    except OSError:
        return []


def _subfolders(records: Generator[Record, None, list[str] | None]) -> list[str] | None:
    """Only what folder_records returns: its records were told already."""
    while True:
        try:
            next(records)
        except StopIteration as end:
            return end.value  # type: ignore[no-any-return]


def folder_records(
    folder: str, fd: int, opts: WalkOptions, pack: bool = False
) -> Generator[Record, None, list[str] | None]:
    """The records of one listed folder; returns its subfolders (None: a Maildir).
    pack: a folder with a digest may come as a PACKED record."""
    try:
        entries = in_order(os.scandir(fd))
    except OSError as exc:
        yield (ERROR, display(folder), f"cannot list folder: {exc.strerror}")
        return []
    # A Maildir is one mailbox. A folder listed in full tells it by its entries;
    # a huge one (never a Maildir's root, in practice) is asked with stat.
    if listed_maildir(entries) if isinstance(entries, list) else is_maildir(folder):
        close_listing(entries)
        return None
    subdirs: list[str] = []
    files: list[tuple[str, Stat]] = []
    first = True
    errors: list[Record] = []
    try:
        for file in entry_files(folder, entries, opts, subdirs, errors):
            if errors:
                yield from errors
                errors.clear()
            files.append(file)
            if len(files) >= PART:
                yield (FILES, folder, files, first, False, None)
                files, first = [], False
        yield from errors
    finally:
        close_listing(entries)
    digest = _digest_of_listing(files) if first and opts.digests else None
    sizes = ([st[1] for _, st in files if st[0] & _KIND == stat.S_IFREG]
             if pack and digest is not None else None)
    if sizes is not None and len(sizes) == len(files):  # (all regular files)
        yield (PACKED, folder, marshal.dumps(files), digest, len(sizes), sum(sizes),
               max(sizes, default=0))
    else:
        yield (FILES, folder, files, first, True, digest)
    return subdirs


def unpacked(record: Record) -> Record:
    """A PACKED record as the FILES record it stands for."""
    return (FILES, record[1], marshal.loads(record[2]), True, True, record[3])


def entry_files(folder: str, entries: Iterable[os.DirEntry[str]], opts: WalkOptions,
                subdirs: list[str], errors: list[Record],
                files: bool = True) -> Iterator[tuple[str, Stat]]:
    """The plain files among some entries of a folder, as (name, Stat), in order; its
    subfolders are added to `subdirs`, entries that cannot be read or are links not
    followed to `errors` (ERROR records). Excluded entries are left out. files=False:
    the subfolders only, with no stat of a plain file (a share's _through)."""
    join = os.path.join
    for entry in entries:
        name = entry.name
        # The path is built only when used: most entries are plain files.
        if opts.excludes and excluded(display(join(folder, name)), display(name),
                                      opts.excludes):
            continue
        try:
            if entry.is_symlink():
                if not opts.follow_symlinks:
                    errors.append((ERROR, display(join(folder, name)),
                                   "skipped: symbolic link not followed (use --follow-symlinks)"))
                    continue
                est = os.stat(join(folder, name))
            elif entry.is_dir(follow_symlinks=False):  # told by the listing: no stat
                subdirs.append(join(folder, name))  # (listings() stats it on entering)
                continue
            elif not files:
                continue
            else:
                est = entry.stat(follow_symlinks=False)
        except OSError as exc:
            errors.append((ERROR, display(join(folder, name)), f"cannot open: {exc.strerror}"))
            continue
        if stat.S_ISDIR(est.st_mode):
            subdirs.append(join(folder, name))
            continue
        if files:
            yield name, stat_of(est)


LISTERS = 2  # most children that list a rescan side by side


def listers(jobs: int) -> int:
    """Children to list a rescan's walk: one per CPU up to LISTERS, one with --jobs 1.
    A rescan of an unchanged tree is its listing (a stat per file, the digests of the
    folders), and its parent has little else to do than read it. (Two, as measured on
    2 CPUs; the parent's reading is a third of the work, and would soon be what waits.)"""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(LISTERS, cpus, jobs))


def _shares(opts: WalkOptions) -> int:
    """Children to list with: opts.listers, or one where links are followed (a folder may
    then be met in the whole of two shares, and would be told twice)."""
    return 1 if opts.follow_symlinks else opts.listers


def listings_by_child(
    top: str, opts: WalkOptions, seen: set[tuple[int, int]]
) -> Iterator[Record]:
    """listings(), made by forked children and read from pipes (where fork exists): one,
    or opts.listers that share the tree's folders between them (listings' `share`).

    Only from a process with one thread: a thread holding a lock at the fork could
    leave a child stuck. (The worker pool has no thread in this process: every
    root of a scan is listed by a child.) A child that dies (the OOM killer, a
    signal) loses nothing: this process lists what it had not told (_Told).
    Records come in the order of each child; a folder told in parts is told whole
    before another child is read (the cache follows one folder at a time)."""
    at_start = set(seen)
    children = _take_early(top, opts, seen)
    if children is None:
        if not hasattr(os, "fork") or not _one_thread():
            yield from listings(top, opts, seen)
            return
        children = _fork_all(top, opts, seen, _shares(opts))
    if not children:  # no process to spare
        yield from listings(top, opts, seen)
        return
    live = {read_end: (pid, _Told()) for pid, read_end in children}
    told = [t for _, t in live.values()]
    died = False
    poll = _Poll(list(live)) if len(live) > 1 else None
    try:
        current: int | None = None  # a child in the middle of a folder: read it alone
        while live:
            read_end = current if current is not None else _ready(live, poll)
            pid, its = live[read_end]
            try:
                frame = read_frame(read_end)
            except EOFError:  # cut short: the child died writing
                frame = None
            batch = None if frame is None else [] if len(frame) == 0 else _records(frame)
            if batch is None or not batch:  # the end (an empty frame), or the child died
                del live[read_end]
                if poll is not None:
                    poll.drop(read_end)
                _stop(pid, read_end, kill=batch is None)
                current = None
                if batch is None:
                    died = True
                    yield from its.rest_of_part(opts)  # the folder it was in, first
                continue
            its.note(batch)
            yield from batch
            current = read_end if its.part is not None else None
    finally:
        for read_end, (pid, _) in live.items():
            _stop(pid, read_end)
    if died:
        yield from _Told.rest(told, top, opts, at_start)


class _Poll:
    """poll() over the children's pipes (imported here: a single child needs none)."""

    def __init__(self, fds: list[int]) -> None:
        import select

        self._poll = select.poll()
        for fd in fds:
            self._poll.register(fd, select.POLLIN)

    def ready(self) -> int:
        while True:
            events = self._poll.poll()
            if events:
                return events[0][0]  # (POLLHUP too: the read tells the end)

    def drop(self, fd: int) -> None:
        self._poll.unregister(fd)


def _ready(live: dict[int, tuple[int, _Told]], poll: _Poll | None) -> int:
    return next(iter(live)) if poll is None else poll.ready()


class _Told:
    """What a listing child has told so far, so that this process can list the rest if it
    dies: the folders it listed in full, the one it was listing in parts (and the names it
    gave), the errors it reported. Memory: a path per folder, at most PART names."""

    def __init__(self) -> None:
        self.done: set[str] = set()
        self.part: tuple[str, set[str]] | None = None
        self.errors: set[tuple[str, str]] = set()

    def note(self, batch: list[Record]) -> None:
        for record in batch:
            kind = record[0]
            if kind == FILES:
                folder, files, last = record[1], record[2], record[4]
                if last:
                    self.done.add(folder)
                    self.part = None
                else:
                    names = self.part[1] if self.part and self.part[0] == folder else set()
                    names.update(name for name, _ in files)
                    self.part = (folder, names)
            elif kind in (MAILDIR, PACKED):
                self.done.add(record[1])
            elif kind == ERROR:
                self.errors.add((record[1], record[2]))

    def rest_of_part(self, opts: WalkOptions) -> Iterator[Record]:
        """The rest of the folder the child was telling in parts when it died (the walk is
        in the middle of it)."""
        if self.part is None:
            return
        folder, names = self.part
        self.done.add(folder)
        self.part = None
        try:
            fd = open_folder(folder)
        except OSError as exc:
            yield (ERROR, display(folder), f"cannot list folder: {exc.strerror}")
            return
        try:
            for record in folder_records(folder, fd, opts):
                if record[0] == FILES:
                    files = [f for f in record[2] if f[0] not in names]
                    yield (FILES, folder, files, False, record[4], None)
                elif record[0] != ERROR or (record[1], record[2]) not in self.errors:
                    yield record
        finally:
            os.close(fd)

    @staticmethod
    def rest(told: list[_Told], top: str, opts: WalkOptions,
             seen: set[tuple[int, int]]) -> Iterator[Record]:
        """The folders no child listed (after every child has ended), listed here."""
        done = set().union(*(t.done for t in told))
        errors = set().union(*(t.errors for t in told))
        for record in listings(top, opts, seen, skip=done):
            if record[0] != ERROR or (record[1], record[2]) not in errors:
                yield record


def _records(frame: bytearray | None) -> list[Record] | None:
    if frame is None:
        return None
    try:
        batch = marshal.loads(frame)
    except (EOFError, ValueError, TypeError):
        return None
    return batch if isinstance(batch, list) else None


def _fork_all(top: str, opts: WalkOptions, seen: set[tuple[int, int]],
              count: int) -> list[tuple[int, int]]:
    """count listing children sharing top (fewer if the system has no process to spare:
    then none, and this process lists)."""
    children: list[tuple[int, int]] = []
    for i in range(count):
        child = _fork(top, opts, seen, (i, count))
        if child is None:
            for pid, read_end in children:
                _stop(pid, read_end)
            return []
        children.append(child)
    return children


def _fork(top: str, opts: WalkOptions, seen: set[tuple[int, int]],
          share: tuple[int, int]) -> tuple[int, int] | None:
    """A listing child started on its share of top: (its pid, the read end of its pipe)."""
    read_end, write_end = os.pipe()
    try:
        widen_pipe(write_end)
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return None
    if pid == 0:  # pragma: no cover - the child; its records are what the tests check
        try:
            os.close(read_end)
            _child(top, opts, seen, write_end, share)
        finally:
            os._exit(1)  # (_child never returns; whatever happens, the copy goes no further)
    os.close(write_end)
    return pid, read_end


# Children started before the command line was parsed (start_early), waiting for their walk.
_early: tuple[str, tuple[tuple[str, ...], bool], list[tuple[int, int]]] | None = None


def start_early(top: str, opts: WalkOptions) -> None:
    """Start listing top now, from a process that has loaded almost nothing yet: a cached
    rescan spends ~40 ms loading the CLI, and the listing (as long again) overlaps it.
    The walk takes this child only if it asks for the very same listing (_take_early)."""
    global _early
    if _early is not None or not hasattr(os, "fork") or not _one_thread():
        return
    children = _fork_all(top, opts, set(), _shares(opts))
    if children:
        _early = (top, (opts.excludes, opts.follow_symlinks), children)
        import atexit

        atexit.register(_drop_early)  # a usage error, a scan that never walks


def _take_early(
    top: str, opts: WalkOptions, seen: set[tuple[int, int]]
) -> list[tuple[int, int]] | None:
    """The early children, if they list what is asked now (else they are stopped)."""
    global _early
    early, _early = _early, None
    if early is None:
        return None
    # (The early child makes digests: a walk that has no use for them ignores them.)
    wanted = (top, (opts.excludes, opts.follow_symlinks))
    if (early[0], early[1]) == wanted and not seen:
        return early[2]
    for pid, read_end in early[2]:
        _stop(pid, read_end)
    return None


def _drop_early() -> None:
    global _early
    early, _early = _early, None
    if early is not None:
        for pid, read_end in early[2]:
            _stop(pid, read_end)


def _stop(pid: int, read_end: int, kill: bool = True) -> None:
    """Close the pipe (a child still writing gets EPIPE), kill the child unless it has
    finished, and reap it."""
    import contextlib
    import signal

    os.close(read_end)
    if kill:
        with contextlib.suppress(OSError):  # it has just ended by itself
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _one_thread() -> bool:
    """No thread but this one: a fork is safe (no lock held by another thread). A process
    that never imported threading has started none (cli/launch.py forks that early)."""
    threading = sys.modules.get("threading")
    return threading is None or threading.active_count() == 1


def _child(top: str, opts: WalkOptions, seen: set[tuple[int, int]], fd: int,
           share: tuple[int, int]) -> None:
    """Write the records of this share of top to fd in batches; never return (os._exit)."""
    code = 0
    try:
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides on Ctrl-C
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        batch: list[Record] = []
        for record in listings(top, opts, seen, share=share):
            batch.append(record)
            if len(batch) >= _BATCH:
                write_frame(fd, marshal.dumps(batch))
                batch = []
        if batch:
            write_frame(fd, marshal.dumps(batch))
        write_frame(fd, b"")  # the end: an empty frame
    except BaseException:  # the parent reports a walk that ended early
        code = 1
    finally:
        os._exit(code)  # no cleanup: the parent's buffers and files are the parent's



