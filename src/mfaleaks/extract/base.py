"""The contract every extractor keeps.

An extractor takes one Source and yields, in any order:
- TextChunk: text to match, with its line/anchor/box information;
- Source: a child to classify and extract in turn (attachment, archive member,
  embedded image, rendered page). The pipeline does the recursion, applies the
  depth limit and charges the child's size against the expansion budget;
- Skip: a part that could not be read, with a one-line reason.

Extractors never print, never write files and never raise for bad input: they
turn problems into Skip items (the pipeline also catches anything that escapes
and records it as a Skip, so one bad file never stops a scan).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from mfaleaks.models import Skip, Source, TextChunk

Item = TextChunk | Source | Skip


@dataclass(frozen=True)
class Limits:
    """Per-scan limits against bombs and traps; each has a CLI option."""

    max_file_size: int = 2 * 1024**3 * 50  # files on disk larger than this are skipped
    max_depth: int = 8  # nesting of containers (zip in mail in pst ...)
    max_expanded: int = 2 * 1024**3  # bytes produced from one file on disk, all levels
    max_members: int = 100_000  # members of one archive / parts of one mailbox message
    max_ratio: float = 200.0  # compressed-to-expanded ratio of one archive member
    max_member_size: int = 512 * 1024**2  # one child held in memory
    ocr: bool = True
    ocr_timeout: float = 30.0  # seconds per image
    # Seconds per file on disk, plus one second per MB so big mailboxes finish.
    parse_timeout: float = 600.0
    max_pixels: int = 80_000_000  # images larger than this are decompression bombs
    max_pages: int = 2_000  # PDF pages read per document
    ocr_cache: str | None = None  # --cache FILE: ocrcache.py remembers empty images there


@dataclass
class Budget:
    """Mutable bookkeeping for one file on disk and everything inside it."""

    expanded: int = 0
    cache: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Context:
    limits: Limits
    budget: Budget


Extractor = Callable[[Source, Context], Iterator[Item]]


def read_capped(source: Source, limit: int, what: str) -> tuple[bytes, Skip | None]:
    """At most `limit` bytes of a format that must be parsed whole, and a Skip if cut."""
    with source.open() as fh:
        raw = fh.read(limit + 1)
    if len(raw) <= limit:
        return raw, None
    return raw[:limit], Skip(
        f"{what} larger than {limit // 2**20} MiB: only the first part was read"
    )
