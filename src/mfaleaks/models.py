"""Data that moves through the pipeline: sources, text chunks, findings, results.

Everything here is a frozen dataclass so a result can cross a process boundary
(pickled) and nothing downstream can reach back and change it.
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, BinaryIO

Identity = tuple[int | None, int]  # (device, inode) of a file on disk; device may be unknown

Box = tuple[int, int, int, int]
"""A bounding box in pixels: left, top, width, height."""


class Confidence(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return _CONFIDENCE_RANK[self]


_CONFIDENCE_RANK = {Confidence.LOW: 1, Confidence.MEDIUM: 2, Confidence.HIGH: 3}


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


@dataclass(frozen=True)
class Origin:
    """Where a piece of content came from.

    `path` is the file on disk as reached from the command-line argument;
    `chain` names the places inside containers, outermost first
    (message 3 <id@host>, codes.zip, codes.txt). `meta` carries facts that
    extractors learned on the way (mail date and sender, PDF page, sheet).
    """

    path: str
    chain: tuple[str, ...] = ()
    meta: Mapping[str, str] = field(default_factory=dict)

    def child(self, member: str, **meta: str) -> Origin:
        merged = dict(self.meta)
        merged.update({k: printable(v) for k, v in meta.items() if v})
        return Origin(self.path, (*self.chain, printable(member)), merged)

    @property
    def member(self) -> str | None:
        return " / ".join(self.chain) if self.chain else None


@dataclass(slots=True)  # not frozen: one per file of a share, and frozen costs 3x to build
class Source:
    """A blob to classify and extract: a file on disk or a piece of a container.

    `fs_path` is set for a file on disk (read lazily, streamed) and `data` for
    bytes already in memory (a mail attachment); a small file read whole by
    its worker has both, and is read from `data`.
    """

    origin: Origin
    name: str
    fs_path: str | None = None
    data: bytes | None = None
    size: int = 0
    depth: int = 0
    mtime: float | None = None
    kind_hint: str | None = None
    # Owner and permission bits of a file on disk (from the walk's stat): owner and exposure.
    uid: int | None = None
    gid: int | None = None
    mode: int | None = None
    # (size, mtime_ns, ctime_ns, inode) from the walk: the cache's test of an unchanged file.
    stat_key: tuple[int, int, int, int] | None = None
    device: int | None = None  # st_dev from the walk: with the inode, the file to open
    # A window of a big text file (start, stop byte offsets) that one worker scans while
    # others scan the rest (run/plan.py, extract/text.py); None: the whole file.
    part: tuple[int, int] | None = None

    def open(self) -> BinaryIO:
        """Open read-only without touching the access time where the OS allows."""
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.fs_path is not None
        return open_noatime(self.fs_path, self.identity)

    def with_data(self, data: bytes) -> Source:
        """This file with its bytes in memory (a worker reads small files whole).
        Spelled out: dataclasses.replace costs 6 us a call, a tenth of a small file."""
        return Source(
            origin=self.origin, name=self.name, fs_path=self.fs_path, data=data,
            size=len(data), depth=self.depth, mtime=self.mtime, kind_hint=self.kind_hint,
            uid=self.uid, gid=self.gid, mode=self.mode, stat_key=self.stat_key,
            device=self.device, part=self.part,
        )

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        """Pickled as a flat tuple: a batch of sources goes to a worker (run/pool.py), and
        the default form of a slotted dataclass (a dict of field names per source) took
        three times as long to pickle (1.6 against 0.5 us a source)."""
        o = self.origin
        return (_source, (o.path, o.chain, o.meta, self.name, self.fs_path, self.data,
                          self.size, self.depth, self.mtime, self.kind_hint, self.uid,
                          self.gid, self.mode, self.stat_key, self.device, self.part))

    @property
    def identity(self) -> Identity | None:
        """(device, inode) the walk saw at fs_path: the file that must be the one opened."""
        return (self.device, self.stat_key[3]) if self.stat_key is not None else None

    def head(self, n: int) -> bytes:
        if self.data is not None:
            return self.data[:n]
        with self.open() as fh:
            return fh.read(n)

    def child(
        self, member: str, data: bytes, *, name: str | None = None, **meta: str
    ) -> Source:
        """A child source held in memory (attachment, archive member, page image)."""
        return Source(
            origin=self.origin.child(member, **meta),
            name=printable(name or os.path.basename(member) or member),
            data=data,
            size=len(data),
            depth=self.depth + 1,
        )


def _source(path: str, chain: tuple[str, ...], meta: Mapping[str, str], *rest: Any) -> Source:
    """Source.__reduce__'s other half (the fields in their order)."""
    return Source(Origin(path, chain, meta), *rest)


def printable(text: str) -> str:
    """Names that are not valid UTF-8 (tar and zip members, file names) arrive with
    surrogate escapes; show their bytes as \\xNN so every report can encode them."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        try:
            raw = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            return text.encode("utf-8", "backslashreplace").decode("utf-8")
        return raw.decode("utf-8", "backslashreplace")


def open_noatime(path: str, identity: Identity | None = None) -> BinaryIO:
    return os.fdopen(open_fd_noatime(path, identity), "rb", buffering=1 << 20)


def open_fd_noatime(path: str, identity: Identity | None = None) -> int:
    """A blocking read-only descriptor of a regular file, access time untouched where allowed.

    With `identity` (the device and inode the walk saw at path), a file replaced since
    then is refused: a symbolic link swapped in for a listed file (or for a folder above
    it) must not make the scan read what it points to, such as a file outside the
    scanned tree. The device counts too: another file system can hold the same inode
    number.
    """
    # O_NONBLOCK: a file swapped for a FIFO after discovery would block open() forever.
    flags = os.O_RDONLY | getattr(os, "O_NOATIME", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except PermissionError:
        # O_NOATIME is refused for files we do not own; fall back to plain read-only.
        fd = os.open(path, flags & ~getattr(os, "O_NOATIME", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            # Replaced since discovery by a pipe or a device (/dev/zero never ends).
            raise OSError(errno.EINVAL, "no longer a regular file")
        if identity is not None and (st.st_ino != identity[1] or (
                identity[0] is not None and st.st_dev != identity[0])):
            raise OSError(errno.ESTALE, "replaced since the folder was listed; not read")
        # O_NONBLOCK stays: it changes nothing for a regular file, and clearing it
        # costs two system calls per file.
    except BaseException:
        os.close(fd)
        raise
    return fd


@dataclass(frozen=True)
class TextChunk:
    """Text extracted from a source, with what is needed to point back into it.

    `line` is the 1-based line number of the chunk's first character in the
    original file, or None when lines mean nothing (OCR, a spreadsheet).
    `anchors` maps character offsets to location labels ("page 2", "Sheet1!B3",
    "slide 4"): the label of an offset is that of the last anchor at or before it.
    `boxes` maps character spans to pixel boxes (OCR words).
    `whole` is true when the chunk holds all the text of its source, so layout
    checks ("the file holds codes and nothing else") are meaningful.
    """

    text: str
    source: str = "text"
    line: int | None = 1
    anchors: tuple[tuple[int, str], ...] = ()
    boxes: tuple[tuple[int, int, Box], ...] = ()
    whole: bool = True
    # A window of a file (Source.part): only findings on these lines [first, end) are its
    # own; the rest of its text is there so clusters across the window's edge are whole.
    owned: tuple[int, int] | None = None
    # A chunk after a file's first: the file's first line (in a table, the header that
    # names the columns of the rows this chunk holds).
    header: str | None = None


@dataclass(frozen=True)
class Skip:
    """A source, or part of one, that could not be read; the scan goes on."""

    reason: str
    origin: Origin | None = None


@dataclass(frozen=True)
class Finding:
    rule_id: str
    service: str
    title: str
    severity: Severity
    confidence: Confidence
    score: float
    path: str
    member: str | None
    line: int | None
    source: str
    count: int
    redacted: tuple[str, ...]
    fingerprint: str
    remediation: str
    url: str | None = None
    location: str | None = None
    bbox: Box | None = None
    evidence: tuple[str, ...] = ()
    meta: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] | None = None
    suppressed: str | None = None
    # The inline allow marker (e.g. 'gitleaks:allow') on or just above the codes.
    allow_marker: str | None = None


@dataclass(frozen=True)
class ScanError:
    path: str
    member: str | None
    reason: str


# The reason given for a file whose reader (a worker process) died twice while reading it
# (run/pool.py), followed by the signal or exit status; kept by --cache for its content.
READER_CRASHED = "the reader crashed on this file"


@dataclass
class Stats:
    files: int = 0
    bytes: int = 0
    skipped: int = 0
    seconds: float = 0.0
    pictures_read: int = 0  # picture pages read by OCR
    pictures_dismissed: int = 0  # picture pages that could not hold a code (not OCR'd)


@dataclass
class ScanResult:
    findings: list[Finding] = field(default_factory=list)
    errors: list[ScanError] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)
    suppressed: list[Finding] = field(default_factory=list)
    incomplete: bool = False
    notices: list[str] = field(default_factory=list)
    # Baseline fingerprints that matched no finding in this scan.
    baseline_stale: list[str] = field(default_factory=list)
    # Notices that the CLI also prints on stderr: the scan could not read what it should
    # have (a worker process died). Each is in `notices` too.
    alerts: list[str] = field(default_factory=list)


@dataclass
class FileResult:
    """What one file on disk produced; crosses the process boundary."""

    path: str
    findings: list[Finding] = field(default_factory=list)
    errors: list[ScanError] = field(default_factory=list)
    bytes: int = 0
    seconds: float = 0.0
    kind: str = ""
    # SHA-256 of the file when its worker read it whole (the cache's key); builtins.bytes
    # because the field above shadows the name inside this class.
    digest: builtins.bytes | None = None
    reused: bool = False  # the worker had read the same content under this name before
    files: int = 1  # files this result stands for (a rescan answers unchanged ones together)
    put_off: bool = False  # not scanned yet: its worker met a picture another one is reading
    pictures_read: int = 0
    pictures_dismissed: int = 0
    # A window of a big file (Source.part): (its lines before its own, its own lines). Its
    # findings' lines count from the window's first line; plan.py numbers them from the
    # file's start once every window is back (no window reads the file before it).
    lines: tuple[int, int] | None = None
    # How its worker's first logons to SMB servers went since its last batch: (server URL,
    # "" or why it failed), carried by one result of a batch (sources/smb/worker.py).
    logons: tuple[tuple[str, str], ...] = ()
