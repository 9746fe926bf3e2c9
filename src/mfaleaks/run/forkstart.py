"""The process that forks the workers: preloaded with their code, started early.

With the fork server, each worker is forked from a process that has already
imported the worker code (and python-magic, ~18 ms on its own), instead of
importing it again per worker. That server takes ~0.1 s to start (imports: 85 ms); a first scan
starts it as soon as it knows it will read files, so that this happens on the
other core while the main process loads the rules and begins the walk.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # multiprocessing costs ~5 ms to import: a rescan may never need it
    from multiprocessing.context import ForkServerContext, SpawnContext

# prebuilt: the default rule engine, built once here rather than in every worker.
# ocrshare: its table must be made here, before the fork, to be the workers' common one.
# tesserocr: ~0.13 s to import, once here rather than per worker (skipped if missing).
# images.preload: the OCR engine (~0.2 s: its model) made once here, not per worker,
# and the picture code (extract.image) imported once.
PRELOAD = ["mfaleaks.run.scanjob", "mfaleaks.run.workerproc", "magic", "mfaleaks.run.prebuilt",
           "mfaleaks.images.ocrshare", "tesserocr", "mfaleaks.extract.image",
           "mfaleaks.images.preload"]
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


def context(smb: bool = False, lean: bool = False) -> ForkServerContext | SpawnContext:
    """smb: the scan reads SMB shares (the server, when this call starts it, preloads the
    SMB client as well); lean: without Kerberos (only the command's own start says so)."""
    global _smb, _lean
    import multiprocessing as mp

    if not hasattr(os, "fork"):
        return mp.get_context("spawn")
    # Lean only while every call says so (a server not started yet then keeps Kerberos).
    _lean = lean and (_lean or not _smb)
    _smb = _smb or smb
    server = mp.get_context("forkserver")
    first = [SMB_LEAN] if _lean else []
    server.set_forkserver_preload(first + PRELOAD + SMB_PRELOAD if _smb else PRELOAD)
    return server


# The confidence the server builds its engine for (prebuilt.py), when not the default:
# read by the server, which inherits the environment of the process that starts it.
CONFIDENCE_ENV = "MFALEAKS_PREBUILT_CONFIDENCE"


def start_early(confidence: str | None = None, smb: bool = False, lean: bool = False) -> None:
    """Start the fork server now (it preloads while we go on); no-op where there is none.
    confidence: the --min-confidence the scan asks for, if known (a running server
    keeps the engine it built); smb: the scan reads shares (SMB_PRELOAD); lean: and logs on
    without Kerberos (SMB_LEAN)."""
    if not hasattr(os, "fork"):
        return
    from multiprocessing import forkserver

    context(smb, lean)
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
