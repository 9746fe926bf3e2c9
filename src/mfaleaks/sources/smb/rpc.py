"""DCE/RPC over a named pipe of an smbprotocol session, in struct ([MS-RPCE] 2.2.2).

What owners' names (lsa.py, \\lsarpc) and share listing (shares.py, \\srvsvc) need of
it: a bind without an authentication level (the pipe is opened over the
authenticated session, which Samba and Windows accept for these calls), calls
whose answers may come in several fragments, and NDR read in order. Going
through the scan's own SMB library means any logon it can make (NTLM, or Kerberos
from any ticket cache GSSAPI reads) reaches these calls too.
"""

from __future__ import annotations

import contextlib
import struct
import uuid
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smbprotocol.open import Open

    from mfaleaks.sources.smb.client import SmbSession

FRAG = 4280  # the fragment size both ends may send (the usual one)
_NDR = uuid.UUID("8a885d04-1ceb-11c9-9fe8-08002b104860").bytes_le + struct.pack("<I", 2)
_BIND, _BIND_ACK, _REQUEST, _RESPONSE, _FAULT = 11, 12, 0, 2, 3
_FIRST, _LAST = 0x01, 0x02
_HEADER = struct.Struct("<BBBB4sHHI")  # version, minor, type, flags, data rep, lengths, call
_MAX_ANSWER = 16 << 20  # an answer bigger than this is not a share list or a name


class RpcError(Exception):
    """The server refused or garbled a call."""


def interface(uuid_text: str, major: int, minor: int = 0) -> bytes:
    """An interface's syntax id as a bind names it."""
    return uuid.UUID(uuid_text).bytes_le + struct.pack("<HH", major, minor)


class RpcPipe:
    """One named pipe of a session's IPC$, bound to one interface."""

    def __init__(self, session: SmbSession, name: str, syntax: bytes) -> None:
        self._pipe: Open = session.pipe(name)
        self._call = 0
        try:
            self._bind(syntax)
        except Exception:
            self.close()
            raise

    def _bind(self, syntax: bytes) -> None:
        body = struct.pack("<HHIBBH", FRAG, FRAG, 0, 1, 0, 0) + \
            struct.pack("<HBB", 0, 1, 0) + syntax + _NDR
        self._send(_BIND, body)
        ack = self._pdu()
        if ack[2] != _BIND_ACK:
            raise RpcError("bind refused")
        r = NdrReader(ack)
        r.at = 24  # after max_xmit_frag, max_recv_frag, assoc_group_id
        length = r.take("<H", 2)[0]  # the secondary address: its length, then it
        r.at += length
        results = r.take("<B")[0]
        if not results or r.take("<H")[0] != 0:  # the first context's result: acceptance
            raise RpcError("bind refused")

    def call(self, opnum: int, stub: bytes) -> bytes:
        """One call; its answer's stub, the fragments joined."""
        self._send(_REQUEST, struct.pack("<IHH", len(stub), 0, opnum) + stub)
        out = bytearray()
        while True:
            pdu = self._pdu()
            if pdu[2] == _FAULT:
                status = struct.unpack_from("<I", pdu, 24)[0] if len(pdu) >= 28 else 0
                raise RpcError(f"fault 0x{status:08X}")
            if pdu[2] != _RESPONSE or len(pdu) < 24:
                raise RpcError("unexpected answer")
            auth = struct.unpack_from("<H", pdu, 10)[0]
            out += pdu[24 : len(pdu) - (auth + 8 if auth else 0)]
            if len(out) > _MAX_ANSWER:
                raise RpcError("answer too large")
            if pdu[3] & _LAST:
                return bytes(out)

    def _send(self, ptype: int, body: bytes) -> None:
        self._call += 1
        header = _HEADER.pack(5, 0, ptype, _FIRST | _LAST, b"\x10\0\0\0", 16 + len(body), 0,
                              self._call)
        self._pipe.write(header + body, 0)

    def _pdu(self) -> bytes:
        """One PDU of the answer: a pipe read returns one message, a fragment."""
        data: bytes = self._pipe.read(0, FRAG)
        if len(data) < 16 or data[0] != 5:
            raise RpcError("not a DCE/RPC answer")
        length = struct.unpack_from("<H", data, 8)[0]
        if length < 16 or length > len(data):
            raise RpcError("answer cut short")
        return data[:length]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._pipe.close()


class NdrReader:
    """NDR, little-endian, read in order (deferred pointees where NDR puts them)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def align(self, n: int) -> None:
        self.at += -self.at % n

    def take(self, fmt: str, align: int = 4) -> tuple[int, ...]:
        self.align(align)
        size = struct.calcsize(fmt)
        if self.at + size > len(self.data):
            raise RpcError("answer cut short")
        out = struct.unpack_from(fmt, self.data, self.at)
        self.at += size
        return out

    def u32(self) -> int:
        return self.take("<I")[0]

    def wstr(self) -> str:
        """A conformant varying string of UTF-16 (its terminating NUL dropped)."""
        _, offset, count = self.take("<III")
        start = self.at + 2 * offset
        end = start + 2 * count
        if end > len(self.data):
            raise RpcError("answer cut short")
        self.at = end
        return self.data[start:end].decode("utf-16-le", "replace").rstrip("\0")

    def sid(self) -> None:
        count = self.u32()
        self.at += 8 + 4 * count


def wstr(text: str) -> bytes:
    """A conformant varying string of UTF-16 with its NUL, padded to 4 bytes."""
    data = (text + "\0").encode("utf-16-le")
    units = len(data) // 2
    return struct.pack("<III", units, 0, units) + data + b"\0" * (-len(data) % 4)
