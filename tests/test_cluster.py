"""`mfaleaks scan --cluster` against a real `dask scheduler` and two `dask worker`s (issue 23).

Each case compares the cluster scan's JSON report with a one-machine scan of the same
paths: findings (rule ids, fingerprints, locations, file facts), errors, notices and
exit code must be the same; only timings may differ.
"""

from __future__ import annotations

import copy
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import gen_hostile as gen
from daskcluster import DaskCluster, dask_cluster, dask_tls_cluster, free_port
from gen_mail import mails_with_picture
from hostile_cli import finish, start

pytest.importorskip("distributed")

__all__ = ["dask_cluster", "dask_tls_cluster"]  # fixtures, used by name

REPO = Path(__file__).resolve().parents[1]
MFALEAKS = Path(sys.executable).with_name("mfaleaks")
RUN_WAIT = 300.0  # s for one scan of a test tree on a busy machine (a hang guard)


def scan(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None,
         ) -> tuple[int, dict[str, Any], str]:
    res = subprocess.run([str(MFALEAKS), "scan", "--format", "json", "--quiet", *args],
                         capture_output=True, text=True, cwd=cwd, timeout=RUN_WAIT,
                         env=env)
    report = json.loads(res.stdout) if res.stdout.strip() else {}
    return res.returncode, report, res.stderr


def same(cluster: dict[str, Any], local: dict[str, Any]) -> None:
    """The two reports say the same, timings aside."""
    cluster, local = copy.deepcopy(cluster), copy.deepcopy(local)
    for report in (cluster, local):
        report["stats"].pop("seconds")
    fingerprints = sorted((f["rule_id"], f["fingerprint"], f["path"]) for f in local["findings"])
    assert sorted((f["rule_id"], f["fingerprint"], f["path"])
                  for f in cluster["findings"]) == fingerprints
    assert cluster == local


DEATHS = re.compile(r"workers: (\d+) worker process\(es\) died during the scan \((.*)\); the "
                    r"files they held were read again by new ones")


def deaths_said(report: dict[str, Any], stderr: str) -> str:
    """The report's notice of processes that died (also on stderr, as on one machine), taken
    out of the report so the rest can be compared with a one-machine scan's."""
    said = [n for n in report["notices"] if DEATHS.fullmatch(n)]
    assert len(said) == 1, report["notices"]
    assert f"mfaleaks: {said[0]}" in stderr
    report["notices"].remove(said[0])
    match = DEATHS.fullmatch(said[0])
    assert match is not None
    return match.group(2)


def big_tree(root: Path) -> int:
    """About 1,300 files in 30 folders: codes planted in 1 file of 25, notes elsewhere, and
    dense code-like files that keep workers busy for a few seconds. Returns the files."""
    rng = random.Random(23)
    count = 0
    for f in range(30):
        folder = root / f"dept-{f:02d}" / ("archive" if f % 3 == 0 else "")
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(42):
            count += 1
            if (f * 42 + i) % 25 == 0:
                (folder / f"github-recovery-codes-{i}.txt").write_bytes(
                    gen.github_file(gen.github_codes(rng)))
            elif i in (7, 28):  # dense: costly to read and score, never a finding (the kill
                # tests wait for seconds of scanning: 2,500 lines a file were too few once
                # clusters that cannot reach medium were dismissed before their lines were
                # read, and one such file a folder once dense text got faster: ~5 CPU s in
                # all, the scan sometimes over before the workers' children had used 4)
                (folder / f"ledger-{i}.txt").write_text("".join(
                    f"recovery codes {20_000_000 + f * 10_000 + n:08d}\n" for n in range(8000)))
            else:
                words = " ".join(rng.choice(["budget", "meeting", "review", "invoice",
                                             "travel", "draft", "2024", "Q3"])
                                 for _ in range(300))
                (folder / f"notes-{i}.txt").write_text(words + "\n")
    return count


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, dict[str, Any]]:
    """The big tree and its one-machine report."""
    root = tmp_path_factory.mktemp("share")
    files = big_tree(root)
    code, report, err = scan("--jobs", "2", str(root))
    assert code == 1, err
    return root, files, report


def test_fixtures_same_as_one_machine(dask_cluster: DaskCluster) -> None:
    """Relative paths too: workers resolve them in the client's current folder."""
    code, local, err = scan("--jobs", "2", "fixtures")
    assert code == 1, err
    ccode, cluster, cerr = scan(*dask_cluster.cli_args(), "fixtures")
    assert ccode == code, cerr
    assert local["findings"] and local["errors"]
    same(cluster, local)


def test_links_and_loops_same_as_one_machine(dask_cluster: DaskCluster, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "github-recovery-codes.txt").write_bytes(
        gen.github_file(gen.github_codes(random.Random(3))))
    os.symlink("..", root / "a" / "b" / "up")  # a loop when links are followed
    os.symlink("a", root / "also-a")
    (root / "fifo").mkdir()
    os.mkfifo(root / "fifo" / "pipe")
    for extra in ([], ["--follow-symlinks"]):
        code, local, err = scan("--jobs", "2", *extra, str(root), str(root / "a"))
        ccode, cluster, cerr = scan(*dask_cluster.cli_args(), *extra, str(root), str(root / "a"))
        assert (ccode, code) == (1, 1), cerr + err
        assert any("loop" in e["reason"] for e in local["errors"]) == bool(extra)
        same(cluster, local)


def test_a_tree_listed_by_many_folder_tasks_same_as_one_machine(
        dask_cluster: DaskCluster, tmp_path: Path) -> None:
    """More entries than one listing task takes (BUDGET): the folders are spread over
    tasks that run side by side, and come back in any order."""
    from mfaleaks.run.clusterlist import BUDGET

    root = tmp_path / "wide"
    rng = random.Random(7)
    for f in range(2 * BUDGET // 100 + 5):
        folder = root / f"d{f % 7}" / f"f{f:03d}"
        folder.mkdir(parents=True)
        for i in range(100):
            (folder / f"n{i}.txt").write_text(f"note {f} {i}\n")
        if f % 20 == 0:
            (folder / "github-recovery-codes.txt").write_bytes(
                gen.github_file(gen.github_codes(rng)))
    code, local, err = scan("--jobs", "2", str(root))
    ccode, cluster, cerr = scan(*dask_cluster.cli_args(), str(root))
    assert (ccode, code) == (1, 1), cerr + err
    assert local["stats"]["files"] > 2 * BUDGET
    same(cluster, local)


def scanning_cpu(cluster: DaskCluster) -> dict[int, float]:
    """Worker pid -> CPU seconds its scanning children (clusterchild) have used so far."""
    import psutil

    used = {}
    for pid in cluster.worker_pids():
        try:
            children = [c for c in psutil.Process(pid).children()
                        if "clusterchild" in " ".join(c.cmdline())]
            used[pid] = sum(sum(c.cpu_times()[:2]) for c in children)
        except psutil.Error:
            continue
    return used


def wait_scanning(cluster: DaskCluster, child: Any, cpu: float) -> int:
    """Block until the workers' scanning children have used `cpu` seconds between them
    (building the engine takes ~1 s of it): files are being read. Returns the pid of the
    worker whose children used the most."""
    deadline = time.monotonic() + RUN_WAIT
    while time.monotonic() < deadline and child.proc.poll() is None:
        used = scanning_cpu(cluster)
        if sum(used.values()) >= cpu:
            return max(used, key=lambda pid: used[pid])
        time.sleep(0.05)
    raise AssertionError("the workers did not scan (or the scan ended first)")


def test_a_worker_killed_mid_scan_loses_nothing_and_repeats_nothing(
        dask_cluster: DaskCluster, tree: tuple[Path, int, dict[str, Any]],
        tmp_path: Path) -> None:
    root, files, local = tree
    child = start(["scan", "--format", "json", "--quiet", *dask_cluster.cli_args(), str(root)],
                  tmp_path / "run", measure=False)
    victim = wait_scanning(dask_cluster, child, cpu=4.0)
    assert child.proc.poll() is None, "the scan ended before a worker could be killed"
    os.kill(victim, signal.SIGKILL)
    res = finish(child, RUN_WAIT)
    assert not res.hung
    assert res.code == 1, res.stderr.decode(errors="replace")[-2000:]
    report = res.report
    assert report["stats"]["files"] == files
    paths = [(f["path"], f["fingerprint"]) for f in report["findings"]]
    assert len(paths) == len(set(paths)), "a finding was reported twice"
    assert deaths_said(report, res.stderr.decode(errors="replace")) == "1 Dask worker lost"
    same(report, local)
    dask_cluster.wait_workers(2)  # the nanny started another one, for the next tests


def test_a_scanning_child_killed_mid_batch_loses_nothing(
        dask_cluster: DaskCluster, tree: tuple[Path, int, dict[str, Any]],
        tmp_path: Path) -> None:
    """What a parser crash or the OOM killer does to the child a worker scans in: its
    batch is read again, file by file, in a new child; the worker itself goes on."""
    import psutil

    root, files, local = tree
    child = start(["scan", "--format", "json", "--quiet", *dask_cluster.cli_args(), str(root)],
                  tmp_path / "run", measure=False)
    worker = wait_scanning(dask_cluster, child, cpu=4.0)
    scanner = next(c for c in psutil.Process(worker).children()
                   if "clusterchild" in " ".join(c.cmdline()))
    assert child.proc.poll() is None, "the scan ended before its child could be killed"
    scanner.kill()
    res = finish(child, RUN_WAIT)
    assert res.code == 1, res.stderr.decode(errors="replace")[-2000:]
    report = res.report  # (parsed at each look)
    assert report["stats"]["files"] == files
    assert worker in dask_cluster.worker_pids()  # the same worker process
    assert deaths_said(report, res.stderr.decode(errors="replace")) == \
        "1 scanning child by signal 9 (SIGKILL)"
    same(report, local)


def test_an_interrupted_client_rerun_reads_only_what_was_not_finished(
        dask_cluster: DaskCluster, tree: tuple[Path, int, dict[str, Any]],
        tmp_path: Path) -> None:
    root, files, local = tree
    cache = tmp_path / "scan.cache"
    args = ["scan", "--format", "json", "--quiet", "--cache", str(cache),
            *dask_cluster.cli_args(), str(root)]
    child = start(args, tmp_path / "first", measure=False)
    wait_scanning(dask_cluster, child, cpu=4.0)
    assert child.proc.poll() is None, "the scan ended before it could be interrupted"
    os.kill(child.pid, signal.SIGINT)
    first = finish(child, RUN_WAIT)
    assert first.code in (1, 130), first.stderr.decode(errors="replace")[-2000:]
    partial = first.report
    assert partial["incomplete"] is True
    done = partial["stats"]["files"]
    assert 0 < done < files, "interrupted too early or too late: resize the tree"
    code, rerun, err = scan("--cache", str(cache), *dask_cluster.cli_args(), str(root))
    assert code == 1, err
    counts = next(n for n in rerun["notices"] if n.startswith("cache:"))
    unchanged = int(counts.split()[1])
    read = int(counts.rsplit(",", 1)[1].split()[0])
    print(f"interrupted after {done} of {files} files; rerun: {counts}")
    assert unchanged > 0 and read < files
    for report in (rerun, local):
        report["notices"] = [n for n in report["notices"] if not n.startswith("cache:")]
    same(rerun, local)


def test_tls_with_show_secrets_same_as_one_machine(dask_tls_cluster: DaskCluster) -> None:
    paths = ("fixtures/IT", "fixtures/home")
    code, local, err = scan("--jobs", "2", "--show-secrets", *paths)
    ccode, cluster, cerr = scan(*dask_tls_cluster.cli_args(), "--show-secrets", *paths)
    assert (ccode, code) == (1, 1), cerr + err
    assert all(f.get("secrets") for f in cluster["findings"])
    same(cluster, local)


def test_tls_without_certificates_is_refused(dask_tls_cluster: DaskCluster) -> None:
    code, _, err = scan("--cluster", dask_tls_cluster.address, "fixtures")
    assert code == 2
    assert "--cluster-tls-ca" in err


def test_codes_in_full_and_stdin_are_refused_over_tcp(dask_cluster: DaskCluster) -> None:
    code, _, err = scan(*dask_cluster.cli_args(), "--show-secrets", "fixtures")
    assert code == 2
    assert "--show-secrets is refused over tcp://" in err
    res = subprocess.run([str(MFALEAKS), "scan", *dask_cluster.cli_args(), "-"],
                         input=b"codes", capture_output=True, timeout=RUN_WAIT)
    assert res.returncode == 2
    assert b"standard input is refused over tcp://" in res.stderr


def test_an_unreachable_scheduler_exits_2_in_one_line() -> None:
    port = free_port()  # nothing listens there
    env = {**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "3s"}
    code, report, err = scan("--cluster", f"tcp://127.0.0.1:{port}", "fixtures", env=env)
    assert code == 2
    assert not report
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"mfaleaks: cannot reach the Dask scheduler at tcp://127.0.0.1:{port}")


def test_a_path_missing_on_the_workers_is_a_usage_error(dask_cluster: DaskCluster,
                                                        tmp_path: Path) -> None:
    code, _, err = scan(*dask_cluster.cli_args(), str(tmp_path / "nowhere"))
    assert code == 2
    assert "no such file or folder" in err


def test_a_local_cluster_same_as_one_machine() -> None:
    code, local, err = scan("--jobs", "2", "fixtures/mail", "fixtures/IT")
    ccode, cluster, cerr = scan("--cluster", "local:2", "fixtures/mail", "fixtures/IT")
    assert ccode == code == 1, cerr + err
    same(cluster, local)


def test_workers_refuse_a_scan_their_code_would_not_answer_the_same(
        dask_cluster: DaskCluster) -> None:
    """The client's engine key (code, rules, libraries, tesseract) against the workers':
    one that differs ends the scan with exit 2 before any file is read."""
    from dataclasses import replace

    from mfaleaks.config import ScanConfig
    from mfaleaks.run.cluster import ClusterScan, connected, shipped
    from mfaleaks.run.clusterwork import EnginePlugin
    from mfaleaks.run.spec import engine_spec

    spec = engine_spec(ScanConfig(paths=(str(REPO / "fixtures"),)))
    other = replace(shipped(spec), key="0" * 64)  # as a client with other code would send
    with connected(dask_cluster.address) as client:
        with pytest.raises(Exception, match="differ from the client's"):
            client.register_plugin(EnginePlugin("mfaleaks-test-other", other, None))
        scan = ClusterScan(client, spec, [str(REPO / "fixtures")])  # the same code: taken
        scan.close()


def test_a_scheduler_lost_mid_scan_exits_2_in_one_line(
        tree: tuple[Path, int, dict[str, Any]], tmp_path: Path) -> None:
    """A scheduler of its own: this one is SIGKILLed while the workers scan."""
    from daskcluster import start_cluster

    root, _, _ = tree
    cluster = start_cluster(tmp_path / "dask", tls=False)
    try:
        env = {**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "5s"}
        child = start(["scan", "--format", "json", "--quiet", *cluster.cli_args(), str(root)],
                      tmp_path / "run", measure=False, env=env)
        wait_scanning(cluster, child, cpu=3.0)
        cluster.procs[0].kill()
        res = finish(child, RUN_WAIT)
    finally:
        cluster.stop()
    assert not res.hung
    assert res.code == 2
    lines = res.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("mfaleaks: the cluster stopped the scan:")


def test_the_launcher_starts_nothing_local_for_a_cluster_scan(tmp_path: Path) -> None:
    """No fork server and no early listing child: the workers list and read."""
    from mfaleaks.cli.launch import rescan_walk, will_read

    cache = tmp_path / "c.sqlite"
    cache.write_bytes(b"")
    assert will_read(["scan", "--jobs", "2", str(tmp_path)])
    assert not will_read(["scan", "--jobs", "2", "--cluster", "local:2", str(tmp_path)])
    assert rescan_walk(["scan", "--cache", str(cache), str(tmp_path)]) is not None
    assert rescan_walk(["scan", "--cache", str(cache), "--cluster", "tcp://h:1",
                        str(tmp_path)]) is None


def test_a_big_file_split_in_windows_same_as_one_machine(dask_cluster: DaskCluster,
                                                         tmp_path: Path) -> None:
    """A file past plan.SPLIT_FILE is scanned in windows, each a batch of its own."""
    from mfaleaks.run.plan import SPLIT_FILE

    rng = random.Random(2)
    lines = []
    size = n = 0
    while size <= SPLIT_FILE:
        line = f"log line {n} user{rng.randrange(1000)} ok\n"
        if n % 300_000 == 150_000:
            line += "github recovery codes:\n" + "".join(gen.github_file(gen.github_codes(rng))
                                                         .decode().splitlines(keepends=True))
        lines.append(line)
        size += len(line)
        n += 1
    (tmp_path / "big.log").write_text("".join(lines))
    code, local, err = scan("--jobs", "2", str(tmp_path))
    ccode, cluster, cerr = scan(*dask_cluster.cli_args(), str(tmp_path))
    assert (ccode, code) == (1, 1), cerr + err
    assert len(local["findings"]) > 1
    same(cluster, local)


def test_a_folder_bigger_than_a_listing_task_is_listed_in_pieces(
        dask_cluster: DaskCluster, tmp_path: Path) -> None:
    """A folder of more than clusterlist.CHUNK entries is listed by several tasks, a piece
    each; the report is a one-machine scan's, and a rescan with --cache reads nothing (the
    pieces reach the cache as one run of the folder)."""
    from mfaleaks.config import ScanConfig
    from mfaleaks.run.cluster import ClusterScan, connected
    from mfaleaks.run.clusterlist import CHUNK, list_folders
    from mfaleaks.run.spec import engine_spec
    from mfaleaks.sources.listing import FILES, WalkOptions

    root = tmp_path / "big"
    (root / "sub").mkdir(parents=True)
    files = 3 * CHUNK + 500
    for i in range(files):
        (root / f"n{i:05d}.txt").write_text(f"note {i}\n")
    (root / "github-recovery-codes.txt").write_bytes(
        gen.github_file(gen.github_codes(random.Random(5))))
    (root / "sub" / "inside.txt").write_text("below a big folder\n")
    code, local, err = scan("--jobs", "2", str(root))
    ccode, cluster, cerr = scan(*dask_cluster.cli_args(), str(root))
    assert (ccode, code) == (1, 1), cerr + err
    assert local["stats"]["files"] == files + 2
    same(cluster, local)

    # No task lists more than a piece of it.
    listed, left = list_folders([str(root)], WalkOptions())
    assert sum(len(r[2]) for _, _, _, records in listed for r in records if r[0] == FILES) \
        <= CHUNK
    assert sum(isinstance(item, tuple) for _, item in left) == (files + 2) // CHUNK
    # ... and on the cluster the pieces are tasks of their own.
    spec = engine_spec(ScanConfig(paths=(str(root),)))
    with connected(dask_cluster.address) as client:
        cscan = ClusterScan(client, spec, [str(root)])
        try:
            sources = list(cscan.walk([str(root)], WalkOptions(), None))
        finally:
            cscan.close()
    assert len(sources) == files + 2
    assert cscan.folders is not None and cscan.folders.tasks >= 1 + (files + 2) // CHUNK

    cache = tmp_path / "scan.cache"
    for _ in range(2):
        ccode, cluster, cerr = scan("--cache", str(cache), *dask_cluster.cli_args(), str(root))
        assert ccode == 1, cerr
    assert f"cache: {files + 2} unchanged file(s) not read, 0 recognised by content, 0 read" \
        in cluster["notices"]


def test_a_local_cluster_reads_a_picture_in_mails_of_both_workers_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """local:N forks its scanning children from the local pool's fork server, so they share
    its table of pictures being read (images/ocrshare.py): the same screenshot in mails
    that go to both workers is given to tesseract once, as with --jobs 2."""
    import shutil
    import stat

    import gen_mail
    from mfaleaks.images import engine, ocr
    from mfaleaks.run.cluster import _spread

    if not ocr.tesseract_available():
        pytest.skip("tesseract not installed")
    real = shutil.which("tesseract")
    assert real is not None
    shim, log = tmp_path / "bin", tmp_path / "tesseract-runs.log"
    shim.mkdir()
    (shim / "tesseract").write_text(  # one line per picture read (not per --version)
        "#!/bin/sh\n"
        f'case "$1" in --*) ;; *) echo "$$" >> "{log}" ;; esac\n'
        f'exec "{real}" "$@"\n')
    (shim / "tesseract").chmod(stat.S_IRWXU)
    log.touch()
    env = {**os.environ, "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}",
           engine.FORCE_ENV: "program"}
    rng = random.Random(23)
    shot = gen_mail.screenshot("GitHub recovery codes\n" + "\n".join(
        f"{rng.getrandbits(20):05x}-{rng.getrandbits(20):05x}" for _ in range(6)))
    one = tmp_path / "one"
    one.mkdir()
    (one / "codes.png").write_bytes(shot)
    code, _, err = scan("--min-confidence", "low", "--jobs", "1", str(one), env=env)
    assert code == 1, err
    once = len(log.read_text().splitlines())  # tesseract runs of one reading
    assert once >= 1
    share = tmp_path / "mail"
    sizes = mails_with_picture(share, shot)
    assert len({_spread(size) % 2 for size in sizes}) == 2  # both workers get mails
    for runs in ("local", "cluster"):
        log.write_text("")
        args = ("--jobs", "2") if runs == "local" else ("--cluster", "local:2")
        code, report, err = scan("--min-confidence", "low", *args, str(share), env=env)
        assert code == 1, err
        assert sorted({f["path"] for f in report["findings"]}) == sorted(
            str(share / f"mail{i}.eml") for i in range(12))
        assert len(log.read_text().splitlines()) == once, runs


def test_a_scanning_child_that_dies_idle_is_counted_and_replaced(
        dask_cluster: DaskCluster) -> None:
    """A worker's scanning child killed while it waits for work (no task would notice it):
    the client's count of deaths still says so, and the next batch gets a new child."""
    import psutil

    from mfaleaks.config import ScanConfig
    from mfaleaks.models import Source
    from mfaleaks.run.cluster import ClusterScan, connected
    from mfaleaks.run.clusterwire import pack_batch, unpack_results
    from mfaleaks.run.clusterwork import scan_task
    from mfaleaks.run.spec import engine_spec
    from mfaleaks.sources.discover import discover
    from mfaleaks.sources.listing import WalkOptions

    codes = REPO / "fixtures" / "home" / "jdoe" / "Documents" / "Backup-codes-jdoe.txt"
    spec = engine_spec(ScanConfig(paths=(str(codes),)))
    batch = [s for s in discover((str(codes),), WalkOptions()) if isinstance(s, Source)]
    def children() -> list[psutil.Process]:
        found = []
        for pid in dask_cluster.worker_pids():
            for c in psutil.Process(pid).children():
                try:
                    if "clusterchild" in " ".join(c.cmdline()):
                        found.append(c)
                except psutil.Error:  # ended meanwhile (an earlier test's)
                    continue
        return found

    earlier = {c.pid for c in children()}  # an earlier test's, still ending
    with connected(dask_cluster.address) as client:
        scan = ClusterScan(client, spec, [str(codes)])  # each worker starts an idle child
        try:
            idle: list[psutil.Process] = []
            deadline = time.monotonic() + RUN_WAIT
            while len(idle) < 2 and time.monotonic() < deadline:
                idle = [c for c in children() if c.pid not in earlier]
                time.sleep(0.05)
            assert len(idle) == 2, "one idle scanning child per worker (--nthreads 1)"
            for victim in idle:
                victim.kill()
            # (Each is its worker's child: dead, it stays a zombie until its worker looks.)
            deaths = scan.deaths()
            while sum(deaths.values()) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
                deaths = scan.deaths()
            assert deaths == {"scanning child by signal 9 (SIGKILL)": 2}
            # Counted once: a second look finds no new death.
            assert scan.deaths() == {"scanning child by signal 9 (SIGKILL)": 2}
            blob = scan.submit(scan_task, scan.name, pack_batch(batch)).result(RUN_WAIT)
            results = unpack_results(blob, batch)
            assert [r.errors for r in results] == [[]]
            assert any(f.rule_id == "google-backup-codes" for f in results[0].findings), \
                [f.rule_id for f in results[0].findings]
        finally:
            scan.close()
