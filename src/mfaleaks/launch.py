"""The `mfaleaks` command: starts the worker server before loading the CLI.

A first scan waits for its workers: the server that forks them (forkstart.py)
loads the matching code and builds the default engine (prebuilt.py), ~0.15 s.
Loading the CLI itself takes ~40 ms, so when the raw arguments already say
that a scan will read files, the server starts first and loads meanwhile on
the other core. Click reads the arguments properly afterwards; a wrong guess
costs only a server that goes unused.
"""

from __future__ import annotations

import os
import sys


def entry() -> None:
    if will_read(sys.argv[1:]):
        from mfaleaks import forkstart

        forkstart.start_early()
    from mfaleaks.cli import entry as cli_entry

    cli_entry()


def will_read(args: list[str]) -> bool:
    """A scan with more than one job and no cache file yet (a rescan may read nothing)."""
    if args[:1] != ["scan"] or "--help" in args:
        return False
    jobs = os.cpu_count() or 1
    cache: str | None = None
    rest = iter(args[1:])
    for arg in rest:
        name, eq, value = arg.partition("=")
        if name in ("--jobs", "-j", "--cache"):
            value = value if eq else next(rest, "")
            if name == "--cache":
                cache = value
            elif value.isdigit():
                jobs = int(value)
        elif arg.startswith("-j") and arg[2:].isdigit():
            jobs = int(arg[2:])
    return jobs > 1 and (cache is None or not os.path.exists(cache))
