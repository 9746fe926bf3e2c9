"""The pre-commit hook, run by the real `pre-commit` tool in a throwaway git repository.

The hook repository is a commit of this checkout's working tree (package,
rules, .pre-commit-hooks.yaml) made in tmp_path, so uncommitted work is tested
without touching this repository's git state. pre-commit builds its own
virtualenv from it with pip (network to PyPI), in a PRE_COMMIT_HOME under
tmp_path: allow a minute or two.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from gen_ci import every_code, github_codes, github_file, ordinary_files

pytestmark = pytest.mark.slow

PRE_COMMIT = Path(sys.executable).with_name("pre-commit")
HOOK_FILES = ("pyproject.toml", ".pre-commit-hooks.yaml", "README.md", "LICENSE", "rules")


def git(cwd: Path, *args: str, env: dict[str, str], check: bool = True,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          check=check, timeout=timeout)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    if not PRE_COMMIT.is_file():
        pytest.skip(f"pre-commit is not installed in this venv ({PRE_COMMIT})")
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    return {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "PRE_COMMIT_COLOR": "never",
        "GIT_CONFIG_GLOBAL": os.devnull,  # no user hooksPath, signing or templates
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.org",
        "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.org",
    }


@pytest.fixture
def hook_repo(tmp_path: Path, env: dict[str, str]) -> tuple[Path, str]:
    """This checkout's working tree committed to a fresh repository: (path, rev)."""
    repo = tmp_path / "hook-repo"
    repo.mkdir()
    junk = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    for name in HOOK_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, repo / name, symlinks=True, ignore=junk)
        elif src.is_file():
            shutil.copy2(src, repo / name)
    shutil.copytree(REPO / "src" / "mfaleaks", repo / "src" / "mfaleaks", symlinks=True,
                    ignore=junk)
    git(repo, "init", "-q", env=env)
    git(repo, "add", "-A", env=env)
    git(repo, "commit", "-q", "-m", "mfaleaks hook under test", env=env)
    rev = git(repo, "rev-parse", "HEAD", env=env).stdout.strip()
    return repo, rev


def test_hook_blocks_codes_and_passes_ordinary_files(
    tmp_path: Path, env: dict[str, str], hook_repo: tuple[Path, str],
) -> None:
    hook_path, rev = hook_repo
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", env=env)
    (work / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {hook_path}\n  rev: {rev}\n  hooks:\n  - id: mfaleaks\n")
    subprocess.run([str(PRE_COMMIT), "install"], cwd=work, env=env, check=True,
                   capture_output=True, timeout=60)

    # Ordinary files (hex build ids, order numbers) commit fine; the first
    # commit also builds the hook's environment.
    ordinary_files(work)
    git(work, "add", "-A", env=env)
    ok = git(work, "commit", "-m", "ordinary files", env=env, check=False, timeout=900)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "mfaleaks (MFA recovery codes and TOTP seeds)" in ok.stdout + ok.stderr
    assert "Passed" in ok.stdout + ok.stderr

    # A downloaded GitHub codes file is refused, with a message a developer can act on.
    codes = github_codes(random.Random(2024))
    (work / "github-recovery-codes.txt").write_bytes(github_file(codes))
    (work / "src" / "app.py").write_text("def main() -> int:\n    return 1\n")
    git(work, "add", "-A", env=env)
    blocked = git(work, "commit", "-m", "add my codes", env=env, check=False, timeout=300)
    out = blocked.stdout + blocked.stderr
    assert blocked.returncode != 0, out
    assert "Failed" in out and "- hook id: mfaleaks" in out and "- exit code: 1" in out
    assert "github-recovery-codes.txt" in out and "GitHub recovery codes" in out
    assert "fix: In GitHub open Settings" in out
    assert "1 finding(s) in 1 service(s)" in out
    for c in every_code(codes):
        assert c not in out
    log = git(work, "log", "--format=%s", env=env).stdout.split("\n")
    assert log[0] == "ordinary files"
    staged = git(work, "diff", "--cached", "--name-only", env=env).stdout.split()
    assert "github-recovery-codes.txt" in staged  # still staged, not committed

    # Unstaging the codes file lets the rest of the change through.
    git(work, "rm", "-q", "--cached", "github-recovery-codes.txt", env=env)
    again = git(work, "commit", "-m", "change app", env=env, check=False, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
