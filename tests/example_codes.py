"""Every rule's example codes, planted where input ends up in reasons and member names.

The codes are what the engine finds in each rule's `examples` (so a new rule
brings its own shapes to the leak tests). Each code is planted three ways:

- as the row number of a workbook (`<row r="CODE">`): the parser's int() fails
  and its message quotes the value (a parse error's reason);
- as the name of a zip member whose data is damaged: zipfile's "Bad CRC-32 for
  file 'NAME'" quotes it, and the error's member is that name;
- as the subject of a mail whose body is the rule's example: the finding's
  member names the message by its subject, and the subject is in its meta.
"""

from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage
from pathlib import Path
from xml.sax.saxutils import quoteattr

from mfaleaks.detect.rules.check import scan_example
from mfaleaks.detect.rules.load import DEFAULT_RULES_DIR, load_pack
from mfaleaks.detect.score import Engine
from mfaleaks.models import Confidence

NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def example_codes() -> dict[str, tuple[str, list[str]]]:
    """rule id -> (its first example's text, every code its examples hold)."""
    pack = load_pack([DEFAULT_RULES_DIR])
    engine = Engine(pack, show_secrets=True, min_confidence=Confidence.LOW)
    out: dict[str, tuple[str, list[str]]] = {}
    for rule in pack.rules:
        codes: dict[str, None] = {}
        for example in rule.examples:
            for f in scan_example(engine, example):
                if f.rule_id == rule.id and f.secrets:
                    # A code wrapped over two lines is planted on one (a subject has one).
                    codes.update(dict.fromkeys(" ".join(c.split(" ")).replace("\n", " ")
                                               for c in f.secrets))
        assert codes, f"{rule.id}: its examples give no codes"
        out[rule.id] = (rule.examples[0].text, list(codes))
    return out


def workbook_with_row(code: str) -> bytes:
    """A workbook whose only row is numbered with `code`: reading it fails quoting it."""
    parts = {
        "[Content_Types].xml": '<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        'content-types"/>',
        "_rels/.rels": f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
        f'relationships"><Relationship Id="r1" Type="{REL}/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<workbook {NS} xmlns:r="{REL}"><sheets><sheet name="Codes" '
        'sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": '<Relationships xmlns="http://schemas.openxmlformats.org/'
        f'package/2006/relationships"><Relationship Id="rId1" Type="{REL}/worksheet" '
        'Target="worksheets/sheet1.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": f'<worksheet {NS}><sheetData><row r={quoteattr(code)}>'
        '<c t="inlineStr"><is><t>x</t></is></c></row></sheetData></worksheet>',
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    return buf.getvalue()


def zip_with_bad_members(names: list[str]) -> bytes:
    """Stored members named `names` whose data no longer matches their CRC."""
    buf = io.BytesIO()
    payload = b"damaged member, nothing to find here\n"
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name in names:
            zf.writestr(name, payload)
    data = buf.getvalue()
    return data.replace(payload, payload.upper())  # same length, wrong CRC


def mbox_with_subjects(messages: list[tuple[str, str]]) -> bytes:
    """One message per (subject, body)."""
    out = []
    for i, (subject, body) in enumerate(messages):
        msg = EmailMessage()
        msg["From"], msg["To"] = "it@example.com", "jd@example.com"
        msg["Subject"] = subject
        msg["Message-ID"] = f"<m{i}@example.com>"
        msg.set_content(body)
        out.append(b"From it@example.com Mon Jan  1 00:00:00 2024\n" + msg.as_bytes() + b"\n")
    return b"".join(out)


def plant_examples(root: Path) -> list[str]:
    """Every example code in a workbook row, a zip member name and a mail subject."""
    folder = root / "examples"
    folder.mkdir(parents=True)
    planted: list[str] = []
    members: list[str] = []
    messages: list[tuple[str, str]] = []
    for n, (rule_id, (text, codes)) in enumerate(sorted(example_codes().items())):
        for k, code in enumerate(codes):
            planted.append(code)
            (folder / f"sheet-{n}-{k}.xlsx").write_bytes(workbook_with_row(code))
            members.append(f"{n}-{k}/{code}.txt")
            messages.append((f"{rule_id} {code}", text))
    (folder / "damaged.zip").write_bytes(zip_with_bad_members(members))
    (folder / "subjects.mbox").write_bytes(mbox_with_subjects(messages))
    return planted
