"""The pattern-source group scanners: one strict (shapescan), one lenient (reasons)."""

from __future__ import annotations

import pytest

from mfaleaks.detect import shapescan
from mfaleaks.detect.rules.load import DEFAULT_RULES_DIR, load_pack
from mfaleaks.detect.shapesource import Unsupported, group_end, strict_group_end


def test_both_read_a_group_with_classes_and_escapes() -> None:
    src = r"(?P<code>[a-z\]()]{4}(?:-\)x)?)tail"
    assert strict_group_end(src, 0) == group_end(src, 0) == src.index("tail")
    assert strict_group_end("([^])])x", 0) == 7  # ']' first in a class is literal


@pytest.mark.parametrize(("src", "lenient"), [
    ("(abc", 4),  # an open group: the rest of the source
    ("(a[b[c]d)e", 9),  # a '[' inside a class: read as a character
])
def test_what_the_strict_scanner_refuses_the_lenient_one_reads(src: str, lenient: int) -> None:
    with pytest.raises(Unsupported):
        strict_group_end(src, 0)
    assert group_end(src, 0) == lenient


def test_shapescan_uses_the_strict_scanner() -> None:
    assert shapescan._group_end is strict_group_end
    with pytest.raises(shapescan._Unsupported):
        shapescan.relaxed("(?<![a[b])x")


def test_every_group_of_the_rule_pack_is_read_alike() -> None:
    pack = load_pack([DEFAULT_RULES_DIR])
    for rule in pack.rules:
        for shape in rule.shapes:
            src = shape.pattern.pattern
            for i in (i for i, c in enumerate(src) if c == "("):
                assert group_end(src, i) == strict_group_end(src, i), (shape.name, i)
