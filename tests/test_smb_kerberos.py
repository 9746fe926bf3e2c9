"""`mfaleaks scan --smb-kerberos smb://...` against a real Active Directory domain (Samba's
AD DC and its KDC, tests/krbserver.py): the share read with a ticket from the cache gives the
findings of the local scan, no password is asked for or used; without a ticket, or without
pyspnego's Kerberos extra, exit 2 with one line and never a fallback to NTLM."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, CliRun, invoke
from krbserver import KerberosDc
from mfaleaks.sources.smb.auth import PASSWORD_ENV, credentials
from smbserver import SmbServer


def _pairs(report: dict[str, object]) -> list[tuple[str, str]]:
    return sorted((f["rule_id"], f["fingerprint"]) for f in report["findings"])  # type: ignore[attr-defined, index]


@pytest.fixture
def ticket(kerberos_dc: KerberosDc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ticket cache of its own holding the user's TGT; no password anywhere in reach."""
    cache = tmp_path / "ccache"
    kerberos_dc.kinit(cache)
    monkeypatch.setenv("KRB5_CONFIG", str(kerberos_dc.krb5_conf))
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{cache}")
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    monkeypatch.delenv("MFALEAKS_SMB_AUTH_FILE", raising=False)
    return cache


@pytest.mark.parametrize("jobs", ["1", "2"])  # 2: worker processes open sessions of their own
def test_a_share_read_with_a_ticket_gives_the_local_findings(kerberos_dc: KerberosDc,
                                                              ticket: Path, jobs: str) -> None:
    log_before = kerberos_dc.audit_log.stat().st_size
    # Standard input is not a terminal: a password could not be asked for.
    args = ("scan", "--format", "json", "--jobs", jobs, "--smb-kerberos",
            kerberos_dc.url("fixtures"))
    if jobs == "1":
        remote = invoke(*args)
    else:
        # A command of its own, as users run it: worker processes read the ticket cache of
        # their environment, and the worker server an earlier test of this run started
        # keeps the environment it started with.
        done = subprocess.run([str(Path(sys.executable).parent / "mfaleaks"), *args],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=300)
        remote = CliRun(done.returncode, done.stdout, done.stderr)
    local = invoke("scan", "--format", "json", "--jobs", "1", str(REPO / "fixtures"))
    assert remote.exit_code == local.exit_code == 1, (remote.stderr, remote.stdout[-3000:])
    assert _pairs(remote.report) and _pairs(remote.report) == _pairs(local.report)
    prefix = kerberos_dc.url("fixtures") + "/"
    assert all(f["path"].startswith(prefix) for f in remote.report["findings"])
    # smbd says how the session was authenticated: Kerberos, as the domain's user.
    with kerberos_dc.audit_log.open(errors="replace") as log:
        log.seek(log_before)
        authz = [line for line in log if "Successful AuthZ" in line]
    assert authz and all("[SMB2,krb5]" in line and f"\\[{kerberos_dc.user}]" in line
                         for line in authz), authz


@pytest.mark.parametrize("kind", ["FILE", "DIR"])
def test_every_share_of_the_server_with_a_ticket(kerberos_dc: KerberosDc, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 kind: str) -> None:
    """smb://HOST: the shares are listed (srvsvc) with the ticket the cache holds, a cache
    holding only the TGT, on a KDC at no standard port; a DIR: cache as well as a FILE one
    (impacket, which listed them before, read only a FILE cache by its path)."""
    cache = tmp_path / "cc"
    if kind == "DIR":
        cache.mkdir(mode=0o700)
    kerberos_dc.kinit(cache, kind)
    monkeypatch.setenv("KRB5_CONFIG", str(kerberos_dc.krb5_conf))
    monkeypatch.setenv("KRB5CCNAME", f"{kind}:{cache}")
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    monkeypatch.delenv("MFALEAKS_SMB_AUTH_FILE", raising=False)
    assert not any("cifs/" in line for line in _klist(f"{kind}:{cache}"))  # only the TGT
    res = invoke("scan", "--format", "json", "--jobs", "1", "--smb-kerberos", kerberos_dc.url())
    local = invoke("scan", "--format", "json", "--jobs", "1", str(REPO / "fixtures"))
    assert res.exit_code == 1, res.stderr
    assert _pairs(res.report) == _pairs(local.report)
    assert all(f["path"].startswith(kerberos_dc.url("fixtures") + "/")
               for f in res.report["findings"])


def _klist(cache: str) -> list[str]:
    done = subprocess.run(["klist", "-c", cache], capture_output=True, text=True)
    return done.stdout.splitlines()


def test_kerberos_credentials_carry_no_password(ticket: Path) -> None:
    got = credentials(None, kerberos=True, environ={})
    assert got.kerberos and got.password is None


def test_without_a_ticket_exit_2_with_one_line(kerberos_dc: KerberosDc, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRB5_CONFIG", str(kerberos_dc.krb5_conf))
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path / 'empty'}")  # no kinit: no ticket
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    res = invoke("scan", "--format", "json", "--jobs", "1", "--smb-kerberos",
                 kerberos_dc.url("fixtures"))
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "no usable Kerberos ticket" in lines[0] and "kinit" in lines[0]
    assert str(tmp_path / "empty") in lines[0]
    assert res.stdout == ""


def test_without_the_extra_exit_2_and_no_ntlm(smb_server: SmbServer, tmp_path: Path) -> None:
    """gssapi made unimportable in a fresh interpreter, as in an install without the extra.
    A user and a valid password are at hand: the scan still refuses rather than use NTLM."""
    code = ("import sys; sys.modules['gssapi'] = None; "  # `import gssapi` raises ImportError
            "from mfaleaks.cli.command import main; sys.exit(main(sys.argv[1:]))")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), PASSWORD_ENV: smb_server.password}
    done = subprocess.run(
        [sys.executable, "-c", code, "scan", "--format", "json", "--jobs", "1",
         "--smb-kerberos", "--smb-user", smb_server.user, smb_server.url("fixtures")],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "pyspnego's Kerberos extra" in lines[0] and "mfaleaks[kerberos]" in lines[0]
    assert done.stdout == ""
