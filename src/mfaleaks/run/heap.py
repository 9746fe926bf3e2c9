"""glibc's heap, tuned from Python: what it keeps and where it puts big blocks.

Not glibc (macOS, musl): nothing to tune, every call is a no-op.
"""

from __future__ import annotations

import ctypes

_M_TRIM_THRESHOLD = -1  # mallopt parameters
_M_MMAP_THRESHOLD = -3
_libc: ctypes.CDLL | None = None


def _glibc() -> ctypes.CDLL | None:
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL(None)
        except OSError:
            return None
    return _libc


def mmap_threshold(size: int) -> None:
    """Blocks of this size and more get pages of their own (mallopt), and up to twice as
    much free heap is kept at its top: the pair glibc sets itself while it adjusts the
    threshold, which setting one by hand stops. With the trim threshold left at its
    128 kB, a 100 MB mbox took 105,000 page faults instead of 56,000 (peak RSS alike)."""
    libc = _glibc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(_M_MMAP_THRESHOLD, size)
        libc.mallopt(_M_TRIM_THRESHOLD, 2 * size)


def release_free_heap() -> None:
    """Hand freed heap back to the system (glibc keeps it otherwise): compiling the
    rules, Hyperscan's prefilter above all, leaves ~13 MB free that a process
    would carry for the whole scan."""
    libc = _glibc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)
