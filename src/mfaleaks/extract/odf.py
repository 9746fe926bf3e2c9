"""OpenDocument files (odt/ods/odp and templates): content.xml and styles.xml.

Paragraphs are lines; `<text:s text:c="n"/>` is n spaces, `<text:tab/>` a tab,
`<text:line-break/>` a newline, and runs of white space in the XML collapse
to one space as the format says. A table row is a line with cells separated
by tabs; spreadsheet cells and presentation pages are anchored ("Sheet1!B3",
"slide 2"). Headers and footers live in styles.xml. Pictures/ go back to the
pipeline as child sources.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator

from mfaleaks.extract.archive import LimitReached
from mfaleaks.extract.base import Context, Item
from mfaleaks.extract.office import (
    PART_ERRORS,
    Builder,
    Package,
    embedded,
    guarded,
    local,
    sheet_ref,
)
from mfaleaks.models import Skip, Source, TextChunk

TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
DRAW = "{urn:oasis:names:tc:opendocument:xmlns:drawing:1.0}"
_WHITE = re.compile(r"[ \t\r\n]+")
# Comments' own paragraphs are read as lines of their own; what is left of them
# (author, date) and footnote numbers must not glue onto the paragraph's text.
_SKIP = frozenset({"tracked-changes", "annotation", "annotation-end", "note-citation",
                   "bookmark", "bookmark-start", "bookmark-end", "soft-page-break"})
_BLOCKS = frozenset({"p", "h"})


def extract_odf(source: Source, ctx: Context) -> Iterator[Item]:
    with source.open() as fh:
        try:
            zf = zipfile.ZipFile(fh)
        except (zipfile.BadZipFile, ValueError, EOFError, NotImplementedError) as exc:
            yield Skip(f"OpenDocument file could not be opened: {exc}")
            return
        with zf:
            pkg = Package(zf, source, ctx)
            if _encrypted(pkg):
                yield Skip("encrypted OpenDocument file: no password")
                return
            kind = _kind(pkg)
            out = Builder(kind)
            for part in ("styles.xml", "content.xml"):
                if pkg.has(part):
                    yield from guarded(part, _part(pkg, part, out, header=part == "styles.xml"))
            yield from out.flush()
            yield from embedded(pkg, ("Pictures/",), ())


def _encrypted(pkg: Package) -> bool:
    if not pkg.has("META-INF/manifest.xml"):
        return False
    try:
        return b"encryption-data" in pkg.read("META-INF/manifest.xml")
    except (LimitReached, OSError, *PART_ERRORS):  # unreadable: the parts will tell
        return False


def _kind(pkg: Package) -> str:
    try:
        mimetype = pkg.read("mimetype").decode("ascii", "replace") if pkg.has("mimetype") else ""
    except (LimitReached, OSError, *PART_ERRORS):  # the kind only names the chunk source
        mimetype = ""
    for suffix, kind in (("spreadsheet", "ods"), ("presentation", "odp"), ("text", "odt")):
        if suffix in mimetype:
            return kind
    return "odf"


def _part(pkg: Package, part: str, out: Builder, header: bool) -> Iterator[TextChunk]:
    """One XML part; in styles.xml only master-page headers and footers hold text."""
    sheet = ""
    row = col = 0
    slide = 0
    starts: list[int] = []  # text offsets where the open rows and cells began
    if header:
        out.anchor("header/footer")
    elif out.anchors:
        out.anchor("body")
    for event, el, stack in pkg.events(part):
        tag = local(el.tag)
        if event == "start":
            if tag == "table" and el.tag.startswith(TABLE):
                sheet = el.get(TABLE + "name", "")
                row = 0
                if out.kind == "ods":
                    out.anchor(sheet_ref(sheet))
            elif tag == "table-row":
                row += 1
                col = 0
                starts.append(out.size)
            elif tag in ("table-cell", "covered-table-cell"):
                col += 1
                starts.append(out.size)
            elif tag == "page" and el.tag.startswith(DRAW):
                slide += 1
                out.anchor(f"slide {slide}")
            elif tag == "notes" and slide:
                out.anchor(f"slide {slide} notes")
            continue
        if tag in _BLOCKS and el.tag.startswith(TEXT):
            if not header or any(local(a.tag).startswith(("header", "footer")) for a in stack):
                out.line(inline_text(el))
        elif tag in ("table-cell", "covered-table-cell"):
            # Empty cells (no paragraph) add nothing: the separator to swap is another cell's.
            start = starts.pop() if starts else out.size
            if out.size > start:
                if out.kind == "ods":
                    out.anchor(f"{sheet_ref(sheet)}!{column_name(col)}{row}", at=start)
                out.swap_end("\n", "\t")
            col += _int(el.get(TABLE + "number-columns-repeated")) - 1
        elif tag == "table-row":
            if out.size > (starts.pop() if starts else out.size):
                out.swap_end("\t", "\n")
            row += _int(el.get(TABLE + "number-rows-repeated")) - 1
        else:
            continue
        if stack:
            stack[-1].remove(el)
        yield from out.full()


def _int(value: str | None) -> int:
    try:
        return max(1, int(value or 1))
    except ValueError:
        return 1


def column_name(index: int) -> str:
    name = ""
    while index > 0:
        index, rem = divmod(index - 1, 26)
        name = chr(65 + rem) + name
    return name


def inline_text(el: ET.Element) -> str:
    out: list[str] = []
    _inline(el, out)
    return "".join(out).strip(" ")


def _inline(el: ET.Element, out: list[str]) -> None:
    if el.text:
        out.append(_WHITE.sub(" ", el.text))
    for child in el:
        tag = local(child.tag)
        if tag == "s":
            out.append(" " * _int(child.get(TEXT + "c")))
        elif tag == "tab":
            out.append("\t")
        elif tag == "line-break":
            out.append("\n")
        elif tag not in _SKIP:
            _inline(child, out)
        if child.tail:
            out.append(_WHITE.sub(" ", child.tail))
