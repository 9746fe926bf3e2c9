"""Every rule's examples are found and its negative examples are not."""

from __future__ import annotations

from pathlib import Path

import pytest

from mfaleaks.config import DEFAULT_MIN_CONFIDENCE
from mfaleaks.detect.prefilter import Prefilter
from mfaleaks.detect.rules.check import check_pack, scan_example
from mfaleaks.detect.rules.load import DEFAULT_RULES_DIR, load_pack
from mfaleaks.detect.rules.model import Example
from mfaleaks.detect.score import Engine
from mfaleaks.errors import ConfigError
from mfaleaks.models import Confidence

PACK = load_pack([DEFAULT_RULES_DIR])
ENGINE = Engine(PACK, min_confidence=DEFAULT_MIN_CONFIDENCE)  # as a scan runs, prefilter on
CASES = [
    pytest.param(rule.id, example, True, id=f"{rule.id}-pos{i}")
    for rule in PACK.rules for i, example in enumerate(rule.examples)
] + [
    pytest.param(rule.id, example, False, id=f"{rule.id}-neg{i}")
    for rule in PACK.rules for i, example in enumerate(rule.negative_examples)
]


def test_pack_size_and_coverage() -> None:
    assert len(PACK.rules) >= 20
    services = {r.service for r in PACK.rules}
    # Every H and M row of CODES.md, TOTP and the generic rules.
    for slug in ("google", "github", "gitlab", "pypi", "rubygems", "mastodon", "sentry",
                 "discord", "microsoft", "apple", "bitwarden", "1password", "tuta", "proton",
                 "auth0", "duo", "steam", "npm", "facebook", "dropbox", "django-allauth",
                 "microsoft-entra", "totp", "generic"):
        assert slug in services, slug
    assert {"totp-uri", "totp-migration-uri", "totp-seed"} <= {r.id for r in PACK.rules}


@pytest.mark.parametrize(("rule_id", "example", "positive"), CASES)
def test_rule_example(rule_id: str, example: Example, positive: bool) -> None:
    found = [f for f in scan_example(ENGINE, example)
             if f.rule_id == rule_id and f.confidence.rank >= Confidence.MEDIUM.rank]
    assert bool(found) is positive


def test_check_pack_reports_no_failures() -> None:
    assert list(check_pack(PACK)) == []


def test_check_runs_the_examples_through_the_prefilter(monkeypatch: pytest.MonkeyPatch) -> None:
    """A prefilter that dismisses too much is caught by `rules check`."""
    assert ENGINE._prefilter is not None
    monkeypatch.setattr(Prefilter, "low_shapes", lambda self, text, data=None: frozenset())
    missed = [f for f in check_pack(PACK) if f.message.endswith("is not found")]
    assert len(missed) >= 10, missed


def test_check_catches_a_rule_whose_example_does_not_match(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        "[shapes.six]\nkind='digits'\npattern='''\\d{6}'''\n"
        "[vocabulary]\nrecovery=['recovery code']\n"
        "[[rules]]\nid='x-rule'\nservice='x'\ntitle='X'\nremediation='r'\nshapes=['six']\n"
        "examples=['nothing here']\nnegative_examples=['recovery code 582913']\n"
    )
    failures = list(check_pack(load_pack([bad])))
    messages = sorted(f.message for f in failures)
    assert messages == ["examples[0] is not found", "negative_examples[0] is found"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("[[rules]]\nid='Bad Id'\n", "id"),
        ("[[rules]]\nid='ok'\nservice='s'\ntitle='t'\nremediation='r'\nshapes=['nope']\n",
         "rules[ok].shapes"),
        ("[[rules]]\nid='ok'\nservice='s'\ntitle='t'\nremediation='r'\nshapes=[]\ncolour=1\n",
         "rules[ok].colour"),
        ("[shapes.bad]\npattern='(unclosed'\n", "shapes.bad.pattern"),
        ("this is = not toml [", "invalid TOML"),
    ],
)
def test_invalid_rule_file_names_file_and_field(tmp_path: Path, body: str, field: str) -> None:
    path = tmp_path / "r.toml"
    path.write_text(body)
    with pytest.raises(ConfigError) as err:
        load_pack([DEFAULT_RULES_DIR, path])
    assert str(path) in str(err.value)
    assert field in str(err.value)


def test_rules_ship_inside_the_package() -> None:
    # The wheel carries rules/ as mfaleaks/rulepack (a symlink in the source tree).
    assert (DEFAULT_RULES_DIR / "google.toml").is_file()
    assert DEFAULT_RULES_DIR.resolve() == (Path(__file__).parents[1] / "rules").resolve()
