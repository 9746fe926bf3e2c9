"""Clusters of codes -> scored findings.

A finding needs evidence, not a lone token: the score adds up the size of the
cluster, how uniform it is, recovery wording near it, the service named near
it or in the file name, and known layouts; it takes away for wording and
number patterns of the usual look-alikes (order numbers, phone lists, dates,
timetables, product keys, hashes). One finding per cluster: when several
rules fit the same codes, the best-supported rule wins.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

import regex

from mfaleaks.detect.examples import (
    doctest_at,
    known_examples,
    names_code,
    why_tests_or_docs,
)
from mfaleaks.detect.fields import (
    column_label,
    has_totp_column,
    is_table,
    label_before,
    record_bounds,
)
from mfaleaks.detect.gates import Gates
from mfaleaks.detect.inline import allow_marker
from mfaleaks.detect.jsonstr import decoded, line_map
from mfaleaks.detect.mask import fingerprint, mask
from mfaleaks.detect.match import (
    Cluster,
    Hits,
    Term,
    TermIndex,
    Token,
    clusters,
    lowered,
    rules_by_shape,
    run_tokens,
    shape_tokens,
    shared_run_tokens,
)
from mfaleaks.detect.ocrfix import normalise_ocr
from mfaleaks.detect.prefilter import LowPaths, Prefilter
from mfaleaks.detect.reasons import redactor_for
from mfaleaks.detect.rules.model import Rule, RulePack, Shape
from mfaleaks.detect.shapescan import MIN_TEXT, ShapeScanner, widened
from mfaleaks.detect.wrap import unwrap
from mfaleaks.models import Box, Confidence, Finding, Source, TextChunk

HIGH, MEDIUM, LOW = 7.0, 4.5, 2.5
WIDE, NEAR = 1500, 300  # characters around a cluster searched for words
MAX_LISTED = 50  # masked codes listed per finding; `count` has the full number
WEAK_VOCABULARY = frozenset({"twofactor"})
NEGATIVE_VOCABULARY = "negative"
_LOOKALIKE_KIND = frozenset({f"vocab:{NEGATIVE_VOCABULARY}"})

_BULLETS = regex.compile(
    r"(?<![\p{L}\p{N}])(?:\d{1,2}[.):]|[-*•·>#|]|\((?:used|utilisé|benutzt|usado)\)|used|✓|✔)"
    r"(?![\p{L}\p{N}])",
    regex.I,
)

# "3. 1186 8779"; OCR reads "4, 1266 3849", or "2 9558 2428" once ocrfix unglued it.
_NUMBERING = regex.compile(r"(?<![\p{N}.,])(\d{1,2})(?:[.),][ \t]*|[ \t]+)$")
_ADDRESS = regex.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.\p{L}{2,}(?!\w)")


def confidence_of(score: float) -> Confidence | None:
    if score >= HIGH:
        return Confidence.HIGH
    if score >= MEDIUM:
        return Confidence.MEDIUM
    if score >= LOW:
        return Confidence.LOW
    return None


@dataclass
class _Scored:
    rule: Rule
    cluster: Cluster
    score: float
    evidence: list[str] = field(default_factory=list)
    capped: bool = False

    @property
    def confidence(self) -> Confidence | None:
        conf = confidence_of(self.score)
        if conf is not None and self.capped:
            return Confidence.LOW
        return conf


class Engine:
    """The compiled rule pack; one per worker process."""

    def __init__(
        self,
        pack: RulePack,
        *,
        show_secrets: bool = False,
        min_confidence: Confidence = Confidence.LOW,
    ) -> None:
        self.pack = pack
        self.show_secrets = show_secrets
        self.min_confidence = min_confidence
        self.terms = TermIndex(pack)
        self.redactor = redactor_for(pack)  # reasons and member names: the same shapes
        self.by_shape = rules_by_shape(pack.rules)
        self._names: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
        self._opened: dict[tuple[frozenset[str], frozenset[str]], frozenset[str]] = {}
        self._filenames = [(r.id, p) for r in pack.rules for p in r.filenames]
        self.generic_shapes = frozenset(
            s.name for r in pack.rules if r.generic for s in r.shapes
        )
        self.distinctive = {
            name for name, (_, rules) in self.by_shape.items() if any(r.distinctive for r in rules)
        }
        self.gates = Gates(self.by_shape[name][0] for name in self.distinctive)
        self.shape_scanner = ShapeScanner(shape for shape, _ in self.by_shape.values())
        self._scanners: dict[frozenset[str], ShapeScanner] = {}  # see _scanner
        # Per shape: the words that can lift one of its rules to medium (see _spans).
        self._relevant = {
            name: frozenset(
                [f"keyword:{r.id}" for r in rules]
                + [f"vocab:{v}" for r in rules for v in r.context if v != NEGATIVE_VOCABULARY]
            )
            for name, (_, rules) in self.by_shape.items()
        }
        self._wordings = frozenset(self._relevant.values())  # shapes share them (_spans)
        # Per shape: the fewest codes one of its rules scores (score_cluster); a cluster
        # of fewer tokens holds fewer codes, and is not made (match.clusters).
        self._fewest = {name: min(r.min_codes for r in rules)
                        for name, (_, rules) in self.by_shape.items()}
        # Per term pattern: does a hit of it seed a span (see _spans)?
        self._seeds = [
            any(_seeds_span(t) for t in self.terms.terms_of(i))
            for i in range(self.terms.pattern_count)
        ]
        # Text with neither a seed word nor a gate is dismissed below; the
        # prefilter finds that out in one pass (None: no shape may always run).
        low = low_paths(self) if min_confidence is Confidence.LOW else None
        self._prefilter = None if self.gates.always else Prefilter.build(
            (self.terms.pattern(i) for i, seed in enumerate(self._seeds) if seed),
            self.gates.literals,
            self.gates.anchors,
            self.gates.non_ascii_opens,
            low,
        )
        # In a table a TOTP seed's label is its column's header (fields.column_label),
        # lines away from any wording: those shapes run over the whole table, at low
        # over every table, at medium over one whose header names such a column.
        self._table_shapes = frozenset(
            s.name for s in (low.labelled if low else labelled_shapes(self))
        )

    def scan_chunk(self, chunk: TextChunk, source: Source) -> Iterator[Finding]:
        # Other readings of the same text: codes broken across lines (PDF text, narrow
        # mail) joined, and JSON strings (notes, messages) as the text they hold. The
        # same codes found in several readings give one finding, the best supported.
        variants: list[tuple[TextChunk, bool]] = []  # (reading, lines moved by decoding)
        joined = unwrap(chunk.text)
        if joined is not None:
            variants.append((dataclasses.replace(chunk, text=joined, boxes=()), False))
        json_text = decoded(chunk.text) if chunk.source == "text" else None
        if json_text is not None:
            variants.append((dataclasses.replace(chunk, text=json_text, boxes=()), True))
        if not variants:
            yield from self._scan(chunk, source)
            return
        found = list(self._scan(chunk, source))
        where = {f.fingerprint: i for i, f in reversed(list(enumerate(found)))}
        lines: list[int] | None = None
        for again, moved in variants:
            for finding in self._scan(again, source):
                i = where.get(finding.fingerprint)
                if i is not None and found[i].score >= finding.score:
                    continue
                if moved and finding.line is not None and chunk.line is not None:
                    lines = lines if lines is not None else line_map(chunk.text)
                    k = min(finding.line - chunk.line, len(lines) - 1)
                    finding = dataclasses.replace(finding, line=chunk.line + lines[k])
                if i is None:
                    where[finding.fingerprint] = len(found)
                    found.append(finding)
                else:
                    found[i] = finding
        yield from found

    def _scan(self, chunk: TextChunk, source: Source) -> Iterator[Finding]:
        text = chunk.text
        if chunk.source == "ocr":
            text = normalise_ocr(text)
        name_rules, name_kinds = self._name_evidence(source.name)
        # Look-alike words in a name ("uuid", "order") only lower scores: they do
        # not make the whole text worth running every shape over.
        name_evidence = bool(name_rules or name_kinds - _LOOKALIKE_KIND)
        at_low = self.min_confidence is Confidence.LOW
        table = (self._table_shapes if is_table(source.name) and (
            at_low or has_totp_column(text, chunk.header))
            else frozenset())
        only: frozenset[str] | None = None  # the shapes worth running (None: all)
        # Encoded once for the prefilter, the words and the shapes (each encoded it).
        data = text.encode("utf-8", "surrogatepass")
        if not name_evidence and self._prefilter is not None:
            # No seed word and no gate: the search below would stop too; at low, only
            # what low_paths lists may score, and only its shapes are run.
            only = self._prefilter.low_shapes(text, data)
            if only is not None and table:
                only |= table
            if only is not None and not only:
                return
        must_look = name_evidence or at_low or bool(table)
        _, lowb, low = lowered(text, data)
        gated = self.gates.open(text, lowb)
        must_look = must_look or bool(gated)
        raw = self.terms.scan_lowered(text, lowb, low)
        if not (must_look or raw.any_accepted(self._seeds)):
            # No distinctive shape can match and _spans would be empty, so no
            # shape yields a token: most text (code, docs) ends here.
            return
        found = raw.hits()
        hits = Hits(found)
        view = _ChunkView(chunk, text, hits, source, name_rules, name_kinds)
        view.generic_shapes = self.generic_shapes
        spans = self._spans(text, found, self._open_shapes(name_rules, name_kinds) | table)
        # One Hyperscan pass says where each shape may end (shapescan.py); its
        # pattern then runs only around those places, and not at all where there
        # are none. At low confidence (no spans: every shape over every text) this
        # is what keeps most text from the patterns, as the prefilter does above.
        # Run shapes need no pattern at all: the runs are their matches (shapescan.py).
        scanner = self._scanner(only)
        if spans is not None and len(text) < MIN_TEXT:
            ends, runs = None, None
        elif (around := _around(spans, gated, len(text))) is not None:
            ends, runs = scanner.search_within(text, around)
        else:
            ends, runs = scanner.search(text, data)
        scored: list[_Scored] = []
        placeholders: dict[str, bool] = {}  # run values seen by one run shape, for the next
        # Lists of runs several shapes share (shapescan), and the tokens made of them.
        shared = Counter(id(r.starts) for r in runs.values() if r.starts) if runs else {}
        made: dict[tuple[object, ...], tuple[list[Token], list[int]]] = {}
        for shape_name, (shape, rules) in self.by_shape.items():
            if only is not None and shape_name not in only:
                continue
            if shape_name in self.distinctive:
                if shape_name not in gated:
                    continue  # its gate says it cannot match here
                where = None
            elif spans is None or spans.get(shape_name, []) is None:
                where = None
            elif spans.get(shape_name):
                where = spans[shape_name]
            else:
                continue
            width = scanner.widths.get(shape_name)
            if runs is not None and shape_name in runs:
                given = runs[shape_name]
                if shared.get(id(given.starts), 0) > 1 and _most(where, len(text)):
                    tokens = shared_run_tokens(shape, text, where, given, placeholders, made)
                else:
                    tokens = run_tokens(shape, text, where, given, placeholders)
            elif ends is None or shape_name not in ends:
                tokens = shape_tokens(shape, text, where)
            elif not ends[shape_name]:
                continue  # it cannot match here
            elif width is None:  # no bound on its width: no windows
                tokens = shape_tokens(shape, text, where)
            else:
                tokens = shape_tokens(shape, text, where, ends[shape_name], width)
            if not tokens:
                continue
            for cluster in clusters(shape, tokens, text, self._fewest[shape_name]):
                best = self._best(rules, cluster, view)
                if best is not None:
                    scored.append(best)
        floor = self.min_confidence.rank
        for item in _resolve(scored):
            conf = item.confidence
            # The scan drops findings below --min-confidence; building one costs a
            # slow fingerprint (scrypt, ~40 ms), so it is not built. The overlap
            # resolution above ranks by confidence first: what it keeps is the same.
            if conf is not None and conf.rank >= floor:
                yield self._finding(item, view)

    def _scanner(self, only: frozenset[str] | None) -> ShapeScanner:
        """The shape scanner for these shapes only (None: all of them). At low, the
        prefilter names the few worth running in text without words: a pass for
        them alone cost half of what one for all ~20 did (their windows and runs are
        the same: each shape's are its own)."""
        if only is None:
            return self.shape_scanner
        scanner = self._scanners.get(only)
        if scanner is None:
            if len(self._scanners) >= 64:  # sets of a few low shapes: a handful in practice
                self._scanners.clear()
            scanner = self._scanners[only] = ShapeScanner(
                self.by_shape[name][0] for name in sorted(only))
        return scanner

    def _name_evidence(self, name: str) -> tuple[frozenset[str], frozenset[str]]:
        """Rules whose download name this is, and the kinds of words in the name.

        Asked once per chunk but the same for every chunk of a file (and for the
        same name in many folders): remembered for the last names seen.
        """
        cached = self._names.get(name)
        if cached is None:
            rules = frozenset(rule_id for rule_id, p in self._filenames if p.search(name))
            kinds = frozenset(t.kind for _, _, ts in self.terms.find(name) for t in ts)
            if len(self._names) >= 4096:
                self._names.clear()
            cached = self._names[name] = (rules, kinds)
        return cached

    def _open_shapes(
        self, name_rules: frozenset[str], name_kinds: frozenset[str]
    ) -> frozenset[str]:
        """The shapes a file name lets reach medium without wording in the text: those of
        the rules whose download name it is, or whose recovery wording it holds (a
        service named alone caps a cluster at low: score_cluster). Per name, remembered."""
        key = (name_rules, name_kinds)
        known = self._opened.get(key)
        if known is None:
            strong = {k[6:] for k in name_kinds
                      if k.startswith("vocab:") and k[6:] not in WEAK_VOCABULARY}
            known = frozenset(
                shape.name for rule in self.pack.rules
                if rule.id in name_rules or strong & set(rule.context)
                for shape in rule.shapes
            )
            if len(self._opened) >= 4096:
                self._opened.clear()
            self._opened[key] = known
        return known

    def _spans(
        self, text: str, found: list[tuple[int, int, tuple[Term, ...]]], opened: frozenset[str]
    ) -> dict[str, list[tuple[int, int]] | None] | None:
        """Per shape, where it is worth scanning (None: everywhere).

        Without wording that counts for one of its rules (its keywords, or the
        vocabulary in its context) and without a telling file name, a cluster of
        a shape that other things share cannot reach medium (score_cluster caps
        it), so those (costly) shapes only run around such words: from WIDE
        characters before a word to 4*WIDE after it, since codes follow their
        heading. Per shape, because "seed" (TOTP wording, all over code that
        calls random.seed) says nothing about 8-digit backup codes; and a file
        name opens only the shapes of the rules it speaks for (`opened`): a
        file called pypi.tsv costs what full.tsv costs.
        """
        if self.min_confidence is Confidence.LOW:
            return None
        # Per distinct tuple of terms (Found.hits shares them between hits of one word):
        # does it seed a span, and its kinds. Seeds are kept per distinct set of kinds
        # (a handful), in text order.
        kinds_of: dict[int, frozenset[str] | None] = {}
        seeds: dict[frozenset[str], list[int]] = {}
        for start, _, terms in found:
            key = id(terms)
            if key not in kinds_of:
                kinds = (frozenset(t.kind for t in terms)
                         if any(_seeds_span(t) for t in terms) else None)
                kinds_of[key] = kinds
                if kinds is not None and kinds not in seeds:
                    seeds[kinds] = []
            kinds = kinds_of[key]
            if kinds is not None:
                seeds[kinds].append(start)
        # Shapes share their wording: spans are worked out once per distinct set of it,
        # and once per distinct set of the seeds that set picks (text dense with codes and
        # wording has thousands of seeds, the same for most wordings).
        by_wording: dict[frozenset[str], list[tuple[int, int]]] = {}
        by_seeds: dict[tuple[frozenset[str], ...], list[tuple[int, int]]] = {}
        end = len(text)
        for relevant in self._wordings:
            picked = tuple(k for k in seeds if not k.isdisjoint(relevant))
            spans = by_seeds.get(picked)
            if spans is None:
                starts = (seeds[picked[0]] if len(picked) == 1
                          else sorted(s for k in picked for s in seeds[k]))
                spans = by_seeds[picked] = _merged_spans(starts, end)
            by_wording[relevant] = spans
        return {name: None if name in opened else by_wording[relevant]
                for name, relevant in self._relevant.items()}

    def _best(self, rules: Sequence[Rule], cluster: Cluster, view: _ChunkView) -> _Scored | None:
        # Bound first: scored with the best case for what its lines hold (the costly
        # part: each line of the cluster read again), can any rule reach the floor?
        # If not, the cluster yields nothing whichever rule wins, and what it would
        # keep in _resolve (a lower confidence) can only block what is dropped too.
        # Text dense with code-shaped ids (an export: one per row, thousands in a
        # cluster) is dismissed here without reading its lines.
        floor = self.min_confidence.rank
        if not any(
            (conf := item.confidence) is not None and conf.rank >= floor
            for rule in rules
            if (item := score_cluster(rule, cluster, view, bound=True)) is not None
        ):
            return None
        best: _Scored | None = None
        for rule in rules:
            item = score_cluster(rule, cluster, view)
            if item is None or item.confidence is None:
                continue
            # On a tie the service a reader can name wins over "generic".
            if best is None or (item.score, not item.rule.generic) > (
                best.score, not best.rule.generic
            ):
                best = item
        if best is not None and best.rule.generic:
            fits = sorted({r.service for r in rules if not r.generic})
            if fits:
                best.evidence.append(f"the shape fits {', '.join(fits)} codes")
        return best

    def _finding(self, item: _Scored, view: _ChunkView) -> Finding:
        rule, cluster = item.rule, item.cluster
        codes = [t.text for t in cluster.tokens]
        origin = view.source.origin
        conf = item.confidence
        assert conf is not None
        meta = dict(origin.meta)
        account = view.address_near(cluster)
        if account:
            meta["account"] = account  # whose codes: Google's and Discord's files name the address
        return Finding(
            rule_id=rule.id,
            service=rule.service,
            title=rule.title,
            severity=rule.severity,
            confidence=conf,
            score=round(item.score, 2),
            path=origin.path,
            member=origin.member,
            line=view.line_of(cluster.start),
            source=view.chunk.source,
            count=len(dict.fromkeys(codes)),
            redacted=tuple(mask(c) for c in list(dict.fromkeys(codes))[:MAX_LISTED]),
            fingerprint=fingerprint(rule.id, codes, cluster.shape),
            remediation=rule.remediation,
            url=rule.url,
            location=view.anchor_of(cluster.start),
            bbox=view.box_of(cluster.start, cluster.end),
            evidence=tuple(item.evidence),
            meta=meta,
            secrets=tuple(dict.fromkeys(codes)) if self.show_secrets else None,
            allow_marker=allow_marker(view.text, cluster.start, cluster.end),
        )


class _ChunkView:
    """A chunk with lazily computed facts shared by every rule that scores it."""

    def __init__(
        self,
        chunk: TextChunk,
        text: str,
        hits: Hits,
        source: Source,
        name_rules: frozenset[str],
        name_term_kinds: frozenset[str],
    ) -> None:
        self.chunk = chunk
        self.text = text
        self.hits = hits
        self.source = source
        self.name_rules = name_rules
        self.name_term_kinds = name_term_kinds
        self._nonempty: int | None = None
        self._facts: dict[tuple[str, int, int], _ClusterFacts] = {}
        self._lines: dict[tuple[str, int, int], _LineFacts] = {}
        self._near: dict[tuple[int, int], _NearTerms] = {}
        self.generic_shapes: frozenset[str] = frozenset()
        self._tests_or_docs: tuple[str, ...] | None = None  # None: not worked out yet

    @property
    def tests_or_docs(self) -> tuple[str, ...]:
        """Why the file is a test or documentation, if it is (worked out once)."""
        if self._tests_or_docs is None:
            origin = self.source.origin
            self._tests_or_docs = why_tests_or_docs(origin.path, origin.chain)
        return self._tests_or_docs

    def doctest(self, cluster: Cluster) -> bool:
        """Does the cluster sit in a doctest of Python source or documentation?"""
        return doctest_at(self.source.name, self.text, cluster.start)

    @property
    def table(self) -> bool:
        """A CSV/TSV: each row is a record with its own words."""
        return is_table(self.source.name)

    @property
    def code_name(self) -> bool:
        """A source or test file: words in its name describe code, not saved codes."""
        return names_code(self.source.name)

    @property
    def nonempty_lines(self) -> int:
        if self._nonempty is None:
            self._nonempty = sum(1 for line in self.text.splitlines() if line.strip())
        return self._nonempty

    def window(self, cluster: Cluster, size: int) -> tuple[int, int]:
        if len(self.text) <= 4 * size:
            return 0, len(self.text)
        return max(0, cluster.start - size), cluster.end + size // 2

    def address_near(self, cluster: Cluster) -> str | None:
        """The e-mail address written closest to the codes, within NEAR characters."""
        found = [
            (max(cluster.start - m.end(), m.start() - cluster.end), m.group())
            for m in _ADDRESS.finditer(self.text, max(0, cluster.start - NEAR), cluster.end + NEAR)
        ]
        return min(found)[1] if found else None

    def line_of(self, offset: int) -> int | None:
        if self.chunk.line is None:
            return None
        return self.chunk.line + self.text.count("\n", 0, offset)

    def anchor_of(self, offset: int) -> str | None:
        label = None
        for pos, name in self.chunk.anchors:
            if pos > offset:
                break
            label = name
        return label

    def box_of(self, start: int, end: int) -> Box | None:
        boxes = [b for s, e, b in self.chunk.boxes if s < end and e > start]
        if not boxes:
            return None
        left = min(b[0] for b in boxes)
        top = min(b[1] for b in boxes)
        right = max(b[0] + b[2] for b in boxes)
        bottom = max(b[1] + b[3] for b in boxes)
        return (left, top, right - left, bottom - top)

    def facts(self, cluster: Cluster) -> _ClusterFacts:
        """What every rule that scores this cluster asks of it, worked out once."""
        key = (cluster.shape.name, cluster.start, cluster.end)
        known = self._facts.get(key)
        if known is None:
            codes = [t.text for t in cluster.tokens]
            unique = list(dict.fromkeys(codes))
            known = self._facts[key] = _ClusterFacts(
                codes=codes,
                unique=unique,
                one_signature=len(unique) > 1 and _one_signature(unique),
                digit_lookalikes=(
                    _digit_lookalikes(unique) if cluster.shape.kind == "digits" else (0.0, "")
                ),
            )
        return known

    def line_facts(self, cluster: Cluster) -> _LineFacts:
        """What the lines holding the cluster's codes hold besides them (costly: each
        line is read again), worked out once."""
        key = (cluster.shape.name, cluster.start, cluster.end)
        known = self._lines.get(key)
        if known is None:
            residues = self.code_lines(cluster)
            known = self._lines[key] = _LineFacts(
                residues=len(residues),
                pure=sum(1 for r in residues if _pure(r)),
                stamped=sum(1 for r in residues if _TIMESTAMP.search(r)),
            )
        return known

    def terms_near(self, cluster: Cluster) -> _NearTerms:
        """The words around the cluster by kind, found once for all the rules scoring it
        (a cluster over thousands of rows holds thousands of words)."""
        key = (cluster.start, cluster.end)
        known = self._near.get(key)
        if known is None:
            if self.table:
                lo, hi = near_lo, near_hi = record_bounds(self.text, cluster.start, cluster.end)
            else:
                lo, hi = self.window(cluster, WIDE)
                near_lo, near_hi = max(0, cluster.start - NEAR), cluster.end + NEAR
            wide = _by_kind(self.hits.distinct(lo, hi))
            # In a table both are the cluster's rows (thousands of words in a dense one).
            near = (wide if (near_lo, near_hi) == (lo, hi)
                    else _by_kind(self.hits.distinct(near_lo, near_hi)))
            known = self._near[key] = _NearTerms(wide, near)
        return known

    def numbered(self, cluster: Cluster) -> set[int]:
        """The list numbers that stand right before the cluster's codes ("3. 1186 8779")."""
        seen = set()
        for token in cluster.tokens:
            m = _NUMBERING.search(self.text, max(0, token.start - 8), token.start)
            if m:
                seen.add(int(m.group(1)))
        return seen

    def code_lines(self, cluster: Cluster) -> list[str]:
        """Each line holding codes, with the codes blanked: what else the line holds."""
        residues: list[str] = []
        line_start = line_end = -1
        parts: list[str] = []
        pos = 0
        for token in cluster.tokens:
            if token.start >= line_end:  # a new line
                if parts:
                    parts.append(self.text[pos:line_end])
                    residues.append("".join(parts))
                line_start = self.text.rfind("\n", 0, token.start) + 1
                found = self.text.find("\n", token.end)
                line_end = found if found != -1 else len(self.text)
                parts, pos = [], line_start
            parts.append(self.text[pos : token.start])
            parts.append(" " * (min(token.end, line_end) - token.start))
            pos = min(token.end, line_end)
        if parts:
            parts.append(self.text[pos:line_end])
            residues.append("".join(parts))
        return residues


@dataclass(frozen=True)
class _ClusterFacts:
    codes: list[str]
    unique: list[str]
    one_signature: bool  # every code has the same layout of letters, digits and separators
    digit_lookalikes: tuple[float, str]


@dataclass(frozen=True)
class _LineFacts:
    residues: int  # lines holding codes
    pure: int  # of which hold nothing but codes and bullets
    stamped: int  # of which carry a time of day with seconds or an ISO date-time (logs)


@dataclass(frozen=True)
class _NearTerms:
    """Labels of the words near a cluster, per kind, each once, in text order."""

    wide: dict[str, list[str]]  # within WIDE (a table: the cluster's rows)
    near: dict[str, list[str]]  # within NEAR (a table: the same rows)


def _by_kind(groups: list[tuple[Term, ...]]) -> dict[str, list[str]]:
    """Per kind, the distinct labels of the terms, in the order they first occur. What
    score_cluster asks of them (any, which, the first) does not depend on repeats: the
    rows of a dense table repeat a few words thousands of times (Hits.distinct)."""
    out: dict[str, dict[str, None]] = {}
    for terms in groups:
        for t in terms:
            out.setdefault(t.kind, {})[t.label] = None
    return {kind: list(labels) for kind, labels in out.items()}


def score_cluster(
    rule: Rule, cluster: Cluster, view: _ChunkView, *, bound: bool = False
) -> _Scored | None:
    """The rule's score of the cluster, or None. With `bound`, a score at least as high
    as that and cheaper: what the codes' lines hold besides them (line_facts) is taken
    at its best, and a published example does not cap it."""
    facts = view.facts(cluster)
    codes, unique = facts.codes, facts.unique
    n = len(unique)
    if n < rule.min_codes:
        return None
    item = _Scored(rule, cluster, 0.0)
    ev = item.evidence

    # The cluster itself.
    if rule.count == 1:
        item.score += 1.5
    else:
        frac = n / rule.count
        item.score += 3.0 if frac >= 0.7 else 2.0 if frac >= 0.4 else 1.0
    ev.append(f"{n} code{'s' if n != 1 else ''} of shape {cluster.shape.name}")
    if facts.one_signature:
        item.score += 0.5
    if len(codes) > 1 and n < 0.8 * len(codes):
        item.score -= 1.0
        ev.append("repeated values")
    if n > 3 * max(rule.count, 4):
        item.score -= 2.0  # a table or log of code-like values, not one issued set
        ev.append(f"{n} codes: far more than the {rule.count} the service issues")

    # Words near the codes; in a table, only the words of the codes' own rows.
    terms = view.terms_near(cluster)
    wide, near = terms.wide, terms.near
    strong = _strong_terms(rule, near if rule.count == 1 else wide)
    # A field named for a TOTP secret says what its value is, whatever the wording.
    label = None
    if rule.service == "totp" and rule.count == 1 and not rule.distinctive:
        label = label_before(view.text, cluster.start) or (
            column_label(view.text, cluster.start, view.source.name, view.chunk.header)
            if view.table else None
        )
    weak = [label for v in rule.context if v in WEAK_VOCABULARY
            for label in wide.get(f"vocab:{v}", ())]
    named = wide.get(f"name:{rule.id}", [])
    own_keywords = wide.get(f"keyword:{rule.id}", [])
    file_hint = rule.id in view.name_rules
    if file_hint and rule.generic and view.name_rules - {rule.id}:
        # A service's own download name (Backup-codes-<user>.txt) speaks for it,
        # not for the generic rule whose looser name pattern it also fits.
        file_hint = False
    code_name = bool(view.name_term_kinds) and view.code_name
    name_in_filename = f"name:{rule.id}" in view.name_term_kinds and not code_name
    strong_in_filename = not code_name and any(
        k.startswith("vocab:") and k[6:] in rule.context and k[6:] not in WEAK_VOCABULARY
        for k in view.name_term_kinds
    )
    if label:
        item.score += 3.0
        ev.append(f"in a field named for a TOTP secret ({label})")
    if strong:
        item.score += 3.0
        ev.append(f"words nearby: {', '.join(sorted(set(strong))[:3])}")
    elif weak:
        item.score += 1.5
        ev.append(f"two-factor wording nearby: {', '.join(sorted(set(weak))[:3])}")
    if file_hint:
        item.score += 3.0
        ev.append(f"file name {view.source.name!r} matches the service's download name")
    elif strong_in_filename or rule.id in view.name_rules:
        strong_in_filename = True
        item.score += 2.0
        ev.append("file name speaks of backup/recovery codes")
    service_named = bool(named or own_keywords or name_in_filename)
    if service_named:
        item.score += 1.5
        ev.append(f"service named: {(named or own_keywords or [rule.service])[0]}")
    if rule.distinctive:
        item.score += 3.0
        ev.append("shape unique to the service")
    # Numbered 1..count (OCR may lose a code or a number: 80% of them will do).
    # (More codes than the service issues are no layout: their numbers are not read.)
    numbers = (view.numbered(cluster) if rule.numbered and 0.8 * rule.count <= n <= rule.count
               else set())
    layout = (n <= rule.count and max(numbers, default=rule.count + 1) <= rule.count
              and len(numbers) >= 0.8 * rule.count)
    if layout:
        item.score += 1.5
        ev.append(f"numbered 1 to {rule.count}, the service's own layout")
    if (
        not rule.generic
        and cluster.shape.name in view.generic_shapes
        and not (service_named or file_hint or rule.distinctive or layout)
    ):
        item.score -= 1.0  # let the generic rule speak for an unnamed service

    # Layout: a file of codes and nothing else (GitHub, GitLab, PyPI downloads).
    lines = None if bound else view.line_facts(cluster)
    if lines is None:  # the best case: lines of nothing but codes, no time stamps
        mixed = stamped = False
        alone = codes_only = view.chunk.whole and n >= max(rule.min_codes, 4)
    else:
        residues = lines.residues
        mixed = n > 1 and residues > 0 and lines.pure < 0.5 * residues
        codes_only = view.chunk.whole and n >= max(rule.min_codes, 4) and not mixed
        alone = codes_only and residues >= 0.8 * view.nonempty_lines
        stamped = n > 1 and lines.stamped >= 0.5 * residues
    if alone:
        item.score += 1.5
        ev.append("the file holds these codes and little else")
        if rule.codes_only_file and n == rule.count:
            item.score += 1.0
            ev.append(f"exactly {rule.count} codes, as the service issues them")
    # Single keys sit inside sentences ("your code: X"); only clusters must be clean.
    # A table's rows hold other fields by nature: the column's header says what it is.
    if mixed and not (label and view.table):
        item.score -= 2.0
        ev.append("lines mix codes with other data")
    if stamped:
        item.score -= 2.5  # one id per log line: sessions, requests, traces
        ev.append("codes sit in time-stamped log lines")

    # Look-alikes.
    negatives = sorted(set(near.get(f"vocab:{NEGATIVE_VOCABULARY}", ())))
    if negatives and not label:  # other fields' words are not this value's
        item.score -= 2.5 if len(negatives) == 1 else 4.0
        ev.append(f"look-alike wording nearby: {', '.join(negatives[:3])}")
    if cluster.shape.kind == "digits":
        penalty, why = facts.digit_lookalikes
        if penalty:
            item.score -= penalty
            ev.append(why)

    # Tests and documentation hold examples; published example secrets protect nothing.
    # A test module in a tests/ folder counts twice: both say test code.
    for why_docs in view.tests_or_docs:
        item.score -= 2.0
        ev.append(why_docs)
    if not bound and known_examples(unique):
        item.capped = True
        ev.append("published example secret or RFC test vector")

    # A lone or unexplained cluster cannot be more than a hint.
    if rule.count == 1 and not (strong or label or file_hint or rule.distinctive):
        return None
    # A base32 run without a digit is a constant's name far more often than a seed
    # (PYTHONPROFILEIMPORTTIME below hash_seed, INHERITABLETHREADLOCALS by SharedSecrets):
    # kept only where a seed is given, labelled or alone on its line.
    if (not bound and not label and cluster.shape.kind == "base32" and n == 1
            and not _has_base32_digit(unique[0])
            and not all(_seed_line(r) for r in view.code_lines(cluster))):
        return None
    if rule.generic and not (strong or strong_in_filename):
        return None
    # A service name alone (with no recovery or two-factor wording) is not enough.
    if not (strong or weak or label or layout or file_hint or rule.distinctive
            or strong_in_filename):
        item.capped = True
        # Letters and digits with nothing for them (no word, no name, not a file of
        # codes): identifiers in code, not even a hint (proton's alnum-8-12 in enums).
        if not (service_named or alone) and cluster.shape.kind in ("alnum", "hex"):
            return None
    # (Looked for last: only in clusters kept so far.)
    if not bound and view.doctest(cluster):
        item.capped = True
        ev.append("in a doctest (a documented example of code)")
    return item


def low_paths(engine: Engine) -> LowPaths:
    """What score_cluster may still score low in text without recovery or two-factor
    wording, without an open gate, and whose file name is no evidence (the paths the
    prefilter must keep at --min-confidence low). Keep in step with score_cluster.

    With none of those: a generic rule returns None (it wants wording); a rule of
    one code wants a label, which only TOTP seeds take; a distinctive shape only
    runs where its gate opens. Any other rule may score low on a cluster of at
    least _fewest_codes codes, or fewer with its service named; letters and hex
    also want the service named, or the file to hold these codes and little else
    (or the service's own numbering).
    """
    counted: dict[str, tuple[Shape, int]] = {}
    alone: dict[str, tuple[Shape, int]] = {}
    named: list[tuple[tuple[tuple[str, tuple[bool, bool]], ...], Shape, int]] = []
    terms = engine.terms
    rule_names: dict[str, set[tuple[str, tuple[bool, bool]]]] = {}
    for i in range(terms.pattern_count):
        for t in terms.terms_of(i):
            if t.kind.startswith("name:"):
                rule_names.setdefault(t.kind[5:], set()).add((terms.pattern(i), terms.bounded(i)))
    for name, (shape, rules) in engine.by_shape.items():
        if name in engine.distinctive:
            continue
        for rule in rules:
            if rule.generic or rule.distinctive:
                continue
            if rule.count == 1:
                continue  # labelled_shapes
            generic_shape = name in engine.generic_shapes
            with_name = _fewest_codes(rule, generic_shape, named=True)
            words = tuple(sorted(rule_names.get(rule.id, ())))
            if with_name is not None and words:
                named.append((words, shape, with_name))
            fewest = _fewest_codes(rule, generic_shape, named=False)
            if fewest is None:
                continue
            target = counted
            if shape.kind in ("alnum", "hex") and not rule.numbered:
                target = alone  # and, nameless, "the file holds these codes": 4 at least
                fewest = max(fewest, rule.min_codes, 4)
            known = target.get(name)
            target[name] = (shape, min(fewest, known[1]) if known else fewest)
    return LowPaths(
        counted=tuple(counted.values()),
        named=tuple(named),
        alone=tuple(a for n, a in alone.items() if n not in counted),
        labelled=labelled_shapes(engine),
    )


def labelled_shapes(engine: Engine) -> tuple[Shape, ...]:
    """The shapes of single-code TOTP rules: a label (label_before, or in a table its
    column's header: column_label) alone lifts one of their codes to medium."""
    return tuple({
        name: shape
        for name, (shape, rules) in engine.by_shape.items()
        if name not in engine.distinctive
        and any(r.count == 1 and r.service == "totp" and not (r.generic or r.distinctive)
                for r in rules)
    }.values())


def _fewest_codes(rule: Rule, generic_shape: bool, *, named: bool) -> int | None:
    """The fewest distinct codes with which score_cluster may score this rule's cluster
    low with no word nearby, and the service named or not (all else at its best)."""
    for n in range(rule.min_codes, 3 * max(rule.count, 4) + 1):
        frac = n / rule.count
        score = 3.0 if frac >= 0.7 else 2.0 if frac >= 0.4 else 1.0
        score += 0.5 if n > 1 else 0.0  # one signature
        layout = rule.numbered and rule.count * 0.8 <= n <= rule.count
        score += 1.5 if layout else 0.0
        if n >= max(rule.min_codes, 4):  # the file holds these codes and little else
            score += 1.5 + (1.0 if rule.codes_only_file and n == rule.count else 0.0)
        if named:
            score += 1.5
        elif generic_shape and not layout:
            score -= 1.0
        if score >= LOW:
            return n
    return None  # more codes than that cost 2 points: "far more than the service issues"


def _most(spans: list[tuple[int, int]] | None, size: int) -> bool:
    """Do the spans (None: all the text) cover half of it or more? Then the tokens of
    all of a shared list of runs cost little more than those in the spans."""
    return spans is None or 2 * sum(hi - lo for lo, hi in spans) >= size


def _merged_spans(starts: list[int], end: int) -> list[tuple[int, int]]:
    """The union of [start - WIDE, start + 4 * WIDE] over the sorted seed starts, cut at
    `end`. Each span jumps to the last seed within its reach (bisection), so dense seeds
    cost a step per span, not one per seed."""
    spans: list[tuple[int, int]] = []
    i, n = 0, len(starts)
    while i < n:
        s = starts[i]
        lo, hi = (s - WIDE if s > WIDE else 0), s + 4 * WIDE
        while True:
            # A seed extends the span when its own span begins inside it: s' - WIDE <= hi.
            j = bisect.bisect_right(starts, hi + WIDE, i + 1) - 1
            if j <= i:
                break
            i, hi = j, starts[j] + 4 * WIDE
        spans.append((lo, min(hi, end)))
        i += 1
    return spans


def _around(
    spans: dict[str, list[tuple[int, int]] | None] | None, gated: AbstractSet[str], size: int,
) -> list[tuple[int, int]] | None:
    """Where the shapes are wanted, merged, when that is some of the text only: None when
    one of them runs everywhere (low confidence, an open gate, a telling file name) or
    the spans cover most of it anyway (one pass is then cheaper than many)."""
    if spans is None or gated or any(v is None for v in spans.values()):
        return None
    merged = widened(sorted({s for v in spans.values() if v for s in v}), 0, size)
    return merged if sum(hi - lo for lo, hi in merged) * 2 < size else None


def _seeds_span(term: Term) -> bool:
    """Recovery or two-factor wording (not look-alike wording, not a service name)."""
    return term.kind.startswith("keyword:") or (
        term.kind.startswith("vocab:") and term.kind[6:] != NEGATIVE_VOCABULARY
    )


def _strong_terms(rule: Rule, terms: dict[str, list[str]]) -> list[str]:
    """The rule's keywords and strong vocabulary among `terms` (in no set order)."""
    out = list(terms.get(f"keyword:{rule.id}", ()))
    for v in dict.fromkeys(rule.context):
        if v not in WEAK_VOCABULARY:
            out.extend(terms.get(f"vocab:{v}", ()))
    return out


# Compiled once: regex.sub(pattern, ...) looks the pattern up in the module's cache on
# every call, which was a third of the time on text dense with codes (3 s/MB).
_LETTER_OR_DIGIT = regex.compile(r"\p{L}|\p{N}")
_A_DIGIT = regex.compile(r"\p{N}")
_NOT_DIGITS = regex.compile(r"\D+")
# A time of day with seconds, or an ISO date with a time: what log lines start with.
_TIMESTAMP = regex.compile(
    r"(?<!\d)(?:[01]?\d|2[0-3]):[0-5]\d:[0-5]\d(?!\d)|\d{4}-\d\d-\d\d[T ]\d\d:\d\d"
)
_THREE_DIGITS = re.compile(r"[0-9]{3}")


def _one_signature(codes: list[str]) -> bool:
    """Do all the codes have one signature? ASCII codes (nearly all) are joined and
    translated at once: a cluster over an export's rows holds thousands of them."""
    joined = "\0".join(codes)
    if joined.isascii() and joined.count("\0") == len(codes) - 1:
        return len(set(joined.translate(_ASCII_SIGNATURE).split("\0"))) == 1
    return len({_signature(c) for c in codes}) == 1


def _signature(code: str) -> str:
    if code.isascii():  # nearly every code: a table in C, not a substitution
        return code.translate(_ASCII_SIGNATURE)
    return str(_LETTER_OR_DIGIT.sub("x", code))


_ASCII_SIGNATURE = {i: "x" for i in range(128) if chr(i).isalnum()}


def _has_base32_digit(code: str) -> bool:
    return any(c in "234567" for c in code)


# What a seed's line may hold besides it: nothing, or a label before it ("Secret key:").
# Code has brackets, semicolons and comment marks around a constant's name.
_SEED_LINE = re.compile(r"[^;{}()\[\]/*#<>=]*:\s*|\s*")


def _seed_line(residue: str) -> bool:
    return _SEED_LINE.fullmatch(residue.strip()) is not None


def _pure(residue: str) -> bool:
    if _THREE_DIGITS.search(residue):
        # A bullet takes at most two digits, and only at the start of a run followed
        # by [.):]: one of three digits in a row stays (and this costs a C search,
        # not the substitution below, ~60 us a line of a dense table).
        return False
    rest = _BULLETS.sub(" ", residue)
    if _A_DIGIT.search(rest):
        return False
    return len(rest.split()) <= 4


def _digit_lookalikes(codes: list[str]) -> tuple[float, str]:
    digits = [_NOT_DIGITS.sub("", c) for c in codes]
    n = len(digits)
    if n >= 2:
        values = sorted(int(d) for d in digits if d)
        span = values[-1] - values[0]
        if span < 1000 * n:
            return 4.0, "numbers close together (order or phone numbers)"
        if n >= 4 and [int(d) for d in digits] == values:
            return 1.5, "numbers in ascending order"
    dates = sum(1 for d in digits if _date_like(d))
    if dates * 2 >= n:
        return 3.0, "numbers read as dates"
    times = sum(1 for d in digits if _time_like(d))
    if n >= 2 and times >= 0.7 * n:
        return 3.0, "numbers read as times"
    return 0.0, ""


def _date_like(d: str) -> bool:
    if len(d) != 8:
        return False
    y, m, day = int(d[:4]), int(d[4:6]), int(d[6:])
    if 1900 <= y <= 2099 and 1 <= m <= 12 and 1 <= day <= 31:
        return True
    day, m, y = int(d[:2]), int(d[2:4]), int(d[4:])
    return 1900 <= y <= 2099 and 1 <= m <= 12 and 1 <= day <= 31


def _time_like(d: str) -> bool:
    if len(d) != 8:
        return False
    return all(int(d[i : i + 2]) < 24 and int(d[i + 2 : i + 4]) < 60 for i in (0, 4))


def _resolve(scored: list[_Scored]) -> list[_Scored]:
    """Overlapping clusters (several shapes over the same codes): the best one wins."""
    kept: list[_Scored] = []
    starts: list[int] = []  # kept spans, sorted by start; they never overlap
    ends: list[int] = []

    def rank(s: _Scored) -> tuple[int, float, int]:
        conf = s.confidence
        return (-(conf.rank if conf else 0), -s.score, s.cluster.start)

    for item in sorted(scored, key=rank):
        lo, hi = item.cluster.start, item.cluster.end
        i = bisect.bisect_left(starts, lo)
        if (i < len(starts) and starts[i] < hi) or (i > 0 and ends[i - 1] > lo):
            continue
        starts.insert(i, lo)
        ends.insert(i, hi)
        kept.append(item)
    return sorted(kept, key=lambda s: s.cluster.start)


__all__ = ["Engine", "Shape", "confidence_of", "low_paths", "score_cluster"]
