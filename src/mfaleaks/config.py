"""Options of one scan, validated once into a frozen ScanConfig."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from mfaleaks.errors import ConfigError
from mfaleaks.limits import Limits
from mfaleaks.models import Confidence


class Format(StrEnum):
    TEXT = "text"
    JSON = "json"
    JSONL = "jsonl"
    SARIF = "sarif"
    JUNIT = "junit"


# What a scan reports unless told otherwise; `rules check` runs the examples at it too.
DEFAULT_MIN_CONFIDENCE = Confidence.MEDIUM


@dataclass(frozen=True)
class SmbLogin:
    """How to log on to SMB servers (--smb-*); the password never comes from the command line."""

    user: str | None = None
    domain: str | None = None
    password: str | None = field(default=None, repr=False)
    kerberos: bool = False
    encrypt: bool = False  # --smb-encrypt: refuse a session the server does not encrypt
    timeout: float = 30.0  # --smb-timeout: seconds to wait for any one answer

    @property
    def account(self) -> str:
        """DOMAIN\\user as the server is told it (NTLM), or user@REALM as given."""
        if not self.user:
            return ""
        return f"{self.domain}\\{self.user}" if self.domain else self.user


@dataclass(frozen=True)
class ClusterOptions:
    """--cluster: where the scan runs (tcp://HOST:PORT, tls://HOST:PORT or local:N)."""

    address: str
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None

    @property
    def encrypted(self) -> bool:
        """Results cross no network in clear text (tls://, or local:N: all in this process)."""
        return not self.address.startswith("tcp://")


def available_cpus() -> int:
    """The CPUs this process may run on (taskset, a container's cpuset), not the machine's."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no affinity on this platform
        return os.cpu_count() or 1


@dataclass(frozen=True)
class ScanConfig:
    paths: tuple[str, ...]
    format: Format = Format.TEXT
    output: str | None = None
    rule_paths: tuple[Path, ...] = ()
    default_rules: bool = True
    min_confidence: Confidence = DEFAULT_MIN_CONFIDENCE
    show_secrets: bool = False
    exit_zero: bool = False
    excludes: tuple[str, ...] = ()
    follow_symlinks: bool = False
    jobs: int = field(default_factory=available_cpus)
    # One worker process even with jobs=1, so a native reader that crashes on a file ends
    # that process, not the scan. The command line sets it unless --jobs 1 is asked for
    # (the pre-commit hook's in-process scan, which starts faster).
    isolate: bool = False

    @property
    def pooled(self) -> bool:
        """Whether files are read by worker processes (not by this one)."""
        return self.jobs > 1 or self.isolate
    quiet: bool = False
    verbose: bool = False
    limits: Limits = field(default_factory=Limits)
    # Suppression (src/mfaleaks/suppress.py): baseline file, inline markers,
    # rules turned off and allowed fingerprints (fingerprint -> why).
    baseline: Path | None = None
    inline_allow: bool = True
    disabled_rules: frozenset[str] = frozenset()
    config_file: str | None = None  # where disabled_rules and allowed_fingerprints came from
    allowed_fingerprints: Mapping[str, str] = field(default_factory=dict)
    # --cache FILE (src/mfaleaks/cache.py): results of earlier scans, for cheap rescans.
    cache: Path | None = None
    # Paths that are SMB locations (smb://HOST/SHARE/PATH) log on with this.
    smb: SmbLogin | None = None
    # --smb-dfs-host: hosts (HOST[:PORT], '*': any) a DFS link may lead to besides the
    # command line's servers (sources/smb/dfs.py).
    smb_dfs_hosts: tuple[str, ...] = ()
    # --cluster (run/cluster.py): the same scan on a Dask cluster's workers.
    cluster: ClusterOptions | None = None


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.I)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str) -> int:
    """'500k', '10M', '2GiB', '1048576' -> bytes."""
    m = _SIZE.match(text)
    if not m:
        raise ConfigError(f"not a size: {text!r} (use e.g. 500k, 10M, 2G)")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])
