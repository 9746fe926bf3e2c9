"""A small share with the same codes in several places, for the incident and report tests.

    python tests/gen_incidents.py OUTDIR    # writes the tree (then: mfaleaks scan OUTDIR)
"""

from __future__ import annotations

import os
import sys
import time
import zipfile
from email.message import EmailMessage
from pathlib import Path

from sample_codes import DISCORD, GITHUB, GOOGLE

ALL_CODES = GOOGLE + GITHUB + DISCORD
DAY = 86400


def google_file(email: str = "jdoe@gmail.com") -> str:
    rows = [f"{i + 1}. {GOOGLE[i]}    {i + 6}. {GOOGLE[i + 5]}" for i in range(5)]
    return ("SAVE YOUR BACKUP CODES\nKeep these backup codes somewhere safe but accessible.\n\n"
            + "\n".join(rows) + f"\n\n({email})\n* You can only use each backup code once.\n"
            "* Need more? Visit g.co/2sv\n")


def discord_file() -> str:
    return ("These are your Discord backup codes for account jdoe#1234 (jd@example.com). "
            "Keep them safe!\r\n\r\n" + "".join(f"* {c}\r\n" for c in DISCORD))


def build_share(root: Path) -> Path:
    """A home folder, a backup drive, a mail folder and a team share holding three code sets.

    Google's codes are in four places (the download in jdoe's home, a zip on the backup
    drive, a mail to the help desk); GitHub's lie in a readable file inside a closed home
    folder; Discord's in a group-readable file on the share.
    """
    home = root / "home" / "jdoe" / "Downloads"
    home.mkdir(parents=True)
    os.chmod(root / "home" / "jdoe", 0o755)
    download = home / "Backup-codes-jdoe.txt"
    download.write_text(google_file())
    os.chmod(download, 0o644)
    old = time.time() - 400 * DAY
    os.utime(download, (old, old))
    (root / "backup").mkdir()
    with zipfile.ZipFile(root / "backup" / "jdoe-docs.zip", "w") as z:
        z.writestr("Downloads/Backup-codes-jdoe.txt", google_file())
    os.chmod(root / "backup" / "jdoe-docs.zip", 0o600)
    msg = EmailMessage()
    msg["From"] = "John Doe <jdoe@corp.example>"
    msg["To"] = "helpdesk@corp.example, amy@corp.example"
    msg["Subject"] = "codes for safekeeping"
    msg["Date"] = "Tue, 02 May 2023 10:00:00 +0000"
    msg["Message-ID"] = "<a1@corp.example>"
    msg.set_content("Hi, my google backup codes, keep them for me:\n\n" + google_file())
    (root / "mail").mkdir()
    (root / "mail" / "sent.eml").write_bytes(bytes(msg))
    os.chmod(root / "mail" / "sent.eml", 0o600)
    closed = root / "home" / "amy"
    closed.mkdir()
    os.chmod(closed, 0o700)
    (closed / "github-recovery-codes.txt").write_text("\n".join(GITHUB) + "\n")
    os.chmod(closed / "github-recovery-codes.txt", 0o644)
    (root / "share").mkdir()
    (root / "share" / "discord_backup_codes.txt").write_text(discord_file())
    os.chmod(root / "share" / "discord_backup_codes.txt", 0o640)
    return root


if __name__ == "__main__":
    print(build_share(Path(sys.argv[1])))
