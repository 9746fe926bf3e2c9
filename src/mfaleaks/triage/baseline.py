"""The baseline file: findings accepted as they are, so CI reports only new ones.

Entries are fingerprints (a hash of rule id and normalised codes) with their
rule id for the reader: no codes, no paths, no line numbers, no timestamps,
sorted. Re-creating the baseline after an unrelated edit gives the same bytes,
and a moved file keeps its codes baselined.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import regex

from mfaleaks.errors import ConfigError
from mfaleaks.models import Finding
from mfaleaks.output import write_private

VERSION = 1
_FINGERPRINT = regex.compile(r"^(?:k:)?[0-9a-f]{16,64}$")  # k: keyed (detect/mask.py)


def dumps(findings: Iterable[Finding]) -> str:
    entries = {f.fingerprint: f.rule_id for f in findings}
    doc = {
        "mfaleaks_baseline": VERSION,
        "findings": [{"fingerprint": fp, "rule_id": entries[fp]} for fp in sorted(entries)],
    }
    return json.dumps(doc, indent=2) + "\n"


def write(path: str, findings: Iterable[Finding]) -> int:
    """Write the baseline (mode 0600) and return the number of entries."""
    text = dumps(findings)
    write_private(path, text)
    return len(json.loads(text)["findings"])


def load(path: Path) -> frozenset[str]:
    """The fingerprints of a baseline file; anything malformed is a ConfigError."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: baseline file not found "
                          "(create it with `mfaleaks baseline create`)") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read baseline: {exc.strerror}") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: baseline is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("mfaleaks_baseline") != VERSION:
        raise ConfigError(f"{path}: not an mfaleaks baseline (version {VERSION} expected)")
    entries = doc.get("findings")
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: 'findings' must be a list")
    out = set()
    for i, entry in enumerate(entries):
        fp = entry.get("fingerprint") if isinstance(entry, dict) else entry
        if not isinstance(fp, str) or not _FINGERPRINT.match(fp):
            raise ConfigError(f"{path}: findings[{i}] has no valid fingerprint")
        out.add(fp)
    return frozenset(out)
