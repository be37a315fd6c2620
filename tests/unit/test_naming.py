"""Environment names: DNS-1123 labels from input or branch, stable hash suffix when too long."""

from __future__ import annotations

import re

import pytest

from devenv.domain import naming
from devenv.errors import InvalidName


@pytest.mark.parametrize("raw,name", [
    ("feature/ABC-123_x", "feature-abc-123-x"),
    ("demo", "demo"),
    ("  Main  ", "main"),
    ("release/2.0", "release-2-0"),
    ("--x--", "x"),
    ("dependabot/npm_and_yarn/lodash-4.17.21", "dependabot-npm-and-yarn-lodash-4-17-21"),
])
def test_environment_name(raw: str, name: str) -> None:
    assert naming.environment_name(raw) == name


def test_long_names_are_shortened_with_a_stable_distinct_suffix() -> None:
    a = naming.environment_name("feature/" + "very-long-branch-name-" * 4 + "one")
    b = naming.environment_name("feature/" + "very-long-branch-name-" * 4 + "two")
    assert len(a) <= naming.MAX_LENGTH and len(b) <= naming.MAX_LENGTH
    assert a != b
    assert a == naming.environment_name("feature/" + "very-long-branch-name-" * 4 + "one")
    assert re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", a)
    # the namespace and kind node names built from it stay within 63
    assert len(f"devenv-{a}") <= 63 and len(f"{a}-control-plane") <= 63


@pytest.mark.parametrize("raw", ["", "   ", "///", "__"])
def test_invalid_names_are_clear_errors(raw: str) -> None:
    with pytest.raises(InvalidName) as caught:
        naming.environment_name(raw)
    assert caught.value.exit_code == 2
    assert caught.value.hint or repr(raw.strip()) in caught.value.message


def test_resolve_name_uses_the_git_branch(tmp_path, monkeypatch) -> None:
    import subprocess

    subprocess.run(["git", "init", "-q", "-b", "Feature/Login_Page", str(tmp_path)], check=True)
    monkeypatch.chdir(tmp_path)
    assert naming.resolve_name(None) == "feature-login-page"
    assert naming.resolve_name("Explicit") == "explicit"


def test_resolve_name_outside_git_is_a_clear_error(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    with pytest.raises(InvalidName, match="no environment NAME given"):
        naming.resolve_name(None)
