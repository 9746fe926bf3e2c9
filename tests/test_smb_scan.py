"""`mfaleaks scan smb://...` end to end against a real Samba server: same findings as a
local scan, shares, exit 2 on logon problems, the cache, owners and exposure, a server
that stops in the middle."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import REPO, CliRun, invoke
from mfaleaks.config import ScanConfig, SmbLogin
from mfaleaks.models import FileResult
from mfaleaks.run.scan import run_scan
from mfaleaks.sources.smb.auth import PASSWORD_ENV
from mfaleaks.sources.smb.dfs import AllowedHost, parse_allowed
from mfaleaks.triage.incidents import Exposure, build_incidents
from smbserver import OTHER_HOST, SmbServer, free_port, running_server


@pytest.fixture
def logged_on(smb_server: SmbServer, monkeypatch: pytest.MonkeyPatch) -> SmbServer:
    monkeypatch.setenv(PASSWORD_ENV, smb_server.password)
    return smb_server


def scan(server: SmbServer, *args: str) -> CliRun:
    return invoke("scan", "--format", "json", "--jobs", "1", "--smb-user", server.user, *args)


def _pairs(report: dict[str, object]) -> list[tuple[str, str]]:
    return sorted((f["rule_id"], f["fingerprint"]) for f in report["findings"])  # type: ignore[attr-defined, index]


def test_a_share_gives_the_findings_of_the_same_tree_on_disk(logged_on: SmbServer) -> None:
    remote = scan(logged_on, logged_on.url("fixtures"))
    local = invoke("scan", "--format", "json", "--jobs", "1", str(REPO / "fixtures"))
    assert remote.exit_code == local.exit_code == 1, remote.stderr
    assert _pairs(remote.report) and _pairs(remote.report) == _pairs(local.report)
    prefix = logged_on.url("fixtures") + "/"
    assert all(f["path"].startswith(prefix) for f in remote.report["findings"])
    # Reports name files the way the command line could: smb://host:port/share/dir/file.
    assert prefix + "home/jdoe/Documents/Backup-codes-jdoe.txt" in {
        f["path"] for f in remote.report["findings"]}


def test_unc_spellings_and_a_folder_inside_the_share(logged_on: SmbServer) -> None:
    sub = scan(logged_on, logged_on.url("fixtures", "home/jdoe"))
    assert sub.exit_code == 1
    assert {f["path"].split("/fixtures/home/jdoe/")[1].split("/")[0]
            for f in sub.report["findings"]} <= {"Documents", "Downloads", "Pictures"}
    where = f"{logged_on.host}:{logged_on.port}"
    for unc in (f"//{where}/fixtures/home/jdoe", f"\\\\{where}\\fixtures\\home\\jdoe"):
        same = scan(logged_on, unc)
        # The same files, named the same way (smb://) whichever spelling was typed.
        assert same.report["findings"] == sub.report["findings"]


def test_local_and_smb_paths_in_one_scan(logged_on: SmbServer) -> None:
    res = scan(logged_on, str(REPO / "fixtures" / "home" / "bob"), logged_on.url("private"))
    paths = {f["path"] for f in res.report["findings"]}
    assert any(p.startswith(str(REPO)) for p in paths)
    assert logged_on.url("private", "world.txt") in paths


def test_every_share_of_a_server(logged_on: SmbServer) -> None:
    res = scan(logged_on, logged_on.url(), "--no-ocr")
    assert res.exit_code == 1, res.stderr
    report = res.report
    shares = {f["path"].split("/")[3] for f in report["findings"]}
    assert {"fixtures", "private", "bulk"} <= shares
    errors = {(e["path"], e["reason"]) for e in report["errors"]}
    assert (logged_on.url("broken"), "share not scanned: no such share on the server") in errors
    assert (logged_on.url("private", "locked"), "cannot list folder: permission denied") in errors
    notices = "\n".join(report["notices"])
    assert f"{logged_on.url('C$')}: not scanned, administrative share" in notices
    assert "IPC$" in notices
    assert not any("/C$/" in f["path"] for f in report["findings"])


def test_named_administrative_share_is_scanned(logged_on: SmbServer) -> None:
    res = scan(logged_on, logged_on.url("C$"), "--smb-encrypt")
    assert res.exit_code == 0, res.stderr
    assert res.report["stats"]["files"] == 1


@pytest.mark.parametrize(("where", "env", "said"), [
    ("share", "wrong-password", "logon failed for mfaleaks-smbtest (wrong user or password)"),
    ("unknown", None, "no such share on the server"),
    ("closed", None, "server unreachable"),
    ("missing", None, "no such file or folder on the share"),
])
def test_logon_problems_exit_2_with_one_line(logged_on: SmbServer, monkeypatch: pytest.MonkeyPatch,
                                             where: str, env: str | None, said: str) -> None:
    if env is not None:
        monkeypatch.setenv(PASSWORD_ENV, env)
    url = {"share": logged_on.url("fixtures"), "unknown": logged_on.url("nosuchshare"),
           "closed": f"smb://127.0.0.1:{free_port()}/fixtures",
           "missing": logged_on.url("fixtures", "home/nobody")}[where]
    res = scan(logged_on, url)
    assert res.exit_code == 2
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and said in lines[0], res.stderr
    assert logged_on.password not in res.stderr


def test_no_password_and_an_open_auth_file_exit_2(smb_server: SmbServer, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    res = scan(smb_server, smb_server.url("fixtures"))
    assert res.exit_code == 2 and "no SMB password" in res.stderr
    auth = tmp_path / "auth"
    auth.write_text(f"username = {smb_server.user}\npassword = {smb_server.password}\n")
    auth.chmod(0o644)
    res = invoke("scan", "--format", "json", "--smb-auth-file", str(auth),
                 smb_server.url("private"))
    assert res.exit_code == 2 and "refused" in res.stderr
    auth.chmod(0o600)
    res = invoke("scan", "--format", "json", "--jobs", "1", "--smb-auth-file", str(auth),
                 smb_server.url("private"))
    assert res.exit_code == 1, res.stderr


def test_owner_and_exposure_of_a_file_on_a_share(logged_on: SmbServer) -> None:
    res = scan(logged_on, logged_on.url("private"))
    (finding,) = [f for f in res.report["findings"] if f["path"].endswith("/world.txt")]
    meta = finding["meta"]
    assert meta["file_exposure"] == "domain"
    assert meta["file_owner"] == "Unix User\\root" and meta["file_owner_sid"] == "S-1-22-1-0"
    config = ScanConfig(paths=(logged_on.url("private"),), jobs=1,
                        smb=SmbLogin(logged_on.user, password=logged_on.password))
    result = run_scan(config)
    (incident,) = build_incidents(result.findings)
    assert incident.exposure is Exposure.WORLD
    assert any("everyone in the domain" in note for note in incident.exposure_notes)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_dfs_links_are_followed_and_their_files_named_under_the_link(
        logged_on: SmbServer, jobs: str) -> None:
    """dfsroot (msdfs root): `team` leads to bulk/team-00, read there (by the workers too)
    and reported under dfsroot/team; a broken link and a loop are errors, not fatal."""
    res = scan(logged_on, logged_on.url("dfsroot"), "--jobs", jobs, "--no-ocr")
    direct = scan(logged_on, logged_on.url("bulk", "team-00"), "--no-ocr")
    assert res.exit_code == direct.exit_code == 1, res.stderr
    team = logged_on.url("dfsroot", "team")
    assert {f["path"] for f in res.report["findings"]} == {team + "/backup-codes.txt"}
    assert _pairs(res.report) == _pairs(direct.report)
    # plain.txt, and the files behind the link
    assert res.report["stats"]["files"] == 1 + direct.report["stats"]["files"]
    (finding,) = res.report["findings"]  # owner and exposure asked where the file is
    assert finding["meta"]["file_owner"] == "Unix User\\root"
    assert finding["meta"]["file_exposure"] == "domain"
    errors = {e["path"]: e["reason"] for e in res.report["errors"]}
    assert errors.pop(logged_on.url("dfsroot", "broken")) == \
        "DFS link to \\127.0.0.1\\nosuch not followed: no such share on the server"
    loop = errors.pop(logged_on.url("dfsroot", "loop"))
    assert loop.startswith("DFS link to \\127.0.0.1\\dfsroot not followed") and "a loop" in loop
    assert not errors


def _logons_at(server: SmbServer, address: str) -> int:
    """Sessions smbd authenticated on one of its addresses (its auth_audit lines)."""
    where = f"local host [ipv4:{address}:{server.port}]"
    return sum(log.read_text(errors="replace").count(where) for log in server.root.glob("log.*"))


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_dfs_link_to_a_host_not_on_the_command_line_is_not_followed(
        logged_on: SmbServer, jobs: str) -> None:
    """dfslinks/elsewhere leads to the same smbd at 127.0.0.2: another host to the scan.
    By default the account is not spent there: the link is listed in errors with the
    option that allows it, nothing behind it is read, no session is opened there."""
    link = logged_on.url("dfslinks", "elsewhere")
    direct = scan(logged_on, logged_on.url("bulk", "team-01"), "--no-ocr")
    before = _logons_at(logged_on, OTHER_HOST)
    res = scan(logged_on, logged_on.url("dfslinks"), "--jobs", jobs, "--no-ocr")
    assert res.exit_code == 1, res.stderr
    errors = {e["path"]: e["reason"] for e in res.report["errors"]}
    assert errors[link] == (f"DFS link to \\{OTHER_HOST}\\bulk\\team-01 not followed: "
                            f"{OTHER_HOST} is not a server named on the command line "
                            f"(--smb-dfs-host {OTHER_HOST} allows it)")
    assert not [f for f in res.report["findings"] if f["path"].startswith(link + "/")]
    assert _logons_at(logged_on, OTHER_HOST) == before
    # Allowed (at the port it listens on): read there, named under the link.
    allowed = scan(logged_on, logged_on.url("dfslinks"), "--jobs", jobs, "--no-ocr",
                   "--smb-dfs-host", f"{OTHER_HOST}:{logged_on.port}")
    assert allowed.exit_code == 1, allowed.stderr
    assert link not in {e["path"] for e in allowed.report["errors"]}
    behind = [f for f in allowed.report["findings"] if f["path"].startswith(link + "/")]
    assert _pairs({"findings": behind}) == _pairs(direct.report)
    assert _logons_at(logged_on, OTHER_HOST) > before
    assert allowed.report["stats"]["files"] == \
        res.report["stats"]["files"] + direct.report["stats"]["files"]
    if jobs == "1":  # '*': any host, at 445 (where this one does not listen)
        anywhere = scan(logged_on, logged_on.url("dfslinks"), "--no-ocr", "--smb-dfs-host", "*")
        reason = {e["path"]: e["reason"] for e in anywhere.report["errors"]}[link]
        assert reason.startswith(f"DFS link to \\{OTHER_HOST}\\bulk\\team-01 not followed: "
                                 f"smb://{OTHER_HOST}: server unreachable"), reason


def test_a_dfs_link_to_a_second_server_of_the_command_line_is_followed(
        logged_on: SmbServer) -> None:
    """127.0.0.2 named on the command line (with its port): a link there is followed
    without the option, to the place the command line names."""
    link = logged_on.url("dfslinks", "elsewhere")
    res = scan(logged_on, logged_on.url("dfslinks"), "--no-ocr",
               f"smb://{OTHER_HOST}:{logged_on.port}/private")
    assert res.exit_code == 1, res.stderr
    assert link not in {e["path"] for e in res.report["errors"]}
    assert f"{link}/backup-codes.txt" in {f["path"] for f in res.report["findings"]}


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_dfs_link_naming_the_servers_netbios_name_uses_the_scans_connection(
        logged_on: SmbServer, jobs: str) -> None:
    """dfslinks/byname leads to \\MFATESTSRV\bulk\team-02: the name the server gives in
    its NTLM challenge (no DNS knows it), so the same server, at the host and port the
    scan uses."""
    link = logged_on.url("dfslinks", "byname")
    direct = scan(logged_on, logged_on.url("bulk", "team-02"), "--no-ocr")
    res = scan(logged_on, logged_on.url("dfslinks"), "--jobs", jobs, "--no-ocr")
    assert res.exit_code == 1, res.stderr
    assert link not in {e["path"] for e in res.report["errors"]}, res.report["errors"]
    behind = [f for f in res.report["findings"] if f["path"].startswith(link + "/")]
    assert behind and _pairs({"findings": behind}) == _pairs(direct.report)
    assert all(f["meta"]["file_exposure"] == "domain" for f in behind)


def test_dfs_host_option_is_checked() -> None:
    for bad, said in (("a:b", "not a port"), ("host:0", "not a port"),
                      ("a/b", "not a host"), ("[::1", "not a host"), ("", "not a host")):
        res = invoke("scan", "--smb-dfs-host", bad, "smb://127.0.0.1:1/x")
        assert res.exit_code == 2 and f"--smb-dfs-host {bad}: {said}" in res.stderr, \
            (bad, res.stderr)
    assert parse_allowed("[::1]:4450") == AllowedHost("::1", 4450)
    assert parse_allowed("Files.Corp") == AllowedHost("files.corp", 445)
    assert parse_allowed("*").allows("anything") and parse_allowed("::1").allows("[::1]")


def test_rescan_with_cache_opens_no_unchanged_file(logged_on: SmbServer, tmp_path: Path) -> None:
    folder = logged_on.shares["scratch"] / "cached"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(REPO / "fixtures" / "home", folder)
    cache = tmp_path / "cache.db"
    url = logged_on.url("scratch", "cached")
    first = scan(logged_on, url, "--cache", str(cache))
    again = scan(logged_on, url, "--cache", str(cache))
    assert first.exit_code == again.exit_code == 1
    assert _pairs(first.report) == _pairs(again.report)
    files = first.report["stats"]["files"]
    assert f"cache: {files} unchanged file(s) not read, 0 recognised by content, 0 read" in \
        again.report["notices"]
    # One file changes: that one is read again, and only that one.
    with (folder / "bob" / "gift-card-vouchers.txt").open("a") as fh:
        fh.write("one more line\n")
    third = scan(logged_on, url, "--cache", str(cache))
    assert f"cache: {files - 1} unchanged file(s) not read, 0 recognised by content, 1 read" \
        in third.report["notices"]
    # Owner and exposure are asked again for the cached findings.
    assert all("file_exposure" in f["meta"] for f in again.report["findings"])


def _cached(cache: Path, prefix: str) -> set[str]:
    """The cache's file rows under a URL, as relative paths."""
    with sqlite3.connect(cache) as db:
        rows = db.execute("SELECT dir, name FROM files").fetchall()
    return {(bytes(d) + bytes(n)).decode().removeprefix(prefix + "/")
            for d, n in rows if bytes(d).decode().startswith(prefix + "/")}


def test_cache_forgets_files_deleted_from_a_share_unless_a_folder_was_not_listed(
        logged_on: SmbServer, tmp_path: Path) -> None:
    folder = logged_on.shares["scratch"] / "pruned"
    shutil.rmtree(folder, ignore_errors=True)
    for rel in ("a.txt", "z.txt", "sub/b.txt", "sub/keep.txt", "gone/c.txt", "locked/d.txt"):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(f"notes of {rel}\n")
    for sub in ("sub", "gone", "locked"):
        os.chmod(folder / sub, 0o755)
    cache = tmp_path / "cache.db"
    url = logged_on.url("scratch", "pruned")
    first = scan(logged_on, url, "--cache", str(cache))
    assert first.exit_code == 0, first.stderr
    every = {"a.txt", "z.txt", "sub/b.txt", "sub/keep.txt", "gone/c.txt", "locked/d.txt"}
    assert _cached(cache, url) == every
    # A file and a whole folder deleted: a complete listing forgets their rows.
    (folder / "sub" / "b.txt").unlink()
    shutil.rmtree(folder / "gone")
    again = scan(logged_on, url, "--cache", str(cache))
    assert again.exit_code == 0 and not again.report["errors"]
    assert _cached(cache, url) == {"a.txt", "z.txt", "sub/keep.txt", "locked/d.txt"}
    # A folder the account cannot list any more: its rows stay (its files may be there),
    # as do those of a folder deleted meanwhile (the listing was not complete).
    os.chmod(folder / "locked", 0o700)
    (folder / "a.txt").unlink()
    (folder / "more").mkdir()
    os.chmod(folder / "more", 0o755)
    (folder / "more" / "e.txt").write_text("more notes\n")
    shutil.rmtree(folder / "sub")
    third = scan(logged_on, url, "--cache", str(cache))
    assert [e["reason"] for e in third.report["errors"]] == \
        ["cannot list folder: permission denied"]
    # (a.txt: its folder was listed whole, so its row goes as the walk leaves it)
    assert _cached(cache, url) == {"z.txt", "sub/keep.txt", "locked/d.txt", "more/e.txt"}


def test_cache_forgets_files_deleted_behind_a_dfs_link(logged_on: SmbServer,
                                                       tmp_path: Path) -> None:
    """dfslinks/pruned leads to scratch/dfs-pruned: the cache keeps its files there (where
    they are read) and forgets those deleted, as under a command-line folder."""
    folder = logged_on.shares["scratch"] / "dfs-pruned"
    for child in folder.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    every = {"a.txt", "z.txt", "sub/b.txt", "sub/keep.txt", "gone/c.txt", "locked/d.txt"}
    for rel in every:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(f"notes of {rel}\n")
    for sub in ("sub", "gone", "locked"):
        os.chmod(folder / sub, 0o755)
    cache = tmp_path / "cache.db"
    url, target = logged_on.url("dfslinks"), logged_on.url("scratch", "dfs-pruned")
    first = scan(logged_on, url, "--cache", str(cache), "--no-ocr")
    assert first.exit_code == 1, first.stderr
    assert _cached(cache, target) == every
    # A file and a whole folder deleted: forgotten (the file as its folder is left, the
    # folder at the end: the link's walk listed every folder).
    (folder / "sub" / "b.txt").unlink()
    shutil.rmtree(folder / "gone")
    again = scan(logged_on, url, "--cache", str(cache), "--no-ocr")
    assert again.exit_code == 1, again.stderr
    assert _cached(cache, target) == {"a.txt", "z.txt", "sub/keep.txt", "locked/d.txt"}
    # A folder behind the link that cannot be listed now: the rows of a folder deleted
    # meanwhile stay (that walk was not complete); a.txt's go as its folder is left.
    os.chmod(folder / "locked", 0o700)
    shutil.rmtree(folder / "sub")
    (folder / "a.txt").unlink()
    third = scan(logged_on, url, "--cache", str(cache), "--no-ocr")
    assert logged_on.url("dfslinks", "pruned/locked") in {e["path"] for e in
                                                          third.report["errors"]}
    assert _cached(cache, target) == {"z.txt", "sub/keep.txt", "locked/d.txt"}


@pytest.fixture
def own_server(smb_server: SmbServer) -> Iterator[SmbServer]:
    """A server of this test alone (it is stopped in the middle)."""
    with running_server() as server:
        yield server


def _grow(share: Path, folders: int, files: int) -> int:
    """More small files in the share, so that a scan is still reading when the server
    stops (workers read several batches ahead); the share's file count."""
    for i in range(folders):
        folder = share / f"zz-more-{i:02d}"  # walked after the planted codes
        folder.mkdir(exist_ok=True)
        for j in range(files):
            (folder / f"minutes-{j:03d}.txt").write_text(f"minutes {i} {j}\n" * 10)
    return sum(len(names) for _, _, names in os.walk(share))


@pytest.mark.parametrize("jobs", [1, 2])
def test_server_stopped_mid_scan_ends_cleanly_with_errors(own_server: SmbServer,
                                                          jobs: int) -> None:
    """jobs=1: this process reads the files; jobs=2: the workers do, over sessions of
    their own (sources/smb/worker.py). Either way the files not read are listed."""
    seen: list[FileResult] = []
    total = _grow(own_server.shares["bulk"], 30, 60)

    def progress(result: FileResult) -> None:
        seen.append(result)
        if len(seen) == 30:
            own_server.stop()

    config = ScanConfig(paths=(own_server.url("bulk"),), jobs=jobs,
                        smb=SmbLogin(own_server.user, password=own_server.password, timeout=5))
    result = run_scan(config, progress=progress)
    assert not own_server.running
    assert not result.incomplete
    assert 30 <= result.stats.files < total
    # Everything not read is listed: files whose read failed and folders not listed.
    reasons = {e.reason for e in result.errors}
    assert any("connection to the server lost" in r for r in reasons), reasons
    lost_folders = {e.path for e in result.errors if e.reason.startswith("cannot list folder")}
    read = {r.path for r in seen if not r.errors}
    unread = {e.path for e in result.errors}
    assert len(read) + len({p for p in unread if p not in lost_folders}) + \
        sum(_files_in(own_server.shares["bulk"], e, own_server) for e in lost_folders) >= total
    # What was read before the stop is reported: every copy of the codes read has its
    # finding. One process reads in listing order, so it read team-00's copy; workers
    # read by size lanes, where the copies may come after the stop.
    codes = {p for p in read if p.endswith("/backup-codes.txt")}
    assert codes <= {f.path for f in result.findings}
    assert codes or jobs == 2


def _files_in(share: Path, url: str, server: SmbServer) -> int:
    """Files under a folder of the share named by its URL."""
    folder = share / url.removeprefix(server.url("bulk")).strip("/")
    return sum(len(names) for _, _, names in os.walk(folder))
