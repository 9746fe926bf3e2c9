"""The process a Dask worker scans in: `python -m mfaleaks.run.clusterchild READ_FD WRITE_FD`.

A Dask worker runs tasks in a thread, where the one-machine time limit per file
(SIGALRM, scanjob.timed_scan) cannot be installed, and a parser that crashes
would take the worker down with it. So each worker scans in a child of its
own, started with subprocess (a worker under a nanny is a daemonic process,
which multiprocessing does not let have children), in the client's current
folder: relative paths mean there what they mean to the client. It answers
requests over two inherited pipes, as a worker of the local pool does
(workerproc.py): the first frame is the EngineSpec, then ("scan", batch as
clusterwire packs it) or ("list", folders, options), until the inbox ends (the
Dask worker stopped or was killed).

A worker starts its children when the scan registers with it, before any
task: each imports the readers and builds the rule engine (~0.8 s) in a
thread while the client lists, and answers listing requests meanwhile; the
first batch waits for that thread only if it has not finished. (The local
pool's fork server does the same for a one-machine scan.)
"""

from __future__ import annotations

import contextlib
import os
import pickle
import sys
import threading
from typing import TYPE_CHECKING, Any

from mfaleaks.frames import read_frame, write_frame

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from mfaleaks.detect.score import Engine
    from mfaleaks.run.spec import EngineSpec
    from mfaleaks.sources.smb.worker import SmbAccess


class _Warm:
    """The readers imported and the engine built in a thread, from the child's start."""

    def __init__(self) -> None:
        self.spec: EngineSpec | None = None
        self.engine: Engine | None = None
        self._given = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with contextlib.suppress(Exception):  # the first scan builds it, and says why not
            import mfaleaks.run.scanjob  # noqa: F401  (the readers, OCR, the engine's code)

            self._given.wait()
            if self.spec is not None:
                # Forked by the local pool's fork server, the default engine is built.
                prebuilt = sys.modules.get("mfaleaks.run.prebuilt")
                engine = prebuilt.engine_for(self.spec) if prebuilt is not None else None
                self.engine = engine if engine is not None else self.spec.build()

    def give(self, spec: EngineSpec | None) -> None:
        self.spec = spec
        self._given.set()

    def init(self, smb: SmbAccess | str | None) -> None:
        """scanjob.init, in the main thread (signal handlers), with the engine built."""
        from dataclasses import dataclass

        from mfaleaks.run import scanjob
        from mfaleaks.run.spec import EngineSpec

        self._thread.join()
        spec, engine = self.spec, self.engine
        assert spec is not None
        if engine is None:
            scanjob.init(spec, smb)
            return

        @dataclass(frozen=True)
        class Built(EngineSpec):
            def build(self) -> Engine:
                assert engine is not None
                return engine

        scanjob.init(Built(spec.rule_files, spec.show_secrets, spec.min_confidence,
                           spec.limits, spec.digests), smb)


def serve(rfd: int, wfd: int) -> None:
    warm = _Warm()
    frame = read_frame(rfd)
    if frame is None:
        warm.give(None)
        return
    spec = pickle.loads(frame)
    warm.give(spec)
    ready = False
    while frame := read_frame(rfd):
        request: tuple[Any, ...] = pickle.loads(frame)
        del frame
        try:
            if request[0] == "scan":
                from mfaleaks.run import scanjob
                from mfaleaks.run.clusterwire import pack_results, unpack_batch

                if not ready:
                    # smb:// files are read here, logged on with this worker's own
                    # environment (request[2]: the account's name and options).
                    wanted = request[2] if len(request) > 2 else None
                    warm.init(wanted.access() if wanted is not None else None)
                    ready = True
                batch = unpack_batch(request[1])
                answer: object = pack_results(batch, scanjob.scan_batch(batch))
            elif request[0] == "list":
                from mfaleaks.run.clusterlist import list_folders

                answer = list_folders(request[1], request[2])
            else:
                raise ValueError(request[0])
            reply = pickle.dumps((True, answer), pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # e.g. a result that cannot be pickled (workerproc's words)
            reply = pickle.dumps((False, f"internal error: {type(exc).__name__}"),
                                 pickle.HIGHEST_PROTOCOL)
        write_frame(wfd, reply)


def serve_conns(inbox: Connection, outbox: Connection) -> None:
    """serve(), in a child forked by the local pool's fork server (--cluster local:N)."""
    with contextlib.suppress(EOFError, BrokenPipeError):
        serve(inbox.fileno(), outbox.fileno())


if __name__ == "__main__":
    with contextlib.suppress(EOFError, BrokenPipeError):  # the worker went away
        serve(int(sys.argv[1]), int(sys.argv[2]))
    os._exit(0)  # no teardown of the engine and libraries: nothing is left to write
