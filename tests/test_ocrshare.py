"""ocrshare.py: the workers of one scan read a picture once between them (real tesseract,
real processes), and a worker that dies holding a claim stops no one."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import pytest

import gen_mail
from mfaleaks.cache import contents
from mfaleaks.extract.base import Budget, Context, Limits
from mfaleaks.extract.image import extract_image
from mfaleaks.images import engine, ocr, ocrcache, ocrshare
from mfaleaks.models import Origin, Source, TextChunk
from mfaleaks.run.pool import _spread

pytestmark = pytest.mark.skipif(not ocr.tesseract_available(), reason="tesseract not installed")


@pytest.fixture
def tesseract_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A tesseract in front of the real one on PATH, writing one line per image it reads
    (the program engine, so that each reading is a run that can be counted)."""
    real = shutil.which("tesseract")
    assert real is not None
    shim = tmp_path / "bin"
    shim.mkdir()
    log = tmp_path / "tesseract-runs.log"
    (shim / "tesseract").write_text(
        "#!/bin/sh\n"
        f'case "$1" in --*) ;; *) echo "$$" >> "{log}" ;; esac\n'
        f'exec "{real}" "$@"\n')
    (shim / "tesseract").chmod(stat.S_IRWXU)
    monkeypatch.setenv("PATH", f"{shim}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv(engine.FORCE_ENV, "program")
    engine.reset()
    log.touch()
    yield log
    monkeypatch.undo()
    engine.reset()


def runs(log: Path) -> int:
    return len(log.read_text().splitlines())


def runs_per_reading(data: bytes, log: Path) -> int:
    """Tesseract runs that reading this picture once takes (a page with recovery wording
    and a misread code is read again at other scales: ocr.read_text); the log and the
    memory of pictures read are emptied again."""
    ocrcache.clear_memory()
    list(extract_image(Source(Origin("/x.png"), "x.png", data=data, size=len(data)),
                       Context(Limits(), Budget())))
    ocrcache.clear_memory()
    n = runs(log)
    log.write_text("")
    assert n >= 1
    return n


def picture(seed: int, notes: int = 0) -> bytes:
    """A screenshot of recovery codes no other test draws (so no cache knows it), with
    `notes` lines of prose under them: each makes it slower to read."""
    rng = random.Random(seed)
    codes = [f"{rng.getrandbits(20):05x}-{rng.getrandbits(20):05x}" for _ in range(6)]
    prose = ["Keep these somewhere safe, such as a password manager; each works once."] * notes
    return gen_mail.screenshot("\n".join(["GitHub recovery codes", *codes, *prose]))


def read_in_child(data: bytes, go: int, out: Path) -> int:
    """Fork a process that waits for `go`, reads the picture and writes what it read."""
    pid = os.fork()
    if pid:
        return pid
    try:  # pragma: no cover - the child
        os.read(go, 1)  # (no clear_memory here: it would wipe the other child's claim)
        source = Source(Origin("/share/shot.png"), "shot.png", data=data, size=len(data))
        items = list(extract_image(source, Context(Limits(), Budget())))
        texts = [i.text for i in items if isinstance(i, TextChunk)]
        out.write_text(json.dumps(texts))
    finally:
        os._exit(0)


def test_two_processes_meeting_one_picture_run_tesseract_once(
    tmp_path: Path, tesseract_runs: Path
) -> None:
    data = picture(1)
    once = runs_per_reading(data, tesseract_runs)
    go_r, go_w = os.pipe()
    outs = [tmp_path / f"child{i}.json" for i in range(2)]
    pids = [read_in_child(data, go_r, out) for out in outs]
    os.write(go_w, b"xx")  # both start at once: one reads, the other waits for it
    for pid in pids:
        os.waitpid(pid, 0)
    read = [json.loads(out.read_text()) for out in outs]
    assert read[0] and read[0] == read[1]
    assert runs(tesseract_runs) == once


def test_a_claim_whose_worker_died_is_taken_over(tmp_path: Path) -> None:
    key = f"image:{os.urandom(8).hex()}:test"
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child claims and dies without a word
        os._exit(0 if ocrshare.claim(key, 5.0) is ocrshare.MINE else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # Taken over because its claimant is gone (not because the wait ran out).
    assert not ocrshare._alive(pid) and ocrshare._alive(os.getpid())
    assert ocrshare.claim(key, 5.0) is ocrshare.MINE
    ocrshare.publish(key, ("read",))
    assert ocrshare.claim(key, 5.0) == ("read",)


def test_a_released_claim_goes_to_the_next_worker_and_a_full_table_shares_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = f"image:{os.urandom(8).hex()}:test"
    assert ocrshare.claim(key, 1.0) is ocrshare.MINE
    ocrshare.release(key)
    assert ocrshare.claim(key, 1.0) is ocrshare.MINE
    monkeypatch.setattr(ocrshare, "DATA", 0)  # no room left for results
    ocrshare.publish(key, ("too big",))
    assert ocrshare.claim(key, 1.0) is ocrshare.MINE  # not published: read it again
    monkeypatch.setattr(ocrshare, "PROBES", 0)  # no slot to look at: the table is full
    assert ocrshare.claim(f"image:{os.urandom(8).hex()}:test", 1.0) is None


def test_a_scan_with_two_workers_reads_one_attachment_once(
    tmp_path: Path, tesseract_runs: Path
) -> None:
    """The same screenshot in twelve mails of different sizes, which go to both workers."""
    shot = picture(2)
    once = runs_per_reading(shot, tesseract_runs)
    share = tmp_path / "mail"
    sizes = gen_mail.mails_with_picture(share, shot)
    assert len({_spread(size) % 2 for size in sizes}) == 2  # both lanes get mails
    done = subprocess.run(
        [str(Path(sys.executable).parent / "mfaleaks"), "scan", "--jobs", "2", "--format",
         "json", "--min-confidence", "low", str(share)],
        capture_output=True, text=True, check=False)
    assert done.returncode == 1, done.stderr
    found = json.loads(done.stdout)["findings"]
    assert sorted({f["path"] for f in found}) == sorted(str(share / f"mail{i}.eml")
                                                       for i in range(12))
    assert runs(tesseract_runs) == once


def _hold_claim(key: str) -> tuple[int, int]:
    """Fork a process that claims `key` and holds it until the returned fd is written to."""
    r, w = os.pipe()
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(w)
            ok = ocrshare.claim(key, 5.0) is ocrshare.MINE
            os.write(ready_w, b"1" if ok else b"0")
            os.read(r, 1)
        finally:
            os._exit(0)
    os.close(r)
    assert os.read(ready_r, 1) == b"1"
    os.close(ready_r)
    os.close(ready_w)
    return pid, w


def _let_go(pid: int, w: int) -> None:
    os.write(w, b"x")
    os.close(w)
    os.waitpid(pid, 0)


def test_a_worker_puts_a_picture_being_read_off_once_then_waits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = f"image:{os.urandom(8).hex()}:test"
    pid, w = _hold_claim(key)
    try:
        assert ocrshare.claim(key, 0.05) is ocrshare.MINE  # not in a worker: it waits
        ocrshare.release(key)
    finally:
        _let_go(pid, w)
    pid, w = _hold_claim(key)
    try:
        monkeypatch.setattr(ocrshare, "may_put_off", True)
        with pytest.raises(ocrshare.Busy):
            ocrshare.claim(key, 0.05)
        # The second time it waits (here until its wait runs out, then reads it).
        assert ocrshare.claim(key, 0.05) is ocrshare.MINE
    finally:
        _let_go(pid, w)


def test_a_file_put_off_comes_back_as_such_and_the_batch_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mfaleaks.config import ScanConfig
    from mfaleaks.extract.image import _limits_id
    from mfaleaks.images.ocrcache import cache_key
    from mfaleaks.run import scanjob
    from mfaleaks.run.spec import engine_spec

    spec = engine_spec(ScanConfig(paths=()))
    # The wait is ocr_timeout + 1 s; the OCR itself must fit in ocr_timeout on a busy machine.
    limits = replace(spec.limits, ocr_timeout=2.0)
    monkeypatch.setattr(scanjob, "_engine", spec.build())
    monkeypatch.setattr(scanjob, "_limits", limits)
    data = picture(3)
    shot, note = tmp_path / "shot.png", tmp_path / "github-recovery-codes.txt"
    shot.write_bytes(data)
    note.write_text("GitHub recovery codes\n" + "\n".join(
        f"{i:05x}-{i * 7:05x}" for i in range(0x1a2b3, 0x1a2b3 + 16)) + "\n")
    batch = [Source(Origin(str(p)), p.name, fs_path=str(p), size=p.stat().st_size)
             for p in (shot, note)]
    digest = hashlib.sha256(data).hexdigest()
    key = f"{cache_key(digest, ocr.cache_settings())}:{_limits_id(limits)}"
    pid, w = _hold_claim(key)
    try:
        first = scanjob.scan_batch(batch)
        assert [r.put_off for r in first] == [True, False]
        assert not first[0].findings and first[1].findings
        # A file too big to be read whole is not put off (that could throw away minutes
        # of a mailbox): it waits, here until the wait runs out, and reads it itself.
        with monkeypatch.context() as m:
            m.setattr(contents, "SMALL_FILE", 100)
            ocrshare._put_off.clear()
            streamed = scanjob.scan_batch(batch[:1])
        assert not streamed[0].put_off and streamed[0].findings
    finally:
        _let_go(pid, w)
    ocrcache.clear_memory()  # (the streamed read above is remembered by this process)
    again = scanjob.scan_batch(batch[:1])  # its claimant gone: read here
    assert not again[0].put_off and again[0].findings
    assert not ocrshare.may_put_off  # only while a worker scans a small file


def test_a_worker_goes_on_while_the_other_reads_the_picture_then_takes_its_reading(
    tmp_path: Path,
) -> None:
    """Two mails with one screenshot, one per worker, sent at once: one worker reads it;
    the other puts its mail off, and gets it back from finish() once the reading is in."""
    from mfaleaks.config import ScanConfig
    from mfaleaks.run.pool import Workers
    from mfaleaks.run.spec import engine_spec

    # Read for long enough (~1 s: 40 lines of prose) that the other worker reaches its mail
    # while the reading goes on, however busy the machine: the engine is loaded before the
    # workers are forked, so a short picture could be read before the other one starts.
    shot = picture(4, notes=40)
    paths: list[Path] = []
    pad = 0
    while len(paths) < 2:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "a@example.com", "b@example.com", "codes"
        msg.set_content("see the picture\n" + "x" * pad)
        msg.add_attachment(shot, maintype="image", subtype="png", filename="codes.png")
        data, pad = bytes(msg), pad + 1
        if not paths or _spread(len(data)) % 2 != _spread(paths[0].stat().st_size) % 2:
            paths.append(tmp_path / f"mail{len(paths)}.eml")
            paths[-1].write_bytes(data)
    sources = [Source(Origin(str(p)), p.name, fs_path=str(p), size=p.stat().st_size)
               for p in paths]
    with Workers(engine_spec(ScanConfig(paths=(), jobs=2)), jobs=2) as pool:
        done = [d for i, s in enumerate(sources) for d in pool.submit(s, tag=i)]
        done.extend(pool.finish())
        put_off = pool.put_off
    assert sorted(tag for tag, _, _ in done) == [0, 1]  # type: ignore[type-var]
    assert all(result.findings and not result.put_off for _, _, result in done)
    # (Not counting tesseract runs here: the workers of an earlier test's fork server
    # do not see this test's PATH. The CLI test above counts them.)
    assert put_off == 1
