"""Start-up shortcuts: the worker server started from the raw arguments (launch.py) and
the default engine it builds once for every worker (prebuilt.py)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import REPO
from mfaleaks.cli.launch import _Scan, smb_without_kerberos, will_read
from mfaleaks.config import ScanConfig
from mfaleaks.models import Confidence
from mfaleaks.run import forkstart, prebuilt
from mfaleaks.run.forkstart import CONFIDENCE_ENV
from mfaleaks.run.scan import engine_spec
from mfaleaks.run.spec import EngineSpec


def test_the_worker_server_starts_early_only_for_a_scan_that_reads(tmp_path: Path) -> None:
    cache = tmp_path / "cache.db"
    assert will_read(["scan", "share/", "--jobs", "2"])
    assert will_read(["scan", "-j2", "--cache", str(cache), "share/"])  # no cache file yet
    assert will_read(["scan", "share/"])  # no --jobs: worker processes, even on one CPU
    assert not will_read(["scan", "--jobs=1", "share/"])
    assert not will_read(["scan", "-j", "1", "share/"])
    assert not will_read(["rules", "check"])
    assert not will_read(["scan", "--help"])
    assert not will_read([])
    cache.write_bytes(b"")
    assert not will_read(["scan", "--jobs", "2", f"--cache={cache}", "share/"])  # a rescan


def test_workers_take_the_prebuilt_engine_only_when_it_is_the_one_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = engine_spec(ScanConfig(paths=("x",)))
    engine = prebuilt.engine_for(spec)
    assert engine is not None and engine.min_confidence is Confidence.MEDIUM
    assert prebuilt.engine_for(replace(spec, min_confidence=Confidence.LOW)) is None
    assert prebuilt.engine_for(replace(spec, show_secrets=True)) is None
    extra = tmp_path / "extra.toml"
    extra.write_text("")
    assert prebuilt.engine_for(replace(spec, rule_files=(*spec.rule_files, extra))) is None
    # A rule file edited since the server built its engine: the worker builds its own.
    key = prebuilt._key(spec)
    assert key is not None
    (name, size, mtime), *others = key[0]
    edited = (((name, size + 1, mtime), *others), *key[1:])
    monkeypatch.setattr(prebuilt, "_default", (edited, engine))
    assert prebuilt.engine_for(spec) is None


def test_the_worker_server_builds_the_engine_for_the_confidence_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(CONFIDENCE_ENV, "low")
    built = prebuilt._build()
    assert built is not None and built[1].min_confidence is Confidence.LOW
    monkeypatch.setattr(prebuilt, "_default", built)
    spec = engine_spec(ScanConfig(paths=("x",), min_confidence=Confidence.LOW))
    assert prebuilt.engine_for(spec) is built[1]
    assert prebuilt.engine_for(replace(spec, min_confidence=Confidence.MEDIUM)) is None
    monkeypatch.setenv(CONFIDENCE_ENV, "none such")  # a typo: the default, not a failure
    built = prebuilt._build()
    assert built is not None and built[1].min_confidence is Confidence.MEDIUM
    assert _Scan(["--min-confidence", "low", "x"]).confidence == "low"
    assert _Scan(["--min-confidence=high", "x"]).confidence == "high"
    assert _Scan(["x"]).confidence is None


def test_a_failing_build_leaves_the_worker_server_running(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fork server dies of anything but ImportError raised while it preloads."""

    def broken(self: object) -> None:
        raise RuntimeError("a bug in the engine")

    monkeypatch.setattr(EngineSpec, "build", broken)
    assert prebuilt._build() is None


def test_only_a_scan_of_shares_without_kerberos_leaves_kerberos_out() -> None:
    assert smb_without_kerberos(["scan", "--jobs", "2", "smb://host/share"])
    assert smb_without_kerberos(["scan", "local/", "//host/share/dir"])
    assert not smb_without_kerberos(["scan", "--smb-kerberos", "smb://host/share"])
    assert not smb_without_kerberos(["scan", "smb://host/share", "--smb-kerberos"])
    assert not smb_without_kerberos(["scan", "local/"])
    assert not smb_without_kerberos(["scan", "--help", "smb://host/share"])
    assert not smb_without_kerberos(["rules", "check"])


def test_a_scan_of_a_share_without_kerberos_logs_on_without_loading_it(
        smb_server: object, tmp_path: Path) -> None:
    """The command (and its worker server, which inherits -X importtime) never loads gssapi
    or krb5 when it logs on with a password; NTLM logs on and the findings are those
    of the local scan. (Kerberos through the same command: test_smb_kerberos.py.)"""
    from smbserver import SmbServer

    assert isinstance(smb_server, SmbServer)
    mfaleaks = Path(sys.executable).with_name("mfaleaks")
    env = dict(os.environ, MFALEAKS_SMB_PASSWORD=smb_server.password)
    remote = subprocess.run(
        [sys.executable, "-X", "importtime", str(mfaleaks), "scan", "--no-ocr", "--jobs", "2",
         "--format", "json", "--smb-user", smb_server.user, smb_server.url("fixtures")],
        capture_output=True, env=env, timeout=300)
    local = subprocess.run([str(mfaleaks), "scan", "--no-ocr", "--jobs", "2", "--format",
                            "json", str(REPO / "fixtures")], capture_output=True, timeout=300)
    assert remote.returncode == local.returncode == 1, remote.stderr[-2000:]

    def pairs(out: bytes) -> list[tuple[str, str]]:
        return sorted((f["rule_id"], f["fingerprint"]) for f in json.loads(out)["findings"])

    assert pairs(remote.stdout) and pairs(remote.stdout) == pairs(local.stdout)
    imported = {line.rsplit("|", 1)[-1].strip() for line in remote.stderr.decode().splitlines()
                if line.startswith("import time:")}
    assert "spnego" in imported and "mfaleaks.sources.smb.worker" in imported
    if importlib.util.find_spec("gssapi") is None:
        print("gssapi is not installed (no kerberos extra): nothing to leave out")
        return
    # (pyspnego's attempts show as lines of a few us; gssapi's own modules never load)
    assert not [name for name in imported if name.startswith(("gssapi.raw.", "krb5"))]


def test_a_rescan_forks_its_listing_child_before_loading_the_heavy_modules() -> None:
    """launch.py forks the rescan's listing child right after importing listing.py: what
    that costs to import is on the child's path, so it loads only what listing needs."""
    heavy = ["dataclasses", "typing", "hashlib", "threading", "fnmatch", "signal", "re",
             "contextlib", "enum", "click", "mfaleaks.models"]
    code = ("import sys, mfaleaks.cli.launch, mfaleaks.sources.listing; "
            f"print(' '.join(m for m in {heavy!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == []


def test_walk_options_are_immutable_values() -> None:
    import pickle

    from mfaleaks.sources.listing import WalkOptions

    opts = WalkOptions(excludes=("*.log",), digests=True, listers=2)
    assert opts == WalkOptions(("*.log",), False, 0, True, 2) != WalkOptions(excludes=("*.log",))
    assert opts != WalkOptions(excludes=("*.log",), digests=True)
    assert hash(opts) == hash(WalkOptions(excludes=("*.log",), digests=True, listers=2))
    assert pickle.loads(pickle.dumps(opts)) == opts  # (sent to a cluster's workers)
    assert repr(opts) == ("WalkOptions(excludes=('*.log',), follow_symlinks=False, "
                          "max_file_size=0, digests=True, listers=2)")
    with pytest.raises(AttributeError):
        opts.digests = False  # type: ignore[misc]


def test_the_worker_server_preloads_the_ocr_engine_only_for_pictures_named(
    tmp_path: Path,
) -> None:
    assert forkstart.names_pictures(["notes.txt", "shots/Login.PNG"])
    assert not forkstart.names_pictures(["share/", "notes.txt", "-", "png"])
    # A folder: by the names of its own files, not of what lies further down.
    shots, share = tmp_path / "Screenshots", tmp_path / "share"
    (shots / "old").mkdir(parents=True)
    (share / "Pictures").mkdir(parents=True)
    for n in range(3):
        (shots / f"Screenshot {n}.png").write_bytes(b"")
        (share / "Pictures" / f"{n}.jpg").write_bytes(b"")
    (shots / "desktop.ini").write_text("")
    (share / "logo.png").write_bytes(b"")
    for n in range(2):
        (share / f"notes{n}.txt").write_text("")
    assert forkstart.names_pictures([str(share), str(shots)])
    assert not forkstart.names_pictures([str(share), str(share / "notes0.txt"), "smb://h/s"])
    assert not forkstart.names_pictures([str(tmp_path / "gone")])
    text = forkstart.preload(smb=False, pictures=False)
    assert not set(forkstart.PICTURE_PRELOAD) & set(text)
    assert "mfaleaks.images.ocrshare" in text  # its table is made before the fork, always
    assert set(forkstart.PICTURE_PRELOAD) <= set(forkstart.preload(smb=False, pictures=True))
    assert set(forkstart.SMB_PRELOAD) <= set(forkstart.preload(smb=True, pictures=False))


def test_workers_of_a_server_without_the_ocr_engine_read_pictures(tmp_path: Path) -> None:
    """A tree with its pictures down a level (none named, none at the top): the workers
    make their OCR engine at their first picture, and read what a scan in this process
    reads."""
    import random

    import gen_images as gen
    from mfaleaks.images import ocr

    if not ocr.tesseract_available():
        pytest.skip("tesseract not installed")

    shots = tmp_path / "shots"
    (shots / "Pictures").mkdir(parents=True)
    samples = [s for s in gen.build_set(random.Random(4)) if s.codes][:2]
    for s in samples:
        (shots / "Pictures" / s.name).write_bytes(s.data)
    (shots / "notes.txt").write_text("nothing here\n")
    assert not forkstart.names_pictures([str(shots)])

    def scan(jobs: str) -> list[tuple[str, str]]:
        out = subprocess.run(
            [sys.executable, "-c", "from mfaleaks.cli.launch import entry; entry()", "scan",
             "--format", "json", "-q", "--jobs", jobs, str(shots)],
            capture_output=True, check=False)
        assert out.returncode == 1, out.stderr
        return sorted((f["path"], f["fingerprint"]) for f in json.loads(out.stdout)["findings"])

    pooled = scan("2")
    assert len(pooled) == len(samples) and pooled == scan("1")
