"""Shared test helpers: run the real CLI, find ../shared beside the checkout."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mfaleaks.cli.command import cli
from mfaleaks.config import ScanConfig
from mfaleaks.detect.score import Engine
from mfaleaks.run.spec import engine_spec

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@dataclass
class CliRun:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def report(self) -> dict[str, Any]:
        return json.loads(self.stdout)  # type: ignore[no-any-return]


def invoke(*args: str, input: str | bytes | None = None) -> CliRun:
    runner = CliRunner()
    result = runner.invoke(cli, list(args), input=input, catch_exceptions=False)
    return CliRun(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def run_cli() -> Callable[..., CliRun]:
    return invoke


@pytest.fixture
def scan_json() -> Callable[..., dict[str, Any]]:
    """Scan with --format json --jobs 1 and return the parsed report."""

    def scan(*args: str) -> dict[str, Any]:
        res = invoke("scan", "--format", "json", "--jobs", "1", *args)
        assert res.exit_code in (0, 1), res.stderr
        return res.report

    return scan


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"../shared is not beside the checkout ({SHARED}): corpus tests skipped")
    return SHARED


def corpus(name: str) -> Path:
    path = SHARED / "corpora" / name
    if not path.exists():
        pytest.skip(f"corpus {path} is absent (../shared is not beside this checkout)")
    return path


os.environ.setdefault("OMP_THREAD_LIMIT", "1")
# Compiled prefilters (hscache.py) go to a folder of this test run, not the user's ~/.cache,
# removed when the run ends.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="mfaleaks-test-cache-")
atexit.register(shutil.rmtree, os.environ["XDG_CACHE_HOME"], ignore_errors=True)
# So does the key of keyed fingerprints (detect/fpkey.py): never the user's ~/.config.
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="mfaleaks-test-config-")
os.environ.pop("MFALEAKS_FINGERPRINT_KEY", None)
atexit.register(shutil.rmtree, os.environ["XDG_CONFIG_HOME"], ignore_errors=True)


_engine: Engine | None = None


def default_engine() -> Engine:
    """The bundled rule pack at the default settings, built once for the tests that
    call the engine directly."""
    global _engine
    if _engine is None:
        _engine = engine_spec(ScanConfig(paths=("x",))).build()
    return _engine

# The Samba servers of the SMB tests, one each per test run, shared by every module that
# asks: the standalone smbd, and the AD DC (KDC and smbd) of the Kerberos tests.
from krbserver import kerberos_dc  # noqa: E402, F401
from smbserver import smb_server  # noqa: E402, F401
