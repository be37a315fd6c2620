"""The lifecycle commands' CLI contract without Docker: exit codes, stdout versus stderr, refusals before
anything is created, the unreachable-engine error (env's quoting: test_env_output; the dry-run plan, which
needs Docker as `up` does: the integration tests)."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
from typer.testing import CliRunner

from devenv.cli import app

NOBODY = f"unix:///tmp/devenv-nobody-{uuid.uuid4().hex[:8]}.sock"


@pytest.fixture
def cli(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", NOBODY)  # a unit test must never reach a real engine
    monkeypatch.setenv("DEVENV_MARIADB_IMAGE", "local/mariadb:test")
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def test_the_real_cli_lists_the_lifecycle_commands_without_loading_docker():
    helped = subprocess.run([sys.executable, "-m", "devenv", "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0
    for name in ("up", "down", "list", "status", "env", "gc"):
        assert f" {name} " in helped.stdout
    probe = "import sys, devenv.cli; print(sorted(m for m in ('docker', 'testcontainers', 'pymysql', 'kubernetes', 'jsonschema') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert loaded.stdout.strip() == "[]"


def test_up_without_kind_says_how_to_install_it_and_creates_nothing(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no kind, no kubectl
    result = cli("up", "demo")  # the default profile, `local`, is a kind profile
    assert result.exit_code == 3
    assert result.stdout == ""
    # the platform is rendered first (kubectl kustomize), then kind is needed: the first missing tool is named
    assert "is installed" in result.stderr or "is not installed" in result.stderr  # the first missing tool
    assert "hint: install" in result.stderr and "kubectl" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["up", "demo", "--profile", "test", "--ttl", "soon"], "--ttl 'soon' is not a duration"),
    (["up", "!!!", "--profile", "test"], "cannot be turned into an environment name"),
    (["up", "demo", "--profile", "no-such-profile"], "no profile named 'no-such-profile'"),
    (["up", "demo", "--profile", "test", "-o", "yaml"], "Invalid value for '--output'"),
    (["env", "demo", "--format", "toml"], "Invalid value for '--format'"),
])
def test_bad_input_is_exit_code_2_with_the_reason_on_stderr(cli, args, message):
    result = cli(*args)
    assert result.exit_code == 2
    assert message in result.stderr and result.stdout == ""


@pytest.mark.parametrize("args", [["list"], ["status", "demo"], ["env", "demo"], ["gc"], ["down", "demo"],
                                  ["up", "demo", "--profile", "test"]])
def test_an_unreachable_engine_is_exit_code_5_naming_docker_host(cli, args):
    result = cli(*args)
    assert result.exit_code == 5, result.stderr
    assert result.stderr.startswith("error: cannot reach the Docker engine")
    assert f"DOCKER_HOST={NOBODY}" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""
