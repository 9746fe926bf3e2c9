"""Test mailboxes built from scratch: messages, mbox files, Maildirs, big mboxes.

Codes are random and follow Google's backup-code sheet (ten `4821 7730` codes,
numbered in two columns, with Google's own wording), so the real rule engine
has to recognise them as it would in a leaked mailbox.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.encoders import encode_base64
from email.mime.application import MIMEApplication
from email.mime.base import MIMEBase
from email.mime.image import MIMEImage
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.parser import BytesParser
from email.policy import compat32
from email.utils import format_datetime
from pathlib import Path
from typing import BinaryIO

from gen_archives import zip_bytes

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def google_codes(rng: random.Random, n: int = 10) -> list[str]:
    return [f"{rng.randrange(10_000):04d} {rng.randrange(10_000):04d}" for _ in range(n)]


def google_sheet(codes: list[str], account: str, generated: datetime) -> str:
    """The text of Google's Backup-codes-<user>.txt download."""
    rows = [f"{i + 1}. {codes[i]}        {i + 6}. {codes[i + 5]}" for i in range(5)]
    return "\n".join([
        "SAVE YOUR BACKUP CODES",
        "Keep these backup codes somewhere safe but accessible.",
        "",
        *rows,
        "",
        f"({account})",
        "* You can only use each backup code once.",
        "* Need more? Visit g.co/2sv",
        f"* These codes were generated on: {generated.strftime('%b %-d, %Y')}",
        "",
    ])


def google_html(codes: list[str], account: str) -> str:
    cells = "".join(
        f"<tr><td>{i + 1}.&nbsp;<b>{codes[i]}</b></td>"
        f"<td>{i + 6}.&nbsp;<b>{codes[i + 5]}</b></td></tr>"
        for i in range(5)
    )
    return (
        '<html><head><style>td { font-family: "Roboto Mono"; }</style></head><body>'
        "<h2 style='color:#202124'>SAVE YOUR BACKUP CODES</h2>"
        "<p>Keep these backup codes somewhere safe but accessible.</p>"
        f"<table>{cells}</table><p>({account})</p>"
        "<ul><li>You can only use each backup code once.</li>"
        "<li>Need more? Visit <a href='https://g.co/2sv'>g.co/2sv</a></li></ul>"
        "</body></html>"
    )


@dataclass
class Mail:
    sender: str
    to: str
    subject: str
    date: datetime
    message_id: str
    text: str | None = None
    html: str | None = None
    attachments: tuple[MIMEBase, ...] = ()
    forwarded: tuple[bytes, ...] = ()
    charset: str = "utf-8"

    def build(self) -> bytes:
        if self.text is not None and self.html is not None:
            body: MIMEBase = MIMEMultipart("alternative")
            body.attach(MIMEText(self.text, "plain", self.charset))
            body.attach(MIMEText(self.html, "html", self.charset))
        elif self.html is not None:
            body = MIMEText(self.html, "html", self.charset)
        else:
            body = MIMEText(self.text or "", "plain", self.charset)
        parser = BytesParser(policy=compat32)
        extra = [*self.attachments, *(MIMEMessage(parser.parsebytes(f)) for f in self.forwarded)]
        if extra:
            outer = MIMEMultipart("mixed")
            outer.attach(body)
            for part in extra:
                outer.attach(part)
            msg: MIMEBase = outer
        else:
            msg = body
        msg["From"] = self.sender
        msg["To"] = self.to
        msg["Subject"] = self.subject
        msg["Date"] = format_datetime(self.date)
        msg["Message-ID"] = self.message_id
        # Bodies keep their "From " lines unescaped, as Google Takeout writes them.
        return msg.as_bytes(policy=compat32.clone(mangle_from_=False))


def attachment(name: str, data: bytes, ctype: str = "application/octet-stream") -> MIMEBase:
    main, sub = ctype.split("/")
    if main == "text":
        part: MIMEBase = MIMEText(data.decode("utf-8"), sub, "utf-8")  # base64 for utf-8
    elif main == "image":
        part = MIMEImage(data, sub)
    elif main == "application":
        part = MIMEApplication(data, sub)
    else:
        part = MIMEBase(main, sub)
        part.set_payload(data)
        encode_base64(part)
    part.add_header("Content-Disposition", "attachment", filename=name)
    return part


zip_of = zip_bytes


def screenshot(text: str, scale: int = 1) -> bytes:
    """A light-mode screenshot of some text, as a phone or desktop would save it."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(FONT, 22 * scale)
    lines = text.splitlines()
    img = Image.new("RGB", (900 * scale, (60 + 34 * len(lines)) * scale), "white")
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((40 * scale, (30 + 34 * i) * scale), line, fill=(32, 33, 36), font=font)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _d4(rng: random.Random) -> str:
    return f"{rng.randrange(10**4):04d}"


def message_id(rng: random.Random, host: str = "mail.example.com") -> str:
    return f"<{rng.getrandbits(64):016x}.{rng.randrange(10**6)}@{host}>"


def envelope(sender: str, date: datetime) -> bytes:
    """A Google Takeout style separator line."""
    stamp = date.astimezone(UTC).strftime("%a %b %d %H:%M:%S +0000 %Y")
    return f"From {sender} {stamp}\n".encode()


def mbox(messages: Iterable[tuple[str, datetime, bytes]]) -> bytes:
    out = []
    for sender, date, data in messages:
        body = data.replace(b"\r\n", b"\n")
        out.append(envelope(sender, date) + body.rstrip(b"\n") + b"\n\n")
    return b"".join(out)


NOISE_SUBJECTS = (
    "Your order has shipped", "Team lunch on Friday", "Invoice for April", "Re: quarterly numbers",
    "Meeting notes", "Your parcel is on its way", "Password policy reminder", "Holiday rota",
)


def noise(rng: random.Random, when: datetime) -> Mail:
    """Ordinary mail with numbers that look like codes but are not."""
    kind = rng.randrange(4)
    if kind == 0:
        text = (
            f"Hello,\n\nyour order {_d4(rng)} {_d4(rng)} has shipped.\n"
            f"Tracking number: 1Z99 {_d4(rng)} {_d4(rng)}\n"
            "Order total: 84.20 EUR\n\nThank you for shopping with us.\n"
        )
    elif kind == 1:
        text = (
            "Hi all,\n\nFrom now on we meet on Fridays at 12:30 in the canteen.\n"
            "From the kitchen: please bring your own mug.\n\n"
            f"Call me on +49 30 {_d4(rng)} {_d4(rng)} if lost.\n"
        )
    elif kind == 2:
        text = (
            "Reminder: use a password manager and turn on two-factor authentication.\n"
            "Never send backup codes or recovery codes by email. Store them offline.\n"
        )
    else:
        rows = "\n".join(
            f"{rng.randrange(1, 29):02d}.04.2024  {_d4(rng)} {_d4(rng)}"
            f"  {rng.randrange(100, 999)}.{rng.randrange(10, 99)}"
            for _ in range(6)
        )
        text = f"Statement of account\n\nDate        Reference   Amount\n{rows}\n"
    return Mail(
        sender="Carol Jones <carol.jones@example.org>",
        to="alice.martin@example.com",
        subject=rng.choice(NOISE_SUBJECTS),
        date=when,
        message_id=message_id(rng),
        text=text,
    )


@dataclass(frozen=True)
class Planted:
    case: str
    number: int  # message number in the mbox
    message_id: str
    member_suffix: str  # what follows the message label in the finding's member
    sender: str
    date: datetime


def planted_mailbox(rng: random.Random, *, with_images: bool = True) -> tuple[bytes, list[Planted]]:
    """An mbox with codes in six places, between ordinary messages."""
    account = "alice.martin@gmail.com"
    me = f"Alice Martin <{account}>"
    start = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    out: list[tuple[str, datetime, bytes]] = []
    planted: list[Planted] = []

    def add(mail: Mail, case: str | None = None, suffix: str = "") -> None:
        out.append((account, mail.date, mail.build()))
        if case is not None:
            planted.append(Planted(case, len(out), mail.message_id, suffix, mail.sender, mail.date))

    def when() -> datetime:
        return start + timedelta(days=len(out), hours=rng.randrange(8))

    def sheet() -> str:
        return google_sheet(google_codes(rng), account, when())

    add(noise(rng, when()))
    add(Mail(me, account, "my google backup codes", when(), message_id(rng), text=sheet()), "plain")
    add(noise(rng, when()))
    html = google_html(google_codes(rng), account)
    add(Mail(me, account, "codes", when(), message_id(rng), html=html), "html")
    add(noise(rng, when()))
    att = attachment("Backup-codes-alice.txt", sheet().encode(), "text/plain")
    mail = Mail(me, account, "backup", when(), message_id(rng), text="see attached\n")
    mail.attachments = (att,)
    add(mail, "attachment", " / Backup-codes-alice.txt")
    helpdesk = "helpdesk@example.com"
    inner = Mail(me, helpdesk, "Google backup codes", when(), message_id(rng), text=sheet())
    add(Mail("Help Desk <helpdesk@example.com>", account, "Fwd: Google backup codes", when(),
             message_id(rng), text="Forwarding as requested.\n", forwarded=(inner.build(),)),
        "forwarded", f" / forwarded message {inner.message_id}")
    add(noise(rng, when()))
    archive = zip_of({"Backup-codes-alice.txt": sheet().encode()})
    zatt = attachment("old-phone-backup.zip", archive, "application/zip")
    add(Mail(me, account, "phone backup", when(), message_id(rng), text="zip from my old phone\n",
             attachments=(zatt,)), "zip", " / old-phone-backup.zip / Backup-codes-alice.txt")
    if with_images:
        png = screenshot(sheet())
        iatt = attachment("Screenshot 2024-05-09 at 10.12.44.png", png, "image/png")
        add(Mail(me, account, "screenshot", when(), message_id(rng), text="from my phone\n",
                 attachments=(iatt,)), "screenshot", " / Screenshot 2024-05-09 at 10.12.44.png")
    add(noise(rng, when()))
    return mbox(out), planted


def write_maildir(root: Path, messages: list[bytes], sent: Iterable[bytes] = ()) -> list[str]:
    """A Maildir (cur/new/tmp) with a Maildir++ .Sent subfolder; returns member names."""
    names = []
    for folder, msgs in ((root, messages), (root / ".Sent", list(sent))):
        for part in ("cur", "new", "tmp"):
            (folder / part).mkdir(parents=True, exist_ok=True)
        for i, data in enumerate(msgs):
            sub = "cur" if i % 2 == 0 else "new"
            name = f"17145600{i:02d}.M{i}P4242.mailhost" + (":2,S" if sub == "cur" else "")
            (folder / sub / name).write_bytes(data)
            names.append((folder / sub / name).relative_to(root).as_posix())
    return names


def write_big_mbox(fh: BinaryIO, size: int, rng: random.Random) -> int:
    """An mbox of about `size` bytes, most of it attachments, for the benchmark.

    Mixes what mailboxes carry: text bodies, HTML newsletters, PDFs-as-binary,
    CSV exports, zips and small images; a few messages hold codes.
    """
    blobs = {
        "report.bin": (rng.randbytes(180_000), "application/octet-stream"),
        "export.csv": ("\n".join(
            f"{i},{rng.randrange(10**6)},{rng.random():.4f},item {i}" for i in range(3000)
        ).encode(), "text/csv"),
        "photos.zip": (zip_of({f"p{i}.txt": rng.randbytes(20_000) for i in range(4)}),
                       "application/zip"),
        "logo.png": (screenshot("ACME Corp  quarterly report"), "image/png"),
    }
    names = list(blobs)
    written = 0
    n = 0
    start = datetime(2020, 1, 1, tzinfo=UTC)
    while written < size:
        n += 1
        when = start + timedelta(minutes=37 * n)
        if n % 500 == 0:
            text = google_sheet(google_codes(rng), "alice@example.com", when)
            mail = Mail("Alice <alice@example.com>", "alice@example.com", "backup codes", when,
                        message_id(rng), text=text)
        else:
            mail = noise(rng, when)
            picks = rng.sample(names, rng.randrange(0, 3))
            mail.attachments = tuple(attachment(p, *blobs[p]) for p in picks)
            if n % 3 == 0:
                mail.html = f"<html><body>{('<p>' + (mail.text or '') + '</p>') * 20}</body></html>"
        data = mbox([("alice@example.com", when, mail.build())])
        fh.write(data)
        written += len(data)
    return n


def mails_with_picture(folder: Path, picture: bytes, count: int = 12) -> list[int]:
    """`count` mails (mail0.eml...) of different sizes, each with `picture` attached as
    codes.png, written to a new `folder`; their sizes (which lane or worker takes each)."""
    from email.message import EmailMessage

    folder.mkdir()
    sizes = []
    for i in range(count):
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "a@example.com", "b@example.com", f"notes {i}"
        msg.set_content("see the picture\n" + "x" * (97 * i))
        msg.add_attachment(picture, maintype="image", subtype="png", filename="codes.png")
        path = folder / f"mail{i}.eml"
        path.write_bytes(bytes(msg))
        sizes.append(path.stat().st_size)
    return sizes
