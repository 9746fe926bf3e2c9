"""A read-only SMB 2/3 client for the scan: one session per server, walk, read, permissions.

Built on smbprotocol's messages rather than its path-level `smbclient` layer, for
three reasons measured or needed here:
- a small file is read in one round trip: CREATE (with its file id) + READ + CLOSE
  go out as one compound request, a folder is listed in one too, and several
  compounds are in flight at once (`read_many`, `walk`), where open/read/close
  cost three; those compounds go through the struct channel (channel.py), not
  smbprotocol's per-message objects (~1.2 ms of CPU per file there, ~0.14 here);
- every request waits at most --smb-timeout seconds (smbclient's layer waits forever);
- symbolic links and junctions are reported, not followed, unless asked.

A session is used by one thread at a time (the channel and smbprotocol take
turns on its connection). Files are opened for reading only, with
FILE_SHARE_READ|WRITE|DELETE so no user of the share is ever blocked by the
scan; nothing is written. The server still records the access time of a file
read (Windows updates it lazily, Samba per its file system's atime policy);
docs/smb.md says what the server sees.
"""

from __future__ import annotations

import contextlib
import struct
import uuid
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from smbprotocol.connection import Connection
from smbprotocol.exceptions import (
    AccessDenied,
    BadNetworkName,
    EndOfFile,
    LogonFailure,
    MoreProcessingRequired,
    NoMoreFiles,
    SMBAuthenticationError,
    SMBConnectionClosed,
    SMBException,
    SMBResponseException,
)
from smbprotocol.file_info import FileInformationClass, FileInternalInformation
from smbprotocol.open import (
    CreateDisposition,
    CreateOptions,
    FileAttributes,
    ImpersonationLevel,
    Open,
    ShareAccess,
    SMB2QueryInfoRequest,
    SMB2QueryInfoResponse,
)
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect

from mfaleaks.sources.smb import wire
from mfaleaks.sources.smb.auth import SmbCredentials
from mfaleaks.sources.smb.channel import Channel, ChannelError
from mfaleaks.sources.smb.url import SmbFatal, SmbTarget, join, url_of

DEFAULT_TIMEOUT = 30.0
PIPELINE = 16  # small files whose compound requests are in flight at once
# ... sent again in rounds of this many, in one write, once as many answers are taken:
# between PIPELINE - REFILL and PIPELINE stay in flight.
REFILL = 8
# Credits asked for once, after the logon (an ECHO): PIPELINE compounds of 3-4 messages
# each, plus the 1 MiB reads of a bigger file (16 credits each). Every compound then asks
# back what it spends, so the window stays this wide.
CREDITS_WANTED = 128
CHUNK = 1 << 20  # read size past the first request (credits: 16 per MiB)
ONE_COMPOUND = 4 << 20  # files up to this size are read by one compound (CHUNK-sized READs)

ATTR_DIRECTORY = 0x10
ATTR_REPARSE = 0x400

# Read-only, and never in anyone's way: others may read, write, rename or delete the
# file while the scan holds it open.
SHARE_ALL = (ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE
             | ShareAccess.FILE_SHARE_DELETE)
READ_FILE = 0x1 | 0x80  # FILE_READ_DATA | FILE_READ_ATTRIBUTES
LIST_DIR = 0x1 | 0x80  # FILE_LIST_DIRECTORY | FILE_READ_ATTRIBUTES
READ_CONTROL = 0x00020000
PIPE_ACCESS = 0x0012019F  # a pipe's data read and written, attributes, EAs, read control
STATUS_END_OF_FILE = 0xC0000011
STATUS_NO_MORE_FILES = 0x80000006
_LIST_FIRST, _LIST_NEXT = 128 * 1024, 64 * 1024  # a folder's listing: ~800 entries, then ~400
_LIST_CREDITS = 1 + 2 + 1 + 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# NTSTATUS codes read as a reason a user understands.
_REASONS = {
    0xC0000022: "permission denied",
    0xC0000043: "locked by another user (sharing violation)",
    0xC0000034: "no longer exists",
    0xC000003A: "folder no longer exists",
    0xC0000056: "being deleted",
    0xC0000054: "locked by another user (byte-range lock)",
    0xC000026E: "volume dismounted",
    0xC0000257: "DFS referral could not be followed (path not covered)",
    0xC00000C9: "the share went away (network name deleted)",
    0xC0000128: "the handle was closed by the server",
    0x8000002D: "symbolic link or junction (not followed without --follow-symlinks)",
    0xC0000033: "name not valid on this server",
}


@dataclass(frozen=True)
class SmbOptions:
    timeout: float = DEFAULT_TIMEOUT
    require_encryption: bool = False  # --smb-encrypt: refuse a session that is not encrypted
    follow_symlinks: bool = False


@dataclass(frozen=True, slots=True)
class SmbEntry:
    """One file or folder as its folder's listing tells it (no extra request)."""

    path: str  # inside the share, backslash-separated
    size: int
    change_ns: int  # ChangeTime, ns since 1970: moves on any write or metadata change
    mtime_ns: int  # LastWriteTime, ns since 1970
    file_id: int  # the server's file index (the inode on Samba)
    attributes: int

    @property
    def name(self) -> str:
        return self.path.rsplit("\\", 1)[-1]

    @property
    def mtime(self) -> float:
        sec, nsec = divmod(self.mtime_ns, 1_000_000_000)
        return sec + nsec * 1e-9

    @property
    def is_dir(self) -> bool:
        return bool(self.attributes & ATTR_DIRECTORY)

    @property
    def is_reparse(self) -> bool:
        """A symbolic link, junction or other reparse point (Windows servers mark them)."""
        return bool(self.attributes & ATTR_REPARSE)

    @property
    def key(self) -> tuple[int, int, int]:
        """(size, change time, file id): the cache's test that a file did not change."""
        return self.size, self.change_ns, self.file_id


@dataclass(frozen=True, slots=True)
class SmbProblem:
    """Something under the share that could not be listed or read; the walk goes on."""

    path: str
    reason: str
    unlisted: bool = False  # a folder the walk could not list: its files are not known


@dataclass(frozen=True, slots=True)
class DfsLink:
    """A DFS link of a DFS share (msdfs root; Samba lists it as a folder with a reparse
    point): the scan asks the server where it leads (SmbSession.referral) and walks there."""

    path: str


@dataclass(frozen=True, slots=True)
class FolderDone:
    """The walk has given every entry of this folder (walk(..., marks=True))."""

    path: str


class SmbReadError(OSError):
    """A file could not be opened or read: its reason is for the report."""


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where a file's compound has what: CREATE [+ QUERY_INFO], READs, CLOSE."""

    qfid: bool  # the file id comes in the CREATE's QFid context (else a QUERY_INFO)
    opening: int  # messages before the first READ
    reads: int
    chunk: int  # the length of each READ but the last


@dataclass(frozen=True, slots=True)
class _Sent:
    ids: list[int]  # message ids, in the compound's order
    layout: _Layout


def _want(entry: SmbEntry, limit: int | None) -> int:
    return entry.size if limit is None else min(entry.size, limit)


class _Connection(Connection):  # type: ignore[misc]
    """Every wait for a response is bounded (smbprotocol's default is to wait forever)."""

    request_timeout: float | None = None
    follow_links = False
    # The logon's SESSION_SETUP answer that asked for more (NTLM's CHALLENGE is in it: the
    # names the server answers to, dfs.py).
    logon_answer = b""

    def receive(self, request: Any, wait: bool = True, timeout: float | None = None,
                resolve_symlinks: bool = True) -> Any:
        try:
            return super().receive(request, wait=wait,
                                   timeout=self.request_timeout if timeout is None else timeout,
                                   resolve_symlinks=resolve_symlinks and self.follow_links)
        except MoreProcessingRequired as exc:
            self.logon_answer = bytes(exc.header["data"].get_value())
            raise
        except SMBException as exc:
            if "timeout" in str(exc).lower():
                # A server that let one request time out is taken as gone: the requests
                # after it fail at once instead of each waiting --smb-timeout.
                with contextlib.suppress(Exception):
                    self.disconnect(close=False)
            raise


def reason_of(exc: BaseException) -> str:
    """One line for the report; no server text is quoted beyond the status name."""
    if isinstance(exc, SMBResponseException):
        return reason_of_status(int(exc.status))
    if isinstance(exc, SmbReadError | ChannelError):
        return str(exc)
    text = str(exc).lower()
    if "timeout" in text:
        return "the server did not answer in time (--smb-timeout)"
    if isinstance(exc, SMBConnectionClosed | OSError) or "connection" in text:
        return "connection to the server lost"
    return f"SMB error: {type(exc).__name__}: {_short(exc)}"


def reason_of_status(status: int) -> str:
    return _REASONS.get(status) or f"server refused: {_status_name(status)}"


def _status_name(status: int) -> str:
    from smbprotocol.header import NtStatus

    for name in dir(NtStatus):
        if name.startswith("STATUS_") and getattr(NtStatus, name) == status:
            return name
    return f"NTSTATUS 0x{status:08X}"


def _ns(value: Any) -> int:
    """A listing's datetime (smbprotocol converts FILETIME) -> ns since 1970."""
    if isinstance(value, datetime):
        return (value - _EPOCH) // _MICROSECOND * 1000
    return int(value)


_MICROSECOND = timedelta(microseconds=1)


class SmbSession:
    """One authenticated session with one server; its shares come from `share()`."""

    def __init__(self, target: SmbTarget, creds: SmbCredentials, options: SmbOptions) -> None:
        self.target = target
        self.options = options
        where = url_of(target.host, target.port, "")
        conn = _Connection(uuid.uuid4(), target.server, target.port, require_signing=True)
        conn.request_timeout = options.timeout
        conn.follow_links = options.follow_symlinks
        try:
            conn.connect(timeout=options.timeout)
        except (ValueError, OSError, SMBException) as exc:
            raise SmbFatal(f"{where}: server unreachable ({_short(exc)})") from exc
        session = Session(
            conn,
            username=creds.account or None,
            password=creds.password,
            require_encryption=options.require_encryption,
            auth_protocol="kerberos" if creds.kerberos else "negotiate",
        )
        try:
            session.connect()
        except (LogonFailure, SMBAuthenticationError) as exc:
            _quiet_disconnect(conn)
            who = creds.account or "the Kerberos ticket's user"
            raise SmbFatal(f"{where}: logon failed for {who} (wrong user or password)") from exc
        except (SMBException, ValueError, OSError) as exc:
            _quiet_disconnect(conn)
            raise SmbFatal(f"{where}: session setup failed ({reason_of(exc)})") from exc
        except Exception as exc:  # spnego: no Kerberos ticket, unknown realm
            _quiet_disconnect(conn)
            raise SmbFatal(f"{where}: authentication failed ({type(exc).__name__}: "
                           f"{_short(exc)})") from exc
        self._conn = conn
        self._session = session
        self._shares: dict[str, SmbShare] = {}
        self._ipc_tree: TreeConnect | None = None
        self._widen()
        self.channel = Channel(conn, session, options.timeout)

    def _widen(self) -> None:
        """Ask for credits enough to keep PIPELINE files in flight (smbprotocol's public
        echo; a server that grants fewer only narrows the pipeline: read_many waits for
        credits)."""
        have = self._conn.sequence_window["high"] - self._conn.sequence_window["low"]
        if have < CREDITS_WANTED:
            with contextlib.suppress(SMBException, ValueError, OSError):
                self._conn.echo(sid=self._session.session_id, timeout=self.options.timeout,
                                credit_request=CREDITS_WANTED - have)

    @property
    def encrypted(self) -> bool:
        return bool(self._session.encrypt_data)

    @property
    def logon_answer(self) -> bytes:
        """The server's SESSION_SETUP answer that carried NTLM's CHALLENGE (b"" with
        Kerberos)."""
        return bytes(self._conn.logon_answer)

    def share(self, name: str) -> SmbShare:
        """A tree connect to one share; SmbFatal naming it when the server has no such share
        or refuses it."""
        found = self._shares.get(name.lower())
        if found is not None:
            return found
        self.channel.to_slow()
        tree = TreeConnect(self._session, f"\\\\{self.target.server}\\{name}")
        where = url_of(self.target.host, self.target.port, name)
        try:
            tree.connect(require_secure_negotiate=True)
        except BadNetworkName as exc:
            raise SmbFatal(f"{where}: no such share on the server") from exc
        except AccessDenied as exc:
            raise SmbFatal(f"{where}: access to the share denied") from exc
        except (SMBException, ValueError, OSError) as exc:
            raise SmbFatal(f"{where}: cannot open the share ({reason_of(exc)})") from exc
        if self.options.require_encryption and not (tree.encrypt_data or self.encrypted):
            with contextlib.suppress(Exception):
                tree.disconnect()
            raise SmbFatal(f"{where}: the server does not encrypt this share (--smb-encrypt)")
        share = SmbShare(self.target.host, self.target.port, name, tree, self.options,
                         self.channel)
        self._shares[name.lower()] = share
        return share

    def _ipc(self) -> TreeConnect:
        if self._ipc_tree is None:
            tree = TreeConnect(self._session, f"\\\\{self.target.server}\\IPC$")
            tree.connect()
            self._ipc_tree = tree
        return self._ipc_tree

    def pipe(self, name: str) -> Open:
        """A named pipe of the server's IPC$ (lsa.py's lsarpc), open to write and read."""
        self.channel.to_slow()
        pipe = Open(self._ipc(), name)
        pipe.create(ImpersonationLevel.Impersonation, PIPE_ACCESS, 0,
                    ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE,
                    CreateDisposition.FILE_OPEN, 0)
        return pipe

    def referral(self, unc: str) -> list[str]:
        r"""Where a DFS path leads: the targets (\server\share[\path]) of the server's
        referral for \server\share\path ([MS-DFSC] FSCTL_DFS_GET_REFERRALS on IPC$),
        in the server's order; SMBException when it has none (a broken link)."""
        from smbprotocol.dfs import DFSReferralRequest, DFSReferralResponse
        from smbprotocol.ioctl import CtlCode, IOCTLFlags, SMB2IOCTLRequest, SMB2IOCTLResponse

        self.channel.to_slow()
        tree = self._ipc()
        ask = DFSReferralRequest()
        ask["request_file_name"] = unc
        ioctl = SMB2IOCTLRequest()
        ioctl["ctl_code"] = CtlCode.FSCTL_DFS_GET_REFERRALS
        ioctl["file_id"] = b"\xff" * 16
        ioctl["max_output_response"] = 56 * 1024
        ioctl["flags"] = IOCTLFlags.SMB2_0_IOCTL_IS_FSCTL
        ioctl["buffer"] = ask
        sent = self._conn.send(ioctl, sid=self._session.session_id, tid=tree.tree_connect_id)
        answer = SMB2IOCTLResponse()
        answer.unpack(wire.body(self._conn.receive(sent)))
        referral = DFSReferralResponse()
        referral.unpack(answer["buffer"].get_value())
        return [str(e.network_address) for e in referral["referral_entries"].get_value()
                if e.network_address]

    def shares(self) -> list[SmbShare]:
        """The shares connected so far."""
        return list(self._shares.values())

    def close(self) -> None:
        with contextlib.suppress(Exception):  # the LOGOFF goes through smbprotocol
            self.channel.to_slow()
        _quiet_disconnect(self._conn)

    def __enter__(self) -> SmbSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _quiet_disconnect(conn: Connection) -> None:
    with contextlib.suppress(Exception):
        conn.disconnect(close=True)


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


class SmbShare:
    """One share: list its folders, read its files, ask who may read them."""

    def __init__(self, host: str, port: int, name: str, tree: TreeConnect,
                 options: SmbOptions, channel: Channel) -> None:
        self.host, self.port, self.name = host, port, name
        self._tree = tree
        self._channel = channel
        self._conn: Connection = tree.session.connection
        self._options = options
        self.requests = 0  # round trips made (the bench reports them per file)
        self._qfid = True  # until the server shows it does not answer the QFid context

    @property
    def encrypted(self) -> bool:
        return bool(self._tree.encrypt_data or self._tree.session.encrypt_data)

    @property
    def dfs(self) -> bool:
        """A DFS namespace (msdfs root): its reparse-point folders are DFS links."""
        return bool(self._tree.is_dfs_share)

    def url(self, path: str = "") -> str:
        return url_of(self.host, self.port, self.name, path)

    @property
    def lost(self) -> bool:
        """The session's connection is gone (a new session may read on)."""
        return self._channel.broken is not None or not self._conn.transport.connected

    def slow(self) -> None:
        """The connection back to smbprotocol (after the channel's compounds in flight)."""
        self._channel.to_slow()

    # ---- listing ---------------------------------------------------------------------------

    def stat_root(self, path: str) -> SmbEntry:
        """The entry a command line names inside the share (a folder or a file)."""
        handle = self._open(path, LIST_DIR, 0)
        try:
            info = self._query_internal(handle)
        finally:
            self._close(handle)
        return SmbEntry(path, int(handle.end_of_file or 0), _ns(handle.change_time),
                        _ns(handle.last_write_time), info, int(handle.file_attributes))

    def listdir(self, folder: str) -> list[SmbEntry]:
        """A folder's entries (not . and ..), sorted by name."""
        handle = self._open(folder, LIST_DIR, CreateOptions.FILE_DIRECTORY_FILE)
        out: list[SmbEntry] = []
        session = self._tree.session
        try:
            while True:
                query, _ = handle.query_directory(
                    "*", FileInformationClass.FILE_ID_FULL_DIRECTORY_INFORMATION, send=False)
                self.requests += 1
                sent = self._conn.send(query, session.session_id, self._tree.tree_connect_id)
                try:
                    data = wire.body(self._conn.receive(sent))
                except NoMoreFiles:
                    break
                # Parsed with struct: smbprotocol's entry objects cost more than the request.
                for name, size, change, write, file_id, attributes in \
                        wire.directory_entries(data):
                    if name not in (".", ".."):
                        out.append(SmbEntry(join(folder, name), size, change, write, file_id,
                                            attributes))
        finally:
            self._close(handle)
        out.sort(key=lambda e: e.path)
        return out

    def walk(
        self, top: str = "", skip: Callable[[SmbEntry], bool] | None = None,
        marks: bool = False,
    ) -> Iterator[SmbEntry | SmbProblem | FolderDone | DfsLink]:
        """Every file under top (depth first, sorted), and a problem for each folder or
        entry skipped. Never raises for one folder: the walk goes on with the next.
        marks: a FolderDone after each folder's entries, before the next listing is
        waited for (the scan hands a folder's files to the workers at once)."""
        follow = self._options.follow_symlinks
        seen: set[int] = set()
        stack = [top]
        # Folders whose listing compound is out: the next ones the walk pops (the top of the
        # stack), up to PIPELINE, so a folder's listing is mostly in when it is its turn.
        listing: dict[str, _Sent | SmbReadError] = {}
        try:
            while stack:
                folder = stack.pop()
                if not follow:
                    for ahead in [folder, *reversed(stack)]:
                        if len(listing) >= PIPELINE:
                            break
                        if ahead not in listing:
                            if ahead != folder and self._channel.credits() < _LIST_CREDITS:
                                break
                            listing[ahead] = self._send(*self._list_messages(ahead))
                    self._channel.flush()  # the server lists them while we give entries
                try:
                    entries = self._listed(folder, listing.pop(folder)) if not follow \
                        else self.listdir(folder)
                except Exception as exc:  # a folder: listed with its reason, the walk goes on
                    yield SmbProblem(folder, f"cannot list folder: {reason_of(exc)}", True)
                    continue
                yield from self._walk_entries(entries, skip, follow, seen, stack)
                if marks:
                    yield FolderDone(folder)
        finally:  # given up before the end: the answers still to come are dropped
            for sent in listing.values():
                if isinstance(sent, _Sent):
                    self._channel.forget(sent.ids)

    def _walk_entries(self, entries: list[SmbEntry], skip: Callable[[SmbEntry], bool] | None,
                      follow: bool, seen: set[int], stack: list[str],
                      ) -> Iterator[SmbEntry | SmbProblem | DfsLink]:
        """A folder's entries as the walk gives them; its subfolders go on the stack."""
        folders: list[str] = []
        dfs = self.dfs
        for entry in entries:
            if skip is not None and skip(entry):
                continue
            if entry.is_reparse and entry.is_dir and dfs:
                yield DfsLink(entry.path)  # (followed with or without --follow-symlinks)
            elif entry.is_reparse and not follow:
                yield SmbProblem(entry.path, "skipped: symbolic link or junction "
                                 "(not followed without --follow-symlinks)")
            elif entry.is_dir:
                if entry.file_id in seen and entry.file_id:
                    yield SmbProblem(entry.path, "skipped: folder already walked (a loop)")
                    continue
                if follow:
                    seen.add(entry.file_id)
                folders.append(entry.path)
            else:
                yield entry
        stack.extend(reversed(folders))

    def _list_messages(self, folder: str) -> tuple[list[wire.Raw], _Layout]:
        """One folder's listing in one compound: open it, two QUERY_DIRECTORY (the second
        says "no more files" unless the folder holds more than the first could), close."""
        # (no more than the server takes: SMB 2.0.2 servers, 64 KiB, refuse more)
        most = int(self._conn.max_transact_size or _LIST_NEXT)
        first = min(_LIST_FIRST, most)
        return [wire.create(folder, LIST_DIR, SHARE_ALL, options=wire.FILE_DIRECTORY_FILE),
                wire.query_directory(first, True),
                wire.query_directory(min(_LIST_NEXT, most), False), wire.close()], \
            _Layout(False, 1, 2, first)

    def _listed(self, folder: str, sent: _Sent | SmbReadError) -> list[SmbEntry]:
        """The entries of a folder whose listing compound was sent (not . and ..), sorted by
        name; a folder of more entries than the compound could hold is listed again."""
        if isinstance(sent, SmbReadError):
            raise sent
        answers = [self._channel.receive(mid) for mid in sent.ids]
        for i, (status, _) in enumerate(answers):
            if status and not (i == 2 and status == STATUS_NO_MORE_FILES):
                raise SmbReadError(reason_of_status(status))
        if answers[2][0] == 0:  # the second query found more: maybe more still
            return self.listdir(folder)
        out = [SmbEntry(join(folder, name), size, change, write, file_id, attributes)
               for name, size, change, write, file_id, attributes
               in wire.directory_entries(answers[1][1]) if name not in (".", "..")]
        out.sort(key=lambda e: e.path)
        return out

    # ---- reading ---------------------------------------------------------------------------

    def read(self, entry: SmbEntry, limit: int | None = None) -> bytes:
        """A file's bytes (up to limit), checked to be the file the listing saw."""
        for _, result in self.read_many([entry], limit):
            if isinstance(result, BaseException):
                raise result
            return result
        raise AssertionError("read_many yields one result per entry")

    def read_many(
        self, entries: Iterable[SmbEntry], limit: int | None = None,
    ) -> Generator[tuple[SmbEntry, bytes | SmbReadError], None, None]:
        """Read files with up to PIPELINE compound requests in flight: for a file up to
        ONE_COMPOUND bytes, one round trip that opens it (with its file id), reads it and
        closes it. Results come in the order given; a failure is returned for its file,
        never raised."""
        if self._options.follow_symlinks:
            yield from self._read_many_objects(entries, limit)
            return
        channel = self._channel
        pending: deque[tuple[SmbEntry, _Sent | SmbReadError]] = deque()
        try:
            for entry in entries:
                want = _want(entry, limit)
                messages, layout = self._messages(entry, want)
                need = sum(channel.charge(m) or 1 for m in messages)
                if pending and (len(pending) >= PIPELINE or channel.credits() < need):
                    # The queued compounds go out together; then REFILL answers are taken
                    # (while the server works on the rest) before the next round is queued.
                    # Short of credits, answers (which grant them) are waited for instead.
                    channel.flush()
                    while pending and (len(pending) > PIPELINE - REFILL
                                       or channel.credits() < need):
                        first, sent = pending.popleft()
                        yield first, self._finish(first, sent, _want(first, limit))
                pending.append((entry, self._send(messages, layout)))
            channel.flush()
            while pending:
                first, sent = pending.popleft()
                yield first, self._finish(first, sent, _want(first, limit))
        finally:  # given up before the end: the answers still to come are dropped
            for _, sent in pending:
                if isinstance(sent, _Sent):
                    channel.forget(sent.ids)

    def _messages(self, entry: SmbEntry, want: int) -> tuple[list[wire.Raw], _Layout]:
        """The compound of one file: CREATE (asking its file id in the QFid context, or,
        from a server that ignores it, with a QUERY_INFO after it), READs of CHUNK up to
        want (or ONE_COMPOUND, the rest read later), CLOSE."""
        chunk = max(1, min(CHUNK, int(self._conn.max_read_size)))
        first = [wire.create(entry.path, READ_FILE, SHARE_ALL, qfid=self._qfid)]
        if not self._qfid:
            first.append(wire.query_internal())
        reads = [wire.read(at, min(chunk, want - at))
                 for at in range(0, max(1, min(want, ONE_COMPOUND)), chunk)] or \
            [wire.read(0, 1)]
        return [*first, *reads, wire.close()], _Layout(self._qfid, len(first), len(reads),
                                                        chunk)

    def _send(self, messages: list[wire.Raw], layout: _Layout) -> _Sent | SmbReadError:
        try:
            self._channel.to_fast(CREDITS_WANTED)
            self.requests += 1
            return _Sent(self._channel.send(self._tree, messages), layout)
        except (ChannelError, SMBException, ValueError, OSError) as exc:
            return SmbReadError(reason_of(exc))

    def _finish(self, entry: SmbEntry, sent: _Sent | SmbReadError, want: int
                ) -> bytes | SmbReadError:
        if isinstance(sent, SmbReadError):
            return sent
        layout = sent.layout
        answers: list[tuple[int, bytes]] = []
        for mid in sent.ids:  # every answer is taken, whatever failed first
            try:
                answers.append(self._channel.receive(mid))
            except ChannelError as exc:
                return SmbReadError(str(exc))
        reads = answers[layout.opening : layout.opening + layout.reads]
        for i, (status, _) in enumerate(answers):
            is_read = layout.opening <= i < layout.opening + layout.reads
            if status and not (is_read and status == STATUS_END_OF_FILE):
                return SmbReadError(reason_of_status(status))
        try:
            create = answers[0][1]
            end = wire.created(create)[1]
            if layout.qfid:
                file_id = wire.disk_id(create)
                if file_id is None:  # the server ignores QFid: ask in a QUERY_INFO from now on
                    self._qfid = False
                    messages, again = self._messages(entry, want)
                    return self._finish(entry, self._send(messages, again), want)
            else:
                file_id = wire.internal_id(answers[1][1])
            parts: list[bytes] = []
            for status, body in reads:
                part = wire.read_data(body) if status == 0 else b""
                parts.append(part)
                if len(part) < layout.chunk:  # the end of the file (or of what was asked)
                    break
            data = b"".join(parts)
        except (ValueError, IndexError, struct.error) as exc:
            return SmbReadError(f"malformed answer from the server ({exc})")
        if entry.file_id and file_id != entry.file_id:
            return SmbReadError("replaced since the folder was listed; not read")
        if len(data) < want and end > len(data):
            try:
                data += self._read_rest(entry.path, len(data), want)
            except Exception as exc:
                return SmbReadError(reason_of(exc))
        return data[:want]

    def _read_many_objects(
        self, entries: Iterable[SmbEntry], limit: int | None,
    ) -> Iterator[tuple[SmbEntry, bytes | SmbReadError]]:
        """read_many through smbprotocol's own messages, which it can send again to the
        target of a symbolic link (--follow-symlinks): open, file id, read, close in one
        compound, PIPELINE of them in flight."""
        pending: deque[tuple[SmbEntry, Any]] = deque()
        for entry in entries:
            length = max(1, min(_want(entry, limit), CHUNK, int(self._conn.max_read_size)))
            need = 3 + (length - 1) // 65536 + 1
            while pending and (len(pending) >= PIPELINE or self._credits() < need):
                first, sent = pending.popleft()
                yield first, self._finish_objects(first, sent, limit)
            pending.append((entry, self._send_objects(entry, length)))
        for entry, sent in pending:
            yield entry, self._finish_objects(entry, sent, limit)

    def _credits(self) -> int:
        window = self._conn.sequence_window
        return int(window["high"] - window["low"])

    def _send_objects(self, entry: SmbEntry, length: int) -> Any:
        try:
            self._channel.to_slow()
            handle = Open(self._tree, entry.path)
            create = handle.create(
                ImpersonationLevel.Impersonation, READ_FILE,
                FileAttributes.FILE_ATTRIBUTE_NORMAL, SHARE_ALL, CreateDisposition.FILE_OPEN,
                CreateOptions.FILE_NON_DIRECTORY_FILE, send=False)
            query = _query_request(FileInternalInformation)
            query["file_id"] = handle.file_id  # the related-compound id: the file just opened
            read = handle.read(0, length, send=False)
            close = handle.close(send=False)
            session = self._tree.session
            self.requests += 1
            return self._conn.send_compound([create[0], query, read[0], close[0]],
                                            session.session_id, self._tree.tree_connect_id,
                                            related=True)
        except Exception as exc:
            return SmbReadError(reason_of(exc))

    def _finish_objects(self, entry: SmbEntry, sent: Any, limit: int | None
                        ) -> bytes | SmbReadError:
        if isinstance(sent, SmbReadError):
            return sent
        # Every response must be received, whatever fails first (smbprotocol's rule).
        failure: BaseException | None = None
        bodies: list[bytes | None] = []
        for i, request in enumerate(sent):
            try:
                bodies.append(wire.body(self._conn.receive(request)))
            except EndOfFile:
                bodies.append(b"" if i == 2 else None)  # an empty file: nothing to read
            except Exception as exc:
                failure = failure or exc
                bodies.append(None)
        if failure is not None:
            return SmbReadError(reason_of(failure))
        try:
            create, query, read = bodies[0], bodies[1], bodies[2]
            assert create is not None and query is not None and read is not None
            end = wire.created(create)[1]
            file_id = wire.internal_id(query)
            data = wire.read_data(read) if read else b""
        except (ValueError, AssertionError, IndexError, struct.error) as exc:
            return SmbReadError(f"malformed answer from the server ({exc})")
        if entry.file_id and file_id != entry.file_id:
            return SmbReadError("replaced since the folder was listed; not read")
        want = _want(entry, limit)
        if len(data) < want and end > len(data):
            try:
                data += self._read_rest(entry.path, len(data), want)
            except Exception as exc:
                return SmbReadError(reason_of(exc))
        return data

    def _read_rest(self, path: str, offset: int, want: int) -> bytes:
        """What a file holds past the first read, in CHUNK reads several in flight."""
        handle = self._open(path, READ_FILE, CreateOptions.FILE_NON_DIRECTORY_FILE)
        parts: list[bytes] = []
        try:
            in_flight: list[Any] = []
            position = offset
            while position < want or in_flight:
                while position < want and len(in_flight) < 4:
                    length = min(CHUNK, want - position)
                    req, unpack = handle.read(position, length, send=False)
                    session = self._tree.session
                    in_flight.append((self._conn.send(
                        req, session.session_id, self._tree.tree_connect_id), unpack))
                    self.requests += 1
                    position += length
                request, unpack = in_flight.pop(0)
                chunk = unpack(request)
                if not chunk:
                    break
                parts.append(bytes(chunk))
        finally:
            self._close(handle)
        return b"".join(parts)

    def open(self, entry: SmbEntry) -> SmbReader:
        """A read-only stream of a large file, read CHUNK at a time."""
        handle = self._open(entry.path, READ_FILE, CreateOptions.FILE_NON_DIRECTORY_FILE)
        return SmbReader(self, handle, int(handle.end_of_file or 0))

    # ---- permissions -----------------------------------------------------------------------

    def security(self, path: str) -> bytes:
        """The file's security descriptor (owner, group, DACL) as the server sends it."""
        handle = self._open(path, READ_CONTROL | 0x80, 0)
        try:
            request = _query_request(None)
            request["info_type"] = 3  # SMB2_0_INFO_SECURITY
            request["file_info_class"] = 0
            request["output_buffer_length"] = 65536
            request["additional_information"] = 0x1 | 0x2 | 0x4  # OWNER | GROUP | DACL
            request["file_id"] = handle.file_id
            session = self._tree.session
            self.requests += 1
            sent = self._conn.send(request, session.session_id, self._tree.tree_connect_id)
            response = SMB2QueryInfoResponse()
            response.unpack(self._conn.receive(sent)["data"].get_value())
            return bytes(response["buffer"].get_value())
        finally:
            self._close(handle)

    # ---- handles ---------------------------------------------------------------------------

    def _open(self, path: str, access: int, options: int) -> Open:
        self._channel.to_slow()
        handle = Open(self._tree, path)
        self.requests += 1
        handle.create(ImpersonationLevel.Impersonation, access, 0, SHARE_ALL,
                      CreateDisposition.FILE_OPEN, options)
        return handle

    def _close(self, handle: Open) -> None:
        with contextlib.suppress(Exception):  # the server may be gone; nothing to keep
            self._channel.to_slow()
            self.requests += 1
            handle.close()

    def _query_internal(self, handle: Open) -> int:
        request = _query_request(FileInternalInformation)
        request["file_id"] = handle.file_id
        session = self._tree.session
        self.requests += 1
        sent = self._conn.send(request, session.session_id, self._tree.tree_connect_id)
        return _internal_of(self._conn.receive(sent))


def _query_request(info_class: Any) -> SMB2QueryInfoRequest:
    request = SMB2QueryInfoRequest()
    if info_class is not None:
        info = info_class()
        request["info_type"] = info.INFO_TYPE
        request["file_info_class"] = info.INFO_CLASS
        request["output_buffer_length"] = len(info)
    return request


def _internal_of(response: Any) -> int:
    parsed = SMB2QueryInfoResponse()
    parsed.unpack(response["data"].get_value())
    return int(parsed.parse_buffer(FileInternalInformation)["index_number"].get_value())


class SmbReader:
    """A file on a share as a read-only binary stream (for files read in pieces)."""

    def __init__(self, share: SmbShare, handle: Open, size: int) -> None:
        self._share, self._handle, self.size = share, handle, size
        self._pos = 0
        self.closed = False

    def read(self, n: int = -1) -> bytes:
        if self.closed:
            raise ValueError("read of a closed SMB file")
        end = self.size if n is None or n < 0 else min(self.size, self._pos + n)
        parts: list[bytes] = []
        while self._pos < end:
            length = min(CHUNK, end - self._pos)
            try:
                self._share.requests += 1
                self._share.slow()
                chunk = bytes(self._handle.read(self._pos, length))
            except Exception as exc:
                raise SmbReadError(reason_of(exc)) from exc
            if not chunk:
                break
            parts.append(chunk)
            self._pos += len(chunk)
        return b"".join(parts)

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._share._close(self._handle)

    def __enter__(self) -> SmbReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
