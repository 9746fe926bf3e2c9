"""Length-prefixed messages over a pipe: the wire between the parent and its workers,
and between the parent and its listing child (listing.py).

A frame is an 8-byte big-endian length and that many bytes. The reader blocks
until it has a whole frame (the writer always finishes one it has begun, unless
it dies: then the read ends in EOFError). The parent writes through an
`Outbox` that never blocks: what the pipe cannot take now waits in the outbox
until the parent polls again, so the parent and a worker that writes a large
result can never wait on each other.
"""

from __future__ import annotations

import errno
import os
import struct
from collections import deque

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows
    fcntl = None  # type: ignore[assignment]

_HEADER = struct.Struct("!Q")
PIPE_SIZE = 1 << 20  # Linux's default most for a pipe (/proc/sys/fs/pipe-max-size)


def widen_pipe(fd: int) -> None:
    """A pipe of up to 1 MB (Linux), so that the writer goes on while the reader is busy
    elsewhere: the listing child while the parent reads the cache's rows, a worker
    while the parent routes files. (No contextlib: a rescan's listing child is forked
    before it is loaded.)"""
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)  # AttributeError: not Linux
    except (AttributeError, OSError):
        return  # the default (64 kB) will do


def read_frame(fd: int) -> bytearray | None:
    """The next frame from a blocking fd; None at a clean end (EOF between frames)."""
    head = _read_exactly(fd, _HEADER.size, at_start=True)
    if head is None:
        return None
    (size,) = _HEADER.unpack(head)
    body = _read_exactly(fd, size, at_start=False)
    assert body is not None
    return body


def _read_exactly(fd: int, size: int, at_start: bool) -> bytearray | None:
    buf = bytearray(size)
    view = memoryview(buf)
    got = 0
    while got < size:
        n = os.readv(fd, [view[got:]])
        if n == 0:
            if at_start and got == 0:
                return None
            raise EOFError("the other end closed the pipe in the middle of a message")
        got += n
    return buf


def write_frame(fd: int, payload: bytes) -> None:
    """One whole frame to a blocking fd."""
    data = [memoryview(_HEADER.pack(len(payload))), memoryview(payload)]
    while data:
        n = os.writev(fd, data)
        while data and n >= len(data[0]):
            n -= len(data.pop(0))
        if n:
            data[0] = data[0][n:]


class Outbox:
    """Frames queued for a non-blocking fd, written as far as the pipe takes them."""

    def __init__(self, fd: int) -> None:
        os.set_blocking(fd, False)
        self.fd = fd
        self._parts: deque[memoryview] = deque()

    @property
    def pending(self) -> bool:
        return bool(self._parts)

    def put(self, payload: bytes) -> None:
        self._parts.append(memoryview(_HEADER.pack(len(payload))))
        if payload:
            self._parts.append(memoryview(payload))
        self.flush()

    def flush(self) -> None:
        """Write what the pipe takes now. BrokenPipeError when the reader is gone."""
        parts = self._parts
        while parts:
            try:
                n = os.writev(self.fd, list(parts)[:64])
            except BlockingIOError:
                return
            except InterruptedError:
                continue
            except OSError as exc:
                if exc.errno == errno.EAGAIN:
                    return
                raise
            while parts and n >= len(parts[0]):
                n -= len(parts.popleft())
            if n:
                parts[0] = parts[0][n:]

    def drop(self) -> None:
        self._parts.clear()
