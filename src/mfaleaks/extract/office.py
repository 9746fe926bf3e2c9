"""Word, Excel and PowerPoint files (docx/xlsx/pptx and their macro/template kin).

Read straight from the zip with a streaming XML parser: faster than the
format libraries and, unlike them, it sees headers, footers, footnotes,
comments and speaker notes. Layout is kept where codes live: a paragraph is a
line, a table row is a line with cells separated by tabs, a spreadsheet row
is a line with its cells' references as anchors ("Sheet1!B3"), so a column
of codes reads as a cluster of lines. Embedded images and objects go back to
the pipeline as child sources (images reach OCR).
"""

from __future__ import annotations

import posixpath
import re
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import cast

from mfaleaks.extract.archive import (
    LimitReached,
    declared_problem,
    depth_reason,
    stream_zip_member,
)
from mfaleaks.extract.base import Context, Item
from mfaleaks.models import Skip, Source, TextChunk

BLOCK = 4 * 1024 * 1024  # characters of text per chunk before a chunk is cut at a line end
SMALL_PART = 16 * 1024 * 1024  # rels, workbook and shared strings are read whole
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".gif", ".bmp", ".tif", ".tiff",
              ".webp", ".heic", ".heif")
_DEFAULT_SHEET = re.compile(r"^(?:[^\W\d_]+ ?\d+|Sheet)$")  # "Sheet1", "Tabelle2", "Feuil3"
_RUN_SKIP = frozenset({"pPr", "rPr", "endParaRPr", "instrText", "Fallback", "tcPr", "trPr"})

Events = Iterator[tuple[str, ET.Element, list[ET.Element]]]


def local(tag: str) -> str:
    """Tag without namespace: transitional and strict OOXML use different namespaces."""
    return tag.rpartition("}")[2]


class Package:
    """Parts of an office zip, decompressed under the archive limits."""

    def __init__(self, zf: zipfile.ZipFile, source: Source, ctx: Context) -> None:
        self.zf = zf
        self.source = source
        self.ctx = ctx
        # endswith, not ZipInfo.is_dir(): that raises IndexError on an empty member name.
        self.infos = {i.filename: i for i in zf.infolist() if not i.filename.endswith("/")}

    def has(self, name: str) -> bool:
        return name in self.infos

    def blocks(self, name: str, cap: int | None = None) -> Iterator[bytes]:
        info = self.infos[name]
        if info.flag_bits & 0x1:
            raise LimitReached(f"part {name} is encrypted")
        problem = declared_problem(info.file_size, info.compress_size, self.ctx)
        if problem is not None:
            raise LimitReached(f"part {name}: {problem}")
        for block in stream_zip_member(self.zf, info, self.ctx, cap):
            self.ctx.budget.expanded += len(block)
            yield block

    def read(self, name: str) -> bytes:
        return b"".join(self.blocks(name, SMALL_PART))

    def tree(self, name: str, cap: int = SMALL_PART) -> ET.Element:
        """A small part (rels, workbook, presentation) parsed whole."""
        data = b"".join(self.blocks(name, cap))
        _refuse_dtd(name, data)
        return ET.fromstring(data)

    def events(self, name: str) -> Events:
        """start/end events with the stack of open elements (ancestors at "end").

        Parts never need a DTD; refusing one rules out entity expansion tricks.
        """
        parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("start", "end"))
        stack: list[ET.Element] = []
        first = True
        for block in self.blocks(name):
            if first:
                _refuse_dtd(name, block)
            first = False
            parser.feed(block)
            yield from _drain(parser, stack)
        parser.close()
        yield from _drain(parser, stack)

    def rels(self, part: str) -> dict[str, tuple[str, str]]:
        """Relationship id -> (type, target part path) for a part."""
        folder, base = posixpath.split(part)
        rels_name = posixpath.join(folder, "_rels", base + ".rels")
        if rels_name not in self.infos:
            return {}
        out: dict[str, tuple[str, str]] = {}
        for el in self.tree(rels_name).iter():
            if local(el.tag) != "Relationship" or el.get("TargetMode") == "External":
                continue
            target = el.get("Target", "")
            path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(
                posixpath.join(folder, target)
            )
            out[el.get("Id", "")] = (el.get("Type", ""), path)
        return out

    def main_part(self, default: str) -> str:
        for kind, target in self.rels("").values():
            if kind.endswith("/officeDocument") and target in self.infos:
                return target
        return default


def _refuse_dtd(name: str, head: bytes) -> None:
    if b"<!DOCTYPE" in head[:4096] or b"<!ENTITY" in head[:4096]:
        raise ValueError(f"part {name} declares a DTD")


def _drain(parser: ET.XMLPullParser[ET.Element], stack: list[ET.Element]) -> Events:
    for event, el in cast(Iterator[tuple[str, ET.Element]], parser.read_events()):
        if event == "start":
            stack.append(el)
        else:
            stack.pop()
        yield event, el, stack


class Builder:
    """Text of one document with anchors; cut into chunks of about BLOCK characters."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.parts: list[str] = []
        self.size = 0
        self.anchors: list[tuple[int, str]] = []
        self.cut = False
        self.label: str | None = None

    def anchor(self, label: str, at: int | None = None) -> None:
        at = self.size if at is None else at
        if self.anchors and self.anchors[-1][0] == at:
            self.anchors[-1] = (at, label)
        elif not self.anchors or self.anchors[-1][1] != label:
            self.anchors.append((at, label))
        self.label = label

    def text(self, text: str) -> None:
        if text:
            self.parts.append(text)
            self.size += len(text)

    def line(self, text: str) -> None:
        self.text(text + "\n")

    def swap_end(self, old: str, new: str) -> None:
        """Turn the separator just written into another (paragraph end -> cell end)."""
        if self.parts and self.parts[-1].endswith(old):
            self.parts[-1] = self.parts[-1][: -len(old)] + new

    def full(self) -> Iterator[TextChunk]:
        """Yield a chunk when the text has grown past BLOCK (call at line ends)."""
        if self.size >= BLOCK:
            self.cut = True
            yield from self.flush()
            if self.label is not None:
                self.anchor(self.label)

    def flush(self) -> Iterator[TextChunk]:
        text = "".join(self.parts)
        if text.strip():
            yield TextChunk(text=text, source=self.kind, line=None,
                            anchors=tuple(self.anchors), whole=not self.cut)
        self.parts, self.size, self.anchors = [], 0, []


PART_ERRORS = (ET.ParseError, ValueError, KeyError, zipfile.BadZipFile, zlib.error, EOFError,
               NotImplementedError)


def guarded(part: str, items: Iterator[Item]) -> Iterator[Item]:
    """One unreadable part (a broken comments.xml) costs that part, not the document."""
    try:
        yield from items
    except LimitReached as exc:
        yield Skip(str(exc))
    except PART_ERRORS as exc:
        yield Skip(f"part {part} could not be parsed: {type(exc).__name__}: {exc}")


def extract_ooxml(source: Source, ctx: Context) -> Iterator[Item]:
    with source.open() as fh:
        try:
            zf = zipfile.ZipFile(fh)
        except (zipfile.BadZipFile, ValueError, EOFError, NotImplementedError) as exc:
            yield Skip(f"office document could not be opened: {exc}")
            return
        with zf:
            pkg = Package(zf, source, ctx)
            meta: dict[str, dict[str, str]] = {}
            prefixes = {n.partition("/")[0] for n in pkg.infos}
            if "word" in prefixes:
                yield from guarded("document", _docx(pkg))
            elif "xl" in prefixes:
                yield from guarded("workbook", _xlsx(pkg))
            elif "ppt" in prefixes:
                yield from guarded("presentation", _pptx(pkg, meta))
            yield from embedded(pkg, ("word/media/", "xl/media/", "ppt/media/"),
                                ("word/embeddings/", "xl/embeddings/", "ppt/embeddings/"), meta)


_OLE_NAMES = ("EncryptedPackage".encode("utf-16-le"), "EncryptionInfo".encode("utf-16-le"))


def extract_ole(source: Source, ctx: Context) -> Iterator[Item]:
    """OLE containers: a password-protected docx/xlsx/pptx is one (its streams are
    named EncryptedPackage and EncryptionInfo). Legacy .doc/.xls/.ppt are not read."""
    seen = [False, False]
    tail = b""
    with source.open() as fh:
        while block := fh.read(1 << 20):
            window = tail + block
            for index, name in enumerate(_OLE_NAMES):
                seen[index] = seen[index] or name in window
            if all(seen):
                yield Skip("encrypted Office document: no password")
                return
            tail = block[-64:]


def embedded(pkg: Package, media: tuple[str, ...], objects: tuple[str, ...],
             meta: dict[str, dict[str, str]] | None = None) -> Iterator[Item]:
    """Images (for OCR) and embedded files (a workbook in a document) as children."""
    for name in pkg.infos:
        is_image = name.startswith(media) and name.lower().endswith(IMAGE_EXTS)
        if not (is_image or name.startswith(objects)):
            continue
        if pkg.source.depth + 1 > pkg.ctx.limits.max_depth:
            yield Skip(depth_reason(pkg.ctx.limits).replace("members", "embedded files"))
            return
        try:
            data = b"".join(pkg.blocks(name))
        except LimitReached as exc:
            yield Skip(str(exc), pkg.source.origin.child(name))
            continue
        except (zipfile.BadZipFile, NotImplementedError, OSError, EOFError) as exc:
            yield Skip(f"embedded part could not be read: {exc}", pkg.source.origin.child(name))
            continue
        pkg.ctx.budget.expanded -= len(data)  # the pipeline charges children itself
        yield pkg.source.child(name, data, **(meta or {}).get(name, {}))


# -- Word ---------------------------------------------------------------------------------


def _docx(pkg: Package) -> Iterator[Item]:
    out = Builder("docx")
    main = pkg.main_part("word/document.xml")
    parts = sorted(n for n in pkg.infos if re.fullmatch(r"word/header\d*\.xml", n))
    parts.append(main)
    parts += sorted(n for n in pkg.infos if re.fullmatch(r"word/footer\d*\.xml", n))
    parts += [n for n in ("word/footnotes.xml", "word/endnotes.xml", "word/comments.xml")
              if n in pkg.infos]
    for part in parts:
        label = "body" if part == main else re.sub(r"\d*\.xml$", "", part.rpartition("/")[2])
        out.anchor(label)
        yield from guarded(part, _word_part(pkg, part, out))
        out.text("\n")
    yield from out.flush()


def _word_part(pkg: Package, part: str, out: Builder) -> Iterator[TextChunk]:
    for event, el, stack in pkg.events(part):
        if event != "end":
            continue
        tag = local(el.tag)
        if tag == "p":
            if not any(local(a.tag) == "Fallback" for a in stack):
                out.line(runs_text(el))
        elif tag == "tc":
            out.swap_end("\n", "\t")
        elif tag == "tr":
            out.swap_end("\t", "\n")
        else:
            continue
        if stack:
            stack[-1].remove(el)  # done with it: keeps memory flat on big documents
        yield from out.full()


def runs_text(el: ET.Element) -> str:
    """Text of a Word or DrawingML paragraph: runs, tabs and breaks."""
    out: list[str] = []
    _runs(el, out)
    return "".join(out)


def _runs(el: ET.Element, out: list[str]) -> None:
    for child in el:
        tag = local(child.tag)
        if tag in _RUN_SKIP:
            continue
        if tag in ("t", "delText"):
            out.append(child.text or "")
        elif tag == "tab":
            out.append("\t")
        elif tag in ("br", "cr"):
            out.append("\n")
        elif tag == "noBreakHyphen":
            out.append("-")
        else:
            _runs(child, out)


# -- Excel --------------------------------------------------------------------------------


def _xlsx(pkg: Package) -> Iterator[Item]:
    book = pkg.main_part("xl/workbook.xml")
    if book.endswith(".bin"):
        yield Skip("binary Excel workbook (.xlsb): cells not read")
        return
    rels = pkg.rels(book)
    shared = _shared_strings(pkg, rels)
    out = Builder("xlsx")
    root = pkg.tree(book)
    for sheet in root.iter():
        if local(sheet.tag) != "sheet":
            continue
        rid = next((v for k, v in sheet.attrib.items() if local(k) == "id"), "")
        kind, part = rels.get(rid, ("", ""))
        if not kind.endswith("/worksheet") or part not in pkg.infos:
            continue
        name = sheet.get("name", "")
        ref = sheet_ref(name)
        if not _DEFAULT_SHEET.match(name):
            out.anchor(ref)
            out.line(name)
        yield from guarded(part, _sheet(pkg, part, ref, shared, out))
        yield from guarded(part, _sheet_comments(pkg, part, ref, out))
        out.text("\n")
    yield from out.flush()


def sheet_ref(name: str) -> str:
    if re.fullmatch(r"[A-Za-z_][\w.]*", name):
        return name
    return "'" + name.replace("'", "''") + "'"


def _shared_strings(pkg: Package, rels: dict[str, tuple[str, str]]) -> list[str]:
    part = next((p for k, p in rels.values() if k.endswith("/sharedStrings")), "")
    if part not in pkg.infos:
        return []
    strings: list[str] = []
    for event, el, stack in pkg.events(part):
        if event == "end" and local(el.tag) == "si":
            strings.append(cell_string(el))
            if stack:
                stack[-1].remove(el)
    return strings


def cell_string(el: ET.Element) -> str:
    """Text of a shared/inline string or comment: t and r/t, without phonetic runs."""
    texts: list[str] = []
    for child in el:
        tag = local(child.tag)
        if tag == "t":
            texts.append(child.text or "")
        elif tag == "r":
            texts.extend(t.text or "" for t in child if local(t.tag) == "t")
        elif tag == "text":  # comment body
            texts.append(cell_string(child))
    return "".join(texts)


def _sheet(pkg: Package, part: str, ref: str, shared: list[str],
           out: Builder) -> Iterator[TextChunk]:
    last_row = 0
    cells: list[tuple[str, str]] = []
    for event, el, stack in pkg.events(part):
        if event != "end":
            continue
        tag = local(el.tag)
        if tag == "c":
            value = cell_value(el, shared)
            if value:
                cells.append((el.get("r", ""), value))
        elif tag == "row":
            row = int(el.get("r") or last_row + 1)
            if cells:
                if last_row and row - last_row > 1:
                    out.text("\n")  # a gap of empty rows separates clusters
                for index, (cell, value) in enumerate(cells):
                    out.anchor(f"{ref}!{cell}" if cell else ref)
                    out.text(value if index == 0 else "\t" + value)
                out.text("\n")
                cells.clear()
            last_row = row
            yield from out.full()
        else:
            continue
        if stack:
            stack[-1].remove(el)


def cell_value(c: ET.Element, shared: list[str]) -> str:
    kind = c.get("t", "n")
    if kind == "inlineStr":
        inline = next((x for x in c if local(x.tag) == "is"), None)
        return cell_string(inline) if inline is not None else ""
    v = next((x.text or "" for x in c if local(x.tag) == "v"), "")
    if kind == "s":
        try:
            return shared[int(v)]
        except (ValueError, IndexError):
            return ""
    if kind == "b":
        return "TRUE" if v == "1" else "FALSE"
    if kind == "n" and v:
        return number_text(v)
    return v


def number_text(v: str) -> str:
    """Integral numbers as digits (48217730, not 4.821773E7 or 48217730.0)."""
    try:
        num = Decimal(v)
    except InvalidOperation:
        return v
    if num.is_finite() and num == num.to_integral_value() and abs(num) < 10**16:
        return str(int(num))
    return v


def _sheet_comments(pkg: Package, part: str, ref: str, out: Builder) -> Iterator[TextChunk]:
    for kind, target in pkg.rels(part).values():
        if not kind.endswith("/comments") or target not in pkg.infos:
            continue
        for event, el, stack in pkg.events(target):
            if event == "end" and local(el.tag) == "comment":
                out.anchor(f"{ref}!{el.get('ref', '')} comment")
                out.line(cell_string(el))
                if stack:
                    stack[-1].remove(el)
                yield from out.full()


# -- PowerPoint ---------------------------------------------------------------------------


def _pptx(pkg: Package, media: dict[str, dict[str, str]]) -> Iterator[Item]:
    deck = pkg.main_part("ppt/presentation.xml")
    rels = pkg.rels(deck)
    out = Builder("pptx")
    order = [el.get(next((k for k in el.attrib if local(k) == "id" and "}" in k), ""), "")
             for el in pkg.tree(deck).iter() if local(el.tag) == "sldId"]
    slides = [rels[rid][1] for rid in order if rid in rels and rels[rid][1] in pkg.infos]
    for number, slide in enumerate(slides, 1):
        out.anchor(f"slide {number}")
        yield from guarded(slide, _drawing_part(pkg, slide, out))
        for kind, target in pkg.rels(slide).values():
            if target not in pkg.infos:
                continue
            if kind.endswith("/notesSlide"):
                out.anchor(f"slide {number} notes")
                yield from guarded(target, _drawing_part(pkg, target, out))
            elif kind.endswith("/comments"):
                out.anchor(f"slide {number} comments")
                yield from guarded(target, _drawing_part(pkg, target, out))
            elif kind.endswith("/image"):
                media.setdefault(target, {"slide": str(number)})
        out.text("\n")
    yield from out.flush()


def _drawing_part(pkg: Package, part: str, out: Builder) -> Iterator[TextChunk]:
    """Slides, notes and comments: DrawingML paragraphs and table rows."""
    for event, el, stack in pkg.events(part):
        if event != "end":
            continue
        tag = local(el.tag)
        if tag == "p" and not any(local(a.tag) == "Fallback" for a in stack):
            out.line(runs_text(el))
        elif tag == "text":  # a legacy comment
            out.line(el.text or "")
        elif tag == "tc":
            out.swap_end("\n", "\t")
        elif tag == "tr":
            out.swap_end("\t", "\n")
        else:
            continue
        if stack:
            stack[-1].remove(el)
        yield from out.full()
