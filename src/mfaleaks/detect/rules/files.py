"""Where the rule files are: the bundled pack and the paths given, as a list of TOML files.

Apart from load.py so that a cached rescan, which needs the list (its files are part
of the cache key) but not the rules, does not import the rule model and parser.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from mfaleaks.errors import ConfigError

DEFAULT_RULES_DIR = Path(__file__).resolve().parents[2] / "rulepack"


def rule_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.glob("*.toml") if p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            raise ConfigError(f"{path}: rule file or folder not found")
    return files
