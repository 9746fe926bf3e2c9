"""Evidence for and against a finding (issue 21): example secrets, tests and docs, fields,
records, wrapped codes, JSON strings, SQLite notes, logs and changelogs."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from conftest import invoke
from mfaleaks.detect.examples import (
    in_doctest,
    known_examples,
    names_code,
    why_tests_or_docs,
)
from mfaleaks.detect.fields import column_label, label_before
from mfaleaks.detect.jsonstr import decoded, line_map
from mfaleaks.detect.ocrfix import normalise_ocr
from mfaleaks.detect.wrap import unwrap

SEED = "MLZKRUYKQHDX4GQZXQYXJXVF4OLDSQTU"  # made up
SHORT_SEED = "q7ne2vw5kzr3tbhx"  # made up; lower case, as libraries print seeds


def scan(path: Path, *args: str) -> dict[str, Any]:
    res = invoke("scan", "--format", "json", "--jobs", "1", "--no-ocr", *args, str(path))
    assert res.exit_code in (0, 1), res.stderr
    report: dict[str, Any] = res.report
    return report


def services(report: dict[str, Any]) -> list[tuple[str, str]]:
    return [(f["service"], f["confidence"]) for f in report["findings"]]


def test_known_examples_are_the_published_ones_only() -> None:
    assert known_examples(["JBSWY3DPEHPK3PXP"])
    assert known_examples(["jbsw y3dp ehpk 3pxp"])
    assert known_examples(["otpauth://totp/Ex:a@b.c?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"])
    assert known_examples(["94287082", "07081804", "14050471"])
    assert not known_examples([SEED])
    assert not known_examples([f"otpauth://totp/GitHub:jdoe?secret={SEED}"])


def test_tests_and_docs_folders_and_names() -> None:
    assert len(why_tests_or_docs("repo/tests/test_totp.py")) == 2  # folder and name
    assert why_tests_or_docs("/usr/share/doc/dpkg/changelog.gz")
    assert len(why_tests_or_docs("src/totp_test.go")) == 1
    assert why_tests_or_docs("export.zip", ("docs/usage.md",))
    assert not why_tests_or_docs("home/jdoe/Documents/Backup-codes-jdoe.txt")
    assert not why_tests_or_docs("share/docs/export.xml")  # someone's documents
    assert why_tests_or_docs("repo/docs/usage.md")
    assert not why_tests_or_docs("/tmp/pytest-of-root/pytest-3/test_scan0/codes.txt")
    assert names_code("test_totp.py") and names_code("totp.rs")
    assert not names_code("recovery-codes.txt")


def test_field_labels_name_totp_secrets() -> None:
    for text in (f"TOTP_SECRET={SEED}", f'"secret": "{SEED}"  # totp',
                 f"oathtool --totp -b {SEED}", f"<Key>otp</Key><Value>{SEED}"):
        assert label_before(text, text.index(SEED)), text
    plain = f"api_secret = {SEED}"
    assert label_before(plain, plain.index(SEED)) is None  # no TOTP wording anywhere
    table = f"url,username,password,totp\nhttps://x,jdoe,pw,{SEED}\n"
    assert column_label(table, table.index(SEED), "lastpass.csv") == "totp"
    assert column_label(table, table.index("pw,"), "lastpass.csv") is None


def test_unwrap_joins_codes_broken_across_lines_and_keeps_line_numbers() -> None:
    text = "Secret Key\nA3-ABC123-DEF456-\ufffe\r\nGH789-JK234-LM567-NP890\nafter\n"
    joined = unwrap(text)
    assert joined is not None
    assert "A3-ABC123-DEF456-GH789-JK234-LM567-NP890" in joined
    assert joined.split("\n").index("after") == text.split("\n").index("after")
    assert unwrap("a well-\nknown word\n") is None
    html = "Your Secret Key:\n\nA3-ABC123-DEF456-\n\nGH789-JK234-LM567-NP890\n"
    assert "A3-ABC123-DEF456-GH789-JK234-LM567-NP890\n\n\n" in (unwrap(html) or "")
    crlf = "Secret Key\r\nA3-ABC123-DEF456-\r\nGH789-JK234-LM567-NP890\r\nafter\r\n"
    assert "A3-ABC123-DEF456-GH789-JK234-LM567-NP890" in (unwrap(crlf) or "")


def test_json_strings_decoded_with_their_lines() -> None:
    original = '{"a": 1,\n "text": "codes\\n5305 2471\\n6468 0791"}\n'
    text = decoded(original)
    assert text is not None
    assert "\n5305 2471\n6468 0791" in text
    assert line_map(original) == [0, 1, 1, 1, 2]
    assert len(line_map(original)) == len(text.split("\n"))
    assert decoded("plain text\\n with an escape") is None


@pytest.mark.parametrize("original", [
    # Escaped backslashes before n and u: no newline there, the rest decoded in order.
    '{"path": "C:\\\\new\\\\u0041x", "note": "codes\\n1234 5678\\u000a8765 4321"}\n{"b": 2}',
    # \u escapes (a newline, a surrogate half, a letter) among the simple ones.
    '[{"t": "a\\tb\\r\\n\\u000Ac\\ud83d\\u0042\\"q\\"\\/\\b\\f"},\n "x\\uZZ\\n"]',
])
def test_json_decoding_matches_one_pass_in_order(original: str) -> None:
    """The replace shortcut and the line map agree with a plain escape-by-escape decoding."""
    simple = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "/": "/", "\\": "\\", "b": " ",
              "f": " "}
    out, lines, line, i = [], [0], 0, 0
    while i < len(original):
        ch, nxt = original[i], original[i + 1 : i + 2]
        hexa = original[i + 2 : i + 6]
        if ch == "\\" and nxt == "u" and len(hexa) == 4 and all(
                c in "0123456789abcdefABCDEF" for c in hexa):
            code = int(hexa, 16)
            ch, i = ("\ufffd" if 0xD800 <= code <= 0xDFFF else chr(code)), i + 6
        elif ch == "\\" and nxt in simple:
            ch, i = simple[nxt], i + 2
        else:
            i += 1
            if ch == "\n":
                line += 1
                lines.append(line)
                out.append(ch)
                continue
        if ch == "\n":
            lines.append(line)
        out.append(ch)
    assert decoded(original) == "".join(out)
    assert line_map(original) == lines


def test_ocr_list_number_glued_to_a_code() -> None:
    assert normalise_ocr("2.9558 2428 7. 7649 7486") == "2 9558 2428 7. 7649 7486"
    assert normalise_ocr("version 1.2345 6789") == "version 1.2345 6789"  # not a list number


def test_rfc_vectors_in_a_test_module_stay_below_medium(tmp_path: Path) -> None:
    tests = tmp_path / "otp" / "tests"
    tests.mkdir(parents=True)
    (tests / "test_totp.py").write_text(
        'SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # TOTP secret key, RFC 6238\n'
        'URI = "otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example"\n')
    assert scan(tmp_path)["findings"] == []
    low = scan(tmp_path, "--min-confidence", "low")["findings"]
    assert all(f["confidence"] == "low" for f in low)


def test_a_made_up_seed_in_a_test_module_of_a_tests_folder_stays_below_medium(
    tmp_path: Path,
) -> None:
    # passlib's tests: a labelled seed with TOTP wording, not a published one. The folder
    # and the module's name each count against it; either alone leaves it at medium.
    body = f"from passlib.totp import TOTP\nsource = dict(v=1, type='totp', key='{SHORT_SEED}')\n"
    (tmp_path / "lib" / "tests").mkdir(parents=True)
    (tmp_path / "lib" / "tests" / "test_totp.py").write_text(body)
    assert scan(tmp_path)["findings"] == []
    assert [f["confidence"] for f in scan(tmp_path, "--min-confidence", "low")["findings"]] \
        == ["low"]
    (tmp_path / "lib" / "tests" / "test_totp.py").rename(tmp_path / "lib" / "tests" / "totp.py")
    assert services(scan(tmp_path)) == [("totp", "medium")]


def test_seeds_in_doctests_stay_below_medium(tmp_path: Path) -> None:
    # passlib/totp.py documents its API with doctests: a seed on the prompt's line, and a
    # URI in the output under one. The same lines outside a doctest are found.
    doc = (
        'def to_uri(self):\n    """Usage example::\n\n'
        f"        >>> tp = TOTP('{SHORT_SEED}')\n"
        '        >>> tp.to_uri("jdoe", "ACME")\n'
        f"        'otpauth://totp/jdoe?secret={SHORT_SEED.upper()}&issuer=ACME'\n"
        '    """\n'
    )
    (tmp_path / "totp.py").write_text(doc)
    assert scan(tmp_path)["findings"] == []
    assert {f["confidence"] for f in scan(tmp_path, "--min-confidence", "low")["findings"]} \
        == {"low"}
    (tmp_path / "totp.py").write_text(doc.replace(">>> ", ""))
    assert {f["rule_id"] for f in scan(tmp_path)["findings"]} >= {"totp-uri"}


def test_doctest_blocks_end_at_a_blank_line_and_mail_quotes_are_not_doctests(
    tmp_path: Path,
) -> None:
    text = ">>> t = TOTP(key)\n>>> t.uri()\n'otpauth://x'\n\nyour key: K\n"
    assert in_doctest(text, text.index("TOTP"))
    assert in_doctest(text, text.index("otpauth"))
    assert not in_doctest(text, text.index("your key"))
    cont = ">>> f(\n...     'K')\n"
    assert in_doctest(cont, cont.index("'K'"))
    assert not in_doctest("... and then\n'K'\n", 15)
    # A reply quoted three levels deep: codes there are real, mail is not searched.
    (tmp_path / "reply.eml").write_text(
        "From: a@example.org\nTo: b@example.org\nSubject: Re: Re: Re: codes\n\n"
        ">>> Here are my Google backup codes:\n"
        + "".join(f">>> {i + 1}. {4817 + i * 1111:04d} {2093 + i * 3331 % 9000:04d}\n"
                  for i in range(10)))
    assert [s for s, _ in services(scan(tmp_path))] == ["google"]
    # Markdown: a doctest in a fenced block is one; a '>>>' blockquote (a pasted thread) not.
    (tmp_path / "reply.eml").unlink()
    uri = f"otpauth://totp/jdoe?secret={SHORT_SEED.upper()}&issuer=ACME"
    (tmp_path / "usage.md").write_text(f"# TOTP\n\n```pycon\n>>> t.to_uri()\n'{uri}'\n```\n")
    assert scan(tmp_path)["findings"] == []
    (tmp_path / "usage.md").write_text(f"# TOTP\n\n>>> my authenticator link:\n>>> {uri}\n")
    assert [s for s, _ in services(scan(tmp_path))] == ["totp"]


def test_a_real_seed_in_exports_is_found_by_its_field(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"DATABASE_URL=postgres://db/app\nTOTP_SECRET={SEED}\n")
    (tmp_path / ".bash_history").write_text(f"ls\noathtool --totp -b {SEED.lower()}\n")
    rows = "".join(f"https://site{i}.example,user{i},pw{i},,,Site {i},Work,0\n" for i in range(60))
    (tmp_path / "lastpass_export.csv").write_text(
        "url,username,password,totp,extra,name,grouping,fav\n" + rows
        + f"https://github.com,jdoe,pw,{SEED},,GitHub,Dev,0\n")
    report = scan(tmp_path)
    by_file = {Path(f["path"]).name: f for f in report["findings"]}
    assert set(by_file) == {".env", ".bash_history", "lastpass_export.csv"}
    assert all(f["service"] == "totp" for f in by_file.values())


def test_words_of_one_row_do_not_count_for_another(tmp_path: Path) -> None:
    (tmp_path / "packages.tsv").write_text(
        "name\tdescription\npyotp\tTOTP one-time passwords\n"
        "PYOTPAUTHENTICATORKIT\tcommand line helpers\n")
    assert scan(tmp_path)["findings"] == []


def test_sticky_notes_database_is_read(tmp_path: Path) -> None:
    db = tmp_path / "plum.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE Note (Text varchar, Id varchar)")
    con.execute("INSERT INTO Note VALUES (?, ?)", (
        "\\id=1 GitHub recovery codes\nd1371-c1714\n9d439-536b3\n216fd-aeeb9\n75729-fae92\n"
        "3d5a4-fd12a\nabfe2-28f21\n9e9cb-0eb53\nf1694-7ccf2\n", "1"))
    con.commit()
    con.close()
    before = db.read_bytes()
    report = scan(tmp_path)
    assert services(report) == [("github", "high")]
    assert report["findings"][0]["location"] == "table Note"
    assert db.read_bytes() == before  # read from memory: the file is never written
    (tmp_path / "plum.sqlite").write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    report = scan(tmp_path)
    assert report["findings"] == []


def test_session_ids_in_time_stamped_log_lines_are_not_codes(tmp_path: Path) -> None:
    lines = "".join(
        f"Mar  1 09:{i:02d}:11 web sshd[{100 + i}]: two-factor session "
        f"{(i * 7919 + 0x1F2E3D4C5B6A7988) % 16**16:016x} opened\n" for i in range(30))
    (tmp_path / "auth.log").write_text(lines)
    assert scan(tmp_path)["findings"] == []


def test_issue_references_in_changelogs_are_not_codes(tmp_path: Path) -> None:
    (tmp_path / "changelog").write_text(
        "  * the recovery code assumed the execution would not reach it.\n"
        + "".join(f"  * Translation {i}. Closes: #{497041 + 7919 * i}\n" for i in range(8)))
    assert scan(tmp_path)["findings"] == []
