"""Load and validate TOML rule files.

Two kinds of tables live in rule files: `[shapes.NAME]` and `[vocabulary]`
(shared by every rule, usually in common.toml) and `[[rules]]`. Every error
names the file and the field, and becomes exit code 2 in the CLI.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mfaleaks.detect.rules.files import DEFAULT_RULES_DIR as DEFAULT_RULES_DIR
from mfaleaks.detect.rules.files import rule_files
from mfaleaks.detect.rules.model import Example, Rule, RulePack, Shape
from mfaleaks.errors import ConfigError
from mfaleaks.models import Severity

if TYPE_CHECKING:
    import regex


_RULE_KEYS = {
    "id", "service", "title", "severity", "shapes", "count", "min_codes", "names",
    "keywords", "context", "filenames", "distinctive", "codes_only_file", "numbered", "remediation",
    "url", "description", "examples", "negative_examples",
}
_SHAPE_KEYS = {"pattern", "validate", "kind", "description"}
_SHAPE_KINDS = {"digits", "hex", "alnum", "base32", "uri", "phrase", "other"}
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def load_pack(paths: Iterable[Path]) -> RulePack:
    docs: list[tuple[Path, dict[str, Any]]] = []
    for file in rule_files(paths):
        try:
            docs.append((file, tomllib.loads(file.read_text(encoding="utf-8"))))
        except OSError as exc:
            raise ConfigError(f"{file}: cannot read rule file: {exc.strerror}") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{file}: invalid TOML: {exc}") from exc
    shapes: dict[str, Shape] = {}
    vocabulary: dict[str, tuple[str, ...]] = {}
    for file, doc in docs:
        unknown = set(doc) - {"shapes", "vocabulary", "rules"}
        if unknown:
            raise ConfigError(f"{file}: unknown top-level key '{sorted(unknown)[0]}'")
        for name, spec in _table(doc.get("shapes", {}), file, "shapes").items():
            shapes[name] = _shape(name, spec, file)
        for name, words in _table(doc.get("vocabulary", {}), file, "vocabulary").items():
            vocabulary[name] = _strings(words, file, f"vocabulary.{name}")
    rules: list[Rule] = []
    seen: set[str] = set()
    for file, doc in docs:
        entries = doc.get("rules", [])
        if not isinstance(entries, list):
            raise ConfigError(f"{file}: 'rules' must be an array of tables ([[rules]])")
        for index, entry in enumerate(entries):
            rule = _rule(entry, file, index, shapes, vocabulary)
            if rule.id in seen:
                raise ConfigError(f"{file}: rules[{index}].id '{rule.id}' is defined twice")
            seen.add(rule.id)
            rules.append(rule)
    return RulePack(tuple(rules), vocabulary, tuple(str(f) for f, _ in docs))


def _table(value: object, file: Path, field: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{file}: '{field}' must be a table")
    return value


def _strings(value: object, file: Path, field: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{file}: '{field}' must be a list of non-empty strings")
    return tuple(value)


def _optional_strings(
    entry: Mapping[str, Any], key: str, file: Path, where: str
) -> tuple[str, ...]:
    value = entry.get(key)
    return () if value is None or value == [] else _strings(value, file, f"{where}.{key}")


def _compile(pattern: object, file: Path, field: str) -> regex.Pattern[str]:
    import regex  # here: a rescan whose cache vouches for the rules never compiles them

    if not isinstance(pattern, str) or not pattern:
        raise ConfigError(f"{file}: '{field}' must be a non-empty string")
    try:
        return regex.compile(pattern, regex.V0)
    except regex.error as exc:
        raise ConfigError(f"{file}: '{field}' is not a valid pattern: {exc}") from exc


def _shape(name: str, spec: object, file: Path) -> Shape:
    field = f"shapes.{name}"
    spec = _table(spec, file, field)
    unknown = set(spec) - _SHAPE_KEYS
    if unknown:
        raise ConfigError(f"{file}: unknown key '{field}.{sorted(unknown)[0]}'")
    kind = spec.get("kind", "other")
    if kind not in _SHAPE_KINDS:
        raise ConfigError(f"{file}: '{field}.kind' must be one of {sorted(_SHAPE_KINDS)}")
    validate = spec.get("validate")
    return Shape(
        name=name,
        pattern=_compile(spec.get("pattern"), file, f"{field}.pattern"),
        validate=_compile(validate, file, f"{field}.validate") if validate else None,
        kind=kind,
        description=str(spec.get("description", "")),
    )


def _examples(value: object, file: Path, field: str) -> tuple[Example, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{file}: '{field}' must be a list")
    out = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            out.append(Example(item))
        elif isinstance(item, dict) and isinstance(item.get("text"), str):
            out.append(Example(item["text"], str(item.get("filename", "example.txt"))))
        else:
            raise ConfigError(f"{file}: '{field}[{i}]' must be a string or {{text, filename}}")
    return tuple(out)


def _rule(
    entry: object,
    file: Path,
    index: int,
    shapes: Mapping[str, Shape],
    vocabulary: Mapping[str, tuple[str, ...]],
) -> Rule:
    where = f"rules[{index}]"
    entry = _table(entry, file, where)
    rid = entry.get("id")
    if not isinstance(rid, str) or not _ID.match(rid):
        raise ConfigError(f"{file}: '{where}.id' must be lower-case letters, digits and '-'")
    where = f"rules[{rid}]"
    unknown = set(entry) - _RULE_KEYS
    if unknown:
        raise ConfigError(f"{file}: unknown key '{where}.{sorted(unknown)[0]}'")
    for key in ("service", "title", "remediation"):
        if not isinstance(entry.get(key), str) or not entry[key]:
            raise ConfigError(f"{file}: '{where}.{key}' is required (a string)")
    try:
        severity = Severity(entry.get("severity", "high"))
    except ValueError as exc:
        raise ConfigError(
            f"{file}: '{where}.severity' must be one of low, medium, high, critical"
        ) from exc
    shape_names = _strings(entry.get("shapes"), file, f"{where}.shapes")
    missing = [s for s in shape_names if s not in shapes]
    if missing:
        raise ConfigError(f"{file}: '{where}.shapes' names unknown shape '{missing[0]}'")
    context = _strings(entry.get("context", ["recovery"]), file, f"{where}.context")
    missing = [c for c in context if c not in vocabulary]
    if missing:
        raise ConfigError(f"{file}: '{where}.context' names unknown vocabulary '{missing[0]}'")
    count = entry.get("count", 1)
    if not isinstance(count, int) or count < 1:
        raise ConfigError(f"{file}: '{where}.count' must be a positive integer")
    min_codes = entry.get("min_codes", 1 if count == 1 else min(3, count))
    if not isinstance(min_codes, int) or min_codes < 1:
        raise ConfigError(f"{file}: '{where}.min_codes' must be a positive integer")
    filenames = tuple(
        _compile(p, file, f"{where}.filenames")
        for p in _optional_strings(entry, "filenames", file, where)
    )
    url = entry.get("url")
    return Rule(
        id=rid,
        service=str(entry["service"]),
        title=str(entry["title"]),
        severity=severity,
        shapes=tuple(shapes[s] for s in shape_names),
        count=count,
        min_codes=min_codes,
        names=_optional_strings(entry, "names", file, where),
        keywords=_optional_strings(entry, "keywords", file, where),
        context=context,
        filenames=filenames,
        distinctive=bool(entry.get("distinctive", False)),
        codes_only_file=bool(entry.get("codes_only_file", False)),
        numbered=bool(entry.get("numbered", False)),
        remediation=str(entry["remediation"]),
        url=str(url) if isinstance(url, str) else None,
        description=str(entry.get("description", "")),
        examples=_examples(entry.get("examples", []), file, f"{where}.examples"),
        negative_examples=_examples(
            entry.get("negative_examples", []), file, f"{where}.negative_examples"
        ),
        origin=str(file),
    )
