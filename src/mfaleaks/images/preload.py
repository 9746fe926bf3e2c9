"""Loaded by the worker server (run/forkstart.PRELOAD): the OCR engine made once there.

Each worker made its own engine on its first picture (~0.2 s of CPU: the model
loads) and imported the picture code (~40 ms). Made here, before the workers are
forked, it is made once per scan and the workers start with it (engine.warm).
A scan that reads no picture pays it once, in the server, on the other core
while the main process walks. Failures are left to the first picture, which
reports them.
"""

from __future__ import annotations

import contextlib

from mfaleaks.images import engine, ocr, qr  # noqa: F401  (imported to be inherited)

# The fork server tolerates only ImportError while it preloads.
with contextlib.suppress(Exception):
    engine.warm()
