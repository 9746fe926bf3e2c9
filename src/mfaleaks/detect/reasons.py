"""Error reasons as the report shows them: one line, bounded, no content echoed.

Reasons often carry a library's exception text, and some of it quotes the
input: `int()` says "invalid literal for int() with base 10: '4821 7730'". A
crafted file can put a code exactly there, so quoted literals holding digits
are masked like codes are, and a reason never spans lines or runs on.
"""

from __future__ import annotations

import re

from mfaleaks.detect.mask import mask

MAX_REASON = 300
_QUOTE = re.compile(r"(['\"])")


def _code_like(text: str) -> bool:
    return sum(c.isalnum() for c in text) >= 6 and sum(c.isdigit() for c in text) >= 2


def scrub(reason: str) -> str:
    """One line of at most MAX_REASON characters, quoted literals with digits masked.

    Every stretch between two quote marks counts as quoted, whatever came before:
    an apostrophe ("can't parse '4821 7730'") must not shift the pairs.
    """
    parts = _QUOTE.split(" ".join(reason.split()))
    for k in range(2, len(parts) - 1, 2):  # text between two quote marks
        if _code_like(parts[k]):
            parts[k] = mask(parts[k])
    line = "".join(parts)
    return line if len(line) <= MAX_REASON else line[: MAX_REASON - 1] + "…"
