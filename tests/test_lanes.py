"""Small files in workers (contents.py) and the lanes that route them (run/pool.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mfaleaks.cache import contents
from mfaleaks.config import ScanConfig
from mfaleaks.models import FileResult, Origin, Source
from mfaleaks.run.pool import BATCH_BYTES, Workers, _spread
from mfaleaks.run.scan import engine_spec


def test_a_small_file_is_read_whole_in_one_piece(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"x" * 70_000)
    assert contents.read_whole(str(path), 70_000) == b"x" * 70_000
    # The walk saw it smaller (it grew since): still read to the end.
    assert contents.read_whole(str(path), 10) == b"x" * 70_000


def test_a_file_grown_past_the_limit_is_left_to_the_streaming_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(contents, "SMALL_FILE", 1000)
    path = tmp_path / "a.txt"
    path.write_bytes(b"y" * 1001)
    assert contents.read_whole(str(path), 500) is None
    path.write_bytes(b"y" * 1000)
    assert contents.read_whole(str(path), 500) == b"y" * 1000


def test_what_cannot_be_read_whole_is_left_to_the_streaming_path(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)  # swapped in after the walk: must not block
    assert contents.read_whole(str(fifo), 10) is None
    assert contents.read_whole(str(tmp_path / "gone.txt"), 10) is None


def test_same_content_under_the_same_name_is_scanned_once(tmp_path: Path) -> None:
    contents.clear()
    calls: list[str] = []

    def scan(source: Source) -> FileResult:
        calls.append(source.origin.path)
        return FileResult(path=source.origin.path, bytes=source.size)

    paths = []
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "codes.txt").write_text("same\n")
        paths.append(tmp_path / folder / "codes.txt")
    (tmp_path / "a" / "other.txt").write_text("same\n")  # same bytes, another name
    paths.append(tmp_path / "a" / "other.txt")
    results = []
    for path in paths:
        source = Source(Origin(str(path)), name=path.name, fs_path=str(path), size=5)
        results.append(contents.scan_small(source, scan))
    assert calls == [str(paths[0]), str(paths[2])]
    assert [r.reused for r in results if r] == [False, True, False]
    assert [r.path for r in results if r] == [str(p) for p in paths]
    assert len({r.digest for r in results if r}) == 1


def test_copies_go_to_one_lane_unless_it_is_full_and_another_idle() -> None:
    spec = engine_spec(ScanConfig(paths=(), jobs=2))
    workers = Workers(spec, jobs=2)
    lanes = workers._lanes

    def source(size: int) -> Source:
        return Source(Origin("x"), name="x", fs_path="/nonexistent/x", size=size)

    sizes = [s for s in range(100, 400) if _spread(s) % 2 == 0][:3]
    home = workers._lane_for(source(sizes[0]))
    assert all(workers._lane_for(source(s)) is home for s in sizes)
    other = lanes[1] if home is lanes[0] else lanes[0]
    assert any(workers._lane_for(source(s)) is other for s in range(100, 400))
    home.out = workers.window  # full ...
    assert workers._lane_for(source(sizes[0])) is other  # ... and the other idle: spill
    other.out = 1
    assert workers._lane_for(source(sizes[0])) is home  # both busy: wait for its own
    big = source(contents.SMALL_FILE + 1)
    assert workers._lane_for(big) is other  # big files: the least busy lane


def test_pictures_of_one_size_are_shared_out_one_batch_each() -> None:
    """Screenshots of one screen often have one size: by the size hash they would all
    go to one worker, each costing ~0.25 s of OCR while the other sits idle."""
    spec = engine_spec(ScanConfig(paths=(), jobs=2))
    workers = Workers(spec, jobs=2)
    lanes = workers._lanes

    def picture(name: str) -> Source:
        return Source(Origin(name), name=name, fs_path=f"/nonexistent/{name}", size=230_454)

    first = workers._queue(None, picture("Screenshot 1.PNG"))
    assert len(first.batch) == 1 and first.bytes >= BATCH_BYTES  # full: it leaves alone
    first.batch, first.bytes, first.out = [], 0, 1  # (as if sent)
    second = workers._lane_for(picture("Screenshot 2.jpg"))
    assert second is not first  # the idle lane, whatever the size says
    text = Source(Origin("t"), name="notes.txt", fs_path="/nonexistent/t", size=230_454)
    assert workers._lane_for(text) is lanes[_spread(230_454) % 2]  # text keeps its lane


def test_with_data_keeps_every_other_field() -> None:
    """Source.with_data spells its fields out (for speed): one added to Source later must
    be added there too, or a small file read whole would lose it."""
    import dataclasses

    values: dict[str, object] = {}
    for i, f in enumerate(dataclasses.fields(Source)):
        values[f.name] = {"origin": Origin("p", ("m",), {"k": "v"}),
                          "stat_key": (1, 2, 3, 4)}.get(f.name, f"{f.name}-{i}")
    source = Source(**values)  # type: ignore[arg-type]
    assert source.with_data(b"abc") == dataclasses.replace(source, data=b"abc", size=3)


def test_a_source_crosses_to_a_worker_whole() -> None:
    """Source.__reduce__ lists the fields in their order: pickled and back, every field
    is what it was (a field added later and missed there would fail this)."""
    import dataclasses
    import pickle

    values: dict[str, object] = {}
    for i, f in enumerate(dataclasses.fields(Source)):
        values[f.name] = {"origin": Origin("p", ("zip", "m"), {"k": "v"}), "data": b"x",
                          "stat_key": (1, 2, 3, 4), "depth": 2}.get(f.name, f"{f.name}-{i}")
    source = Source(**values)  # type: ignore[arg-type]
    assert pickle.loads(pickle.dumps(source)) == source
