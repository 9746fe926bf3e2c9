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
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distributed import get_worker
from distributed.diagnostics.plugin import WorkerPlugin

from mfaleaks import __version__
from mfaleaks.frames import read_frame, widen_pipe, write_frame
from mfaleaks.models import READER_CRASHED, FileResult, ScanError, Source
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
    """One scanning child and its two pipes; one request at a time."""

    def __init__(self, spec: EngineSpec, cwd: str | None) -> None:
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
        for fd in (self._wfd, self._rfd):
            with contextlib.suppress(OSError):
                os.close(fd)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        with contextlib.suppress(OSError):
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

    def __init__(self, name: str, engine: Shipped, cwd: str | None) -> None:
        self.name = name
        self.engine = engine
        self.cwd = cwd
        self.version = __version__  # the client's, once unpickled in a worker
        self._fresh()

    def _fresh(self) -> None:
        """What a worker keeps for the scan (none of it travels)."""
        self._lock = threading.Lock()
        self._idle: list[ScanChild] = []
        self._all: list[ScanChild] = []
        self._rules_dir: str | None = None
        self._spec: EngineSpec | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"name": self.name, "engine": self.engine, "cwd": self.cwd,
                "version": self.version}

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

    def teardown(self, worker: Any) -> None:
        with self._lock:
            children, self._all, self._idle = self._all, [], []
        for child in children:
            child.close()
        if self._rules_dir is not None:
            shutil.rmtree(self._rules_dir, ignore_errors=True)

    def _local_spec(self) -> EngineSpec:
        """The client's spec with its rule files written here (a private folder)."""
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
            child = ScanChild(spec, self.cwd)
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

    def scan(self, batch: list[Source]) -> list[FileResult]:
        try:
            with self.child() as child:
                results: list[FileResult] = child.ask("scan", batch, self.engine.smb)
                return results
        except ChildGone:
            return [self._alone(source) for source in batch]
        except ChildFailed as exc:  # e.g. a result that cannot be pickled: pool.py's way
            return [failed(source, str(exc)) for source in batch]

    def _alone(self, source: Source) -> FileResult:
        """One file of a batch whose child died, read again in a child of its own; if that
        one dies too, the file is reported as the local pool reports it (pool.py)."""
        child: ScanChild | None = None
        try:
            with self.child() as child:
                results: list[FileResult] = child.ask("scan", [source], self.engine.smb)
                return results[0]
        except ChildGone:
            code = child.proc.returncode if child is not None else None
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


def scan_task(name: str, batch: list[Source]) -> list[FileResult]:
    """A batch of files, scanned by this worker's engine for that scan."""
    return _plugin(name).scan(batch)


def list_task(name: str, folders: list[str], opts: WalkOptions) -> Any:
    """clusterlist.list_folders, in the scan's child (its current folder is the client's)."""
    with _plugin(name).child() as child:
        return child.ask("list", folders, opts)


def root_task(name: str, root: str, follow_symlinks: bool) -> Any:
    """clusterlist.stat_root, in the scan's child."""
    with _plugin(name).child() as child:
        return child.ask("root", root, follow_symlinks)
