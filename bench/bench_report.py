"""`mfaleaks report` on many incidents: render time per format, HTML size, browser load time.

Usage: python bench/bench_report.py [--incidents 1000] [--copies 3] [--no-browser]
Builds a synthetic JSON report (services, modes, owners, mail copies and dates drawn from a
seeded random.Random), renders it as HTML, Markdown and CSV, and loads the HTML in headless
chromium, where the page's script reports how long it took from navigation to a sorted,
filterable table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mfaleaks.report import csv as csv_report
from mfaleaks.report import html as html_report
from mfaleaks.report import markdown as markdown_report
from mfaleaks.report.load import load_report

SERVICES = [("google", "google-backup-codes", "Google backup codes", "1234 ••••"),
            ("github", "github-recovery-codes", "GitHub recovery codes", "ab•••-•••••"),
            ("discord", "discord-backup-codes", "Discord backup codes", "ab12-••••"),
            ("microsoft", "microsoft-recovery-code", "Microsoft recovery code", "ABCDE-•••••")]
USERS = ["jdoe", "amy", "kim", "lee", "bob", "eve", "max", "ana"]


def finding(rng: random.Random, i: int, copy: int, now: datetime) -> dict[str, Any]:
    service, rule, title, masked = SERVICES[i % len(SERVICES)]
    user = rng.choice(USERS)
    when = now - timedelta(days=rng.randrange(1, 2000))
    meta = {"file_mode": rng.choice(["0600", "0640", "0644"]), "file_owner": user,
            "file_uid": str(1000 + USERS.index(user)),
            "file_mtime": when.isoformat(timespec="seconds")}
    path, member = f"/srv/share/home/{user}/docs/{i}/codes-{copy}.txt", None
    if copy == 1:
        path, member = f"/srv/mail/{user}.mbox", f"message <{i}@corp.example> \"codes\""
        meta.update(sender=f"{user}@corp.example", recipients="helpdesk@corp.example",
                    date=when.isoformat())
    elif copy == 2:
        path, member = f"/backup/{user}-docs.zip", f"docs/{i}/codes.txt"
    if rng.random() < 0.5:
        meta["account"] = f"{user}@example.com"
    return {
        "rule_id": rule, "service": service, "title": title, "severity": "critical",
        "confidence": "high", "score": 9.0, "path": path, "member": member, "line": 3,
        "location": None, "bbox": None, "source": "text", "count": 10,
        "redacted": [masked] * 10,
        "fingerprint": hashlib.sha256(f"{rule}{i}".encode()).hexdigest()[:40],
        "remediation": "Regenerate the codes: the old set stops working. Then delete every copy.",
        "url": f"https://{service}.example/security", "evidence": [], "meta": meta,
    }


def browser_ms(page: Path, work: Path) -> tuple[float, int, float]:
    """(wall seconds, the page's own load-to-ready ms, wall seconds of an empty page)."""
    chromium = shutil.which("chromium")
    if chromium is None:
        return (0.0, -1, 0.0)
    blank = work / "blank.html"
    blank.write_text("<!DOCTYPE html><title>x</title>")

    def run(target: Path) -> tuple[float, str]:
        profile = tempfile.mkdtemp(dir=work)
        start = time.perf_counter()
        out = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", f"--user-data-dir={profile}", "--virtual-time-budget=20000",
             "--dump-dom", target.as_uri() + "#sort=age&dir=desc"],
            capture_output=True, text=True, timeout=300, check=True).stdout
        return time.perf_counter() - start, out

    base, _ = run(blank)
    wall, dom = run(page)
    m = re.search(r'data-ms="(\d+)"', dom)
    return wall, int(m.group(1)) if m else -1, base


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--incidents", type=int, default=1000)
    ap.add_argument("--copies", type=int, default=3)
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args(argv)
    rng = random.Random(7)
    now = datetime.now(UTC)
    findings = [finding(rng, i, c, now) for i in range(args.incidents)
                for c in range(1 + rng.randrange(args.copies))]
    text = json.dumps({"findings": findings, "errors": [], "stats": {"files": len(findings)}})
    start = time.perf_counter()
    result = load_report(text)
    print(f"{args.incidents} incidents, {len(findings)} findings, JSON {len(text) / 1e6:.2f} MB; "
          f"load {time.perf_counter() - start:.3f} s")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, render in (("html", html_report.render), ("markdown", markdown_report.render),
                             ("csv", csv_report.render)):
            start = time.perf_counter()
            out = render(result)
            took = time.perf_counter() - start
            (work / f"report.{name}").write_text(out)
            print(f"{name:8} render {took:.3f} s, {len(out.encode()) / 1e6:.2f} MB")
        if not args.no_browser:
            wall, ready, base = browser_ms(work / "report.html", work)
            print(f"chromium: page script ready (sorted by age) {ready} ms after navigation; "
                  f"wall {wall:.2f} s vs {base:.2f} s for an empty page")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
