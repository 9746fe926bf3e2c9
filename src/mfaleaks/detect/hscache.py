"""Compiled prefilter databases kept between runs.

Hyperscan takes ~30 ms to compile the rule pack's words and gates
(prefilter.py), on the path of every scan's start: the workers wait for it.
Loading a compiled database takes 0.02 ms. Like kingfisher's rule cache, the
compiled form is kept in $XDG_CACHE_HOME/mfaleaks (~/.cache/mfaleaks), one file
per set of expressions, named by the SHA-256 of the expressions, their flags
and the Hyperscan binding's version. A file holds only what the rules compile
to, nothing of any scanned file.

A folder that another user owns or may write to is not used (a database is
code for Hyperscan to run). A file whose checksum fails, or that Hyperscan
refuses (another engine version, another CPU), is compiled again and replaced.
Any error means compiling as if there were no cache: a read-only home is fine.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from pathlib import Path

_SUM = 32  # a file: the SHA-256 of the database, then the database


def folder() -> Path | None:
    """Our cache folder (created 0700), or None when it cannot be trusted or made."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if not os.path.isabs(base):
        return None  # the spec says: ignore a relative XDG_CACHE_HOME
    path = Path(base) / "mfaleaks"
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = path.lstat()
    except OSError:
        return None
    mine = st.st_uid == os.getuid() if hasattr(os, "getuid") else True
    if not stat.S_ISDIR(st.st_mode) or not mine or st.st_mode & 0o022:
        return None
    return path


def _file(key: str) -> Path | None:
    where = folder()
    return where / f"prefilter-{key}.hsdb" if where is not None else None


def load(key: str) -> bytes | None:
    """The database saved under key, if it is there whole."""
    path = _file(key)
    if path is None:
        return None
    try:
        with open(path, "rb") as fh:
            blob = fh.read()
    except OSError:
        return None
    data = blob[_SUM:]
    return data if blob[:_SUM] == hashlib.sha256(data).digest() else None


def save(key: str, data: bytes) -> None:
    """Keep a database under key (written aside, then renamed: never half a file)."""
    path = _file(key)
    if path is None:
        return
    with contextlib.suppress(OSError):
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".prefilter-")  # 0600
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(hashlib.sha256(data).digest() + data)
            os.replace(tmp, path)
        except OSError:
            os.unlink(tmp)
            raise
