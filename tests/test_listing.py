"""The walk's system calls made by a child (listing.py) give what this process gives."""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mfaleaks.config import ScanConfig
from mfaleaks.run.scan import run_scan
from mfaleaks.sources import discover, listing
from mfaleaks.sources.listing import (
    ERROR,
    FILES,
    MAILDIR,
    PACKED,
    SEEN,
    WalkOptions,
    listings,
    listings_by_child,
    unpacked,
)


def _codes(seed: int) -> str:
    """GitHub's download: 16 codes of 5+5 hex digits under its heading."""
    codes = [f"{(seed * 7919 + i * 104729) % 16**5:05x}-{(seed + i) * 65537 % 16**5:05x}"
             for i in range(16)]
    return "GitHub recovery codes\n" + "\n".join(codes) + "\n"


def _tree(root: Path) -> Path:
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "github-recovery-codes.txt").write_text(_codes(1))
    (root / "a" / "notes.md").write_text("nothing here\n")
    (root / "top.txt").write_text("top\n")
    (root / "skip").mkdir()
    (root / "skip" / "x.txt").write_text("excluded\n")
    (root / "link-to-file").symlink_to(root / "top.txt")
    (root / "link-to-dir").symlink_to(root / "a")
    os.mkfifo(root / "pipe")
    for box in ("cur", "new", "tmp"):
        (root / "mail" / box).mkdir(parents=True)
    (root / "mail" / "cur" / "1.eml").write_text("Subject: hi\n\nhello\n")
    # A name that is not UTF-8 (os.scandir gives it with surrogate escapes).
    with open(os.path.join(os.fsencode(root), b"caf\xe9.txt"), "wb") as f:
        f.write(b"latin-1 name\n")
    many = root / "many"
    many.mkdir()
    for i in range(30):
        (many / f"f{i:02}.txt").write_text(f"{i}\n")
    return root


def _options() -> Iterator[WalkOptions]:
    yield WalkOptions()
    yield WalkOptions(excludes=("skip", "*.md"))
    yield WalkOptions(follow_symlinks=True, max_file_size=10)
    yield WalkOptions(excludes=("skip",), digests=True)


def _counting_forks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    pids: list[int] = []
    real_fork = os.fork

    def fork() -> int:
        pid = real_fork()
        if pid:
            pids.append(pid)
        return pid

    monkeypatch.setattr(listing.os, "fork", fork)
    return pids


def test_the_child_lists_what_this_process_lists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = str(_tree(tmp_path))
    # Small parts and an early unsorted listing: the child inherits both settings.
    monkeypatch.setattr(listing, "PART", 7)
    monkeypatch.setattr(listing, "SORT_LIMIT", 20)
    forks = _counting_forks(monkeypatch)
    for opts in _options():
        here = list(listings(top, opts, set()))
        there = list(listings_by_child(top, opts, set()))
        assert there == here, opts
    assert len(forks) == 4  # one child per walk: this process had one thread
    # (here: the last walk, which asks for digests)
    assert {r[0] for r in here} == {SEEN, FILES, PACKED, MAILDIR, ERROR}  # a loop, a link
    parts = [r for r in here if r[0] == FILES and r[1].endswith("many")]
    assert len(parts) == 5 and parts[0][3] and parts[-1][4]  # 30 files in parts of 7
    # Digests only for folders listed in one part.
    assert all(r[5] is None for r in parts)
    whole = [r for r in here if r[0] == FILES and r[3] and r[4]]
    assert whole and all(len(r[5]) == 16 for r in whole)
    # Such a folder of regular files only comes packed, and unpacks to what it stands for.
    packed = [r for r in here if r[0] == PACKED]
    assert {os.path.basename(r[1]) for r in packed} == {"a", "b"}
    assert {os.path.basename(r[1]) for r in whole} == {os.path.basename(top)}  # (a pipe)
    for r in packed:
        files = unpacked(r)[2]
        assert unpacked(r) == (FILES, r[1], files, True, True, r[3])
        assert len(r[3]) == 16 and (r[4], r[5]) == (len(files), sum(st[1] for _, st in files))
        assert r[6] == max(st[1] for _, st in files)


def _dies_at_once(top: str, opts: WalkOptions, seen: object, fd: int, share: object) -> None:
    os._exit(3)


def _dies_mid_message(top: str, opts: WalkOptions, seen: object, fd: int,
                      share: object) -> None:
    os.write(fd, (64).to_bytes(8, "big") + b"\xdb\x02")  # 64 bytes announced, 2 sent
    os._exit(9)


@pytest.mark.parametrize("child", [_dies_at_once, _dies_mid_message])
def test_what_a_child_that_dies_did_not_list_is_listed_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, child: object
) -> None:
    top = str(_tree(tmp_path))
    monkeypatch.setattr(listing, "_child", child)
    records = list(listings_by_child(top, WalkOptions(), set()))
    assert records == list(listings(top, WalkOptions(), set()))


def _told(records: list[tuple[object, ...]]) -> tuple[object, ...]:
    """What a walk's records say, however they are cut into parts: the files of each
    folder, Maildirs and errors; and that each folder's parts begin and end once."""
    files, ends = [], []
    for r in records:
        if r[0] == FILES:
            files += [(r[1], name) for name, _ in r[2]]  # type: ignore[attr-defined]
            ends += [("first", r[1])] * bool(r[3]) + [("last", r[1])] * bool(r[4])
    maildirs = sorted(r[1] for r in records if r[0] == MAILDIR)  # type: ignore[type-var]
    errors = sorted(r[1:] for r in records if r[0] == ERROR)  # type: ignore[type-var]
    return sorted(files), sorted(ends), maildirs, errors  # type: ignore[type-var]


def test_a_child_killed_anywhere_in_its_walk_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILLed after each number of records in turn (the folder of 30 files in parts
    of 7 among them): this process lists what it was not told, once."""
    top = str(_tree(tmp_path))
    monkeypatch.setattr(listing, "PART", 7)
    monkeypatch.setattr(listing, "_BATCH", 1)
    opts = WalkOptions(follow_symlinks=True)
    here = list(listings(top, opts, set()))
    real, parent = listing.listings, os.getpid()
    for dies_after in range(len(here) + 1):

        def dying(*args: Any, n: int = dies_after, **kw: Any) -> Iterator[tuple[object, ...]]:
            for i, record in enumerate(real(*args, **kw)):
                if i == n and os.getpid() != parent:
                    os.kill(os.getpid(), signal.SIGKILL)
                yield record

        monkeypatch.setattr(listing, "listings", dying)
        there = list(listings_by_child(top, opts, set()))
        monkeypatch.setattr(listing, "listings", real)
        assert _told(there) == _told(here), dies_after
        # A folder's parts stay together: the walk is in the middle of one when it resumes.
        runs = [folder for folder, _ in itertools.groupby(r[1] for r in there if r[0] == FILES)]
        assert len(runs) == len(set(runs)), dies_after


def _by_folder(records: list[tuple[Any, ...]]) -> dict[str, tuple[Any, ...]]:
    """Each folder's files (as one list however many parts told them) and digest; Maildirs
    and errors; what the walk saw: what the records say, in whatever order they came."""
    told: dict[str, tuple[Any, ...]] = {}
    for r in records:
        if r[0] == PACKED:
            r = unpacked(r)
        if r[0] == FILES:
            files, digest = told.get(r[1], ([], None))
            told[r[1]] = (files + r[2], r[5] if r[5] is not None else digest)
    maildirs = sorted(r[1] for r in records if r[0] == MAILDIR)
    errors = sorted(r[1:] for r in records if r[0] == ERROR)
    seen = sorted({r[1] for r in records if r[0] == SEEN})  # (a walk resumed here says again)
    return {"folders": told, "maildirs": maildirs, "errors": errors, "seen": seen}


def _looped_tree(root: Path) -> Path:
    """_tree, with more folders to share out, four levels deep, and a link back up (a loop,
    when followed)."""
    top = _tree(root)
    for i in range(12):
        (top / f"d{i}" / "inner" / "x" / "y").mkdir(parents=True)
        (top / f"d{i}" / "inner" / "f.txt").write_text(f"{i}\n")
        (top / f"d{i}" / "inner" / "x" / "y" / "g.txt").write_text(f"{i}\n")
    (top / "d3" / "inner" / "up").symlink_to(top / "d3")
    return top


@pytest.mark.parametrize("split", [0, 1, 2, 99])
@pytest.mark.parametrize("opts", [
    WalkOptions(digests=True), WalkOptions(excludes=("skip", "*.md"), digests=True)])
def test_shares_of_a_walk_tell_each_folder_once_and_together_all_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, opts: WalkOptions, split: int
) -> None:
    """Split folder by folder down to SPLIT_DEPTH, by whole folders below it."""
    top = str(_looped_tree(tmp_path))
    monkeypatch.setattr(listing, "PART", 7)
    monkeypatch.setattr(listing, "SPLIT_DEPTH", split)
    whole = list(listings(top, opts, set()))
    for n in (2, 3):
        shares = [list(listings(top, opts, set(), share=(i, n))) for i in range(n)]
        # Every folder and error by one share only, and all of them by some share.
        told = [{r[1] for r in share if r[0] in (FILES, PACKED, MAILDIR)} for share in shares]
        assert sum(len(t) for t in told) == len(set().union(*told)), n
        assert all(told) or split == 0, n  # (0: all of top to one share)
        assert _by_folder([r for share in shares for r in share]) == _by_folder(whole), n
        errors = [r for share in shares for r in share if r[0] == ERROR]
        assert len(errors) == len(set(errors)), n


def test_children_sharing_a_walk_tell_what_this_process_tells(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = str(_looped_tree(tmp_path))
    monkeypatch.setattr(listing, "PART", 7)
    monkeypatch.setattr(listing, "_BATCH", 2)  # a folder in parts spans messages
    monkeypatch.setattr(listing, "SPLIT_DEPTH", 1)  # (the children inherit it)
    forks = _counting_forks(monkeypatch)
    for follow in (False, True):
        opts = WalkOptions(follow_symlinks=follow, digests=True, listers=2)
        there = list(listings_by_child(top, opts, set()))
        here = list(listings(top, opts, set()))
        assert _by_folder(there) == _by_folder(here)
        # A folder told in parts is told whole before anything of the other child.
        runs = [folder for folder, _ in itertools.groupby(r[1] for r in there if r[0] == FILES)]
        assert len(runs) == len(set(runs))
        if follow:  # one child: the link back up leads into another child's whole folder
            assert there == here and "loop" in str(here)
    assert len(forks) == 3  # two children for the walk, one where links are followed


@pytest.mark.parametrize("victim", [0, 1])
def test_one_of_two_children_killed_anywhere_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, victim: int
) -> None:
    """The child with share `victim` SIGKILLed after each number of records in turn: the
    other goes on, and this process lists what the dead one did not tell, once."""
    top = str(_looped_tree(tmp_path))
    monkeypatch.setattr(listing, "PART", 7)
    monkeypatch.setattr(listing, "_BATCH", 1)
    monkeypatch.setattr(listing, "SPLIT_DEPTH", 1)
    opts = WalkOptions(digests=True, listers=2)
    here = _by_folder(list(listings(top, opts, set())))
    real, parent = listing.listings, os.getpid()
    its_own = len(list(real(top, opts, set(), share=(victim, 2))))
    for dies_after in range(its_own + 1):

        def dying(*args: Any, n: int = dies_after, **kw: Any) -> Iterator[tuple[object, ...]]:
            share = kw.get("share", (0, 1))
            for i, record in enumerate(real(*args, **kw)):
                if i == n and share == (victim, 2) and os.getpid() != parent:
                    os.kill(os.getpid(), signal.SIGKILL)
                yield record

        monkeypatch.setattr(listing, "listings", dying)
        there = list(listings_by_child(top, opts, set()))
        monkeypatch.setattr(listing, "listings", real)
        assert _by_folder(there) == here, dies_after
        runs = [folder for folder, _ in itertools.groupby(r[1] for r in there if r[0] == FILES)]
        assert len(runs) == len(set(runs)), dies_after


def test_listers_follow_the_cpus_and_jobs() -> None:
    assert listing.listers(1) == 1  # --jobs 1: one listing child, as before
    assert 1 <= listing.listers(64) <= listing.LISTERS
    assert listing.listers(64) == min(listing.LISTERS, len(os.sched_getaffinity(0)))


def test_a_walk_stopped_early_stops_its_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = str(_tree(tmp_path))
    pids = _counting_forks(monkeypatch)
    monkeypatch.setattr(listing, "_BATCH", 1)  # the child is still writing after one record
    records = listings_by_child(top, WalkOptions(), set())
    assert next(records)[0] == SEEN
    records.close()  # as a scan interrupted by Ctrl-C does
    assert len(pids) == 1
    with pytest.raises(ChildProcessError):  # reaped: no zombie left behind
        os.waitpid(pids[0], os.WNOHANG)


def test_a_process_with_threads_lists_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = str(_tree(tmp_path))
    forks = _counting_forks(monkeypatch)
    stop = threading.Event()
    helper = threading.Thread(target=stop.wait)
    helper.start()
    try:
        records = list(listings_by_child(top, WalkOptions(), set()))
    finally:
        stop.set()
        helper.join()
    assert forks == [] and records == list(listings(top, WalkOptions(), set()))


def _report(config: ScanConfig) -> tuple[list[tuple[str, str]], list[tuple[str, str]], int]:
    result = run_scan(config)
    findings = sorted((f.path, f.fingerprint) for f in result.findings)
    errors = sorted((e.path, e.reason) for e in result.errors)
    return findings, errors, result.stats.files


def test_rescans_are_the_same_with_and_without_the_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = _tree(tmp_path / "tree")
    cache = tmp_path / "cache.db"
    config = ScanConfig(paths=(str(top),), cache=cache, jobs=1)
    first = _report(config)
    assert first[0], "the planted GitHub codes are found"
    again = _report(config)  # every file unchanged: answered by the cache, through the child
    assert again == first
    # A changed file and a new one are read; a gone one is forgotten.
    time.sleep(0.01)
    (top / "a" / "notes.md").write_text(_codes(2))
    (top / "top.txt").unlink()
    (top / "new.txt").write_text("new\n")
    forks = _counting_forks(monkeypatch)
    with_child = _report(config)
    assert len(forks) == 1  # the rescan's walk was the child's
    monkeypatch.setattr(discover, "PIPELINE", False)
    cache.unlink()
    without = _report(config)
    assert with_child == without
    assert len(with_child[0]) == len(first[0]) + 1


@pytest.mark.parametrize("listers", [1, 2])
def test_a_walk_takes_the_children_started_early_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, listers: int
) -> None:
    top = str(_tree(tmp_path))
    opts = WalkOptions(excludes=("skip",), listers=listers)
    early = _counting_forks(monkeypatch)
    listing.start_early(top, opts)
    assert len(early) == listers
    forks = _counting_forks(monkeypatch)  # counted from here: the early children are there
    there = list(listings_by_child(top, WalkOptions(excludes=("skip",), max_file_size=5),
                                   set()))
    here = list(listings(top, opts, set()))
    assert there == here if listers == 1 else _by_folder(there) == _by_folder(here)
    assert forks == []  # max_file_size is not the listing's business: the early ones served
    for pid in early:
        with pytest.raises(ChildProcessError):  # each reaped
            os.waitpid(pid, os.WNOHANG)


@pytest.mark.parametrize("asked", [
    ("other", WalkOptions(excludes=("skip",))),  # another folder
    ("same", WalkOptions()),  # other excludes
    ("same", WalkOptions(excludes=("skip",), follow_symlinks=True)),
])
def test_an_early_child_for_another_walk_is_stopped_and_a_new_one_lists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, asked: tuple[str, WalkOptions]
) -> None:
    top = str(_tree(tmp_path / "same"))
    other = _tree(tmp_path / "other")
    early_pids = _counting_forks(monkeypatch)
    listing.start_early(top, WalkOptions(excludes=("skip",)))
    (early,) = early_pids
    where = top if asked[0] == "same" else str(other)
    records = list(listings_by_child(where, asked[1], set()))
    assert records == list(listings(where, asked[1], set()))
    assert len(early_pids) == 2  # a child of its own
    with pytest.raises(ChildProcessError):  # the early one was stopped and reaped
        os.waitpid(early, os.WNOHANG)


def test_an_early_child_nobody_asks_for_is_stopped_at_exit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pids = _counting_forks(monkeypatch)
    listing.start_early(str(_tree(tmp_path)), WalkOptions())
    listing._drop_early()  # what the exit handler does (a usage error, say)
    with pytest.raises(ChildProcessError):
        os.waitpid(pids[0], os.WNOHANG)
    assert listing._early is None


@pytest.mark.parametrize(("args", "guess"), [
    (["scan", "--cache", "C", "D"], ("D", (), False, None)),
    (["scan", "--cache=C", "-q", "--format", "json", "--exclude", "*.log", "--exclude=tmp",
      "--follow-symlinks", "-j", "2", "D", "E"], ("D", ("*.log", "tmp"), True, 2)),
    (["scan", "-o", "D", "--cache", "C", "--", "-D"], None),  # -D is not a folder here
    (["scan", "--cache", "C", "F"], None),  # a file, not a folder
    (["scan", "--cache", "missing.sqlite", "D"], None),  # a first scan
    (["scan", "-qv", "--cache", "C", "D"], None),  # combined flags: left to click
    (["scan", "--unknown", "--cache", "C", "D"], None),
    (["report", "--cache", "C", "D"], None),
])
def test_a_rescan_s_walk_is_guessed_from_the_raw_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str],
    guess: tuple[str, tuple[str, ...], bool, int | None] | None,
) -> None:
    from mfaleaks.cli.launch import rescan_walk

    monkeypatch.chdir(tmp_path)
    (tmp_path / "C").write_text("")
    (tmp_path / "D").mkdir()
    (tmp_path / "E").mkdir()
    (tmp_path / "F").write_text("")
    assert rescan_walk(args) == guess


def test_a_cached_rescan_through_the_command_lists_early_and_finds_the_same(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    top = _tree(tmp_path / "tree")
    cache = tmp_path / "cache.sqlite"
    command = [sys.executable, "-c", "from mfaleaks.cli.launch import entry; entry()", "scan",
               "--format", "json", "-q", "--jobs", "2", "--cache", str(cache),
               "--exclude", "skip", str(top)]
    first = subprocess.run(command, capture_output=True, check=False)
    again = subprocess.run(command, capture_output=True, check=False)
    assert first.returncode == again.returncode == 1, again.stderr
    import json

    one, two = json.loads(first.stdout), json.loads(again.stdout)
    assert two["findings"] == one["findings"] and two["errors"] == one["errors"]
    assert "cache: 35 unchanged file(s) not read" in two["notices"][0], two["notices"]
