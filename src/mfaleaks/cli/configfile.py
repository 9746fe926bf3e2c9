"""The project config file: `.mfaleaks.toml`, or `[tool.mfaleaks]` in pyproject.toml.

Found from the current folder upwards, stopping at the top of the git
repository (a folder holding `.git`), so a config outside the project is
never picked up. In each folder `.mfaleaks.toml` wins over pyproject.toml, and
a pyproject.toml without a `[tool.mfaleaks]` table is passed over.

Paths in the file (rule folders, baseline) are relative to the file's folder.
Options given on the command line win over the file; list options (exclude,
rules, disable, allow) add to it. `show_secrets` may only be false here: a
repository must not be able to make CI logs print codes.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from mfaleaks.config import Format, ScanConfig
from mfaleaks.errors import ConfigError
from mfaleaks.models import Confidence

NAMES = (".mfaleaks.toml", "pyproject.toml")
KEYS = frozenset({"exclude", "rules", "disable", "allow", "format", "min_confidence",
                  "show_secrets", "baseline"})
_FINGERPRINT = re.compile(r"^(?:k:)?[0-9a-f]{16,64}$")  # k: keyed (detect/mask.py)
E = TypeVar("E", Format, Confidence)


@dataclass(frozen=True)
class FileConfig:
    path: Path
    exclude: tuple[str, ...] = ()
    rules: tuple[Path, ...] = ()
    disable: tuple[str, ...] = ()
    allow: Mapping[str, str] = field(default_factory=dict)  # fingerprint -> why
    format: Format | None = None
    min_confidence: Confidence | None = None
    baseline: Path | None = None


def find(start: Path) -> Path | None:
    """The nearest config file at or above `start`, or None."""
    for folder in (start, *start.parents):
        for name in NAMES:
            candidate = folder / name
            if candidate.is_file() and (name != "pyproject.toml" or _has_tool_table(candidate)):
                return candidate
        if (folder / ".git").exists():
            return None
    return None


def _has_tool_table(path: Path) -> bool:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False  # not ours to judge: some other tool's broken pyproject
    # However the table is written ([tool.mfaleaks], dotted or inline keys), its name is
    # there: most pyproject.toml files never name it and need no TOML parser (~10 ms).
    if "mfaleaks" not in text:
        return False
    import tomllib  # here: a scan with no config file (most) need not load it

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return False  # not ours to judge: some other tool's broken pyproject
    tool = doc.get("tool")
    return isinstance(tool, dict) and "mfaleaks" in tool


def load(path: Path) -> FileConfig:
    import tomllib

    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    where = str(path)
    if path.name == "pyproject.toml":
        tool = doc.get("tool", {})
        if not isinstance(tool, dict) or not isinstance(tool.get("mfaleaks"), dict):
            raise ConfigError(f"{path}: no [tool.mfaleaks] table")
        doc, where = tool["mfaleaks"], f"{path} [tool.mfaleaks]"
    unknown = sorted(set(doc) - KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key '{unknown[0]}' "
                          f"(known: {', '.join(sorted(KEYS))})")
    return _parse(doc, path, where)


def _parse(doc: Mapping[str, Any], path: Path, where: str) -> FileConfig:
    base = path.parent
    rules = tuple(base / p for p in _strings(doc, "rules", where))
    for folder in rules:
        if not folder.exists():
            raise ConfigError(f"{where}: rules: '{folder}' not found")
    if doc.get("show_secrets", False) is not False:
        raise ConfigError(f"{where}: show_secrets can only be turned on on the command line")
    baseline = doc.get("baseline")
    if baseline is not None and not isinstance(baseline, str):
        raise ConfigError(f"{where}: baseline must be a file name")
    return FileConfig(
        path=path,
        exclude=_strings(doc, "exclude", where),
        rules=rules,
        disable=_strings(doc, "disable", where),
        allow=_allow(doc.get("allow", []), where),
        format=_choice(doc, "format", Format, where),
        min_confidence=_choice(doc, "min_confidence", Confidence, where),
        baseline=base / baseline if baseline else None,
    )


def _strings(doc: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: {key} must be a list of strings")
    return tuple(value)


def _choice(
    doc: Mapping[str, Any], key: str, enum: type[E], where: str
) -> E | None:
    value = doc.get(key)
    if value is None:
        return None
    try:
        return enum(value)
    except ValueError:
        choices = ", ".join(e.value for e in enum)
        raise ConfigError(f"{where}: {key} = {value!r} is not one of: {choices}") from None


def _allow(value: object, where: str) -> dict[str, str]:
    """`allow` entries: a fingerprint, or {fingerprint = "...", reason = "..."}."""
    if not isinstance(value, list):
        raise ConfigError(f"{where}: allow must be a list")
    out: dict[str, str] = {}
    for i, entry in enumerate(value):
        why = ""
        if isinstance(entry, dict):
            extra = sorted(set(entry) - {"fingerprint", "reason"})
            if extra:
                raise ConfigError(f"{where}: allow[{i}]: unknown key '{extra[0]}'")
            why = entry.get("reason", "")
            entry = entry.get("fingerprint")
        if not isinstance(entry, str) or not _FINGERPRINT.match(entry) or not isinstance(why, str):
            raise ConfigError(f"{where}: allow[{i}] is not a fingerprint "
                              "(copy it from the JSON report)")
        out[entry] = why
    return out


def apply(config: ScanConfig, file: FileConfig | None, given: Collection[str]) -> ScanConfig:
    """Merge the file under the command line; `given` names the ScanConfig fields set there."""
    if file is None:
        return config
    changes: dict[str, Any] = {
        "excludes": (*file.exclude, *config.excludes),
        "rule_paths": (*file.rules, *config.rule_paths),
        "disabled_rules": frozenset(file.disable) | config.disabled_rules,
        "allowed_fingerprints": {**file.allow, **config.allowed_fingerprints},
        "config_file": str(file.path),
    }
    if file.format is not None and "format" not in given:
        changes["format"] = file.format
    if file.min_confidence is not None and "min_confidence" not in given:
        changes["min_confidence"] = file.min_confidence
    if file.baseline is not None and "baseline" not in given:
        changes["baseline"] = file.baseline
    return replace(config, **changes)


def locate(explicit: Path | None, cwd: Path | None = None) -> FileConfig | None:
    """The config of this run: the file named by --config, else the nearest one."""
    path = explicit if explicit is not None else find((cwd or Path.cwd()).resolve())
    return load(path) if path is not None else None
