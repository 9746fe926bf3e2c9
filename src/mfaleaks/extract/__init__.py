"""The explicit list of extractors: one per content kind.

Kinds with no entry are counted but not read (binary files). Each extractor
module is imported the first time a file of its kind turns up: the CLI, the
pre-commit hook and a cached rescan start without loading PDF, image and
Office libraries they may never need (~0.14 s of start-up).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterator, Mapping
from typing import cast

from mfaleaks.extract.base import Extractor
from mfaleaks.sources.classify import Kind

# kind -> (module under mfaleaks.extract, function): imported when first asked for.
_WHERE: dict[Kind, tuple[str, str]] = {
    Kind.TEXT: ("text", "extract_text"),
    Kind.HTML: ("html", "extract_html"),
    Kind.MBOX: ("mail", "extract_mbox"),
    Kind.EML: ("mail", "extract_eml"),
    Kind.MSG: ("msg", "extract_msg"),
    Kind.PST: ("pst", "extract_pst"),
    Kind.PDF: ("pdf", "extract_pdf"),
    Kind.OOXML: ("office", "extract_ooxml"),
    Kind.OLE: ("office", "extract_ole"),
    Kind.ODF: ("odf", "extract_odf"),
    Kind.RTF: ("rtf", "extract_rtf"),
    Kind.IMAGE: ("image", "extract_image"),
    Kind.ZIP: ("archive", "extract_zip"),
    Kind.TAR: ("archive", "extract_tar"),
    Kind.GZIP: ("archive", "extract_gzip"),
    Kind.BZIP2: ("archive", "extract_bzip2"),
    Kind.XZ: ("archive", "extract_xz"),
    Kind.SEVENZ: ("archive", "extract_7z"),
    Kind.SQLITE: ("sqlite", "extract_sqlite"),
}


@functools.cache
def extractor_for(kind: Kind) -> Extractor | None:
    where = _WHERE.get(kind)
    if where is None:
        return None
    module = importlib.import_module(f"mfaleaks.extract.{where[0]}")
    return cast(Extractor, getattr(module, where[1]))


SUPPORTED = frozenset(_WHERE)  # every kind but EMPTY and BINARY


class _Registry(Mapping[Kind, Extractor]):
    """EXTRACTORS[kind] / .get(kind), importing on first use."""

    def __getitem__(self, kind: Kind) -> Extractor:
        found = extractor_for(kind)
        if found is None:
            raise KeyError(kind)
        return found

    def __iter__(self) -> Iterator[Kind]:
        return iter(sorted(SUPPORTED))

    def __len__(self) -> int:
        return len(SUPPORTED)


EXTRACTORS: Mapping[Kind, Extractor] = _Registry()
