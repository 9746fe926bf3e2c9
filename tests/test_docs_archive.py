"""Archive extractors: members as child sources, and every limit against bombs and traps.

The bombs are real: a gigabyte of zeros deflated into a 1 MB zip, and a
.tar.gz whose member declares a gigabyte. tracemalloc checks the memory
bound: the extractor must stop long before it holds more than a few steps.
"""

from __future__ import annotations

import gzip
import random
import tracemalloc
import zipfile
from pathlib import Path

import pytest

import gen_docs as gen
from mfaleaks.extract.base import Limits
from mfaleaks.models import Origin, Source
from mfaleaks.sources.classify import Kind
from test_docs_extract import Out, extract, source_of

BOUND = 48 * 1024 * 1024  # bytes of Python memory an extractor may peak at on a bomb


@pytest.fixture
def rng() -> random.Random:
    return random.Random(77)


def bounded(path: Path, limits: Limits | None = None) -> tuple[Out, int]:
    tracemalloc.start()
    try:
        out = extract(path, limits)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return out, peak


def test_zip_members_are_children_and_chains_nest(tmp_path: Path, rng: random.Random) -> None:
    github = gen.github_codes(rng)
    out = extract(gen.export_zip(tmp_path, github, rng))
    assert out.kind is Kind.ZIP and not out.skips
    assert [c.origin.chain for c in out.children] == [("inner.tar",), ("orders.csv",)]
    inner = extract(out.children[0])
    assert inner.kind is Kind.TAR
    [codes, readme] = inner.children
    assert codes.origin.chain == ("inner.tar", "github-recovery-codes.txt")
    assert codes.origin.member == "inner.tar / github-recovery-codes.txt"
    assert codes.data == gen.github_file(github)
    assert codes.depth == 2 and readme.name == "readme.md"


@pytest.mark.parametrize("name", ["backup.tar.gz", "backup.tgz", "backup.tar.bz2",
                                  "backup.tar.xz"])
def test_compressed_tar_members_come_straight_out(tmp_path: Path, name: str) -> None:
    members = {"home/jdoe/Backup-codes-jdoe.txt": b"SAVE YOUR BACKUP CODES\n",
               "home/jdoe/todo.txt": b"milk\n"}
    out = extract(gen.compressed_tar(tmp_path, name, members))
    assert not out.skips
    assert {c.origin.chain[-1]: c.data for c in out.children} == members
    assert all(len(c.origin.chain) == 1 for c in out.children)


@pytest.mark.parametrize(("name", "inner"), [("codes.txt.gz", "codes.txt"),
                                             ("codes.txt.bz2", "codes.txt"),
                                             ("codes.txt.xz", "codes.txt")])
def test_single_compressed_file(tmp_path: Path, name: str, inner: str) -> None:
    data = b"d1371-c1714\r\n9d439-536b3\r\n"
    out = extract(gen.single_compressed(tmp_path, name, data))
    assert not out.skips
    assert [(c.name, c.data) for c in out.children] == [(inner, data)]


def test_7z_members(tmp_path: Path, rng: random.Random) -> None:
    pytest.importorskip("py7zr", reason="py7zr (gpl extra) is not installed")
    github = gen.github_codes(rng)
    out = extract(gen.sevenzip(tmp_path, "laptop.7z", {
        "Documents/github-recovery-codes.txt": gen.github_file(github),
        "Documents/notes.txt": b"nothing\n"}))
    assert out.kind is Kind.SEVENZ and not out.skips
    assert {c.origin.chain for c in out.children} == {("Documents/github-recovery-codes.txt",),
                                                      ("Documents/notes.txt",)}


def test_encrypted_7z_is_skipped(tmp_path: Path) -> None:
    pytest.importorskip("py7zr", reason="py7zr (gpl extra) is not installed")
    out = extract(gen.sevenzip(tmp_path, "locked.7z", {"codes.txt": b"x" * 100},
                               password="hunter2"))
    assert [s.reason for s in out.skips] == ["encrypted 7z archive: no password"]
    assert not out.children


def test_7z_limits(tmp_path: Path) -> None:
    pytest.importorskip("py7zr", reason="py7zr (gpl extra) is not installed")
    bomb = gen.sevenzip(tmp_path, "zeros.7z", {"zeros.bin": bytes(16 << 20)})
    out, peak = bounded(bomb)
    assert [s.reason[:40] for s in out.skips] == ["compression ratio limit (max_ratio 200):"]
    assert not out.children and peak < BOUND
    noise = random.Random(2)
    members = {f"f{i}.bin": noise.randbytes(400) for i in range(5)}
    path = gen.sevenzip(tmp_path, "parts.7z", members)
    # Held in batches of at most max_member_size bytes; all members still come out.
    out = extract(path, Limits(max_member_size=1000))
    assert {c.name: c.data for c in out.children} == members and not out.skips
    out = extract(path, Limits(max_members=2))
    assert len(out.children) == 2
    assert [s.reason for s in out.skips] == [
        "member count limit reached (max_members 2); 3 more members not read"]


def test_encrypted_zip_member_is_named(tmp_path: Path) -> None:
    path = gen.encrypted_zip(tmp_path, {"Backup-codes-jdoe.txt": b"SAVE YOUR BACKUP CODES\n"},
                             b"hunter2")
    with zipfile.ZipFile(path) as zf:  # the archive is real: the right password opens it
        assert zf.read("Backup-codes-jdoe.txt", pwd=b"hunter2").startswith(b"SAVE")
    out = extract(path)
    [skip] = out.skips
    assert skip.reason == "encrypted archive member Backup-codes-jdoe.txt: no password"
    assert skip.origin is not None and skip.origin.member == "Backup-codes-jdoe.txt"
    assert not out.children


def test_zip_bomb_stops_on_declared_ratio_in_bounded_memory(tmp_path: Path) -> None:
    path = gen.zip_bomb(tmp_path, mib=1024)
    assert path.stat().st_size < 2 * 1024 * 1024
    out, peak = bounded(path)
    [skip] = out.skips
    assert skip.reason.startswith("compression ratio limit (max_ratio 200): expands ")
    assert skip.origin is not None and skip.origin.member == "zeros.bin"
    assert [c.name for c in out.children] == ["note.txt"]  # the scan goes on
    assert peak < BOUND


def test_zip_member_lying_about_its_size_stops_at_the_declared_size(tmp_path: Path) -> None:
    """A central directory that understates a member: decompression stops at its word."""
    path = tmp_path / "liar.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.txt", b"A" * (64 * 1024 * 1024))
    raw = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = raw.find(signature)
        raw[at + offset : at + offset + 4] = (1000).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    out, peak = bounded(path)
    assert not out.children
    [skip] = out.skips
    assert skip.reason.startswith("zip member could not be read")
    assert peak < BOUND


def test_tar_gz_bomb_stops_on_the_stream_ratio(tmp_path: Path) -> None:
    path = gen.gzip_bomb(tmp_path, gib=1)
    out, peak = bounded(path)
    reasons = [s.reason for s in out.skips]
    # The member declares 1 GiB: over max_member_size. Skipping it means inflating it, and
    # the stream guard stops that as soon as the ratio shows it is a bomb.
    assert reasons[0].startswith("member size limit (max_member_size ")
    assert reasons[1].startswith("compression ratio limit (max_ratio 200)")
    assert not out.children
    assert peak < BOUND


def test_single_gzip_bomb(tmp_path: Path) -> None:
    path = tmp_path / "zeros.log.gz"
    with open(path, "wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", mtime=0) as gz:
        for _ in range(256):
            gz.write(bytes(1 << 20))
    out, peak = bounded(path)
    assert [s.reason[:40] for s in out.skips] == ["compression ratio limit (max_ratio 200):"]
    assert peak < BOUND


def test_member_count_limit(tmp_path: Path) -> None:
    path = tmp_path / "many.zip"
    path.write_bytes(gen.zip_bytes({f"f{i:02d}.txt": b"x" for i in range(30)}))
    out = extract(path, Limits(max_members=10))
    assert len(out.children) == 10
    assert [s.reason for s in out.skips] == [
        "member count limit reached (max_members 10); 20 more members not read"]
    tar = tmp_path / "many.tar.gz"
    gen.compressed_tar(tmp_path, tar.name, {f"f{i:02d}.txt": b"x" for i in range(30)})
    out = extract(tar, Limits(max_members=10))
    assert len(out.children) == 10
    assert [s.reason for s in out.skips] == [
        "member count limit reached (max_members 10); further members not read"]


def test_member_size_and_expansion_limits(tmp_path: Path) -> None:
    noise = random.Random(5).randbytes(5000)  # incompressible: only size limits apply
    path = tmp_path / "sizes.zip"
    path.write_bytes(gen.zip_bytes({"big.bin": noise, "small.txt": b"hello"}))
    out = extract(path, Limits(max_member_size=1000))
    assert [c.name for c in out.children] == ["small.txt"]
    assert [s.reason for s in out.skips] == [
        "member size limit (max_member_size 1000 bytes): 5000 bytes; not read"]
    out = extract(path, Limits(max_expanded=4000))
    assert not out.children
    assert [s.reason for s in out.skips] == [
        "expansion limit reached (max_expanded 4000 bytes from one file); rest not read"]


def test_depth_limit_is_checked_before_decompressing(tmp_path: Path) -> None:
    path = tmp_path / "deep.zip"
    path.write_bytes(gen.zip_bytes({"codes.txt": b"x"}))
    deep = Source(Origin(str(path), ("a.zip",) * 8), path.name, data=path.read_bytes(),
                  size=path.stat().st_size, depth=8)
    out = extract(deep)
    assert not out.children
    assert [s.reason for s in out.skips] == [
        "nesting depth limit reached (max_depth 8); members not read"]
    assert extract(source_of(path)).children  # the same archive at the top is read


def test_corrupt_archives_are_skips(tmp_path: Path) -> None:
    rng = random.Random(9)
    cases = {"cut.zip": gen.zip_bytes({"a.txt": rng.randbytes(3000)})[:-30],
             "cut.tar.gz": gzip.compress(gen.tar_bytes({"a.txt": rng.randbytes(30000)}))[:2000],
             "cut.xz": gen.lzma.compress(rng.randbytes(30000))[:500]}
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        out = extract(path)
        assert len(out.skips) == 1, (name, out.skips)
        assert "could not be" in out.skips[0].reason, name
