"""A real Dask cluster for the tests: `dask scheduler` and two `dask worker` processes on
127.0.0.1 (free ports), plain tcp:// or tls:// with certificates made for the session.

Workers run under their nanny, as `dask worker` does by default: kill_worker() SIGKILLs
a worker process, the nanny starts a new one, and the scheduler sends the lost tasks
elsewhere. Import the fixtures into a test module: `from daskcluster import dask_cluster`.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

DASK = Path(sys.executable).with_name("dask")
START_WAIT = 90.0  # s for the scheduler and two workers to come up on a busy machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Certs:
    """A CA and one certificate for 127.0.0.1 signed by it (scheduler, workers, client)."""

    ca: Path
    cert: Path
    key: Path

    def args(self) -> list[str]:
        return ["--tls-ca-file", str(self.ca), "--tls-cert", str(self.cert),
                "--tls-key", str(self.key)]


def make_certs(folder: Path) -> Certs:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def build(subject: str, issuer: x509.Name | None, signer: ec.EllipticCurvePrivateKey | None,
              ca: bool) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer or name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
        return builder.sign(signer or key, hashes.SHA256()), key

    ca_cert, ca_key = build("mfaleaks test CA", None, None, ca=True)
    cert, key = build("127.0.0.1", ca_cert.subject, ca_key, ca=False)
    pem = serialization.Encoding.PEM
    paths = Certs(folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    paths.ca.write_bytes(ca_cert.public_bytes(pem))
    paths.cert.write_bytes(cert.public_bytes(pem))
    paths.key.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    paths.key.chmod(0o600)
    return paths


@dataclass
class DaskCluster:
    address: str
    certs: Certs | None
    folder: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def cli_args(self) -> list[str]:
        """The options of `mfaleaks scan` that use this cluster."""
        args = ["--cluster", self.address]
        if self.certs is not None:
            args += ["--cluster-tls-ca", str(self.certs.ca), "--cluster-tls-cert",
                     str(self.certs.cert), "--cluster-tls-key", str(self.certs.key)]
        return args

    def workers(self) -> int:
        """Workers the scheduler knows now."""
        from distributed import Client
        from distributed.security import Security

        security = None
        if self.certs is not None:
            security = Security(tls_ca_file=str(self.certs.ca),
                                tls_client_cert=str(self.certs.cert),
                                tls_client_key=str(self.certs.key), require_encryption=True)
        with Client(self.address, security=security, timeout=10) as client:
            return len(client.scheduler_info()["workers"])

    def wait_workers(self, n: int, timeout: float = START_WAIT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.workers() >= n:
                    return
            except OSError:  # the scheduler is not listening yet (a busy machine)
                pass
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{proc.args!r} ended: see {self.folder}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"fewer than {n} Dask workers after {timeout} s")
            time.sleep(0.2)

    def worker_pids(self) -> list[int]:
        """The worker processes (children of the nannies), not the nannies."""
        import psutil

        pids = []
        for nanny in self.procs[1:]:
            for child in psutil.Process(nanny.pid).children():
                try:
                    if "spawn_main" in " ".join(child.cmdline()):
                        pids.append(child.pid)
                except psutil.Error:  # a worker just killed, not reaped yet
                    continue
        return pids

    def kill_worker(self) -> int:
        """SIGKILL one worker process; returns its pid (its nanny starts another)."""
        pid = self.worker_pids()[0]
        os.kill(pid, signal.SIGKILL)
        return pid

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(self.procs):
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def start_cluster(folder: Path, tls: bool, workers: int = 2) -> DaskCluster:
    folder.mkdir(parents=True, exist_ok=True)
    certs = make_certs(folder) if tls else None
    tls_args = certs.args() if certs is not None else []
    port = free_port()
    scheme = "tls" if tls else "tcp"
    cluster = DaskCluster(f"{scheme}://127.0.0.1:{port}", certs, folder)
    log = open(folder / "scheduler.log", "wb")  # noqa: SIM115 - open for the process's life
    cluster.procs.append(subprocess.Popen(
        [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port),
         "--dashboard-address", ":0", "--protocol", scheme, *tls_args],
        stdout=log, stderr=subprocess.STDOUT))
    try:
        for i in range(workers):
            wlog = open(folder / f"worker{i}.log", "wb")  # noqa: SIM115
            cluster.procs.append(subprocess.Popen(
                [str(DASK), "worker", cluster.address, "--nthreads", "1", "--host",
                 "127.0.0.1", "--dashboard-address", ":0",
                 "--local-directory", str(folder / f"w{i}"), *tls_args],
                stdout=wlog, stderr=subprocess.STDOUT))
        cluster.wait_workers(workers)
    except BaseException:
        cluster.stop()
        raise
    return cluster


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    """A tcp:// scheduler and two workers for the whole session."""
    cluster = start_cluster(tmp_path_factory.mktemp("dask-tcp"), tls=False)
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def dask_tls_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    """A tls:// scheduler and two workers, with a CA and certificates made for the session."""
    cluster = start_cluster(tmp_path_factory.mktemp("dask-tls"), tls=True)
    yield cluster
    cluster.stop()
