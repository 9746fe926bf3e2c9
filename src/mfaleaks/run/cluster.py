"""The scan on a Dask cluster: the client lists by folder tasks and scans by batches.

This process stays the client of a one-machine scan: it plans (--cache, copies:
plan.py), filters and reports; the cluster's workers list folders
(clusterlist.py) and read files (clusterwork.py). What changes is where the
work runs:

- files go out in batches worth about BATCH_SECONDS of work (Dask spends
  ~2 ms per task), estimated from their sizes and kinds;
- a small file goes to the lane its size picks, each lane leaning on one
  worker (a loose restriction: any worker takes it when that one is gone or
  busy), so copies of a content meet the worker that remembers it;
- at most WINDOW batches per lane are out: memory here stays bounded however
  big the tree, as with the local pool;
- a batch lost with its worker is run again by the scheduler on another one,
  and answered once (a future has one result); one that killed workers
  every time it ran (Dask's KilledWorker) is read again file by file.

Sources cross the network as paths and stat facts: every worker must reach the
same paths (one mount point on every node, or smb:// URLs that workers open
with credentials of their own). Results come back as the engine made them,
codes masked unless --show-secrets, which the command line only allows over
tls://.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mfaleaks import __version__
from mfaleaks.errors import ConfigError
from mfaleaks.models import FileResult, ScanError, Source
from mfaleaks.run.clusterlist import FolderTasks, Pending, Root, Todo
from mfaleaks.run.spec import EngineSpec
from mfaleaks.sources.discover import file_root, from_records
from mfaleaks.sources.listing import WalkOptions, display

if TYPE_CHECKING:
    from distributed import Client

    from mfaleaks.sources.discover import Probe
    from mfaleaks.sources.smb.worker import SmbWanted

Done = tuple[object, Source, FileResult]
Batch = list[tuple[object, Source]]

BATCH_SECONDS = 0.15  # work per task: Dask's ~2 ms per task is then ~1%
MAX_FILES = 1000  # files per batch, however small
FILE_SECONDS = 0.0002  # a small file: open, classify, the engine's passes (100 B: 0.15 ms)
BYTE_SECONDS = 1 / 60e6  # text at ~60 MB/s a core
PICTURE_SECONDS = 0.15  # a screenshot's OCR (0.1-0.25 s)
PICTURES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp",
                      ".heic", ".heif"})
WINDOW = 3  # batches out per lane: one running, the next ones already on the worker
SMALL_FILE = 4 * 1024 * 1024  # contents.SMALL_FILE: copies of these meet in one worker
WORKERS_WAIT = 60.0  # s to wait for a first worker


class ClusterError(ConfigError):
    """The cluster cannot be used (unreachable, no workers, another mfaleaks): exit 2."""


def cost(source: Source, ocr: bool = True) -> float:
    """Seconds a worker is expected to spend on a file, for cutting batches."""
    seconds = FILE_SECONDS + source.size * BYTE_SECONDS
    if os.path.splitext(source.name)[1].lower() in PICTURES:
        seconds += PICTURE_SECONDS if ocr else 0.02
    return seconds


@dataclass(frozen=True)
class Tls:
    ca: str
    cert: str
    key: str


@contextlib.contextmanager
def connected(address: str, tls: Tls | None = None) -> Iterator[Client]:
    """A client of the scheduler at address (tcp:// or tls://), or of a cluster of N
    worker processes started here for the scan (local:N, over TLS with certificates
    made for it). Raises ClusterError in one line when the scheduler cannot be reached
    or has no worker."""
    if address.startswith("local:"):
        # The workers' children are forked by the local pool's fork server: it loads the
        # readers and the engine on the other core while Dask is imported here (~1 s).
        from mfaleaks.run import forkstart

        forkstart.start_early()
    from distributed import Client, LocalCluster
    from distributed.security import Security

    # A worker lost is the scheduler's business (its tasks run elsewhere), and a lost
    # scheduler ends the scan with a message of ours: Dask's own logs are not printed.
    for name in [n for n in logging.root.manager.loggerDict if n.startswith("distributed")]:
        logging.getLogger(name).setLevel(logging.CRITICAL)  # (Dask sets some of them itself)
    with contextlib.ExitStack() as stack:
        if address.startswith("local:"):
            # The scheduler and the workers in this process, talking in memory (no port
            # to open, nothing on the network): each worker scans in a child process of
            # its own anyway (clusterwork.ScanChild). Worker processes of Dask's own
            # took ~5 s to start here, longer than a small scan.
            import dask

            # Their statistical profiler samples every thread of this process each 10 ms
            # (the client's too): off, with the disk counters nobody reads here.
            stack.enter_context(dask.config.set({"distributed.worker.profile.enabled": False,
                                                 "distributed.admin.system-monitor.disk": False}))
            try:
                cluster = LocalCluster(
                    n_workers=int(address[6:]), threads_per_worker=1, processes=False,
                    dashboard_address=None, silence_logs=logging.CRITICAL)
            except Exception as exc:
                raise ClusterError(f"cannot start a local cluster: {_line(exc)}") from exc
            stack.callback(cluster.close)
            client = Client(cluster, set_as_default=False)
        else:
            security = None
            if tls is not None:
                security = Security(tls_ca_file=tls.ca, tls_client_cert=tls.cert,
                                    tls_client_key=tls.key, require_encryption=True)
            try:
                client = Client(address, security=security, set_as_default=False)
            except Exception as exc:  # OSError, TimeoutError, an SSL error, a bad address
                raise ClusterError(
                    f"cannot reach the Dask scheduler at {address}: {_line(exc)}") from exc
        stack.callback(client.close)
        try:
            client.wait_for_workers(1, timeout=WORKERS_WAIT)
        except Exception as exc:
            raise ClusterError(f"the Dask scheduler at {address} has no worker "
                               f"(waited {WORKERS_WAIT:.0f} s)") from exc
        yield client


def _line(exc: BaseException) -> str:
    """An exception's message on one line, cut short (Dask's can list every task)."""
    text = " ".join(str(exc).split())
    return (text[:197] + "...") if len(text) > 200 else text or type(exc).__name__


def shipped(spec: EngineSpec, smb: SmbWanted | None = None) -> Any:
    """The spec with the rule files' text, for workers that do not have those files, and
    the cache key of it all (workers whose code or libraries differ refuse the scan)."""
    from mfaleaks.run.clusterwork import Shipped
    from mfaleaks.run.plan import cache_key

    try:
        rules = tuple((p.name, p.read_bytes()) for p in spec.rule_files)
    except OSError as exc:
        raise ConfigError(f"cannot read rule file: {exc.filename}: {exc.strerror}") from exc
    return Shipped(rules=rules, spec=spec, key=cache_key(spec), smb=smb)


class ClusterScan:
    """One scan's hold on the cluster: its engine plugin on every worker, the tasks."""

    def __init__(self, client: Client, spec: EngineSpec, paths: Iterable[str],
                 smb: SmbWanted | None = None) -> None:
        from distributed import LocalCluster

        from mfaleaks.run.clusterwork import EnginePlugin

        # connected()'s local:N: its workers live in this process.
        local = isinstance(client.cluster, LocalCluster)
        self.client = client
        self.name = f"mfaleaks-{__version__}-{uuid.uuid4().hex[:12]}"
        relative = any(p != "-" and "://" not in p and not os.path.isabs(p) for p in paths)
        cwd = os.getcwd() if relative else None
        try:
            answers = client.register_plugin(
                EnginePlugin(self.name, shipped(spec, smb), cwd, local), name=self.name)
        except Exception as exc:
            raise ClusterError(f"a worker refused the scan: {_line(exc)}") from exc
        self._registered = True
        for worker, answer in (answers or {}).items():
            if isinstance(answer, dict) and answer.get("status") == "error":
                self.close()
                raise ClusterError(f"worker {worker}: {_line(answer.get('exception', ''))}")
        # The workers that took the scan: one of them lost counts even when it held no
        # task of ours at that moment (its batch done, the next not yet given).
        self._workers = set(answers or {})
        self.ocr = spec.limits.ocr
        self._keys = itertools.count()
        self.roots: dict[str, Root] = {}
        self.folders: FolderTasks | None = None

    def close(self) -> None:
        """The plugin removed from every worker: their children end, rule copies go."""
        if self._registered:
            self._registered = False
            with contextlib.suppress(Exception):  # the scheduler gone: nothing to undo
                self.client.unregister_worker_plugin(self.name)

    def lanes(self) -> list[str]:
        """One lane per worker thread, named by its worker's address."""
        workers = self.client.scheduler_info()["workers"]
        return [addr for addr, info in sorted(workers.items())
                for _ in range(max(1, int(info.get("nthreads", 1))))]

    def ask_roots(self, paths: Iterable[str], follow_symlinks: bool) -> list[str]:
        """What each command-line path is, asked of the workers (the client may not see
        the share); returns those that do not exist there."""
        from mfaleaks.run.clusterwork import root_task

        roots = [p for p in dict.fromkeys(paths) if p != "-"]
        futures = [self.submit(root_task, self.name, p, follow_symlinks, retries=2)
                   for p in roots]
        missing = []
        for path, future in zip(roots, futures, strict=True):
            self.roots[path] = _answer(future)
            if self.roots[path][0] == "missing":
                missing.append(path)
        return missing

    def walk(self, paths: Iterable[str], opts: WalkOptions,
             probe: Probe | None) -> Iterator[Source | ScanError | FileResult]:
        """discover.discover, with the file system calls made by the workers."""
        from mfaleaks.run.clusterwork import list_task

        def submit(folders: list[Todo]) -> Pending:
            future: Pending = self.submit(list_task, self.name, folders, opts, priority=10,
                                          retries=2)
            return future

        if self.folders is None:
            self.folders = FolderTasks(submit, self._wait, ahead=max(2, len(self.lanes())))
        for root in paths:
            kind, info = self.roots.get(root) or self._root(root, opts)
            if kind == "dir":
                items: Iterable[Source | ScanError | FileResult | None] = from_records(
                    self.folders.records(root), opts, probe)
            elif kind == "file":
                assert isinstance(info, tuple)
                items = [file_root(root, info, opts)]
            else:
                items = [ScanError(display(root), None, str(info))]
            for item in items:
                if isinstance(item, Source):
                    # Read on another machine, where the same mount has another device
                    # number: the file is checked by its inode alone.
                    item.device = None
                if item is not None:
                    yield item

    def _root(self, root: str, opts: WalkOptions) -> Root:
        self.ask_roots([root], opts.follow_symlinks)
        return self.roots[root]

    def _wait(self, futures: list[Pending]) -> None:
        from distributed import wait

        with lost(), self.client.as_current():  # (this client is nobody's default)
            wait(futures, return_when="FIRST_COMPLETED")

    def submit(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        # Keys that name the scan: the scheduler's events tell which workers it lost.
        key = f"{fn.__name__}-{self.name}-{next(self._keys)}"
        with lost():
            return self.client.submit(fn, *args, key=key, pure=False, **kwargs)

    def deaths(self) -> Counter[str]:
        """Processes that died during the scan: Dask workers the scheduler lost that had
        taken the scan or held its tasks, and scanning children (by exit code, pool._cause's
        words)."""
        from mfaleaks.run.clusterwork import child_deaths
        from mfaleaks.run.pool import _cause

        out: Counter[str] = Counter()
        with contextlib.suppress(Exception):  # the scheduler gone: nothing to ask
            for _, event in self.client.get_events("all"):
                if (isinstance(event, dict) and event.get("action") == "remove-worker"
                        and not event.get("expected")
                        and (event.get("worker") in self._workers
                             or any(self.name in str(k)
                                    for k in event.get("processing-tasks", ())))):
                    out["Dask worker lost"] += 1
        with contextlib.suppress(Exception):
            for counts in self.client.run(child_deaths, self.name).values():
                for code, n in counts.items():
                    out[f"scanning child by {_cause(code, named=True)}"] += n
        return out

    def pool(self) -> ClusterPool:
        return ClusterPool(self, self.lanes())


@contextlib.contextmanager
def lost() -> Iterator[None]:
    """The scheduler gone mid-scan (its tasks cancelled): exit 2 in one line. What was
    finished is in the cache (--cache), as after Ctrl-C."""
    try:
        yield
    except Exception as exc:
        raise ClusterError(f"the cluster stopped the scan: {_line(exc)}") from exc


def _answer(future: Any) -> Any:
    """A task's result; a task that failed ends the scan (exit 2) in one line."""
    try:
        return future.result()
    except Exception as exc:
        raise ClusterError(f"a task failed on the cluster: {_line(exc)}") from exc
    finally:
        future.release()


@dataclass
class _Lane:
    worker: str
    out: int = 0  # batches out now
    batch: Batch = field(default_factory=list)
    cost: float = 0.0


def _spread(size: int) -> int:
    """Sizes to lanes (pool.py's): copies (same size) meet, other sizes scatter."""
    return (size * 0x9E3779B1 >> 16) & 0xFFFF


class ClusterPool:
    """workers.Workers' interface (submit, wait, finish, close, terminate) over Dask tasks,
    so that reuse.Planner plans a cluster scan as it plans a local one."""

    def __init__(self, scan: ClusterScan, lanes: list[str], window: int = WINDOW) -> None:
        self._scan = scan
        self._lanes = [_Lane(worker) for worker in lanes] or [_Lane("")]
        self.window = window
        self._out: dict[Any, tuple[_Lane, Batch]] = {}
        self._held = 0
        self._later: Batch = []
        self.max_backlog = 0
        self.batches = 0  # tasks sent (the bench reports files per task)

    @property
    def backlog(self) -> int:
        return self._held

    @property
    def jobs(self) -> int:
        """Worker threads of the cluster: a big file is split in as many windows
        (plan.py), each a batch of its own."""
        return len(self._lanes)

    @property
    def unread(self) -> int:
        """Files left unread (the local pool's count): none here, a file whose Dask workers
        kept dying is reported as crashing its reader, with its reason."""
        return 0

    def notices(self) -> list[str]:
        """What the report says of processes that died (nothing when none did): their
        batches ran elsewhere, and the report is the same, but the user should know, as
        on one machine (pool.Workers.notices)."""
        deaths = self._scan.deaths()
        if not deaths:
            return []
        how = ", ".join(f"{n} {what}" for what, n in sorted(deaths.items()))
        return [f"workers: {sum(deaths.values())} worker process(es) died during the scan "
                f"({how}); the files they held were read again by new ones"]

    def submit(self, source: Source, tag: object = None) -> list[Done]:
        lane = self._queue(tag, source)
        self._held += 1
        self.max_backlog = max(self.max_backlog, self._held)
        full = self._full(lane)
        done = self._collect(block=False) if full or self._held % 16 == 0 else []
        if full or lane.out == 0:
            self._dispatch(lane)
        while self._full(lane):  # every lane is at its window
            done.extend(self._collect(block=True))
            self._dispatch(lane)
        return done

    def wait(self) -> list[Done]:
        """Block until something finishes (the partial batches sent first)."""
        for lane in self._lanes:
            if lane.batch:
                self._send(lane)
        return self._collect(block=True) if self._out else []

    def finish(self) -> Iterator[Done]:
        while True:
            while self._out or any(lane.batch for lane in self._lanes):
                yield from self.wait()
            if not self._later:
                return
            later, self._later = self._later, []
            for tag, source in later:
                self._queue(tag, source)

    def close(self) -> None:
        self._out.clear()

    def terminate(self) -> None:
        """Ctrl-C: the tasks out are cancelled, what is queued dropped."""
        futures = list(self._out)
        self._out.clear()
        with contextlib.suppress(Exception):
            self._scan.client.cancel(futures)
        for lane in self._lanes:
            lane.batch, lane.cost, lane.out = [], 0.0, 0
        self._later.clear()
        self._held = 0

    def _full(self, lane: _Lane) -> bool:
        return lane.cost >= BATCH_SECONDS or len(lane.batch) >= MAX_FILES

    def _queue(self, tag: object, source: Source) -> _Lane:
        if source.fs_path is not None and source.size <= SMALL_FILE:
            lane = self._lanes[_spread(source.size) % len(self._lanes)]
            if lane.out >= self.window:
                lane = min(self._lanes, key=lambda other: other.out)
        else:
            lane = min(self._lanes, key=lambda other: (other.out, other.cost))
        lane.batch.append((tag, source))
        lane.cost += cost(source, self._scan.ocr)
        return lane

    def _dispatch(self, lane: _Lane) -> None:
        """The lane's batch to its worker or, that one at its window, to one with room."""
        if lane.out < self.window:
            self._send(lane)
            return
        spare = [other for other in self._lanes if other.out < self.window]
        if spare:
            batch, lane.batch, lane.cost = lane.batch, [], 0.0
            self._send(min(spare, key=lambda other: other.out), batch)

    def _send(self, lane: _Lane, batch: Batch | None = None) -> None:
        from mfaleaks.run.clusterwire import pack_batch
        from mfaleaks.run.clusterwork import scan_task

        if batch is None:
            batch, lane.batch, lane.cost = lane.batch, [], 0.0
        if not batch:
            return
        future = self._scan.submit(
            scan_task, self._scan.name, pack_batch([source for _, source in batch]),
            workers=[lane.worker] if lane.worker else None, allow_other_workers=True)
        self._out[future] = (lane, batch)
        lane.out += 1
        self.batches += 1

    def _collect(self, block: bool) -> list[Done]:
        if not self._out:
            return []
        if block:
            self._scan._wait(list(self._out))
        done: list[Done] = []
        for future in [f for f in self._out if f.done()]:
            lane, batch = self._out.pop(future)
            lane.out -= 1
            done.extend(self._results(future, batch))
        later = [(tag, source) for tag, source, result in done if result.put_off]
        if later:  # not results: finish() sends them again
            self._later.extend(later)
            done = [item for item in done if not item[2].put_off]
        self._held -= len(done)
        return done

    def _results(self, future: Any, batch: Batch) -> list[Done]:
        from distributed.scheduler import KilledWorker

        from mfaleaks.run.clusterwire import unpack_results

        try:
            results = unpack_results(future.result(), [source for _, source in batch])
        except KilledWorker:
            # Workers died every time this batch ran: read its files one by one, so the
            # one that kills them is known (and the others are not lost with it).
            future.release()
            if len(batch) == 1:
                tag, source = batch[0]
                return [(tag, source, _failed(source))]
            for item in batch:
                lane = min(self._lanes, key=lambda other: other.out)
                self._send(lane, [item])
            return []
        except Exception as exc:
            raise ClusterError(f"a scan task failed on the cluster: {_line(exc)}") from exc
        future.release()
        return [(tag, s, r) for (tag, s), r in zip(batch, results, strict=True)]


def _failed(source: Source) -> FileResult:
    from mfaleaks.run.clusterwork import DIED, failed

    return failed(source, DIED)
