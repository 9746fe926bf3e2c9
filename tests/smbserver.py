"""A real Samba server for the SMB tests: one smbd on 127.0.0.1, a high port, a private smb.conf.

The session fixture `smb_server` starts it once for the whole test run and stops it
(the process group: smbd starts samba-dcerpcd for srvsvc) when the run ends. It
needs root (a Unix user for the share user) and Debian's `samba` package, which
`make test` installs; without either the SMB tests skip with the reason printed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
USER = "mfaleaks-smbtest"
PASSWORD = "Corr3ct-horse-battery"
START_TIMEOUT = 30.0
BULK_FOLDERS, BULK_FILES = 20, 20  # the bulk share: folders, and files in each (plus one)
OTHER_HOST = "127.0.0.2"  # where the server also listens (its port), a host of its own
NETBIOS_NAME = "MFATESTSRV"
# The DFS links of the dfslinks share: beyond the name the scan uses (the host and port on
# the command line): to the server at another address, by its NetBIOS name, and to a folder
# of scratch (the cache tests change it).
OTHER_LINKS = {"elsewhere": f"{OTHER_HOST}\\bulk\\team-01",
               "byname": f"{NETBIOS_NAME}\\bulk\\team-02",
               "pruned": "127.0.0.1\\scratch\\dfs-pruned"}
# The DFS links of the dfsroot share: name -> target (\\server\\share[\\path], as Samba wants it)
DFS_LINKS = {"team": "127.0.0.1\\bulk\\team-00", "broken": "127.0.0.1\\nosuch",
             "loop": "127.0.0.1\\dfsroot"}

# Files of the "private" share: name -> (mode, text). codes are the sample recovery codes
# the rules find; who may read each file is what the exposure tests look at.
PRIVATE_FILES = {
    "world.txt": (0o644, "GitLab recovery codes\n" + "".join(
        f"{code}\n" for code in ("f7882b254fe464dd", "0922c6ebcde0e9e9", "6721184017e7f997",
                                  "2fdb74166ded1a87", "6b34d0f4b3ce6582", "0eaf0bf15cd7543b"))),
    "mine.txt": (0o600, "nothing secret here, only mine\n"),
    "locked/inside.txt": (0o644, "behind a folder the user may not enter\n"),
    "open/readme.txt": (0o644, "an ordinary file\n"),
}


@dataclass
class SmbServer:
    host: str
    port: int
    user: str
    password: str
    root: Path  # the temporary folder holding smb.conf, the state and the shares
    conf: Path
    shares: dict[str, Path] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def url(self, share: str = "", path: str = "") -> str:
        tail = f"/{share}" if share else ""
        if path:
            tail += "/" + path.strip("/")
        return f"smb://{self.host}:{self.port}{tail}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Stop smbd and everything it started (samba-dcerpcd and its helpers)."""
        proc, self.process = self.process, None
        if proc is not None:
            stop_samba(proc, self.conf)

    def start(self) -> None:
        log = open(self.root / "smbd.stdout", "ab")  # noqa: SIM115 - the child holds it
        self.process = subprocess.Popen(
            ["smbd", "--foreground", "--no-process-group", "--configfile", str(self.conf)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as one
        )
        log.close()
        _wait_for_port(self.host, self.port, self.process, self.root / "log.smbd")


def stop_samba(proc: subprocess.Popen[bytes], conf: Path) -> None:
    """Stop a Samba daemon started in a process group of its own (start_new_session), the
    group, and what left the group but runs with this smb.conf (samba-dcerpcd and its
    rpcd_* helpers; a DC's smbd and winbindd): krbserver.py's DC stops the same way."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    # Helpers of the group may outlive the daemon by a moment; they must not keep the port.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    for pid in _started_with(f"--configfile={conf}"):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _started_with(argument: str) -> list[int]:
    """Processes with this exact argument on their command line (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                args = fh.read().split(b"\0")
        except OSError:
            continue
        if argument.encode() in args:
            found.append(int(entry))
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(host: str, port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"smbd exited with {proc.returncode}:\n{tail}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"smbd did not listen on {host}:{port} within {START_TIMEOUT} s")


def _conf(root: Path, port: int, shares: dict[str, str]) -> str:
    state = root / "state"
    lines = [
        "[global]",
        "  workgroup = MFATEST",
        f"  netbios name = {NETBIOS_NAME}",
        "  server role = standalone server",
        f"  smb ports = {port}",
        # 127.0.0.2 as well: the same smbd reached at another address is another server
        # to the scan (a DFS link there is not followed unless allowed, --smb-dfs-host).
        f"  interfaces = lo {OTHER_HOST}/8",
        "  bind interfaces only = yes",
        "  server min protocol = SMB2_02",
        "  map to guest = never",
        "  load printers = no",
        "  printing = bsd",
        "  printcap name = /dev/null",
        "  disable spoolss = yes",
        "  disable netbios = yes",
        "  registry shares = no",
        "  usershare path =",
        f"  passdb backend = tdbsam:{state}/passdb.tdb",
        *(f"  {key} = {state}" for key in (
            "private dir", "lock directory", "state directory", "cache directory",
            "pid directory", "ncalrpc dir", "binddns dir")),
        f"  log file = {root}/log.%m",
        "  log level = 1 auth_audit:3",  # (which address each logon came to: the DFS tests)
        "  max log size = 1000",
        "",
    ]
    for name, body in shares.items():
        lines += [f"[{name}]", body, ""]
    return "\n".join(lines)


def _make_tree(root: Path) -> dict[str, Path]:
    private = root / "private"
    for rel, (mode, text) in PRIVATE_FILES.items():
        path = private / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        os.chmod(path, mode)
    # mine.txt belongs to the share user: readable by them, by nobody else.
    shutil.chown(private / "mine.txt", user=USER)
    os.chmod(private / "locked", 0o700)  # root's: the share user cannot list it
    sealed = root / "sealed"
    sealed.mkdir()
    (sealed / "note.txt").write_text("read only over an encrypted session\n")
    # A share the tests may change (a file locked or replaced by "another user").
    scratch = root / "scratch"
    scratch.mkdir()
    shutil.chown(scratch, user=USER)
    # Many small files in many folders: a scan long enough to stop the server in the middle.
    bulk = root / "bulk"
    for i in range(BULK_FOLDERS):
        folder = bulk / f"team-{i:02d}"
        folder.mkdir(parents=True)
        for j in range(BULK_FILES):
            (folder / f"note-{j:03d}.txt").write_text(f"meeting notes {i} {j}\n" * 20)
        (folder / "backup-codes.txt").write_text(PRIVATE_FILES["world.txt"][1])
    # A DFS namespace (msdfs root): Samba keeps its links as symlinks to "msdfs:server\\share".
    # Through `team` the bulk share's team-00 (files with findings), named under the link;
    # `broken` leads to no share, `loop` back to this very share.
    dfs = root / "dfs"
    dfs.mkdir()
    (dfs / "plain.txt").write_text("a file of the namespace itself\n")
    for name, target in DFS_LINKS.items():
        os.symlink(f"msdfs:{target}", dfs / name)
    links = root / "dfslinks"
    links.mkdir()
    for name, target in OTHER_LINKS.items():
        os.symlink(f"msdfs:{target}", links / name)
    (scratch / "dfs-pruned").mkdir()
    shutil.chown(scratch / "dfs-pruned", user=USER)
    for folder in (root, private, private / "open", sealed, scratch, dfs, links):
        os.chmod(folder, 0o755)
    return {"private": private, "sealed": sealed, "scratch": scratch, "bulk": bulk, "dfs": dfs,
            "dfslinks": links}


def _add_user(conf: Path) -> None:
    """The share user's Samba password (the Unix user exists already)."""
    subprocess.run(
        ["smbpasswd", "-c", str(conf), "-s", "-a", USER],
        input=f"{PASSWORD}\n{PASSWORD}\n".encode(), check=True, capture_output=True,
    )


def skip_reason() -> str | None:
    if shutil.which("smbd") is None:
        return "smbd is not installed (Debian package samba; make test installs it)"
    if os.geteuid() != 0:
        return "the Samba test server needs root (a Unix user for its share user)"
    return None


def start_server(extra: dict[str, Path] | None = None) -> SmbServer:
    """A running server with the test shares, and `extra` shares (name -> folder, read
    as root, read-only: bench/bench_smb.py serves its tree so)."""
    root = Path(tempfile.mkdtemp(prefix="mfaleaks-smb-"))
    port = free_port()
    (root / "state").mkdir()
    # Users need the user before the tree (mine.txt is chowned to them).
    if subprocess.run(["id", USER], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "-M", "-s", "/usr/sbin/nologin", USER], check=True)
    paths = _make_tree(root)
    missing = root / "gone"  # a share whose folder does not exist: listed, cannot be opened
    shares = {
        # The repository's fixtures, read as root whoever connects (the checkout may sit
        # under folders the share user cannot enter).
        "fixtures": f"  path = {REPO / 'fixtures'}\n  read only = yes\n  force user = root",
        "private": f"  path = {paths['private']}\n  read only = yes\n  valid users = {USER}",
        "sealed": f"  path = {paths['sealed']}\n  read only = yes\n  smb encrypt = required",
        "scratch": f"  path = {paths['scratch']}\n  read only = no\n  valid users = {USER}",
        "bulk": f"  path = {paths['bulk']}\n  read only = yes",
        "C$": f"  path = {paths['sealed']}\n  read only = yes",
        "broken": f"  path = {missing}\n  read only = yes",
        "dfsroot": f"  path = {paths['dfs']}\n  read only = yes\n  msdfs root = yes",
        "dfslinks": f"  path = {paths['dfslinks']}\n  read only = yes\n  msdfs root = yes",
    }
    for name, folder in (extra or {}).items():
        shares[name] = f"  path = {folder}\n  read only = yes\n  force user = root"
    conf = root / "smb.conf"
    conf.write_text(_conf(root, port, shares))
    _add_user(conf)
    server = SmbServer("127.0.0.1", port, USER, PASSWORD, root, conf, paths)
    server.shares["fixtures"] = REPO / "fixtures"
    server.start()
    return server


@pytest.fixture(scope="session")
def smb_server() -> Iterator[SmbServer]:
    reason = skip_reason()
    if reason is not None:
        print(f"SMB tests skipped: {reason}")
        pytest.skip(reason)
    with running_server() as server:
        yield server


@contextlib.contextmanager
def running_server(extra: dict[str, Path] | None = None) -> Iterator[SmbServer]:
    """A server of its own, stopped and removed at the end."""
    server = start_server(extra)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)
