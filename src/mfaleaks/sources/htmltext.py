"""HTML to text that keeps line structure (for mail bodies and .html files).

Scripts, styles and comments go; block ends and <br> become newlines, table
cells become tabs, entities are unescaped (NBSP becomes a space).
"""

from __future__ import annotations

import html
import re

# Where a dropped block starts; its end is found with str.find or _CLOSERS (see _drop).
_DROP_START = re.compile(r"<(script|style|head|title)\b|<!--", re.I)
_CLOSERS = {name: re.compile(rf"</{name}\s*>", re.I) for name in ("script", "style", "head",
                                                                   "title")}
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
    text = _drop(markup)
    # Every tag pattern ends in ">": past the last one there is no tag, only text. Left
    # in, each "<" there would make the patterns scan to the end again (quadratic).
    end = text.rfind(">") + 1
    head, tail = text[:end], text[end:]
    head = _CELL.sub("\t", head)
    head = _BREAK.sub("\n", head)
    text = _TAG.sub("", head) + tail
    text = html.unescape(text).replace("\u00a0", " ")
    # Cells stay tab-separated so a column of codes in a table reads as a cluster. (Over
    # the whole text at once: neither pattern takes a line break, and two calls a line
    # cost 1.3 s of CPU on /usr/share's HTML.)
    lines = (line.strip() for line in _CELLS.sub("\t", _SPACES.sub(" ", text)).splitlines())
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip() + "\n"


def _drop(markup: str) -> str:
    """Scripts, styles, head, title and comments replaced by a space, in one pass.

    The result of `<(script|style|head|title)\\b.*?</\\1\\s*>|<!--.*?-->` (a block
    without its end stays), without that regex's cost: it scans to the end of the
    text from every unclosed start, minutes for a megabyte of "<!--". Here an end
    found missing once is not looked for again.
    """
    out: list[str] = []
    pos = 0
    missing: set[str] = set()
    while (start := _DROP_START.search(markup, pos)) is not None:
        name = (start.group(1) or "--").lower()
        close = -1
        if name not in missing:
            if name == "--":
                found = markup.find("-->", start.end())
                close = found + 3 if found != -1 else -1
            else:
                closer = _CLOSERS[name].search(markup, start.end())
                close = closer.end() if closer is not None else -1
            if close == -1:
                missing.add(name)
        if close == -1:
            out.append(markup[pos : start.end()])
        else:
            out.append(markup[pos : start.start()])
            out.append(" ")
        pos = start.end() if close == -1 else close
    out.append(markup[pos:])
    return "".join(out)
