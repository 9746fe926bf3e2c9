"""smb:// paths on a Dask cluster: a real scheduler and two workers, a real Samba server.
The client lists the share; each worker reads its files logged on with a password from
its OWN environment (here an auth file named by MFALEAKS_SMB_AUTH_FILE), never one sent
by the client."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import REPO, invoke
from daskcluster import DaskCluster, start_cluster
from mfaleaks.sources.smb.auth import PASSWORD_ENV
from mfaleaks.sources.smb.worker import AUTH_FILE_ENV
from smbserver import SmbServer


@pytest.fixture(scope="module")
def smb_cluster(smb_server: SmbServer, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[tuple[DaskCluster, Path]]:
    """Two workers whose environment names an auth file (the client's has no such thing)."""
    folder = tmp_path_factory.mktemp("dask-smb")
    auth = folder / "worker-smb-auth"
    auth.write_text(f"username = {smb_server.user}\npassword = {smb_server.password}\n")
    auth.chmod(0o600)
    saved = {k: os.environ.get(k) for k in (AUTH_FILE_ENV, PASSWORD_ENV)}
    os.environ[AUTH_FILE_ENV] = str(auth)  # inherited by the workers started now
    os.environ.pop(PASSWORD_ENV, None)
    try:
        cluster = start_cluster(folder, tls=False)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    yield cluster, auth
    cluster.stop()


def _pairs(report: dict[str, object]) -> list[tuple[str, str]]:
    return sorted((f["rule_id"], f["fingerprint"]) for f in report["findings"])  # type: ignore[attr-defined, index]


def test_a_share_on_the_cluster_finds_what_one_machine_finds_on_disk(
        smb_server: SmbServer, smb_cluster: tuple[DaskCluster, Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    cluster, _ = smb_cluster
    monkeypatch.setenv(PASSWORD_ENV, smb_server.password)  # the client's, for listing
    monkeypatch.delenv(AUTH_FILE_ENV, raising=False)
    remote = invoke("scan", "--format", "json", "--no-ocr", *cluster.cli_args(), "--smb-user",
                    smb_server.user, smb_server.url("fixtures"))
    local = invoke("scan", "--format", "json", "--no-ocr", "--jobs", "2", str(REPO / "fixtures"))
    assert remote.exit_code == local.exit_code == 1, remote.stderr
    assert _pairs(remote.report) and _pairs(remote.report) == _pairs(local.report)
    assert all(f["path"].startswith(smb_server.url("fixtures") + "/")
               for f in remote.report["findings"])
    assert not [e for e in remote.report["errors"] if e["reason"].startswith("cannot read")]


def test_workers_without_a_password_of_their_own_read_nothing(
        smb_server: SmbServer, smb_cluster: tuple[DaskCluster, Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The client has the password and lists the share; the workers' auth file is gone:
    no worker can log on, so the scan exits 2 with one line saying why (which shows the
    client's password did not travel to them), rather than pass as clean with every file
    listed unread."""
    cluster, auth = smb_cluster
    monkeypatch.setenv(PASSWORD_ENV, smb_server.password)
    kept = auth.read_bytes()
    auth.unlink()
    try:
        res = invoke("scan", "--format", "json", *cluster.cli_args(), "--smb-user",
                     smb_server.user, smb_server.url("private"))
    finally:
        auth.write_bytes(kept)
        auth.chmod(0o600)
    assert res.exit_code == 2, (res.stderr, res.stdout[-2000:])
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(f"mfaleaks: {smb_server.url()}: the worker processes could not "
                               "log on (this worker has no SMB account (")
    assert smb_server.password not in res.stdout + res.stderr
