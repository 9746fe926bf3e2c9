"""Text files of the demo share: positives of many services and hard negatives."""

from __future__ import annotations

import random
import string
from pathlib import Path

HEX = "0123456789abcdef"
B32 = string.ascii_uppercase + "234567"
UPPER = string.ascii_uppercase + string.digits
LOWER = string.ascii_lowercase + string.digits


def pick(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def google_codes(rng: random.Random, n: int = 10) -> list[str]:
    return [f"{rng.randrange(10**4):04d} {rng.randrange(10**4):04d}" for _ in range(n)]


def google_file(rng: random.Random, email: str) -> str:
    codes = google_codes(rng)
    rows = [f"{i + 1}. {codes[i]}        {i + 6}. {codes[i + 5]}" for i in range(5)]
    return (
        "SAVE YOUR BACKUP CODES\nKeep these backup codes somewhere safe but accessible.\n\n"
        + "\n".join(rows)
        + f"\n\n({email})\n* You can only use each backup code once.\n"
        "* Need more? Visit g.co/2sv\n* These codes were generated on: Mar 3, 2026\n"
    )


def github_codes(rng: random.Random, n: int = 16) -> list[str]:
    return [f"{pick(rng, HEX, 5)}-{pick(rng, HEX, 5)}" for _ in range(n)]


def write(root: Path, rel: str, text: str, encoding: str = "utf-8", newline: str = "\n") -> str:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode(encoding))
    return rel


def build(root: Path, rng: random.Random) -> list[dict[str, str | None]]:
    out: list[dict[str, str | None]] = []

    def pos(rel: str, service: str) -> None:
        out.append({"path": rel, "service": service, "member": None})

    def neg(rel: str) -> None:
        out.append({"path": rel, "service": None, "member": None})

    pos(write(root, "home/jdoe/Documents/Backup-codes-jdoe.txt",
              google_file(rng, "jdoe@gmail.com")), "google")
    pos(write(root, "home/jdoe/Downloads/github-recovery-codes.txt",
              "\n".join(github_codes(rng)) + "\n", newline="\r\n"), "github")
    pos(write(root, "home/asmith/gitlab-recovery-codes.txt",
              "\n".join(pick(rng, HEX, 16) for _ in range(10)) + "\n"), "gitlab")
    pos(write(root, "home/asmith/PyPI-Recovery-Codes-asmith-2026-03-01T09_00_00.txt",
              "\n".join(pick(rng, HEX, 16) for _ in range(8)) + "\n"), "pypi")
    discord = "\n".join(f"* {pick(rng, LOWER, 4)}-{pick(rng, LOWER, 4)}" for _ in range(10))
    pos(write(root, "home/bob/Desktop/discord_backup_codes.txt",
              "These are your Discord backup codes for account bob#4411 (bob@example.org)."
              f" Keep them safe!\n\n{discord}\n", newline="\r\n"), "discord")
    sentry = "\n".join(f"{pick(rng, B32, 4)}-{pick(rng, B32, 4)}" for _ in range(10))
    pos(write(root, "home/bob/sentry-recovery-codes.txt", sentry + "\n"), "sentry")
    # UTF-16 with BOM, German wording, no tell-tale file name.
    de = " ".join(google_codes(rng, 10))
    pos(write(root, "home/klaus/Notizen.txt",
              "Notizen\n\nGoogle Backup-Codes (Bestätigung in zwei Schritten):\n"
              f"{de}\n\nEinkaufsliste: Milch, Brot\n", encoding="utf-16"), "google")
    # CP-1252 French note with Facebook recovery codes.
    fr = "\n".join(google_codes(rng, 8))
    pos(write(root, "home/amelie/mémo.txt",
              "Facebook : codes de récupération (authentification à deux facteurs)\n"
              f"{fr}\n« à garder »\n", encoding="cp1252"), "facebook")
    ms = "-".join(pick(rng, UPPER, 5) for _ in range(5))
    apple = "-".join(pick(rng, UPPER, 4) for _ in range(7))
    onep = "A3-" + "-".join([pick(rng, UPPER, 6), pick(rng, UPPER, 6)]
                            + [pick(rng, UPPER, 5) for _ in range(4)])
    pos(write(root, "IT/handover/handover-laptop-jdoe.md",
              "# Handover: jdoe's accounts\n\n"
              f"- Microsoft account recovery code: {ms}\n"
              "- Printer: 3rd floor, ask facilities\n\n"
              "Apple ID of the test iPhone\n\n"
              f"Recovery key: {apple}\n\n\n\n\n\n"
              "## Password manager\n\n1Password Emergency Kit, sign-in address my.1password.com\n"
              f"Secret Key: {onep}\n"), "microsoft")
    out.append({"path": "IT/handover/handover-laptop-jdoe.md", "service": "apple", "member": None})
    out.append({"path": "IT/handover/handover-laptop-jdoe.md", "service": "1password",
                "member": None})
    seed = pick(rng, B32, 32)
    pos(write(root, "home/carol/aws-root-mfa.txt",
              "AWS root account virtual MFA\nCan't scan the QR code? Secret key:\n"
              f"{seed}\n"), "totp")
    pos(write(root, "home/carol/authenticator-export.txt",
              f"otpauth://totp/Okta:carol@example.com?secret={pick(rng, B32, 32)}&issuer=Okta\n"),
        "totp")
    duo = "\n".join(str(rng.randrange(10**8, 10**9)) for _ in range(5))
    pos(write(root, "IT/helpdesk/ticket-4471.txt",
              "Ticket 4471: user locked out of VPN\nIssued Duo bypass codes for asmith "
              f"(valid 3 days):\n{duo}\n"), "duo")
    words = ["grape", "novel", "tunnel", "wisdom", "cabin", "orbit", "velvet", "silent",
             "harbor", "lemon", "fossil", "brave", "maple", "quartz", "ember", "walnut",
             "pixel", "tundra"]
    rng.shuffle(words)
    pos(write(root, "home/dana/proton_recovery_phrase.txt", " ".join(words[:12]) + "\n"),
        "proton")
    tap = pick(rng, string.ascii_letters + string.digits, 12) + "7"
    pos(write(root, "IT/helpdesk/onboarding-mail.txt",
              f"Hi Dana,\n\nyour Temporary Access Pass: {tap} (valid 8 hours).\n"
              "Register your authenticator at aka.ms/mysecurityinfo\n"), "microsoft-entra")

    # Hard negatives: look-alikes that must not reach medium confidence.
    orders = "\n".join(
        f"{20260000 + i * 7},2026-03-{i + 1:02d},Widget {i},{rng.randrange(5, 90)}.00 EUR"
        for i in range(12))
    neg(write(root, "finance/orders-2026-03.csv", "order number,date,item,price\n" + orders + "\n"))
    phones = "\n".join(f"{name:<10} +49 30 {rng.randrange(1000, 9999)} {rng.randrange(1000, 9999)}"
                       for name in ("Anna", "Ben", "Carla", "Dirk", "Eva", "Frank", "Gita"))
    neg(write(root, "IT/phone-list.txt", "Phone list (internal)\n" + phones + "\n"))
    times = "\n".join(f"{h:02d}{m:02d} {h:02d}{m + 20:02d}" for h in range(6, 16) for m in (5,))
    neg(write(root, "home/jdoe/timetable-bus-42.txt", "Bus 42 departures\n" + times + "\n"))
    keys = "\n".join(f"PC-{i:02d}  Windows 11 Pro product key: "
                     + "-".join(pick(rng, UPPER, 5) for _ in range(5)) for i in range(6))
    neg(write(root, "IT/licences/product-keys.txt", keys + "\n"))
    log = "\n".join(f"{pick(rng, HEX, 7)} Fix {w} handling" for w in
                    ("login", "backup", "recovery", "mfa", "upload", "cache", "retry", "docs"))
    neg(write(root, "dev/git-log.txt", log + "\n"))
    uuids = "\n".join(f"{pick(rng, HEX, 8)}-{pick(rng, HEX, 4)}-4{pick(rng, HEX, 3)}-a"
                      f"{pick(rng, HEX, 3)}-{pick(rng, HEX, 12)}" for _ in range(12))
    neg(write(root, "dev/device-ids.txt", "Enrolled device ids\n" + uuids + "\n"))
    lock = "\n".join(
        f'    "node_modules/pkg{i}": {{ "version": "1.0.{i}", "integrity": '
        f'"sha512-{pick(rng, string.ascii_letters + string.digits, 40)}", '
        f'"resolved": "https://registry.npmjs.org/pkg{i}/-/pkg{i}-1.0.{i}.tgz" }},'
        for i in range(10))
    neg(write(root, "dev/package-lock.json", '{\n  "packages": {\n' + lock + "\n  }\n}\n"))
    meas = "\n".join(f"S{i:02d}\t{rng.randrange(1000, 9999)} {rng.randrange(1000, 9999)}\t"
                     f"{rng.randrange(10, 99)}.{rng.randrange(10)} mm\t{rng.randrange(1, 9)} kg"
                     for i in range(12))
    neg(write(root, "lab/measurements.tsv", "sample\traw\tlength\tweight\n" + meas + "\n"))
    neg(write(root, "IT/policies/mfa-policy.md",
              "# MFA policy\n\nEvery employee enrols two-factor authentication. Backup codes"
              " (recovery codes) are printed once and kept in a locked drawer; never store"
              " backup codes in mail, chat or on shares. Google backup codes have 8 digits,"
              " GitHub recovery codes look like abcde-01234. Lost codes: call the help desk.\n"))
    traces = "\n".join(f"trace_id={pick(rng, HEX, 16)} span_id={pick(rng, HEX, 16)} "
                       f"status=200 duration={rng.randrange(1, 900)}ms" for _ in range(10))
    neg(write(root, "dev/traces.log", traces + "\n"))
    docker = "\n".join(f"{pick(rng, HEX, 12)}   nginx:1.{i}   Up {i} hours" for i in range(8))
    neg(write(root, "dev/docker-ps.txt", "CONTAINER ID   IMAGE   STATUS\n" + docker + "\n"))
    vouchers = "\n".join(f"{pick(rng, UPPER, 4)}-{pick(rng, UPPER, 4)}-{pick(rng, UPPER, 4)}"
                         for _ in range(10))
    neg(write(root, "home/bob/gift-card-vouchers.txt", "Gift card voucher codes\n" + vouchers
              + "\n"))
    return out
