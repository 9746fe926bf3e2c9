"""The `mfaleaks` command: starts the worker server before loading the CLI.

A first scan waits for its workers: the server that forks them (forkstart.py)
loads the matching code and builds the default engine (prebuilt.py), ~0.15 s.
Loading the CLI itself takes ~40 ms, so when the raw arguments already say
that a scan will read files, the server starts first and loads meanwhile on
the other core. Click reads the arguments properly afterwards; a wrong guess
costs only a server that goes unused. A rescan (its cache file exists) starts
listing its first folder instead (listing.start_early), in a child that the
walk takes only if it asks for that very listing.
"""

from __future__ import annotations

import os
import sys


def entry() -> None:
    args = sys.argv[1:]
    lean = smb_without_kerberos(args)
    if lean:  # before anything imports pyspnego (sources/smb/lean.py)
        import mfaleaks.sources.smb.lean  # noqa: F401
    if will_read(args):
        from mfaleaks.run import forkstart
        from mfaleaks.sources.smb.path import is_smb

        scan = _Scan(args[1:])
        forkstart.start_early(scan.confidence, smb=any(is_smb(p) for p in scan.paths),
                              pictures=forkstart.names_pictures(scan.paths), lean=lean)
    elif (walk := rescan_walk(args)) is not None:
        from mfaleaks.sources import listing

        listing.start_early(walk[0], listing.WalkOptions(
            excludes=walk[1], follow_symlinks=walk[2], digests=True,
            listers=listing.listers(walk[3] or sys.maxsize)))
    from mfaleaks.cli.command import entry as cli_entry

    cli_entry()


# scan's options that take a value, and its flags (click reads them properly later).
_VALUED = frozenset({
    "--format", "--output", "-o", "--rules", "--min-confidence", "--exclude",
    "--max-file-size", "--max-depth", "--max-expanded", "--max-members", "--max-ratio",
    "--ocr-timeout", "--file-timeout", "--jobs", "-j", "--cache", "--config", "--baseline",
    "--smb-user", "--smb-auth-file", "--smb-timeout", "--smb-dfs-host",
    "--cluster", "--cluster-tls-ca", "--cluster-tls-cert", "--cluster-tls-key"})
_FLAGS = frozenset({
    "--no-default-rules", "--show-secrets", "--exit-zero", "--follow-symlinks", "--no-ocr",
    "--no-inline-allow", "--quiet", "-q", "--verbose", "-v", "--smb-kerberos", "--smb-encrypt"})


class _Scan:
    """What the raw arguments of `mfaleaks scan` say, as far as the guesses below need."""

    def __init__(self, args: list[str]) -> None:
        self.jobs: int | None = None  # not given: worker processes, however many CPUs
        self.cache: str | None = None
        self.cluster = False  # files are read on a cluster's workers, not here
        self.paths: list[str] = []
        self.excludes: list[str] = []
        self.follow = False
        self.unknown = False  # an option not above (--help, -qv ...): click will decide
        self.confidence: str | None = None  # --min-confidence, for the server's engine
        self.kerberos = False  # --smb-kerberos
        rest = iter(args)
        for arg in rest:
            if arg == "--":
                self.paths.extend(rest)
                break
            name, eq, value = arg.partition("=")
            if name in _VALUED:
                value = value if eq else next(rest, "")
                if name == "--exclude":
                    self.excludes.append(value)
                elif name == "--cache":
                    self.cache = value
                elif name == "--min-confidence":
                    self.confidence = value
                elif name == "--cluster":
                    self.cluster = True
                elif name in ("--jobs", "-j") and value.isdigit():
                    self.jobs = int(value)
            elif arg in _FLAGS:
                self.follow = self.follow or arg == "--follow-symlinks"
                self.kerberos = self.kerberos or arg == "--smb-kerberos"
            elif arg.startswith("-j") and arg[2:].isdigit():
                self.jobs = int(arg[2:])
            elif arg.startswith("-") and arg != "-":
                self.unknown = True
            else:
                self.paths.append(arg)


def rescan_walk(args: list[str]) -> tuple[str, tuple[str, ...], bool, int | None] | None:
    """(first folder, excludes, follow links, --jobs) of a scan whose cache file exists (a rescan,
    whose walk is most of its work), guessed from the raw arguments; None when unsure.
    The walk checks the guess (listing._take_early): a wrong one costs an unused child."""
    if args[:1] != ["scan"]:
        return None
    scan = _Scan(args[1:])
    if (scan.unknown or scan.cluster or not scan.cache or not scan.paths
            or not os.path.exists(scan.cache)):
        return None
    if not os.path.isdir(scan.paths[0]):
        return None
    return scan.paths[0], tuple(scan.excludes), scan.follow, scan.jobs


def smb_without_kerberos(args: list[str]) -> bool:
    """A scan of shares that logs on without Kerberos: --smb-kerberos is a flag of the command
    line only (not of the config file), so its absence here is certain."""
    if args[:1] != ["scan"] or "--help" in args:
        return False
    from mfaleaks.sources.smb.path import is_smb

    scan = _Scan(args[1:])
    return not scan.kerberos and any(is_smb(p) for p in scan.paths)


def will_read(args: list[str]) -> bool:
    """A scan with worker processes (any --jobs but 1) and no cache file yet (a rescan
    may read nothing)."""
    if args[:1] != ["scan"] or "--help" in args:
        return False
    scan = _Scan(args[1:])
    return scan.jobs != 1 and not scan.cluster and (
        scan.cache is None or not os.path.exists(scan.cache))
