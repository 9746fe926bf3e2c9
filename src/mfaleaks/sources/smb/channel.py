"""The hot path of a session's connection: small files' compounds sent and answered with struct.

smbprotocol builds a header object per message, signs through a fresh CMAC/GMAC
object, and hands every answer from its receiving thread to the caller's: on
this machine ~1.2 ms of CPU per small file, most of an SMB scan's client time.
Here the 64-byte headers are packed and parsed with `struct`, signatures made
and checked with one cached key object, and answers read by the thread that
waits for them. smbprotocol still negotiates, logs on (its signing and
encryption keys are used here as it derived them), connects trees, lists
folders and does everything else.

The connection's socket has one reader at a time. `Switch` stands in for
smbprotocol's transport (its public `Connection.transport`): while the channel
is "fast", smbprotocol's receiving thread waits in `Switch.recv` instead of
reading, and the channel keeps the message ids and credits; `to_slow` writes
them back and lets the thread read again. Going fast costs one ECHO (it also
asks for credits): the thread reads its answer and then parks.

While fast, the channel also frames and moves the bytes itself: compounds that
send() queues go out in one write when the channel is flushed or waits for an
answer, and answers are read from the socket in large reads, several at a time
(smbprotocol's transport built a Structure per message sent, and read each
answer in two select+recv pairs: ~40% of a worker's SMB time in bench_smb).

Signing and encryption are as smbprotocol would do them: requests signed when the
session signs, a whole compound encrypted when the session or share encrypts;
answers must be signed (or encrypted) likewise, else the file is not read.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import select
import socket
import struct
import threading
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import aead, algorithms
from smbprotocol.connection import Connection, SMB2Echo
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect

from mfaleaks.sources.smb.wire import Raw

Buffer = bytes | bytearray | memoryview

_HEADER = struct.Struct("<4sHHIHHIIQIIQ16s")  # [MS-SMB2] 2.2.1.2, 64 bytes
_TRANSFORM = struct.Struct("<4s16s16sIHHQ")  # [MS-SMB2] 2.2.41, 52 bytes
_SMB2 = b"\xfeSMB"
_SMB2_ENCRYPTED = b"\xfdSMB"
_ZERO_SIGNATURE = b"\x00" * 16
_PADDING = [b"\x00" * n for n in range(8)]
_NONCE = struct.Struct("<QI")  # GMAC's nonce: message id, 1 for an answer ([MS-SMB2] 3.1.4.1)

FLAG_RESPONSE, FLAG_ASYNC, FLAG_RELATED, FLAG_SIGNED = 0x1, 0x2, 0x4, 0x8
FLAG_DFS = 0x10000000
STATUS_PENDING = 0x00000103
_NOTICE_ID = 0xFFFFFFFFFFFFFFFF
_HMAC_SHA256, _AES_CMAC, _AES_GMAC = 0, 1, 2
_GCM = (2, 4)  # AES-128-GCM, AES-256-GCM (1 and 3 are CCM)
_MAX_PAYLOAD = 65536
_FRAME = struct.Struct(">I")  # Direct TCP transport: the message's length ([MS-SMB2] 2.1)
_READ_SIZE = 256 * 1024  # asked of the socket at once: the answers in, several at a time
_MAX_FRAME = 0xFFFFFF


class ChannelError(Exception):
    """The connection cannot carry the channel's requests any more (closed, timed out,
    an answer that does not check); every request in flight fails with it."""


class Switch:
    """Stands in for smbprotocol's transport: sends go through; smbprotocol's receiving
    thread reads only while the connection is not the channel's."""

    def __init__(self, inner: Any, conn: Connection) -> None:
        self.inner = inner
        self._conn = conn
        self._cond = threading.Condition()
        self.fast = False  # the channel's turn (smbprotocol's thread stays out)
        self.ready = False  # ... and the ECHO that hands it over is sent
        self.parked = False
        self.closed = False

    @property
    def connected(self) -> bool:
        return bool(self.inner.connected)

    def connect(self) -> None:
        self.inner.connect()

    def send(self, data: bytes) -> None:
        self.inner.send(data)

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()
        self.inner.close()

    def recv(self, timeout: float) -> bytes:
        """smbprotocol's thread: park while fast, once every answer it waits for is in (the
        ECHO that makes the channel fast is read here first; `ready` says it was sent)."""
        with self._cond:
            while not self.closed and self.fast:
                if not self.ready:
                    self._cond.wait()
                    continue
                if not self._answered():
                    break
                self.parked = True
                self._cond.notify_all()
                self._cond.wait()
            self.parked = False
            if self.closed:
                return b""
        return bytes(self.inner.recv(timeout) or b"")

    def _answered(self) -> bool:
        return all(r.response is not None for r in list(self._conn.outstanding_requests.values()))

    def claim(self) -> None:
        """Before the ECHO is sent: smbprotocol's thread may not start a read it would
        then have to give up."""
        with self._cond:
            self.fast, self.ready = True, False

    def sent(self) -> None:
        """The ECHO is out: smbprotocol's thread reads its answer, then parks."""
        with self._cond:
            self.ready = True
            self._cond.notify_all()

    def wait_parked(self, timeout: float) -> bool:
        """False when smbprotocol's thread did not stop reading in time."""
        with self._cond:
            return self._cond.wait_for(lambda: self.parked or self.closed, timeout)

    def unpark(self) -> None:
        with self._cond:
            self.fast = self.ready = False
            self._cond.notify_all()


class Channel:
    """Compounds of struct-packed requests on a session's connection, while it is fast."""

    def __init__(self, conn: Connection, session: Session, timeout: float) -> None:
        self._conn = conn
        self._session = session
        self._timeout = timeout
        if not isinstance(conn.transport, Switch):
            conn.transport = Switch(conn.transport, conn)
        self._switch: Switch = conn.transport
        self._low = self._high = 0
        self._got: dict[int, tuple[int, bytes]] = {}  # message id -> (status, body)
        self._waiting: set[int] = set()  # sent, not answered yet
        self._unwanted: set[int] = set()  # answers nobody will ask for (dropped on arrival)
        self._sealed: set[int] = set()  # sent encrypted: the answer must be encrypted too
        self.broken: str | None = None  # why the channel cannot go on (the connection)
        self._sign = self._signer(bool(session.signing_required and session.signing_key))
        self._seal: Callable[[bytes], bytes] | None = None
        self._open: Callable[[bytes], bytes] | None = None
        self._multi_credit = bool(conn.supports_multi_credit)
        self._out: list[bytes] = []  # compounds queued by send(), not written yet
        self._in = bytearray()  # bytes read from the socket, not taken yet (from _at on)
        self._at = 0
        self._poll: select.poll | None = None

    # ---- whose turn ------------------------------------------------------------------------

    @property
    def fast(self) -> bool:
        return self._switch.fast and self._switch.parked

    def to_fast(self, credits_wanted: int) -> None:
        """Take the connection over from smbprotocol: one ECHO, which asks for credits
        enough for the pipeline, and smbprotocol's thread parks after reading its answer."""
        if self.fast:
            return
        self._check()
        have = self._conn.sequence_window["high"] - self._conn.sequence_window["low"]
        self._switch.claim()
        try:
            request = self._conn.send(SMB2Echo(), sid=self._session.session_id,
                                      credit_request=max(1, credits_wanted - have + 1))
            self._switch.sent()
            self._conn.receive(request, timeout=self._timeout)
            if not self._switch.wait_parked(self._timeout):
                raise ChannelError("the SMB receiving thread did not stop")
        except BaseException:
            self._switch.unpark()
            raise
        with self._conn.sequence_lock:
            self._low = int(self._conn.sequence_window["low"])
            self._high = int(self._conn.sequence_window["high"])

    def to_slow(self) -> None:
        """Hand the connection back to smbprotocol (every answer in flight read first)."""
        if not self._switch.fast:
            return
        if self.fast and self.broken is None:
            # Every answer in, and no part of one left in our buffer: smbprotocol's thread
            # reads the socket next (what is left can only be a notice nobody asked for).
            while (self._waiting or self._at < len(self._in)) and self.broken is None:
                self._receive_frame()
        self._out.clear()
        self._in.clear()
        self._at = 0
        with self._conn.sequence_lock:
            self._conn.sequence_window["low"] = self._low
            self._conn.sequence_window["high"] = self._high
        self._switch.unpark()

    def _check(self) -> None:
        """Before a new request: the requests in flight when the connection went failed
        with the reason (a timeout...); the ones after it fail at once with this one."""
        if self.broken is not None or self._switch.closed or not self._switch.connected:
            self.broken = self.broken or "connection to the server lost"
            raise ChannelError("connection to the server lost")

    # ---- requests --------------------------------------------------------------------------

    def credits(self) -> int:
        if not self.fast:  # smbprotocol's turn: its window is the current one
            window = self._conn.sequence_window
            return int(window["high"] - window["low"])
        return self._high - self._low

    def charge(self, message: Raw) -> int:
        if not self._multi_credit:
            return 0
        return (max(0, message.length - 1) // _MAX_PAYLOAD) + 1

    def send(self, tree: TreeConnect, messages: list[Raw]) -> list[int]:
        """One related compound (the messages after the first act on the file it opened),
        queued: it goes out at the next flush() or wait for an answer. Its message ids, in
        order. ChannelError when the connection cannot take it."""
        self._check()
        assert self.fast, "the channel sends only while smbprotocol's thread is parked"
        session_id = self._session.session_id
        tree_id = tree.tree_connect_id
        sign = self._sign
        flags = (FLAG_DFS if tree.is_dfs_share else 0) | (FLAG_SIGNED if sign else 0)
        multi = self._multi_credit
        ids: list[int] = []
        parts: list[bytes] = []
        last = len(messages) - 1
        low = self._low
        for i, message in enumerate(messages):
            body, length = message.body, message.length
            charge = ((length - 1) // _MAX_PAYLOAD + 1 if length > 1 else 1) if multi else 0
            if charge > self._high - low:
                raise ChannelError(f"the server granted too few credits ({self._high - low})")
            padding = b"" if i == last else _PADDING[-(64 + len(body)) % 8]
            header = _HEADER.pack(_SMB2, 64, charge, 0, message.COMMAND, charge or 1,
                                  flags | FLAG_RELATED if i else flags,
                                  0 if i == last else 64 + len(body) + len(padding), low, 0,
                                  tree_id, session_id, _ZERO_SIGNATURE)
            if sign is not None:
                parts += (header[:48], sign(header + body + padding, low, False), body,
                          padding)
            else:
                parts += (header, body, padding)
            ids.append(low)
            low += charge or 1
        self._low = low
        data = b"".join(parts)
        if self._session.encrypt_data or tree.encrypt_data:
            data = self._encrypt(data)
            self._sealed.update(ids)
        self._out.append(data)
        self._waiting.update(ids)
        return ids

    def flush(self) -> None:
        """Write the queued compounds, all in one go (the server works on them while we do
        something else). A connection that fails here fails their answers."""
        if not self._out or self.broken is not None:
            return
        out, self._out = self._out, []
        inner = self._switch.inner
        # smbprotocol's Tcp keeps its socket and the lock its writers take as private
        # fields: where either is missing (another version), its own send() is used.
        sock: socket.socket | None = getattr(inner, "_sock", None)
        lock = getattr(inner, "_sock_lock", None)
        try:
            if sock is None or lock is None:
                for data in out:
                    inner.send(data)
                return
            parts: list[bytes] = []
            for data in out:
                parts.append(_FRAME.pack(len(data)))
                parts.append(data)
            with lock:
                sock.sendall(b"".join(parts))
        except OSError:
            self._fail("connection to the server lost")

    def receive(self, mid: int) -> tuple[int, bytes]:
        """(NTSTATUS, body after the header) of one request's answer."""
        while mid not in self._got:
            if self.broken is not None:
                self._waiting.discard(mid)
                raise ChannelError(self.broken)
            self._receive_frame()
        return self._got.pop(mid)

    def forget(self, ids: list[int]) -> None:
        """Answers nobody will ask for (a read given up): dropped when they arrive."""
        for mid in ids:
            if self._got.pop(mid, None) is None and mid in self._waiting:
                self._unwanted.add(mid)

    # ---- answers ---------------------------------------------------------------------------

    def _receive_frame(self) -> None:
        """Take one message (or compound) from the server; what we queued goes out first."""
        self.flush()
        if self.broken is not None:
            return
        try:
            frame = self._next_frame()
        except TimeoutError:
            self._fail("the server did not answer in time (--smb-timeout)")
            return
        except ChannelError as exc:
            self._fail(f"malformed answer from the server ({exc})")
            return
        except OSError:
            frame = bytearray()
        if not frame:
            self._fail("connection to the server lost")
            return
        try:
            self._take(frame)
        except (ChannelError, ValueError, struct.error) as exc:
            self._fail(f"malformed answer from the server ({exc})")

    def _next_frame(self) -> bytearray:
        """The next whole message from the socket: from what an earlier read brought when it
        is there, else read (up to _READ_SIZE at once). b"": the connection ended."""
        inner = self._switch.inner
        sock: socket.socket | None = getattr(inner, "_sock", None)
        if sock is None:  # not smbprotocol's Tcp: through its own recv
            return bytearray(inner.recv(self._timeout) or b"")
        buf = self._in
        while True:
            at = self._at
            have = len(buf) - at
            if have >= 4:
                size = _FRAME.unpack_from(buf, at)[0]
                if size > _MAX_FRAME:  # (the first byte is 0: 24 bits of length)
                    raise ChannelError(f"a message of {size} bytes")
                if have >= 4 + size:
                    with memoryview(buf) as view:
                        frame = bytearray(view[at + 4 : at + 4 + size])
                    self._at = at + 4 + size
                    if self._at == len(buf):
                        buf.clear()
                        self._at = 0
                    return frame
            if at:
                del buf[:at]
                self._at = 0
            data = self._read(sock)
            if not data:
                return bytearray()
            buf += data

    def _read(self, sock: socket.socket) -> bytes:
        """What the socket has (waiting up to the timeout for something)."""
        try:
            return sock.recv(_READ_SIZE, socket.MSG_DONTWAIT)
        except BlockingIOError:
            pass
        if self._poll is None:
            self._poll = select.poll()
            self._poll.register(sock.fileno(), select.POLLIN)
        if not self._poll.poll(self._timeout * 1000):
            raise TimeoutError("no answer")
        return sock.recv(_READ_SIZE)

    def _take(self, frame: bytearray) -> None:
        """The messages of one frame: each answer's signature checked (its signature field
        zeroed in place, then the message signed over as it stands), credits counted, the
        answers waited for kept."""
        encrypted = frame[:4] == _SMB2_ENCRYPTED
        if encrypted:
            frame = bytearray(self._decrypt(bytes(frame)))
        checking = not encrypted and self._sign is not None
        view = memoryview(frame)
        size = len(frame)
        at = 0
        while True:
            (protocol, _, _, status, _, credit_response, flags, following, mid, _, _, _,
             signature) = _HEADER.unpack_from(frame, at)
            if protocol != _SMB2:
                raise ChannelError("not an SMB2 message")
            end = at + following if following else size
            if end > size or end < at + 64:
                raise ChannelError("compound answer out of bounds")
            pending = status == STATUS_PENDING and bool(flags & FLAG_ASYNC)
            # An oplock or lease break (id all ones) is unsigned and not ours (none asked):
            # skipped, as smbprotocol skips it.
            notice = mid == _NOTICE_ID
            if checking and not pending and not notice:
                assert self._sign is not None
                frame[at + 48 : at + 64] = _ZERO_SIGNATURE
                if not flags & FLAG_SIGNED or not hmac.compare_digest(
                        self._sign(view[at:end], mid, True), signature):
                    raise ChannelError("an answer's signature does not check")
            if not notice:  # SMB 2.0.2 grants no credits: each answer gives back its one
                self._high += credit_response if (credit_response or self._multi_credit) else 1
            if not encrypted and mid in self._sealed:
                raise ChannelError("an answer to an encrypted request was not encrypted")
            if not pending and not notice and mid in self._waiting:
                self._waiting.discard(mid)
                self._sealed.discard(mid)
                if mid in self._unwanted:
                    self._unwanted.discard(mid)
                else:
                    self._got[mid] = (status, bytes(view[at + 64 : end]))
            if not following:
                return
            at = end

    def _fail(self, reason: str) -> None:
        """The connection is gone for the channel: every request in flight fails with reason,
        and smbprotocol is told (its next request fails at once)."""
        if self.broken is None:
            self.broken = reason
        self._waiting.clear()
        self._unwanted.clear()
        self._sealed.clear()
        with contextlib.suppress(Exception):  # already closed
            self._switch.close()

    # ---- signing and sealing ---------------------------------------------------------------

    def _signer(self, signs: bool) -> Callable[[Buffer, int, bool], bytes] | None:
        """smbprotocol's choice of algorithm ([MS-SMB2] 3.1.4.1), with its key object made
        once for the session instead of once per message."""
        if not signs:
            return None
        key = bytes(self._session.signing_key)
        dialect = int(self._conn.dialect)
        algorithm = self._conn.signing_algorithm_id
        if dialect >= 0x0311 and algorithm is not None:
            sign_id = int(algorithm)
        elif dialect >= 0x0300:
            sign_id = _AES_CMAC
        else:
            sign_id = _HMAC_SHA256
        if sign_id == _AES_GMAC:
            gcm = aead.AESGCM(key)

            def gmac(data: Buffer, mid: int, response: bool) -> bytes:
                return gcm.encrypt(_NONCE.pack(mid, response), b"", data)
            return gmac
        if sign_id == _AES_CMAC:
            base = cmac.CMAC(algorithms.AES(key))

            def aes_cmac(data: Buffer, mid: int, response: bool) -> bytes:
                c = base.copy()
                c.update(data if isinstance(data, bytes) else bytes(data))
                return bytes(c.finalize())
            return aes_cmac
        mac = hmac.new(key, digestmod=hashlib.sha256)

        def sha256(data: Buffer, mid: int, response: bool) -> bytes:
            c = mac.copy()
            c.update(data)
            return c.digest()[:16]
        return sha256

    def _cipher(self, key: bytes) -> tuple[Any, int]:
        cipher_id = int(self._conn.cipher_id) if int(self._conn.dialect) >= 0x0311 else 1
        if cipher_id in _GCM:
            return aead.AESGCM(key), 12
        return aead.AESCCM(key), 11

    def _encrypt(self, data: bytes) -> bytes:
        if self._seal is None:
            cipher, size = self._cipher(bytes(self._session.encryption_key))
            session_id = self._session.session_id

            def seal(plain: bytes) -> bytes:
                nonce = os.urandom(size)
                aad = _TRANSFORM.pack(_SMB2_ENCRYPTED, _ZERO_SIGNATURE,
                                      nonce + b"\x00" * (16 - size), len(plain), 0, 1,
                                      session_id)[20:]
                sealed = bytes(cipher.encrypt(nonce, plain, aad))
                return b"\xfdSMB" + sealed[-16:] + aad + sealed[:-16]
            self._seal = seal
        return self._seal(data)

    def _decrypt(self, frame: bytes) -> bytes:
        if self._open is None:
            cipher, size = self._cipher(bytes(self._session.decryption_key))
            session_id = self._session.session_id

            def unseal(sealed: bytes) -> bytes:
                _, signature, nonce, _, _, flags, sid = _TRANSFORM.unpack_from(sealed)
                if flags != 1 or sid != session_id:
                    raise ChannelError("an encrypted answer for another session")
                return bytes(cipher.decrypt(nonce[:size], sealed[52:] + signature,
                                            sealed[20:52]))
            self._open = unseal
        try:
            return self._open(frame)
        except ChannelError:
            raise
        except Exception as exc:  # cryptography's InvalidTag
            raise ChannelError("an encrypted answer does not decrypt") from exc
