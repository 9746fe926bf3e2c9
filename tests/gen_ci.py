"""Generated inputs for the CI tests (SARIF, JUnit, baseline, config, inline allow, hook).

Codes are random per seed, shaped as the services issue them, so no real code
is ever committed and every test can assert that none reaches the output.
"""

from __future__ import annotations

import random
from pathlib import Path


def github_codes(rng: random.Random, n: int = 16) -> list[str]:
    """GitHub recovery codes: abcde-01234, lower-case hex, each with a digit."""
    out: list[str] = []
    while len(out) < n:
        code = f"{rng.getrandbits(20):05x}-{rng.getrandbits(20):05x}"
        if any(c.isdigit() for c in code) and code not in out:
            out.append(code)
    return out


def github_file(codes: list[str]) -> bytes:
    """github-recovery-codes.txt as downloaded: codes only, CRLF."""
    return ("\r\n".join(codes) + "\r\n").encode()


def google_codes(rng: random.Random, n: int = 10) -> list[str]:
    return [f"{rng.randrange(10**4):04d} {rng.randrange(10**4):04d}" for _ in range(n)]


def google_text(codes: list[str], account: str = "jdoe@gmail.com") -> str:
    """Google's printable backup-codes page, two columns of five."""
    rows = [f"{i + 1}. {codes[i]}    {i + 6}. {codes[i + 5]}" for i in range(5)]
    return ("SAVE YOUR BACKUP CODES\nKeep these backup codes somewhere safe but accessible.\n\n"
            + "\n".join(rows) + f"\n\n({account})\n* You can only use each backup code once.\n")


def ordinary_files(root: Path) -> list[Path]:
    """Files a developer commits every day: code, docs, data with hex and numbers."""
    files = {
        "README.md": "# demo\n\nRun `make test`. Build 550e8400-e29b-41d4-a716-446655440000.\n",
        "src/app.py": "def main() -> int:\n    port = 8080\n    return 0\n",
        "data/orders.csv": "order,amount\n10001,20.50\n10002,13.10\n10003,99.00\n",
        "CHANGELOG.md": "## 1.2.0\n- commit d1371c1714e2 merged\n- fix 9d439536b3\n",
    }
    out = []
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        out.append(path)
    return out


def every_code(*sets: list[str]) -> list[str]:
    """Each code as written and without separators: none may appear in a report."""
    out = []
    for codes in sets:
        for code in codes:
            out += [code, code.replace("-", "").replace(" ", "")]
    return out
