"""Compiled prefilter databases kept between runs (hscache.py): loaded instead of
compiled, never trusted when damaged or in a folder that is not ours."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mfaleaks.detect import hscache, prefilter
from mfaleaks.detect.prefilter import Prefilter

WORDS = ["backup codes", "recovery", "wiederherstellungscodes"]
TEXTS = ["my Backup Codes are", "RECOVERY key", "nothing here", "WIEDERHERSTELLUNGSCODES",
         "backup", "codes"]


@pytest.fixture(autouse=True)
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "mfaleaks"


def _build() -> Prefilter:
    built = Prefilter.build(WORDS, [], [])
    assert built is not None
    return built


def _answers(p: Prefilter) -> list[bool]:
    return [p.may_match(t) for t in TEXTS]


def _no_compiling(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("compiled although a saved database was there")

    monkeypatch.setattr(prefilter, "_compiled", refuse)


def test_a_compiled_database_is_saved_privately_and_loaded_next_time(
    cache_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _answers(_build())
    assert first == [True, True, False, True, False, False]
    (saved,) = cache_home.iterdir()
    assert saved.name.startswith("prefilter-") and saved.stat().st_mode & 0o777 == 0o600
    assert cache_home.stat().st_mode & 0o777 == 0o700
    _no_compiling(monkeypatch)
    assert _answers(_build()) == first


def test_other_words_get_another_file(cache_home: Path) -> None:
    _build()
    assert Prefilter.build(["other words"], [], []) is not None
    assert len(list(cache_home.iterdir())) == 2


@pytest.mark.parametrize("damage", ["flip", "truncate", "not hyperscan"])
def test_a_damaged_file_is_compiled_again_and_replaced(cache_home: Path, damage: str) -> None:
    first = _answers(_build())
    (saved,) = cache_home.iterdir()
    blob = bytearray(saved.read_bytes())
    if damage == "flip":
        blob[len(blob) // 2] ^= 0xFF
    elif damage == "truncate":
        blob = blob[: len(blob) // 2]
    else:  # a checksum that holds over bytes Hyperscan cannot read
        import hashlib

        junk = b"\0" * 100
        blob = bytearray(hashlib.sha256(junk).digest() + junk)
    saved.write_bytes(bytes(blob))
    assert _answers(_build()) == first
    assert hscache.load(saved.name[len("prefilter-"):-len(".hsdb")]) is not None  # replaced


def test_a_folder_others_may_write_to_is_not_used(
    cache_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_home.mkdir(parents=True)
    os.chmod(cache_home, 0o777)
    assert hscache.folder() is None
    assert _answers(_build())[0] is True  # compiled, not saved
    assert list(cache_home.iterdir()) == []


def test_a_relative_or_unwritable_cache_home_only_costs_the_compile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    assert hscache.folder() is None
    file = tmp_path / "a-file"
    file.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(file))  # mkdir under a file fails
    assert hscache.folder() is None
    assert _answers(_build())[0] is True
