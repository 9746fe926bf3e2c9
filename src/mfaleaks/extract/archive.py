"""Archives: zip, tar (plain or gzip/bzip2/xz compressed), single compressed files, 7z.

Members go back to the pipeline as child Sources, so a zip in a tar in a mail
is read like any file. Bombs and traps are stopped by limits, each reported as
a Skip naming the limit while the scan goes on: nesting depth, member count,
size of one member, compression ratio and the expansion budget of the file
on disk. Declared sizes are checked before anything is decompressed, and
decompression runs in bounded steps that re-check what really comes out,
because declared sizes can lie.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from typing import IO, BinaryIO, cast

from mfaleaks.extract.base import Context, Item, Limits
from mfaleaks.models import Skip, Source

STEP = 1 << 20  # decompression step: output is re-checked after each one
RATIO_FLOOR = 1 << 20  # output below this never trips the ratio limit (small files compress well)
MAX_REPORTED = 20  # limit skips reported one by one per archive; the rest are counted


class LimitReached(Exception):
    """Decompression stopped by a limit; the message names it."""


# -- limit messages (one wording everywhere) ---------------------------------------------


def depth_reason(limits: Limits) -> str:
    return f"nesting depth limit reached (max_depth {limits.max_depth}); members not read"


def members_reason(limits: Limits, rest: int | None = None) -> str:
    more = f"{rest} more members" if rest is not None else "further members"
    return f"member count limit reached (max_members {limits.max_members}); {more} not read"


def size_reason(limits: Limits, size: int) -> str:
    return (
        f"member size limit (max_member_size {limits.max_member_size} bytes): "
        f"{size} bytes; not read"
    )


def ratio_reason(limits: Limits, ratio: float) -> str:
    return (
        f"compression ratio limit (max_ratio {limits.max_ratio:g}): "
        f"expands {ratio:.0f}x; not read"
    )


def expanded_reason(limits: Limits) -> str:
    return (
        f"expansion limit reached (max_expanded {limits.max_expanded} bytes from one file); "
        "rest not read"
    )


def declared_problem(size: int, packed: int | None, ctx: Context) -> str | None:
    """The limit a member breaks judging by its declared sizes, before decompressing it."""
    limits = ctx.limits
    if packed is not None and size > RATIO_FLOOR and size > limits.max_ratio * max(packed, 1):
        return ratio_reason(limits, size / max(packed, 1))
    if size > limits.max_member_size:
        return size_reason(limits, size)
    if ctx.budget.expanded + size > limits.max_expanded:
        return expanded_reason(limits)
    return None


class _Reporter:
    """Collects limit skips of one archive: the first few in full, then a count."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.count = 0

    def skip(self, member: str | None, reason: str) -> Iterator[Skip]:
        self.count += 1
        if self.count <= MAX_REPORTED:
            origin = self.source.origin.child(member) if member else None
            yield Skip(reason, origin)

    def summary(self) -> Iterator[Skip]:
        if self.count > MAX_REPORTED:
            yield Skip(f"{self.count - MAX_REPORTED} more members skipped by limits")


# -- zip ---------------------------------------------------------------------------------


def extract_zip(source: Source, ctx: Context) -> Iterator[Item]:
    if source.depth + 1 > ctx.limits.max_depth:
        yield Skip(depth_reason(ctx.limits))
        return
    with source.open() as fh:
        declared = declared_entries(fh)
        if declared is not None and declared > max(ctx.limits.max_members, 0xFFFF):
            # zipfile would load the whole central directory: refuse before it does.
            yield Skip(members_reason(ctx.limits, declared))
            return
        try:
            zf = zipfile.ZipFile(fh)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError,
                NotImplementedError) as exc:  # NotImplementedError: "zip file version 6.4"
            yield Skip(f"zip archive could not be opened: {exc}")
            return
        with zf:
            yield from _zip_members(source, zf, ctx)


def _zip_members(source: Source, zf: zipfile.ZipFile, ctx: Context) -> Iterator[Item]:
    report = _Reporter(source)
    # endswith, not ZipInfo.is_dir(): that raises IndexError on an empty member name.
    files = [info for info in zf.infolist() if not info.filename.endswith("/")]
    for index, info in enumerate(files):
        if index >= ctx.limits.max_members:
            yield Skip(members_reason(ctx.limits, len(files) - index))
            break
        name = info.filename
        if info.flag_bits & 0x1:
            yield from report.skip(name, f"encrypted archive member {name}: no password")
            continue
        problem = declared_problem(info.file_size, info.compress_size, ctx)
        if problem is not None:
            yield from report.skip(name, problem)
            if problem.startswith("expansion"):
                break
            continue
        try:
            data = read_zip_member(zf, info, ctx)
        except LimitReached as exc:
            yield from report.skip(name, str(exc))
            continue
        except (zipfile.BadZipFile, NotImplementedError, ValueError, EOFError, OSError,
                zlib.error, lzma.LZMAError) as exc:
            yield Skip(f"zip member could not be read: {exc}", source.origin.child(name))
            continue
        yield source.child(name, data)
    yield from report.summary()


def read_zip_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, ctx: Context, cap: int | None = None
) -> bytes:
    """Decompress one member whole; LimitReached if it outgrows a limit."""
    out = bytearray()
    for block in stream_zip_member(zf, info, ctx, cap):
        out += block
    return bytes(out)


def stream_zip_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, ctx: Context, cap: int | None = None
) -> Iterator[bytes]:
    """Decompress one member in STEP-sized blocks, re-checking the limits after each.

    zipfile already stops at the declared size; the steps keep a lying
    declaration from costing more than one step of memory past a limit.
    """
    limits = ctx.limits
    limit = min(limits.max_member_size, cap if cap is not None else limits.max_member_size)
    packed = max(info.compress_size, 1)
    done = 0
    with zf.open(info) as member:
        while block := member.read(STEP):
            done += len(block)
            if done > RATIO_FLOOR and done > limits.max_ratio * packed:
                raise LimitReached(ratio_reason(limits, done / packed))
            if done > limit:
                raise LimitReached(size_reason(limits, done))
            yield block


def declared_entries(fh: BinaryIO) -> int | None:
    """The member count in the end-of-central-directory record (zip64 aware), or None."""
    try:
        end = fh.seek(0, os.SEEK_END)
        start = max(0, end - (0xFFFF + 22 + 20))
        fh.seek(start)
        tail = fh.read()
    except OSError:
        return None
    pos = tail.rfind(b"PK\x05\x06")
    if pos < 0 or pos + 22 > len(tail):
        return None
    entries: int = struct.unpack_from("<H", tail, pos + 10)[0]
    if entries == 0xFFFF and pos >= 20 and tail[pos - 20 : pos - 16] == b"PK\x06\x07":
        offset: int = struct.unpack_from("<Q", tail, pos - 12)[0]
        try:
            fh.seek(offset)
            record = fh.read(56)
        except (OSError, OverflowError, ValueError):
            return None
        if len(record) == 56 and record.startswith(b"PK\x06\x06"):
            entries = struct.unpack_from("<Q", record, 32)[0]
    return entries


# -- tar and compressed streams ------------------------------------------------------------


class _Counting(io.RawIOBase):
    """Counts the compressed bytes a decompressor has pulled so far."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.raw.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)


class _Guarded(io.RawIOBase):
    """Decompressed output that raises LimitReached when its ratio gets absurd.

    Everything downstream (tarfile skipping over a member, reading a single
    compressed file) pulls through here, so a bomb stops after about one
    RATIO_FLOOR of output whatever it declares.
    """

    def __init__(self, inner: io.BufferedIOBase, counting: _Counting, limits: Limits) -> None:
        self.inner = inner
        self.counting = counting
        self.limits = limits
        self.out = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.inner.read(min(len(buffer), STEP))
        buffer[: len(data)] = data
        self.out += len(data)
        packed = max(self.counting.count, 1)
        if self.out > RATIO_FLOOR and self.out > self.limits.max_ratio * packed:
            raise LimitReached(ratio_reason(self.limits, self.out / packed))
        return len(data)


def _decompressor(codec: str, raw: _Counting) -> io.BufferedIOBase:
    # Closed with the source file by the caller's `with`; they hold no other resource.
    if codec == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if codec == "bzip2":
        return bz2.BZ2File(raw, mode="rb")
    return lzma.LZMAFile(cast(IO[bytes], raw), mode="rb")


_SUFFIXES = {
    "gzip": ((".tgz", ".tar"), (".gz", ""), (".gzip", ""), ("-gz", "")),
    "bzip2": ((".tbz2", ".tar"), (".tbz", ".tar"), (".bz2", ""), (".bz", "")),
    "xz": ((".txz", ".tar"), (".xz", ""), (".lzma", "")),
}
_STREAM_ERRORS = (OSError, EOFError, lzma.LZMAError, tarfile.TarError, ValueError, zlib.error)


def extract_gzip(source: Source, ctx: Context) -> Iterator[Item]:
    yield from _extract_stream(source, ctx, "gzip")


def extract_bzip2(source: Source, ctx: Context) -> Iterator[Item]:
    yield from _extract_stream(source, ctx, "bzip2")


def extract_xz(source: Source, ctx: Context) -> Iterator[Item]:
    yield from _extract_stream(source, ctx, "xz")


def inner_name(name: str, codec: str) -> str:
    low = name.lower()
    for suffix, replacement in _SUFFIXES[codec]:
        if low.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)] + replacement
    return f"{name}.out"


def _extract_stream(source: Source, ctx: Context, codec: str) -> Iterator[Item]:
    """A compressed single file, or a compressed tar read member by member."""
    if source.depth + 1 > ctx.limits.max_depth:
        yield Skip(depth_reason(ctx.limits))
        return
    with source.open() as raw:
        counting = _Counting(raw)
        stream = io.BufferedReader(
            _Guarded(_decompressor(codec, counting), counting, ctx.limits), buffer_size=STEP
        )
        try:
            head = stream.peek(512)
            if len(head) >= 262 and head[257:262] == b"ustar":
                yield from _tar_members(source, ctx, stream, "r|")
                return
            yield from _single(source, ctx, codec, stream)
        except LimitReached as exc:
            yield Skip(str(exc))
        except _STREAM_ERRORS as exc:
            yield Skip(f"{codec} stream could not be read: {exc}")


def _single(source: Source, ctx: Context, codec: str, stream: IO[bytes]) -> Iterator[Item]:
    limits = ctx.limits
    cap = min(limits.max_member_size, limits.max_expanded - ctx.budget.expanded)
    out = bytearray()
    while block := stream.read(STEP):
        out += block
        if len(out) > cap:
            reason = (
                size_reason(limits, len(out))
                if cap == limits.max_member_size
                else expanded_reason(limits)
            )
            yield Skip(reason)
            return
    yield source.child(inner_name(source.name, codec), bytes(out))


def extract_tar(source: Source, ctx: Context) -> Iterator[Item]:
    if source.depth + 1 > ctx.limits.max_depth:
        yield Skip(depth_reason(ctx.limits))
        return
    with source.open() as fh:
        try:
            yield from _tar_members(source, ctx, fh, "r:")
        except _STREAM_ERRORS as exc:
            yield Skip(f"tar archive could not be read: {exc}")


def _tar_members(source: Source, ctx: Context, fh: IO[bytes], mode: str) -> Iterator[Item]:
    """Members of a tar; `mode` is "r:" for a seekable file, "r|" for a stream."""
    limits = ctx.limits
    report = _Reporter(source)
    count = 0
    with tarfile.open(fileobj=fh, mode=mode) as tf:  # type: ignore[call-overload]
        for info in tf:
            if not info.isreg():
                continue
            count += 1
            if count > limits.max_members:
                yield Skip(members_reason(limits))
                break
            problem = declared_problem(info.size, None, ctx)
            if problem is not None:
                yield from report.skip(info.name, problem)
                if problem.startswith("expansion"):
                    break
                continue
            member = tf.extractfile(info)
            if member is None:
                continue
            data = _read_bounded(member, info.size)
            yield source.child(info.name, data)
            tf.members.clear()  # tarfile keeps every header read; iteration does not need them
    yield from report.summary()


def _read_bounded(member: IO[bytes], size: int) -> bytes:
    out = bytearray()
    while len(out) < size and (block := member.read(min(STEP, size - len(out)))):
        out += block
    return bytes(out)


# -- 7z (py7zr, LGPL: optional) ------------------------------------------------------------


def extract_7z(source: Source, ctx: Context) -> Iterator[Item]:
    if source.depth + 1 > ctx.limits.max_depth:
        yield Skip(depth_reason(ctx.limits))
        return
    try:
        import py7zr
        from py7zr.io import Py7zIO, WriterFactory
    except ImportError:
        yield Skip("7z archive not read: py7zr is not installed (pip install 'mfaleaks[gpl]')")
        return
    limits = ctx.limits

    class Capped(Py7zIO):
        """One member in memory; output past the cap is counted, not kept."""

        def __init__(self) -> None:
            self.buf = bytearray()
            self.seen = 0

        def write(self, s: bytes | bytearray) -> int:
            self.seen += len(s)
            if len(self.buf) + len(s) <= limits.max_member_size:
                self.buf += s
            return len(s)

        def read(self, size: int | None = None) -> bytes:
            return bytes(self.buf)

        def seek(self, offset: int, whence: int = 0) -> int:
            return 0

        def flush(self) -> None:
            return None

        def size(self) -> int:
            return len(self.buf)

    class Factory(WriterFactory):
        def __init__(self) -> None:
            self.products: dict[str, Capped] = {}

        def create(self, filename: str) -> Py7zIO:
            product = self.products[filename] = Capped()
            return product

    report = _Reporter(source)
    with source.open() as fh:
        packed = fh.seek(0, os.SEEK_END)
        fh.seek(0)
        try:
            archive = py7zr.SevenZipFile(fh, mode="r")
        except py7zr.exceptions.PasswordRequired:
            yield Skip("encrypted 7z archive: no password")
            return
        except (py7zr.exceptions.ArchiveError, OSError, EOFError, ValueError, KeyError) as exc:
            yield Skip(f"7z archive could not be opened: {exc}")
            return
        with archive:
            if archive.needs_password():
                yield Skip("encrypted 7z archive: no password")
                return
            infos = [i for i in archive.list() if i.is_file and not i.is_directory]
            declared = sum(i.uncompressed or 0 for i in infos)
            # Solid archives have no per-member packed size: judge the whole archive.
            if declared > RATIO_FLOOR and declared > limits.max_ratio * max(packed, 1):
                yield Skip(ratio_reason(limits, declared / max(packed, 1)))
                return
            batches: list[list[str]] = [[]]
            batch_size = total = 0
            for index, info in enumerate(infos):
                if index >= limits.max_members:
                    yield Skip(members_reason(limits, len(infos) - index))
                    break
                size = info.uncompressed or 0
                problem = declared_problem(size, None, ctx)
                if problem is None and ctx.budget.expanded + total + size > limits.max_expanded:
                    problem = expanded_reason(limits)
                if problem is not None:
                    yield from report.skip(info.filename, problem)
                    continue
                # Members are held until their batch is decompressed: cap what one holds.
                if batch_size + size > limits.max_member_size and batches[-1]:
                    batches.append([])
                    batch_size = 0
                batches[-1].append(info.filename)
                batch_size += size
                total += size
            archive.max_extract_size = declared  # py7zr's own guard against lying headers
            for batch in batches:
                if not batch:
                    continue
                factory = Factory()
                try:
                    archive.reset()
                    archive.extract(targets=batch, factory=factory)
                except (py7zr.exceptions.ArchiveError, OSError, EOFError, ValueError) as exc:
                    yield Skip(f"7z archive could not be read: {exc}")
                    return
                for name in batch:
                    product = factory.products.pop(name, None)
                    if product is None:
                        continue
                    if product.seen > len(product.buf):
                        yield from report.skip(name, size_reason(limits, product.seen))
                        continue
                    yield source.child(name, bytes(product.buf))
    yield from report.summary()
