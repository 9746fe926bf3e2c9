"""Mail extraction without the rule engine: splitting, MIME walking, labels, damage."""

from __future__ import annotations

import base64
import io
import random
import re
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mfaleaks.extract import EXTRACTORS
from mfaleaks.extract.base import Budget, Context, Limits
from mfaleaks.extract.mail import extract_eml
from mfaleaks.extract.mailhead import mask_codes, read_info
from mfaleaks.extract.mbox import extract_mbox, split_mbox
from mfaleaks.models import Origin, Skip, Source, TextChunk
from mfaleaks.sources.classify import Kind, classify
from mfaleaks.sources.maildir import is_maildir, maildir_sources

sys.path.insert(0, str(Path(__file__).parent))
import gen_mail as gen

WHEN = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)


def ctx(**limits: object) -> Context:
    return Context(Limits(ocr=False, **limits), Budget())  # type: ignore[arg-type]


def source_of(data: bytes, name: str = "box") -> Source:
    return Source(Origin(name), name, data=data, size=len(data))


def walk(source: Source, context: Context | None = None) -> Iterator[tuple[Source, object]]:
    """Every item the mail extractors produce, recursing into mail children only."""
    context = context or ctx()
    kind = Kind(source.kind_hint) if source.kind_hint else classify(source)
    for item in EXTRACTORS[kind](source, context):
        yield source, item
        if isinstance(item, Source) and item.kind_hint == Kind.EML.value:
            yield from walk(item, context)


def chunks(source: Source) -> list[tuple[str, TextChunk]]:
    return [(s.origin.member or "", i) for s, i in walk(source) if isinstance(i, TextChunk)]


def skips(source: Source) -> list[str]:
    return [i.reason for _, i in walk(source) if isinstance(i, Skip)]


def attachments(source: Source) -> list[Source]:
    return [i for _, i in walk(source) if isinstance(i, Source) and i.kind_hint is None]


def simple(subject: str = "hello", text: str = "body text\n", **kw: object) -> bytes:
    rng = random.Random(7)
    mail = gen.Mail("Alice <alice@example.com>", "bob@example.com", subject, WHEN,
                    gen.message_id(rng), text=text)
    for key, value in kw.items():
        setattr(mail, key, value)
    return mail.build()


# --- mbox splitting -------------------------------------------------------------------


TRICKY = (
    b"From alice@example.com Wed May  1 09:30:00 2024\n"
    b"From: alice@example.com\nSubject: one\n\n"
    b"From now on the codes are in the safe.\n"
    b"From bob yesterday: see below\n"
    b"From alice@example.com\n"
    b"\n"
    b"From 1768437264426437041@xxx Tue Jan 09 09:48:13 +0000 2024\r\n"
    b"From: bob@example.com\r\nSubject: two\r\n\r\nline\r\n\r\n"
    b"From - Sat Jan  3 01:05:34 1996\n"
    b"Subject: three\n\nFrom the kitchen: mugs.\n"
    b"From MAILER-DAEMON Thu, 9 Jan 2024 09:48:13 +0000\n"
    b"Subject: four\n\nbody"
)


def test_separators_are_whole_from_lines_not_any_from() -> None:
    raws = list(split_mbox(io.BytesIO(TRICKY), 1 << 20))
    subjects = [read_info(r.data or b"").subject for r in raws]
    assert subjects == ["one", "two", "three", "four"]
    assert b"From now on" in (raws[0].data or b"") and b"From the kitchen" in (raws[2].data or b"")
    assert raws[0].offset == 0 and raws[1].offset == TRICKY.index(b"From 17684")


@pytest.mark.parametrize("block", [1, 2, 5, 7, 13, 64, 1000])
def test_splitting_does_not_depend_on_block_boundaries(block: int) -> None:
    whole = [(r.offset, r.data) for r in split_mbox(io.BytesIO(TRICKY), 1 << 20)]
    small = [(r.offset, r.data) for r in split_mbox(io.BytesIO(TRICKY), 1 << 20, block=block)]
    assert small == whole
    assert b"".join(d or b"" for _, d in small) == TRICKY


def test_endless_line_and_oversized_message_keep_the_rest() -> None:
    big = b"From a@b Wed May  1 09:30:00 2024\nSubject: big\n\n" + b"x" * 50_000 + b"\n"
    small = b"From a@b Wed May  1 09:31:00 2024\nSubject: small\n\nok\n"
    raws = list(split_mbox(io.BytesIO(big + small), limit=10_000, block=4096))
    assert [r.data is None for r in raws] == [True, False]
    assert raws[0].size == len(big) and read_info(raws[1].data or b"").subject == "small"
    items = list(extract_mbox(source_of(big + small), ctx(max_member_size=10_000)))
    assert any(isinstance(i, Skip) and "message 1" in i.reason for i in items)
    assert [i.origin.chain[-1][:9] for i in items if isinstance(i, Source)] == ["message 2"]


def test_text_before_the_first_separator_is_a_message_only_when_not_blank() -> None:
    assert len(list(split_mbox(io.BytesIO(b"\n\n" + TRICKY), 1 << 20))) == 4
    assert len(list(split_mbox(io.BytesIO(b"junk line\n" + TRICKY), 1 << 20))) == 5


def test_an_mbox_that_starts_with_blank_lines_is_still_an_mbox() -> None:
    for lead in (b"\n", b"\n\n", b"\r\n\r\n"):
        source = Source(Origin("box"), name="box", data=lead + TRICKY, size=len(lead + TRICKY))
        assert classify(source) is Kind.MBOX, lead
    text = b"\n\nMeeting notes\nFrom alice@example.com Wed May  1 09:30:00 2024\n"
    assert classify(Source(Origin("t"), name="t", data=text, size=len(text))) is Kind.TEXT


def test_mbox_messages_are_labelled_and_carry_date_and_sender() -> None:
    rng = random.Random(3)
    mails = [
        gen.Mail("Alice Martin <alice@example.com>", "bob@example.com, Carol <carol@example.org>",
                 f"note {i} for you", WHEN, gen.message_id(rng), text="hi\n")
        for i in range(3)
    ]
    data = gen.mbox(("alice@example.com", m.date, m.build()) for m in mails)
    children = [i for i in extract_mbox(source_of(data), ctx()) if isinstance(i, Source)]
    assert [c.origin.chain for c in children] == [
        (f'message {i + 1} {m.message_id} 2024-05-01 alice@example.com "note {i} for you"',)
        for i, m in enumerate(mails)
    ]
    meta = children[1].origin.meta
    assert meta["date"] == "2024-05-01T09:30:00+00:00"
    assert meta["sender"] == "Alice Martin <alice@example.com>"
    assert meta["recipients"] == "bob@example.com, carol@example.org"
    assert meta["message_id"] == mails[1].message_id and meta["subject"] == "note 1 for you"


def test_a_multi_gigabyte_mailbox_is_not_stopped_by_the_expansion_budget() -> None:
    # Messages split from an mbox are the file's own bytes: the budget gets them back.
    data = gen.mbox(("a@b", WHEN, simple(f"m{i}", "x" * 4000 + "\n")) for i in range(20))
    context = ctx(max_expanded=10_000)
    context.budget.expanded = 5_000
    seen = 0
    for item in extract_mbox(source_of(data), context):
        if isinstance(item, Source):
            context.budget.expanded += item.size  # what the pipeline charges
            seen += 1
    assert seen == 20 and context.budget.expanded == 5_000


def test_subject_masks_code_like_tokens_in_labels() -> None:
    assert mask_codes("codes 4821 7730 and 2210-0043") == "codes #### #### and ####-####"
    assert mask_codes("github abcde-01234, seed JBSWY3DPEHPK3PXP") == (
        "github #####-#####, seed ################"
    )
    assert mask_codes("Outlook 2003 order #12345") == "Outlook 2003 order #12345"
    data = simple("my codes 4821 7730 6617 0045")
    child = next(i for i in extract_eml(source_of(data, "x.eml"), ctx()) if isinstance(i, Source))
    assert "4821" not in (child.origin.member or "") and "4821" not in child.origin.meta["subject"]
    # The body chunk keeps the real subject for the rule engine.
    assert chunks(source_of(data, "x.eml"))[0][1].text.startswith("Subject: my codes 4821 7730")


# --- MIME walking ---------------------------------------------------------------------


def test_eml_body_chunk_starts_with_subject_and_names_the_message() -> None:
    data = simple("Your backup codes", "line one\nline two\n")
    [(member, chunk)] = chunks(source_of(data, "note.eml"))
    assert member.startswith("message <")
    assert member.endswith('alice@example.com "Your backup codes"')
    assert chunk.text == "Subject: Your backup codes\n\nline one\nline two\n\n"
    assert chunk.source == "mail" and chunk.anchors == ((0, "subject"), (28, "body"))


def test_html_only_body_is_text_with_rows_and_no_markup() -> None:
    codes = gen.google_codes(random.Random(5))
    data = simple(text=None, html=gen.google_html(codes, "a@gmail.com"))  # type: ignore[arg-type]
    [(_, chunk)] = chunks(source_of(data))
    assert "<" not in chunk.text and "font-family" not in chunk.text and "&nbsp;" not in chunk.text
    # One table row per line (cells are separated by a tab or a space, see htmltext).
    assert re.search(rf"^1\. {codes[0]}[\t ]+6\. {codes[5]}$", chunk.text, re.M)
    assert dict((label, off) for off, label in chunk.anchors).keys() == {"subject", "html body"}


def test_alternative_keeps_one_body_unless_plain_is_a_stub() -> None:
    full = simple(html="<p>same words here for both</p>", text="same words here for both\n")
    [(_, chunk)] = chunks(source_of(full))
    assert chunk.text.count("same words") == 1 and chunk.anchors[-1][1] == "body"
    stub = simple(html="<table><tr><td>4821 7730</td></tr>" * 20 + "</table>", text="see HTML\n")
    [(_, chunk)] = chunks(source_of(stub))
    assert chunk.anchors[-1][1] == "html body" and chunk.text.count("4821 7730") == 20


@pytest.mark.parametrize(
    ("declared", "payload", "expected"),
    [
        ("iso-8859-1", "Bestätigung in zwei Schritten".encode(), "Bestätigung"),  # UTF-8 as latin-1
        ("us-ascii", "códigos de respaldo".encode("cp1252"), "códigos"),  # 8-bit labelled ASCII
        ("x-unknown-charset", "Резервные коды".encode(), "Резервные"),  # unknown label
        ("utf-8", "Résumé".encode("cp1252"), "Résumé"),  # cp1252 labelled UTF-8
        ("shift_jis", "バックアップ コード".encode("shift_jis"), "バックアップ"),
    ],
)
def test_wrong_and_unknown_charset_labels(declared: str, payload: bytes, expected: str) -> None:
    raw = (
        b"From: a@example.com\nSubject: x\nMIME-Version: 1.0\n"
        b"Content-Type: text/plain; charset=" + declared.encode() + b"\n"
        b"Content-Transfer-Encoding: 8bit\n\n" + payload + b"\n"
    )
    [(_, chunk)] = chunks(source_of(raw))
    assert expected in chunk.text


def test_encoded_headers_and_quoted_printable() -> None:
    raw = (
        b"From: =?utf-8?q?J=C3=BCrgen?= <j@example.de>\n"
        b"Subject: =?iso-8859-1?q?Best=E4tigung?= in =?utf-8?b?enfDpGk=?= Schritten\n"
        b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"
        b"4821 77=\n30 soft break, caf=C3=A9\n"
    )
    [(member, chunk)] = chunks(source_of(raw))
    assert chunk.text.startswith("Subject: Bestätigung in zwäi Schritten\n")
    assert "4821 7730 soft break, café" in chunk.text
    assert member.endswith('j@example.de "Bestätigung in zwäi Schritten"')


def test_attachments_are_child_sources_with_their_names_and_decoded_bytes() -> None:
    rng = random.Random(9)
    png = b"\x89PNG\r\n\x1a\n" + rng.randbytes(500)
    atts = (
        gen.attachment("Backup-codes-alice.txt", b"1. 4821 7730\n", "text/plain"),
        gen.attachment("shot.png", png, "image/png"),
        gen.attachment("=?utf-8?b?UsOpc3Vtw6kucGRm?=", b"%PDF-1.4 x", "application/pdf"),
    )
    data = simple(attachments=atts)
    found = attachments(source_of(data))
    assert [a.name for a in found] == ["Backup-codes-alice.txt", "shot.png", "Résumé.pdf"]
    assert found[0].data == b"1. 4821 7730\n" and found[1].data == png
    assert found[1].origin.chain[-1] == "shot.png" and found[1].origin.meta["sender"]
    assert found[1].depth == 2  # box -> message -> attachment


def test_forwarded_message_is_its_own_labelled_child() -> None:
    rng = random.Random(4)
    inner = gen.Mail("Alice <alice@example.com>", "helpdesk@example.com", "Google backup codes",
                     WHEN, gen.message_id(rng), text="inner body\n")
    outer = simple("Fwd: codes", "see below\n", forwarded=(inner.build(),))
    members = dict(chunks(source_of(outer)))
    assert len(members) == 2
    inner_member = next(m for m in members if " / forwarded message " in m)
    label = f'{inner.message_id} 2024-05-01 alice@example.com "Google backup codes"'
    assert inner_member.endswith(label)
    assert members[inner_member].text.startswith("Subject: Google backup codes\n\ninner body")


def test_nested_multiparts_and_rfc2231_names() -> None:
    raw = (
        b'From: a@example.com\nSubject: n\nContent-Type: multipart/mixed; boundary="A"\n\n'
        b'--A\nContent-Type: multipart/related; boundary="B"\n\n'
        b"--B\nContent-Type: text/html\n\n<p>outer html</p>\n"
        b"--B\nContent-Type: image/png\nContent-Transfer-Encoding: base64\n\n"
        + base64.encodebytes(b"\x89PNG\r\n\x1a\nimage") +
        b"--B--\n"
        b"--A\nContent-Type: application/octet-stream\n"
        b"Content-Disposition: attachment; filename*=utf-8''c%C3%B3digos.txt\n\nplain\n"
        b"--A--\n"
    )
    source = source_of(raw)
    [(_, chunk)] = chunks(source)
    assert "outer html" in chunk.text
    found = attachments(source)
    assert [a.name for a in found] == ["part-1.2.png", "códigos.txt"]
    assert found[0].origin.chain[-1] == "part 1.2 (image/png)"


# --- damage ---------------------------------------------------------------------------


def test_broken_base64_is_decoded_as_far_as_it_goes() -> None:
    good = base64.encodebytes(b"1. 4821 7730\n2. 6617 0045\n" * 20)
    raw = (
        b'From: a@example.com\nSubject: b\nContent-Type: multipart/mixed; boundary="A"\n\n'
        b"--A\nContent-Type: text/plain\n\nbody\n"
        b"--A\nContent-Type: text/plain; name=codes.txt\nContent-Transfer-Encoding: base64\n"
        b"Content-Disposition: attachment; filename=codes.txt\n\n" + good[:-7] + b"\n"
        b"--A\nContent-Type: application/octet-stream; name=junk.bin\n"
        b"Content-Transfer-Encoding: base64\n\n!!!@@@###\n"
        b"--A--\n"
    )
    source = source_of(raw)
    found = {a.name: a.data or b"" for a in attachments(source)}
    assert found["codes.txt"].startswith(b"1. 4821 7730\n2. 6617 0045\n1. 4821")
    reasons = skips(source)
    assert any("base64 damaged" in r for r in reasons)
    assert any("invalid characters" in r for r in reasons)
    assert chunks(source)[0][1].text.endswith("body\n\n")


def test_truncated_mbox_reports_the_cut_message_and_reads_the_rest() -> None:
    att = gen.attachment("Backup-codes-alice.txt", b"1. 4821 7730\n" * 200, "text/plain")
    mails = [simple("first"), simple("second", attachments=(att,))]
    data = gen.mbox(("a@b", WHEN, m) for m in mails)
    cut = data[: len(data) - 1500]
    source = source_of(cut)
    members = [m for m, _ in chunks(source)]
    assert len(members) == 2 and "first" in members[0] and "second" in members[1]
    assert any("closing boundary missing" in r for r in skips(source))
    partial = attachments(source)[0].data or b""
    assert partial.startswith(b"1. 4821 7730\n") and len(partial) > 1000


def test_broken_boundary_still_reads_the_text() -> None:
    raw = (
        b'From: a@example.com\nSubject: s\nContent-Type: multipart/mixed; boundary="declared"\n\n'
        b"Content-Type: text/plain\n\nthe words are still here\n"
    )
    source = source_of(raw)
    assert "the words are still here" in chunks(source)[0][1].text
    assert skips(source) == ["MIME start boundary never found: read as plain text"]


def test_parts_are_recovered_when_the_body_uses_another_boundary() -> None:
    codes = base64.encodebytes(b"Backup codes:\n1. 4821 7730\n2. 6617 0045\n")
    raw = (
        b'From: a@example.com\nSubject: s\nContent-Type: multipart/mixed; boundary="declared"\n\n'
        b"--used\nContent-Type: text/plain\n\nbody words\n"
        b"--used\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n"
        b"Content-Disposition: attachment; filename=codes.txt\n\n" + codes + b"--used--\n"
    )
    source = source_of(raw)
    assert chunks(source)[0][1].text == "Subject: s\n\nbody words\n\n"
    assert [(a.name, a.data) for a in attachments(source)] == [
        ("codes.txt", b"Backup codes:\n1. 4821 7730\n2. 6617 0045\n")
    ]
    assert skips(source) == [
        "MIME boundary in the header is not the one the body uses: parts split on the one it uses"
    ]


def test_oversized_message_file_is_skipped_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "big.eml"
    path.write_bytes(simple("big", "x" * 20_000 + "\n"))
    source = Source(Origin(str(path)), path.name, fs_path=str(path), size=path.stat().st_size)
    items = list(extract_eml(source, ctx(max_member_size=10_000)))
    assert items == [Skip("message larger than 10000 bytes: not read")]


def test_garbage_and_headerless_input_do_not_crash() -> None:
    rng = random.Random(2)
    for data in (b"", b"\x00" * 100, rng.randbytes(5000), b"no headers at all\n\nbody",
                 b"Subject: " + b"x" * 300_000 + b"\n\nbody", b"From: a\n" * 10_000):
        for item in walk(replace(source_of(data), kind_hint="eml")):
            assert isinstance(item[1], Source | Skip | TextChunk)


# --- Maildir --------------------------------------------------------------------------


def test_maildir_sources_name_the_message_files(tmp_path: Path) -> None:
    mails = [simple(f"m{i}") for i in range(3)]
    names = gen.write_maildir(tmp_path / "Maildir", mails, sent=[simple("sent one")])
    (tmp_path / "Maildir" / "dovecot-uidlist").write_text("3 V1 N4\n")
    assert is_maildir(tmp_path / "Maildir") and not is_maildir(tmp_path)
    sources = list(maildir_sources(tmp_path / "Maildir"))
    assert sorted(s.origin.member or "" for s in sources) == sorted(names)
    assert {s.origin.path for s in sources} == {str(tmp_path / "Maildir")}
    assert any(s.origin.member and s.origin.member.startswith(".Sent/cur/") for s in sources)
    member = chunks(sources[0])[0][0]
    assert member.startswith(f"{sources[0].origin.member} / message <")
