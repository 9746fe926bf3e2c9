"""The limits of one scan: small and import-free, so the command line reads its defaults
without loading the extractors."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Per-scan limits against bombs and traps; each has a CLI option."""

    max_file_size: int = 2 * 1024**3 * 50  # files on disk larger than this are skipped
    max_depth: int = 8  # nesting of containers (zip in mail in pst ...)
    max_expanded: int = 2 * 1024**3  # bytes produced from one file on disk, all levels
    max_members: int = 100_000  # members of one archive / parts of one mailbox message
    max_ratio: float = 200.0  # compressed-to-expanded ratio of one archive member
    max_member_size: int = 512 * 1024**2  # one child held in memory
    ocr: bool = True
    ocr_timeout: float = 30.0  # seconds per image
    # Seconds per file on disk, plus one second per MB so big mailboxes finish.
    parse_timeout: float = 600.0
    max_pixels: int = 80_000_000  # images larger than this are decompression bombs
    max_pages: int = 2_000  # PDF pages read per document
    ocr_cache: str | None = None  # --cache FILE: ocrcache.py remembers empty images there
