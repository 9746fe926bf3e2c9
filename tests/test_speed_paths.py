"""The fast paths of a scan give what the plain ones give: shapes searched only around
where Hyperscan says they may end (detect/shapescan.py), and a big file scanned in
windows by several workers (run/plan.py, extract/text.py)."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from mfaleaks.cache import contents
from mfaleaks.config import ScanConfig
from mfaleaks.detect import shapescan
from mfaleaks.detect.match import run_tokens, shape_tokens
from mfaleaks.detect.rules.load import DEFAULT_RULES_DIR, load_pack
from mfaleaks.detect.score import Engine
from mfaleaks.extract.text import text_chunks
from mfaleaks.limits import Limits
from mfaleaks.models import Confidence, FileResult, Origin, ScanError, Source, TextChunk
from mfaleaks.run import plan
from mfaleaks.run.scan import run_scan

PACK = load_pack([DEFAULT_RULES_DIR])
ENGINE = Engine(PACK, min_confidence=Confidence.LOW)
SCANNER = ENGINE.shape_scanner

_PIECES = st.sampled_from(
    ["0", "1", "7", "a", "f", "B", "Z", "2", " ", "  ", "-", "_", ".", "/", ":", ",", "+",
     "@", "=", "\n", "\t", "·", "\u00a0", "é", "²", "٣", "Ⅻ", "12345678", "4821 7730",
     "3f9a2-b81c4", "0123456789abcdef", "ABCD-EF23", "JBSWY3DPEHPK3PXP", "R12345",
     "Temporary Access Pass: ", "TAP", "abandon ability able about above absent absorb "
     "abstract absurd abuse access accident\n", "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP"]
)


def _both(text: str, spans: list[tuple[int, int]] | None) -> None:
    ends = SCANNER.ends(text)
    runs = SCANNER.runs(text)
    assert ends is not None and runs is not None
    for name, (shape, _) in ENGINE.by_shape.items():
        if name in runs:  # the codes of the whole text that start in the span
            plain = [t for t in shape_tokens(shape, text)
                     if spans is None or any(lo <= t.start < hi for lo, hi in spans)]
            assert run_tokens(shape, text, spans, runs[name]) == plain, (name, text)
            continue
        if name not in ends:
            continue
        width = SCANNER.widths[name]
        if width is None:  # only whether it may occur (the pattern then runs over the text)
            assert ends[name] or not shape_tokens(shape, text), (name, text)
            continue
        if spans is None:
            plain = shape_tokens(shape, text)
        else:  # the codes of the whole text that start in the span
            (lo, hi), = spans
            plain = [t for t in shape_tokens(shape, text, [(lo, len(text))]) if t.start < hi]
        windowed = shape_tokens(shape, text, spans, ends[name], width)
        assert windowed == plain, (name, text)


def test_most_shapes_are_searched_in_windows() -> None:
    windowed = {name for name, width in SCANNER.widths.items() if width is not None}
    assert {"digits-4-4", "digits-6-10", "digits-9", "base32-seed"} <= windowed
    assert {"word-phrase-12", "entra-tap"} <= set(SCANNER.widths) - windowed
    # Runs of one class between boundaries are found whole by Hyperscan, without windows,
    # and so are segments of letters, digits and hyphens between boundaries that hold
    # them all (shapescan.segment_expression).
    assert {"hex-8-20", "hex-16", "alnum-8-12"} <= SCANNER.run_shapes
    assert {"hex-5-5", "alnum-groups", "alnum-7x4"} <= SCANNER.run_shapes
    assert not SCANNER.run_shapes & set(SCANNER.widths)


@pytest.mark.parametrize(("pattern", "taken"), [
    (r"(?<![\p{L}\p{N}_\-/.])[0-9a-f]{8,20}(?![\p{L}\p{N}_\-/])", True),
    (r"(?<![\p{L}\p{N}])[0-9a-f]{16}(?![\p{L}\p{N}])", True),
    # A run could end inside a longer one: the pattern would match part of it.
    (r"(?<![\p{L}])[0-9a-f]{16}(?![\p{L}\p{N}])", False),
    (r"(?<![a-z])[0-9a-f]{8}(?![a-z0-9])", False),
    # A line break is where the text is padded: it must be outside the boundary classes.
    (r"(?<![\s0-9a-f])[0-9a-f]{8}(?![0-9a-f])", False),
    # Not one class between two lookarounds of one class each.
    (r"(?<![\p{N}\-/.:,+#])\d{9}(?![\p{N}\-/:,]|\.\d)", False),
    (r"(?<![\p{L}\p{N}_\-])[a-z0-9]{4}-[a-z0-9]{4}(?![\p{L}\p{N}_\-])", False),
])
def test_run_shapes_are_those_whose_runs_are_their_matches(pattern: str, taken: bool) -> None:
    assert (shapescan.run_expression(regex.compile(pattern)) is not None) is taken
    assert shapescan.run_expression(regex.compile(pattern, regex.IGNORECASE)) is None


def test_runs_next_to_characters_of_several_bytes_are_where_the_pattern_finds_them() -> None:
    text = ("€0123456789abcdef€ é0123456789abcdee ab12cd34ef,Ⅻ00ff00ff00ff00ffé "
            "+12345678901 𝟘1234abcd")
    runs = SCANNER.runs(text)
    assert runs is not None
    for name in SCANNER.run_shapes:
        shape = ENGINE.by_shape[name][0]
        assert [(t.start, t.end) for t in shape_tokens(shape, text)] == [
            (t.start, t.end) for t in run_tokens(shape, text, None, runs[name])
        ]
    starts, stops = runs["hex-16"].starts, runs["hex-16"].stops
    assert [text[a:b] for a, b in zip(starts, stops, strict=True)] == ["0123456789abcdef"]


@given(st.lists(_PIECES, max_size=60).map("".join), st.integers(0, 400), st.integers(0, 400))
@settings(max_examples=300, deadline=None)
def test_windows_find_the_codes_a_search_of_the_text_finds(text: str, a: int, b: int) -> None:
    _both(text, None)
    lo, hi = sorted((min(a, len(text)), min(b, len(text))))
    _both(text, [(lo, hi)])


def _export(rows: int, seed: int = 5) -> str:
    """Dense data: numbers, hex ids and recovery wording on every line, and some codes."""
    rng = random.Random(seed)
    lines = ["name,email,Recovery Phone,employee,device,2sv method,backup codes"]
    for i in range(rows):
        codes = " ".join(f"{rng.randrange(10**8):08d}" for _ in range(4)) if i % 50 == 0 else ""
        lines.append(f"user{i},user{i}.recovery@example.com,+1{rng.randrange(10**9):09d},"
                     f"E{rng.randrange(10**6):06d},{rng.getrandbits(64):016x},"
                     f"{rng.choice(['Authenticator', 'Backup codes', 'SMS'])},{codes}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("name", ["users.csv", "google-workspace-users.csv"])
def test_dense_text_gives_the_same_findings_without_hyperscan(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = _export(1500)
    assert len(text) >= shapescan.MIN_TEXT
    source = Source(origin=Origin(name), name=name, data=b"")

    def findings() -> list[tuple[str, int, float, str]]:
        return [(f.rule_id, f.line or 0, f.score, f.fingerprint)
                for f in ENGINE.scan_chunk(TextChunk(text=text), source)]

    fast = findings()
    monkeypatch.setattr(shapescan.ShapeScanner, "search",
                        lambda self, text, data=None: (None, None))
    assert findings() == fast


def _big_text(path: Path, cut_at: float) -> int:
    """Filler with three sets of Google-like backup codes, one across `cut_at` of the
    file; the line of that set's heading."""
    filler = "The build server compiled the release and archived the logs.\n"
    codes = "".join(f"{i + 1}. {4821 + 37 * i:04d} {7730 - 41 * i:04d}\n" for i in range(10))
    block = "SAVE YOUR BACKUP CODES\nKeep these backup codes somewhere safe.\n" + codes
    size = 5_000_000  # streamed, not read whole (contents.SMALL_FILE)
    out: list[str] = []
    total = 0
    heading = 0
    for mark in (0.1, cut_at, 0.9):
        while total < size * mark - len(block) // 2:
            out.append(filler)
            total += len(filler)
        if mark == cut_at:
            heading = len(out) + 1
        out.append(block)
        total += len(block)
    while total < size:
        out.append(filler)
        total += len(filler)
    data = "".join(out)
    path.write_text(data)
    return sum(s.count("\n") for s in out[: heading - 1]) + 1


def test_a_big_file_is_split_and_a_cluster_across_windows_is_found_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "notes.txt"
    heading = _big_text(path, 0.5)
    size = path.stat().st_size
    monkeypatch.setattr(plan, "SPLIT_FILE", 1_000_000)
    monkeypatch.setattr(plan, "WINDOW", 1_000_000)
    windows = plan.windows_of(size, 2)
    assert len(windows) == 4 and windows[1][1] == size // 2  # a cut in the codes

    def scan(jobs: int) -> list[tuple[str, int | None, str]]:
        config = ScanConfig(paths=(str(path),), jobs=jobs, limits=replace(Limits(), ocr=False))
        result = run_scan(config)
        assert result.stats.files == 1 and result.stats.bytes == size
        assert not result.errors
        return [(f.rule_id, f.line, f.fingerprint) for f in result.findings]

    split = scan(2)
    assert len(split) == 3
    assert sum(1 for _, line, _ in split if line is not None and 0 < line - heading < 4) == 1
    assert split == scan(1)


def test_windows_own_every_line_once_and_number_lines_as_the_file_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mfaleaks.extract import text as text_module

    monkeypatch.setattr(text_module, "OVERLAP", 5_000)
    monkeypatch.setattr(text_module, "BLOCK", 20_000)
    monkeypatch.setattr(text_module, "_TAIL", 4_000)
    rng = random.Random(2)
    lines = [f"line {i} " + "x" * rng.randrange(0, 200) for i in range(1, 3001)]
    path = tmp_path / "log.txt"
    path.write_text("\n".join(lines))  # no newline at the end
    size = path.stat().st_size
    before = 0  # lines owned by the windows so far: what plan._numbered adds up
    for start, stop in [(0, size // 3), (size // 3, 2 * size // 3), (2 * size // 3, size)]:
        source = Source(origin=Origin(str(path)), name="log.txt", fs_path=str(path), size=size,
                        part=(start, stop))
        chunks = list(text_chunks(source, "text"))
        assert chunks and len(chunks) > 2  # (blocks of 20,000 bytes)
        first, end = chunks[-1].owned or (0, 0)
        # The end of its own lines is told once the window has read that far.
        assert all(c.owned in ((first, end), (first, text_module.LAST_LINE)) for c in chunks)
        assert (end == text_module.LAST_LINE) == (stop == size)
        # Lines count from the window's first: the file's line is that plus those before.
        base = before - (first - 1)
        assert base == text_module.window_base(source, start)
        for chunk in chunks:
            assert chunk.line is not None
            got = chunk.text.split("\n")
            if chunk.text.endswith("\n"):
                got.pop()
            want = lines[base + chunk.line - 1 : base + chunk.line - 1 + len(got)]
            assert got == want
        assert lines[base + first - 1].split(" ")[1] == str(before + 1)  # one after another
        before += end - first
    assert before > len(lines)  # (the last window owns to LAST_LINE)


@pytest.mark.parametrize("lost", [0, 1, 2])
def test_a_window_that_did_not_finish_leaves_the_others_on_the_file_s_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lost: int
) -> None:
    """A window that ran out of time (or whose reader died) says nothing of its lines: the
    windows after it are numbered from the file, read by the main process."""
    path = tmp_path / "notes.txt"
    heading = _big_text(path, 0.7)
    monkeypatch.setattr(plan, "SPLIT_FILE", 1_000_000)
    monkeypatch.setattr(plan, "WINDOW", 1_000_000)
    whole = run_scan(ScanConfig(paths=(str(path),), jobs=1,
                                limits=replace(Limits(), ocr=False)))
    lines = sorted(f.line or 0 for f in whole.findings)
    assert len(lines) == 3 and any(0 < n - heading < 4 for n in lines)
    starts = [s for s, _ in plan.windows_of(path.stat().st_size, 2)]
    real = plan.Planner._finished

    def finished(self: plan.Planner, done: Any) -> Any:
        kept = []
        for tag, source, result in done:
            if source.part is not None and source.part[0] == starts[lost]:
                result = FileResult(path=result.path, bytes=result.bytes)  # said nothing
                result.errors.append(ScanError(result.path, None, "time limit reached"))
            kept.append((tag, source, result))
        return real(self, kept)

    monkeypatch.setattr(plan.Planner, "_finished", finished)
    split = run_scan(ScanConfig(paths=(str(path),), jobs=2, limits=replace(Limits(), ocr=False)))
    got = sorted(f.line or 0 for f in split.findings)
    # The lost window's findings are gone; every other one is on the file's line.
    assert set(got) <= set(lines) and len(got) == {0: 2, 1: 3, 2: 2}[lost]
    assert [e.reason for e in split.errors] == ["time limit reached"]


def test_runs_that_validation_refuses_are_not_reported() -> None:
    # hex-8-20 asks for a digit and a letter: a phone number is a run of its class but
    # no code, and Hyperscan does not report it (the validation is in its expression).
    text = "+12345678901, 0123456789abcdef, abcdefabcdef, deadbeef01234567890123\n"
    runs = SCANNER.runs(text)
    assert runs is not None
    starts, stops = runs["hex-8-20"].starts, runs["hex-8-20"].stops
    assert [text[a:b] for a, b in zip(starts, stops, strict=True)] == ["0123456789abcdef"]
    pattern = regex.compile(r"(?<![\p{L}\p{N}])[0-9a-f]{8,20}(?![\p{L}\p{N}])")
    folded = shapescan.run_expression(pattern, regex.compile(r"^(?=.*\d)(?=.*[a-f])"))
    plain = shapescan.run_expression(pattern, regex.compile(r"[a-f]{3}"))
    assert folded is not None and plain is not None
    assert folded[1:] == plain[1:] == (8, 20)
    assert "{8,20}" in plain[0] and "{8,20}" not in folded[0]


def _table_with_a_late_seed(path: Path, rows: int) -> int:
    """A CSV whose `secret` column is empty but in one row near the end; its line."""
    out = ["name,email,department,secret"]
    out += [f"user{i},u{i}@example.com,dept{i % 40}," for i in range(rows)]
    out.append("zed,zed@example.com,ops,IFUFDYIBEHMI7SKOEWQKUR5JQ6NQPUXC")
    out += [f"user{i},u{i}@example.com,dept{i % 40}," for i in range(100)]
    path.write_text("\n".join(out) + "\n")
    return rows + 2


def _seed_lines(path: Path, jobs: int) -> list[int | None]:
    config = ScanConfig(paths=(str(path),), jobs=jobs, limits=replace(Limits(), ocr=False))
    result = run_scan(config)  # at the default --min-confidence medium
    assert not result.errors
    return [f.line for f in result.findings if f.rule_id == "totp-seed"]


def test_a_seed_in_a_later_block_of_a_table_is_labelled_by_the_files_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The header is only in the first block: later ones carry it (TextChunk.header)."""
    from mfaleaks.extract import text as text_module

    monkeypatch.setattr(text_module, "BLOCK", 64 * 1024)
    monkeypatch.setattr(text_module, "_TAIL", 8 * 1024)
    path = tmp_path / "accounts.csv"
    line = _table_with_a_late_seed(path, 20_000)  # ~0.7 MB: a dozen blocks
    assert _seed_lines(path, jobs=1) == [line]


def test_a_seed_in_a_later_window_of_a_split_table_is_labelled_by_the_files_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "accounts.csv"
    line = _table_with_a_late_seed(path, 140_000)  # ~5 MB: not a small file, read whole
    assert not contents.small(Source(Origin(str(path)), name=path.name, fs_path=str(path),
                                     size=path.stat().st_size))
    monkeypatch.setattr(plan, "SPLIT_FILE", 1_000_000)
    monkeypatch.setattr(plan, "WINDOW", 1_000_000)
    assert len(plan.windows_of(path.stat().st_size, 2)) == 4  # the seed is in the last
    assert _seed_lines(path, jobs=2) == [line]
