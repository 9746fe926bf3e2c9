"""The explicit list of extractors: one per content kind.

Kinds with no entry are counted but not read (binary files), which the
pipeline records only when the user asks for verbose output.
"""

from __future__ import annotations

from mfaleaks.classify import Kind
from mfaleaks.extract.archive import (
    extract_7z,
    extract_bzip2,
    extract_gzip,
    extract_tar,
    extract_xz,
    extract_zip,
)
from mfaleaks.extract.base import Extractor
from mfaleaks.extract.html import extract_html
from mfaleaks.extract.image import extract_image
from mfaleaks.extract.mail import extract_eml, extract_mbox
from mfaleaks.extract.msg import extract_msg
from mfaleaks.extract.odf import extract_odf
from mfaleaks.extract.office import extract_ole, extract_ooxml
from mfaleaks.extract.pdf import extract_pdf
from mfaleaks.extract.pst import extract_pst
from mfaleaks.extract.rtf import extract_rtf
from mfaleaks.extract.text import extract_text

EXTRACTORS: dict[Kind, Extractor] = {
    Kind.TEXT: extract_text,
    Kind.HTML: extract_html,
    Kind.MBOX: extract_mbox,
    Kind.EML: extract_eml,
    Kind.MSG: extract_msg,
    Kind.PST: extract_pst,
    Kind.PDF: extract_pdf,
    Kind.OOXML: extract_ooxml,
    Kind.OLE: extract_ole,
    Kind.ODF: extract_odf,
    Kind.RTF: extract_rtf,
    Kind.ZIP: extract_zip,
    Kind.TAR: extract_tar,
    Kind.GZIP: extract_gzip,
    Kind.BZIP2: extract_bzip2,
    Kind.XZ: extract_xz,
    Kind.SEVENZ: extract_7z,
    Kind.IMAGE: extract_image,
}
