"""What a worker needs to build its own rule engine: small, picklable, cheap to import.

The parent process only needs the rules checked and their ids; the engine
itself (and the matching libraries) is imported where files are read.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from mfaleaks.detect.rules.files import DEFAULT_RULES_DIR, rule_files
from mfaleaks.limits import Limits
from mfaleaks.models import Confidence

if TYPE_CHECKING:
    from mfaleaks.config import ScanConfig
    from mfaleaks.detect.rules.model import RulePack
    from mfaleaks.detect.score import Engine


@dataclass(frozen=True)
class EngineSpec:
    rule_files: tuple[Path, ...]
    show_secrets: bool
    min_confidence: Confidence
    limits: Limits
    # Every small file's SHA-256 (--cache keys contents by it); else only where a copy may
    # be (cache/contents.py).
    digests: bool = True

    def pack(self) -> RulePack:
        """The rule pack, checked (a bad rule file raises ConfigError)."""
        from mfaleaks.detect.rules.load import load_pack

        return load_pack(self.rule_files)

    def build(self) -> Engine:
        from mfaleaks.detect.score import Engine
        from mfaleaks.run.heap import release_free_heap

        engine = Engine(
            self.pack(), show_secrets=self.show_secrets, min_confidence=self.min_confidence
        )
        release_free_heap()  # what compiling it freed, not carried through the scan
        return engine


def rule_paths(config: ScanConfig) -> tuple[Path, ...]:
    roots = ([DEFAULT_RULES_DIR] if config.default_rules else []) + list(config.rule_paths)
    return tuple(rule_files(roots))


def engine_spec(config: ScanConfig) -> EngineSpec:
    return EngineSpec(
        rule_files=rule_paths(config),
        show_secrets=config.show_secrets,
        min_confidence=config.min_confidence,
        # With --cache, ocrcache.py keeps its verdicts on empty images in the same file.
        limits=replace(config.limits, ocr_cache=str(config.cache) if config.cache else None),
        digests=config.cache is not None,
    )
