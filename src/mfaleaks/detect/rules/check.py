"""`mfaleaks rules check`: every rule's examples must be found (at medium
confidence or better) and its negative examples must not.

The engine runs at the scan's default confidence, as a user's scan does: at LOW
it looks at every text and never asks the prefilter, which could then dismiss
an example without this check noticing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from mfaleaks.config import DEFAULT_MIN_CONFIDENCE
from mfaleaks.detect.rules.model import Example, Rule, RulePack
from mfaleaks.detect.score import Engine
from mfaleaks.models import Confidence, Finding, Origin, Source, TextChunk


@dataclass(frozen=True)
class CheckFailure:
    rule_id: str
    origin: str
    message: str


def scan_example(engine: Engine, example: Example) -> list[Finding]:
    source = Source(origin=Origin(example.filename), name=example.filename, data=b"")
    chunk = TextChunk(text=example.text, source="text", line=1, whole=True)
    return list(engine.scan_chunk(chunk, source))


def check_pack(pack: RulePack) -> Iterator[CheckFailure]:
    engine = Engine(pack, min_confidence=DEFAULT_MIN_CONFIDENCE)
    for rule in pack.rules:
        if not rule.examples:
            yield CheckFailure(rule.id, rule.origin, "has no examples")
        if not rule.negative_examples:
            yield CheckFailure(rule.id, rule.origin, "has no negative examples")
        for i, example in enumerate(rule.examples):
            found = _of_rule(scan_example(engine, example), rule)
            if not found:
                yield CheckFailure(rule.id, rule.origin, f"examples[{i}] is not found")
        for i, example in enumerate(rule.negative_examples):
            if _of_rule(scan_example(engine, example), rule):
                yield CheckFailure(rule.id, rule.origin, f"negative_examples[{i}] is found")


def _of_rule(findings: list[Finding], rule: Rule) -> list[Finding]:
    return [
        f for f in findings
        if f.rule_id == rule.id and f.confidence.rank >= Confidence.MEDIUM.rank
    ]
