"""The process that forks the workers: preloaded with their code, started early.

With the fork server, each worker is forked from a process that has already
imported the worker code (and python-magic, ~18 ms on its own), instead of
importing it again per worker. That server takes ~0.1 s to start (imports: 85 ms); a first scan
starts it as soon as it knows it will read files, so that this happens on the
other core while the main process loads the rules and begins the walk.
"""

from __future__ import annotations

import os

# Types only (mypy reads the block): typing would cost ~3 ms more before the server is
# spawned, and multiprocessing (~25 ms) is imported only by what starts processes.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from multiprocessing.context import ForkServerContext, SpawnContext

# prebuilt: the default rule engine, built once here rather than in every worker.
# ocrshare: its table must be made here, before the fork, to be the workers' common one.
PRELOAD = ["mfaleaks.run.scanjob", "mfaleaks.run.workerproc", "magic", "mfaleaks.run.prebuilt",
           "mfaleaks.images.ocrshare"]
# A scan of pictures named on the command line: tesserocr (~20 ms to import) and the OCR
# engine (images/preload.py: ~0.1-0.2 s of CPU, its model) made once here and inherited,
# not once per worker; also for a folder of pictures (names_pictures). Not for a tree of
# text (the usual share): the workers start only once the server has preloaded, and they
# would wait ~0.15 s of this server's CPU for an engine they never use (bench_scale,
# stdlib text: the server's CPU 0.38-0.51 -> 0.24-0.26 s); a worker that meets a picture
# makes its own engine then (24 screenshots: the same CPU in all, 6.0-6.2 s, the workers'
# share up by what the server's is down).
PICTURE_PRELOAD = ["tesserocr", "mfaleaks.extract.image", "mfaleaks.images.preload"]
# What pool.py routes as a picture, by the name's suffix (also: PICTURE_PRELOAD).
PICTURE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff",
                              ".webp", ".heic", ".heif"})
# A scan of SMB shares: each worker reads files over a session of its own (sources/smb/
# worker.py). smbprotocol, pyspnego and cryptography cost ~0.17 s of CPU to import (0.45 s of
# a worker's start in bench_smb at load 4.5): once here, on the other core while the main
# process logs on, rather than in every worker after its first batch has come. Not for a
# local scan, which would pay the import for nothing.
SMB_PRELOAD = ["mfaleaks.sources.smb.worker"]
# ... and before everything when the command line logs on without Kerberos (it keeps
# pyspnego's Kerberos out: sources/smb/lean.py).
SMB_LEAN = "mfaleaks.sources.smb.lean"


_smb = False  # the server this process starts preloads SMB_PRELOAD too
_lean = False  # ... and SMB_LEAN before anything
_pictures = False  # ... and PICTURE_PRELOAD


def names_pictures(paths: Iterable[str]) -> bool:
    """Whether the scan starts on pictures: files named one by one, or a folder whose own
    files are mostly pictures (a Screenshots folder: 24 screenshots, 2.40 -> 2.34 s). Only
    its first entries are looked at, by name (no stat); a tree of text with pictures
    further down, the usual share, is not one. Asked by each place that may start the
    server (launch, command, run_scan): judged once per list of paths."""
    key = tuple(paths)
    known = _judged.get(key)
    if known is None:
        known = _judged[key] = _names_pictures(key)
    return known


_judged: dict[tuple[str, ...], bool] = {}


def _names_pictures(paths: tuple[str, ...]) -> bool:
    if any(os.path.splitext(p)[1].lower() in PICTURE_SUFFIXES for p in paths):
        return True
    from mfaleaks.sources.listing import open_folder  # (the scanned tree's atimes stay)

    for path in paths:
        pictures = others = 0
        try:
            fd = open_folder(path)
        except OSError:  # not a folder (a file, "-", smb://...), or unreadable: the walk says
            continue
        try:
            with os.scandir(fd) as entries:
                for n, entry in enumerate(entries):
                    if n == _LOOK:
                        break
                    if not entry.is_file(follow_symlinks=False):
                        continue
                    if os.path.splitext(entry.name)[1].lower() in PICTURE_SUFFIXES:
                        pictures += 1
                    else:
                        others += 1
        except OSError:
            continue
        finally:
            os.close(fd)
        if pictures >= 2 and pictures >= others:
            return True
    return False


_LOOK = 256  # entries of a folder looked at by names_pictures


def preload(smb: bool, pictures: bool, lean: bool = False) -> list[str]:
    """The modules the worker server loads before it forks workers."""
    return (([SMB_LEAN] if smb and lean else []) + PRELOAD + (SMB_PRELOAD if smb else [])
            + (PICTURE_PRELOAD if pictures else []))


def context(smb: bool = False, pictures: bool = False, lean: bool = False
            ) -> ForkServerContext | SpawnContext:
    """smb: the scan reads SMB shares; pictures: it was given pictures to read (the server,
    when this call starts it, preloads what reads them as well); lean: it logs on to
    shares without Kerberos (only the command's own start says so)."""
    global _smb, _pictures, _lean
    import multiprocessing as mp

    if not hasattr(os, "fork"):
        return mp.get_context("spawn")
    # Lean only while every call says so (a server not started yet then keeps Kerberos).
    _lean = lean and (_lean or not _smb)
    _smb, _pictures = _smb or smb, _pictures or pictures
    server = mp.get_context("forkserver")
    server.set_forkserver_preload(preload(_smb, _pictures, _lean))
    return server


# The confidence the server builds its engine for (prebuilt.py), when not the default:
# read by the server, which inherits the environment of the process that starts it.
CONFIDENCE_ENV = "MFALEAKS_PREBUILT_CONFIDENCE"


def start_early(confidence: str | None = None, smb: bool = False, pictures: bool = False,
                lean: bool = False) -> None:
    """Start the fork server now (it preloads while we go on); no-op where there is none.
    confidence: the --min-confidence the scan asks for, if known (a running server
    keeps the engine it built); smb: the scan reads shares (SMB_PRELOAD); pictures: it
    names pictures (PICTURE_PRELOAD); lean: it logs on without Kerberos (SMB_LEAN)."""
    if not hasattr(os, "fork"):
        return
    from multiprocessing import forkserver

    context(smb, pictures, lean)
    before = os.environ.get(CONFIDENCE_ENV)
    if confidence is not None:
        os.environ[CONFIDENCE_ENV] = confidence
    try:
        forkserver.ensure_running()
    finally:  # the server has its copy: nothing else of ours is told
        if before is None:
            os.environ.pop(CONFIDENCE_ENV, None)
        else:
            os.environ[CONFIDENCE_ENV] = before
