"""Reasons, member names and headers are masked by the rule pack's own shapes
(detect/reasons.py): every rule's example codes, wherever the input puts them.
"""

from __future__ import annotations

import pytest

from example_codes import example_codes
from mfaleaks.detect.reasons import default_redactor, scrub

CODES = [(rule_id, code) for rule_id, (_, codes) in sorted(example_codes().items())
         for code in codes]
REDACT = default_redactor()


def _shown(code: str, text: str) -> bool:
    return code in text or "".join(c for c in code if c.isalnum()) in text


def test_a_sentry_code_with_one_digit_is_masked() -> None:
    """The reason that went into SARIF in full: one digit was not enough to mask it."""
    reason = scrub("part xl/worksheets/sheet1.xml could not be parsed: ValueError: "
                   "invalid literal for int() with base 10: 'WXKM-PQR7'")
    assert "WXKM-PQR7" not in reason and "int() with base 10" in reason


@pytest.mark.parametrize(("rule_id", "code"), CODES, ids=[f"{r}-{c[:12]}" for r, c in CODES])
def test_every_example_code_is_masked_wherever_it_is(rule_id: str, code: str) -> None:
    places = {
        "quoted": scrub(f"ValueError: invalid literal for int() with base 10: '{code}'"),
        "double quoted": scrub(f'KeyError: "{code}"'),
        "member": REDACT.path(f"backup.zip / old/{code}.txt"),
        "subject": REDACT.path(f'message 3 <a1@x.example> 2024-01-01 a@x "{rule_id} {code}"'),
        "header": REDACT(f"{rule_id} {code}"),
    }
    if any(c.isalpha() for c in code):  # digits alone, unquoted, are our counts (scrub)
        places["unquoted"] = scrub(f"cannot read row {code} of sheet Codes")
        places["over lines"] = scrub(f"could not parse:\n{code}\nend")
    shown = [where for where, text in places.items() if _shown(code, text)]
    assert not shown, (code, {w: places[w] for w in shown})


@pytest.mark.parametrize("text", [
    "zip member could not be read: Bad CRC-32 for file 'notes.txt'",
    "encrypted PDF: no password",
    "nesting depth limit reached (8); not read",
    "message 2 <01353f389fc0944@mail.gmail.com> 2024-03-08 dana@gmail.com \"backup codes\"",
    "2024-03-09T10:02:00+00:00",
    "Sam Keller <sam.keller@gmail.com>",
    "base64 decoding failed at offset 4096",
])
def test_ordinary_text_stays_readable(text: str) -> None:
    assert REDACT(text) == text
    assert REDACT.path(text) == text
    assert scrub(text) == text


@pytest.mark.parametrize("reason", [
    "expansion limit reached (max_expanded 1048576 bytes from one file); rest not read",
    "member size limit (max_member_size 67108864 bytes): 201326592 bytes; not read",
    "9000x9000 pixels is over max_pixels (178956970); not read",
    "image of 10000x10000 pixels is over the 80,000,000 pixel limit: not decoded",
    "json could not be parsed: JSONDecodeError: Expecting value: line 1 column 48213377",
])
def test_our_numbers_in_reasons_stay(reason: str) -> None:
    """Sizes, limits and offsets are written by us or a library, unquoted: scrub leaves
    digits alone there (a quoted value is masked: see the test above)."""
    assert scrub(reason) == reason


def test_evidence_keeps_a_file_name_without_a_code() -> None:
    """scrub also masks quoted literals with two digits (a reason's quotes); the shapes
    alone, as used on evidence and member names, leave this name whole."""
    text = "file name 'PyPI-Recovery-Codes-asmith-2026-03-01T09_00_00.txt' matches"
    assert REDACT.quoted(text) == text
