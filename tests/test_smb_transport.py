"""The SMB client against a real Samba server: locations, credentials, walk, read, permissions."""

from __future__ import annotations

import os
import shutil
import signal
import struct
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mfaleaks.sources.smb import acl as smbacl
from mfaleaks.sources.smb.auth import PASSWORD_ENV, SmbCredentials, credentials, split_user
from mfaleaks.sources.smb.client import (
    SmbEntry,
    SmbOptions,
    SmbProblem,
    SmbReadError,
    SmbSession,
    SmbShare,
)
from mfaleaks.sources.smb.lsa import (
    LsaClient,
    lookup_request,
    parse_lookup,
    sid_bytes,
)
from mfaleaks.sources.smb.rpc import RpcError
from mfaleaks.sources.smb.shares import ShareInfo, enum_request, list_shares, parse_enum, wanted
from mfaleaks.sources.smb.url import BadTarget, SmbFatal, SmbTarget, is_smb, parse_target
from smbserver import PRIVATE_FILES, REPO, SmbServer

# ---- locations and credentials (no server) ---------------------------------------------------


@pytest.mark.parametrize("text", [
    "smb://Files.example.com/Share/dir/a b.txt",
    "//files.example.com/Share/dir/a b.txt",
    "\\\\files.example.com\\Share\\dir\\a b.txt",
    "smb://files.example.com/Share/dir/a%20b.txt",
    "SMB://files.example.com//Share/dir//a b.txt",
])
def test_three_spellings_name_one_location(text: str) -> None:
    assert is_smb(text)
    target = parse_target(text)
    assert target == SmbTarget("files.example.com", 445, "Share", "dir\\a b.txt")
    assert target.url() == "smb://files.example.com/Share/dir/a b.txt"
    assert target.unc() == "\\\\files.example.com\\Share"


def test_port_server_only_and_ipv6() -> None:
    assert parse_target("smb://10.0.0.5:4450") == SmbTarget("10.0.0.5", 4450, None, "")
    assert parse_target("smb://10.0.0.5:4450/s").url("x\\y") == "smb://10.0.0.5:4450/s/x/y"
    assert parse_target("//nas:4450/s/x") == SmbTarget("nas", 4450, "s", "x")
    v6 = parse_target("smb://[::1]:4450/s")
    assert (v6.server, v6.port, v6.share) == ("::1", 4450, "s")
    assert not is_smb("./smb/local") and not is_smb("/srv/smb://x")


@pytest.mark.parametrize("text", ["smb://", "smb://host:0/s", "smb://host:99999/s",
                                  "smb://host/share/../etc", "//"])
def test_bad_locations_are_refused_in_one_line(text: str) -> None:
    with pytest.raises(BadTarget) as info:
        parse_target(text)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, SmbFatal)  # exit 2


def test_user_forms() -> None:
    assert split_user("CORP\\jdoe") == ("CORP", "jdoe")
    assert split_user("CORP/jdoe") == ("CORP", "jdoe")
    assert split_user("jdoe@CORP.EXAMPLE") == (None, "jdoe@CORP.EXAMPLE")


def test_password_sources_in_order(tmp_path: Path) -> None:
    env = {PASSWORD_ENV: "from-env"}
    assert credentials("CORP\\jdoe", environ=env) == SmbCredentials("jdoe", "CORP", "from-env")
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        return "typed"

    assert credentials("jdoe", environ={}, prompt=prompt).password == "typed"
    assert asked == ["SMB password for jdoe: "]
    auth = tmp_path / "auth"
    auth.write_text("# smbclient format\nusername = filed\npassword = from-file\ndomain = CORP\n")
    auth.chmod(0o600)
    got = credentials(None, auth_file=str(auth), environ=env)
    assert (got.user, got.domain, got.password) == ("filed", "CORP", "from-file")
    assert got.account == "CORP\\filed"
    assert "from-file" not in repr(got)  # never printed by accident
    # The command line names the user; the file still gives the password.
    assert credentials("other", auth_file=str(auth), environ={}).user == "other"
    with pytest.raises(SmbFatal, match="no SMB password"):
        credentials("jdoe", environ={})
    with pytest.raises(SmbFatal, match="--smb-user"):
        credentials(None, environ=env)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_auth_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    auth = tmp_path / "auth"
    auth.write_text("username = u\npassword = p\n")
    auth.chmod(mode)
    with pytest.raises(SmbFatal, match="refused"):
        credentials(None, auth_file=str(auth), environ={})


def test_auth_file_bad_line_names_it(tmp_path: Path) -> None:
    auth = tmp_path / "auth"
    auth.write_text("username = u\npasswd: p\n")
    auth.chmod(0o600)
    with pytest.raises(SmbFatal, match="line 2"):
        credentials(None, auth_file=str(auth), environ={})


# ---- a real server ---------------------------------------------------------------------------


def _creds(server: SmbServer, password: str | None = None) -> SmbCredentials:
    return SmbCredentials(server.user, None, password or server.password)


@pytest.fixture(scope="module")
def session(smb_server: SmbServer) -> Iterator[SmbSession]:
    target = parse_target(smb_server.url())
    with SmbSession(target, _creds(smb_server), SmbOptions(timeout=10)) as s:
        yield s


def _files(share: SmbShare, top: str = "") -> tuple[list[SmbEntry], list[SmbProblem]]:
    files: list[SmbEntry] = []
    problems: list[SmbProblem] = []
    for item in share.walk(top):
        (files if isinstance(item, SmbEntry) else problems).append(item)
    return files, problems


def test_walk_sees_the_tree_as_on_disk(session: SmbSession) -> None:
    share = session.share("fixtures")
    files, problems = _files(share)
    assert problems == []
    local = _local_by_inode()
    # Samba's file id is the inode: the cache can tell a file from its replacement.
    assert sorted(f.file_id for f in files) == sorted(local)
    for f in files:
        rel, st = local[f.file_id]
        assert f.size == st.st_size and abs(f.mtime - st.st_mtime) < 1e-3
        # A name Windows cannot hold (':' in a Maildir name) is shown mangled by Samba.
        assert f.path == str(rel).replace("/", "\\") or ":" in rel.name
    assert [f.path for f in files] == sorted(f.path for f in files) or len(files) > 1


def _local_by_inode() -> dict[int, tuple[Path, os.stat_result]]:
    """fixtures/ on disk: inode -> (path inside fixtures/, stat)."""
    out = {}
    for folder, _, names in os.walk(REPO / "fixtures"):
        for name in names:
            path = Path(folder, name)
            out[path.stat().st_ino] = (path.relative_to(REPO / "fixtures"), path.stat())
    return out


def test_read_many_gives_the_bytes_on_disk_in_few_round_trips(session: SmbSession) -> None:
    share = session.share("fixtures")
    files, _ = _files(share)
    before = share.requests
    got = dict(share.read_many(files))
    assert all(not isinstance(v, SmbReadError) for v in got.values()), got
    local = _local_by_inode()
    for entry, data in got.items():
        assert data == (REPO / "fixtures" / local[entry.file_id][0]).read_bytes()
    # One compound request per file below the first read's size (1 MiB).
    small = sum(1 for f in files if f.size <= 1 << 20)
    assert share.requests - before <= small + 4 * (len(files) - small)


def test_read_with_limit_and_stream(session: SmbSession) -> None:
    share = session.share("fixtures")
    files, _ = _files(share)
    big = max(files, key=lambda f: f.size)
    local = (REPO / "fixtures" / _local_by_inode()[big.file_id][0]).read_bytes()
    assert share.read(big, limit=100) == local[:100]
    with share.open(big) as stream:
        assert stream.read(10) == local[:10]
        stream.seek(5)
        assert stream.read() == local[5:]


def test_folder_without_permission_is_listed_and_the_walk_goes_on(session: SmbSession) -> None:
    files, problems = _files(session.share("private"))
    assert {f.path for f in files} == {"world.txt", "mine.txt", "open\\readme.txt"}
    assert problems == [SmbProblem("locked", "cannot list folder: permission denied",
                                    unlisted=True)]
    assert set(PRIVATE_FILES) - {f.path.replace("\\", "/") for f in files} == {
        "locked/inside.txt"}


def test_exposure_and_owner_from_the_dacl(smb_server: SmbServer, session: SmbSession) -> None:
    share = session.share("private")
    world = smbacl.parse(share.security("world.txt"))
    mine = smbacl.parse(share.security("mine.txt"))
    assert world.exposed and world.readers == ("Everyone",)
    assert "everyone in the domain" in world.note
    assert not mine.exposed
    lsa = LsaClient(parse_target(smb_server.url()), _creds(smb_server), SmbOptions())
    try:
        # One SID the server does not know among those it does: None for it alone.
        unknown = "S-1-5-21-1-2-3-99999"
        names = lsa.names([mine.owner or "", smbacl.EVERYONE, unknown, "S-1-22-1-0"])
        again = lsa.names(["S-1-5-18"])  # a second call on the same pipe and policy
    finally:
        lsa.close()
    assert names[mine.owner or ""] == f"MFATESTSRV\\{smb_server.user}"
    assert names[smbacl.EVERYONE] == "Everyone"
    assert names[unknown] is None
    assert names["S-1-22-1-0"] == "Unix User\\root"
    assert again == {"S-1-5-18": "NT Authority\\SYSTEM"}


def test_share_enumeration_leaves_administrative_shares_out(smb_server: SmbServer,
                                                           session: SmbSession) -> None:
    shares = list_shares(session)
    assert list_shares(session) == shares  # the pipe is opened and closed each time
    take, left = wanted(shares)
    assert {s.name for s in take} == {"fixtures", "private", "sealed", "scratch", "bulk", "broken",
                                      "dfsroot", "dfslinks"}
    assert {s.name: why for s, why in left} == {
        "C$": "administrative share, scanned only when named", "IPC$": "not a disk share"}


def test_encrypted_share_and_required_encryption(smb_server: SmbServer,
                                                 session: SmbSession) -> None:
    sealed = session.share("sealed")
    assert sealed.encrypted and not session.share("fixtures").encrypted
    files, _ = _files(sealed)
    assert sealed.read(files[0]) == b"read only over an encrypted session\n"
    target = parse_target(smb_server.url())
    with SmbSession(target, _creds(smb_server), SmbOptions(require_encryption=True)) as strict:
        assert strict.encrypted and strict.share("fixtures").encrypted


def test_fatal_errors_say_which_in_one_line(smb_server: SmbServer, session: SmbSession) -> None:
    target = parse_target(smb_server.url())
    with pytest.raises(SmbFatal, match="logon failed for mfaleaks-smbtest") as info:
        SmbSession(target, _creds(smb_server, "wrong"), SmbOptions(timeout=10))
    from smbserver import free_port

    closed = SmbTarget("127.0.0.1", free_port())
    with pytest.raises(SmbFatal, match="server unreachable"):
        SmbSession(closed, _creds(smb_server), SmbOptions(timeout=5))
    with pytest.raises(SmbFatal, match="no such share"):
        session.share("nosuchshare")
    messages = [str(info.value)]
    assert all("\n" not in m and smb_server.password not in m for m in messages)


def test_share_modes_never_block_other_users(smb_server: SmbServer,
                                             session: SmbSession) -> None:
    _scratch_file(smb_server, "inuse.txt", "being edited\n")
    share = session.share("scratch")
    entry = next(f for f in _files(share)[0] if f.path == "inuse.txt")
    with share.open(entry):
        # Another user opens it to write and delete while the scan holds it.
        other = _raw_open(smb_server, "inuse.txt", access=0x40000000 | 0x00010000, share_mode=0x7)
        other.close()


def test_file_locked_by_another_user_is_an_error_not_a_stop(smb_server: SmbServer,
                                                            session: SmbSession) -> None:
    _scratch_file(smb_server, "locked.txt", "exclusive\n")
    _scratch_file(smb_server, "free.txt", "free\n")
    share = session.share("scratch")
    entries = {f.path: f for f in _files(share)[0]}
    holder = _raw_open(smb_server, "locked.txt", access=0x80000000, share_mode=0)
    try:
        got = dict(share.read_many([entries["locked.txt"], entries["free.txt"]]))
    finally:
        holder.close()
    assert isinstance(got[entries["locked.txt"]], SmbReadError)
    assert str(got[entries["locked.txt"]]) == "locked by another user (sharing violation)"
    assert got[entries["free.txt"]] == b"free\n"


def test_file_replaced_since_listing_is_not_read(smb_server: SmbServer,
                                                 session: SmbSession) -> None:
    folder = smb_server.shares["scratch"]
    (folder / "swap.txt").write_text("listed\n")
    share = session.share("scratch")
    entry = next(f for f in _files(share)[0] if f.path == "swap.txt")
    (folder / "new.tmp").write_text("swapped in\n")
    os.replace(folder / "new.tmp", folder / "swap.txt")
    with pytest.raises(SmbReadError, match="replaced since the folder was listed"):
        share.read(entry)


def test_a_server_that_stops_answering_times_out(smb_server: SmbServer) -> None:
    target = parse_target(smb_server.url())
    with SmbSession(target, _creds(smb_server), SmbOptions(timeout=1)) as s:
        share = s.share("fixtures")
        entry = _files(share)[0][0]
        assert smb_server.process is not None
        os.killpg(smb_server.process.pid, signal.SIGSTOP)
        try:
            got = dict(share.read_many([entry]))
            # The session is given up: the next request fails at once, without a wait.
            after = dict(share.read_many([entry]))
            listing = list(share.walk())
        finally:
            os.killpg(smb_server.process.pid, signal.SIGCONT)
    assert str(got[entry]) == "the server did not answer in time (--smb-timeout)"
    assert str(after[entry]) == "connection to the server lost"
    assert listing == [SmbProblem("", "cannot list folder: connection to the server lost",
                                  unlisted=True)]


def _scratch_file(server: SmbServer, name: str, text: str) -> None:
    """A file of the scratch share that the share user owns (and so may write)."""
    path = server.shares["scratch"] / name
    path.write_text(text)
    shutil.chown(path, user=server.user)


def _raw_open(server: SmbServer, path: str, access: int, share_mode: int) -> _Held:
    """Another user's open of a file of the scratch share, through a session of its own."""
    from smbprotocol.connection import Connection
    from smbprotocol.open import Open
    from smbprotocol.session import Session
    from smbprotocol.tree import TreeConnect

    conn = Connection(uuid.uuid4(), server.host, server.port)
    conn.connect(timeout=10)
    session = Session(conn, server.user, server.password)
    session.connect()
    tree = TreeConnect(session, f"\\\\{server.host}\\scratch")
    tree.connect()
    handle = Open(tree, path)
    handle.create(2, access, 0x80, share_mode, 1, 0x40)
    return _Held(conn, handle)


class _Held:
    def __init__(self, conn: object, handle: object) -> None:
        self._conn, self._handle = conn, handle

    def close(self) -> None:
        self._handle.close()  # type: ignore[attr-defined]
        self._conn.disconnect()  # type: ignore[attr-defined]


def test_a_server_without_qfid_is_asked_the_file_id_apart(session: SmbSession) -> None:
    """Samba answers the QFid create context; a server that does not makes the client fall
    back to a QUERY_INFO in the compound. Both give the bytes and check the file id."""
    share = session.share("fixtures")
    files, _ = _files(share)
    with_qfid = dict(share.read_many(files))
    share._qfid = False  # as after a CREATE answer without the context
    try:
        without = dict(share.read_many(files))
    finally:
        share._qfid = True
    assert with_qfid == without
    assert all(isinstance(v, bytes) for v in without.values())


def test_reads_in_flight_survive_listing_and_permission_requests(session: SmbSession) -> None:
    """A read_many paused with compounds in flight (a worker scanning one file while the
    next are read) while the same connection lists a folder, asks a security descriptor
    and streams a file through smbprotocol: the connection goes back and forth between
    the struct channel and smbprotocol, and every file still comes whole."""
    share = session.share("fixtures")
    files, _ = _files(share)
    local = _local_by_inode()
    reads = share.read_many(files)
    first, data = next(reads)
    assert data == (REPO / "fixtures" / local[first.file_id][0]).read_bytes()
    assert _files(share)[0] == files
    assert smbacl.parse(share.security(files[1].path)).owner
    with share.open(files[2]) as stream:
        assert stream.read() == (REPO / "fixtures" / local[files[2].file_id][0]).read_bytes()
    rest = dict(reads)
    assert len(rest) == len(files) - 1
    for entry, got in rest.items():
        assert got == (REPO / "fixtures" / local[entry.file_id][0]).read_bytes(), entry.path


def test_files_of_several_mib_are_read_whole(smb_server: SmbServer,
                                            session: SmbSession) -> None:
    """Up to 4 MiB a file is read by one compound of 1 MiB READs; past that the rest is read
    by an open of its own."""
    sizes = {"mib15.bin": 3 << 19, "mib3.bin": 3 << 20, "mib4.bin": 4 << 20,
             "mib5.bin": (5 << 20) + 7}
    for name, size in sizes.items():
        (smb_server.shares["scratch"] / name).write_bytes(os.urandom(size))
    share = session.share("scratch")
    files = [f for f in _files(share)[0] if f.path in sizes]
    assert len(files) == len(sizes)
    before = share.requests
    for entry, data in share.read_many(files):
        assert data == (smb_server.shares["scratch"] / entry.path).read_bytes(), entry.path
    # Three compounds for the files up to 4 MiB; the 5 MiB one adds an open, reads, a close.
    assert share.requests - before <= 3 + 1 + 3 + 2
    assert share.read(files[-1], limit=(1 << 20) + 3) == \
        (smb_server.shares["scratch"] / files[-1].path).read_bytes()[:(1 << 20) + 3]


def test_a_session_that_must_encrypt_reads_every_file(smb_server: SmbServer) -> None:
    target = parse_target(smb_server.url())
    with SmbSession(target, _creds(smb_server), SmbOptions(require_encryption=True)) as strict:
        share = strict.share("fixtures")
        files, _ = _files(share)
        local = _local_by_inode()
        got = dict(share.read_many(files))
    for entry, data in got.items():
        assert data == (REPO / "fixtures" / local[entry.file_id][0]).read_bytes(), entry.path


def test_a_folder_of_more_names_than_one_listing_holds(smb_server: SmbServer,
                                                       session: SmbSession) -> None:
    """A folder is listed in one compound (open, two QUERY_DIRECTORY, close) when its
    entries fit; past that it is listed again to the end. Both give every name once."""
    folder = smb_server.shares["scratch"] / "crowded"
    folder.mkdir(exist_ok=True)
    folder.chmod(0o755)
    names = {f"a-rather-long-file-name-to-fill-the-listing-{i:05d}.txt" for i in range(2500)}
    for name in names:
        (folder / name).write_bytes(b"")
    (folder / "few").mkdir(exist_ok=True)
    (folder / "few").chmod(0o755)
    (folder / "few" / "one.txt").write_bytes(b"1")
    share = session.share("scratch")
    files, problems = _files(share, "crowded")
    assert problems == []
    assert sorted(f.path for f in files) == sorted(
        [f"crowded\\{n}" for n in names] + ["crowded\\few\\one.txt"])


class _Tamperer:
    """A TCP relay between the client and smbd that, once told, flips the last byte of
    every answer that starts with a CREATE (a file's compound): what a man in the middle
    would do."""

    def __init__(self, server: SmbServer) -> None:
        import socket
        import threading

        self.tamper = False
        self._listen = socket.create_server(("127.0.0.1", 0))
        self.port = self._listen.getsockname()[1]
        self._server = (server.host, server.port)
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        import socket
        import threading

        client, _ = self._listen.accept()
        upstream = socket.create_connection(self._server)
        threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
        self._answers(upstream, client)

    @staticmethod
    def _pump(src: object, dst: object) -> None:
        while data := src.recv(65536):  # type: ignore[attr-defined]
            dst.sendall(data)  # type: ignore[attr-defined]

    def _answers(self, src: object, dst: object) -> None:
        def exactly(n: int) -> bytes:
            out = b""
            while len(out) < n:
                part = src.recv(n - len(out))  # type: ignore[attr-defined]
                if not part:
                    raise EOFError
                out += part
            return out

        try:
            while True:
                head = exactly(4)
                frame = bytearray(exactly(int.from_bytes(head, "big")))
                if self.tamper and frame[:4] == b"\xfeSMB" and frame[12] == 0x05:
                    frame[-1] ^= 0x01
                dst.sendall(head + bytes(frame))  # type: ignore[attr-defined]
        except (EOFError, OSError):
            pass

    def close(self) -> None:
        self._listen.close()


def test_an_answer_changed_on_the_way_is_refused(smb_server: SmbServer) -> None:
    """The struct channel checks every answer's signature as smbprotocol would: an answer
    changed between smbd and the client is not taken for the file's bytes."""
    relay = _Tamperer(smb_server)
    try:
        target = SmbTarget("127.0.0.1", relay.port)
        with SmbSession(target, _creds(smb_server), SmbOptions(timeout=10)) as s:
            share = s.share("fixtures")
            files, _ = _files(share)
            assert all(isinstance(v, bytes) for _, v in share.read_many(files[:2]))
            relay.tamper = True
            got = dict(share.read_many(files[2:5]))
    finally:
        relay.close()
    first = got[files[2]]
    assert isinstance(first, SmbReadError) and "signature does not check" in str(first)
    assert all(isinstance(v, SmbReadError) for v in got.values())


def test_a_share_list_longer_than_one_fragment(tmp_path: Path) -> None:
    """srvsvc's answer for 80 shares (~8 KB) comes in several 4,280-byte fragments: every
    share is listed (impacket's listing, and lsa.py's single fragment reader, would not
    have needed this; a server of a big organisation has hundreds)."""
    from smbserver import running_server

    extra = {f"team-share-with-a-long-name-{i:03d}": tmp_path for i in range(80)}
    with running_server(extra) as server:
        target = parse_target(server.url())
        with SmbSession(target, _creds(server), SmbOptions(timeout=10)) as s:
            names = {share.name for share in list_shares(s)}
    assert set(extra) <= names and "fixtures" in names


def test_srvsvc_stubs_are_packed_as_ndr_and_a_cut_answer_is_refused() -> None:
    stub = enum_request("fs1")
    # ServerName pointer + \\fs1 with its NUL (6 units, 12 bytes) as a conformant
    # varying string, the level, switch and container pointer, an empty container, the size,
    # the resume handle's pointer and value.
    assert len(stub) == 4 + 12 + 12 + 12 + 8 + 4 + 8
    assert stub[16:28] == "\\\\fs1\0".encode("utf-16-le")

    def string(text: str) -> bytes:
        data = (text + "\0").encode("utf-16-le")
        n = len(data) // 2
        return struct.pack("<III", n, 0, n) + data + b"\0" * (-len(data) % 4)

    answer = (struct.pack("<III", 1, 1, 0x20000) + struct.pack("<II", 2, 0x20004)
              + struct.pack("<I", 2) + struct.pack("<III", 0x20008, 0, 0x2000C)
              + struct.pack("<III", 0x20010, 0x80000003, 0)  # IPC$, special; no remark
              + string("docs") + string("Team documents") + string("IPC$")
              + struct.pack("<I", 2) + struct.pack("<I", 0) + struct.pack("<I", 0))
    shares, resume, status = parse_enum(answer)
    assert shares == [ShareInfo("docs", True, "Team documents"), ShareInfo("IPC$", False, "")]
    assert (resume, status) == (0, 0)
    with pytest.raises(RpcError):
        parse_enum(answer[:40])


def test_lsa_stubs_are_packed_as_ndr_and_a_cut_answer_is_refused() -> None:
    count, body = sid_bytes("S-1-5-21-7-8")
    assert count == 3
    assert body == bytes([1, 3, 0, 0, 0, 0, 0, 5]) + (21).to_bytes(4, "little") + \
        (7).to_bytes(4, "little") + (8).to_bytes(4, "little")
    stub = lookup_request(b"\x00" * 20, ["S-1-1-0"])
    # handle, Entries 1 + pointer, conformance 1 + one pointer, the SID (count 1 first),
    # empty TranslatedNames, level (16 bits + 2 pad), MappedCount
    assert len(stub) == 20 + 8 + 8 + 4 + 12 + 8 + 4 + 4
    with pytest.raises(RpcError):
        parse_lookup(b"\x01\x00\x02\x00\x01\x00\x00\x00", 1)  # a domain list cut short
    with pytest.raises(ValueError):
        sid_bytes("not a sid")
