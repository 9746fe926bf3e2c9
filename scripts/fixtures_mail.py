"""Mail part of the demo share: a Takeout mbox, a help-desk .eml, a Maildir, negatives.

Everything is built from the rng (MIME boundaries included), so the share is
the same on every run. Codes are random and belong to no account.
"""

from __future__ import annotations

import base64
import random
import string
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

HEX = "0123456789abcdef"
LOWER = string.ascii_lowercase + string.digits
Expect = dict[str, str | None]


def build(root: Path, rng: random.Random) -> list[Expect]:
    out: list[Expect] = []
    base = root / "mail"
    base.mkdir(parents=True, exist_ok=True)
    out += _takeout(base / "Takeout" / "Mail" / "All mail Including Spam and Trash.mbox", rng)
    out += _helpdesk(base / "helpdesk" / "ticket-4411.eml", rng)
    out += _maildir(base / "Maildir", rng)
    out += _negatives(base / "Takeout" / "Mail" / "Newsletters.mbox", rng)
    return [{**e, "path": Path(str(e["path"])).relative_to(root).as_posix()} for e in out]


class _Mails:
    """Small deterministic RFC 822 writer (the stdlib picks random boundaries)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.when = datetime(2024, 3, 4, 8, 12, tzinfo=UTC)

    def ident(self) -> str:
        return f"<{self.rng.getrandbits(60):015x}@mail.gmail.com>"

    def tick(self) -> datetime:
        self.when += timedelta(hours=self.rng.randrange(5, 70), minutes=self.rng.randrange(60))
        return self.when

    def message(
        self, sender: str, to: str, subject: str, *, text: str | None = None,
        html: str | None = None, files: tuple[tuple[str, str, bytes], ...] = (),
        forwarded: bytes | None = None, msgid: str | None = None,
    ) -> bytes:
        head = (f"From: {sender}\nTo: {to}\nSubject: {subject}\n"
                f"Date: {format_datetime(self.tick())}\nMessage-ID: {msgid or self.ident()}\n"
                "MIME-Version: 1.0\n")
        body = _text_part(text, "plain") if text is not None else _text_part(html or "", "html")
        if not files and forwarded is None:
            return (head + body).encode()
        boundary = f"000000000000{self.rng.getrandbits(48):012x}"
        parts = [body]
        for name, ctype, data in files:
            encoded = base64.encodebytes(data).decode()
            parts.append(f'Content-Type: {ctype}; name="{name}"\n'
                         f'Content-Disposition: attachment; filename="{name}"\n'
                         f"Content-Transfer-Encoding: base64\n\n{encoded}")
        if forwarded is not None:
            parts.append("Content-Type: message/rfc822\n\n" + forwarded.decode())
        joined = "".join(f"--{boundary}\n{p.rstrip()}\n" for p in parts)
        return (head + f'Content-Type: multipart/mixed; boundary="{boundary}"\n\n'
                + joined + f"--{boundary}--\n").encode()


def _text_part(text: str, sub: str) -> str:
    if text.isascii():
        return f"Content-Type: text/{sub}; charset=UTF-8\n\n{text}"
    encoded = base64.encodebytes(text.encode()).decode()
    return (f"Content-Type: text/{sub}; charset=UTF-8\nContent-Transfer-Encoding: base64\n\n"
            f"{encoded}")


def _mbox(path: Path, messages: list[bytes], sender: str, when: datetime) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    chunks = []
    for i, data in enumerate(messages):
        stamp = (when + timedelta(days=i)).strftime("%a %b %d %H:%M:%S +0000 %Y")
        chunks.append(f"From {sender} {stamp}\n".encode() + data.rstrip(b"\n") + b"\n\n")
    path.write_bytes(b"".join(chunks))


def _pick(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _google_sheet(rng: random.Random, account: str) -> str:
    codes = [f"{rng.randrange(10**4):04d} {rng.randrange(10**4):04d}" for _ in range(10)]
    rows = [f"{i + 1}. {codes[i]}        {i + 6}. {codes[i + 5]}" for i in range(5)]
    return ("SAVE YOUR BACKUP CODES\nKeep these backup codes somewhere safe but accessible.\n\n"
            + "\n".join(rows) + f"\n\n({account})\n* You can only use each backup code once.\n"
            "* Need more? Visit g.co/2sv\n* These codes were generated on: Mar 3, 2024\n")


def _takeout(path: Path, rng: random.Random) -> list[Expect]:
    mails = _Mails(rng)
    me, account = "Dana Whitfield <dana.whitfield@gmail.com>", "dana.whitfield@gmail.com"
    discord = "\r\n".join(
        ["These are your Discord backup codes for account dana_w (dana.whitfield@gmail.com). "
         "Keep them safe!", ""]
        + [f"* {_pick(rng, LOWER, 4)}-{_pick(rng, LOWER, 4)}" for _ in range(10)]
    ) + "\r\n"
    github = "".join(f"{_pick(rng, HEX, 5)}-{_pick(rng, HEX, 5)}\r\n" for _ in range(16))
    inner = mails.message(me, "it-helpdesk@whitfield-design.example", "my github codes",
                          text="In case I lose my phone again:\n\n" + github.replace("\r\n", "\n"))
    messages = [
        mails.message("Google <no-reply@accounts.google.com>", account,
                      "Security alert", text="A new sign-in on Windows.\nIf this was you, you"
                      " don't need to do anything.\n"),
        mails.message(me, account, "backup codes (do not delete)",
                      text=_google_sheet(rng, account)),
        mails.message("Jamie Ortiz <jamie.ortiz@example.org>", account, "Invoice 2024-118",
                      text="Hi Dana,\n\nplease find invoice 2024-118 attached: 1,250.00 EUR,"
                      " due 2024-04-02.\nIBAN DE89 3704 0044 0532 0130 00\n"),
        mails.message(me, account, "discord", text="codes for the discord account\n",
                      files=(("discord_backup_codes.txt", "text/plain", discord.encode()),)),
        mails.message("IT Helpdesk <it-helpdesk@whitfield-design.example>", account,
                      "Re: my github codes", text="Please never mail recovery codes. "
                      "Forwarding back to you so you can delete it.\n", forwarded=inner),
    ]
    _mbox(path, messages, account, datetime(2024, 3, 4, 8, 0, tzinfo=UTC))
    return [
        {"path": str(path), "service": "google", "member": "message 2 <"},
        {"path": str(path), "service": "discord", "member": "/ discord_backup_codes.txt"},
        {"path": str(path), "service": "github", "member": "/ forwarded message <"},
    ]


def _helpdesk(path: Path, rng: random.Random) -> list[Expect]:
    """A ticket forwarded by a user: HTML only, German Google wording, no plain part."""
    mails = _Mails(rng)
    codes = [f"{rng.randrange(10**4):04d} {rng.randrange(10**4):04d}" for _ in range(10)]
    rows = "".join(f"<tr><td>{i + 1}. {codes[i]}</td><td>{i + 6}. {codes[i + 5]}</td></tr>"
                   for i in range(5))
    html = ("<html><body><p>Hallo IT-Team,</p><p>mein Handy ist weg. Hier meine Google "
            "Back-up-Codes f&uuml;r die Best&auml;tigung in zwei Schritten:</p>"
            f"<table style='font-family:monospace'>{rows}</table>"
            "<p>Viele Gr&uuml;&szlig;e<br>Jonas Becker</p></body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(mails.message("Jonas Becker <jonas.becker@example.de>",
                                   "it-support@example.de", "Handy verloren", html=html))
    return [{"path": str(path), "service": "google", "member": "message <"}]


def _maildir(folder: Path, rng: random.Random) -> list[Expect]:
    mails = _Mails(rng)
    for sub in ("cur", "new", "tmp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    account = "sam.keller@gmail.com"
    msgs = [
        mails.message("Team Lead <lead@example.com>", account, "Standup moved",
                      text="From now on the standup is at 09:45.\n"),
        mails.message(f"Sam Keller <{account}>", account, "google backup codes",
                      text=_google_sheet(rng, account)),
    ]
    for i, data in enumerate(msgs):
        (folder / "cur" / f"17094000{i:02d}.M{i}P101.mailhost:2,S").write_bytes(data)
    unread = mails.message("Calendar <calendar@example.com>", account, "Reminder: dentist",
                           text="Tuesday 10:30, Dr. Weber, Room 2.14\n")
    (folder / "new" / "1709400002.M2P101.mailhost").write_bytes(unread)
    # git keeps no empty folder, and without tmp/ this is no longer a Maildir.
    (folder / "tmp" / ".keep").write_text("")
    return [{"path": str(folder), "service": "google", "member": "cur/1709400001.M1P101"}]


def _negatives(path: Path, rng: random.Random) -> list[Expect]:
    """Numbers that look like codes in ordinary mail: orders, tracking, phone lists, policy."""
    mails = _Mails(rng)

    def d4() -> str:
        return f"{rng.randrange(10**4):04d}"

    account = "dana.whitfield@gmail.com"
    orders = "\n".join(f"Order {d4()} {d4()}  shipped {rng.randrange(1, 28):02d}.03.2024"
                       f"  tracking 1Z99 {d4()} {d4()}" for _ in range(6))
    phones = "\n".join(f"{city:<10} +49 {rng.randrange(30, 90)} {d4()} {d4()}"
                       for city in ("Berlin", "Hamburg", "Munich", "Cologne", "Leipzig"))
    messages = [
        mails.message("Shop <orders@shop.example>", account, "Your orders", text=orders + "\n"),
        mails.message("Office <office@example.com>", account, "Phone list",
                      text="Office phone list\n\n" + phones + "\n"),
        mails.message("Security Team <security@example.com>", account, "Reminder: backup codes",
                      text="Never send backup codes or recovery codes by e-mail. Google backup "
                      "codes look like 1234 5678; print them and keep them somewhere safe.\n"),
    ]
    _mbox(path, messages, account, datetime(2024, 3, 1, 8, 0, tzinfo=UTC))
    return [{"path": str(path), "service": None, "member": None}]
