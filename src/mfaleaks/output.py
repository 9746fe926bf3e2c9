"""Report files are created readable by the owner only."""

from __future__ import annotations

import os
import stat
import sys


def write_private(path: str | None, text: str) -> None:
    """Write to `path` with mode 0600 (also a file that already existed); None: stdout."""
    # Last line of defence: a lone surrogate must not lose the whole report.
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if path is None or path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        # A report file is made private; a device or pipe (-o /dev/null, a FIFO) is
        # written as it is: as root, chmod would lock every other user out of /dev/null.
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fd = -1
            fh.write(text)
    finally:
        if fd != -1:
            os.close(fd)
