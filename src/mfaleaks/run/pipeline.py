"""One file on disk in, findings and errors out: the only place that recurses.

classify -> extract -> (children back to classify) -> match/score per chunk.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

from mfaleaks.cache import children as memo
from mfaleaks.detect.reasons import Redactor, scrub
from mfaleaks.detect.score import Engine
from mfaleaks.extract import EXTRACTORS
from mfaleaks.extract.base import Budget, Context, Limits
from mfaleaks.extract.text import LAST_LINE
from mfaleaks.models import FileResult, Finding, ScanError, Skip, Source, TextChunk
from mfaleaks.sources.classify import Kind, classify
from mfaleaks.sources.owner import file_facts


def scan_source(source: Source, engine: Engine, limits: Limits) -> FileResult:
    start = time.perf_counter()
    result = FileResult(path=source.origin.path, bytes=source.size)
    ctx = Context(limits=limits, budget=Budget())
    try:
        for item in _walk(source, engine, ctx):
            if isinstance(item, Finding):
                result.findings.append(item)
            else:
                result.errors.append(item)
    except MemoryError:
        result.errors.append(_error(source, engine, "out of memory while reading this file"))
    except Exception as exc:  # a bug past every other guard: lose this file, not the scan
        result.errors.append(
            _error(source, engine, f"internal error: {type(exc).__name__}: {exc}"))
    _redact(result, engine.redactor, source.origin.member)
    if result.findings and source.fs_path is not None:
        facts = file_facts(source)  # owner, mode, mtime: for owners and exposure in reports
        result.findings = [replace(f, meta={**facts, **f.meta}) for f in result.findings]
    result.pictures_read = ctx.budget.pictures_read
    result.pictures_dismissed = ctx.budget.pictures_dismissed
    if ctx.budget.owned is not None:  # (lines counted from the window's start: plan.py)
        first, end = ctx.budget.owned
        result.lines = (first - 1, end - first if end != LAST_LINE else 0)
    result.seconds = time.perf_counter() - start
    return result


def _redact(result: FileResult, redact: Redactor, own: str | None) -> None:
    """Member names (archive members, mail subjects) and what extractors noted (headers,
    sheet names) come from the input: a code there is masked as in a reason. Where the
    file is stays whole: its path, the member the walk gave it (`own`: a Maildir
    message's file name), and the file facts added after this."""

    def member(name: str | None) -> str | None:
        if not name:
            return name
        if own and name.startswith(own + " / "):
            return own + " / " + redact.path(name[len(own) + 3 :])
        return name if name == own else redact.path(name)

    result.errors = [replace(e, member=member(e.member)) for e in result.errors]
    result.findings = [
        replace(f, member=member(f.member), meta=redact.mapping(f.meta),
                evidence=tuple(redact.quoted(e) for e in f.evidence),
                location=redact(f.location) if f.location else None)
        for f in result.findings
    ]


def _error(source: Source, engine: Engine, reason: str) -> ScanError:
    return ScanError(path=source.origin.path, member=source.origin.member,
                     reason=scrub(reason, engine.redactor))


def _walk(source: Source, engine: Engine, ctx: Context) -> Iterator[Finding | ScanError]:
    try:
        kind = Kind(source.kind_hint) if source.kind_hint else classify(source)
    except OSError as exc:
        yield _error(source, engine, f"cannot read: {exc.strerror or exc}")
        return
    except Exception as exc:  # a sniffer's library choking on a crafted header
        yield _error(source, engine, f"could not tell the file type: {type(exc).__name__}: {exc}")
        return
    if source.part is not None and kind is not Kind.TEXT:
        # A window of a big file (plan.py) that is not plain text after all: the
        # first window reads the whole file, the others nothing.
        if source.part[0] != 0:
            return
        source = replace(source, part=None)
    extractor = EXTRACTORS.get(kind)
    if extractor is None:
        return  # binary or empty: nothing we can read as text
    try:
        for item in extractor(source, ctx):
            if isinstance(item, TextChunk):
                if item.owned is None:
                    yield from engine.scan_chunk(item, source)
                else:  # a window of a file: its own lines only (the others' are theirs)
                    first, end = ctx.budget.owned = item.owned
                    for finding in engine.scan_chunk(item, source):
                        if (first == 1 if finding.line is None else first <= finding.line < end):
                            yield finding
            elif isinstance(item, Source):
                yield from _child(item, engine, ctx)
            elif isinstance(item, Skip):
                origin = item.origin or source.origin
                # scrub: reasons quote library messages, which can quote the input.
                yield ScanError(path=origin.path, member=origin.member,
                                reason=scrub(item.reason, engine.redactor))
    except OSError as exc:
        yield _error(source, engine, f"cannot read: {exc.strerror or exc}")
    except RecursionError:
        yield _error(source, engine, "nesting too deep to parse")
    except Exception as exc:
        yield _error(source, engine,
                     f"{kind.value} could not be parsed: {type(exc).__name__}: {exc}")


def _child(child: Source, engine: Engine, ctx: Context) -> Iterator[Finding | ScanError]:
    limits = ctx.limits
    if child.depth > limits.max_depth:
        yield _error(child, engine, f"nesting depth limit reached ({limits.max_depth}); not read")
        return
    ctx.budget.expanded += child.size
    if ctx.budget.expanded > limits.max_expanded:
        yield _error(
            child, engine,
            f"expansion limit reached ({limits.max_expanded} bytes from one file); not read",
        )
        return
    # The same attachment in many mails is read once per worker (cache/children.py).
    yield from memo.walk_child(child, ctx, lambda c: _walk(c, engine, ctx))
