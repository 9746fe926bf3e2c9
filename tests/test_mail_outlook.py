"""Outlook .msg and .pst/.ost: real files from ../shared, damaged and renamed ones."""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from email.parser import BytesParser
from email.policy import compat32
from pathlib import Path

import pytest

from conftest import corpus
from mfaleaks.extract import EXTRACTORS
from mfaleaks.extract.base import Budget, Context, Limits
from mfaleaks.extract.mailbuild import Attachment, Draft, to_rfc822
from mfaleaks.models import Origin, Skip, Source, TextChunk
from mfaleaks.sources.classify import Kind, classify


def file_source(path: Path) -> Source:
    return Source(Origin(str(path)), path.name, fs_path=str(path), size=path.stat().st_size)


def walk(source: Source, context: Context | None = None) -> Iterator[tuple[Source, object]]:
    context = context or Context(Limits(ocr=False), Budget())
    kind = Kind(source.kind_hint) if source.kind_hint else classify(source)
    extractor = EXTRACTORS.get(kind)
    if extractor is None:
        return
    for item in extractor(source, context):
        yield source, item
        if isinstance(item, Source) and item.kind_hint is not None:
            yield from walk(item, context)


def items(path: Path) -> tuple[list[tuple[str, TextChunk]], list[Source], list[str]]:
    found = list(walk(file_source(path)))
    chunks = [(s.origin.member or "", i) for s, i in found if isinstance(i, TextChunk)]
    children = [i for _, i in found if isinstance(i, Source) and i.kind_hint is None]
    skips = [i.reason for _, i in found if isinstance(i, Skip)]
    return chunks, children, skips


def test_msg_with_transport_headers_and_attachments() -> None:
    chunks, children, skips = items(corpus("outlook-msg") / "unicode.msg")
    [(member, chunk)] = chunks
    assert member == (
        "message <CADtJ4eNjQSkGcBtVteCiTF+YFG89+AcHxK3QZ=-Mt48xygkvdQ@mail.gmail.com> "
        '2013-11-18 brizhou@gmail.com "Test for TIF files"'
    )
    assert chunk.text.startswith("Subject: Test for TIF files\n\nThis is a test email")
    assert [c.name for c in children] == ["import OleFileIO.tif", "raised value error.tif"]
    assert children[0].data is not None and children[0].data[:4] in (b"II*\x00", b"MM\x00*")
    assert children[0].origin.meta["sender"] == "Brian Zhou <brizhou@gmail.com>"
    assert skips == []


@pytest.mark.parametrize(
    ("name", "subject", "text"),
    [
        ("note.msg", "note sample", "Just any information to store in Outlook"),
        ("test_Blammo.msg", "BlammoBlammo", "Blam"),
        ("strangeDate.msg", "MSG Test File", "Purpose: Provide example of this file type"),
        ("Swetlana Novikova.msg", "Swetlana Novikova", ""),
    ],
)
def test_msg_kinds_without_transport_headers(name: str, subject: str, text: str) -> None:
    chunks, _, skips = items(corpus("outlook-msg") / name)
    [(member, chunk)] = chunks
    assert member.startswith("message ") and member.endswith(f'"{subject}"')
    assert chunk.text.startswith(f"Subject: {subject}\n") and text in chunk.text
    assert skips == []


def test_pst_walks_folders_messages_and_attachments() -> None:
    chunks, children, skips = items(corpus("outlook-pst") / "outlook.pst")
    members = [m for m, _ in chunks]
    label = 'message 1 2007-04-29 olteam@microsoft.com "Welcome to Microsoft Office Outlook 2003"'
    assert members == [
        f"Top of Personal Folders/Inbox / {label}",
        f"Top of Personal Folders/Recovered_Group2 / {label}",
    ]
    assert "Thank you for using Microsoft® Office Outlook® 2003!" in chunks[0][1].text
    assert len(children) == 22 and children[0].name == "1.jpg"
    assert children[0].data is not None and children[0].data.startswith(b"\xff\xd8\xff")
    assert children[0].origin.meta["sender"] == "Outlook 2003 Team <olteam@microsoft.com>"
    assert children[0].origin.meta["date"] == "2007-04-29T22:27:33+00:00"
    assert skips == []


def test_damaged_and_renamed_outlook_files_are_reported(tmp_path: Path) -> None:
    rng = random.Random(5)
    pst = (corpus("outlook-pst") / "outlook.pst").read_bytes()
    msg = (corpus("outlook-msg") / "unicode.msg").read_bytes()
    files = {
        "empty.msg": b"",
        "corrupt.msg": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + rng.randbytes(3000),
        "truncated.msg": msg[:9000],
        "random.pst": rng.randbytes(4000),
        "truncated.pst": pst[:20_000],
        "archive.ost": b"!BDN" + rng.randbytes(2000),
        "notes.pst": b"my notes, not an Outlook file\n",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    reasons = {}
    for name in files:
        chunks, _, skips = items(tmp_path / name)
        assert len(skips) == 1, (name, skips)
        reasons[name] = skips[0]
        if name == "notes.pst":
            assert [c.text for _, c in chunks] == ["my notes, not an Outlook file\n"]
    assert reasons["empty.msg"] == "not an Outlook .msg file: the file is empty"
    assert reasons["corrupt.msg"].startswith("Outlook .msg could not be read:")
    assert reasons["truncated.msg"].startswith("Outlook .msg could not be read:")
    assert reasons["random.pst"] == "not an Outlook .pst/.ost file: no PST signature (!BDN)"
    assert reasons["truncated.pst"].startswith("Outlook store damaged or truncated, not read:")
    assert reasons["archive.ost"].startswith("Outlook store damaged or truncated, not read:")
    assert reasons["notes.pst"].endswith("; read as text instead")


def test_msg_named_file_with_mail_inside_is_read_as_mail(tmp_path: Path) -> None:
    shutil.copy(corpus("real-mail") / "mail_test_16", tmp_path / "saved.msg")
    chunks, _, skips = items(tmp_path / "saved.msg")
    assert skips == ["not an Outlook .msg file: no OLE signature; read as eml instead"]
    assert chunks[0][0].endswith('"Test spam mail (GTUBE)"')


def test_outlook_drafts_become_mime_that_round_trips() -> None:
    inner = to_rfc822(Draft(subject="inner", sender="b@example.com", plain="inner body"))
    raw = to_rfc822(Draft(
        transport_headers="Received: from x\r\n by y\r\nContent-Type: text/plain\r\n"
                          "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nFrom: a@example.com\r\n",
        subject="ignored: the transport headers have one",
        plain="plain ✓", html="<p>html ✓</p>",
        attachments=[Attachment("Résumé.pdf", b"%PDF-1.4", "application/pdf")],
        embedded=[inner],
    ))
    msg = BytesParser(policy=compat32).parsebytes(raw)
    assert msg["Subject"] == "=?utf-8?q?Gr=C3=BC=C3=9Fe?=" and msg["Received"].startswith("from x")
    assert msg.get_content_type() == "multipart/mixed" and not msg.defects
    types = [p.get_content_type() for p in msg.walk()]
    assert types == ["multipart/mixed", "multipart/alternative", "text/plain", "text/html",
                     "application/pdf", "message/rfc822", "multipart/mixed", "text/plain"]
    parts = list(msg.walk())
    assert parts[2].get_payload(decode=True) == "plain ✓".encode()
    assert parts[4].get_filename() == "Résumé.pdf"
