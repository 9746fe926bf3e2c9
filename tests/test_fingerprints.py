"""Fingerprints (detect/mask.py, space.py, fpkey.py): the guessing space comes from the
rule's shape, and a set small enough to guess is hashed with this machine's key.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import CliRun
from example_codes import example_codes
from mfaleaks.detect import fpkey
from mfaleaks.detect.mask import KEYED_BELOW_BITS, fingerprint, is_keyed, normalise, set_bits
from mfaleaks.detect.rules.load import DEFAULT_RULES_DIR, load_pack
from mfaleaks.detect.space import guess_bits

PACK = load_pack([DEFAULT_RULES_DIR])
SHAPES = {s.name: s for r in PACK.rules for s in r.shapes}
RULES = {r.id: r for r in PACK.rules}


@pytest.fixture
def key_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A config folder of its own, and the process's key forgotten before and after."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv(fpkey.ENV, raising=False)
    fpkey.fingerprint_key.cache_clear()
    yield tmp_path / "config"
    fpkey.fingerprint_key.cache_clear()


@pytest.mark.parametrize(("shape", "code", "space"), [
    ("steam-revocation", "R52841", 10**5),  # the fixed R counts 1, not 36
    ("digits-4-4", "4821 7730", 10**8),  # the space is a separator
    ("digits-9", "183681820", 10**9),
    ("base32-4-4", "WXKM-PQR7", 32**8),
    ("hex-5-5", "d1371-c1714", 16**10),
    ("alnum-4-4", "tbic-145a", 36**8),
    ("onepassword-secret-key", "A3-RVCQUR-TAEBOG-43YQ1-5I5LA-TJPUU-3XF6M", 36**32),  # A3 fixed
    ("pgp-private-key", "-----BEGIN PGP PRIVATE KEY BLOCK-----", 1),
])
def test_guessing_space_comes_from_the_shape(shape: str, code: str, space: int) -> None:
    assert guess_bits(SHAPES[shape], code, fallback=-1) == pytest.approx(math.log2(space))


def test_a_code_its_shape_does_not_match_falls_back() -> None:
    assert guess_bits(SHAPES["steam-revocation"], "not a code", fallback=7.0) == 7.0


def _old_scrypt(rule_id: str, codes: list[str]) -> str:
    body = f"{rule_id}\0" + "\n".join(sorted({normalise(c) for c in codes}))
    return hashlib.scrypt(body.encode(), salt=b"mfaleaks-fingerprint-v1", n=2**14, r=8, p=1,
                          dklen=20).hex()


def test_a_steam_revocation_code_gets_a_keyed_fingerprint(key_home: Path) -> None:
    shape = SHAPES["steam-revocation"]
    fp = fingerprint("steam-revocation-code", ["R52841"], shape)
    assert is_keyed(fp) and fp.startswith("k:")
    # Not the unkeyed scrypt a report used to carry: trying 10^5 values no longer finds it.
    assert fp[2:] != _old_scrypt("steam-revocation-code", ["R52841"])
    # The key was made on first use, private to the user.
    path = key_home / "mfaleaks" / "fingerprint.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    # Stable with the same key (baselines, caches, incidents), another with another key.
    fpkey.fingerprint_key.cache_clear()
    assert fingerprint("steam-revocation-code", ["R52841"], shape) == fp
    path.write_text("ab" * 32 + "\n")
    fpkey.fingerprint_key.cache_clear()
    assert fingerprint("steam-revocation-code", ["R52841"], shape) != fp


def test_the_environment_key_wins(key_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shape = SHAPES["steam-revocation"]
    monkeypatch.setenv(fpkey.ENV, "shared by CI")
    first = fingerprint("steam-revocation-code", ["R52841"], shape)
    fpkey.fingerprint_key.cache_clear()
    assert fingerprint("steam-revocation-code", ["R52841"], shape) == first
    assert not (key_home / "mfaleaks" / "fingerprint.key").exists()
    monkeypatch.setenv(fpkey.ENV, "another")
    fpkey.fingerprint_key.cache_clear()
    assert fingerprint("steam-revocation-code", ["R52841"], shape) != first


def _key_in_child(home: str) -> bytes:
    os.environ["XDG_CONFIG_HOME"] = home
    fpkey.fingerprint_key.cache_clear()
    return fpkey.fingerprint_key()


def test_workers_racing_for_the_key_agree(key_home: Path) -> None:
    with multiprocessing.get_context("fork").Pool(4) as pool:
        keys = pool.map(_key_in_child, [str(key_home)] * 8)
    assert len(set(keys)) == 1
    assert [p.name for p in (key_home / "mfaleaks").iterdir()] == ["fingerprint.key"]


def test_strong_sets_keep_the_fingerprints_baselines_hold(key_home: Path) -> None:
    """Sets of 96 bits or more: SHA-256 as before; 48 to 96: the same unkeyed scrypt."""
    google = ["4821 7730", "9012 7745", "3185 4420", "7609 2318"]  # 4 x 26.6 bits
    body = "google-backup-codes\0" + "\n".join(sorted(normalise(c) for c in google))
    assert fingerprint("google-backup-codes", google, SHAPES["digits-4-4"]) == \
        hashlib.sha256(body.encode()).hexdigest()[:40]
    two = google[:2]  # 53 bits
    assert fingerprint("google-backup-codes", two, SHAPES["digits-4-4"]) == \
        _old_scrypt("google-backup-codes", two)
    assert not (key_home / "mfaleaks" / "fingerprint.key").exists()  # no key was needed


def test_every_rules_example_sets_are_hashed_by_their_space(key_home: Path) -> None:
    """Any set under the bar is keyed, every other one is not: over every rule's examples,
    one code at a time and the whole set."""
    seen_keyed = seen_plain = 0
    for rule_id, (_, codes) in example_codes().items():
        shape = next(s for s in RULES[rule_id].shapes  # the one the first code is of
                     if s.kind == "uri" or guess_bits(s, codes[0], -1) >= 0)
        for sample in ([codes[0]], codes):
            bits = set_bits(sample, shape)
            keyed = is_keyed(fingerprint(rule_id, sample, shape))
            assert keyed is (bits < KEYED_BELOW_BITS), (rule_id, sample, bits)
            seen_keyed += keyed
            seen_plain += not keyed
    assert seen_keyed >= 10 and seen_plain >= 10


def test_baselines_take_keyed_fingerprints(
    tmp_path: Path, key_home: Path, run_cli: Callable[..., CliRun],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """End to end (--jobs 1: the key is this process's): the notice says which findings
    are keyed; a baseline made with this key hides them on the next run, and not with
    another key."""
    share = tmp_path / "share"
    share.mkdir()
    (share / "steam.txt").write_text("Steam Guard revocation code: R52841 - write it down\n")
    first = run_cli("scan", "--format", "json", "--jobs", "1", str(share))
    report = json.loads(first.stdout)
    [finding] = report["findings"]
    assert finding["fingerprint"].startswith("k:")
    assert any("keyed fingerprint" in n for n in report["notices"]), report["notices"]
    base = tmp_path / "baseline.json"
    assert run_cli("baseline", "create", "--jobs", "1", str(base), str(share)).exit_code == 0
    assert finding["fingerprint"] in base.read_text()
    again = run_cli("scan", "--format", "json", "--jobs", "1", "--baseline", str(base),
                    str(share))
    assert again.exit_code == 0 and json.loads(again.stdout)["findings"] == []
    monkeypatch.setenv(fpkey.ENV, "another machine")
    fpkey.fingerprint_key.cache_clear()
    elsewhere = run_cli("scan", "--format", "json", "--jobs", "1", "--baseline", str(base),
                        str(share))
    assert elsewhere.exit_code == 1, "another key, another fingerprint"


def test_a_damaged_key_file_stops_the_scan_with_a_clear_message(
    tmp_path: Path, key_home: Path, run_cli: Callable[..., CliRun],
) -> None:
    path = key_home / "mfaleaks" / "fingerprint.key"
    path.parent.mkdir(parents=True)
    path.write_text("not a key\n")
    (tmp_path / "steam.txt").write_text("Steam Guard revocation code: R52841\n")
    res = run_cli("scan", "--jobs", "1", str(tmp_path / "steam.txt"))
    assert res.exit_code == 2 and "not a fingerprint key" in res.stderr, res.stderr
