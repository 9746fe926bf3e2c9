"""Bounded memory, checked by counting what is held, not by timing: the feeder of the
worker pool and the folder walk never hold more than a fixed number of items."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mfaleaks.config import ScanConfig
from mfaleaks.models import Origin, Source
from mfaleaks.run.pool import BATCH_FILES, Workers
from mfaleaks.run.scan import engine_spec
from mfaleaks.sources import discover, listing
from mfaleaks.sources.discover import WalkOptions


def test_feeder_holds_a_bounded_backlog() -> None:
    spec = engine_spec(ScanConfig(paths=(), jobs=2))
    total = 3000
    done = []
    with Workers(spec, jobs=2) as pool:
        for i in range(total):
            data = f"note {i}\n".encode()
            source = Source(Origin(f"m{i}"), name=f"m{i}.txt", data=data, size=len(data))
            done.extend(pool.submit(source, tag=i))
            assert pool.backlog <= pool.jobs * (pool.window + 1) * BATCH_FILES
        done.extend(pool.finish())
    assert sorted(tag for tag, _, _ in done) == list(range(total))  # type: ignore[type-var]
    assert all(not result.errors for _, _, result in done)
    assert 0 < pool.max_backlog <= pool.jobs * (pool.window + 1) * BATCH_FILES


def test_big_folder_is_walked_without_listing_it_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(300):
        (tmp_path / f"f{i:03d}.txt").write_text("x")
    monkeypatch.setattr(listing, "SORT_LIMIT", 50)
    monkeypatch.setattr(listing, "PART", 50)  # files of a folder handed on at a time
    pulled = [0]
    real = os.scandir

    def counting(path: Any) -> Iterator[os.DirEntry[str]]:
        with real(path) as it:
            for entry in it:
                pulled[0] += 1
                yield entry

    monkeypatch.setattr(os, "scandir", counting)
    walk = discover.discover((str(tmp_path),), WalkOptions())
    first = next(walk)
    assert isinstance(first, Source)
    assert pulled[0] == 50  # not 300: the rest is listed as it is walked
    names = [first.name] + [s.name for s in walk if isinstance(s, Source)]
    assert sorted(names) == [f"f{i:03d}.txt" for i in range(300)]


def test_small_folder_is_walked_in_name_order(tmp_path: Path) -> None:
    for name in ("b.txt", "a.txt", "c.txt"):
        (tmp_path / name).write_text("x")
    names = [s.name for s in discover.discover((str(tmp_path),), WalkOptions())
             if isinstance(s, Source)]
    assert names == ["a.txt", "b.txt", "c.txt"]


def test_a_fixed_mmap_threshold_comes_with_glibc_s_trim_threshold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Setting the mmap threshold by hand stops glibc adjusting the trim threshold with
    it; heap.py sets the pair as glibc does (trim at twice the threshold)."""
    from mfaleaks.run import heap

    calls: list[tuple[int, int]] = []

    class Libc:
        def mallopt(self, param: int, value: int) -> int:
            calls.append((param, value))
            return 1

    monkeypatch.setattr(heap, "_libc", Libc())
    heap.mmap_threshold(2 * 1024 * 1024)
    assert calls == [(-3, 2 * 1024 * 1024), (-1, 4 * 1024 * 1024)]  # M_MMAP_, M_TRIM_THRESHOLD
