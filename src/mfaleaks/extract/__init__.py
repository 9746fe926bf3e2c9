"""The explicit list of extractors: one per content kind.

Kinds with no entry are counted but not read (binary files). Each extractor
module is imported the first time a file of its kind turns up: the CLI, the
pre-commit hook and a cached rescan start without loading PDF, image and
Office libraries they may never need (~0.14 s of start-up).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from mfaleaks.classify import Kind
from mfaleaks.extract.base import Extractor


def extractor_for(kind: Kind) -> Extractor | None:
    if kind is Kind.TEXT:
        from mfaleaks.extract.text import extract_text
        return extract_text
    if kind is Kind.HTML:
        from mfaleaks.extract.html import extract_html
        return extract_html
    if kind in (Kind.MBOX, Kind.EML):
        from mfaleaks.extract.mail import extract_eml, extract_mbox
        return extract_mbox if kind is Kind.MBOX else extract_eml
    if kind is Kind.MSG:
        from mfaleaks.extract.msg import extract_msg
        return extract_msg
    if kind is Kind.PST:
        from mfaleaks.extract.pst import extract_pst
        return extract_pst
    if kind is Kind.PDF:
        from mfaleaks.extract.pdf import extract_pdf
        return extract_pdf
    if kind in (Kind.OOXML, Kind.OLE):
        from mfaleaks.extract.office import extract_ole, extract_ooxml
        return extract_ooxml if kind is Kind.OOXML else extract_ole
    if kind is Kind.ODF:
        from mfaleaks.extract.odf import extract_odf
        return extract_odf
    if kind is Kind.RTF:
        from mfaleaks.extract.rtf import extract_rtf
        return extract_rtf
    if kind is Kind.IMAGE:
        from mfaleaks.extract.image import extract_image
        return extract_image
    return _archive(kind)


def _archive(kind: Kind) -> Extractor | None:
    from mfaleaks.extract import archive

    return {
        Kind.ZIP: archive.extract_zip,
        Kind.TAR: archive.extract_tar,
        Kind.GZIP: archive.extract_gzip,
        Kind.BZIP2: archive.extract_bzip2,
        Kind.XZ: archive.extract_xz,
        Kind.SEVENZ: archive.extract_7z,
    }.get(kind)


SUPPORTED = frozenset(k for k in Kind if k not in (Kind.EMPTY, Kind.BINARY))


class _Registry(Mapping[Kind, Extractor]):
    """EXTRACTORS[kind] / .get(kind), importing on first use."""

    def __getitem__(self, kind: Kind) -> Extractor:
        found = extractor_for(kind) if kind in SUPPORTED else None
        if found is None:
            raise KeyError(kind)
        return found

    def __iter__(self) -> Iterator[Kind]:
        return iter(sorted(SUPPORTED))

    def __len__(self) -> int:
        return len(SUPPORTED)


EXTRACTORS: Mapping[Kind, Extractor] = _Registry()
