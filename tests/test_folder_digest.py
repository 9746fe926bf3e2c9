"""Folder digests (cache/store.py, listing.py): a rescan skips the rows of a folder whose listing
has the digest of its clean rows. It must report exactly what a scan without a cache does."""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from mfaleaks.cache import store as cache_module
from mfaleaks.run import scan as scan_module
from mfaleaks.sources.listing import PACKED, WalkOptions, folder_digest, listings, unpacked
from sample_codes import GITHUB
from test_cache import comparable, scan

CODES = "\n".join(GITHUB) + "\n"


def clean_text(length: int, seed: int) -> str:
    """Ordinary notes exactly `length` characters long (to replace codes without a size
    change, or the other way round)."""
    words = random.Random(seed).choices(["milk", "bread", "call", "Anna", "at", "ten"], k=length)
    return " ".join(words)[: length - 1] + "\n"


@pytest.fixture
def whole(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Folders with files that the rescan answered whole (their digest matched)."""
    answered: list[bytes] = []
    real = cache_module.ScanCache.same_folder

    def same_folder(self: cache_module.ScanCache, folder: bytes, digest: bytes) -> bool:
        ok = real(self, folder, digest)
        if ok and digest != folder_digest(()):
            answered.append(folder)
        return ok

    monkeypatch.setattr(cache_module.ScanCache, "same_folder", same_folder)
    return answered


def digests(cache: Path) -> dict[str, bytes | None]:
    with sqlite3.connect(cache) as db:
        return {os.fsdecode(d): g for d, g in db.execute("SELECT dir, digest FROM folders")}


def folders_with_rows(cache: Path) -> set[str]:
    with sqlite3.connect(cache) as db:
        return {os.fsdecode(r[0]) for r in db.execute("SELECT DISTINCT dir FROM files")}


def build(root: Path, rng: random.Random) -> None:
    for f in range(5):
        folder = root / f"team{f}" / ("deep" if f % 2 else "")
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(rng.randint(1, 6)):
            (folder / f"note{i}.txt").write_text(clean_text(len(CODES), rng.randrange(10**6)))
    (root / "team0" / "github-recovery-codes.txt").write_text(CODES)


def files_of(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def mutate(root: Path, rng: random.Random, step: int) -> str:
    files = files_of(root)
    op = rng.choice(["same-size-codes", "same-size-clean", "touch", "delete", "add", "rename",
                     "move", "drop-folder", "new-folder", "copy", "nothing"])
    victim = rng.choice(files) if files else None
    if victim is None or op == "new-folder":
        folder = root / f"new{step}"
        folder.mkdir()
        (folder / "a.txt").write_text("plain\n")
        (folder / "github-recovery-codes.txt").write_text(CODES)
    elif op in ("same-size-codes", "same-size-clean"):
        # Same size and the same mtime again: only ctime tells the change.
        st = victim.stat()
        text = CODES if op == "same-size-codes" else clean_text(len(CODES), step)
        if st.st_size == len(text.encode()):
            victim.write_text(text)
            os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    elif op == "touch":
        os.utime(victim)
    elif op == "delete":
        victim.unlink()
    elif op == "add":
        text = CODES if rng.random() < 0.3 else clean_text(len(CODES), step)
        (victim.parent / f"added{step}.txt").write_text(text)
    elif op == "rename":
        victim.rename(victim.parent / f"renamed{step}.txt")
    elif op == "move":
        target = rng.choice([p for p in root.rglob("*") if p.is_dir()] + [root])
        if not (target / victim.name).exists():
            victim.rename(target / victim.name)
    elif op == "drop-folder":
        if victim.parent != root:
            shutil.rmtree(victim.parent)
    elif op == "copy":
        shutil.copy2(victim, victim.parent / f"copy{step}.txt")
    return op


# DIGEST_SEEDS="4 5 6 ..." runs more rounds (40 seeds: 30 s).
@pytest.mark.parametrize("seed", [int(s) for s in os.environ.get("DIGEST_SEEDS", "1 2 3").split()])
@pytest.mark.parametrize("listers", [1, 2])
def test_rescans_after_random_changes_report_what_a_fresh_scan_does(
    tmp_path: Path, seed: int, whole: list[bytes], listers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (--jobs 1, and one listing child or two children that share the walk's folders)
    monkeypatch.setattr(scan_module, "listers", lambda jobs: listers)
    rng = random.Random(seed)
    root = tmp_path / "share"
    build(root, rng)
    cache = tmp_path / "cache.sqlite"
    scan("--cache", str(cache), str(root))
    for step in range(12):
        ops = [mutate(root, rng, step * 10 + k) for k in range(rng.randint(0, 3))]
        cached = scan("--cache", str(cache), str(root))
        fresh = scan(str(root))
        assert comparable(cached) == comparable(fresh), (step, ops)
        # Every folder with rows has a row in folders (the end sweep reads only those).
        assert folders_with_rows(cache) <= set(digests(cache)), (step, ops)
    assert len(whole) > 12  # the digests did answer folders, round after round


def test_codes_written_without_changing_size_or_mtime_are_found(
    tmp_path: Path, whole: list[bytes]
) -> None:
    root = tmp_path / "share"
    (root / "a").mkdir(parents=True)
    victim = root / "a" / "notes.txt"
    victim.write_text(clean_text(len(CODES), 7))
    (root / "a" / "other.txt").write_text("plain\n")
    cache = tmp_path / "cache.sqlite"
    assert scan("--cache", str(cache), str(root))["findings"] == []
    assert scan("--cache", str(cache), str(root))["findings"] == []
    assert whole == [os.fsencode(root / "a") + b"/"]  # skipped whole while unchanged
    st = victim.stat()
    victim.write_text(CODES)
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (victim.stat().st_size, victim.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    found = scan("--cache", str(cache), str(root))
    assert [f["service"] for f in found["findings"]] == ["github"]
    assert len(whole) == 1


def test_folders_that_hold_only_folders_are_answered_without_a_query(
    tmp_path: Path, whole: list[bytes]
) -> None:
    """Such a folder has no row in `files`, and none in `folders`: the rescan's listing of
    it (no files) is its digest of no rows. A folder whose files are all gone is not one
    of them: its row in `folders` says it had some, and they are forgotten."""
    root = tmp_path / "share"
    for name in ("a", "b"):
        (root / "x" / "y" / name).mkdir(parents=True)
        (root / "x" / "y" / name / "notes.txt").write_text("plain\n")
    (root / "gone").mkdir()
    (root / "gone" / "old.txt").write_text("plain\n")
    cache = tmp_path / "cache.sqlite"
    first = scan("--cache", str(cache), str(root))
    (root / "gone" / "old.txt").unlink()
    asked: list[bytes] = []
    real = cache_module.ScanCache._enter

    def enter(self: cache_module.ScanCache, folder: bytes) -> None:
        asked.append(folder)  # a query of the folder's rows
        real(self, folder)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cache_module.ScanCache, "_enter", enter)
        again = scan("--cache", str(cache), str(root))
    assert asked == [os.fsencode(root / "gone") + b"/"]
    assert sorted(whole) == [os.fsencode(root / "x" / "y" / n) + b"/" for n in "ab"]
    assert comparable(again)["findings"] == comparable(first)["findings"] == []
    assert again["stats"]["files"] == first["stats"]["files"] - 1
    assert f"{root}/gone/" not in digests(cache) and folders_with_rows(cache) <= set(
        digests(cache))


def test_only_clean_folders_get_a_digest(tmp_path: Path, whole: list[bytes]) -> None:
    root = tmp_path / "share"
    for name in ("clean", "codes", "broken"):
        (root / name).mkdir(parents=True)
        (root / name / "readme.txt").write_text("plain\n")
    (root / "codes" / "github-recovery-codes.txt").write_text(CODES)
    (root / "broken" / "backup.zip").write_bytes(b"PK\x03\x04" + b"\x00" * 40)  # corrupt
    cache = tmp_path / "cache.sqlite"
    first = scan("--cache", str(cache), str(root))
    assert any(e["path"].endswith("backup.zip") for e in first["errors"])
    got = digests(cache)
    assert got[f"{root}/clean/"] is not None
    assert got[f"{root}/codes/"] is None and got[f"{root}/broken/"] is None
    again = scan("--cache", str(cache), str(root))
    assert comparable(again) == comparable(first)
    assert whole == [os.fsencode(root / "clean") + b"/"]


def test_names_that_are_not_utf8_have_the_same_digest_both_ways(
    tmp_path: Path, whole: list[bytes]
) -> None:
    root = tmp_path / "share"
    root.mkdir()
    for name in (b"caf\xc3\xa9.txt", b"\xff\xfe-latin1.txt", b"Zeta.txt", b"alpha.txt"):
        with open(os.fsencode(root) + b"/" + name, "wb") as fh:
            fh.write(b"plain\n")
    cache = tmp_path / "cache.sqlite"
    scan("--cache", str(cache), str(root))
    # (A folder of regular files only is listed as one packed record.)
    [record] = [unpacked(r) for r in listings(str(root), WalkOptions(digests=True), set())
                if r[0] == PACKED]
    assert record[5] == digests(cache)[f"{os.fsdecode(os.fsencode(root))}/"]
    scan("--cache", str(cache), str(root))
    assert whole == [os.fsencode(root) + b"/"]


def test_a_digest_covers_names_and_every_stat_fact() -> None:
    base = [(b"a.txt", (10, 1, 2, 3)), (b"b.txt", (20, 4, 5, 6))]
    assert folder_digest(base) == folder_digest(list(reversed(base)))  # order of listing
    variants: Iterator[list[tuple[bytes, tuple[int, int, int, int]]]] = iter([
        base[:1],
        [*base, (b"c.txt", (0, 0, 0, 0))],
        [(b"a.tx", (10, 1, 2, 3)), base[1]],
        [(b"a.txt\x00b.txt", (10, 1, 2, 3))],
        *([(b"a.txt", tuple(v + (k == i) for k, v in enumerate(base[0][1]))), base[1]]
          for i in range(4)),
        [(b"a.txt", (10, 1, 2, 2**64 - 1)), base[1]],  # an inode past 2**63
    ])
    # Equal values give equal digests however the objects were made (shared or not).
    big = 2**40 + 7
    shared = [(b"a.txt", (big, big, big, big))]
    made = [(bytes(bytearray(b"a.txt")), tuple(int(str(big)) for _ in range(4)))]
    assert folder_digest(shared) == folder_digest(made)
    seen = {folder_digest(base)}
    for files in variants:
        digest = folder_digest(files)  # type: ignore[arg-type]
        assert digest not in seen
        seen.add(digest)


def test_stale_digests_past_the_bound_are_never_trusted_wrongly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, whole: list[bytes]
) -> None:
    """Past DIRTY_KEPT a changed folder keeps its old digest; past DIGEST_ROWS a first scan
    leaves folders without one. Both only cost speed."""
    monkeypatch.setattr(cache_module, "DIGEST_ROWS", 2)
    root = tmp_path / "share"
    for f in ("a", "b", "c"):
        (root / f).mkdir(parents=True)
        for i in range(2):
            (root / f / f"n{i}.txt").write_text(clean_text(len(CODES), i))
    cache = tmp_path / "cache.sqlite"
    scan("--cache", str(cache), str(root))
    assert sum(d is not None for d in digests(cache).values()) == 1
    monkeypatch.setattr(cache_module, "DIRTY_KEPT", 0)
    victim = root / "a" / "n0.txt"
    st = victim.stat()
    victim.write_text(CODES)
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    for _ in range(2):  # the stale digest of a/ never matches again
        cached = scan("--cache", str(cache), str(root))
        assert comparable(cached) == comparable(scan(str(root)))
        assert [f["service"] for f in cached["findings"]] == ["github"]
    assert whole == []


def test_a_changed_folder_is_skipped_whole_again_after_one_rescan(
    tmp_path: Path, whole: list[bytes]
) -> None:
    root = tmp_path / "share"
    (root / "a").mkdir(parents=True)
    for i in range(3):
        (root / "a" / f"n{i}.txt").write_text("plain\n")
    cache = tmp_path / "cache.sqlite"
    scan("--cache", str(cache), str(root))
    folder = os.fsencode(root / "a") + b"/"
    for change in (lambda: os.utime(root / "a" / "n0.txt"),
                   lambda: (root / "a" / "n1.txt").unlink(),
                   lambda: (root / "a" / "n3.txt").write_text("new\n")):
        change()
        whole.clear()
        scan("--cache", str(cache), str(root))
        assert whole == []  # the listing differs: its rows are read and its digest made again
        scan("--cache", str(cache), str(root))
        assert whole == [folder]


def test_folders_the_first_scan_left_without_a_digest_get_one_on_the_next_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, whole: list[bytes]
) -> None:
    monkeypatch.setattr(cache_module, "DIGEST_ROWS", 2)  # the first scan keeps a/ only
    root = tmp_path / "share"
    for f in ("a", "b", "c"):
        (root / f).mkdir(parents=True)
        for i in range(2):
            (root / f / f"n{i}.txt").write_text("plain\n")
    (root / "c" / "github-recovery-codes.txt").write_text(CODES)
    cache = tmp_path / "cache.sqlite"
    first = scan("--cache", str(cache), str(root))
    assert [f for f, d in sorted(digests(cache).items()) if d is not None] == [f"{root}/a/"]
    assert comparable(scan("--cache", str(cache), str(root))) == comparable(first)
    assert whole == [os.fsencode(root / "a") + b"/"]
    # b/ was looked at file by file and found unchanged: now it has its digest. c/ holds
    # codes: it never gets one.
    assert sorted(f for f, d in digests(cache).items() if d is not None) == [
        f"{root}/a/", f"{root}/b/"]
    whole.clear()
    assert comparable(scan("--cache", str(cache), str(root))) == comparable(first)
    assert sorted(whole) == [os.fsencode(root / f) + b"/" for f in ("a", "b")]


@pytest.mark.parametrize("folder", [
    "/a/b", "/a/b/", "/a//b", "/a/./b", "/a/../b", "/a/.", "/a/..", "/.x/y", "/a/..b/c", "/",
    "//", "/a/b/.", "rel/x", ".", "/a/.../b", "/srv/caf\udce9/x",
])
def test_the_cache_key_of_a_folder_is_its_absolute_normal_form(folder: str) -> None:
    """recall._abs_dir skips abspath for a path already absolute and normal (the walk's
    own); it must give what abspath gives for every other."""
    from mfaleaks.cache.recall import _abs_dir

    want = os.fsencode(os.path.abspath(folder)).rstrip(b"/") + b"/"
    assert _abs_dir.__wrapped__(folder) == want
