"""SQLite databases that note and chat apps keep: the text of their text columns.

Windows Sticky Notes keeps every note as plain text in plum.sqlite (table Note,
column Text); other apps (Joplin, Signal Desktop's unencrypted caches, browser
form history) do the same. The database is opened from memory (deserialize), so
the file on disk is never opened by SQLite, never locked and never written. Each
row's text values make one record, rows apart by a blank line; a chunk per table.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from mfaleaks.extract.base import Context, Item, read_capped
from mfaleaks.models import Skip, Source, TextChunk

MAX_SQLITE = 256 * 1024 * 1024
MAX_TEXT = 64 * 1024 * 1024  # characters read from one database, all tables
MAX_ROWS = 1_000_000  # per table


def extract_sqlite(source: Source, ctx: Context) -> Iterator[Item]:
    raw, cut = read_capped(source, MAX_SQLITE, "SQLite database")
    if cut is not None:
        yield Skip("SQLite database larger than "
                   f"{MAX_SQLITE // 2**20} MiB: not read (it cannot be read in part)")
        return
    con = sqlite3.connect(":memory:")
    try:
        con.deserialize(raw)
        tables = [row[0] for row in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    except sqlite3.Error as exc:
        con.close()
        yield Skip(f"unreadable SQLite database: {exc}")
        return
    budget = MAX_TEXT
    try:
        for table in tables:
            if budget <= 0:
                yield Skip(f"SQLite text beyond {MAX_TEXT // 2**20} M characters not read")
                break
            text, used, problem = _table_text(con, table, budget)
            budget -= used
            if problem:
                yield Skip(problem)
            if text.strip():
                yield TextChunk(text=text, source="sqlite", line=None,
                                anchors=((0, f"table {table}"),), whole=False)
    finally:
        con.close()


def _table_text(con: sqlite3.Connection, table: str, budget: int) -> tuple[str, int, str]:
    quoted = '"' + table.replace('"', '""') + '"'
    parts: list[str] = []
    used = 0
    try:
        rows = con.execute(f"SELECT * FROM {quoted} LIMIT {MAX_ROWS}")  # the name is quoted
        for row in rows:
            record = "\n".join(v for v in row if isinstance(v, str) and v.strip())
            if not record:
                continue
            parts.append(record)
            used += len(record) + 2
            if used >= budget:
                break
    except sqlite3.Error as exc:
        return "\n\n".join(parts), used, f"table {table}: {exc}"
    return "\n\n".join(parts), used, ""
