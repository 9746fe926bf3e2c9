"""Findings the user chose not to see, and why.

Four reasons, checked in this order: the rule is disabled, the fingerprint is
allowed in the config file, an inline marker sits on the codes (or on the line
just above them), the fingerprint is in the baseline. Nothing is dropped
silently: every suppressed finding keeps its reason in `Finding.suppressed`,
the reports count them, and `--no-inline-allow` turns inline markers into
evidence on a reported finding instead (an audit of who allowed what).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from mfaleaks.errors import ConfigError
from mfaleaks.models import Finding

if TYPE_CHECKING:
    from mfaleaks.config import ScanConfig

class Kind(StrEnum):
    DISABLED = "disabled"
    ALLOWED = "allowed"
    INLINE = "inline"
    BASELINE = "baseline"


@dataclass(frozen=True)
class Policy:
    inline: bool = True
    disabled: frozenset[str] = frozenset()
    allowed: Mapping[str, str] = field(default_factory=dict)  # fingerprint -> why
    baseline: frozenset[str] | None = None
    baseline_name: str = ""


@dataclass
class Outcome:
    kept: list[Finding]
    suppressed: list[Finding]
    stale: list[str]  # baseline fingerprints that matched nothing


def policy_for(config: ScanConfig, rule_ids: Collection[str]) -> Policy:
    """The policy of a scan; a disabled rule id that does not exist is a config error."""
    unknown = sorted(set(config.disabled_rules) - set(rule_ids))
    if unknown:
        where = f"{config.config_file}: " if config.config_file else ""
        raise ConfigError(
            f"{where}disable: unknown rule id '{unknown[0]}' (see `mfaleaks rules list`)"
        )
    baseline = None
    if config.baseline is not None:
        from mfaleaks.triage.baseline import load

        baseline = load(config.baseline)
    return Policy(
        inline=config.inline_allow,
        disabled=frozenset(config.disabled_rules),
        allowed=dict(config.allowed_fingerprints),
        baseline=baseline,
        baseline_name=Path(config.baseline).name if config.baseline else "",
    )


def reason(finding: Finding, policy: Policy) -> str | None:
    """Why the finding is suppressed ('<kind>: <detail>'), or None to report it."""
    if finding.rule_id in policy.disabled:
        return f"{Kind.DISABLED}: rule {finding.rule_id} is disabled in the config"
    if finding.fingerprint in policy.allowed:
        why = policy.allowed[finding.fingerprint]
        return f"{Kind.ALLOWED}: fingerprint allowed in the config" + (f" ({why})" if why else "")
    if policy.inline and finding.allow_marker:
        return f"{Kind.INLINE}: marked '{finding.allow_marker}'"
    if policy.baseline is not None and finding.fingerprint in policy.baseline:
        return f"{Kind.BASELINE}: in baseline {policy.baseline_name}"
    return None


def kind_of(finding: Finding) -> Kind | None:
    if finding.suppressed is None:
        return None
    return Kind(finding.suppressed.split(":", 1)[0])


def apply(findings: Iterable[Finding], policy: Policy) -> Outcome:
    kept: list[Finding] = []
    suppressed: list[Finding] = []
    seen: set[str] = set()
    for f in findings:
        seen.add(f.fingerprint)
        why = reason(f, policy)
        if why is not None:
            suppressed.append(replace(f, suppressed=why))
        elif f.allow_marker and not policy.inline:
            note = f"inline marker '{f.allow_marker}' ignored (--no-inline-allow)"
            kept.append(replace(f, evidence=(*f.evidence, note)))
        else:
            kept.append(f)
    stale = sorted(policy.baseline - seen) if policy.baseline is not None else []
    return Outcome(kept, suppressed, stale)


def counts(suppressed: Iterable[Finding]) -> dict[str, int]:
    """Suppressed findings per kind, in a fixed order, zero kinds left out."""
    c = Counter(kind_of(f) for f in suppressed)
    return {k.value: c[k] for k in Kind if c[k]}


def notices(suppressed: list[Finding], stale: list[str]) -> list[str]:
    """One-line notes for the report: what was hidden, which baseline entries are stale."""
    out = []
    if suppressed:
        by_kind = counts(suppressed)
        by = ", ".join(f"{k} {n}" for k, n in by_kind.items())
        audit = ", --no-inline-allow reports the marked ones" if Kind.INLINE in by_kind else ""
        out.append(f"{len(suppressed)} finding(s) suppressed ({by}); "
                   f"--format json lists them{audit}")
    if stale:
        out.append(f"{len(stale)} baseline entr{'y' if len(stale) == 1 else 'ies'} matched no "
                   "finding (fixed, or outside this scan): refresh with `mfaleaks baseline create`")
    return out
