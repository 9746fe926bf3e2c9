"""Documents and archives of the demo share: office files, PDFs (text and scanned),
OpenDocument, RTF, a zip holding a tar; positives and hard negatives.

The files are written by tests/gen_docs.py (python-docx, openpyxl, python-pptx,
odfpy, reportlab: the dev extra).
"""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path
from types import ModuleType

GEN = Path(__file__).resolve().parents[1] / "tests" / "gen_docs.py"


def _gen() -> ModuleType:
    if str(GEN.parent) not in sys.path:  # gen_docs imports its neighbours (gen_archives)
        sys.path.insert(0, str(GEN.parent))
    spec = importlib.util.spec_from_file_location("gen_docs", GEN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(root: Path, rng: random.Random) -> list[dict[str, str | None]]:
    gen = _gen()
    base = root / "fileserver"
    out: list[dict[str, str | None]] = []

    def folder(name: str) -> Path:
        path = base / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def entry(path: Path, service: str | None, member: str | None = None) -> None:
        out.append({"path": path.relative_to(root).as_posix(), "service": service,
                    "member": member})

    it, finance = folder("IT/leavers/jdoe"), folder("Finance")
    entry(gen.docx_codes(it, gen.google_codes(rng)), "google")
    entry(gen.xlsx_codes(folder("Finance/private"), gen.google_codes(rng)), "google")
    entry(gen.pptx_codes(folder("Onboarding"), gen.github_codes(rng)), "github")
    entry(gen.pdf_codes(folder("Home/asmith"), gen.google_codes(rng)), "google")
    entry(gen.pdf_scanned(folder("Scans"), gen.google_codes(rng)), "google", "page 1 image 1")
    entry(gen.odt_codes(folder("Home/klaus"), gen.google_codes(rng)), "google")
    seed = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(32))
    entry(gen.pdf_enrolment(it, f"otpauth://totp/Acme%20VPN:jdoe@acme.example?secret={seed}"
                                "&issuer=Acme%20VPN"), "totp", "page 1 image 1")
    entry(gen.export_zip(folder("Backups/laptop-2023"), gen.github_codes(rng), rng), "github",
          "github-recovery-codes.txt")
    gen.pdf_text(folder("Archive"), [["Personal documents"]], "locked.pdf", password="x9!kQ")
    entry(gen.docx_orders(finance, rng), None)
    entry(gen.xlsx_orders(finance, rng), None)
    entry(gen.ods_orders(finance, rng), None)
    entry(gen.pdf_invoice(finance, rng), None)
    entry(gen.pptx_timetable(folder("Facilities")), None)
    return out


if __name__ == "__main__":
    import sys

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "fixtures-docs")
    for item in build(target, random.Random(1003)):
        print(item)
