"""A worker process's own SMB sessions: files on shares are read where they are scanned.

The main process lists the shares (and asks for owners and exposure); the files
themselves are read by the workers, each over sessions of its own, one per
server, opened at the first file of that server and kept for the scan. The
per-message work of SMB (headers, signing, the thread that receives answers:
~1.1 ms of CPU per file) is then spread over every process that scans, instead
of one main process doing it for all of them (docs/smb.md, Speed).

The account comes in memory: from the main process through the worker's pipe
(the SmbLogin it logged on with; never a command line, never a file), or, on a
Dask worker, from that worker's own environment (`access_from_env`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from mfaleaks.config import SmbLogin
from mfaleaks.models import FileResult, ScanError, Source
from mfaleaks.sources.smb.auth import split_user
from mfaleaks.sources.smb.client import SmbEntry, SmbOptions, SmbSession, SmbShare
from mfaleaks.sources.smb.url import DEFAULT_PORT, SmbFatal, SmbTarget, url_of

# What a Dask worker's environment may hold (the password: auth.PASSWORD_ENV).
AUTH_FILE_ENV = "MFALEAKS_SMB_AUTH_FILE"
USER_ENV = "MFALEAKS_SMB_USER"


@dataclass(frozen=True)
class SmbAccess:
    """How a worker logs on: the account and the session options of the scan."""

    login: SmbLogin
    follow_symlinks: bool = False
    # (host, port, share or None) of the command line's locations: the worker logs on to
    # them as it starts (`WorkerShares.warm`), while the main process lists the first
    # folders, instead of after its first batch has come. Only once the main process has
    # logged on: a wrong password is then tried once, not once per worker (lockouts).
    warm: tuple[tuple[str, int, str | None], ...] = ()

    def options(self) -> SmbOptions:
        return SmbOptions(timeout=self.login.timeout, require_encryption=self.login.encrypt,
                          follow_symlinks=self.follow_symlinks)


def listed(source: Source) -> bool:
    """A file of a share as the walk gives it: listed, not read yet."""
    return source.data is None and source.fs_path is not None and \
        source.fs_path.startswith("smb://") and source.stat_key is not None


def split_url(url: str) -> tuple[str, int, str, str] | None:
    """smb://host[:port]/share/a/b (as url.url_of wrote it) -> (host, port, share,
    path inside the share, backslash-separated). Not parse_target: names are not
    %-quoted in reports, and a name may hold a %."""
    rest = url[len("smb://"):]
    where, _, inside = rest.partition("/")
    share, _, path = inside.partition("/")
    if not where or not share:
        return None
    host, port = where, DEFAULT_PORT
    colon = where.rfind(":")
    if colon > where.rfind("]"):  # host:port, [v6]:port (not the colons of a bare [v6])
        host, digits = where[:colon], where[colon + 1:]
        if not digits.isdigit():
            return None
        port = int(digits)
    return host, port, share, path.replace("/", "\\")


@dataclass(frozen=True)
class SmbWanted:
    """What a cluster's client tells its workers about SMB: the account's name and the
    options, never a password (tcp:// is plain text); each worker logs on with the
    password of its own environment (`access_from_env`)."""

    user: str | None
    kerberos: bool
    encrypt: bool
    timeout: float
    follow_symlinks: bool

    @classmethod
    def of(cls, login: SmbLogin, follow_symlinks: bool) -> SmbWanted:
        user = f"{login.domain}\\{login.user}" if login.domain and login.user else login.user
        return cls(user, login.kerberos, login.encrypt, login.timeout, follow_symlinks)

    def access(self) -> SmbAccess | str:
        """This worker's access, or why it has none (each file of a share then says so)."""
        if self.kerberos:  # the worker's own ticket cache
            domain, name = split_user(self.user) if self.user else (None, None)
            login = SmbLogin(user=name, domain=domain, kerberos=True, encrypt=self.encrypt,
                             timeout=self.timeout)
            return SmbAccess(login, self.follow_symlinks)
        try:
            return access_from_env(self.user, self.encrypt, self.timeout, self.follow_symlinks)
        except SmbFatal as exc:
            return f"this worker has no SMB account ({exc})"


class WorkerShares:
    """The sessions of one worker process, opened when first needed, kept for the scan.
    Built from a reason instead of an access, it reports every file of a share unread."""

    def __init__(self, access: SmbAccess | str) -> None:
        self.access = access
        self._sessions: dict[tuple[str, int], SmbSession | str] = {}
        # This worker's first logon to each server, and those not told to the main process
        # yet (`logons`): a scan whose workers all fail to log on must not pass as clean.
        self._tried: set[tuple[str, int]] = set()
        self._untold: list[tuple[str, str]] = []

    def logons(self) -> list[tuple[str, str]]:
        """(server URL, "" or why not) of each server this worker first logged on to, or
        failed to, since the last call."""
        told, self._untold = self._untold, []
        return told

    def untold(self, logons: list[tuple[str, str]]) -> None:
        """Logons that found no result to carry them: told with the next batch."""
        self._untold[:0] = logons

    def _first(self, host: str, port: int, why: str) -> None:
        if (host, port) not in self._tried:
            self._tried.add((host, port))
            self._untold.append((url_of(host, port, ""), why))

    def warm(self) -> None:
        """Log on to the servers (and connect to the shares) the scan names, before the
        first file asks: a failure is kept, and reported with each file as before."""
        if isinstance(self.access, str):
            return
        for host, port, name in self.access.warm:
            if name is None:
                self._session(host, port)
            else:
                self._share(host, port, name)

    def _session(self, host: str, port: int) -> SmbSession | str:
        if isinstance(self.access, str):
            self._first(host, port, self.access)
            return self.access
        session = self._sessions.get((host, port))
        if session is None:
            try:
                session = SmbSession(SmbTarget(host, port), self.access.login,
                                     self.access.options())
            except Exception as exc:  # SmbFatal: unreachable, logon failed
                session = str(exc)
            self._sessions[(host, port)] = session
            self._first(host, port, session if isinstance(session, str) else "")
        return session

    def _share(self, host: str, port: int, name: str) -> SmbShare | str:
        """The share, or why it cannot be read (a server that refused this worker once is
        not asked again: each file would otherwise wait --smb-timeout)."""
        session = self._session(host, port)
        if isinstance(session, str):
            return session
        try:
            return session.share(name)
        except Exception as exc:
            return str(exc)

    def read(self, batch: Sequence[Source]) -> Iterator[Source | FileResult]:
        """The batch in its order, files of shares with their bytes, or a FileResult with
        the reason one could not be read. Lazy: the reads of the files after the one being
        scanned are in flight meanwhile (read_many keeps up to PIPELINE of them out)."""
        i = 0
        while i < len(batch):
            first = batch[i]
            where = split_url(first.fs_path or "") if listed(first) else None
            if where is None:
                yield first
                i += 1
                continue
            run: list[tuple[Source, SmbEntry]] = []
            while i < len(batch):
                source = batch[i]
                found = split_url(source.fs_path or "") if listed(source) else None
                if found is None or found[:3] != where[:3]:
                    break
                assert source.stat_key is not None
                size, mtime_ns, change_ns, file_id = source.stat_key
                run.append((source, SmbEntry(found[3], size, change_ns, mtime_ns, file_id, 0)))
                i += 1
            yield from self._read_run(where[0], where[1], where[2], run)

    def _read_run(self, host: str, port: int, name: str,
                  run: list[tuple[Source, SmbEntry]]) -> Iterator[Source | FileResult]:
        """Files of one share in order. A session that drops (smbd restarted, the
        connection cut) is opened again and the files from the first that failed are
        read over the new one: once per drop, and only after the session before it read
        a file (a server that drops every session is not asked forever)."""
        share = self._share(host, port, name)
        progressed = True
        while run:
            if isinstance(share, str):
                for source, _ in run:
                    yield unread(source, share)
                return
            results = share.read_many(entry for _, entry in run)
            again: list[tuple[Source, SmbEntry]] = []
            try:
                for k, ((source, _), (_, data)) in enumerate(zip(run, results, strict=True)):
                    if isinstance(data, Exception) and share.lost and progressed:
                        again = run[k:]
                        break
                    if not isinstance(data, Exception):
                        progressed = True
                    yield unread(source, str(data)) if isinstance(data, Exception) else \
                        source.with_data(data)
            finally:
                results.close()
            run, progressed = again, False
            if run:
                share = self._reopen(host, port, name)

    def _reopen(self, host: str, port: int, name: str) -> SmbShare | str:
        """A new session in place of one the server dropped; why not, for the report."""
        old = self._sessions.pop((host, port), None)
        if old is not None and not isinstance(old, str):
            with contextlib.suppress(Exception):
                old.close()
        share = self._share(host, port, name)
        if isinstance(share, str):
            share = f"connection to the server lost; reconnecting failed: {share}"
            self._sessions[(host, port)] = share
        return share

    def idle(self) -> None:
        """Nothing to read for a while: each connection goes back to smbprotocol, whose
        thread keeps it alive (an ECHO after 10 minutes of quiet) while the channel's
        compounds are not using it; the next file takes it back with one ECHO."""
        for session in self._sessions.values():
            if not isinstance(session, str):
                with contextlib.suppress(Exception):  # a dropped one is opened again later
                    session.channel.to_slow()

    def close(self) -> None:
        for session in self._sessions.values():
            if not isinstance(session, str):
                with contextlib.suppress(Exception):
                    session.close()
        self._sessions.clear()


def logon_verdict(logons: Iterable[tuple[str, str]], workers: int = 1
                  ) -> tuple[str | None, list[str]]:
    """What the workers' logons (WorkerShares.logons, from every worker) say of the scan:
    a line for exit 2 when no worker could log on to a server whose files they were to
    read (every one of those files is unread: the scan did not do its job), once at least
    `workers` of them failed (the pool's size, during the scan: they all did; 1 at its
    end), and a line per server that some workers could not log on to (their files are
    listed unread)."""
    ok: dict[str, int] = {}
    failed: dict[str, list[str]] = {}
    for server, why in logons:
        ok.setdefault(server, 0)
        if why:
            failed.setdefault(server, []).append(why)
        else:
            ok[server] += 1
    fatal: list[str] = []
    partial: list[str] = []
    for server, whys in failed.items():
        why = whys[0].removeprefix(f"{server}: ")
        if ok[server]:
            partial.append(f"{server}: {len(whys)} of {len(whys) + ok[server]} worker "
                           f"processes could not log on ({why}); the files they were given "
                           "are listed as not read")
        elif len(whys) >= workers:  # (fewer: the others may still log on)
            fatal.append(f"{server}: the worker processes could not log on ({why}); none "
                         "of the files they were given was read")
    return (fatal[0] if fatal else None), [*fatal[1:], *partial]


def unread(source: Source, reason: str) -> FileResult:
    """A file that could not be read, as the main process reported it when it read."""
    path = source.origin.path
    return FileResult(path=path, errors=[ScanError(path, None, f"cannot read: {reason}")])


def access_from_env(user: str | None, encrypt: bool, timeout: float,
                    follow_symlinks: bool) -> SmbAccess:
    """A Dask worker's account, from its own environment: MFALEAKS_SMB_AUTH_FILE (a file
    only its owner may read) or MFALEAKS_SMB_PASSWORD. The user is the worker's own
    (MFALEAKS_SMB_USER, or the file's username), else the one the client named (not
    secret). SmbFatal when there is no password: the worker then reports the files of
    shares unread, with that reason."""
    from dataclasses import replace

    from mfaleaks.sources.smb.auth import credentials, read_auth_file

    auth = os.environ.get(AUTH_FILE_ENV) or None
    found = read_auth_file(auth) if auth else {}
    name = os.environ.get(USER_ENV) or found.get("username") or user
    login = credentials(name, auth_file=auth)
    return SmbAccess(replace(login, encrypt=encrypt, timeout=timeout), follow_symlinks)
