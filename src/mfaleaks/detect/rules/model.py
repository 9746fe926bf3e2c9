"""The rule pack as typed, validated data (nothing from a rule file is executed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the patterns are compiled by load.py; importing regex costs ~10 ms
    import regex

from mfaleaks.models import Severity


@dataclass(frozen=True)
class Shape:
    """One code shape: a pattern for the `regex` module.

    If the pattern has a group named `code`, that group is the code; otherwise
    the whole match is. `validate`, when set, must be found in every code
    (e.g. a digit), which drops words that happen to fit the shape.
    """

    name: str
    pattern: regex.Pattern[str]
    validate: regex.Pattern[str] | None
    kind: str  # digits | hex | alnum | base32 | uri | phrase | other
    description: str = ""


@dataclass(frozen=True)
class Example:
    text: str
    filename: str = "example.txt"


@dataclass(frozen=True)
class Rule:
    id: str
    service: str
    title: str
    severity: Severity
    shapes: tuple[Shape, ...]
    count: int
    min_codes: int
    names: tuple[str, ...]
    keywords: tuple[str, ...]
    context: tuple[str, ...]
    filenames: tuple[regex.Pattern[str], ...]
    distinctive: bool
    codes_only_file: bool
    numbered: bool  # the service numbers its codes 1..count (Google's download and print)
    remediation: str
    url: str | None
    description: str
    examples: tuple[Example, ...]
    negative_examples: tuple[Example, ...]
    origin: str  # the rule file, for messages

    @property
    def generic(self) -> bool:
        return self.service == "generic"


@dataclass(frozen=True)
class RulePack:
    rules: tuple[Rule, ...]
    vocabulary: dict[str, tuple[str, ...]]
    files: tuple[str, ...]
