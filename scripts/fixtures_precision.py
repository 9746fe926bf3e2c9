"""Precision and attribution cases of the demo share (issue 21), under precision/<class>/.

Each class has positives (the service a careful reader would name) and look-alike
negatives: test vectors and docs, changelogs and logs, tables, attribution without
the service's name, codes wrapped across lines, and the exports people really have.
Every expectation carries its class so tests/test_fixtures.py can count per class.
"""

from __future__ import annotations

import base64
import gzip
import importlib.util
import io
import json
import random
import sqlite3
import string
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

Add = Callable[..., None]

HEX = "0123456789abcdef"
B32 = string.ascii_uppercase + "234567"
UPPER = string.ascii_uppercase + string.digits

# Published example secrets: RFC 4226/6238's ASCII "12345678901234567890" (and its
# SHA-256/512 lengths) in base32, and the seed every TOTP tutorial shows.
RFC_SEED = base64.b32encode(b"12345678901234567890").decode()
RFC_SEED_32 = base64.b32encode(b"12345678901234567890123456789012").decode()
EXAMPLE_SEED = "JBSWY3DPEHPK3PXP"


def pick(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def seed(rng: random.Random, n: int = 32) -> str:
    # At least one base32 digit, as nearly every real seed has.
    return pick(rng, B32, n - 1) + rng.choice("234567")


def google_codes(rng: random.Random, n: int = 10) -> list[str]:
    return [f"{rng.randrange(10**4):04d} {rng.randrange(10**4):04d}" for _ in range(n)]


def numbered(codes: list[str]) -> str:
    return "\n".join(f"{i + 1}. {codes[i]}        {i + 6}. {codes[i + 5]}" for i in range(5))


def google_de(rng: random.Random, email: str) -> str:
    return (
        "BACKUP-CODES SPEICHERN\nBewahren Sie diese Backup-Codes an einem sicheren, aber "
        "zugänglichen Ort auf.\n\n" + numbered(google_codes(rng)) + f"\n\n({email})\n"
        "* Jeder Backup-Code kann nur einmal verwendet werden.\n"
        "* Diese Codes wurden am 3. März 2026 generiert.\n"
    )


def google_ja(rng: random.Random, email: str) -> str:
    return (
        "バックアップ コードを保存してください\n"
        "バックアップ コードは安全な場所に保管してください。\n\n"
        + numbered(google_codes(rng)) + f"\n\n({email})\n"
        "* 各バックアップ コードは 1 回だけ使用できます。\n"
        "* このコードの生成日: 2026年3月3日\n"
    )


def google_bare(rng: random.Random) -> str:
    """The download's layout with its wording cut off: ten numbered codes in two columns."""
    return numbered(google_codes(rng)) + "\n"


def write(root: Path, rel: str, data: str | bytes) -> str:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return rel


def _picture(lines: list[str], fmt: str = "PNG") -> bytes:
    """Black text on white, as tests/gen_docs.py draws a printed-and-scanned sheet."""
    from PIL import Image

    png = _gen_docs().code_image(lines)
    if fmt == "PNG":
        return bytes(png)
    buf = io.BytesIO()
    Image.open(io.BytesIO(png)).convert("1").save(buf, format=fmt, compression="group4")
    return buf.getvalue()


def _gen_docs() -> ModuleType:
    gen = Path(__file__).resolve().parents[1] / "tests" / "gen_docs.py"
    if str(gen.parent) not in sys.path:  # gen_docs imports its neighbours
        sys.path.insert(0, str(gen.parent))
    spec = importlib.util.spec_from_file_location("gen_docs", gen)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 3, 1, 9, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()


def _tar_gz(members: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1772355600
            tf.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def build(root: Path, rng: random.Random) -> list[dict[str, str | None]]:
    out: list[dict[str, str | None]] = []
    base = "precision"

    def pos(cls: str, rel: str, data: str | bytes, service: str,
            member: str | None = None) -> None:
        write(root, f"{base}/{cls}/{rel}", data)
        out.append({"path": f"{base}/{cls}/{rel}", "service": service, "member": member,
                    "class": cls})

    def neg(cls: str, rel: str, data: str | bytes) -> None:
        write(root, f"{base}/{cls}/{rel}", data)
        out.append({"path": f"{base}/{cls}/{rel}", "service": None, "member": None,
                    "class": cls})

    _docs(rng, pos, neg)
    _logs(rng, pos, neg)
    _tables(rng, pos, neg)
    _attribution(rng, pos, neg)
    _wrapped(root, base, rng, pos, neg, out)
    _exports(rng, pos, neg)
    return out


# -- documentation and tests ------------------------------------------------------------------


def _docs(rng: random.Random, pos: Add, neg: Add) -> None:
    cls = "devdocs"
    uri = f"otpauth://totp/Example:alice@google.com?secret={EXAMPLE_SEED}&issuer=Example"
    rfc_uri = f"otpauth://totp/ACME:john.doe@email.com?secret={RFC_SEED}&issuer=ACME&digits=8"
    neg(cls, "pyotp-lite/tests/test_totp.py",
        '"""RFC 6238 test vectors."""\nimport base64\n\nfrom otp import TOTP, HOTP\n\n'
        f'SECRET = "{RFC_SEED}"  # base32 of the RFC\'s ASCII 12345678901234567890\n'
        f'SECRET_256 = "{RFC_SEED_32}"\n\n'
        "def test_totp_vectors():\n    totp = TOTP(SECRET, digits=8)\n"
        '    assert totp.at(59) == "94287082"\n    assert totp.at(1111111109) == "07081804"\n'
        '    assert totp.at(1111111111) == "14050471"\n'
        '    assert totp.at(1234567890) == "89005924"\n'
        '    assert totp.at(2000000000) == "69279037"\n\n'
        "def test_hotp_vectors():\n    hotp = HOTP(SECRET)\n"
        '    assert [hotp.at(i) for i in range(4)] == ["755224", "287082", "359152", "969429"]\n\n'
        f'def test_uri():\n    assert TOTP("{EXAMPLE_SEED}").uri("alice@google.com") == \\\n'
        f'        "{uri}"\n    # the setup key shown to users\n'
        f'    assert format_key("{EXAMPLE_SEED}") == "JBSW Y3DP EHPK 3PXP"\n'
        f'    assert parse("{rfc_uri}").secret == SECRET\n')
    neg(cls, "pyotp-lite/docs/usage.md",
        "# Usage\n\nCreate a TOTP from a base32 secret key and show the setup key to the user:\n\n"
        f"```python\ntotp = TOTP(\"{EXAMPLE_SEED}\")\ntotp.now()\n```\n\n"
        f"Can't scan the QR code? Enter this setup key: JBSW Y3DP EHPK 3PXP\n\n"
        f"The provisioning URI:\n\n    {uri}\n")
    neg(cls, "pyotp-lite/README.md",
        "# pyotp-lite\n\nTOTP (RFC 6238) and HOTP (RFC 4226) for scripts.\n\n"
        f"    otpauth://totp/Secure%20App:alice%40google.com?secret={EXAMPLE_SEED}&issuer=Secure%20App\n\n"
        f"Test vectors use the RFC's secret {RFC_SEED} (ASCII 12345678901234567890).\n")
    # A real seed next to the same code is still found.
    pos(cls, "notes/vpn-setup.txt",
        f"VPN two-factor: setup key {' '.join(seed(rng)[i:i + 4] for i in range(0, 32, 4))}\n",
        "totp")
    s = seed(rng)
    pos(cls, "home/jdoe/otp.txt",
        f"otpauth://totp/GitHub:jdoe?secret={s}&issuer=GitHub\n", "totp")


# -- changelogs and logs -----------------------------------------------------------------------


def _logs(rng: random.Random, pos: Add, neg: Add) -> None:
    cls = "logs"
    bugs = [str(rng.randrange(400000, 999999)) for _ in range(12)]
    langs = ["Catalan", "Czech", "German", "Greek", "Korean", "Portuguese", "Russian",
             "Slovak", "Spanish", "Swedish"]
    changelog = (
        "dpkg (1.14.21) unstable; urgency=low\n\n"
        "  [ Guillem Jover ]\n"
        "  * Abort on unrecoverable fatal errors instead of continuing execution, as\n"
        "    the recovery code assumed the execution would not be reaching it again.\n"
        f"    Closes: #{bugs[0]}, #{bugs[1]}\n\n"
        "  [ Updated programs translations ]\n"
        + "".join(f"  * {lang} (Translator {i}). Closes: #{bugs[2 + i]}\n"
                  for i, lang in enumerate(langs))
        + f"  * Fix bash completion. LP: #{rng.randrange(1000000, 2999999)}, "
        f"GH-{rng.randrange(100000, 999999)}\n\n"
        " -- Guillem Jover <guillem@debian.org>  Sun, 07 Sep 2008 06:17:48 +0300\n"
    )
    neg(cls, "usr/share/doc/dpkg/changelog.gz", gzip.compress(changelog.encode(), mtime=0))
    sessions = []
    for i in range(30):
        sid = "".join(rng.choice(HEX) for _ in range(16))
        sessions.append(
            f"Mar  1 09:{i:02d}:1{i % 10} web01 sshd[{2000 + i}]: pam_unix(sshd:session): "
            f"session {sid} opened for user jdoe (two-factor: google authenticator ok)\n")
    pos_codes = "\n".join(pick(rng, HEX, 16) for _ in range(10))
    neg(cls, "var/log-archive.tar.gz",
        _tar_gz({"log/auth.log": "".join(sessions).encode()}))
    ids = "".join(f"2026-03-01T09:{i:02d}:00Z request_id={pick(rng, HEX, 16)} 2fa verify ok\n"
                  for i in range(20))
    neg(cls, "var/app-2fa.log", ids)
    job_ids = "\n".join(pick(rng, HEX, 16) for _ in range(40))
    one_per_line = "MFA recovery job ids\n" + job_ids + "\n"
    neg(cls, "var/mfa-recovery-jobs.txt", one_per_line)
    # Codes a person pasted into a ticket stay a finding.
    pos(cls, "tickets/4711.txt",
        "Ticket #481516: user lost their phone. GitLab recovery codes they sent us:\n"
        + pos_codes + "\n", "gitlab")


# -- tables ------------------------------------------------------------------------------------


def _tables(rng: random.Random, pos: Add, neg: Add) -> None:
    cls = "tables"
    rows = [("pyotp", "TOTP and HOTP one-time passwords"),
            ("PYOTPAUTHENTICATORKIT", "command line helpers"),
            ("requests", "HTTP for humans"), ("LIBQRENCODEBINDINGSX", "QR code bindings")]
    neg(cls, "packages.tsv", "name\tdescription\n"
        + "".join(f"{a}\t{b}\n" for a, b in rows))
    neg(cls, "app/.env.example",
        f"# copy to .env\nTOTP_SECRET={EXAMPLE_SEED}\nTOTP_ISSUER=Example\n"
        f"OTP_URI=otpauth://totp/Example:alice@google.com?secret={EXAMPLE_SEED}&issuer=Example\n")
    neg(cls, "inventory.csv", "sku,description,qty\n"
        "A-1,recovery code printer (spare),2\n"
        + "".join(f"{rng.randrange(10**7, 10**8)},toner cartridge,{rng.randrange(1, 9)}\n"
                  for _ in range(10)))
    codes = [f"{pick(rng, HEX, 5)}-{pick(rng, HEX, 5)}" for _ in range(16)]
    pos(cls, "accounts.csv",
        "service,what,value\nwiki,password,Hunter2!\n"
        f"GitHub,recovery codes,\"{' '.join(codes)}\"\n", "github")


# -- attribution -------------------------------------------------------------------------------


def _attribution(rng: random.Random, pos: Add, neg: Add) -> None:
    cls = "attribution"
    pos(cls, "hans/Backup-codes-hans.txt", google_de(rng, "hans.m@gmail.com"), "google")
    pos(cls, "taro/Backup-codes-taro.txt", google_ja(rng, "taro@gmail.com"), "google")
    pos(cls, "anna/Backup-codes-anna.txt", google_bare(rng), "google")
    pos(cls, "anna/codes-from-phone.txt",
        "backup codes\n\n" + google_bare(rng) + "\n(anna.k@gmail.com)\n", "google")
    mail = (
        "From: Anna <anna.k@example.org>\nTo: it@example.org\nSubject: Fwd: my codes\n"
        "Date: Sun, 1 Mar 2026 09:00:00 +0000\nMessage-ID: <fwd1@example.org>\n\n"
        "Please keep these for me.\n\n---------- Forwarded message ---------\n"
        "Subject: backup codes\n\n> " + google_bare(rng).replace("\n", "\n> ") + "\n")
    pos(cls, "mail/fwd-codes.eml", mail, "google")
    pos(cls, "anna/old-phone.zip",
        _zip({"Backup-codes-anna.txt": google_bare(rng).encode()}), "google",
        "Backup-codes-anna.txt")
    # Read by OCR: a screenshot of the download open in an editor, and a fax of its print.
    pos(cls, "scans/Screenshot 2026-03-01 091500.png",
        _picture(["Backup-codes-anna.txt - Notepad", "",
                  *numbered(google_codes(rng)).split("\n")]),
        "google")
    pos(cls, "scans/fax-20260301-0912.tif",
        _picture(["FAX  +49 30 1234567   01.03.2026 09:12   P.1", "", "backup codes", "",
                  *numbered(google_codes(rng)).split("\n")], "TIFF"), "google")
    # Digits in the same layout that are not codes.
    neg(cls, "anna/price-list.txt",
        "Price list\n\n" + "\n".join(
            f"{i + 1}. SKU {rng.randrange(10**4):04d} {rng.randrange(10**4):04d}   "
            f"{rng.randrange(5, 90)}.99 EUR" for i in range(10)) + "\n")


# -- wrapped codes -----------------------------------------------------------------------------


def _wrapped(root: Path, base: str, rng: random.Random, pos: Add, neg: Add,
             out: list[dict[str, str | None]]) -> None:
    cls = "wrapped"
    key = "A3-" + "-".join([pick(rng, UPPER, 6), pick(rng, UPPER, 6)]
                           + [pick(rng, UPPER, 5) for _ in range(4)])
    cut = key.index("-", 12) + 1
    folder = root / base / cls
    folder.mkdir(parents=True, exist_ok=True)
    _emergency_kit_pdf(folder / "1Password Emergency Kit A3-JDOE.pdf", key, cut)
    out.append({"path": f"{base}/{cls}/1Password Emergency Kit A3-JDOE.pdf",
                "service": "1password", "member": None, "class": cls})
    key2 = "A3-" + "-".join([pick(rng, UPPER, 6), pick(rng, UPPER, 6)]
                            + [pick(rng, UPPER, 5) for _ in range(4)])
    html = (
        "From: 1Password <hello@1password.example>\nTo: jdoe@example.org\n"
        "Subject: Your Emergency Kit\nDate: Sun, 1 Mar 2026 09:00:00 +0000\n"
        "Message-ID: <kit2@example.org>\nMIME-Version: 1.0\n"
        "Content-Type: text/html; charset=utf-8\n\n"
        "<html><body><table width=\"220\"><tr><td>Your Secret Key:</td></tr><tr><td>"
        f"{key2[:17]}<br>\n{key2[17:]}</td></tr></table></body></html>\n")
    pos(cls, "mail/emergency-kit.eml", html, "1password")
    bw = " ".join(pick(rng, UPPER, 4) for _ in range(8))
    pos(cls, "bitwarden-recovery.txt",
        f"Bitwarden two-step login recovery code:\n{bw[:19]}\n{bw[20:]}\n", "bitwarden")
    neg(cls, "product-keys.txt",
        "Office product key (licence):\n" + "-".join(pick(rng, UPPER, 5) for _ in range(3))
        + "-\n" + "-".join(pick(rng, UPPER, 5) for _ in range(2)) + "\n")


def _emergency_kit_pdf(path: Path, key: str, cut: int) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), pagesize=A4, invariant=True)
    lines = ["1Password Emergency Kit", "Created for John Doe on March 1, 2026",
             "Sign-in address: https://my.1password.com", "Email address: jdoe@example.org",
             "Secret Key", key[:cut], key[cut:],
             "Keep this kit somewhere safe: you need the Secret Key to sign in on a new device."]
    y = 800
    for line in lines:
        pdf.drawString(60, y, line)
        y -= 18
    pdf.showPage()
    pdf.save()


# -- the exports people really have --------------------------------------------------------------


def _exports(rng: random.Random, pos: Add, neg: Add) -> None:
    cls = "exports"
    s = [seed(rng) for _ in range(12)]
    bitwarden = {"encrypted": False, "folders": [], "items": [
        {"id": "1", "type": 1, "name": "GitHub", "notes": None,
         "login": {"username": "jdoe", "password": "pw-one-2-three", "totp": s[0],
                   "uris": [{"uri": "https://github.com"}]}},
        {"id": "2", "type": 1, "name": "Wiki", "notes": "old wiki account",
         "login": {"username": "jdoe", "password": "x", "totp": None, "uris": []}},
    ]}
    pos(cls, "bitwarden_export_20260301.json", json.dumps(bitwarden, indent=2), "totp")
    pos(cls, "bitwarden_export_20260301.csv",
        "folder,favorite,type,name,notes,fields,reprompt,login_uri,login_username,"
        "login_password,login_totp\n"
        f",,login,GitHub,,,0,https://github.com,jdoe,pw-one,{s[1]}\n"
        ",,login,Wiki,,,0,https://wiki.example,jdoe,pw-two,\n", "totp")
    pos(cls, "keepass.xml",
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<KeePassFile><Root><Group><Name>Root</Name>"
        "<Entry><String><Key>Title</Key><Value>GitLab</Value></String>"
        "<String><Key>UserName</Key><Value>jdoe</Value></String>"
        f"<String><Key>otp</Key><Value>otpauth://totp/GitLab:jdoe?secret={s[2]}&amp;issuer=GitLab</Value></String>"
        "</Entry><Entry><String><Key>Title</Key><Value>Mail</Value></String>"
        f"<String><Key>TimeOtp-Secret-Base32</Key><Value>{s[3]}</Value></String>"
        "</Entry></Group></Root></KeePassFile>\n", "totp")
    pos(cls, "keepassxc.csv",
        '"Group","Title","Username","Password","URL","Notes","TOTP","Icon",'
        '"Last Modified","Created"\n'
        f'"Root","GitLab","jdoe","pw","https://gitlab.com","","otpauth://totp/GitLab:jdoe?secret={s[4]}&period=30&digits=6&issuer=GitLab","0","2026-03-01T09:00:00Z","2026-03-01T09:00:00Z"\n',
        "totp")
    pos(cls, "lastpass_export.csv",
        "url,username,password,totp,extra,name,grouping,fav\n"
        f"https://github.com,jdoe,pw-one,{s[5]},,GitHub,Dev,0\n"
        "https://wiki.example,jdoe,pw-two,,,Wiki,Work,0\n", "totp")
    pos(cls, "aegis-export-plain.json", json.dumps({
        "version": 1, "header": {"slots": None, "params": None},
        "db": {"version": 2, "entries": [
            {"type": "totp", "uuid": "01e2b6a5-0000-4000-8000-000000000001", "name": "jdoe",
             "issuer": "GitHub", "note": "", "icon": None,
             "info": {"secret": s[6], "algo": "SHA1", "digits": 6, "period": 30}},
            {"type": "totp", "uuid": "01e2b6a5-0000-4000-8000-000000000002", "name": "jdoe",
             "issuer": "Proton", "note": "", "icon": None,
             "info": {"secret": s[7], "algo": "SHA1", "digits": 6, "period": 30}}]}},
        indent=4), "totp")
    pos(cls, "2fas-backup.2fas", json.dumps({
        "services": [{"name": "Dropbox", "secret": s[8], "otp": {
            "account": "jdoe", "digits": 6, "period": 30, "tokenType": "TOTP"}}],
        "schemaVersion": 4}), "totp")
    pos(cls, "otp_accounts.json", json.dumps([{
        "secret": s[9], "issuer": "Mastodon", "label": "jdoe", "digits": 6, "type": "TOTP",
        "algorithm": "SHA1", "thumbnail": "Default", "period": 30, "tags": []}]), "totp")
    pos(cls, "app/.env", f"DATABASE_URL=postgres://app@db/app\nTOTP_SECRET={s[10]}\n", "totp")
    pos(cls, "home/jdoe/.bash_history",
        f"ls -la\ncd projects\noathtool --totp -b {s[11]}\ngit status\n", "totp")
    keep = {"color": "DEFAULT", "isTrashed": False, "isArchived": False, "title": "codes",
            "textContent": "Google backup codes\n" + "\n".join(google_codes(rng)),
            "userEditedTimestampUsec": 1772355600000000}
    pos(cls, "Takeout/Keep/codes.json", json.dumps(keep), "google")
    _more_exports(rng, pos, neg, s)
    # Look-alikes of the same formats.
    neg(cls, "aegis-icons.json", json.dumps({"icons": [
        {"name": "GitHub", "filename": "GITHUBMARKLIGHTVARIANTX.svg", "hash": pick(rng, HEX, 16)}
        for _ in range(3)]}))
    neg(cls, "app/.env.sample", "TOTP_SECRET=changeme\nTOTP_ISSUER=Example\n")



def _more_exports(rng: random.Random, pos: Add, neg: Add, s: list[str]) -> None:
    cls = "exports"
    extra = [seed(rng) for _ in range(4)]
    one = {"accounts": [{"attrs": {"name": "Jane"}, "vaults": [{"attrs": {"name": "Private"},
           "items": [{"uuid": "x1", "overview": {"title": "GitLab", "url": "https://gitlab.com"},
                      "details": {"loginFields": [], "sections": [{"title": "", "fields": [
                          {"title": "one-time password", "id": "TOTP_1",
                           "value": {"totp": f"otpauth://totp/GitLab:jane?secret={extra[0]}"}}]}]}}]}]}]}
    pos(cls, "1PasswordExport-JANE-20260301.1pux",
        _zip({"export.attributes": b'{"version":3}', "export.data": json.dumps(one).encode()}),
        "totp", "export.data")
    codes = google_codes(rng)
    enex = ('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE en-export SYSTEM '
            '"http://xml.evernote.com/pub/evernote-export3.dtd">\n<en-export><note>'
            "<title>Google</title><content><![CDATA[<?xml version=\"1.0\"?><en-note>"
            "<div>Google backup codes</div>"
            + "".join(f"<div>{c}</div>" for c in codes)
            + "</en-note>]]></content><created>20260301T090000Z</created></note></en-export>\n")
    pos(cls, "Evernote/My Notes.enex", enex, "google")
    pos(cls, "plum.sqlite", _plum(google_codes(rng)), "google")
    slack = [{"type": "message", "user": "U01", "ts": "1772355600.000100",
              "text": "here are the GitHub recovery codes for the ops account"},
             {"type": "message", "user": "U01", "ts": "1772355601.000200",
              "text": "\n".join(f"{pick(rng, HEX, 5)}-{pick(rng, HEX, 5)}" for _ in range(16))}]
    pos(cls, "slack-export/ops/2026-03-01.json", json.dumps(slack, indent=4), "github")
    neg(cls, "slack-export/channels.json",
        json.dumps([{"id": "C01", "name": "ops", "created": 1772355600}]))
    wa = ("01/03/2026, 09:12 - Anna: my google backup codes, keep them\n"
          + "".join(f"01/03/2026, 09:13 - Anna: {c}\n" for c in google_codes(rng, 5)))
    pos(cls, "WhatsApp Chat with Anna.txt", wa, "google")
    nb = {"cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["# MFA setup for the lab account"]},
        {"cell_type": "code", "execution_count": 1, "metadata": {}, "outputs": [
            {"name": "stdout", "output_type": "stream",
             "text": [f"TOTP secret: {extra[1]}\n"]}],
         "source": ["import pyotp\n", "secret = pyotp.random_base32()\n",
                    "print('TOTP secret:', secret)"]}],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    pos(cls, "lab/mfa-setup.ipynb", json.dumps(nb, indent=1), "totp")
    pos(cls, "wiki/Accounts/Proton.md",
        "# Proton\n\n- user: jdoe@proton.me\n- 2FA: on\n\n## Recovery phrase\n\n"
        "    " + " ".join(rng.choice(["apple", "river", "stone", "cloud", "tiger", "maple",
                                        "ocean", "piano", "lemon", "frost", "amber", "cedar"])
                          for _ in range(12)) + "\n", "proton")
    neg(cls, "wiki/Howto/2FA.md",
        "# Two-factor authentication\n\nGoogle backup codes are ten 8-digit codes such as "
        "1234 5678. Keep your recovery codes offline. Example URI: otpauth://totp/Example:"
        f"alice@google.com?secret={EXAMPLE_SEED}&issuer=Example\n")


def _plum(codes: list[str]) -> bytes:
    """Windows Sticky Notes' plum.sqlite: a Note table whose Text column is the note."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "plum.sqlite"
        con = sqlite3.connect(path)
        con.execute("CREATE TABLE Note (Text varchar, WindowPosition varchar, Id varchar)")
        con.execute("INSERT INTO Note VALUES (?, ?, ?)",
                    ("\\id=5d2c Google backup codes\n" + "\n".join(codes),
                     "ManagedPosition=", "5d2c"))
        con.execute("INSERT INTO Note VALUES (?, ?, ?)", ("\\id=77aa buy milk", "", "77aa"))
        con.commit()
        con.close()
        return path.read_bytes()
