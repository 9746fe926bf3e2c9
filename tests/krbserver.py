"""A real Active Directory domain for the Kerberos tests: Samba's AD DC (its KDC and smbd)
provisioned into a temporary folder, listening on 127.0.0.1 and ::1 on free high ports.

The session fixture `kerberos_dc` provisions it once for the whole run (samba-tool domain
provision: about 13 s on a loaded 2-core machine), adds a user and the service principal
cifs/localhost, serves the repository's fixtures/ as the share "fixtures" and stops every
process it started when the run ends. A generated krb5.conf (KRB5_CONFIG) points the realm
at the KDC's port and keeps the host name "localhost" as given (no DNS canonicalisation),
so the client asks for a ticket to cifs/localhost. It needs root, Debian's samba, winbind,
krb5-user and libnss-wrapper (`make test` installs them); without them the tests skip with
the reason printed.

Why nss_wrapper: smbd of a DC maps SIDs to Unix ids through winbindd, and libwbclient finds
winbindd's socket only in /run/samba/winbindd, unless nss_wrapper is loaded, when it reads
SELFTEST_WINBINDD_SOCKET_DIR (how Samba's own test suite runs DCs side by side). With it the
domain's winbindd stays in this temporary folder and never replaces a system winbindd.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from smbserver import REPO, free_port, stop_samba

REALM = "MFAKRB.TEST"
DOMAIN = "MFAKRB"
DC_NAME = "KRBDC"
HOST = "localhost"  # the name in the URL; its SPN cifs/localhost is added to the DC's account
USER = "krbuser"
PASSWORD = "Us3r-pass-Krb5!"
ADMIN_PASSWORD = "Adm1n-pass-Krb5!"
START_TIMEOUT = 60.0
NSS_WRAPPER = next(iter(sorted(glob.glob("/usr/lib/*/libnss_wrapper.so"))), "libnss_wrapper.so")
PROGRAMS = {"samba": "samba", "samba-tool": "samba (samba-ad-provision)", "winbindd": "winbind",
            "kinit": "krb5-user", "wbinfo": "winbind"}


@dataclass
class KerberosDc:
    root: Path  # provisioned domain, smb.conf, krb5.conf, logs
    port: int  # smbd
    kdc_port: int
    conf: Path
    krb5_conf: Path
    process: subprocess.Popen[bytes] | None = None
    host: str = HOST
    user: str = USER
    realm: str = REALM

    def url(self, share: str = "", path: str = "") -> str:
        tail = f"/{share}" if share else ""
        if path:
            tail += "/" + path.strip("/")
        return f"smb://{self.host}:{self.port}{tail}"

    @property
    def audit_log(self) -> Path:
        """The domain's one log, smbd's authorization lines (auth_audit) among them."""
        return self.root / "dc" / "log.samba"

    def kinit(self, ccache: Path, kind: str = "FILE") -> None:
        """A TGT for the user in `ccache` (a cache of that kind: FILE, DIR), the password
        given on kinit's standard input."""
        env = {**os.environ, "KRB5_CONFIG": str(self.krb5_conf), "KRB5CCNAME": f"{kind}:{ccache}"}
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            done = subprocess.run(["kinit", f"{self.user}@{self.realm}"], env=env,
                                  input=f"{PASSWORD}\n".encode(), capture_output=True)
            if done.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"kinit failed: {done.stderr.decode(errors='replace')}")
            time.sleep(0.2)

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is not None:
            stop_samba(proc, self.conf)  # smbd and winbindd are found by the domain's smb.conf


def skip_reason() -> str | None:
    missing = sorted({pkg for prog, pkg in PROGRAMS.items() if shutil.which(prog) is None})
    if not os.path.exists(NSS_WRAPPER):
        missing.append("libnss-wrapper")
    if missing:
        return f"the Kerberos tests need Debian packages {', '.join(missing)} (make test " \
               "installs them)"
    if os.geteuid() != 0:
        return "the Samba AD DC of the Kerberos tests needs root"
    return None


def _conf(dc: Path, port: int, kdc_port: int) -> str:
    return "\n".join([
        "[global]",
        f"  netbios name = {DC_NAME}",
        f"  realm = {REALM}",
        f"  workgroup = {DOMAIN}",
        "  server role = active directory domain controller",
        # Only what a Kerberos file read needs: no LDAP, DNS, NetBIOS or replication ports.
        "  server services = s3fs, kdc, winbindd",
        f"  smb ports = {port}",
        f"  krb5 port = {kdc_port}",
        f"  kpasswd port = {free_port()}",
        "  interfaces = lo",
        "  bind interfaces only = yes",
        "  disable netbios = yes",
        "  load printers = no",
        "  printing = bsd",
        "  printcap name = /dev/null",
        "  disable spoolss = yes",
        *(f"  {key} = {dc / sub}" for key, sub in (
            ("private dir", "private"), ("lock directory", "."), ("state directory", "state"),
            ("cache directory", "cache"), ("pid directory", "."), ("ncalrpc dir", "ncalrpc"),
            ("binddns dir", "bind-dns"), ("winbindd socket directory", "winbindd"))),
        f"  log file = {dc}/log.samba",
        "  log level = 1 auth_audit:5",
        "  max log size = 1000",
        "  idmap_ldb:use rfc2307 = yes",
        "",
        "[fixtures]",
        f"  path = {REPO / 'fixtures'}",
        "  read only = yes",
        # Read as root whoever connects: the checkout may sit under folders the domain
        # user's Unix id cannot enter.
        "  force user = root",
        "",
    ])


def _krb5_conf(kdc_port: int) -> str:
    return "\n".join([
        "[libdefaults]",
        f"  default_realm = {REALM}",
        "  dns_lookup_realm = false",
        "  dns_lookup_kdc = false",
        # The ticket is for cifs/localhost, the name the scan is given: no DNS rewrites.
        "  dns_canonicalize_hostname = false",
        "  rdns = false",
        "[realms]",
        f"  {REALM} = {{",
        f"    kdc = 127.0.0.1:{kdc_port}",
        "  }",
        "[domain_realm]",
        f"  {HOST} = {REALM}",
        "",
    ])


def _tool(conf: Path, *args: str) -> None:
    subprocess.run(["samba-tool", *args, "-s", str(conf)], check=True, capture_output=True)


def _env(dc: Path) -> dict[str, str]:
    """The domain's processes: libwbclient finds this domain's winbindd (see the docstring)."""
    return {**os.environ, "LD_PRELOAD": NSS_WRAPPER, "NSS_WRAPPER_PASSWD": "/etc/passwd",
            "NSS_WRAPPER_GROUP": "/etc/group", "SELFTEST_WINBINDD_SOCKET_DIR": str(dc / "winbindd")}


def _wait_until_ready(dc: Path, server: KerberosDc, proc: subprocess.Popen[bytes]) -> None:
    """smbd's and the KDC's ports listen and winbindd answers (smbd refuses sessions until
    it does)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = (dc / "samba.stdout").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"samba exited with {proc.returncode}:\n{out}")
        try:
            for port in (server.port, server.kdc_port):
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            time.sleep(0.1)
            continue
        if subprocess.run(["wbinfo", "-p"], env=_env(dc), capture_output=True).returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError(f"the Samba AD DC was not ready within {START_TIMEOUT} s")


def start_dc() -> KerberosDc:
    root = Path(tempfile.mkdtemp(prefix="mfaleaks-krb-"))
    dc = root / "dc"
    subprocess.run(
        ["samba-tool", "domain", "provision", f"--targetdir={dc}", f"--realm={REALM}",
         f"--domain={DOMAIN}", "--server-role=dc", "--dns-backend=NONE",
         f"--host-name={DC_NAME.lower()}", f"--adminpass={ADMIN_PASSWORD}",
         "--use-rfc2307", "--option=interfaces=lo", "--option=bind interfaces only=yes"],
        check=True, capture_output=True, cwd=root)
    port, kdc_port = free_port(), free_port()
    conf = dc / "etc" / "smb.conf"
    conf.write_text(_conf(dc, port, kdc_port))
    krb5_conf = root / "krb5.conf"
    krb5_conf.write_text(_krb5_conf(kdc_port))
    _tool(conf, "user", "create", USER, PASSWORD)
    _tool(conf, "spn", "add", f"cifs/{HOST}", f"{DC_NAME}$")
    server = KerberosDc(root, port, kdc_port, conf, krb5_conf)
    log = open(dc / "samba.stdout", "ab")  # noqa: SIM115 - the child holds it
    server.process = subprocess.Popen(
        ["samba", "--interactive", "--model=single", f"--configfile={conf}"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=_env(dc),
        start_new_session=True)
    log.close()
    try:
        _wait_until_ready(dc, server, server.process)
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="session")
def kerberos_dc() -> Iterator[KerberosDc]:
    reason = skip_reason()
    if reason is not None:
        print(f"Kerberos tests skipped: {reason}")
        pytest.skip(reason)
    server = start_dc()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)
