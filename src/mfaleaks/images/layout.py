"""Tesseract's words -> text that keeps the page's layout, with a box per word.

Tesseract (psm 6) reads a page as one block, so a row of a two-column code
table and a navigation item at the same height come back as one line. The
words are regrouped here by recursive XY-cut: a region is cut at its widest
empty band, vertical (a column gap, at least COLUMN_GAP line heights wide) or
horizontal (between lines), until no cut is left. Each leaf is then written
line by line with tesseract's own line grouping (which copes with skew). So a
two-column code table comes out one column after the other, a side bar never
lands between two codes, and two codes never join into one long number.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from mfaleaks.models import Box

COLUMN_GAP = 3.0  # a vertical gap this many line heights wide separates columns
MIN_CONF_SYMBOL = 30.0  # below this, a word without letters or digits is a speck


@dataclass(frozen=True)
class Word:
    text: str
    left: int
    top: int
    width: int
    height: int
    line: tuple[int, int, int]  # tesseract's block, paragraph and line numbers

    @property
    def right(self) -> int:
        return self.left + self.width

    @property
    def bottom(self) -> int:
        return self.top + self.height


def words_from_tsv(rows: Iterable[list[str]]) -> list[Word]:
    """Word rows (level 5) of tesseract's TSV output, specks dropped."""
    out: list[Word] = []
    for row in rows:
        if len(row) < 12 or row[0] != "5":
            continue
        text = row[11].strip()
        if not text:
            continue
        if float(row[10]) < MIN_CONF_SYMBOL and not any(ch.isalnum() for ch in text):
            continue  # specks and borders read as punctuation
        word = Word(text, int(row[6]), int(row[7]), int(row[8]), int(row[9]),
                    (int(row[2]), int(row[3]), int(row[4])))
        out.extend(_unglue(word))
    return out


# A list number read without the space after it ("2.4267 4774"): the number and the
# code become two words again, or the code's first group is lost to the detector.
_GLUED = re.compile(r"(\d{1,2}[.)])(\d{4,})")


def _unglue(word: Word) -> tuple[Word, ...]:
    m = _GLUED.fullmatch(word.text)
    if m is None:
        return (word,)
    number, code = m.groups()
    cut = round(word.width * len(number) / len(word.text))
    return (replace(word, text=number, width=max(1, cut)),
            replace(word, text=code, left=word.left + cut, width=max(1, word.width - cut)))


def layout(
    words: list[Word], factor: float, size: tuple[int, int]
) -> tuple[str, tuple[tuple[int, int, Box], ...]]:
    """The text and (start, end, box) per word, boxes in the caller's pixels."""
    if not words:
        return "", ()
    height = float(statistics.median(w.height for w in words))
    parts: list[str] = []
    boxes: list[tuple[int, int, Box]] = []
    pos = 0
    previous: list[Word] | None = None
    for leaf in regions(words, height):
        if previous is not None:
            # One newline between pieces, as between lines: a line that lands between
            # two columns of codes must not split them into two clusters.
            parts.append("\n")
            pos += 1
        previous = leaf
        for n, line in enumerate(_lines(leaf)):
            if n:
                parts.append("\n")
                pos += 1
            for i, word in enumerate(line):
                if i:
                    sep = _word_separator(line[i - 1], word, height)
                    parts.append(sep)
                    pos += len(sep)
                parts.append(word.text)
                boxes.append((pos, pos + len(word.text), unscale(word, factor, size)))
                pos += len(word.text)
    return "".join(parts), tuple(boxes)


def regions(words: list[Word], height: float) -> list[list[Word]]:
    """Leaves in reading order; iterative, so a long page cannot exhaust the stack."""
    out: list[list[Word]] = []
    stack = [words]
    while stack:
        region = stack.pop()
        pieces = _cut(region, height)
        if pieces is None:
            out.append(region)
        else:
            stack.extend(reversed(pieces))  # the first piece is processed next
    return out


def _cut(region: list[Word], height: float) -> list[list[Word]] | None:
    """Bands between empty rows; runs of bands sharing a column gap split into columns."""
    bands = _split(region, [at for _, at in _gaps([(w.top, w.bottom) for w in region])],
                   lambda w: w.top)
    if len(bands) < 2:
        return None  # one line: wide gaps inside it become tabs
    wide = COLUMN_GAP * height
    edges = (min(w.left for w in region), max(w.right for w in region))
    pieces: list[list[Word]] = []
    group: list[list[Word]] = []
    common: list[tuple[int, int]] = []
    left = 0
    for band in bands:
        gaps = _free_columns(band, edges, wide)
        if group and _joins(band, gaps, common, left, wide):
            group.append(band)
            common = _intersect(common, gaps, wide)
            continue
        pieces.extend(_columns(group, common))
        group, common = ([band], gaps) if gaps else ([], [])
        left = min(w.left for w in band)
        if not gaps:
            pieces.append(band)
    pieces.extend(_columns(group, common))
    return pieces if len(pieces) > 1 else None


def _joins(
    band: list[Word], gaps: list[tuple[int, int]], common: list[tuple[int, int]],
    left: int, wide: float,
) -> bool:
    """Does a band continue a run of columns? Not if it starts left of the run (a
    heading or a footer across the columns) or narrows the shared gap by half."""
    if min(w.left for w in band) < left - wide:
        return False
    shared = _intersect(common, gaps, wide)
    before = max(hi - lo for lo, hi in common)
    return bool(shared) and max(hi - lo for lo, hi in shared) >= 0.5 * before


def _free_columns(
    band: list[Word], edges: tuple[int, int], wide: float
) -> list[tuple[int, int]]:
    """Empty vertical strips of a band, counting the room up to the region's edges."""
    spans = [(edges[0] - 1, edges[0]), *((w.left, w.right) for w in band),
             (edges[1], edges[1] + 1)]
    return [(at, at + g) for g, at in _gaps(spans) if g >= wide]


def _columns(group: list[list[Word]], common: list[tuple[int, int]]) -> list[list[Word]]:
    """A run of bands cut at the empty columns they share, where words lie on both sides."""
    words = [w for band in group for w in band]
    if len(group) >= 2:
        lo, hi = min(w.left for w in words), max(w.right for w in words)
        cuts = [start for start, stop in common if start > lo and stop < hi]
        if cuts:
            return _split(words, cuts, lambda w: w.left)
    return group


def _intersect(
    a: list[tuple[int, int]], b: list[tuple[int, int]], wide: float
) -> list[tuple[int, int]]:
    out = []
    for lo1, hi1 in a:
        for lo2, hi2 in b:
            lo, hi = max(lo1, lo2), min(hi1, hi2)
            if hi - lo >= wide:
                out.append((lo, hi))
    return out


def _gaps(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(width, position) of each empty band between the merged spans."""
    if not spans:
        return []
    spans.sort()
    out = []
    end = spans[0][1]
    for start, stop in spans[1:]:
        if start > end:
            out.append((start - end, end))
        end = max(end, stop)
    return out


def _split(
    region: list[Word], cuts: list[int], key: Callable[[Word], int]
) -> list[list[Word]]:
    bounds = sorted(cuts)
    pieces: list[list[Word]] = [[] for _ in range(len(bounds) + 1)]
    for word in region:
        start = key(word)
        index = sum(1 for b in bounds if start >= b)
        pieces[index].append(word)
    return [p for p in pieces if p]


def _lines(leaf: list[Word]) -> list[list[Word]]:
    grouped: dict[tuple[int, int, int], list[Word]] = {}
    for word in leaf:
        grouped.setdefault(word.line, []).append(word)
    lines = sorted(grouped.values(), key=lambda ws: min(w.top for w in ws))
    return [sorted(ws, key=lambda w: w.left) for ws in lines]


def _word_separator(before: Word, word: Word, height: float) -> str:
    gap = word.left - before.right
    if gap > COLUMN_GAP * height:
        return "\t"
    if _hyphen_split(before.text, word.text, gap, height):
        return ""
    return " "


def _hyphen_split(left: str, right: str, gap: int, height: float) -> bool:
    """Monospaced codes ('abcde-01234') come back as 'abcde -01234': glue them again."""
    if left == "-" or right == "-" or gap > 0.6 * height:
        return False
    return (left.endswith("-") and right[0].isalnum()) or (
        right.startswith("-") and left[-1].isalnum()
    )


def unscale(word: Word, factor: float, size: tuple[int, int]) -> Box:
    """A word's box in the caller's pixels, rounded outward so it still covers the ink."""
    left = max(0, int(word.left / factor))
    top = max(0, int(word.top / factor))
    right = min(size[0], -int(-word.right // factor))
    bottom = min(size[1], -int(-word.bottom // factor))
    return (left, top, max(1, right - left), max(1, bottom - top))
