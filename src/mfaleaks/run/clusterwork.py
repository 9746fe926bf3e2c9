"""What runs in a Dask worker: the plugin that holds a scan's engine, and the tasks.

The client registers one EnginePlugin per scan (a name of its own, removed at
the end). It carries the rule files' text, not their paths (a worker need not
have the client's rule files), and the options the engine is built from. A
worker's first task starts a scanning child (clusterchild.py) that builds the
engine once and keeps it, with the memory of contents and pictures it has
read, until the scan ends; a worker running several tasks at once has one
child per task thread. Results leave the child as the engine made them: codes
masked unless the client asked for --show-secrets.

A child that dies reading a batch (a parser crash, the OOM killer) takes only
that batch: its files are read again one at a time in a new child, and one
that kills it again is reported instead of read, as on one machine (pool.py).
The plugin counts the children that died, by exit code, for the report's notice.

A batch reaches the child as the bytes the client packed (clusterwire.py), and
its results go back as the bytes the child packed: the worker only relays them.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distributed import get_worker
from distributed.diagnostics.plugin import WorkerPlugin

from mfaleaks import __version__
from mfaleaks.frames import read_frame, widen_pipe, write_frame
from mfaleaks.models import READER_CRASHED, FileResult, ScanError, Source
from mfaleaks.run.clusterlist import Root, Todo, stat_root
from mfaleaks.run.clusterwire import pack_results, unpack_batch
from mfaleaks.run.spec import EngineSpec
from mfaleaks.sources.listing import WalkOptions

if TYPE_CHECKING:
    from mfaleaks.sources.smb.worker import SmbWanted

DIED = f"{READER_CRASHED} (its Dask worker died each time it read it)"


class ChildGone(Exception):
    """The scanning child ended before it answered."""


class ChildFailed(Exception):
    """The child answered that the request failed (its reason is the message)."""


class ScanChild:
    """One scanning child and its two pipes; one request at a time.

    A worker of a local cluster (--cluster local:N) lives in the client's process: its
    children are forked by the local pool's fork server, which has the readers and the
    default engine loaded once for all of them (forkstart.py). A worker elsewhere starts
    `python -m mfaleaks.run.clusterchild` (a worker under a nanny is a daemonic process,
    which multiprocessing does not let have children)."""

    def __init__(self, spec: EngineSpec, cwd: str | None, forked: bool = False) -> None:
        self.proc: Any  # a subprocess.Popen, or a multiprocessing Process when forked
        self._conns: tuple[Any, ...] = ()
        if forked:
            from mfaleaks.run import forkstart
            from mfaleaks.run.clusterchild import serve_conns

            ctx = forkstart.context()
            their_in, my_in = ctx.Pipe(duplex=False)  # (reader, writer)
            my_out, their_out = ctx.Pipe(duplex=False)
            self._conns = (my_in, my_out)
            self.proc = ctx.Process(target=serve_conns, args=(their_in, their_out), daemon=True)
            try:
                self.proc.start()
            finally:
                their_in.close()  # the child holds them now: its death is our EOF
                their_out.close()
            self._wfd, self._rfd = my_in.fileno(), my_out.fileno()
            widen_pipe(self._wfd)
            self.ask_raw(pickle.dumps(spec, pickle.HIGHEST_PROTOCOL), answer=False)
            return
        to_child, self._wfd = os.pipe()
        self._rfd, from_child = os.pipe()
        widen_pipe(self._wfd)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mfaleaks.run.clusterchild", str(to_child),
                 str(from_child)],
                pass_fds=(to_child, from_child), cwd=cwd, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL)
        except BaseException:
            for fd in (self._wfd, self._rfd):
                os.close(fd)
            raise
        finally:
            os.close(to_child)
            os.close(from_child)
        self.ask_raw(pickle.dumps(spec, pickle.HIGHEST_PROTOCOL), answer=False)

    @property
    def code(self) -> int | None:
        """Its exit code once it has ended and been reaped (negative: a signal)."""
        if isinstance(self.proc, subprocess.Popen):
            return self.proc.returncode
        code: int | None = self.proc.exitcode
        return code

    def ended(self) -> int | None:
        """Its exit code if it has ended (reaped now), else None."""
        if isinstance(self.proc, subprocess.Popen):
            return self.proc.poll()
        return self.code

    def ask_raw(self, frame: bytes, answer: bool = True) -> Any:
        try:
            write_frame(self._wfd, frame)
            if not answer:
                return None
            reply = read_frame(self._rfd)
        except (OSError, EOFError) as exc:
            raise ChildGone from exc
        if reply is None:
            raise ChildGone
        ok, value = pickle.loads(reply)
        if not ok:
            raise ChildFailed(value)
        return value

    def ask(self, *request: object) -> Any:
        return self.ask_raw(pickle.dumps(request, pickle.HIGHEST_PROTOCOL))

    def close(self) -> None:
        """End of its inbox: it leaves; killed if it has not after a while."""
        if self._conns:
            for conn in self._conns:
                conn.close()
            self._conns = ()
            self.proc.join(5)
            if self.proc.exitcode is None:
                self.proc.kill()
                self.proc.join()
            return
        for fd in (self._wfd, self._rfd):
            with contextlib.suppress(OSError):
                os.close(fd)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            if self.code is None:
                self.proc.kill()
        self.close()


@dataclass(frozen=True)
class Shipped:
    """What a worker builds its engine from (EngineSpec, with the rules as text)."""

    rules: tuple[tuple[str, bytes], ...]  # (file name, content), in load order
    spec: EngineSpec  # the client's, for everything but the rule files' paths
    key: str  # the client's plan.cache_key of the spec: its code, rules, libraries, OCR
    # smb:// paths: the account's name and options (no password: each worker has its own)
    smb: SmbWanted | None = None


class EnginePlugin(WorkerPlugin):
    """A scan's engine in one worker: its children, started as tasks need them."""

    def __init__(self, name: str, engine: Shipped, cwd: str | None,
                 local: bool = False) -> None:
        self.name = name
        self.engine = engine
        self.cwd = cwd
        self.local = local  # the workers of --cluster local:N, in the client's process
        self.version = __version__  # the client's, once unpickled in a worker
        self._fresh()

    def _fresh(self) -> None:
        """What a worker keeps for the scan (none of it travels)."""
        self._lock = threading.Lock()
        self._idle: list[ScanChild] = []
        self._all: list[ScanChild] = []
        self._rules_dir: str | None = None
        self._spec: EngineSpec | None = None
        self.deaths: Counter[int] = Counter()  # children that died, by exit code

    def __getstate__(self) -> dict[str, Any]:
        return {"name": self.name, "engine": self.engine, "cwd": self.cwd,
                "local": self.local, "version": self.version}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._fresh()

    def setup(self, worker: Any) -> None:
        """Refuse a scan this worker would not answer as the client's machine would."""
        if self.version != __version__:
            raise RuntimeError(f"this worker runs mfaleaks {__version__}, the client "
                               f"{self.version}: install the same version everywhere")
        if self.cwd is not None and not os.path.isdir(self.cwd):
            raise RuntimeError(f"the client's current folder {self.cwd} is not on this worker: "
                               "give absolute paths")
        from mfaleaks.run.plan import cache_key

        # What the client's cache key covers, worked out here with the client's options.
        local = replace(self._local_spec(), limits=self.engine.spec.limits)
        if cache_key(local) != self.engine.key:
            raise RuntimeError("this worker's mfaleaks code, matching libraries, tesseract or "
                               "fingerprint key differ from the client's: install the same "
                               "everywhere and set the same MFALEAKS_FINGERPRINT_KEY")
        # One child per task thread, started now: they import and build the engine while
        # the client lists (a first batch waited ~0.8 s for it at its first task).
        with contextlib.suppress(Exception):  # (if not, the first task starts one)
            for _ in range(max(1, int(getattr(worker, "state", worker).nthreads))):
                child = ScanChild(self._local_spec(), self.cwd, self.local)
                with self._lock:
                    self._all.append(child)
                    self._idle.append(child)

    def teardown(self, worker: Any) -> None:
        with self._lock:
            children, self._all, self._idle = self._all, [], []
        for child in children:
            child.close()
        if self._rules_dir is not None:
            shutil.rmtree(self._rules_dir, ignore_errors=True)

    def _local_spec(self) -> EngineSpec:
        """The client's spec with its rule files written here (a private folder)."""
        if self._spec is None and self.local:  # the client's own rule files are here
            self._spec = replace(self.engine.spec,
                                 limits=replace(self.engine.spec.limits, ocr_cache=None))
        if self._spec is None:
            folder = tempfile.mkdtemp(prefix="mfaleaks-rules-")
            paths = []
            for i, (name, text) in enumerate(self.engine.rules):
                # One folder per file: two rule files may share a name, and names count
                # in the cache key.
                path = Path(folder, f"{i:04d}", os.path.basename(name))
                path.parent.mkdir()
                path.write_bytes(text)
                paths.append(path)
            self._rules_dir = folder
            # No OCR verdicts kept in a file: --cache is the client's, on the client.
            self._spec = replace(self.engine.spec, rule_files=tuple(paths),
                                 limits=replace(self.engine.spec.limits, ocr_cache=None))
        return self._spec

    @contextlib.contextmanager
    def child(self) -> Iterator[ScanChild]:
        """An idle child for this task (started if none). One that died, or was left in
        the middle of a request, is dropped; one that answered is kept for the next task."""
        with self._lock:
            child = self._idle.pop() if self._idle else None
            spec = self._local_spec()
        if child is None:
            child = ScanChild(spec, self.cwd, self.local)
            with self._lock:
                self._all.append(child)
        try:
            yield child
        except ChildFailed:
            self._keep(child)
            raise
        except BaseException:
            self._drop(child)
            raise
        self._keep(child)

    def _keep(self, child: ScanChild) -> None:
        with self._lock:
            self._idle.append(child)

    def _drop(self, child: ScanChild) -> None:
        child.kill()
        with self._lock:
            if child in self._all:
                self._all.remove(child)

    def _died(self, child: ScanChild | None) -> None:
        """A child that ended before it answered (killed after, by _drop: its code is
        the one it died with)."""
        if child is not None and child.code is not None:
            with self._lock:
                self.deaths[child.code] += 1

    def swept(self) -> dict[int, int]:
        """The deaths so far, counting idle children that died between tasks (no task
        would notice one killed after its last batch)."""
        with self._lock:
            for child in [c for c in self._idle if c.ended() is not None]:
                self._idle.remove(child)
                if child in self._all:
                    self._all.remove(child)
                code = child.code
                assert code is not None
                self.deaths[code] += 1
            return dict(self.deaths)

    def scan(self, blob: bytes) -> bytes:
        """A packed batch; its packed results (clusterwire.py)."""
        child: ScanChild | None = None
        try:
            with self.child() as child:
                packed: bytes = child.ask("scan", blob, self.engine.smb)
                return packed
        except ChildGone:
            self._died(child)
            batch = unpack_batch(blob)
            return pack_results(batch, [self._alone(source) for source in batch])
        except ChildFailed as exc:  # e.g. a result that cannot be pickled: pool.py's way
            batch = unpack_batch(blob)
            return pack_results(batch, [failed(source, str(exc)) for source in batch])

    def list(self, folders: list[Todo], opts: WalkOptions) -> Any:
        """clusterlist.list_folders in a child; one that dies is replaced, once."""
        for attempt in range(2):
            child: ScanChild | None = None
            try:
                with self.child() as child:
                    return child.ask("list", folders, opts)
            except ChildGone:
                self._died(child)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _alone(self, source: Source) -> FileResult:
        """One file of a batch whose child died, read again in a child of its own; if that
        one dies too, the file is reported as the local pool reports it (pool.py)."""
        from mfaleaks.run.clusterwire import pack_batch, unpack_results

        child: ScanChild | None = None
        try:
            with self.child() as child:
                packed: bytes = child.ask("scan", pack_batch([source]), self.engine.smb)
                return unpack_results(packed, [source])[0]
        except ChildGone:
            self._died(child)
            code = child.code if child is not None else None
            return failed(source, f"{READER_CRASHED} ({_cause(code)})")
        except ChildFailed as exc:
            return failed(source, str(exc))


def _cause(code: int | None) -> str:
    """pool._cause's words: "signal 9", "exit status 1"."""
    if code is None:
        return "it did not start"
    return f"signal {-code}" if code < 0 else f"exit status {code}"


def failed(source: Source, reason: str) -> FileResult:
    result = FileResult(path=source.origin.path, bytes=source.size)
    result.errors.append(ScanError(source.origin.path, source.origin.member, reason))
    return result


def _plugin(name: str) -> EnginePlugin:
    plugin = get_worker().plugins.get(name)
    if not isinstance(plugin, EnginePlugin):
        raise RuntimeError(f"no mfaleaks engine {name} on this worker (its scan has ended)")
    return plugin


def scan_task(name: str, batch: bytes) -> bytes:
    """A batch of files (clusterwire.pack_batch), scanned by this worker's engine for that
    scan; their results, packed."""
    return _plugin(name).scan(batch)


def list_task(name: str, folders: list[Todo], opts: WalkOptions) -> Any:
    """clusterlist.list_folders, in the scan's child (its current folder is the client's)."""
    return _plugin(name).list(folders, opts)


def root_task(name: str, root: str, follow_symlinks: bool) -> Root:
    """clusterlist.stat_root, here (a relative path in the client's current folder)."""
    cwd = _plugin(name).cwd
    return stat_root(os.path.join(cwd, root) if cwd is not None else root, follow_symlinks)


def child_deaths(name: str, dask_worker: Any) -> dict[int, int]:
    """The scan's children that died on this worker, by exit code (client.run, which
    gives the worker by that name: get_worker() is for tasks)."""
    plugin = dask_worker.plugins.get(name)
    return plugin.swept() if isinstance(plugin, EnginePlugin) else {}
