"""Children read before by this worker: the same attachment in 50 mails is read once.

A child (attachment, archive member, embedded file) is known by the SHA-256
of its bytes, its name (file-name hints count in scoring), its kind hint and
its depth. Its findings and errors are worked out once against a neutral
origin that keeps only the child's own label (mail parsing looks at it), then
put back under each place the child turns up: path, the members above it and
the meta (mail date, sender) of the message that carries it. The result is
the one reading it again would give, including the expansion budget it uses.

The memory is a small per-process LRU: each worker reads a repeated child at
most once while it stays in the LRU; other workers may read it once too.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from mfaleaks.cache.record import SEP, join, transient
from mfaleaks.extract.base import Context
from mfaleaks.models import Finding, Origin, ScanError, Source

MIN_SIZE = 4096  # smaller children cost less to read than to remember
LRU_SIZE = 256

Out = Finding | ScanError
Key = tuple[bytes, str, str, int]


@dataclass(frozen=True)
class _Entry:
    items: tuple[Out, ...]  # relative to the neutral origin
    expanded: int  # what reading the child charged to the expansion budget


_lru: OrderedDict[Key, _Entry] = OrderedDict()
stats = {"hits": 0, "misses": 0}  # read by tests


def walk_child(
    child: Source, ctx: Context, walk: Callable[[Source], Iterator[Out]]
) -> Iterator[Out]:
    """walk(child), or what it gave for the same bytes before, placed at this child."""
    if child.data is None or child.size < MIN_SIZE:
        yield from walk(child)
        return
    key = (hashlib.sha256(child.data).digest(), child.name, child.kind_hint or "", child.depth)
    entry = _lru.get(key)
    if entry is not None and ctx.budget.expanded + entry.expanded <= ctx.limits.max_expanded:
        _lru.move_to_end(key)
        stats["hits"] += 1
        ctx.budget.expanded += entry.expanded
        yield from (_place(item, child) for item in entry.items)
        return
    stats["misses"] += 1
    neutral = replace(child, origin=Origin("", child.origin.chain[-1:]))
    before = ctx.budget.expanded
    items = tuple(walk(neutral))  # an interrupted walk (time limit) stores nothing
    if not any(isinstance(i, ScanError) and transient(i.reason) for i in items):
        _lru[key] = _Entry(items, ctx.budget.expanded - before)
        while len(_lru) > LRU_SIZE:
            _lru.popitem(last=False)
    yield from (_place(item, child) for item in items)


def _place(item: Out, child: Source) -> Out:
    origin = child.origin
    prefix = SEP.join(origin.chain[:-1]) or None
    if isinstance(item, ScanError):
        return ScanError(origin.path, join(prefix, item.member), item.reason)
    return replace(
        item, path=origin.path, member=join(prefix, item.member), meta={**origin.meta, **item.meta}
    )


def clear() -> None:
    _lru.clear()
    stats.update(hits=0, misses=0)
