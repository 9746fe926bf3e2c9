"""One worker process and its two pipes: batches of sources in, their results out.

The parent talks to each worker over its own pair of pipes, from its one
thread. (A ProcessPoolExecutor per worker cost the parent two threads per
worker; every batch then went through a wake-up pipe, a queue thread and a
result thread, each taking the GIL from the thread that walks the tree.)
A worker answers batches in the order they came, until its inbox ends (or an
empty frame). Results are pickled here; a result that cannot be pickled comes back as
an error for the whole batch.

Before each file a worker writes the file's place in its batch to one word of
memory it shares with the parent (`reading`): a store, not a frame, so the
parent neither reads nor wakes up for it. Should the worker die, the parent
knows which file it was reading (pool.py). The word is a memfd mapped on both
sides (mmap is loaded anyway; multiprocessing's shared ctypes cost the parent
10-20 ms of imports).
"""

from __future__ import annotations

import contextlib
import mmap
import os
import pickle
import signal
from typing import TYPE_CHECKING, Any

from mfaleaks.frames import Outbox, read_frame, widen_pipe, write_frame
from mfaleaks.run import forkstart

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from mfaleaks.models import Source
    from mfaleaks.run.spec import EngineSpec
    from mfaleaks.sources.smb.worker import SmbAccess

_PROTOCOL = pickle.HIGHEST_PROTOCOL

Reply = tuple[bool, Any]
"""(True, [FileResult, ...]) or (False, the reason the batch failed)."""


class SharedWord:
    """One 64-bit word of memory shared by the parent and a worker: a memfd mapped on each
    side; the worker's copy comes through the fork server like the pipes do."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._map = mmap.mmap(fd, 8)
        self.view = memoryview(self._map).cast("q")

    @classmethod
    def new(cls) -> SharedWord | None:
        """A word holding -1; None where there are no memfds (not Linux)."""
        try:
            fd = os.memfd_create("mfaleaks-reading", os.MFD_CLOEXEC)
        except (AttributeError, OSError):
            return None
        os.ftruncate(fd, 8)
        word = cls(fd)
        word.view[0] = -1
        return word

    def __reduce__(self) -> tuple[Any, ...]:
        from multiprocessing.reduction import DupFd

        return (_inherit, (DupFd(self.fd),))

    def close(self) -> None:
        self.view.release()
        self._map.close()
        os.close(self.fd)


def _inherit(dup: Any) -> SharedWord:
    return SharedWord(dup.detach())


def _serve(
    inbox: Connection, outbox: Connection, spec: EngineSpec, word: SharedWord | None,
    smb: SmbAccess | None = None,
) -> None:
    """In the worker process: build the engine, then answer batches until told to stop."""
    from mfaleaks.run import scanjob

    scanjob.init(spec, smb)
    rfd, wfd = inbox.fileno(), outbox.fileno()
    reading = word.view if word is not None else None
    while True:
        if smb is not None and _idle(rfd):  # (a local scan's worker has nothing to keep)
            scanjob.idle()
        frame = read_frame(rfd)
        if not frame:
            break
        batch: list[Source] = pickle.loads(frame)
        del frame
        try:
            reply = pickle.dumps((True, scanjob.scan_batch(batch, reading)), _PROTOCOL)
        except Exception as exc:  # e.g. a result that cannot be pickled
            reply = pickle.dumps((False, f"internal error: {type(exc).__name__}"), _PROTOCOL)
        write_frame(wfd, reply)
    scanjob.done()


IDLE_SECONDS = 240.0  # no batch for this long: the worker's SMB sessions are kept alive


def _idle(fd: int) -> bool:
    """No batch came within IDLE_SECONDS. The struct channel (sources/smb/channel.py) holds
    a worker's SMB connection, and smbprotocol's thread, which sends the keepalive ECHO
    after 10 minutes of quiet (Windows drops a connection idle ~16 minutes), is parked
    meanwhile: an idle worker gives the connection back to it (scanjob.idle)."""
    import select

    ready, _, _ = select.select([fd], [], [], IDLE_SECONDS)
    return not ready


class WorkerProcess:
    """A started worker: `send` queues a batch without blocking, `receive` waits for the
    oldest batch's reply (None: the process is gone, with every batch it had)."""

    def __init__(self, spec: EngineSpec, smb: SmbAccess | None = None) -> None:
        """smb: the SMB account for the worker to read files on shares itself; it goes to
        the worker in memory, with the other arguments (the fork server's pipe)."""
        ctx = forkstart.context()
        their_in, my_in = ctx.Pipe(duplex=False)  # (reader, writer)
        my_out, their_out = ctx.Pipe(duplex=False)
        for conn in (my_in, my_out):
            widen_pipe(conn.fileno())
        # The place in the oldest unanswered batch of the file being read, -1 between files.
        self._reading = SharedWord.new()
        args = (their_in, their_out, spec, self._reading, smb)
        self.process = ctx.Process(target=_serve, args=args, daemon=True)
        self.process.start()
        their_in.close()  # the worker holds them now: its death is our EOF
        their_out.close()
        self._writer, self._reader = my_in, my_out
        self.outbox = Outbox(my_in.fileno())
        self.read_fd = my_out.fileno()
        self.sentinel: int = self.process.sentinel

    def send(self, batch: list[Source]) -> None:
        try:
            self.outbox.put(pickle.dumps(batch, _PROTOCOL))
        except BrokenPipeError:
            self.outbox.drop()  # it died: receive() says so

    def flush(self) -> None:
        try:
            self.outbox.flush()
        except BrokenPipeError:
            self.outbox.drop()

    def receive(self) -> Reply | None:
        """Blocks until a whole reply is in (call when the read fd is ready)."""
        try:
            frame = read_frame(self.read_fd)
        except (EOFError, OSError):
            return None
        if frame is None:
            return None
        reply: Reply = pickle.loads(frame)
        return reply

    def reading(self) -> int | None:
        """Once it is gone, with every reply it wrote read: the place, in the oldest batch
        it was not done with, of the file it was reading when it died (None: none)."""
        if self._reading is None:
            return None
        at = self._reading.view[0]
        return at if at >= 0 else None

    def ended(self) -> int:
        """Once its pipe has closed: its exit code (negative: the signal that ended it).
        One still running after that (it closed its pipe itself?) is killed."""
        self.process.join(5)
        code = self.process.exitcode
        self.kill()  # closes the pipes, reaps it
        return code if code is not None else -signal.SIGKILL

    def _forget(self) -> None:
        if self._reading is not None:
            self._reading.close()
            self._reading = None

    def leave(self) -> None:
        """Let it go once it has answered all it was sent: the end of its inbox (EOF) is
        its cue. Not waited for: it ends while the scan finishes (a join took ~4 ms a
        worker, one after the other, at the end of every scan)."""
        self.outbox.drop()
        self._writer.close()
        self._reader.close()
        self._forget()

    def kill(self) -> None:
        """Stop it now (Ctrl-C, or it stopped answering), and reap it."""
        with contextlib.suppress(OSError, ValueError):
            self.process.kill()
        self.outbox.drop()
        self._writer.close()
        self._reader.close()
        self._forget()
        self.process.join(5)
        with contextlib.suppress(ValueError):  # still running after 5 s: left to the OS
            self.process.close()
