"""Command line: parse, call the core, print. Exit 0 clean, 1 findings, 2 usage/config."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

import click
from click.core import ParameterSource

from mfaleaks import __version__
from mfaleaks.cli.progress import ProgressDisplay
from mfaleaks.config import (
    ClusterOptions,
    Format,
    ScanConfig,
    SmbLogin,
    available_cpus,
    parse_size,
)
from mfaleaks.errors import ConfigError
from mfaleaks.limits import Limits
from mfaleaks.models import Confidence
from mfaleaks.output import write_private
from mfaleaks.sources.smb.path import is_smb

# The scan machinery, the config file reader, the reports and the rule loader are
# imported by the commands that use them: a first scan starts its worker server
# before loading them (forkstart.py), and `--version` or a cached rescan start sooner.

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class SizeType(click.ParamType):  # type: ignore[type-arg]
    name = "size"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_size(str(value))
        except ConfigError as exc:
            self.fail(str(exc), param, ctx)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mfaleaks")
def cli() -> None:
    """Find leaked MFA recovery material: backup codes, recovery keys, TOTP seeds."""


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice([f.value for f in Format]), default="text",
              show_default=True, help="Report format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False),
              help="Write the report here (mode 0600).")
@click.option("--rules", "rules", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Extra rule file or folder (repeatable).")
@click.option("--no-default-rules", is_flag=True, help="Do not load the bundled rule pack.")
@click.option("--min-confidence", type=click.Choice(["low", "medium", "high"]), default="medium",
              show_default=True, help="Report findings at or above this confidence.")
@click.option("--show-secrets", is_flag=True, help="Print codes in full (default: masked).")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when something is found.")
@click.option("--exclude", multiple=True, metavar="GLOB",
              help="Skip paths matching GLOB (repeatable).")
@click.option("--follow-symlinks", is_flag=True,
              help="Follow symbolic links (loops are detected).")
@click.option("--max-file-size", type=SizeType(), default="100G", show_default=True,
              help="Skip files on disk larger than this (e.g. 500M).")
@click.option("--max-depth", type=click.IntRange(0, 64), default=Limits.max_depth,
              show_default=True, help="Nesting depth of containers (zip in mail in pst).")
@click.option("--max-expanded", type=SizeType(), default="2G", show_default=True,
              help="Bytes extracted from one file on disk, all levels together.")
@click.option("--max-members", type=click.IntRange(1), default=Limits.max_members,
              show_default=True, help="Members read from one archive.")
@click.option("--max-ratio", type=click.FloatRange(1), default=Limits.max_ratio,
              show_default=True, help="Largest compression ratio of an archive member.")
@click.option("--no-ocr", is_flag=True,
              help="Do not read text in images (QR codes are still read).")
@click.option("--ocr-timeout", type=click.FloatRange(1), default=Limits.ocr_timeout,
              show_default=True, help="Seconds of OCR per image.")
@click.option("--file-timeout", type=click.FloatRange(0), default=Limits.parse_timeout,
              show_default=True, help="Seconds per file on disk, plus 1 s per MB (0: none).")
@click.option("--jobs", "-j", type=click.IntRange(1), default=None,
              show_default="the CPUs this process may use",
              help="Worker processes. --jobs 1 reads in this process: it starts faster (the "
                   "pre-commit hook), but a reader that crashes on a file ends the scan.")
@click.option("--cache", type=click.Path(dir_okay=False, path_type=Path),
              help="Cache file (SQLite, 0600) of earlier results: unchanged files are not read "
                   "again, moved ones are known by content. Keeps masked codes only.")
@click.option("--config", "config_file",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Config file (default: the nearest .mfaleaks.toml or pyproject.toml with "
                   "[tool.mfaleaks], from here up to the top of the git repository).")
@click.option("--baseline", type=click.Path(dir_okay=False, path_type=Path),
              help="Report only findings not in this baseline (mfaleaks baseline create).")
@click.option("--no-inline-allow", is_flag=True,
              help="Report findings marked mfaleaks:allow, gitleaks:allow and the like (audit).")
@click.option("--smb-user", metavar="[DOMAIN\\]USER",
              help="Account for smb:// paths; password from MFALEAKS_SMB_PASSWORD, "
                   "--smb-auth-file or a prompt, never the command line.")
@click.option("--smb-auth-file", type=click.Path(dir_okay=False),
              help="smbclient-format file (username, password, domain); mode 0600.")
@click.option("--smb-kerberos", is_flag=True, help="Log on to SMB servers with the Kerberos "
              "ticket cache (needs pyspnego[kerberos]).")
@click.option("--smb-encrypt", is_flag=True, help="Refuse an SMB session that is not encrypted.")
@click.option("--smb-timeout", type=click.FloatRange(1), default=30.0, show_default=True,
              help="Seconds to wait for any one answer of an SMB server.")
@click.option("--smb-dfs-host", "smb_dfs_hosts", multiple=True, metavar="HOST[:PORT]",
              help="Follow DFS links to this host too, with the same account (repeatable; "
                   "'*': any host). By default a link is followed only to the servers "
                   "named on the command line.")
@click.option("--cluster", metavar="ADDRESS",
              help="Run on a Dask cluster: tcp://HOST:PORT, tls://HOST:PORT, or local:N (N "
                   "worker processes here). PATHS must be the same on every worker.")
@click.option("--cluster-tls-ca", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CA certificate of a tls:// cluster.")
@click.option("--cluster-tls-cert", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="This client's certificate for a tls:// cluster.")
@click.option("--cluster-tls-key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="This client's private key for a tls:// cluster.")
@click.option("--quiet", "-q", is_flag=True, help="No progress display, no summary on stderr.")
@click.option("--verbose", "-v", is_flag=True, help="Explain each finding's evidence.")
def scan(paths: tuple[str, ...], fmt: str, output: str | None, rules: tuple[Path, ...],
         no_default_rules: bool, min_confidence: str, show_secrets: bool, exit_zero: bool,
         exclude: tuple[str, ...], follow_symlinks: bool, max_file_size: int, max_depth: int,
         max_expanded: int, max_members: int, max_ratio: float, no_ocr: bool,
         ocr_timeout: float, file_timeout: float, jobs: int | None, cache: Path | None,
         config_file: Path | None,
         baseline: Path | None, no_inline_allow: bool, smb_user: str | None,
         smb_auth_file: str | None, smb_kerberos: bool, smb_encrypt: bool, smb_timeout: float,
         smb_dfs_hosts: tuple[str, ...], cluster: str | None, cluster_tls_ca: Path | None,
         cluster_tls_cert: Path | None, cluster_tls_key: Path | None, quiet: bool,
         verbose: bool) -> None:
    """Scan files, folders or - (stdin) for leaked recovery material."""
    if cluster is None and jobs != 1 and (cache is None or not cache.exists()):
        # A first scan reads files: the worker server loads (~0.1 s) while this
        # process reads its options and rules. With a cache file run_scan decides.
        from mfaleaks.run import forkstart

        forkstart.start_early(min_confidence, pictures=forkstart.names_pictures(paths))
    config = _scan_config(click.get_current_context())
    if not config.default_rules and not config.rule_paths:
        raise click.UsageError("--no-default-rules needs at least one --rules PATH")
    if config.cluster is not None and not config.cluster.encrypted:
        # Anyone on the network can read tcp:// traffic (and connect to the scheduler).
        if config.show_secrets:
            raise click.UsageError("--show-secrets is refused over tcp://: the codes would "
                                   "cross the network in clear text (use a tls:// cluster)")
        if "-" in config.paths:
            raise click.UsageError("standard input is refused over tcp://: it would cross the "
                                   "network in clear text (use a tls:// cluster)")
    # A mistyped path must not pass a CI job as "nothing found" (on a cluster, the workers
    # are asked: this machine may not see the share).
    missing = [p for p in config.paths if p != "-" and not is_smb(p)
               and config.cluster is None and not os.path.lexists(p)]
    if missing:
        raise click.UsageError(f"no such file or folder: {missing[0]}")
    from mfaleaks.report import render
    from mfaleaks.run.scan import run_scan

    try:
        with ProgressDisplay(enabled=not quiet) as progress:
            result = run_scan(config, progress=progress.callback())
    except ConfigError as exc:
        click.echo(f"mfaleaks: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    _alert(result.alerts)
    color = config.format is Format.TEXT and output is None and sys.stdout.isatty()
    text = render(result, config.format, color=color)
    if verbose and config.format is Format.TEXT:
        text += _evidence(result)
    _write(output, text)
    if output and not quiet:
        click.echo(f"mfaleaks: {len(result.findings)} finding(s); report written to {output}",
                   err=True)
    if result.findings and not exit_zero:
        sys.exit(EXIT_FINDINGS)
    # An interrupted scan found nothing so far: that is not a clean result.
    sys.exit(EXIT_INTERRUPTED if result.incomplete else EXIT_CLEAN)


def _alert(alerts: list[str]) -> None:
    """What the scan could not read because a process died: on stderr even with --quiet
    (the report has it too), since a CI log may show nothing else."""
    for alert in alerts:
        click.echo(f"mfaleaks: {alert}", err=True)


# ScanConfig fields that the config file also sets: the command line wins when given.
_FILE_SETTABLE = {"fmt": "format", "min_confidence": "min_confidence", "baseline": "baseline"}


def _scan_config(ctx: click.Context) -> ScanConfig:
    """The scan options (ctx.params) merged over the project's config file."""
    p = ctx.params
    limits = replace(Limits(), max_file_size=p["max_file_size"], max_depth=p["max_depth"],
                     max_expanded=p["max_expanded"], max_members=p["max_members"],
                     max_ratio=p["max_ratio"], ocr=not p["no_ocr"],
                     ocr_timeout=p["ocr_timeout"], parse_timeout=p["file_timeout"])
    dfs_hosts = _dfs_hosts(p)  # (a usage error before any password is asked for)
    config = ScanConfig(
        paths=p["paths"], format=Format(p.get("fmt", "text")), output=p.get("output"),
        rule_paths=p["rules"], default_rules=not p["no_default_rules"],
        min_confidence=Confidence(p["min_confidence"]), show_secrets=p.get("show_secrets", False),
        exit_zero=p.get("exit_zero", False), excludes=p["exclude"],
        follow_symlinks=p["follow_symlinks"], jobs=p["jobs"] or available_cpus(),
        isolate=p["jobs"] is None, quiet=p["quiet"],
        verbose=p.get("verbose", False), limits=limits, baseline=p.get("baseline"),
        inline_allow=not p["no_inline_allow"], cache=p.get("cache"), smb=_smb_login(p),
        smb_dfs_hosts=dfs_hosts, cluster=_cluster(p),
    )
    from mfaleaks.cli import configfile

    given = {field for name, field in _FILE_SETTABLE.items()
             if ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT)}
    try:
        return configfile.apply(config, configfile.locate(p["config_file"]), given)
    except ConfigError as exc:
        click.echo(f"mfaleaks: {exc}", err=True)
        sys.exit(EXIT_USAGE)


def _smb_login(p: dict[str, Any]) -> SmbLogin | None:
    """The SMB account, when a path is an SMB location; asks for the password at a terminal."""
    if not any(is_smb(path) for path in p["paths"]):
        return None
    from mfaleaks.sources.smb.auth import credentials

    def ask(prompt: str) -> str:
        return click.prompt(prompt, hide_input=True, err=True)

    tty = sys.stdin.isatty() and "-" not in p["paths"]
    try:
        login = credentials(p.get("smb_user"), auth_file=p.get("smb_auth_file"),
                            kerberos=p.get("smb_kerberos", False), prompt=ask if tty else None)
    except ConfigError as exc:
        click.echo(f"mfaleaks: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    return replace(login, encrypt=p.get("smb_encrypt", False),
                   timeout=p.get("smb_timeout", 30.0))


def _dfs_hosts(p: dict[str, Any]) -> tuple[str, ...]:
    """--smb-dfs-host, each checked (a usage error says which is wrong)."""
    hosts = tuple(p.get("smb_dfs_hosts") or ())
    if hosts:
        from mfaleaks.sources.smb.dfs import parse_allowed
        from mfaleaks.sources.smb.url import BadTarget

        for host in hosts:
            try:
                parse_allowed(host)
            except BadTarget as exc:
                raise click.UsageError(str(exc)) from None
    return hosts


def _cluster(p: dict[str, Any]) -> ClusterOptions | None:
    """--cluster and its TLS files, checked."""
    address = p.get("cluster")
    tls = [p.get(f"cluster_tls_{part}") for part in ("ca", "cert", "key")]
    if address is None:
        if any(tls):
            raise click.UsageError("--cluster-tls-ca/-cert/-key need --cluster tls://HOST:PORT")
        return None
    scheme, sep, rest = address.partition("://")
    if address.startswith("local:"):
        if not address[6:].isdigit() or int(address[6:]) < 1:
            raise click.UsageError(f"--cluster {address}: local:N needs a number of workers")
    elif not sep or scheme not in ("tcp", "tls") or ":" not in rest:
        raise click.UsageError(f"--cluster {address}: use tcp://HOST:PORT, tls://HOST:PORT "
                               "or local:N")
    if scheme == "tls" and not all(tls):
        raise click.UsageError("a tls:// cluster needs --cluster-tls-ca, --cluster-tls-cert "
                               "and --cluster-tls-key")
    if scheme != "tls" and any(tls):
        raise click.UsageError("--cluster-tls-ca/-cert/-key need a tls:// address")
    return ClusterOptions(address, *tls)


def _evidence(result: object) -> str:
    from mfaleaks.models import ScanResult

    assert isinstance(result, ScanResult)
    lines = ["", "Evidence:"]
    for f in result.findings:
        where = f"{f.path}" + (f" :: {f.member}" if f.member else "")
        lines.append(f"  {where} [{f.rule_id}, score {f.score}]: " + "; ".join(f.evidence))
    return "\n".join(lines) + "\n"


@cli.command("report")
@click.argument("report_file", metavar="REPORT.json")
@click.option("--format", "fmt", type=click.Choice(["html", "markdown", "csv"]), default="html",
              show_default=True, help="html: one self-contained page; csv: a ticket checklist.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write here (mode 0600).")
def report_command(report_file: str, fmt: str, output: str | None) -> None:
    """Render a saved JSON report as incidents: owner, exposure, every copy, what to do."""
    from mfaleaks.report import csv as csv_report
    from mfaleaks.report import html as html_report
    from mfaleaks.report import markdown as markdown_report
    from mfaleaks.report.load import ReportError, load_report

    try:
        with click.open_file(report_file, "rb") as fh:
            text = fh.read().decode("utf-8")
        result = load_report(text)
    except (OSError, UnicodeDecodeError, ReportError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        click.echo(f"mfaleaks: {report_file}: {reason}".splitlines()[0], err=True)
        sys.exit(EXIT_USAGE)
    renderers = {"html": html_report.render, "markdown": markdown_report.render,
                 "csv": csv_report.render}
    _write(output, renderers[fmt](result))


@cli.group()
def rules() -> None:
    """List and check rule files."""


def _load(paths: tuple[Path, ...], no_default: bool) -> object:
    from mfaleaks.detect.rules.load import DEFAULT_RULES_DIR, load_pack

    roots = ([] if no_default else [DEFAULT_RULES_DIR]) + list(paths)
    try:
        return load_pack(roots)
    except ConfigError as exc:
        click.echo(f"mfaleaks: {exc}", err=True)
        sys.exit(EXIT_USAGE)


@rules.command("list")
@click.option("--rules", "paths", multiple=True, type=click.Path(exists=True, path_type=Path))
@click.option("--no-default-rules", is_flag=True)
@click.option("--plain", is_flag=True, help="Tab-separated, one rule a line (for diffs).")
def rules_list(paths: tuple[Path, ...], no_default_rules: bool, plain: bool) -> None:
    """A table of rules: id, service, shapes, severity."""
    from mfaleaks.detect.rules.model import RulePack

    pack = _load(paths, no_default_rules)
    assert isinstance(pack, RulePack)
    if plain:
        for r in pack.rules:
            shapes = ",".join(s.name for s in r.shapes)
            click.echo(f"{r.id}\t{r.service}\t{shapes}\t{r.count}\t{r.severity.value}")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(pack.rules)} rules")
    for col in ("id", "service", "shapes", "codes", "severity"):
        table.add_column(col)
    for r in pack.rules:
        table.add_row(r.id, r.service, ", ".join(s.name for s in r.shapes), str(r.count),
                      r.severity.value)
    Console(width=140, highlight=False).print(table)


@rules.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--no-default-rules", is_flag=True, help="Check only the PATHS given.")
def rules_check(paths: tuple[Path, ...], no_default_rules: bool) -> None:
    """Validate rule files and run every rule's examples and negative examples."""
    from mfaleaks.detect.rules.model import RulePack

    pack = _load(paths, no_default_rules or bool(paths))
    assert isinstance(pack, RulePack)
    from mfaleaks.detect.rules.check import check_pack

    failures = list(check_pack(pack))
    for fail in failures:
        click.echo(f"{fail.origin}: {fail.rule_id}: {fail.message}")
    examples = sum(len(r.examples) + len(r.negative_examples) for r in pack.rules)
    click.echo(f"{len(pack.rules)} rules, {examples} examples, {len(failures)} failures")
    sys.exit(1 if failures else 0)


@cli.group()
def baseline() -> None:
    """Accept today's findings so that scans report only new ones."""


@baseline.command("create")
@click.argument("file", type=click.Path(dir_okay=False))
def baseline_create(file: str, **_: object) -> None:
    """Scan PATHS and write the fingerprints of the findings to FILE (mode 0600).

    Takes the options of `scan` that decide what is found; the config file's
    baseline is not applied, so re-creating a baseline keeps old entries only
    while their codes are still there.
    """
    config = replace(_scan_config(click.get_current_context()), baseline=None)
    if not config.default_rules and not config.rule_paths:
        raise click.UsageError("--no-default-rules needs at least one --rules PATH")
    from mfaleaks.run.scan import run_scan

    try:
        with ProgressDisplay(enabled=not config.quiet) as progress:
            result = run_scan(config, progress=progress.callback())
    except ConfigError as exc:
        click.echo(f"mfaleaks: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    _alert(result.alerts)
    if result.incomplete:
        click.echo("mfaleaks: scan incomplete; baseline not written", err=True)
        sys.exit(EXIT_INTERRUPTED)
    from mfaleaks.triage.baseline import write

    try:
        count = write(file, result.findings)
    except OSError as exc:
        _cannot_write(file, exc)
    if not config.quiet:
        unread = f"; {len(result.errors)} file(s) not fully scanned" if result.errors else ""
        click.echo(f"mfaleaks: baseline of {count} finding(s) written to {file}{unread}", err=True)
    sys.exit(EXIT_CLEAN)


# baseline create shares the options of scan that decide what is found.
_REPORT_ONLY = {"fmt", "output", "show_secrets", "exit_zero", "verbose", "baseline"}
baseline_create.params.extend(p for p in scan.params if p.name not in _REPORT_ONLY)


def main(argv: list[str] | None = None) -> int:
    """Entry point that returns the exit code (tests call this directly)."""
    try:
        cli.main(args=argv, prog_name="mfaleaks", standalone_mode=False)
    except click.exceptions.UsageError as exc:
        exc.show()
        return EXIT_USAGE
    except click.exceptions.Abort:
        return 130
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    return EXIT_CLEAN


def _write(output: str | None, text: str) -> None:
    try:
        write_private(output, text)
    except OSError as exc:
        _cannot_write(output or "-", exc)


def _cannot_write(path: str, exc: OSError) -> None:
    """Exit 2, not a traceback and exit 1 (which would read as "codes found")."""
    click.echo(f"mfaleaks: cannot write {path}: {exc.strerror or exc}", err=True)
    sys.exit(EXIT_USAGE)


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # the same clean stop as Ctrl-C: report what was scanned


def entry() -> None:
    # SIGTERM (kill, systemd, a CI timeout) stops like Ctrl-C, not mid-write.
    signal.signal(signal.SIGTERM, _stop)
    try:
        code = main()
    except Exception as exc:  # a bug in mfaleaks: exit 2, never 1 (which means "found")
        _crash(exc)
        code = EXIT_USAGE
    _exit(code)


def _exit(code: int) -> None:
    """Exit without the interpreter's teardown: freeing every object one by one took
    8-30 ms here (a tenth of a cached rescan), and nothing is left to do then. The
    exit handlers (the worker pool's among them) still run, and the output is flushed."""
    import atexit

    with contextlib.suppress(BrokenPipeError, ValueError):  # `| head`: nothing more to say
        sys.stdout.flush()
    atexit._run_exitfuncs()
    with contextlib.suppress(BrokenPipeError, ValueError):
        sys.stderr.flush()
    os._exit(code)


def _crash(exc: Exception) -> None:
    """Where it failed, with the message scrubbed: exception texts can quote the input."""
    import traceback

    from mfaleaks.detect.reasons import scrub

    frames = "".join(traceback.format_tb(exc.__traceback__))
    last = scrub("".join(traceback.format_exception_only(type(exc), exc)))
    click.echo(f"mfaleaks: internal error, please report it:\n{frames}{last}", err=True)
