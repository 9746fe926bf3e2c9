"""Codes never leak (issue 8): with default options no planted code appears in full,
with or without its separators, in any byte the tool writes.

Codes of several services are planted in a text file, a mail (.eml), an mbox,
a zip, a docx, a PDF and a screenshot (PNG, read by OCR), beside a crafted
workbook whose row number is a code (the parser fails on it and its error
message quotes it). Every rule's example codes (example_codes.py: every shape
of the pack) are planted where input ends up in reasons and member names: as a
workbook's row number, as the name of a damaged zip member (zipfile's error
quotes it) and as the subject of a mail holding the rule's example. The real
CLI then runs with every --format to stdout and with -o, with -v, with
`baseline create` and --baseline, twice with --cache, `report` renders the
JSON report to HTML, Markdown and CSV, and one run crashes
on purpose (its report writer raises an exception quoting a code: exit 2, the
message masked). Every run has its own working folder and HOME, so stray files
land where they are searched. Every byte of stdout, stderr and every file
written is searched. Report, baseline and cache files must be mode 0600.
"""

from __future__ import annotations

import io
import os
import random
import re
import stat
import zipfile
from email.mime.text import MIMEText
from pathlib import Path

import pytest

import gen_docs
import gen_hostile as gen
from example_codes import plant_examples
from hostile_cli import Run, finish, start

FORMATS = ("text", "json", "jsonl", "sarif", "junit")


def xlsx_with_code_as_row(code: str, codes: list[str]) -> bytes:
    """A workbook whose first row is numbered with a code: int() fails and says so."""
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    cells = "".join(f'<c t="inlineStr"><is><t>{c}</t></is></c>' for c in codes)
    parts = {
        "[Content_Types].xml": '<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        'content-types"/>',
        "_rels/.rels": f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
        f'relationships"><Relationship Id="r1" Type="{rel}/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<workbook {ns} xmlns:r="{rel}"><sheets><sheet name="Codes" '
        'sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": '<Relationships xmlns="http://schemas.openxmlformats.org/'
        f'package/2006/relationships"><Relationship Id="rId1" Type="{rel}/worksheet" '
        'Target="worksheets/sheet1.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": f'<worksheet {ns}><sheetData><row r="{code}">{cells}</row>'
        "</sheetData></worksheet>",
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    return buf.getvalue()


def plant(root: Path) -> list[str]:
    """Files with codes in every format; returns every planted code."""
    rng = random.Random(84)
    root.mkdir(parents=True)
    planted: list[str] = []

    def github() -> list[str]:
        codes = gen.github_codes(rng)
        planted.extend(codes)
        return codes

    def google() -> list[str]:
        codes = gen_docs.google_codes(rng)
        planted.extend(codes)
        return codes

    (root / "github-recovery-codes.txt").write_bytes(gen.github_file(github()))
    mail = MIMEText(gen_docs.google_sheet(google()), "plain", "utf-8")
    mail["From"], mail["To"], mail["Subject"] = "it@example.com", "jd@example.com", "Your codes"
    (root / "codes.eml").write_bytes(mail.as_bytes())
    second = MIMEText(gen_docs.google_sheet(google()), "plain", "utf-8")
    second["From"], second["Subject"] = "it@example.com", "Backup codes"
    (root / "inbox.mbox").write_bytes(b"From it@example.com Mon Jan  1 00:00:00 2024\n"
                                      + second.as_bytes() + b"\n")
    (root / "export.zip").write_bytes(
        gen.zip_of({"old/github-recovery-codes.txt": gen.github_file(github())}))
    gen_docs.docx_codes(root, google())
    gen_docs.pdf_codes(root, google())
    (root / "Backup-codes-screenshot.png").write_bytes(
        gen_docs.code_image(gen_docs.google_sheet(google()).splitlines()))
    row = google()
    (root / "crash.xlsx").write_bytes(xlsx_with_code_as_row(row[0], row[1:]))
    planted.extend(plant_examples(root))
    return planted


_URI_SECRET = re.compile(r"(?i)(?:secret|data)=([^&\s]+)")


def needles(codes: list[str]) -> set[bytes]:
    out = set()
    for code in codes:
        out.add(code.encode())
        out.add("".join(c for c in code if c.isalnum()).encode())
        out.update(m.group(1).encode() for m in _URI_SECRET.finditer(code))  # an otpauth secret
    return out


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("leak") / "share"
    return root, plant(root)


def cli(args: list[str], work: Path, timeout: float = 180, prelude: str = "") -> Run:
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, HOME=str(work), XDG_CACHE_HOME=str(work / "xdg"), TMPDIR=str(work))
    res = finish(start(args, work, env=env, prelude=prelude), timeout)
    assert not res.hung, args
    return res


def written(work: Path, res: Run) -> dict[str, bytes]:
    out = {"stdout": res.stdout, "stderr": res.stderr}
    for path in work.rglob("*"):
        if path.is_file() and path.name not in ("stdout", "stderr"):
            out[str(path)] = path.read_bytes()
    return out


def leaks(blobs: dict[str, bytes], codes: list[str]) -> list[tuple[str, str]]:
    return [(where, n.decode()) for where, blob in blobs.items() for n in needles(codes)
            if n in blob]


def private(work: Path, names: list[str]) -> None:
    for path in work.rglob("*"):
        if path.is_file() and path.name not in ("stdout", "stderr"):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, (path, oct(path.stat().st_mode))
    for name in names:
        assert (work / name).exists(), f"{name} was not written"


def test_no_code_in_any_output(planted: tuple[Path, list[str]], tmp_path: Path) -> None:
    root, codes = planted
    share = str(root)
    runs: list[tuple[Path, Run, list[str]]] = []
    for fmt in FORMATS:
        work = tmp_path / f"out-{fmt}"
        res = cli(["scan", "--format", fmt, "-o", f"report.{fmt}", share], work)
        assert res.code == 1, res.stderr.decode(errors="replace")[-2000:]
        runs.append((work, res, [f"report.{fmt}"]))
        work = tmp_path / f"stdout-{fmt}"
        runs.append((work, cli(["scan", "--format", fmt, "--jobs", "1", share], work), []))
    work = tmp_path / "verbose"
    runs.append((work, cli(["scan", "-v", share], work), []))
    work = tmp_path / "baseline"
    res = cli(["baseline", "create", "baseline.json", share], work)
    assert res.code == 0, res.stderr.decode(errors="replace")[-2000:]
    again = cli(["scan", "--format", "json", "--baseline", "baseline.json", share], work)
    assert again.code == 0 and again.report["findings"] == []
    runs += [(work, res, ["baseline.json"]), (work, again, [])]
    work = tmp_path / "cache"
    first = cli(["scan", "--format", "json", "--cache", "cache.db", share], work)
    second = cli(["scan", "--format", "json", "--cache", "cache.db", share], work)
    assert first.code == second.code == 1
    assert first.report["findings"] == second.report["findings"]
    runs += [(work, first, ["cache.db"]), (work, second, [])]
    work = tmp_path / "incidents"
    saved = cli(["scan", "--format", "json", "-o", "report.json", share], work)
    runs.append((work, saved, ["report.json"]))
    for fmt in ("html", "markdown", "csv"):
        res = cli(["report", "report.json", "--format", fmt, "-o", f"incidents.{fmt}"], work)
        assert res.code == 0, res.stderr.decode(errors="replace")[-2000:]
        runs.append((work, res, [f"incidents.{fmt}"]))

    # A crash of the tool itself whose exception quotes a code (as int() would): a
    # Sentry-shaped one with a single digit, which the quoted-digits rule let through.
    work = tmp_path / "crash"
    one_digit = next(c for c in codes if re.fullmatch(r"[A-Z2-7]{4}-[A-Z2-7]{4}", c)
                     and sum(ch.isdigit() for ch in c) == 1)
    boom = ("import mfaleaks.report as c\n"
            "def boom(*a, **k):\n"
            f"    raise ValueError(\"invalid literal for int() with base 10: '{one_digit}'\")\n"
            "c.render = boom\n")
    crashed = cli(["scan", "--format", "json", share], work, prelude=boom)
    assert crashed.code == 2 and b"internal error" in crashed.stderr, crashed.stderr
    runs.append((work, crashed, []))

    report = tmp_path / "stdout-json"
    found = cli(["scan", "--format", "json", "--jobs", "1", share], report).report
    services = {(os.path.basename(f["path"]), f["service"]) for f in found["findings"]}
    print(sorted(services))
    assert len(found["findings"]) >= 7, "the planted codes must be found for the test to mean much"
    crash = [e for e in found["errors"] if e["path"].endswith("crash.xlsx")]
    assert crash and "ValueError" in crash[0]["reason"], found["errors"]

    problems = []
    for work, res, files in runs:
        problems += leaks(written(work, res), codes)
        private(work, files)
    assert not problems, f"codes written in full: {sorted(set(problems))[:10]}"
