"""The config file: where it is found, what it sets, and that the command line wins."""

from __future__ import annotations

import random
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import CliRun
from gen_ci import github_codes, github_file

RUN = Callable[..., CliRun]


@pytest.fixture
def proj(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git checkout: a high finding, a medium one, a vendored copy; cwd is its root."""
    rng = random.Random(31)
    root = tmp_path / "proj"
    (root / ".git").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "vendor").mkdir()
    (root / "docs" / "github-recovery-codes.txt").write_bytes(github_file(github_codes(rng)))
    # Six codes under a bare label: medium confidence (the shape alone is the evidence).
    (root / "docs" / "list.txt").write_text("list:\n" + "\n".join(github_codes(rng, 6)) + "\n")
    (root / "vendor" / "github-recovery-codes.txt").write_bytes(github_file(github_codes(rng)))
    monkeypatch.chdir(root)
    return root


def config(folder: Path, body: str, name: str = ".mfaleaks.toml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(body))
    return path


def scan(run_cli: RUN, *args: str) -> CliRun:
    res = run_cli("scan", "--jobs", "1", *args)
    assert res.exit_code in (0, 1), res.stderr
    return res


def paths(res: CliRun) -> list[str]:
    return sorted(f["path"] for f in res.report["findings"])


def test_defaults_without_a_config_file(proj: Path, run_cli: RUN) -> None:
    res = scan(run_cli, "--format", "json", ".")
    assert paths(res) == ["./docs/github-recovery-codes.txt", "./docs/list.txt",
                          "./vendor/github-recovery-codes.txt"]


def test_file_sets_format_and_confidence_and_the_command_line_wins(proj: Path,
                                                                   run_cli: RUN) -> None:
    config(proj, 'format = "json"\nmin_confidence = "high"\n')
    res = scan(run_cli, ".")
    assert paths(res) == ["./docs/github-recovery-codes.txt", "./vendor/github-recovery-codes.txt"]
    res = scan(run_cli, "--min-confidence", "medium", ".")
    assert "./docs/list.txt" in paths(res)
    res = scan(run_cli, "--format", "junit", ".")
    assert res.stdout.startswith("<?xml")
    # Given explicitly with the default value still counts as given.
    res = scan(run_cli, "--format", "text", ".")
    assert "finding(s) in 1 service(s)" in res.stdout


def test_list_options_add_up(proj: Path, run_cli: RUN) -> None:
    config(proj, 'format = "json"\nexclude = ["vendor"]\n')
    assert paths(scan(run_cli, ".")) == ["./docs/github-recovery-codes.txt", "./docs/list.txt"]
    assert paths(scan(run_cli, "--exclude", "list.txt", ".")) == [
        "./docs/github-recovery-codes.txt"]


def test_excludes_apply_to_files_named_one_by_one(proj: Path, run_cli: RUN) -> None:
    """pre-commit passes staged file names, not folders: the excludes must still hold."""
    config(proj, 'format = "json"\nexclude = ["vendor", "*.txt.bak"]\n')
    names = ["vendor/github-recovery-codes.txt", "docs/list.txt", "./vendor/../docs/list.txt"]
    assert paths(scan(run_cli, *names)) == ["./vendor/../docs/list.txt", "docs/list.txt"]


def test_found_from_a_subfolder_upwards_but_not_above_the_repository(
    proj: Path, monkeypatch: pytest.MonkeyPatch, run_cli: RUN,
) -> None:
    config(proj.parent, 'format = "junit"\n')  # outside the checkout: never read
    monkeypatch.chdir(proj / "docs")
    out = scan(run_cli, ".").stdout
    assert not out.startswith("<?xml") and "finding(s)" in out  # the outer file was not read
    config(proj, 'format = "json"\n')
    assert len(scan(run_cli, ".").report["findings"]) == 2


def test_pyproject_tool_table(proj: Path, monkeypatch: pytest.MonkeyPatch, run_cli: RUN) -> None:
    config(proj, '[tool.mfaleaks]\nformat = "json"\nexclude = ["vendor"]\n', "pyproject.toml")
    assert paths(scan(run_cli, ".")) == ["./docs/github-recovery-codes.txt", "./docs/list.txt"]
    # A pyproject.toml without the table is passed over on the way up.
    config(proj / "docs", '[project]\nname = "docs"\n', "pyproject.toml")
    monkeypatch.chdir(proj / "docs")
    assert len(scan(run_cli, ".").report["findings"]) == 2
    # .mfaleaks.toml wins over pyproject.toml in the same folder.
    config(proj, 'format = "junit"\n')
    assert scan(run_cli, ".").stdout.startswith("<?xml")


@pytest.mark.parametrize("body", [
    '[tool]\nmfaleaks.format = "json"\nmfaleaks.exclude = ["vendor"]\n',
    '[tool]\nmfaleaks = { format = "json", exclude = ["vendor"] }\n',
])
def test_pyproject_table_however_written(proj: Path, run_cli: RUN, body: str) -> None:
    # The table may be written with dotted or inline keys, not only as [tool.mfaleaks].
    config(proj, body, "pyproject.toml")
    assert paths(scan(run_cli, ".")) == ["./docs/github-recovery-codes.txt", "./docs/list.txt"]


def test_pyproject_naming_mfaleaks_elsewhere(proj: Path, run_cli: RUN) -> None:
    # Naming mfaleaks (a dependency, a hook) is not a tool table: the file is passed over.
    config(proj, '[project]\nname = "x"\ndependencies = ["mfaleaks"]\n[tool.other]\n'
           'format = "json"\n', "pyproject.toml")
    assert not scan(run_cli, ".").stdout.lstrip().startswith("{")


def test_explicit_config_replaces_discovery(proj: Path, tmp_path: Path, run_cli: RUN) -> None:
    config(proj, 'format = "junit"\n')
    other = config(tmp_path, 'format = "json"\nexclude = ["docs"]\n', "ci.toml")
    res = scan(run_cli, "--config", str(other), ".")
    assert paths(res) == ["./vendor/github-recovery-codes.txt"]


def test_disable_and_allow(proj: Path, run_cli: RUN) -> None:
    report = scan(run_cli, "--format", "json", ".").report
    fp = {Path(f["path"]).parent.name + "/" + Path(f["path"]).name: f["fingerprint"]
          for f in report["findings"]}
    config(proj, f"""\
        format = "json"
        allow = [
          "{fp['docs/list.txt']}",
          {{ fingerprint = "{fp['vendor/github-recovery-codes.txt']}", reason = "upstream" }},
        ]
        """)
    report = scan(run_cli, ".").report
    assert [f["path"] for f in report["findings"]] == ["./docs/github-recovery-codes.txt"]
    reasons = sorted(f["suppressed"] for f in report["suppressed"])
    assert reasons == ["allowed: fingerprint allowed in the config",
                       "allowed: fingerprint allowed in the config (upstream)"]
    config(proj, 'format = "json"\ndisable = ["github-recovery-codes"]\n')
    report = scan(run_cli, ".").report
    assert report["findings"] == [] and report["stats"]["suppressed_by"] == {"disabled": 3}


def test_extra_rule_folder_relative_to_the_file(proj: Path, monkeypatch: pytest.MonkeyPatch,
                                                run_cli: RUN) -> None:
    (proj / "ci" / "rules").mkdir(parents=True)
    (proj / "ci" / "rules" / "acme.toml").write_text(textwrap.dedent("""\
        [shapes.acme-code]
        kind = "other"
        pattern = '''(?<![\\p{L}\\p{N}])AC-\\d{4}-\\d{4}(?![\\p{L}\\p{N}])'''

        [[rules]]
        id = "acme-backup-codes"
        service = "acme"
        title = "ACME backup codes"
        shapes = ["acme-code"]
        count = 6
        min_codes = 2
        distinctive = true
        names = ["acme"]
        remediation = "Regenerate the codes in the ACME console."
        """))
    config(proj / "ci", 'format = "json"\nrules = ["rules"]\n')
    rng = random.Random(8)
    codes = [f"AC-{rng.randrange(10**4):04d}-{rng.randrange(10**4):04d}" for _ in range(6)]
    (proj / "acme.txt").write_text("ACME backup codes\n" + "\n".join(codes) + "\n")
    monkeypatch.chdir(proj / "ci")
    report = scan(run_cli, str(proj / "acme.txt")).report
    assert [f["rule_id"] for f in report["findings"]] == ["acme-backup-codes"]


@pytest.mark.parametrize(("body", "message"), [
    ('formats = "json"\n', "unknown key 'formats'"),
    ('[tool.mfaleaks]\nmin_confidance = "low"\n', "unknown key 'min_confidance'"),
    ('format = "xml"\n', "format = 'xml' is not one of: text, json"),
    ("show_secrets = true\n", "show_secrets can only be turned on on the command line"),
    ('disable = ["no-such-rule"]\n', "unknown rule id 'no-such-rule'"),
    ('allow = ["d1371-c1714"]\n', "allow[0] is not a fingerprint"),
    ('rules = ["missing"]\n', "rules: "),
    ("exclude = 'vendor'\n", "exclude must be a list of strings"),
    ("format = \n", "invalid TOML"),
])
def test_bad_config_is_exit_2_naming_key_and_file(proj: Path, body: str, message: str,
                                                  run_cli: RUN) -> None:
    name = "pyproject.toml" if body.startswith("[tool") else ".mfaleaks.toml"
    path = config(proj, body, name)
    res = run_cli("scan", "--jobs", "1", ".")
    assert res.exit_code == 2
    assert message in res.stderr
    assert str(path) in res.stderr


def test_show_secrets_false_is_accepted(proj: Path, run_cli: RUN) -> None:
    config(proj, 'show_secrets = false\nformat = "json"\n')
    report = scan(run_cli, ".").report
    assert all("secrets" not in f for f in report["findings"])
