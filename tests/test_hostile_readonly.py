"""The scanned tree is never modified (issue 8): no write, no new file, no timestamp.

A tree with every kind of input (the hostile suite, codes in text, mail, zip,
docx, PDF and a screenshot, a Maildir, links, a FIFO) is scanned in several
ways; before and after, os.lstat of every entry is compared: mode, size, inode,
links, owner, mtime_ns, ctime_ns and atime_ns. Access times are first set ten
days back, before the modification time, so that a read without O_NOATIME (a
library handed a path instead of our file object, a folder listed by path)
would move them even on a relatime mount. This test lists folders with
O_NOATIME itself, so that taking the snapshots moves nothing.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import gen_hostile as gen
from hostile_cli import run
from test_hostile_leaks import plant

Snapshot = dict[str, tuple[int, ...]]


def build(root: Path) -> None:
    gen.tree(root / "hostile")
    plant(root / "share")
    for sub in ("cur", "new", "tmp"):
        (root / "Maildir" / sub).mkdir(parents=True)
    (root / "Maildir" / "cur" / "1700000000.1.host:2,S").write_bytes(
        (root / "share" / "codes.eml").read_bytes())


def age(root: Path) -> None:
    """Access times ten days before the modification times (relatime updates those)."""
    for path in [str(root), *walk(root)]:
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
            os.utime(path, ns=(st.st_mtime_ns - 10 * 86400 * 10**9, st.st_mtime_ns))


def walk(root: Path) -> list[str]:
    """Every entry under root, folders listed through O_NOATIME descriptors."""
    out, folders = [], [str(root)]
    while folders:
        folder = folders.pop()
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOATIME)
        try:
            with os.scandir(fd) as listing:
                for entry in listing:
                    path = os.path.join(folder, entry.name)
                    out.append(path)
                    if entry.is_dir(follow_symlinks=False):
                        folders.append(path)
        finally:
            os.close(fd)
    return out


def snapshot(root: Path) -> Snapshot:
    snap: Snapshot = {}
    for path in [str(root), *walk(root)]:
        st = os.lstat(path)
        atime = st.st_atime_ns if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode) else 0
        snap[path] = (st.st_mode, st.st_size, st.st_ino, st.st_nlink, st.st_uid, st.st_gid,
                      st.st_mtime_ns, st.st_ctime_ns, atime)
    return snap


FIELDS = ("mode", "size", "ino", "nlink", "uid", "gid", "mtime_ns", "ctime_ns", "atime_ns")


def diff(before: Snapshot, after: Snapshot) -> list[str]:
    out = [f"new: {p}" for p in after.keys() - before.keys()]
    out += [f"gone: {p}" for p in before.keys() - after.keys()]
    for path in before.keys() & after.keys():
        for name, a, b in zip(FIELDS, before[path], after[path], strict=True):
            if a != b:
                out.append(f"{path}: {name} {a} -> {b}")
    return sorted(out)


@pytest.mark.parametrize("args", [
    ["scan", "--format", "json"],
    ["scan", "--jobs", "1", "--follow-symlinks", "--format", "sarif", "-o", "report.sarif"],
    ["scan", "--format", "json", "--cache", "cache.db"],
    ["baseline", "create", "baseline.json"],
], ids=["default", "follow-symlinks", "cache", "baseline"])
def test_scan_leaves_the_tree_as_it_was(tmp_path: Path, args: list[str]) -> None:
    root = tmp_path / "tree"
    build(root)
    age(root)
    before = snapshot(root)
    assert any(stat.S_ISFIFO(v[0]) for v in before.values())
    res = run([*args, str(root)], tmp_path / "out", timeout=300)
    assert not res.hung and res.code in (0, 1), res.stderr.decode(errors="replace")[-2000:]
    changed = diff(before, snapshot(root))
    assert not changed, "\n".join(changed[:20])
