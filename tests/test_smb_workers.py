"""Workers read the files of shares themselves (sources/smb/worker.py), over sessions of
their own, against a real Samba server: the same findings as on disk, errors in order,
copies scanned once, the cache, and a password that stays in memory."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import REPO, invoke
from mfaleaks.config import ScanConfig, SmbLogin
from mfaleaks.models import FileResult, Origin, Source
from mfaleaks.run.scan import run_scan
from mfaleaks.sources.smb.auth import PASSWORD_ENV
from mfaleaks.sources.smb.client import SmbEntry, SmbOptions, SmbSession
from mfaleaks.sources.smb.scan import SmbScan
from mfaleaks.sources.smb.url import parse_target
from mfaleaks.sources.smb.worker import SmbAccess, WorkerShares, logon_verdict, split_url
from smbserver import SmbServer, running_server


def _pairs(report: dict[str, object]) -> list[tuple[str, str]]:
    return sorted((f["rule_id"], f["fingerprint"]) for f in report["findings"])  # type: ignore[attr-defined, index]


def test_split_url_reads_back_what_reports_write() -> None:
    assert split_url("smb://files/Public/HR/a%20b.txt") == ("files", 445, "Public",
                                                            "HR\\a%20b.txt")
    assert split_url("smb://127.0.0.1:4450/s/x") == ("127.0.0.1", 4450, "s", "x")
    assert split_url("smb://[::1]:4450/s/d/x") == ("[::1]", 4450, "s", "d\\x")
    assert split_url("smb://[fe80::1]/s/x") == ("[fe80::1]", 445, "s", "x")
    assert split_url("smb://host") is None and split_url("smb://h:port/s/x") is None


def test_the_fixtures_share_with_two_workers_finds_what_disk_does(
        smb_server: SmbServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, smb_server.password)
    remote = invoke("scan", "--format", "json", "--jobs", "2", "--smb-user", smb_server.user,
                    smb_server.url("fixtures"))
    local = invoke("scan", "--format", "json", "--jobs", "2", str(REPO / "fixtures"))
    assert remote.exit_code == local.exit_code == 1, remote.stderr
    assert _pairs(remote.report) and _pairs(remote.report) == _pairs(local.report)
    # Owner and exposure still come from the server (asked by the main process).
    assert all("file_exposure" in f["meta"] for f in remote.report["findings"])


def _entries(server: SmbServer, share: str) -> list[SmbEntry]:
    login = SmbLogin(server.user, password=server.password)
    with SmbSession(parse_target(server.url()), login, SmbOptions()) as session:
        return [e for e in session.share(share).walk() if isinstance(e, SmbEntry)]


def _source(server: SmbServer, share: str, entry: SmbEntry) -> Source:
    url = server.url(share, entry.path.replace("\\", "/"))
    return Source(origin=Origin(url), name=entry.name, fs_path=url, size=entry.size,
                  stat_key=(entry.size, entry.mtime_ns, entry.change_ns, entry.file_id))


def test_a_batch_is_read_in_order_with_a_reason_for_each_file_not_read(
        smb_server: SmbServer, tmp_path: Path) -> None:
    entries = _entries(smb_server, "fixtures")[:20]
    batch = [_source(smb_server, "fixtures", e) for e in entries]
    local = tmp_path / "local.txt"
    local.write_text("on disk\n")
    on_disk = Source(origin=Origin(str(local)), name="local.txt", fs_path=str(local), size=8)
    vanished = smb_server.url("fixtures", "home/vanished.txt")
    gone = Source(origin=Origin(vanished), name="vanished.txt", fs_path=vanished, size=3,
                  stat_key=(3, 0, 0, 0))
    batch[5:5] = [on_disk, gone]
    shares = WorkerShares(SmbAccess(SmbLogin(smb_server.user, password=smb_server.password)))
    try:
        got = list(shares.read(batch))
    finally:
        shares.close()
    assert len(got) == len(batch)
    assert got[5] is on_disk  # not a file of a share: passed on as it was
    assert isinstance(got[6], FileResult)
    assert got[6].errors[0].reason == "cannot read: no longer exists"
    for source, out in zip(batch[:5] + batch[7:], got[:5] + got[7:], strict=True):
        assert isinstance(out, Source) and out.origin == source.origin
        rel = source.origin.path.removeprefix(smb_server.url("fixtures") + "/")
        assert out.data == (REPO / "fixtures" / rel).read_bytes()

    wrong = WorkerShares(SmbAccess(SmbLogin(smb_server.user, password="not-it")))
    refused = list(wrong.read(batch[:3]))
    assert all(isinstance(r, FileResult) and "logon failed" in r.errors[0].reason
               for r in refused)


def _smbd_children(server: SmbServer) -> set[int]:
    """smbd's children: Samba forks one per client connection."""
    assert server.process is not None
    out = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                parent = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent == server.process.pid:
            out.add(int(pid))
    return out


def test_a_worker_whose_session_drops_opens_another_and_reads_on(
        smb_server: SmbServer) -> None:
    """The smbd serving a worker's session is killed after its first file: the worker
    logs on again and reads every file after the drop (not listed unread)."""
    entries = [e for e in _entries(smb_server, "fixtures") if e.size][:48]
    batch = [_source(smb_server, "fixtures", e) for e in entries]
    before = _smbd_children(smb_server)
    shares = WorkerShares(SmbAccess(SmbLogin(smb_server.user, password=smb_server.password)))
    try:
        reading = shares.read(batch)
        got = [next(reading)]
        serving = _smbd_children(smb_server) - before
        assert len(serving) == 1, serving
        os.kill(serving.pop(), signal.SIGKILL)
        got.extend(reading)
        # The new session is another smbd child; the killed one is gone.
        assert len(_smbd_children(smb_server) - before) == 1
    finally:
        shares.close()
    assert len(got) == len(batch)
    for source, out in zip(batch, got, strict=True):
        assert isinstance(out, Source), out
        rel = source.origin.path.removeprefix(smb_server.url("fixtures") + "/")
        assert out.data == (REPO / "fixtures" / rel).read_bytes()


def test_copies_on_a_share_are_scanned_once_and_reported_at_each_place(
        smb_server: SmbServer) -> None:
    folder = smb_server.shares["scratch"] / "copies"
    shutil.rmtree(folder, ignore_errors=True)
    codes = REPO / "fixtures" / "home" / "jdoe" / "Documents" / "Backup-codes-jdoe.txt"
    for name in ("a", "b", "c"):
        (folder / name).mkdir(parents=True)
        shutil.copy(codes, folder / name / codes.name)
    seen: list[FileResult] = []
    config = ScanConfig(paths=(smb_server.url("scratch", "copies"),), jobs=2,
                        smb=SmbLogin(smb_server.user, password=smb_server.password))
    result = run_scan(config, progress=seen.append)
    assert {f.path.split("/copies/")[1] for f in result.findings} == {
        f"{n}/{codes.name}" for n in "abc"}
    assert len({f.fingerprint for f in result.findings}) == len(result.findings) // 3
    assert sum(r.reused for r in seen) >= 1  # the same content was not scanned three times


def test_rescan_with_workers_opens_no_unchanged_file(smb_server: SmbServer,
                                                     tmp_path: Path) -> None:
    folder = smb_server.shares["scratch"] / "cached2"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(REPO / "fixtures" / "home", folder)
    cache = tmp_path / "cache.db"
    login = SmbLogin(smb_server.user, password=smb_server.password)
    config = ScanConfig(paths=(smb_server.url("scratch", "cached2"),), jobs=2, smb=login,
                        cache=cache)
    first = run_scan(config)
    again = run_scan(config)
    files = first.stats.files
    assert f"cache: {files} unchanged file(s) not read, 0 recognised by content, 0 read" in \
        again.notices
    assert sorted(f.fingerprint for f in again.findings) == \
        sorted(f.fingerprint for f in first.findings)


def test_the_password_reaches_workers_in_memory_only(smb_server: SmbServer,
                                                     tmp_path: Path) -> None:
    """No process has the password on its command line (it was given in memory, not
    through MFALEAKS_SMB_PASSWORD), and nothing written under the scan's temporary
    folder holds it. (Environments are not looked at: the fork server keeps the one it
    started with, which an earlier test of the session may have given the password.)"""
    password = smb_server.password.encode()
    found: list[str] = []

    def look(result: FileResult) -> None:
        if found:
            return
        found.append("looked")
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                data = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if password in data:
                found.append(pid)

    cache = tmp_path / "cache.db"
    config = ScanConfig(paths=(smb_server.url("fixtures"),), jobs=2, cache=cache,
                        smb=SmbLogin(smb_server.user, password=smb_server.password))
    result = run_scan(config, progress=look)
    assert result.findings and found == ["looked"]
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert password not in path.read_bytes(), path


def test_a_worker_logs_on_as_it_starts_before_its_first_file(smb_server: SmbServer) -> None:
    """SmbAccess.warm: the worker's session (one smbd child: Samba forks one per connection)
    is open before any file is asked for, and the files are then read over that one."""
    batch = [_source(smb_server, "fixtures", e) for e in _entries(smb_server, "fixtures")[:3]]
    login = SmbLogin(smb_server.user, password=smb_server.password)
    where = ((smb_server.host, smb_server.port, "fixtures"),)
    before = _smbd_children(smb_server)
    shares = WorkerShares(SmbAccess(login, warm=where))
    try:
        shares.warm()
        assert len(_smbd_children(smb_server) - before) == 1
        got = list(shares.read(batch))
        assert len(_smbd_children(smb_server) - before) == 1
    finally:
        shares.close()
    assert all(isinstance(s, Source) and s.data is not None for s in got)
    # A logon that fails as the worker starts is kept, and said with each file.
    wrong = WorkerShares(SmbAccess(SmbLogin(smb_server.user, password="not-it"), warm=where))
    wrong.warm()
    refused = list(wrong.read(batch))
    assert all(isinstance(r, FileResult) and "logon failed" in r.errors[0].reason
               for r in refused)


def test_an_idle_worker_gives_its_connection_back_to_smbprotocols_keepalive(
        smb_server: SmbServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """While the struct channel holds a connection, smbprotocol's thread (which sends an
    ECHO after its receive timeout, 10 minutes, here 1 s) is parked: no keepalive goes out.
    WorkerShares.idle (a worker without a batch for a while) hands the connection back."""
    monkeypatch.setenv("SMB_EXPERIMENTAL_TRANSPORT_RECEIVE_TIMEOUT", "1")
    batch = [_source(smb_server, "fixtures", e) for e in _entries(smb_server, "fixtures")[:3]]
    login = SmbLogin(smb_server.user, password=smb_server.password)
    shares = WorkerShares(SmbAccess(login))
    try:
        assert all(isinstance(s, Source) for s in shares.read(batch))
        session = shares._sessions[(smb_server.host, smb_server.port)]
        assert isinstance(session, SmbSession)
        window = session._conn.sequence_window
        sent = window["low"]
        time.sleep(2.5)
        assert window["low"] == sent  # the channel's: nothing sent while idle
        shares.idle()
        time.sleep(2.5)
        assert window["low"] > sent  # smbprotocol's keepalive ECHO went out
        again = list(shares.read(batch))  # and the channel takes the connection back
    finally:
        shares.close()
    assert [s.data for s in again] == [(REPO / "fixtures" / s.origin.path.removeprefix(
        smb_server.url("fixtures") + "/")).read_bytes() for s in batch]


def _set_password(server: SmbServer, password: str) -> None:
    subprocess.run(["smbpasswd", "-c", str(server.conf), "-s", "-a", server.user],
                   input=f"{password}\n{password}\n".encode(), check=True, capture_output=True)


@pytest.fixture
def own_server(smb_server: SmbServer) -> Iterator[SmbServer]:
    """A server of this test alone (its password changes in the middle)."""
    with running_server() as server:
        yield server


def test_a_scan_whose_workers_all_fail_to_log_on_exits_2(
        own_server: SmbServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The password changes on the server after the main process logged on and before the
    workers do (they start once the main process's logons succeeded): every file would be
    listed unread and the scan pass as clean. It exits 2 with one line that says why."""
    opened = SmbScan.open

    def open_then_change(self: SmbScan, text: str) -> None:
        opened(self, text)
        _set_password(own_server, "Chang3d-after-the-main-logon")

    monkeypatch.setattr(SmbScan, "open", open_then_change)
    monkeypatch.setenv(PASSWORD_ENV, own_server.password)
    res = invoke("scan", "--format", "json", "--jobs", "2", "--smb-user", own_server.user,
                 own_server.url("bulk"))
    assert res.exit_code == 2, (res.stderr, res.stdout[-2000:])
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0] == (f"mfaleaks: {own_server.url()}: the worker processes could not log on "
                        f"(logon failed for {own_server.user} (wrong user or password)); none "
                        "of the files they were given was read")
    assert own_server.password not in res.stderr


def test_workers_tell_their_first_logons_and_some_failing_is_not_fatal(
        smb_server: SmbServer) -> None:
    """Each worker tells the main process (with one result of a batch) how its first logon
    to each server went: all failing is fatal, some failing is said, and a session opened
    again after a drop is not a first logon."""
    batch = [_source(smb_server, "fixtures", e) for e in _entries(smb_server, "fixtures")[:2]]
    where = ((smb_server.host, smb_server.port, "fixtures"),)
    good = WorkerShares(SmbAccess(SmbLogin(smb_server.user, password=smb_server.password),
                                  warm=where))
    bad = WorkerShares(SmbAccess(SmbLogin(smb_server.user, password="not-it"), warm=where))
    try:
        for shares in (good, bad):
            shares.warm()
            list(shares.read(batch))
        told = {"good": good.logons(), "bad": bad.logons()}
        list(good.read(batch))
        assert good.logons() == []  # told once
    finally:
        good.close()
        bad.close()
    server = smb_server.url()
    assert told["good"] == [(server, "")]
    ((at, why),) = told["bad"]
    assert at == server and "logon failed" in why
    fatal, said = logon_verdict(told["bad"] * 2)
    assert fatal is not None and fatal.startswith(f"{server}: the worker processes could not "
                                                  "log on (logon failed for") and not said
    # During the scan (workers: the pool's size) only once every worker failed.
    assert logon_verdict(told["bad"], workers=2) == (None, [])
    assert logon_verdict(told["bad"] * 2, workers=2)[0] == fatal
    fatal, said = logon_verdict([*told["good"], *told["bad"]])
    assert fatal is None
    reason = why.removeprefix(f"{server}: ")
    assert said == [f"{server}: 1 of 2 worker processes could not log on ({reason}); the "
                    "files they were given are listed as not read"]
