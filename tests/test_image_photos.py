"""Pictures as people take them (issue 21), and what OCR does to help tesseract.

Phone photos of a printed sheet and of a screen (tilted, lit from one side, out of
focus, JPEG 70, EXIF orientation), screenshots at 60% and at 3x, a dark chat app,
and look-alikes with 4+4 digit numbers and no recovery wording, all drawn by
tests/gen_images.py (people_set). The real CLI scans them; the helpers are checked
on their own where an exact answer is known.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

import gen_images as gen
from conftest import invoke
from mfaleaks.images import ocr, ocrcache
from mfaleaks.images.layout import Word, words_from_tsv

pytestmark = pytest.mark.skipif(not ocr.tesseract_available(), reason="tesseract not installed")


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[gen.Sample], dict[str, Any]]:
    folder = tmp_path_factory.mktemp("people")
    samples = gen.people_set(random.Random(21))
    for s in samples:
        (folder / s.name).write_bytes(s.data)
    blank = Image.new("RGB", (1600, 1200), (200, 210, 220))
    (folder / "blank.png").write_bytes(gen.encode(blank, "PNG"))
    ocrcache.clear_memory()
    res = invoke("scan", "--format", "json", "--jobs", "1", str(folder))
    assert res.exit_code == 1, res.stderr
    return samples, res.report


def test_every_picture_of_codes_gives_its_service(
    people: tuple[list[gen.Sample], dict[str, Any]],
) -> None:
    samples, report = people
    found: dict[str, list[dict[str, Any]]] = {}
    for f in report["findings"]:
        found.setdefault(Path(f["path"]).name, []).append(f)
    for s in samples:
        if not s.service:
            continue
        # A printed sheet never names Google: a generic finding is the right one there.
        services = {s.service, "generic"} if s.meta.get("named") == "no" else {s.service}
        assert any(f["service"] in services and f["confidence"] in ("medium", "high")
                   and f["count"] >= 8 for f in found.get(s.name, [])), (s.name, found.get(s.name))
    assert report["errors"] == []


def test_look_alikes_stay_low(people: tuple[list[gen.Sample], dict[str, Any]]) -> None:
    samples, report = people
    negatives = {s.name for s in samples if not s.service}
    assert negatives
    for f in report["findings"]:
        if Path(f["path"]).name in negatives:
            assert f["confidence"] == "low", f


def test_stats_count_pictures_read_and_dismissed(
    people: tuple[list[gen.Sample], dict[str, Any]],
) -> None:
    samples, report = people
    assert report["stats"]["pictures_dismissed"] == 1  # blank.png: one colour
    assert report["stats"]["pictures_read"] == len(samples)


def test_skew_is_measured_both_ways() -> None:
    page = gen.render_printed(gen.google_codes(random.Random(1))).convert("L")
    for angle in (-6.0, 4.0):
        turned = page.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=255)
        # The turn that puts the lines level again is the opposite one.
        assert abs(ocr.skew_angle(turned) + angle) <= 1.0
    assert abs(ocr.skew_angle(page)) <= 0.5


def test_a_box_on_a_turned_picture_is_mapped_back() -> None:
    size = (400, 300)
    img = Image.new("L", size, 255)
    ImageDraw.Draw(img).rectangle([300, 60, 339, 79], fill=0)  # a word at (300, 60) 40x20
    angle = 8.0
    turned = img.rotate(angle, resample=Image.Resampling.NEAREST, fillcolor=255)
    ink = turned.point(lambda v: 255 if v < 128 else 0).getbbox()
    assert ink is not None
    box = (ink[0], ink[1], ink[2] - ink[0], ink[3] - ink[1])
    left, top, width, height = ocr.turn_box(box, angle, size)
    # The box of a turned box is larger than the word; it must hold it, loosely.
    assert left <= 300 <= left + 12 and top <= 60 <= top + 12
    assert 340 <= left + width <= 352 and 80 <= top + height <= 92


def test_photo_polarity_follows_the_text_not_the_desk() -> None:
    sheet = gen.render_printed(gen.google_codes(random.Random(2))).convert("L")
    desk = Image.new("L", (sheet.width * 2, sheet.height), 40)  # more desk than sheet
    desk.paste(sheet, (0, 0))
    assert ocr.photo_dark_on_light(desk) is desk  # dark text on a sheet: kept
    chat = gen.render_chat([(True, ["1. 4821 7730", "2. 1234 5678"])]).convert("L")
    assert ocr.photo_dark_on_light(chat) is not chat  # light text on dark: inverted


def _word(text: str, left: int, top: int, width: int = 100, height: int = 20) -> Word:
    return Word(text, left, top, width, height, (1, 1, 1))


def test_a_second_reading_mends_only_damaged_codes_at_their_place() -> None:
    first = [_word("Recovery", 0, 0), _word("codes", 110, 0),
             _word("T4ceb-d4d3f", 100, 100), _word("a1b2c-3d4e5", 100, 140),
             _word("55ef.cc-606", 100, 180)]
    assert ocr.needs_second_pass("Recovery codes\nT4ceb-d4d3f\na1b2c-3d4e5")
    assert not ocr.needs_second_pass("Recovery codes\na1b2c-3d4e5\n4821 7730")
    assert not ocr.needs_second_pass("Order T4ceb-d4d3f")  # no recovery wording
    # Read again at twice the size: the first damaged code comes out whole; the third
    # is read whole too, but lower on the page than the damaged one: not its place.
    again = [_word("74ceb-d4d3f", 200, 200, 200, 40), _word("a1b2c-3d4e5", 200, 280, 200, 40),
             _word("5efcc-60650", 200, 600, 200, 40)]
    mended = ocr.mend(first, 1.0, again, 2.0)
    assert [w.text for w in mended] == ["Recovery", "codes", "74ceb-d4d3f", "a1b2c-3d4e5",
                                        "55ef.cc-606"]


def test_only_the_lines_of_damaged_codes_are_read_again() -> None:
    # Two damaged codes on neighbouring lines, a whole one between groups, a third damaged
    # code far below, one at the page's left edge: each group is read again with a line
    # height above and below and AROUND line heights to each side, not the page between.
    words = [_word("Recovery", 0, 0), _word("codes", 110, 0),
             _word("T4ceb-d4d3f", 300, 100), _word("a1b2c-3d4e", 300, 140),
             _word("a1b2c-3d4e5", 300, 300), _word("55ef.cc-606", 300, 600),
             _word("9f3a1-2b7cX", 10, 700)]
    side = int(ocr.AROUND * 20)
    assert ocr.damaged_regions(words, 1.0, (1280, 800)) == [
        (300 - side, 80, 100 + 2 * side + 1, 101),
        (300 - side, 580, 100 + 2 * side + 1, 61),
        (0, 680, 110 + side + 1, 61),
    ]
    # Boxes are in the caller's pixels when the words were read at another scale.
    assert ocr.damaged_regions([_word("55ef.cc-606", 600, 1200, 200, 40)], 2.0,
                               (1280, 800)) == [(300 - side, 580, 100 + 2 * side + 1, 61)]
    assert ocr.damaged_regions(words[:2] + words[4:5], 1.0, (1280, 800)) == []


def test_a_list_number_glued_to_a_code_is_split_off() -> None:
    row = ["5", "1", "1", "1", "1", "1", "100", "40", "120", "20", "91.0", "2.4267"]
    words = words_from_tsv([row])
    assert [(w.text, w.left, w.left + w.width) for w in words] == [
        ("2.", 100, 140), ("4267", 140, 220)]
    assert [w.text for w in words_from_tsv([[*row[:11], "2024.1"]])] == ["2024.1"]
