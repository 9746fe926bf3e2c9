"""Content read once per scan: copies of a file, and the same attachment in many mails."""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO, invoke
from mfaleaks.cache import children as memo
from mfaleaks.cache import contents
from mfaleaks.run import plan as reuse
from mfaleaks.run import scanjob
from sample_codes import GITHUB

sys.path.insert(0, str(REPO / "tests"))
import gen_mail

CODES = ("\n".join(GITHUB) + "\n").encode()


def scan(*args: str, jobs: str = "1") -> dict[str, Any]:
    res = invoke("scan", "--format", "json", "--jobs", jobs, "--no-ocr", *args)
    assert res.exit_code in (0, 1), res.stderr
    report: dict[str, Any] = res.report
    report["stats"].pop("seconds")
    return report


@pytest.fixture
def scanned(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Paths of the files on disk that a (jobs=1) scan really reads."""
    paths: list[str] = []
    real = scanjob.timed_scan

    def counting(source: Any, *args: Any) -> Any:
        paths.append(source.origin.path)
        return real(source, *args)

    monkeypatch.setattr(scanjob, "timed_scan", counting)
    return paths


def test_copies_of_a_file_are_read_once(
    tmp_path: Path, scanned: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "share"
    for folder in ("alice", "bob", "carol/old"):
        (root / folder).mkdir(parents=True)
        (root / folder / "github-recovery-codes.txt").write_bytes(CODES)
    (root / "bob" / "codes-copy.txt").write_bytes(CODES)  # same bytes, another name
    report = scan(str(root))
    assert sorted(Path(p).parent.name for p in scanned) == ["alice", "bob"]
    assert sorted(f["path"] for f in report["findings"]) == sorted(
        [str(root / d / "github-recovery-codes.txt") for d in ("alice", "bob", "carol/old")]
        + [str(root / "bob" / "codes-copy.txt")])
    # The same report as reading every copy.
    monkeypatch.setattr(reuse, "content_key", lambda source: None)
    monkeypatch.setattr(contents, "MEMO_SIZE", 0)
    scanned.clear()
    assert scan(str(root)) == report
    assert len(scanned) == 4


def test_copies_waiting_for_a_worker_get_its_result(tmp_path: Path) -> None:
    root = tmp_path / "share"
    for i in range(30):
        (root / f"user{i:02d}").mkdir(parents=True)
        (root / f"user{i:02d}" / "github-recovery-codes.txt").write_bytes(CODES)
    report = scan("--cache", str(tmp_path / "cache.sqlite"), str(root), jobs="2")
    assert len(report["findings"]) == 30
    assert len({f["fingerprint"] for f in report["findings"]}) == 1
    assert report["notices"][0] == (
        "cache: 0 unchanged file(s) not read, 29 recognised by content, 1 read")


def mbox_with_attachment(rng: random.Random) -> bytes:
    filler = "".join(rng.choice("abcdefghij klmnop\n") for _ in range(9000)).encode()
    archive = gen_mail.zip_of({"github-recovery-codes.txt": CODES, "notes.txt": filler})
    assert len(archive) > memo.MIN_SIZE
    start = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
    messages = []
    for i, who in enumerate(("ann", "ben", "cid")):
        mail = gen_mail.Mail(
            sender=f"{who}@example.com", to="it@example.com", subject=f"codes {who}",
            date=start + timedelta(days=i), message_id=gen_mail.message_id(rng),
            text="See attached.", attachments=(gen_mail.attachment("codes.zip", archive),))
        messages.append((mail.sender, mail.date, mail.build()))
    return gen_mail.mbox(messages)


def test_same_attachment_in_many_mails_is_read_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = tmp_path / "takeout.mbox"
    box.write_bytes(mbox_with_attachment(random.Random(7)))
    memo.clear()
    report = scan(str(box))
    assert memo.stats == {"hits": 2, "misses": memo.stats["misses"]}
    found = [f for f in report["findings"] if f["service"] == "github"]
    assert len(found) == 3
    assert {f["sender"] for f in found} == {"ann@example.com", "ben@example.com", "cid@example.com"}
    assert all(f["member"].endswith("codes.zip / github-recovery-codes.txt") for f in found)
    assert len({f["member"] for f in found}) == 3
    # Exactly what reading each copy gives.
    monkeypatch.setattr(memo, "MIN_SIZE", 1 << 40)
    memo.clear()
    assert scan(str(box)) == report
    assert memo.stats["hits"] == 0


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The contents that workers (jobs=1: this process) take the SHA-256 of."""
    import hashlib
    from types import SimpleNamespace

    seen: list[bytes] = []

    class Counting:
        def __init__(self, data: bytes = b"") -> None:
            self.parts = [bytes(data)]

        def update(self, data: bytes) -> None:
            self.parts.append(bytes(data))

        def digest(self) -> bytes:
            seen.append(b"".join(self.parts))
            return hashlib.sha256(seen[-1]).digest()

    monkeypatch.setattr(contents, "hashlib", SimpleNamespace(sha256=Counting))
    return seen


def test_without_a_cache_only_files_that_may_be_copies_are_hashed(
    tmp_path: Path, scanned: list[str], hashed: list[bytes]
) -> None:
    """A copy has the size and the name of what it copies: a file whose size and name no
    other file here has is scanned unhashed; the second of a size and name has both
    hashed (the first read again), and a third is placed without being read."""
    root = tmp_path / "share"
    for folder in ("alice", "bob", "carol"):
        (root / folder).mkdir(parents=True)
        (root / folder / "github-recovery-codes.txt").write_bytes(CODES)
    (root / "alice" / "notes.txt").write_bytes(b"milk and bread\n")
    (root / "bob" / "notes.txt").write_bytes(b"call Anna at 10\n")  # another size
    (root / "carol" / "notes.txt").write_bytes(b"call Anna at 9\n")  # alice's size
    report = scan(str(root))
    assert len(report["findings"]) == 3
    # Read: one copy of the codes, and each notes.txt (carol's differs from alice's).
    assert sorted(Path(p).parent.name + "/" + Path(p).name for p in scanned) == [
        "alice/github-recovery-codes.txt", "alice/notes.txt", "bob/notes.txt",
        "carol/notes.txt"]
    assert sorted(hashed) == sorted([CODES, CODES, CODES, b"call Anna at 9\n",
                                     b"milk and bread\n"])
    # With --cache every content is hashed: the cache keys moved files by it.
    hashed.clear()
    scan("--cache", str(tmp_path / "cache.sqlite"), str(root))
    assert len(hashed) == 6


def test_a_first_file_changed_since_its_scan_lends_its_result_to_no_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first of a size and name is hashed only when a second comes, by reading it
    again: if it changed meanwhile, what it holds now is not what was scanned, and a
    file that holds that now must be scanned, not given the old result."""
    import os

    from mfaleaks.models import FileResult, Origin, Source

    monkeypatch.setattr(contents, "every_digest", False)
    contents.clear()
    scans: list[bytes] = []

    def scan_it(source: Source) -> FileResult:
        assert source.data is not None
        scans.append(source.data)
        return FileResult(path=source.origin.path, bytes=len(source.data))

    def source_of(path: Path) -> Source:
        st = os.stat(path)
        return Source(origin=Origin(str(path)), name=path.name, fs_path=str(path),
                      size=st.st_size, device=st.st_dev,
                      stat_key=(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, later = tmp_path / "a" / "x.txt", tmp_path / "b" / "x.txt"
    first.write_bytes(b"old words\n")
    as_listed = source_of(first)
    contents.scan_small(as_listed, scan_it)
    first.write_bytes(b"new words\n")  # same size, same name
    later.write_bytes(b"new words\n")
    result = contents.scan_small(source_of(later), scan_it)
    assert result is not None and not result.reused
    assert scans == [b"old words\n", b"new words\n"]
    # Unchanged, it would have lent it (the check above is what refused).
    contents.clear()
    scans.clear()
    first.write_bytes(b"new words\n")
    contents.scan_small(source_of(first), scan_it)
    result = contents.scan_small(source_of(later), scan_it)
    assert result is not None and result.reused and scans == [b"new words\n"]
    contents.clear()
