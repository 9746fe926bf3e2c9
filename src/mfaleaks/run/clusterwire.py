"""How a batch and its results cross the cluster: as tuples, pickled once.

A batch of small files is mostly paths and stat facts, and most results say
"nothing found". As dataclasses each costs ~17 us to unpickle (a tenth of a
small file's scan, measured on 300 files of 100 bytes); as tuples ~1 us. The
bytes the client makes reach the scanning child untouched, and the child's
answer reaches the client untouched: the Dask worker only relays them, so
nothing is unpickled and pickled again on the way.

Anything that does not fit the short form (a piece of a container, a result
with findings or errors) travels as itself.
"""

from __future__ import annotations

import pickle
from typing import Any

from mfaleaks.models import FileResult, Origin, Source


def pack_batch(batch: list[Source]) -> bytes:
    """A batch, for scan_task: a file on disk as a tuple of its facts."""
    rows: list[Any] = []
    for s in batch:
        if (s.data is None and s.fs_path is not None and s.fs_path == s.origin.path
                and not s.origin.chain and not s.origin.meta):
            rows.append((s.fs_path, s.name, s.size, s.depth, s.mtime, s.kind_hint, s.uid,
                         s.gid, s.mode, s.stat_key, s.device, s.part))
        else:
            rows.append(s)
    return pickle.dumps(rows, pickle.HIGHEST_PROTOCOL)


def unpack_batch(blob: bytes) -> list[Source]:
    """pack_batch's sources again (in the scanning child)."""
    out = []
    for row in pickle.loads(blob):
        if isinstance(row, Source):
            out.append(row)
            continue
        path, name, size, depth, mtime, hint, uid, gid, mode, key, device, part = row
        out.append(Source(origin=Origin(path), name=name, fs_path=path, size=size,
                          depth=depth, mtime=mtime, kind_hint=hint, uid=uid, gid=gid,
                          mode=mode, stat_key=key, device=device, part=part))
    return out


def pack_results(batch: list[Source], results: list[FileResult]) -> bytes:
    """The child's results: one with nothing to report, at its file's path, as a tuple."""
    rows: list[Any] = []
    for s, r in zip(batch, results, strict=True):
        if (not r.findings and not r.errors and r.path == s.origin.path and not r.logons
                and r.lines is None):
            rows.append((r.bytes, r.seconds, r.kind, r.digest, r.reused, r.files, r.put_off,
                         r.pictures_read, r.pictures_dismissed))
        else:
            rows.append(r)
    return pickle.dumps(rows, pickle.HIGHEST_PROTOCOL)


def unpack_results(blob: bytes, batch: list[Source]) -> list[FileResult]:
    """pack_results' results again (in the client, which knows the batch)."""
    out = []
    for s, row in zip(batch, pickle.loads(blob), strict=True):
        if isinstance(row, FileResult):
            out.append(row)
            continue
        size, seconds, kind, digest, reused, files, put_off, read, dismissed = row
        out.append(FileResult(path=s.origin.path, bytes=size, seconds=seconds, kind=kind,
                              digest=digest, reused=reused, files=files, put_off=put_off,
                              pictures_read=read, pictures_dismissed=dismissed))
    return out
