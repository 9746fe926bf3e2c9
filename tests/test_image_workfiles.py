"""A scan stopped in the middle of OCR leaves nothing readable behind (issue 19).

Tesseract once wrote each page and its TSV (every code in full, mode 0644) into
a temporary folder that SIGTERM left behind. Now neither engine writes a file:
tesserocr reads in memory, and the fallback program gets the page on stdin and
answers on stdout. The real CLI scans screenshots with TMPDIR pointed at an
empty folder; it is stopped with SIGTERM or SIGKILL while pictures are being
read, and afterwards no process of the scan is left (the program dies with its
worker) and no regular file is in that folder.
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest

import gen_images as gen
from hostile_cli import finish, group_members, start
from mfaleaks.images import engine

ENGINES = ["tesserocr", "program"]


def _available(name: str) -> bool:
    if name == "program":
        return engine.program_path() is not None
    try:
        import tesserocr  # noqa: F401
    except ImportError:
        return False
    return engine.tessdata() is not None


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _reading(pgid: int, name: str) -> bool:
    """Pictures are being read: a tesseract program runs, or (in process) the workers
    have spent more CPU than starting up takes."""
    members = group_members(pgid)
    if name == "program":
        return any(_comm(pid) == "tesseract" for pid in members)
    return _cpu_seconds(members) > 2.0


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("shots")
    rng = random.Random(19)
    for i in range(16):  # distinct pictures: each one is read
        img = gen.render_google(gen.google_codes(rng), theme="dark" if i % 2 else "light")
        (folder / f"shot{i:02d}.png").write_bytes(gen.encode(img, "PNG"))
    return folder


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["TERM", "KILL"])
@pytest.mark.parametrize("name", ENGINES)
def test_a_scan_stopped_mid_ocr_leaves_no_file(
    shots: Path, tmp_path: Path, name: str, sig: int
) -> None:
    if not _available(name):
        pytest.skip(f"OCR engine {name} not available here")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {k: v for k, v in os.environ.items() if k != engine.FORCE_ENV}
    env["TMPDIR"] = str(scratch)
    if name == "program":
        env[engine.FORCE_ENV] = "program"
    child = start(["scan", "--format", "json", "--jobs", "2", "--quiet", str(shots)],
                  tmp_path / "run", env=env, measure=False)
    deadline = time.monotonic() + 60
    while not _reading(child.pid, name):
        assert child.proc.poll() is None, "the scan ended before any picture was read"
        assert time.monotonic() < deadline, "no picture was read within a minute"
        time.sleep(0.02)
    os.kill(child.pid, sig)
    finish(child, 30, reap_group=False)
    deadline = time.monotonic() + 10
    while group_members(child.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [(pid, _comm(pid)) for pid in group_members(child.pid)]
    os.killpg(child.pid, signal.SIGKILL) if left else None
    assert left == [], "processes of the scan outlived it"
    files = [p.relative_to(scratch) for p in scratch.rglob("*") if p.is_file()]
    assert files == [], "files left in the temporary folder"
