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

from mfaleaks.limits import Limits as Limits  # its old home: extractors import it here
from mfaleaks.models import Skip, Source, TextChunk

Item = TextChunk | Source | Skip


@dataclass
class Budget:
    """Mutable bookkeeping for one file on disk and everything inside it."""

    expanded: int = 0
    cache: dict[str, object] = field(default_factory=dict)
    pictures_read: int = 0  # pages given to OCR
    pictures_dismissed: int = 0  # pages that could not hold a code, dismissed unread
    owned: tuple[int, int] | None = None  # a window's own lines, as its last chunk says


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
