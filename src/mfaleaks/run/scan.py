"""The scan as one call: discover -> workers -> filter -> ScanResult.

The CLI and the tests call `run_scan`; a progress callback sees every file as
it finishes. Nothing here prints.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from mfaleaks.config import ScanConfig, SmbLogin
from mfaleaks.detect.fpkey import KEYED_PREFIX, check_key_file, key_source
from mfaleaks.errors import ConfigError
from mfaleaks.models import FileResult, Finding, Origin, ScanError, ScanResult, Source
from mfaleaks.run import forkstart
from mfaleaks.run.plan import cache_key, rules_known_good, scan_sources
from mfaleaks.run.spec import EngineSpec, engine_spec
from mfaleaks.sources.discover import WalkOptions, discover
from mfaleaks.sources.listing import listers
from mfaleaks.sources.smb.path import is_smb
from mfaleaks.triage import suppress

if TYPE_CHECKING:
    from mfaleaks.run.cluster import ClusterScan
    from mfaleaks.run.plan import Fill
    from mfaleaks.sources.discover import Probe
    from mfaleaks.sources.smb.scan import SmbScan

Progress = Callable[[FileResult], None]
STDIN_LIMIT = 512 * 1024 * 1024


def _stdin_source() -> tuple[Source, bool]:
    """Standard input, held in memory up to STDIN_LIMIT; True when it was cut."""
    data = sys.stdin.buffer.read(STDIN_LIMIT + 1)
    cut = len(data) > STDIN_LIMIT
    data = data[:STDIN_LIMIT]
    return Source(origin=Origin("-"), name="-", data=data, size=len(data)), cut


def run_scan(config: ScanConfig, progress: Progress | None = None) -> ScanResult:
    check_key_file()
    spec = engine_spec(config)
    if config.cluster is None:
        return _run(config, spec, progress)
    # The rules are checked here first (exit 2 before connecting), then the scan
    # runs on the cluster's workers; this process plans, filters and reports.
    spec.pack()
    from mfaleaks.run.cluster import ClusterScan, Tls, connected

    opts = config.cluster
    tls = None
    if opts.tls_ca is not None and opts.tls_cert is not None and opts.tls_key is not None:
        tls = Tls(str(opts.tls_ca), str(opts.tls_cert), str(opts.tls_key))
    wanted = None
    if any(is_smb(p) for p in config.paths):  # listed here; read by the workers, logged
        from mfaleaks.sources.smb.worker import SmbWanted  # on with their own password

        wanted = SmbWanted.of(config.smb or SmbLogin(), config.follow_symlinks)
    with connected(opts.address, tls) as client:
        cluster = ClusterScan(client, spec, config.paths, wanted)
        try:
            local = [p for p in config.paths if not is_smb(p)]  # smb://: asked of the server
            missing = cluster.ask_roots(local, config.follow_symlinks)
            if missing:
                raise ConfigError(f"no such file or folder on the cluster's workers: {missing[0]}")
            return _run(config, spec, progress, cluster)
        finally:
            cluster.close()


def _run(
    config: ScanConfig, spec: EngineSpec, progress: Progress | None,
    cluster: ClusterScan | None = None,
) -> ScanResult:
    key = cache_key(spec) if config.cache is not None else None
    known = rules_known_good(config, key) if key is not None else None
    if config.pooled and known is None and cluster is None:
        # A first scan will read files: let the worker server load meanwhile. (A rescan
        # may read nothing, and starts it only when a file changed.)
        forkstart.start_early(spec.min_confidence.value,
                              smb=any(is_smb(p) for p in config.paths),
                              pictures=forkstart.names_pictures(config.paths))
    # A rescan takes the ids its cache vouches for; otherwise the rules are compiled
    # here, to fail fast (exit 2) before any worker starts.
    ids = set(known) if known is not None else {r.id for r in spec.pack().rules}
    policy = suppress.policy_for(config, ids)
    result = ScanResult()
    start = time.perf_counter()
    walk = WalkOptions(
        excludes=config.excludes,
        follow_symlinks=config.follow_symlinks,
        max_file_size=config.limits.max_file_size,
        digests=known is not None,  # a rescan: folders the cache vouches for are skipped whole
        listers=listers(config.jobs) if known is not None else 1,
    )

    # SMB servers are logged on to before anything is read: a wrong password, an
    # unreachable server or an unknown share ends the run here (exit 2).
    smb = _open_smb(config, walk)

    def sources(probe: Probe | None) -> Iterator[Source | FileResult]:
        for path in config.paths:
            if path == "-":
                source, cut = _stdin_source()
                if cut:
                    result.errors.append(ScanError(
                        "-", None, f"standard input is larger than {STDIN_LIMIT // 2**20} MiB: "
                        "only the first part was scanned (save it to a file to scan it all)"))
                yield source
                continue
            if smb is not None and is_smb(path):
                found = smb.discover(path, probe)
            elif cluster is not None:
                found = cluster.walk((path,), walk, probe)
            else:
                found = discover((path,), walk, probe)
            for item in found:
                if isinstance(item, ScanError):
                    result.errors.append(item)
                    result.stats.skipped += 1
                else:
                    yield item

    logons: list[tuple[str, str]] = []  # the workers' first logons to SMB servers
    try:
        # Cache hits and copies of content already read are not read again (run/plan.py).
        compiled = ids if known is None else None
        fill = _fill(smb, config, cluster)
        pool = cluster.pool if cluster is not None else None
        # (Leaving this loop early, as _logons_failed does, closes the generator: its
        # workers are stopped, its cache written, before the sessions end below.)
        for file_result in scan_sources(sources, spec, config, result, key, compiled, fill,
                                        pool, smb):
            if smb is not None and file_result.findings:
                smb.facts(file_result)  # owner and exposure, asked of the server
            result.stats.files += file_result.files
            result.stats.bytes += file_result.bytes
            result.stats.pictures_read += file_result.pictures_read
            result.stats.pictures_dismissed += file_result.pictures_dismissed
            if file_result.findings:
                result.findings.extend(file_result.findings)
            if file_result.errors:
                result.errors.extend(file_result.errors)
            if file_result.logons:
                logons.extend(file_result.logons)
                if cluster is None:  # every worker of the pool failed: no need to go on
                    _logons_failed(logons, config.jobs)
            if progress is not None:
                progress(file_result)
    except KeyboardInterrupt:
        result.incomplete = True
        result.notices.append("interrupted: the report covers the files scanned so far")
    finally:
        if smb is not None:
            result.notices.extend(smb.notices)
            smb.close()
    if logons and not result.incomplete:
        partial = _logons_failed(logons)
        result.notices.extend(partial)
        result.alerts.extend(partial)
    result.findings = sorted(
        (f for f in result.findings if f.confidence.rank >= config.min_confidence.rank),
        key=_order,
    )
    outcome = suppress.apply(result.findings, policy)
    result.findings, result.suppressed = outcome.kept, outcome.suppressed
    # An interrupted scan saw only part of the tree: its unmatched entries prove nothing.
    result.baseline_stale = [] if result.incomplete else outcome.stale
    result.notices.extend(suppress.notices(result.suppressed, result.baseline_stale))
    if result.stats.pictures_read:
        # Here only: it loads PIL (~25 ms), which a scan that read no picture (a cached
        # rescan above all) has no use for.
        from mfaleaks.images import engine

        if slow := engine.notice():
            result.notices.append(slow)
    keyed = sum(f.fingerprint.startswith(KEYED_PREFIX)
                for f in (*result.findings, *result.suppressed))
    if keyed:
        result.notices.append(
            f"{keyed} finding(s) have a keyed fingerprint (k:...): their codes are few enough "
            f"to guess, so they are hashed with the key in {key_source()}; baselines and allow "
            "entries match them only where that key is (docs/fingerprints.md)")
    result.errors.sort(key=lambda e: (e.path, e.member or ""))
    result.stats.skipped = len({(e.path, e.member) for e in result.errors})
    result.stats.seconds = round(time.perf_counter() - start, 3)
    return result


def _logons_failed(logons: list[tuple[str, str]], workers: int = 1) -> list[str]:
    """Workers that could not log on to an SMB server leave every file they were given
    unread: when none could (once `workers` of them said so), the scan cannot do its job
    and must not pass as clean: ConfigError (exit 2, one line). Else a line per server
    that some of them could not log on to."""
    from mfaleaks.sources.smb.worker import logon_verdict

    fatal, partial = logon_verdict(logons, workers)
    if fatal is not None:
        raise ConfigError(fatal)
    return partial


def _open_smb(config: ScanConfig, walk: WalkOptions) -> SmbScan | None:
    """Sessions to the servers of the SMB paths, if any (ConfigError: exit 2)."""
    targets = [p for p in config.paths if is_smb(p)]
    if not targets:
        return None
    try:
        from mfaleaks.sources.smb.client import SmbOptions
        from mfaleaks.sources.smb.scan import SmbScan
    except ImportError as exc:
        raise ConfigError(f"{targets[0]}: SMB needs the smb extra ({exc.name} is missing): "
                          "pip install 'mfaleaks[smb]'") from exc
    login = config.smb or SmbLogin()
    options = SmbOptions(timeout=login.timeout, require_encryption=login.encrypt,
                         follow_symlinks=config.follow_symlinks)
    from mfaleaks.sources.smb.dfs import parse_allowed

    smb = SmbScan(login, options, walk, tuple(parse_allowed(h) for h in config.smb_dfs_hosts))
    try:
        for path in targets:
            smb.open(path)
    except BaseException:
        smb.close()
        raise
    return smb


def _fill(smb: SmbScan | None, config: ScanConfig, cluster: ClusterScan | None
          ) -> Fill | None:
    """What this process reads of the shares: nothing on a cluster, only files too big for
    a worker to read whole when worker processes read the others (sources/smb/worker.py),
    else all."""
    if smb is None:
        return None
    from mfaleaks.run.pool import POOL

    if cluster is not None:  # the cluster's workers read every file of a share
        return None
    if config.pooled and POOL:
        from mfaleaks.cache.contents import SMALL_FILE

        return lambda items: smb.fill(items, above=SMALL_FILE)
    return smb.fill


def _order(f: Finding) -> tuple[str, str, int, str]:
    return (f.path, f.member or "", f.line or 0, f.rule_id)
