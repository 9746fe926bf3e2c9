"""The process a Dask worker scans in: `python -m mfaleaks.run.clusterchild READ_FD WRITE_FD`.

A Dask worker runs tasks in a thread, where the one-machine time limit per file
(SIGALRM, scanjob.timed_scan) cannot be installed, and a parser that crashes
would take the worker down with it. So each worker scans in a child of its
own, started with subprocess (a worker under a nanny is a daemonic process,
which multiprocessing does not let have children), in the client's current
folder: relative paths mean there what they mean to the client. It answers
requests over two inherited pipes, as a worker of the local pool does
(workerproc.py): the first frame is the EngineSpec, then ("scan", sources),
("list", folders, options) or ("root", path, follow links), until the inbox
ends (the Dask worker stopped or was killed). The rule engine is built at the
first scan: a child that only lists never loads it.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import sys
from typing import Any

from mfaleaks.frames import read_frame, write_frame


def serve(rfd: int, wfd: int) -> None:
    frame = read_frame(rfd)
    if frame is None:
        return
    spec = pickle.loads(frame)
    ready = False
    while frame := read_frame(rfd):
        request: tuple[Any, ...] = pickle.loads(frame)
        del frame
        try:
            if request[0] == "scan":
                from mfaleaks.run import scanjob

                if not ready:
                    # smb:// files are read here, logged on with this worker's own
                    # environment (request[2]: the account's name and options).
                    wanted = request[2] if len(request) > 2 else None
                    scanjob.init(spec, wanted.access() if wanted is not None else None)
                    ready = True
                answer: object = scanjob.scan_batch(request[1])
            elif request[0] == "list":
                from mfaleaks.run.clusterlist import list_folders

                answer = list_folders(request[1], request[2])
            else:
                from mfaleaks.run.clusterlist import stat_root

                answer = stat_root(request[1], request[2])
            reply = pickle.dumps((True, answer), pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # e.g. a result that cannot be pickled (workerproc's words)
            reply = pickle.dumps((False, f"internal error: {type(exc).__name__}"),
                                 pickle.HIGHEST_PROTOCOL)
        write_frame(wfd, reply)


if __name__ == "__main__":
    with contextlib.suppress(EOFError, BrokenPipeError):  # the worker went away
        serve(int(sys.argv[1]), int(sys.argv[2]))
    os._exit(0)  # no teardown of the engine and libraries: nothing is left to write
