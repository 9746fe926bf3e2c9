"""Fields and records: what a value is labelled as, and which words belong to it.

Exports hold their secrets in named fields: a `totp` column (LastPass, Bitwarden
CSV), `"secret": "..."` (Aegis, 2FAS, andOTP JSON), `<Key>otp</Key>` (KeePass XML),
`TOTP_SECRET=` (.env), `oathtool --totp -b SEED` (shell history). Such a label says
what the value is whatever the wording around it. In a table, the words of one row
say nothing about the value in another row: a record's own line is its context.
"""

from __future__ import annotations

import csv
import re

# A key naming a TOTP secret, written right before the value: `totp: `, `"secret": "`,
# `TOTP_SECRET=`, `<Key>otp</Key><Value>`, `otp_secret = '`.
_KEY = r"(?:totp|otp|hotp|mfa|2fa|two[_-]?factor)?[_.\- ]?(?:secret|seed|key)|totp|otp|login_totp"
_LABEL = re.compile(
    rf"(?i)(?:^|[^a-z0-9])(?P<key>{_KEY})(?:[\"']?\s*[:=]\s*[\"']?"
    r"|</key>\s*<value>|\s+-b\s+)\s*$"
)
_OATHTOOL = re.compile(r"(?i)\boathtool\b[^\n]*?\s-(?:b|-base32)\s+(?:-\S+\s+)*$")
_TABLE_NAME = re.compile(r"(?i)\.(?:csv|tsv|tab)$")
_TOTP_COLUMN = re.compile(r"(?i)^(?:login_)?(?:totp|otp|2fa|mfa|one[- ]time[- ]password"
                          r"|(?:totp|otp|mfa|2fa)[ _-]?(?:secret|seed|key)|secret)$")


def label_before(text: str, start: int) -> str | None:
    """The key naming the value that starts at `start`, if it names a TOTP secret."""
    line_start = text.rfind("\n", 0, start) + 1
    before = text[max(line_start, start - 120) : start]
    if _OATHTOOL.search(before):
        return "oathtool -b"
    m = _LABEL.search(before)
    if m is None:
        return None
    key = m.group("key").lower()
    if key in ("key", "secret") and not _secretish_line(text, line_start, start):
        return None  # a bare "key=" or "secret:" is any key: only with TOTP wording
    return key


def _secretish_line(text: str, line_start: int, start: int) -> bool:
    """TOTP wording on the value's line or in the record before it (a JSON entry)."""
    end = text.find("\n", start)
    near = text[max(0, min(line_start, start - 400)) : end if end != -1 else len(text)].lower()
    return any(w in near for w in ("totp", "otp", "authenticator", "2fa", "mfa"))


def is_table(name: str) -> bool:
    return bool(_TABLE_NAME.search(name))


def _header(text: str, head: str | None) -> tuple[list[str], str] | None:
    """A table's header cells and its delimiter: head (TextChunk.header, when text is a
    later part of the file), else text's first line."""
    if head is None:
        head_end = text.find("\n", 0, 65536)
        head = text[: head_end if head_end != -1 else 65536].rstrip("\r")
    delimiter = "\t" if "\t" in head else ","
    try:
        return next(csv.reader([head], delimiter=delimiter)), delimiter
    except (csv.Error, StopIteration):
        return None


def has_totp_column(text: str, head: str | None = None) -> bool:
    """Does the table's header name a column for TOTP secrets?"""
    found = _header(text, head)
    return found is not None and any(_TOTP_COLUMN.match(cell.strip()) for cell in found[0])


def column_label(text: str, start: int, name: str, head: str | None = None) -> str | None:
    """In a CSV/TSV, the header of the column a value sits in, if it names a TOTP secret.
    head: the file's header line when text is a later part of the file (TextChunk.header);
    else text's first line is the header."""
    if not is_table(name):
        return None
    line_start = text.rfind("\n", 0, start) + 1
    if head is None and line_start == 0:
        return None  # the header itself
    found = _header(text, head)
    if found is None:
        return None
    header, delimiter = found
    try:
        cells = next(csv.reader([text[line_start:start] + "\x00"], delimiter=delimiter))
    except (csv.Error, StopIteration):
        return None
    column = len(cells) - 1
    if column < len(header) and _TOTP_COLUMN.match(header[column].strip()):
        return header[column].strip()
    return None


def record_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """The lines holding [start, end): a table's record."""
    lo = text.rfind("\n", 0, start) + 1
    hi = text.find("\n", end)
    return lo, hi if hi != -1 else len(text)
