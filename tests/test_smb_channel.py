"""The struct channel's own framing (sources/smb/channel.py) against a real Samba server:
answers cut anywhere and run together on the way still come whole, signed or sealed."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from mfaleaks.sources.smb.auth import SmbCredentials
from mfaleaks.sources.smb.client import SmbEntry, SmbOptions, SmbReadError, SmbSession
from mfaleaks.sources.smb.url import SmbTarget
from smbserver import REPO, SmbServer

# The sizes the relay cuts the server's bytes into, in turn: a frame's 4-byte length split,
# a header split, and pieces that hold the end of one answer and the start of the next.
PIECES = (1, 3, 2, 61, 7, 4093, 17, 65536)


class _Recutter:
    """A TCP relay between the client and smbd that passes the requests on as they come and
    the answers in pieces of PIECES bytes, pausing now and then so that the client's reads
    end in the middle of a message."""

    def __init__(self, server: SmbServer) -> None:
        self._listen = socket.create_server(("127.0.0.1", 0))
        self.port = self._listen.getsockname()[1]
        self._server = (server.host, server.port)
        self.pieces = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        client, _ = self._listen.accept()
        upstream = socket.create_connection(self._server)
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
        self._recut(upstream, client)

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass

    def _recut(self, src: socket.socket, dst: socket.socket) -> None:
        turn = 0
        try:
            while data := src.recv(1 << 20):
                while data:
                    size = PIECES[turn % len(PIECES)]
                    dst.sendall(data[:size])
                    data = data[size:]
                    turn += 1
                    self.pieces += 1
                    if turn % 5 == 0:
                        time.sleep(0.0005)
        except OSError:
            pass

    def close(self) -> None:
        self._listen.close()


def _creds(server: SmbServer) -> SmbCredentials:
    return SmbCredentials(server.user, None, server.password)


def _by_inode(folder: Path) -> dict[int, Path]:
    """The files under folder by inode (Samba's file id; names it cannot show are mangled)."""
    return {path.stat().st_ino: path for path in folder.rglob("*") if path.is_file()}


@pytest.mark.parametrize("encrypt", [False, True])
def test_answers_cut_and_run_together_come_whole(smb_server: SmbServer, encrypt: bool) -> None:
    """Every file of the fixtures share, listed and read through the relay (the compounds
    in flight, several answers per socket read, a message split over several reads), is
    the file on disk; so is a file of several MiB (READs of 1 MiB in one compound)."""
    big = smb_server.shares["scratch"] / "recut-3mib.bin"
    big.write_bytes(os.urandom((3 << 20) + 5))
    relay = _Recutter(smb_server)
    try:
        target = SmbTarget("127.0.0.1", relay.port)
        options = SmbOptions(timeout=20, require_encryption=encrypt)
        with SmbSession(target, _creds(smb_server), options) as session:
            assert session.encrypted == encrypt
            share = session.share("fixtures")
            files = [e for e in share.walk() if isinstance(e, SmbEntry)]
            got = dict(share.read_many(files))
            scratch = session.share("scratch")
            entry = next(e for e in scratch.walk() if isinstance(e, SmbEntry)
                         and e.path == big.name)
            whole = scratch.read(entry)
    finally:
        relay.close()
    assert len(files) > 20 and relay.pieces > len(files)
    on_disk = _by_inode(REPO / "fixtures")
    for entry, data in got.items():
        assert not isinstance(data, SmbReadError), (entry.path, data)
        assert data == on_disk[entry.file_id].read_bytes(), entry.path
    assert whole == big.read_bytes()


def test_an_smb_2_0_2_session_lists_and_reads(smb_server: SmbServer,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """SMB 2.0.2 (no multi-credit requests, 64 KiB transactions at most): a folder's
    listing compound asks no more than the server takes (it refused 128 KiB:
    STATUS_INVALID_PARAMETER, and the walk listed nothing), and the files read whole."""
    from mfaleaks.sources.smb import client

    connect = client._Connection.connect

    def connect_202(self: object, dialect: int | None = None, timeout: float = 60,
                    **rest: object) -> object:
        return connect(self, dialect=0x0202, timeout=timeout)

    monkeypatch.setattr(client._Connection, "connect", connect_202)
    target = SmbTarget(smb_server.host, smb_server.port)
    with SmbSession(target, _creds(smb_server), SmbOptions(timeout=20)) as session:
        assert int(session._conn.dialect) == 0x0202
        share = session.share("fixtures")
        walked = list(share.walk())
        files = [e for e in walked if isinstance(e, SmbEntry)]
        got = dict(share.read_many(files))
    on_disk = _by_inode(REPO / "fixtures")
    assert walked == files and sorted(e.file_id for e in files) == sorted(on_disk)
    assert all(data == on_disk[entry.file_id].read_bytes() for entry, data in got.items())


class _Inflater:
    """A TCP relay that, once told, announces the server's next answer as 16 MiB long (more
    than the 24 bits of an SMB2 Direct TCP length) and sends only what it has."""

    def __init__(self, server: SmbServer) -> None:
        self.inflate = False
        self._listen = socket.create_server(("127.0.0.1", 0))
        self.port = self._listen.getsockname()[1]
        self._server = (server.host, server.port)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        client, _ = self._listen.accept()
        upstream = socket.create_connection(self._server)
        threading.Thread(target=_Recutter._pump, args=(client, upstream), daemon=True).start()
        try:
            while head := upstream.recv(4, socket.MSG_WAITALL):
                size = int.from_bytes(head, "big")
                frame = upstream.recv(size, socket.MSG_WAITALL)
                if self.inflate:
                    head = (1 << 24).to_bytes(4, "big")
                client.sendall(head + frame)
        except OSError:
            pass

    def close(self) -> None:
        self._listen.close()


def test_an_answer_longer_than_smb2_allows_is_refused_at_once(smb_server: SmbServer) -> None:
    """A length over 24 bits ends the connection as a malformed answer (not a wait of
    --smb-timeout for bytes that will not come, with a buffer growing toward them)."""
    relay = _Inflater(smb_server)
    try:
        target = SmbTarget("127.0.0.1", relay.port)
        with SmbSession(target, _creds(smb_server), SmbOptions(timeout=30)) as session:
            share = session.share("fixtures")
            files = [e for e in share.walk() if isinstance(e, SmbEntry)][:3]
            relay.inflate = True
            got = dict(share.read_many(files))
    finally:
        relay.close()
    first = got[files[0]]
    assert isinstance(first, SmbReadError)
    assert "malformed answer from the server (a message of 16777216 bytes)" in str(first)
    assert all(isinstance(v, SmbReadError) for v in got.values())


class _PlainTransport:
    """smbprotocol's transport as another version might have it: send, recv and the rest,
    and none of the private fields (_sock, _sock_lock) the channel frames with itself."""

    def __init__(self, inner: object) -> None:
        self._inner = inner
        self.switch: object = None  # the channel's stand-in that wraps this transport
        self.sent_fast = 0  # sends while the channel holds the connection: its own

    @property
    def connected(self) -> bool:
        return bool(self._inner.connected)  # type: ignore[attr-defined]

    def connect(self) -> None:
        self._inner.connect()  # type: ignore[attr-defined]

    def send(self, data: bytes) -> None:
        self.sent_fast += bool(getattr(self.switch, "fast", False))
        self._inner.send(data)  # type: ignore[attr-defined]

    def recv(self, timeout: float) -> bytes:
        return bytes(self._inner.recv(timeout) or b"")  # type: ignore[attr-defined]

    def close(self) -> None:
        self._inner.close()  # type: ignore[attr-defined]


def test_a_transport_without_the_fields_the_channel_frames_with_is_used_through_its_own_calls(
        smb_server: SmbServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without smbprotocol's private socket fields the channel sends and reads through the
    transport's own send and recv: every file still reads as on disk."""
    from mfaleaks.sources.smb import channel

    plain: list[_PlainTransport] = []
    make = channel.Switch.__init__

    def wrapped(self: channel.Switch, inner: object, conn: object) -> None:
        plain.append(_PlainTransport(inner))
        plain[-1].switch = self
        make(self, plain[-1], conn)  # type: ignore[arg-type]

    monkeypatch.setattr(channel.Switch, "__init__", wrapped)
    target = SmbTarget(smb_server.host, smb_server.port)
    with SmbSession(target, _creds(smb_server), SmbOptions(timeout=20)) as session:
        share = session.share("fixtures")
        files = [e for e in share.walk() if isinstance(e, SmbEntry)]
        got = dict(share.read_many(files))
    on_disk = _by_inode(REPO / "fixtures")
    # The reads' compounds went out through the transport's send (8 a round at most).
    assert plain and sum(p.sent_fast for p in plain) >= len(files) // 8
    assert len(got) == len(files) > 20
    for entry, data in got.items():
        assert not isinstance(data, SmbReadError), (entry.path, data)
        assert data == on_disk[entry.file_id].read_bytes(), entry.path
