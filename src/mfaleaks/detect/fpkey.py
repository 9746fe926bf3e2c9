"""The key of keyed fingerprints (mask.fingerprint, docs/fingerprints.md).

A code set small enough to guess (a Steam revocation code: 10^5 values) must not
be published as a plain hash, however slow: anyone holding a report or a
committed baseline could try every value. Its fingerprint is hashed with a
secret key instead, the same on every run that uses the same key:

- MFALEAKS_FINGERPRINT_KEY, when set (a CI secret shared by the machines whose
  baselines must agree), or else
- the file fingerprint.key in the user's config folder
  ($XDG_CONFIG_HOME/mfaleaks, ~/.config/mfaleaks), 32 random bytes as hex, mode
  0600, made on first use. Made once even when workers race for it: each
  writes its own temporary file and links it into place; a link that finds the
  name taken reads the winner's.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

from mfaleaks.errors import ConfigError

ENV = "MFALEAKS_FINGERPRINT_KEY"
KEYED_PREFIX = "k:"  # what a keyed fingerprint starts with
FILE_NAME = "fingerprint.key"


def key_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "mfaleaks" / FILE_NAME


@functools.cache
def fingerprint_key() -> bytes:
    """The key for this process (read once; workers read it on their first weak set)."""
    given = os.environ.get(ENV)
    if given:
        return hashlib.sha256(b"mfaleaks-key\0" + given.encode()).digest()
    return _load_or_create(key_path())


def key_identity() -> str:
    """A digest of the key for the scan cache's key (keyed fingerprints in cached results
    hold only with the key they were made with); "none" while there is no key. Reading
    it never makes one."""
    try:
        key = fingerprint_key() if os.environ.get(ENV) else _read(key_path())
    except (OSError, ValueError):
        return "none"
    return hashlib.sha256(b"mfaleaks-key-id\0" + key).hexdigest()[:16]


def check_key_file() -> None:
    """A key file that exists but is not a key is a ConfigError (exit 2) before the scan,
    not an internal error in every file with a weak set. A missing one is made later."""
    if os.environ.get(ENV):
        return
    try:
        _read(key_path())
    except FileNotFoundError:
        return
    except (OSError, ValueError) as exc:
        raise ConfigError(str(exc) if isinstance(exc, ValueError)
                          else f"{key_path()}: cannot read: {exc.strerror}") from exc


def key_source() -> str:
    """Where the key comes from, for the report's notice (never the key itself)."""
    return f"${ENV}" if os.environ.get(ENV) else str(key_path())


def _load_or_create(path: Path) -> bytes:
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    import secrets  # only when the key is made: it loads random, hmac, base64

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (secrets.token_hex(32) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if another process made it first: theirs is the key
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return _read(path)


def _read(path: Path) -> bytes:
    text = path.read_text(encoding="ascii").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < 16:
        raise ValueError(f"{path}: not a fingerprint key (64 hex digits expected); "
                         f"remove it to have a new one made")
    return key
