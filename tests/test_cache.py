"""--cache FILE: rescans read only what changed, and the cache never holds a code in full."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import sqlite3
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO, CliRun, invoke
from mfaleaks.detect.rules.load import DEFAULT_RULES_DIR
from mfaleaks.run import scanjob
from sample_codes import GITHUB

sys.path.insert(0, str(REPO / "scripts"))



@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "share"
    (root / "jdoe").mkdir(parents=True)
    (root / "jdoe" / "github-recovery-codes.txt").write_text("\n".join(GITHUB) + "\n")
    (root / "notes.txt").write_text("Shopping: milk, bread\nCall Anna at 10:30\n")
    (root / "docs").mkdir()
    (root / "docs" / "readme.md").write_text("Nothing to see here.\n" * 50)
    return root


def scan(*args: str) -> dict[str, Any]:
    res = invoke("scan", "--format", "json", "--jobs", "1", *args)
    assert res.exit_code in (0, 1), res.stderr
    return res.report


def comparable(report: dict[str, Any]) -> dict[str, Any]:
    """The report without what may differ between a fresh and a cached run."""
    out = dict(report)
    out["stats"] = {k: v for k, v in report["stats"].items() if k != "seconds"}
    out["notices"] = [n for n in report["notices"] if not n.startswith("cache:")]
    return out


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], list[str]]:
    """Files opened under a folder (by the scanner or the hasher) and files scanned."""
    opened: list[str] = []
    scanned: list[str] = []
    real_open, real_scan = os.open, scanjob.timed_scan

    def counting_open(path: Any, *args: Any, **kwargs: Any) -> int:
        if not (args and args[0] & os.O_DIRECTORY):  # folders are listed, not read
            opened.append(os.fsdecode(path))
        return real_open(path, *args, **kwargs)

    def counting_scan(source: Any, *args: Any) -> Any:
        scanned.append(source.origin.path)
        return real_scan(source, *args)

    monkeypatch.setattr(os, "open", counting_open)
    monkeypatch.setattr(scanjob, "timed_scan", counting_scan)

    def under(root: Path) -> list[str]:
        return [p for p in opened + scanned if p.startswith(str(root))]

    under.opened = opened  # type: ignore[attr-defined]
    under.scanned = scanned  # type: ignore[attr-defined]
    return under


def test_rescan_of_unchanged_files_reads_nothing(
    tree: Path, tmp_path: Path, reads: Callable[[Path], list[str]]
) -> None:
    cache = tmp_path / "cache.sqlite"
    first = scan("--cache", str(cache), str(tree))
    assert [f["service"] for f in first["findings"]] == ["github"]
    assert reads(tree)  # the first scan did read the files
    reads.opened.clear(), reads.scanned.clear()  # type: ignore[attr-defined]
    again = scan("--cache", str(cache), str(tree))
    assert reads(tree) == []
    assert comparable(again) == comparable(first)
    notice = "cache: 3 unchanged file(s) not read, 0 recognised by content, 0 read"
    assert notice in again["notices"]


def test_cached_results_are_those_of_a_fresh_scan(tmp_path: Path) -> None:
    """Text, mbox, eml and a Maildir (whose members carry the message path) round-trip."""
    import fixtures_mail
    import fixtures_text

    root = tmp_path / "share"
    root.mkdir()
    fixtures_text.build(root, random.Random(1))
    fixtures_mail.build(root, random.Random(2))
    cache = tmp_path / "cache.sqlite"
    fresh = scan("--no-ocr", str(root))
    first = scan("--no-ocr", "--cache", str(cache), str(root))
    again = scan("--no-ocr", "--cache", str(cache), str(root))
    assert len(fresh["findings"]) >= 5
    assert any(f["member"] for f in fresh["findings"])
    assert comparable(first) == comparable(fresh)
    assert comparable(again) == comparable(fresh)
    files = fresh["stats"]["files"]
    assert f"cache: {files} unchanged file(s) not read, 0 recognised by content, 0 read" in (
        again["notices"])


def test_moved_file_is_known_by_content(
    tree: Path, tmp_path: Path, reads: Callable[[Path], list[str]]
) -> None:
    cache = tmp_path / "cache.sqlite"
    first = scan("--cache", str(cache), str(tree))
    (tree / "archive").mkdir()
    shutil.move(tree / "jdoe" / "github-recovery-codes.txt", tree / "archive")
    reads.opened.clear(), reads.scanned.clear()  # type: ignore[attr-defined]
    again = scan("--cache", str(cache), str(tree))
    assert reads.scanned == []  # type: ignore[attr-defined] # hashed, not read
    [before], [after] = first["findings"], again["findings"]
    assert after["path"] == str(tree / "archive" / "github-recovery-codes.txt")
    assert {k: v for k, v in after.items() if k not in ("path", "meta")} == {
        k: v for k, v in before.items() if k not in ("path", "meta")}
    assert "cache: 2 unchanged file(s) not read, 1 recognised by content, 0 read" in (
        again["notices"])
    # The old path is forgotten once a complete scan no longer sees it.
    with sqlite3.connect(cache) as db:
        paths = [os.fsdecode(r[0] + r[1]) for r in db.execute("SELECT dir, name FROM files")]
    assert not any("jdoe" in p for p in paths) and len(paths) == 3


def test_changed_file_is_read_again(
    tree: Path, tmp_path: Path, reads: Callable[[Path], list[str]]
) -> None:
    cache = tmp_path / "cache.sqlite"
    scan("--cache", str(cache), str(tree))
    codes = tree / "jdoe" / "github-recovery-codes.txt"
    st = codes.stat()
    # Same size, same mtime, other content: ctime still tells.
    codes.write_text("\n".join(GITHUB[:8] + [c[::-1] for c in GITHUB[8:]]) + "\n")
    os.utime(codes, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert codes.stat().st_size == st.st_size
    reads.opened.clear(), reads.scanned.clear()  # type: ignore[attr-defined]
    again = scan("--cache", str(cache), str(tree))
    assert reads.scanned == [str(codes)]  # type: ignore[attr-defined]
    assert again["findings"][0]["fingerprint"] == scan(str(tree))["findings"][0]["fingerprint"]


def test_cache_file_is_private_and_holds_no_code(tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache.sqlite"
    shown = scan("--show-secrets", "--cache", str(cache), str(tree))
    assert shown["findings"][0]["secrets"] == GITHUB  # codes in full in the report...
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("cache.sqlite*"))
    for code in GITHUB:  # ...and not in the cache, in any form
        assert code.encode() not in raw and code.replace("-", "").encode() not in raw
    assert "d1••" in raw.decode("utf-8", "replace")  # the masked form is there


def test_show_secrets_reads_files_again(tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache.sqlite"
    scan("--cache", str(cache), str(tree))
    again = scan("--show-secrets", "--cache", str(cache), str(tree))
    assert again["findings"][0]["secrets"] == GITHUB
    assert "cache: 0 unchanged file(s) not read, 0 recognised by content, 3 read" in (
        again["notices"])


def test_rule_change_invalidates(tree: Path, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules)
    cache = tmp_path / "cache.sqlite"
    args = ("--no-default-rules", "--rules", str(rules), "--cache", str(cache), str(tree))
    scan(*args)
    assert "3 unchanged" in scan(*args)["notices"][0]
    github = rules / "github.toml"
    github.write_text(github.read_text().replace('title = "', 'title = "Renamed: ', 1))
    again = scan(*args)
    assert "0 unchanged file(s) not read, 0 recognised by content, 3 read" in again["notices"][0]
    assert "started afresh" in again["notices"][1]
    assert again["findings"][0]["title"].startswith("Renamed: ")
    # Another confidence floor is another engine too.
    low = scan("--min-confidence", "low", *args)
    assert "3 read" in low["notices"][0]


def test_refuses_a_file_that_is_not_a_cache(tree: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"findings": []}))
    res: CliRun = invoke("scan", "--jobs", "1", "--cache", str(report), str(tree))
    assert res.exit_code == 2
    assert "not an mfaleaks cache" in res.stderr
    assert json.loads(report.read_text()) == {"findings": []}
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (x)")
    assert invoke("scan", "--jobs", "1", "--cache", str(other), str(tree)).exit_code == 2


def test_two_workers_share_one_cache(tree: Path, tmp_path: Path) -> None:
    """The parent alone touches the cache; workers run as in any scan."""
    for i in range(40):
        (tree / "docs" / f"page{i}.txt").write_text(f"page {i}\n" * (i + 1))
    cache = tmp_path / "cache.sqlite"
    runs: Iterator[dict[str, Any]] = (
        invoke("scan", "--format", "json", "--jobs", "2", "--cache", str(cache),
               str(tree)).report for _ in range(2))
    first, again = list(runs)
    assert comparable(first) == comparable(again)
    assert again["notices"][0].startswith("cache: 43 unchanged")


def cached_paths(cache: Path) -> set[str]:
    with sqlite3.connect(cache) as db:
        return {os.fsdecode(r[0] + r[1]) for r in db.execute("SELECT dir, name FROM files")}


def test_gone_files_and_folders_are_forgotten(tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache.sqlite"
    (tree / "docs" / "old.txt").write_text("old notes\n")
    (tree / "tmp" / "deep").mkdir(parents=True)
    (tree / "tmp" / "deep" / "x.txt").write_text("scratch\n")
    scan("--cache", str(cache), str(tree))
    assert len(cached_paths(cache)) == 5
    (tree / "docs" / "old.txt").unlink()  # a file gone from a folder still there
    shutil.rmtree(tree / "tmp")  # a whole folder gone
    again = scan("--cache", str(cache), str(tree))
    assert "cache: 3 unchanged file(s) not read, 0 recognised by content, 0 read" in (
        again["notices"])
    assert cached_paths(cache) == {str(p) for p in tree.rglob("*") if p.is_file()}


def test_files_named_one_by_one_keep_their_neighbours(tree: Path, tmp_path: Path) -> None:
    """pre-commit passes a few staged files: the rest of the folder stays cached."""
    cache = tmp_path / "cache.sqlite"
    scan("--cache", str(cache), str(tree))
    everything = cached_paths(cache)
    notes = tree / "notes.txt"
    notes.write_text("Shopping: milk, bread, eggs\n")
    again = scan("--cache", str(cache), str(notes))
    assert "cache: 0 unchanged file(s) not read, 0 recognised by content, 1 read" in (
        again["notices"])
    assert cached_paths(cache) == everything
    notes.unlink()
    scan("--cache", str(cache), str(tree / "docs" / "readme.md"))
    assert cached_paths(cache) == everything
    scan("--cache", str(cache), str(tree))  # the folder itself: now the file is gone
    assert cached_paths(cache) == everything - {str(notes)}


def test_a_bad_rule_file_fails_every_time_even_with_a_cache(tree: Path, tmp_path: Path) -> None:
    """A rescan skips recompiling rules the cache has seen load; it must never vouch for
    rules that did not load."""
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules)
    cache = tmp_path / "cache.sqlite"
    args = ("--no-default-rules", "--rules", str(rules), "--cache", str(cache), str(tree))
    assert "github" in {f["service"] for f in scan(*args)["findings"]}
    github = rules / "github.toml"
    github.write_text(github.read_text().replace("count = 16", "count = 16\nbogus = 1", 1))
    for _ in range(2):
        res = invoke("scan", "--jobs", "1", *args)
        assert res.exit_code == 2 and "github.toml" in res.stderr, res.stderr


def test_a_rescan_takes_the_rule_ids_its_cache_vouches_for(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run that compiled the rules keeps their ids with its key; the next run with the
    same key compiles nothing before it knows a file must be read (and disabling a rule
    still works from those ids)."""
    from mfaleaks.cache import store as cache_module
    from mfaleaks.detect.rules import load

    cache = tmp_path / "cache.sqlite"
    first = scan("--cache", str(cache), str(tree))
    with sqlite3.connect(cache) as db:
        ids = json.loads(db.execute("SELECT v FROM meta WHERE k = 'rule_ids'").fetchone()[0])
    assert "github-recovery-codes" in ids and len(ids) == len(set(ids)) >= 20

    def no_compiling(*args: object, **kwargs: object) -> None:
        raise AssertionError("rules compiled on a rescan of unchanged files")

    monkeypatch.setattr(load, "load_pack", no_compiling)
    again = scan("--cache", str(cache), str(tree))
    assert comparable(again) == comparable(first)
    config = tmp_path / "proj" / ".mfaleaks.toml"
    config.parent.mkdir()
    config.write_text('disable = ["github-recovery-codes"]\n')
    res = invoke("scan", "--format", "json", "--jobs", "1", "--config", str(config),
                 "--cache", str(cache), str(tree))
    assert res.exit_code == 0 and res.report["findings"] == [], res.stderr
    # Without ids next to the key (a cache of an older mfaleaks) the rules are compiled.
    with sqlite3.connect(cache) as db:
        key = db.execute("SELECT v FROM meta WHERE k = 'engine'").fetchone()[0]
        assert cache_module.holds_engine(cache, key) == frozenset(ids)
        db.execute("DELETE FROM meta WHERE k = 'rule_ids'")
    assert cache_module.holds_engine(cache, key) is None
    with pytest.raises(AssertionError, match="rules compiled"):
        invoke("scan", "--format", "json", "--jobs", "1", "--cache", str(cache), str(tree))


def test_an_upgraded_library_starts_the_cache_afresh(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new regex (or any library that compiles the rules or reads files) may read a file
    differently or reject a pattern: the cache must not vouch for the old results."""
    cache = tmp_path / "cache.sqlite"
    scan("--cache", str(cache), str(tree))
    again = scan("--cache", str(cache), str(tree))
    assert "cache: 3 unchanged file(s) not read" in again["notices"][0]
    other = tmp_path / "site-packages"
    (other / "regex-2099.1.1.dist-info").mkdir(parents=True)
    (other / "unrelated-1.0.dist-info").mkdir()
    monkeypatch.syspath_prepend(str(other))
    upgraded = scan("--cache", str(cache), str(tree))
    assert "started afresh" in " ".join(upgraded["notices"])
    assert "0 unchanged file(s) not read, 0 recognised by content, 3 read" in (
        upgraded["notices"][0])
    (other / "unrelated-1.0.dist-info").rmdir()  # not one of ours: the key stays
    assert "cache: 3 unchanged" in scan("--cache", str(cache), str(tree))["notices"][0]


def test_gone_files_of_a_folder_too_big_to_hold_are_forgotten(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past FOLDER_ROWS a folder is looked up file by file; the names the walk gives go to
    a temporary table, so files gone from it still leave the cache (no memory per file)."""
    from mfaleaks.cache import store as cache_module

    monkeypatch.setattr(cache_module, "FOLDER_ROWS", 3)
    monkeypatch.setattr(cache_module, "WRITE_BATCH", 2)  # several inserts per folder
    big = tree / "big"
    big.mkdir()
    for i in range(9):
        (big / f"note{i}.txt").write_text(f"meeting {i}\n")
    cache = tmp_path / "cache.sqlite"
    scan("--cache", str(cache), str(tree))
    for i in (2, 5, 8):
        (big / f"note{i}.txt").unlink()
    again = scan("--cache", str(cache), str(tree))
    assert "cache: 9 unchanged file(s) not read" in again["notices"][0]
    assert cached_paths(cache) == {str(p) for p in tree.rglob("*") if p.is_file()}
    assert [f["service"] for f in again["findings"]] == ["github"]


def test_the_folder_sweep_gives_way_to_bounded_memory(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ENTERED_KEPT folders the scan stops remembering them: rows of folders that are
    gone then stay in the cache (harmless) instead of memory growing with the tree."""
    from mfaleaks.cache import store as cache_module

    cache = tmp_path / "cache.sqlite"
    scan("--cache", str(cache), str(tree))
    shutil.rmtree(tree / "docs")
    monkeypatch.setattr(cache_module, "ENTERED_KEPT", 1)
    again = scan("--cache", str(cache), str(tree))
    assert [f["service"] for f in again["findings"]] == ["github"]
    assert str(tree / "docs" / "readme.md") in cached_paths(cache)
    monkeypatch.setattr(cache_module, "ENTERED_KEPT", 200_000)
    scan("--cache", str(cache), str(tree))
    assert str(tree / "docs" / "readme.md") not in cached_paths(cache)


def _stored(reason: str) -> Any:
    from mfaleaks.cache.record import Stored

    return Stored(findings=(), errors=((None, reason),), kind="text", lasting=True)


def test_the_write_lock_is_free_between_writes(tmp_path: Path) -> None:
    """Workers keep their verdicts on empty images in the same file (ocrcache.py) while
    the parent waits for them: the parent's gathered writes must not hold the lock."""
    from mfaleaks.cache.store import ScanCache

    path = tmp_path / "cache.sqlite"
    cache = ScanCache.open(path, "key")
    result_id = cache.store(_stored("could not parse"))
    cache.remember((b"/share/", b"a.txt"), (1, 2, 3, 4), (b"d" * 32, "a.txt", ""), result_id)
    other = sqlite3.connect(path, timeout=0, isolation_level=None)  # a worker that never waits
    other.execute("CREATE TABLE IF NOT EXISTS images (key TEXT PRIMARY KEY, verdict TEXT)")
    other.execute("INSERT INTO images VALUES ('image:x', 'empty')")
    # The row not written yet is still found by its content (written first, then read).
    found = cache.by_content((b"d" * 32, "a.txt", ""))
    assert found is not None and found[1] == result_id and found[0].errors
    other.execute("INSERT INTO images VALUES ('image:y', 'empty')")  # and free again
    cache.close(complete=True, roots=[])
    rows = other.execute("SELECT dir, name, result FROM files").fetchall()
    assert rows == [(b"/share/", b"a.txt", result_id)]
    other.close()


def test_a_result_keeps_its_id_from_scan_to_scan(tmp_path: Path) -> None:
    """Ids come from the result's text: the same result written by two scans is one row,
    and distinct results do not share one."""
    from mfaleaks.cache.store import ScanCache

    path = tmp_path / "cache.sqlite"
    ids = []
    for _ in range(2):
        cache = ScanCache.open(path, "key")
        ids.append([cache.store(_stored(f"reason {i}")) for i in range(50)])
        for i, result_id in enumerate(ids[-1]):
            cache.remember((b"/s/", f"{i}".encode()), (i, 0, 0, i), None, result_id)
        cache.close(complete=True, roots=[])
    assert ids[0] == ids[1] and len(set(ids[0])) == 50
    db = sqlite3.connect(path)
    assert db.execute("SELECT count(*) FROM results").fetchone() == (50,)


def test_results_no_file_gives_any_more_are_dropped(tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache.sqlite"

    def results() -> list[str]:
        with contextlib.closing(sqlite3.connect(cache)) as db:
            return sorted(r[0] for r in db.execute("SELECT json FROM results"))

    scan("--cache", str(cache), str(tree))
    first = results()
    assert any("github" in r for r in first)
    scan("--cache", str(cache), str(tree))
    assert results() == first  # an unchanged rescan keeps them all
    (tree / "jdoe" / "github-recovery-codes.txt").unlink()
    scan("--cache", str(cache), str(tree))
    assert not any("github" in r for r in results())
    shutil.rmtree(tree / "docs")  # a gone folder, told from the rows read at the start
    scan("--cache", str(cache), str(tree))
    assert str(tree / "docs" / "readme.md") not in cached_paths(cache)


def test_the_content_index_is_built_at_the_end_of_a_first_scan(
    tree: Path, tmp_path: Path
) -> None:
    """A fresh cache is written without its index on content (built once at the end, from
    sorted keys); a rescan looks moved files up through it."""
    from mfaleaks.cache.store import ScanCache

    cache = tmp_path / "cache.sqlite"
    opened = ScanCache.open(cache, "key")
    with contextlib.closing(sqlite3.connect(cache)) as db:
        indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "files_digest" not in indexes  # fresh: dropped while rows go in
    opened.close(complete=False, roots=[])
    scan("--cache", str(cache), str(tree))
    with contextlib.closing(sqlite3.connect(cache)) as db:
        plan = " ".join(str(r) for r in db.execute(
            "EXPLAIN QUERY PLAN SELECT result FROM files WHERE digest = ? AND label = ? "
            "AND hint = ? LIMIT 1", (b"x" * 32, "a", "")))
    assert "files_digest" in plan


def test_a_clean_folder_is_answered_whole_until_one_of_its_files_changes(
    tmp_path: Path, reads: Callable[[Path], list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rescan's listing gives a folder of clean files as one packed record: its file list
    is opened only when the cache does not vouch for the folder as a whole."""
    from mfaleaks.sources import discover

    root = tmp_path / "share"
    (root / "clean").mkdir(parents=True)
    (root / "jdoe").mkdir()
    (root / "jdoe" / "github-recovery-codes.txt").write_text("\n".join(GITHUB) + "\n")
    codes = "GitHub recovery codes\n" + "\n".join(GITHUB) + "\n"
    for i in range(20):  # each as long as the codes that one of them will hold
        (root / "clean" / f"f{i:02}.txt").write_text("a" * (len(codes) - 1) + "\n")
    (root / "notes.txt").write_text("Shopping: milk, bread\n")
    opened: list[str] = []
    real_unpacked = discover.unpacked

    def unpacked(record: tuple[Any, ...]) -> tuple[Any, ...]:
        opened.append(os.path.basename(record[1]))
        return real_unpacked(record)

    monkeypatch.setattr(discover, "unpacked", unpacked)
    cache = tmp_path / "cache.sqlite"
    first = scan("--cache", str(cache), str(root))
    opened.clear(), reads.opened.clear(), reads.scanned.clear()  # type: ignore[attr-defined]
    again = scan("--cache", str(cache), str(root))
    assert reads(root) == [] and comparable(again) == comparable(first)
    assert opened == ["jdoe"]  # its file has a finding: looked up by name; the rest whole
    assert "cache: 22 unchanged file(s) not read, 0 recognised by content, 0 read" in (
        again["notices"])
    # One clean file now holds codes: same size, same mtime (ctime tells).
    changed = root / "clean" / "f07.txt"
    st = changed.stat()
    changed.write_text(codes)
    os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert changed.stat().st_size == st.st_size
    opened.clear(), reads.opened.clear(), reads.scanned.clear()  # type: ignore[attr-defined]
    third = scan("--cache", str(cache), str(root))
    assert reads.scanned == [str(changed)]  # type: ignore[attr-defined]
    assert sorted(opened) == ["clean", "jdoe"]
    assert comparable(third) == comparable(scan(str(root)))
    assert len(third["findings"]) == 2
    assert "cache: 21 unchanged file(s) not read, 0 recognised by content, 1 read" in (
        third["notices"])
