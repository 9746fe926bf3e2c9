"""Text from the input as the report shows it: error reasons, member names, headers.

Reasons often carry a library's exception text, and some of it quotes the
input: `int()` says "invalid literal for int() with base 10: 'WXKM-PQR7'". A
crafted file can put a code exactly there, or in an archive member's name or
a mail's subject. Everything that fits one of the rule pack's code shapes is
masked as a finding's codes are (mask.mask), whether quoted or not: the same
compiled shapes the engine searches with, so a new rule's shape is covered
the day it is added. Quoted literals that look like codes but fit no shape are
masked too, and a reason never spans lines or runs on.

This runs only on reasons, member names and a finding's descriptive fields,
which are rare next to the text scanned: a few dozen regex searches of a short
string each.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping

import regex

from mfaleaks.detect.mask import mask
from mfaleaks.detect.rules.model import RulePack, Shape
from mfaleaks.detect.shapesource import code_group

MAX_REASON = 300
_QUOTE = re.compile(r"(['\"])")
_FEW_ALNUM = 4  # no shape matches text with fewer letters and digits than this
# A Message-ID (<8d75546b8710163@mail.gmail.com>) is made by mail software, never by
# a person writing down codes, and it is how a reader finds the mail: left whole.
_MESSAGE_ID = re.compile(r"<[^\s<>@]+@[^\s<>]+>")


# Shapes keep paths out of findings ('/' may not touch a code); a member name is a
# path, so its parts are also searched with the slashes read as spaces.
_SLASHES = str.maketrans("/\\", "  ")
_QUOTED = re.compile(r"'[^']*'")
_DIMENSIONS = re.compile(r"\d+x\d+")  # "1200x1000 pixels": numbers too, written by us


class Redactor:
    """Masks every stretch of a text that fits one of a pack's code shapes."""

    def __init__(self, shapes: Iterable[Shape]) -> None:
        self._shapes = tuple({s.name: s for s in shapes}.values())
        # A shape whose code must stand somewhere (alone on its line, after a quoted
        # key, not after a word) misses it elsewhere: its code group is also searched
        # alone, kept by the shape's own validate, or when it has none by _bare_code.
        self._bare = tuple(
            (regex.compile(rf"(?<![\p{{L}}\p{{N}}])(?:{group[0]})(?![\p{{L}}\p{{N}}])",
                           shape.pattern.flags & ~regex.MULTILINE),
             shape.validate, group[1])
            for shape in self._shapes
            if (group := code_group(shape)) is not None
        )

    def __call__(self, text: str) -> str:
        return self._masked(text, (text,))

    def words(self, text: str) -> str:
        """Codes with a letter in them (digits alone and 1200x1000: see scrub)."""
        return self._masked(text, (text,), numbers=False)

    def path(self, name: str) -> str:
        """A member name ('old/WXKM-PQR7.txt', 'message 3 ... "subject"'): each part
        of the path is searched alone as well."""
        if "/" not in name and "\\" not in name:
            return self._masked(name, (name,))
        return self._masked(name, (name, name.translate(_SLASHES)))

    def quoted(self, text: str) -> str:
        """Only what is quoted ('...') is from the input: evidence quotes file names."""
        return _QUOTED.sub(lambda m: self.path(m.group()), text) if "'" in text else text

    def _masked(self, text: str, views: tuple[str, ...], numbers: bool = True) -> str:
        if sum(c.isalnum() for c in text) < _FEW_ALNUM:
            return text
        spans = sorted(
            [span for view in views for shape in self._shapes for span in _spans(shape, view)]
            + [m.span() for view in views for bare, validate, bound in self._bare
               for m in bare.finditer(view, overlapped=True)
               if _kept(m.group(), validate, bound)]
        )
        if not numbers:
            spans = [(a, b) for a, b in spans if any(c.isalpha() for c in text[a:b])
                     and not _DIMENSIONS.fullmatch(text, a, b)]
        if spans and "@" in text:
            ids = [m.span() for m in _MESSAGE_ID.finditer(text)]
            spans = [s for s in spans if not any(a <= s[0] and s[1] <= b for a, b in ids)]
        if not spans:
            return text
        out, at = [], 0
        for start, end in _merged(spans):
            out += [text[at:start], mask(text[start:end])]
            at = end
        out.append(text[at:])
        return "".join(out)

    def mapping(self, values: Mapping[str, str]) -> dict[str, str]:
        return {k: self(v) for k, v in values.items()}


def _spans(shape: Shape, text: str) -> Iterable[tuple[int, int]]:
    """Where the shape's code is, as the engine finds it (validate too, so words that
    merely fit a loose shape stay readable), placeholders included."""
    group = "code" if "code" in shape.pattern.groupindex else 0
    for m in shape.pattern.finditer(text):
        start, end = m.span(group)
        if start < 0 or start == end:
            continue
        if shape.validate is not None and not shape.validate.search(text[start:end]):
            continue
        yield start, end


def _kept(token: str, validate: regex.Pattern[str] | None, bound: bool) -> bool:
    """Is a code group's match, found alone, masked? As the engine would keep it
    (validate); and when its shape needs words around it (a TAP after 'Temporary
    Access Pass', a secret after "shared_secret":), only if it reads like a secret."""
    if validate is not None and not validate.search(token):
        return False
    return _bare_code(token) if bound else True


def _bare_code(token: str) -> bool:
    """A code-group match standing alone is masked only if it reads like a secret: 12 or
    more base64 characters, digits, upper and lower case (not 'base64', 'sha256sum' or
    a file name with dashes)."""
    return (len(token) >= 12 and _BASE64.fullmatch(token) is not None
            and any(c.isdigit() for c in token) and any(c.isupper() for c in token)
            and any(c.islower() for c in token))


_BASE64 = re.compile(r"[A-Za-z0-9+/]+=*")


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in spans:
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def redactor_for(pack: RulePack) -> Redactor:
    return Redactor(shape for rule in pack.rules for shape in rule.shapes)


@functools.cache
def default_redactor() -> Redactor:
    """The bundled pack's shapes: for reasons written where no engine was built (a crash
    of the tool itself). Loaded on first use only."""
    from mfaleaks.detect.rules.load import DEFAULT_RULES_DIR, load_pack

    return redactor_for(load_pack([DEFAULT_RULES_DIR]))


def _code_like(text: str) -> bool:
    return sum(c.isalnum() for c in text) >= 6 and sum(c.isdigit() for c in text) >= 2


def scrub(reason: str, redact: Redactor | None = None) -> str:
    """One line of at most MAX_REASON characters, codes masked.

    Shapes are looked for before the line is joined (a recovery phrase is a shape
    of its own line) and after (a code split over two lines). Outside quotes a
    match of digits alone is left: that is a count, size or offset written by us
    or a library ("max_expanded 1048576 bytes", "column 48213377"), while input
    comes quoted ('4821 7730', as repr() and every library here writes it). Between
    quotes every shape is masked, and so is any literal with two digits or more.
    Every stretch between two quote marks counts as quoted, whatever came before:
    an apostrophe ("can't parse '4821 7730'") must not shift the pairs.
    """
    redact = redact or default_redactor()
    line = redact.words(" ".join(redact.words(reason).split()))
    parts = _QUOTE.split(line)
    for k in range(2, len(parts) - 1, 2):  # text between two quote marks
        parts[k] = mask(parts[k]) if _code_like(parts[k]) else redact(parts[k])
    line = "".join(parts)
    return line if len(line) <= MAX_REASON else line[: MAX_REASON - 1] + "…"
