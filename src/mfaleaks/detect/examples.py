"""Published example secrets and where code is documented or tested: evidence against.

Every TOTP tutorial shows the seed JBSWY3DPEHPK3PXP, and every OTP library tests
against the RFC 4226/6238 secret (ASCII "12345678901234567890") and its published
outputs. They protect no account, so a finding made of them is at most low. A file
in a tests/ or docs/ folder, or named like a test module, documents or tests code:
that counts against a finding, and its name says what the code is about, not that
it holds recovery codes.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from urllib.parse import parse_qs, unquote, urlsplit

_RFC_ASCII = b"1234567890"
_SEEDS = {
    "JBSWY3DPEHPK3PXP",  # Google Authenticator's key URI format page, every tutorial
    "HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ",  # Google Authenticator's sample
    "BASE32SECRET3232",  # pyotp's README
    "GEZDGNBVGY3TQOJQ",  # "1234567890" in base32
    *(base64.b32encode((_RFC_ASCII * 7)[:n]).decode().rstrip("=") for n in (20, 32, 64)),
    *((_RFC_ASCII * 7)[:n].hex().upper() for n in (20, 32, 64)),
}
# RFC 4226 appendix D (HOTP, counters 0-9) and RFC 6238 appendix B (TOTP, SHA-1/256/512).
_VECTORS = {
    "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
    "399871", "520489",
    "94287082", "07081804", "14050471", "89005924", "69279037", "65353130",
    "46119246", "68084774", "67062674", "91819424", "90698825", "77737706",
    "90693936", "25091201", "93441116", "38618901", "47863826",
}
_NOT_B32 = re.compile(r"[\s=\-]+")


def _normal(code: str) -> str:
    if "://" in code:
        query = parse_qs(urlsplit(code).query)
        secrets = query.get("secret") or query.get("SECRET") or [""]
        code = unquote(secrets[0])
    return _NOT_B32.sub("", code).upper()


def known_examples(codes: Iterable[str]) -> bool:
    """Are most of these codes published examples or test vectors?"""
    normal = [_normal(c) for c in codes]
    if not normal:
        return False
    known = sum(1 for c in normal if c in _SEEDS or c in _VECTORS)
    return known * 2 >= len(normal)


_TEST_FOLDERS = frozenset({
    "test", "tests", "testing", "__tests__", "spec", "specs", "testdata", "test-data",
    "test_data", "example", "examples",
})
# "Docs" on a file share is often someone's documents: a doc folder counts only for
# documentation formats (Markdown, reST, HTML, man and info pages, compressed
# changelogs, README-like names), not for a .txt, a sheet or an export.
_DOC_FOLDERS = frozenset({"doc", "docs", "documentation"})
_DOC_NAME = re.compile(
    r"(?i)(?:\.(?:md|markdown|rst|adoc|asciidoc|html?|texi|info|gz|[1-9])"
    r"|^(?:readme|changelog|changes|news|history|copyright|authors)[^.]*)$"
)
_TEST_NAME = re.compile(
    r"(?i)^(?:test_.*\.py|.*_test\.(?:py|go|rb|rs|c|cc|cpp|js|ts)|conftest\.py"
    r"|.*\.(?:test|spec)\.[jt]sx?|.*(?:Test|Tests|Spec)\.(?:java|kt|cs|scala|swift|php))$"
)
# Source code: its name tells what the code is about, not what a user saved in it.
_CODE_NAME = re.compile(
    r"(?i)\.(?:py|pyi|js|mjs|ts|tsx|jsx|go|rs|rb|java|kt|cs|c|h|cc|cpp|hpp|php|swift"
    r"|scala|pl|pm|sh|lua|ex|exs|erl|hs|ml|clj|dart|r|m)$"
)


def why_tests_or_docs(path: str, chain: Iterable[str] = ()) -> tuple[str, ...]:
    """Each independent sign that the file is a test or documentation: its folder, and
    a test module's name. Both together (tests/test_totp.py) are test code for sure."""
    parts = re.split(r"[/\\]", path) + [p for c in chain for p in re.split(r"[/\\]", c)]
    name = parts[-1] if parts else ""
    doc_name = bool(_DOC_NAME.search(name) or _CODE_NAME.search(name))
    reasons: list[str] = []
    for folder in parts[:-1]:
        low = folder.lower()
        if low in _TEST_FOLDERS or (low in _DOC_FOLDERS and doc_name):
            reasons.append(f"in a {folder}/ folder (tests or documentation)")
            break
    if _TEST_NAME.match(name):
        reasons.append(f"{name!r} is a test module")
    return tuple(reasons)


# A doctest: an interpreter prompt, then the statement's output up to a blank line.
_PROMPT = re.compile(r"[ \t]*(?:>>>|\.\.\.)(?: |$)")
_DOCTEST_LINES = 40
# Python source and Markdown/reST documentation. Not mail: a reply quoted three
# levels deep starts its lines with '>>> ' too, and codes there are real.
_DOCTEST_NAME = re.compile(r"(?i)\.(?:py|pyi|pyx|md|markdown|rst)$")
_MARKDOWN = re.compile(r"(?i)\.(?:md|markdown)$")
_FENCE = re.compile(r"^[ \t]{0,3}(?:```|~~~)", re.M)


def doctest_at(name: str, text: str, offset: int) -> bool:
    """Is the text at offset a doctest of this file? In Markdown only inside a fenced
    code block: outside one, '>>> ' is a blockquote three levels deep (a mail thread
    pasted into a wiki page)."""
    if not _DOCTEST_NAME.search(name) or not in_doctest(text, offset):
        return False
    if _MARKDOWN.search(name):
        return len(_FENCE.findall(text, 0, offset)) % 2 == 1
    return True


def in_doctest(text: str, offset: int) -> bool:
    """Is the text at offset part of a doctest (a `>>>` line or the output under one)?
    A library's documented example: nobody keeps their own seed there."""
    end = text.find("\n", offset)
    end = len(text) if end == -1 else end
    for _ in range(_DOCTEST_LINES):
        start = text.rfind("\n", 0, end) + 1
        line = text[start:end]
        if _PROMPT.match(line):
            return line.lstrip().startswith(">>>") or _continues_doctest(text, start)
        if not line.strip() or start == 0:
            return False
        end = start - 1
    return False


def _continues_doctest(text: str, start: int) -> bool:
    """Does a `...` line at start continue a `>>>` statement above it?"""
    end = start - 1
    for _ in range(_DOCTEST_LINES):
        if end < 0:
            return False
        begin = text.rfind("\n", 0, end) + 1
        line = text[begin:end].lstrip()
        if line.startswith(">>>"):
            return True
        if not line.startswith("..."):
            return False
        end = begin - 1
    return False


def names_code(name: str) -> bool:
    """Is this the name of a source file or test (whose words describe code)?"""
    return bool(_CODE_NAME.search(name) or _TEST_NAME.match(name))
