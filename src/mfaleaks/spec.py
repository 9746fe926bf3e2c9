"""What a worker needs to build its own rule engine: small, picklable, cheap to import.

The parent process only needs the rules checked and their ids; the engine
itself (and the matching libraries) is imported where files are read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mfaleaks.limits import Limits
from mfaleaks.models import Confidence

if TYPE_CHECKING:
    from mfaleaks.rules.model import RulePack
    from mfaleaks.score import Engine


@dataclass(frozen=True)
class EngineSpec:
    rule_files: tuple[Path, ...]
    show_secrets: bool
    min_confidence: Confidence
    limits: Limits

    def pack(self) -> RulePack:
        """The rule pack, checked (a bad rule file raises ConfigError)."""
        from mfaleaks.rules.load import load_pack

        return load_pack(self.rule_files)

    def build(self) -> Engine:
        from mfaleaks.heap import release_free_heap
        from mfaleaks.score import Engine

        engine = Engine(
            self.pack(), show_secrets=self.show_secrets, min_confidence=self.min_confidence
        )
        release_free_heap()  # what compiling it freed, not carried through the scan
        return engine
