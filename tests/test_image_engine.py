"""The in-process OCR engine made before a fork (as the worker server does) reads in
the processes forked from it, and they need not load the model again."""

from __future__ import annotations

import multiprocessing
import random
import sys
from pathlib import Path

import pytest

from mfaleaks.detect.ocrfix import normalise_ocr
from mfaleaks.images import engine
from mfaleaks.images.ocr import read_text

sys.path.insert(0, str(Path(__file__).parent))
import gen_images as gen

pytestmark = pytest.mark.skipif(
    engine.current() is None or engine.current().name != "tesserocr",  # type: ignore[union-attr]
    reason="tesserocr cannot load here: no engine to make before a fork")


def _read_in_child(args: tuple[list[str], bytes]) -> tuple[int, int]:
    """Codes read, and which engine read them (its address: a fork keeps addresses)."""
    codes, data = args
    from io import BytesIO

    from PIL import Image

    text = normalise_ocr(read_text(Image.open(BytesIO(data)), 60).text)
    return sum(c in text or c.replace(" ", "") in text for c in codes), id(engine._api())


def test_an_engine_made_before_the_fork_reads_in_every_child() -> None:
    engine.reset()
    engine.warm()
    made = id(engine._api())
    rng = random.Random(3)
    pages = []
    for theme in ("light", "dark"):
        codes = gen.google_codes(rng)
        pages.append((codes, gen.encode(gen.render_google(codes, theme=theme), "PNG")))
    with multiprocessing.get_context("fork").Pool(2) as pool:
        results = pool.map(_read_in_child, pages, chunksize=1)
    assert results == [(10, made), (10, made)]
