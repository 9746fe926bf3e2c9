"""HTML to text that keeps line structure (for mail bodies and .html files).

Scripts, styles and comments go; block ends and <br> become newlines, table
cells become tabs, entities are unescaped (NBSP becomes a space).
"""

from __future__ import annotations

import html
import re

_DROP = re.compile(r"<(script|style|head|title)\b.*?</\1\s*>|<!--.*?-->", re.S | re.I)
_BREAK = re.compile(
    r"<br\s*/?>|</(p|div|li|tr|h[1-6]|pre|blockquote|table|ul|ol|section|article)\s*>"
    r"|<(p|div|li|tr|table|h[1-6])\b[^>]*>",
    re.I,
)
_CELL = re.compile(r"</t[dh]\s*>", re.I)
_TAG = re.compile(r"<[^>]*>", re.S)
_SPACES = re.compile(r"[ \u00a0]+")
_CELLS = re.compile(r" ?\t[ \t]*")
_BLANKS = re.compile(r"\n\s*\n\s*\n+")


def html_to_text(markup: str) -> str:
    text = _DROP.sub(" ", markup)
    text = _CELL.sub("\t", text)
    text = _BREAK.sub("\n", text)
    text = _TAG.sub("", text)
    text = html.unescape(text).replace("\u00a0", " ")
    # Cells stay tab-separated so a column of codes in a table reads as a cluster.
    lines = (_CELLS.sub("\t", _SPACES.sub(" ", line)).strip() for line in text.splitlines())
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip() + "\n"
