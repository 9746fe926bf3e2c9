"""Pictures of the demo share: screenshots of backup-code pages, an authenticator
enrolment screen and an export QR code, plus a holiday photo and an order page
(hard negatives). Drawn by tests/gen_images.py (Pillow, qrcode: the dev extra).
"""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path
from types import ModuleType

GEN = Path(__file__).resolve().parents[1] / "tests" / "gen_images.py"


def _gen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_images", GEN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_images", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def build(root: Path, rng: random.Random) -> list[dict[str, str | None]]:
    gen = _gen()
    pictures = root / "home" / "jdoe" / "Pictures"
    screens = pictures / "Screenshots"
    phone = pictures / "Phone"
    for folder in (screens, phone):
        folder.mkdir(parents=True, exist_ok=True)
    out: list[dict[str, str | None]] = []

    def write(path: Path, data: bytes, service: str | None) -> None:
        path.write_bytes(data)
        out.append({"path": path.relative_to(root).as_posix(), "service": service,
                    "member": None})

    google = gen.render_google(gen.google_codes(rng), "j.doe@example.com", theme="dark")
    write(screens / "Screenshot 2025-11-27 at 10.42.13.png", gen.encode(google, "PNG"), "google")
    github = gen.render_github(gen.github_codes(rng), theme="light")
    write(screens / "Screenshot 2025-10-02 091501.jpg", gen.encode(github, "JPEG", quality=70),
          "github")

    secret = gen.base32_secret(rng)
    uri = gen.otpauth_uri("ACME VPN", "j.doe@example.com", secret)
    write(screens / "vpn-2fa-setup.png", gen.encode(gen.render_enrolment(uri, secret), "PNG"),
          "totp")
    export = gen.migration_uri([("Example", "j.doe@example.com", rng.randbytes(10)),
                                ("GitHub", "jdoe", rng.randbytes(20))])
    write(phone / "IMG_2291.JPG", gen.encode(gen.render_export(export), "JPEG", quality=80),
          "totp")

    write(phone / "IMG_2304.JPG", gen.encode(gen.render_photo(rng, (1200, 900)), "JPEG",
                                             quality=80), None)
    write(screens / "orders.png", gen.encode(gen.render_receipt(rng), "PNG"), None)
    return out
