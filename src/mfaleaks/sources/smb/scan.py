"""SMB locations of one scan -> the same stream of sources a local walk gives.

`SmbScan.open` connects to every server named on the command line before
anything is read, so an unreachable server, a failed logon or an unknown share
ends the run at once (SmbFatal: exit 2, one line). `discover` then walks a
target as discover.py walks a folder: a Source per file (named
smb://host/share/path), a ScanError per thing skipped, and, on a rescan, one
FileResult per folder for the files the cache vouches for (the probe), which
are never opened. A DFS link is followed to its target, whose files are
named under the link (origin) and read at the target (fs_path), when its host is a
server of the command line or one --smb-dfs-host allows (dfs.py). The Sources
carry no bytes yet: `fill` reads them in pipelined compound requests just
before the workers get them, after the cache had its say; with worker
processes, the workers read them (smb/worker.py) and `fill` only the files too
big for that. `facts` adds the owner and the exposure to a file's findings.
"""

from __future__ import annotations

import contextlib
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, TypeVar

from mfaleaks.models import FileResult, Origin, ScanError, Source, printable
from mfaleaks.sources.listing import Stat, WalkOptions, excluded
from mfaleaks.sources.owner import EXPOSURE, EXPOSURE_NOTE, OWNER, OWNER_SID
from mfaleaks.sources.smb import acl as smbacl
from mfaleaks.sources.smb.auth import SmbCredentials
from mfaleaks.sources.smb.client import (
    DfsLink,
    FolderDone,
    SmbEntry,
    SmbOptions,
    SmbProblem,
    SmbReadError,
    SmbSession,
    SmbShare,
    reason_of,
)
from mfaleaks.sources.smb.dfs import (
    AllowedHost,
    challenge_names,
    refused,
    same_address,
    same_name,
    url_host,
)
from mfaleaks.sources.smb.url import SmbFatal, SmbTarget, parse_target, url_of
from mfaleaks.sources.smb.worker import listed, unread

if TYPE_CHECKING:
    from concurrent.futures import Future

    from mfaleaks.sources.smb.lsa import LsaClient

    Probe = Callable[[str, bytes | None], object | None]

MEMORY_LIMIT = 512 * 1024 * 1024  # an SMB file is held in memory to be scanned: bigger is skipped
READ_AHEAD = 64  # sources fill holds back to read them together
READ_AHEAD_BYTES = 64 * 1024 * 1024  # ... and the bytes they may add up to (one file may be more)

# Finding meta of a file on a share (prefixed file_: location facts, redone at each place).
# EXPOSURE: "domain" (everyone in the domain may read) or "restricted".

T = TypeVar("T")
_NOT_FOUND = {0xC0000034, 0xC000003A}  # STATUS_OBJECT_NAME_NOT_FOUND, _PATH_NOT_FOUND


MAX_DFS_HOPS = 8  # DFS links followed one through another, at most


@dataclass(frozen=True)
class _View:
    """How the URLs of a walked location are shown: through the DFS links that led there
    (the user sees smb://host/root/link/a.txt for a file read at smb://other/share/a.txt)."""

    real: str  # the walked location's URL (share and path in it)
    link: str  # the URL the user sees for it (real itself for a location named by the user)
    chain: tuple[str, ...]  # the real locations walked on the way here, this one last

    @classmethod
    def root(cls, url: str) -> _View:
        return cls(url, url, (url,))

    def shown(self, url: str) -> str:
        if self.real == self.link:
            return url
        if url == self.real or url.startswith(self.real + "/"):
            return self.link + url[len(self.real):]
        return url

    def loops(self, real: str) -> bool:
        """Walking real would walk a location on the way here again (the same, inside it,
        or around it)."""
        r = real.lower()
        return any(r == c or r.startswith(c + "/") or c.startswith(r + "/")
                   for c in (c.lower() for c in self.chain))

    def through(self, real: str, link: str) -> _View:
        return _View(real, link, (*self.chain, real))


@dataclass
class _Server:
    session: SmbSession
    lsa: LsaClient | None = None  # owners' names
    names: _Names | None = None  # owners' names
    names_given: frozenset[str] | None = None  # the server's own (dfs.challenge_names)


class _Names:
    """Owners' names asked of one server (lsarpc, lsa.py) in a thread of their own, while
    the scan goes on: the first costs a second session and, on Samba, the start of its
    lsarpc service (1-5 s of wall time in bench_smb, where the scan would stand still).
    Findings get their names when the scan ends (`finish`)."""

    def __init__(self, server: _Server, make: Callable[[], LsaClient | None]) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._server = server
        self._make = make
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smb-owner-names")
        self._asked: dict[str, Future[str | None]] = {}
        self._waiting: list[tuple[str, dict[str, str]]] = []

    def want(self, sid: str, meta: dict[str, str]) -> None:
        """meta gets OWNER (the SID's name) at finish, when the server names it."""
        if sid not in self._asked:
            self._asked[sid] = self._pool.submit(self._lookup, sid)
        self._waiting.append((sid, meta))

    def _lookup(self, sid: str) -> str | None:
        if self._server.lsa is None:
            self._server.lsa = self._make()
        if self._server.lsa is None:
            return None
        return self._server.lsa.names([sid]).get(sid)

    def finish(self) -> None:
        self._pool.shutdown(wait=True)
        for sid, meta in self._waiting:
            try:
                name = self._asked[sid].result()
            except Exception:  # the server may refuse lsarpc: the SID stays a SID
                name = None
            if name:
                meta[OWNER] = name
        self._waiting.clear()


@dataclass
class SmbScan:
    """The SMB side of one scan: its sessions, walks, reads and permission lookups."""

    creds: SmbCredentials
    options: SmbOptions
    walk: WalkOptions
    # --smb-dfs-host: hosts besides the command line's that DFS links may lead to (dfs.py)
    dfs_hosts: tuple[AllowedHost, ...] = ()
    notices: list[str] = field(default_factory=list)
    _named: list[SmbTarget] = field(default_factory=list)  # the command line's servers
    _servers: dict[tuple[str, int], _Server] = field(default_factory=dict)
    _roots: dict[str, list[tuple[SmbShare | ScanError, str]]] = field(default_factory=dict)
    _views: list[_View] = field(default_factory=list)  # the DFS links followed
    # The command line's locations as walked (share URL and path): folder or not; and
    # those whose walk went to its end without a folder it could not list (--cache forgets
    # the files gone from these only: swept, plan.py).
    _folders: dict[str, bool] = field(default_factory=dict)
    _whole: set[str] = field(default_factory=set)
    _unlisted: set[str] = field(default_factory=set)
    # The folders DFS links led to (real URLs), walked like the command line's: the cache
    # hears of each as its walk starts (`on_link`) and sweeps it when listed whole.
    _targets: list[str] = field(default_factory=list)
    _on_link: Callable[[str], None] | None = None

    # ---- before the scan -------------------------------------------------------------------

    def open(self, text: str) -> None:
        """Connect for one command-line location; SmbFatal when it cannot be scanned at all."""
        target = parse_target(text)
        server = self._server(target)
        if all((t.server, t.port) != (target.server, target.port) for t in self._named):
            self._named.append(SmbTarget(target.host, target.port))
        if target.share is not None:
            share = server.session.share(target.share)
            self._folders[share.url(target.path)] = True
            if target.path:  # a mistyped path must not pass as "nothing found"
                try:
                    self._folders[share.url(target.path)] = \
                        share.stat_root(target.path).is_dir
                except Exception as exc:
                    status = getattr(exc, "status", None)
                    why = "no such file or folder on the share" if status in _NOT_FOUND else \
                        f"cannot open ({reason_of(exc)})"
                    raise SmbFatal(f"{target.url()}: {why}") from exc
            self._roots[text] = [(share, target.path)]
            return
        from mfaleaks.sources.smb.shares import list_shares, wanted

        try:
            listed = list_shares(server.session)
        except Exception as exc:
            raise SmbFatal(f"{target.url()}: cannot list the shares ({reason_of(exc)})") from exc
        take, left = wanted(listed)
        for info, why in left:
            self.notices.append(f"{url_of(target.host, target.port, info.name)}: not scanned, "
                                f"{why}")
        roots: list[tuple[SmbShare | ScanError, str]] = []
        for info in take:
            shown = url_of(target.host, target.port, info.name)
            try:
                opened = server.session.share(info.name)
            except SmbFatal as exc:
                reason = str(exc).removeprefix(f"{shown}: ")
                roots.append((ScanError(shown, None, f"share not scanned: {reason}"), ""))
            else:
                roots.append((opened, ""))
                self._folders[opened.url()] = True
        self._roots[text] = roots

    def _server(self, target: SmbTarget) -> _Server:
        key = (target.server, target.port)
        found = self._servers.get(key)
        if found is None:
            found = self._servers[key] = _Server(SmbSession(target, self.creds, self.options))
        return found

    # ---- the walk --------------------------------------------------------------------------

    def discover(self, text: str, probe: Probe | None = None
                 ) -> Iterator[Source | ScanError | FileResult]:
        for root, top in self._roots.get(text, []):
            if isinstance(root, ScanError):
                yield root
            else:
                yield from self._walk_share(root, top, probe)
                self._whole.add(root.url(top))  # (walked to its end: not given up)
        # Listed: each connection (DFS targets' too) goes back to smbprotocol, whose thread
        # keeps it alive (an ECHO after 10 minutes of quiet) while the workers read; the
        # struct channel's parked thread would not (channel.py).
        for server in self._servers.values():
            with contextlib.suppress(Exception):
                server.session.channel.to_slow()

    def locations(self) -> dict[str, bool]:
        """The command line's locations on shares (URL -> a folder), once open()ed."""
        return dict(self._folders)

    def listed_whole(self) -> list[str]:
        """The locations walked to their end with every folder listed (the command line's,
        and the folders DFS links led to): files of the cache under them that the walk did
        not give are gone from the share."""
        return [url for url in (*self._folders, *self._targets)
                if url in self._whole and url not in self._unlisted]

    def on_link(self, note: Callable[[str], None]) -> None:
        """note(url) of each folder a DFS link leads to, before its walk starts (the
        cache then forgets files gone from its folders, as under the command line's)."""
        self._on_link = note

    def _walk_share(self, share: SmbShare, top: str, probe: Probe | None,
                    view: _View | None = None) -> Iterator[Source | ScanError | FileResult]:
        """A share from top; view: the DFS links that led here (None: named by the user)."""
        if view is None:
            view = _View.root(share.url(top))
        if top:
            try:
                entry = share.stat_root(top)
            except Exception as exc:
                self._unlisted.update(view.chain)
                yield ScanError(view.shown(share.url(top)), None,
                                f"cannot open: {reason_of(exc)}")
                return
            if not entry.is_dir:
                yield from self._files(share, "", [entry], None, view)
                return
        folder: str | None = None
        batch: list[SmbEntry] = []
        for item in share.walk(top, skip=self._skip(share, view), marks=True):
            if isinstance(item, SmbProblem):
                if item.unlisted:  # (not whole: this location, and those it is under)
                    self._unlisted.update(view.chain)
                yield ScanError(view.shown(share.url(item.path)), None, item.reason)
                continue
            if isinstance(item, FolderDone | DfsLink):
                if batch:  # a folder's files go now, not at the next listing
                    yield from self._files(share, folder or "", batch, probe, view)
                    batch = []
                if isinstance(item, DfsLink):
                    yield from self._follow(share, item, probe, view)
                continue
            parent = item.path.rpartition("\\")[0]
            if parent != folder and batch:
                yield from self._files(share, folder or "", batch, probe, view)
                batch = []
            folder = parent
            batch.append(item)
        if batch:
            yield from self._files(share, folder or "", batch, probe, view)

    def _follow(self, share: SmbShare, link: DfsLink, probe: Probe | None, view: _View
                ) -> Iterator[Source | ScanError | FileResult]:
        """A DFS link: the server's referral, then the target walked (the first of its
        targets that opens) with its files named under the link, as the user sees them.
        Broken links, targets that do not open and loops are errors, never fatal."""
        shown = view.shown(share.url(link.path))
        server = self._server_of(share)
        unc = f"\\\\{server.session.target.server}\\{share.name}\\{link.path}"
        try:
            targets = server.session.referral(unc)
        except Exception as exc:
            yield ScanError(shown, None, f"broken DFS link: no referral ({reason_of(exc)})")
            return
        if not targets:
            yield ScanError(shown, None, "broken DFS link: the referral names no target")
            return
        why = ""
        for target in targets:
            found = self._target(server, target)
            if isinstance(found, str):
                why = f"DFS link to {target} not followed: {found}"
                continue
            there, path = found
            real = there.url(path)
            if view.loops(real) or len(view.chain) > MAX_DFS_HOPS:
                yield ScanError(shown, None, f"DFS link to {target} not followed: it leads "
                                f"back into {real} (a loop)")
                return
            inner = view.through(real, shown)
            self._views.append(inner)
            if self._folder_at(there, path):
                if real not in self._targets:
                    self._targets.append(real)
                    if self._on_link is not None:
                        self._on_link(real)
                yield from self._walk_share(there, path, probe, inner)
                self._whole.add(real)
            else:
                yield from self._walk_share(there, path, probe, inner)
            return
        yield ScanError(shown, None, why)

    def _target(self, server: _Server, unc: str) -> tuple[SmbShare, str] | str:
        r"""\\host\share[\path] of a referral -> the share (on the session of the server
        the host is, _host_of, or of the same account to a host --smb-dfs-host allows)
        and the path in it; why not."""
        parts = [p for p in unc.split("\\") if p]
        if len(parts) < 2:
            return f"not a share path ({unc!r})"
        host, name, path = parts[0], parts[1], "\\".join(parts[2:])
        where = self._host_of(server, host)
        if where is None:
            return refused(host)
        try:
            session = where.session if isinstance(where, _Server) else \
                self._server(where).session
        except SmbFatal as exc:
            return str(exc)
        try:
            return session.share(name), path
        except SmbFatal as exc:
            return str(exc).rsplit(": ", 1)[-1]

    @staticmethod
    def _folder_at(share: SmbShare, path: str) -> bool:
        """Is a DFS target a folder (a share's root is)? A file or one that does not open
        is left to the walk to report."""
        if not path:
            return True
        try:
            return share.stat_root(path).is_dir
        except Exception:
            return False

    def _host_of(self, server: _Server, host: str) -> _Server | SmbTarget | None:
        """Where a DFS target's host is for this scan: the server the link is on or one of
        the command line's, when it is that server by name, by a name the server answers
        to or by address (reached where the scan reaches it: host and port); else a host
        --smb-dfs-host allows (a session of its own); None: not to be followed (dfs.py)."""
        known = [server, *(self._server(t) for t in self._named)]
        for one in known:
            here = one.session.target
            if same_name(host, here.server) or host.lower() in self._names_of(one):
                return one
        for one in known:  # by address: a lookup, once per name
            if same_address(host, one.session.target.server):
                return one
        for allowed in self.dfs_hosts:
            if allowed.allows(host):
                return SmbTarget(url_host(host), allowed.port)
        return None

    @staticmethod
    def _names_of(server: _Server) -> frozenset[str]:
        """The computer names the server gave in its NTLM challenge (none with Kerberos)."""
        if server.names_given is None:
            try:
                server.names_given = challenge_names(server.session.logon_answer)
            except Exception:  # a session without it: no names
                server.names_given = frozenset()
        return server.names_given

    def _server_of(self, share: SmbShare) -> _Server:
        for server in self._servers.values():
            if share in server.session.shares():
                return server
        raise AssertionError("a share of this scan's sessions")

    def _skip(self, share: SmbShare, view: _View) -> Callable[[SmbEntry], bool] | None:
        patterns = self.walk.excludes
        if not patterns:
            return None
        return lambda e: excluded(view.shown(share.url(e.path)), e.name, patterns)

    def _files(self, share: SmbShare, folder: str, entries: list[SmbEntry], probe: Probe | None,
               view: _View) -> Iterator[Source | ScanError | FileResult]:
        """One folder's files: those the cache answers for in one result, a Source for each
        of the others, a ScanError for those too big."""
        limit = self.walk.max_file_size or MEMORY_LIMIT
        # (the cache keeps files where they are read: under a DFS link, at its target)
        check = probe(share.url(folder), None) if probe is not None else None
        by_name = {e.name: e for e in entries}
        if check is not None:
            asked = [(e.name, _stat(e)) for e in entries if e.size <= min(limit, MEMORY_LIMIT)]
            rest = {name for name, _ in check.files(asked)}  # type: ignore[attr-defined]
            names = [e.name for e in entries if e.name in rest or e.size > limit]
        else:
            names = list(by_name)
        for name in names:
            entry = by_name[name]
            yield self._source(share, entry, limit, view)
        if check is not None and (done := check.done()) is not None:  # type: ignore[attr-defined]
            yield done

    def _source(self, share: SmbShare, entry: SmbEntry, limit: int, view: _View
                ) -> Source | ScanError:
        real = share.url(entry.path)
        url = view.shown(real)
        if entry.size > limit:
            if limit == self.walk.max_file_size:
                why = f"skipped: {entry.size} bytes is over --max-file-size ({limit})"
            else:
                why = (f"skipped: {entry.size} bytes; files on a share are read into memory, "
                       f"up to {MEMORY_LIMIT // 2**20} MiB (copy it locally to scan it)")
            return ScanError(printable(url), None, why)
        return Source(  # (fs_path: where it is read; origin: where the user sees it)
            origin=Origin(printable(url)), name=printable(entry.name), fs_path=real,
            size=entry.size, mtime=entry.mtime,
            stat_key=(entry.size, entry.mtime_ns, entry.change_ns, entry.file_id),
        )

    # ---- reading ---------------------------------------------------------------------------

    def owns(self, source: Source) -> bool:
        """A file of a share, listed and not read yet."""
        return listed(source)

    def _entry(self, source: Source) -> tuple[SmbShare, SmbEntry] | None:
        """The share and listing entry a Source of discover() stands for (its URL and the
        facts the walk put in stat_key): nothing is kept per file in between."""
        assert source.fs_path is not None and source.stat_key is not None
        found = self._locate(source.fs_path)
        if found is None:
            return None
        _, share, path = found
        size, mtime_ns, change_ns, file_id = source.stat_key
        return share, SmbEntry(path, size, change_ns, mtime_ns, file_id, 0)

    def fill(self, items: Iterable[T], above: int = -1) -> Iterator[T | FileResult]:
        """The items in order, SMB sources of more than `above` bytes with their bytes
        (smaller ones are read by the workers: smb/worker.py): READ_AHEAD of them are read
        together (each share's in one pipelined run). A file that cannot be read becomes
        a FileResult with its reason, as a worker would return it."""
        held: list[T] = []
        size = 0
        for item in items:
            if isinstance(item, Source) and item.size > above and self.owns(item):
                held.append(item)
                size += item.size
                if len(held) >= READ_AHEAD or size >= READ_AHEAD_BYTES:
                    yield from self._read(held, above)
                    held, size = [], 0
            elif held:
                held.append(item)
            else:
                yield item
        if held:
            yield from self._read(held, above)

    def _read(self, held: list[T], above: int) -> Iterator[T | FileResult]:
        located: dict[int, tuple[SmbShare, SmbEntry] | None] = {}
        by_share: dict[int, list[SmbEntry]] = {}
        shares: dict[int, SmbShare] = {}
        for i, item in enumerate(held):
            if isinstance(item, Source) and item.size > above and self.owns(item):
                found = located[i] = self._entry(item)
                if found is not None:
                    shares[id(found[0])] = found[0]
                    by_share.setdefault(id(found[0]), []).append(found[1])
        got: dict[tuple[int, str], bytes | SmbReadError] = {}
        for key, entries in by_share.items():
            for entry, data in shares[key].read_many(entries):
                got[(key, entry.path)] = data
        for i, item in enumerate(held):
            if i not in located:
                yield item
                continue
            assert isinstance(item, Source)
            found = located[i]
            data = got[(id(found[0]), found[1].path)] if found is not None else \
                SmbReadError("not on a share this scan opened")
            if isinstance(data, SmbReadError):
                yield unread(item, str(data))
            else:
                yield item.with_data(data)  # type: ignore[misc]

    # ---- owners and exposure ---------------------------------------------------------------

    def facts(self, result: FileResult) -> None:
        """Owner and exposure of an SMB file with findings, from its security descriptor
        (one request) and the server's name for the owner's SID (lsarpc, cached)."""
        if not result.findings:
            return
        found = self._locate(self._real(result.path))
        if found is None:
            return
        server, share, path = found
        facts: dict[str, str] = {}
        owner: str | None = None
        try:
            access = smbacl.parse(share.security(path))
        except Exception as exc:
            facts[EXPOSURE_NOTE] = f"permissions not read: {reason_of(exc)}"
        else:
            facts[EXPOSURE] = "domain" if access.exposed else "restricted"
            facts[EXPOSURE_NOTE] = access.note
            if access.owner:
                facts[OWNER_SID] = owner = access.owner
        metas = [{**f.meta, **facts} for f in result.findings]
        result.findings = [replace(f, meta=m) for f, m in zip(result.findings, metas,
                                                                strict=True)]
        if owner is not None:  # the name comes at the end of the scan (close)
            names = self._names(server, share)
            for meta in metas:
                names.want(owner, meta)

    def _real(self, url: str) -> str:
        """Where a file the user sees under a DFS link is (its URL when under none)."""
        for view in sorted(self._views, key=lambda v: len(v.link), reverse=True):
            if url == view.link or url.startswith(view.link + "/"):
                return view.real + url[len(view.link):]
        return url

    def _locate(self, url: str) -> tuple[_Server, SmbShare, str] | None:
        for server in self._servers.values():
            for share in server.session.shares():
                prefix = share.url() + "/"
                if url.startswith(prefix):
                    return server, share, url[len(prefix):].replace("/", "\\")
        return None

    def _names(self, server: _Server, share: SmbShare) -> _Names:
        if server.names is None:
            target, creds, options = server.session.target, self.creds, self.options

            def make() -> LsaClient | None:
                from mfaleaks.sources.smb.lsa import LsaClient

                try:
                    return LsaClient(target, creds, options)
                except SmbFatal:
                    return None

            server.names = _Names(server, make)
        return server.names

    def close(self) -> None:
        """Findings get their owners' names (asked meanwhile); then every session ends."""
        for server in self._servers.values():
            if server.names is not None:
                server.names.finish()
        for server in self._servers.values():
            with contextlib.suppress(Exception):
                server.session.close()
            if server.lsa is not None:
                server.lsa.close()
        self._servers.clear()


def _stat(entry: SmbEntry) -> Stat:
    """A listing's facts in the walk's Stat form (mode, size, mtime_ns, ctime_ns, inode, ...):
    the cache compares size, last write, change time and file id."""
    return (stat.S_IFREG, entry.size, entry.mtime_ns, entry.change_ns, entry.file_id,
            -1, -1, 0)
