"""What a new user trips over, without Docker: which name is used, refusals that name the value (TTL,
--grace, -o), dry-run checking as `up` checks, lock files that do not pile up, the JSON types shared by
list/status/env, and the packaging (no unused dependency, no deprecated licence table)."""

from __future__ import annotations

import re
import tomllib
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from devenv.cli import app
from devenv.domain.facts import Endpoint

REPO = Path(__file__).resolve().parents[2]
NOBODY = f"unix:///tmp/devenv-nobody-{uuid.uuid4().hex[:8]}.sock"


@pytest.fixture
def cli(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", NOBODY)  # a unit test must never reach a real engine
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))  # lock files of this test only
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


@pytest.mark.parametrize("typed", ["nu x", "nu..x", "Nu_X"])
def test_a_rewritten_name_says_which_name_is_used(cli, typed):
    result = cli("status", typed)
    assert result.exit_code == 5  # no engine here: the name note comes first all the same
    assert result.stderr.startswith(f"using environment name 'nu-x' for '{typed}' (names are lowercase")


def test_a_name_typed_as_it_is_used_gets_no_note(cli):
    assert cli("status", "nu-x").stderr.startswith("error: cannot reach the Docker engine")


@pytest.mark.parametrize("typed", ["!!!", "ü", "...", " "])
def test_a_name_that_leaves_nothing_after_cleaning_is_refused(cli, typed):
    result = cli("up", typed, "--profile", "test")
    assert result.exit_code == 2 and result.stdout == ""
    assert "error:" in result.stderr and ("cannot be turned into an environment name" in result.stderr
                                          or "the environment name is empty" in result.stderr)


@pytest.mark.parametrize("args, message", [
    (["up", "demo", "--profile", "test", "--ttl", "99999999999d"], "--ttl '99999999999d' is longer than the longest TTL, 366d"),
    (["gc", "--grace", "soon"], "--grace 'soon' is not a duration"),
    (["gc", "-o", "yaml"], "'yaml' is not one of: table, json"),
    (["env", "demo", "--format", "yaml"], "'yaml' is not one of: dotenv, json, shell"),
    (["list", "-o", "yaml"], "'yaml' is not one of: table, json"),
])
def test_bad_input_names_the_value_without_validator_wording(cli, args, message):
    result = cli(*args)
    assert result.exit_code == 2 and result.stdout == ""
    assert message in result.stderr and "Value error" not in result.stderr and "Traceback" not in result.stderr


def test_dry_run_checks_docker_as_up_does(cli):
    result = cli("up", "demo", "--profile", "test", "--dry-run")
    assert result.exit_code == 5 and result.stdout == ""
    assert result.stderr.startswith("error: cannot reach the Docker engine")


def test_dry_run_of_a_kind_profile_without_its_tools_fails_as_up_does(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no kind, kubectl or kustomize
    result = cli("up", "demo", "--profile", "local", "--dry-run")
    assert result.exit_code == 3 and result.stdout == ""
    assert "is not installed" in result.stderr and "hint: install" in result.stderr


def test_a_failed_up_leaves_no_lock_file(cli, tmp_path):
    assert cli("up", "lockless", "--profile", "test").exit_code == 5
    assert list((tmp_path / "devenv" / "locks").glob("*.lock")) == []


def test_env_help_starts_with_an_example_that_writes_a_working_file(cli):
    helped = cli("env", "--help").stdout
    first = re.search(r"Examples:\s+(.+)", helped).group(1)
    assert first.startswith("devenv env demo --show-secrets > .env")


def test_status_and_list_json_carry_ports_as_numbers():
    from devenv.targets import EnvironmentState, ServiceState

    service = ServiceState(name="db", type="mariadb", container="devenv-x-db", container_id="abc", state="running",
                           health="ready", endpoint=Endpoint("127.0.0.1", 33061),
                           facts={"host": "127.0.0.1", "port": "33061", "password": "secret"})
    state = EnvironmentState(name="x", profile="test", profile_path=None, target="docker", state="ready",
                             created=1, expires=None, services=(service,)).to_dict()
    assert state["services"][0]["endpoint"] == {"host": "127.0.0.1", "port": 33061}
    assert state["services"][0]["facts"] == {"host": "127.0.0.1", "port": 33061, "password": "********"}


def test_env_json_uses_the_names_and_types_of_status():
    from devenv.lifecycle.environments import Environment

    env = Environment(name="x", profile="test", services={"db": {"host": "127.0.0.1", "port": "33061"}},
                      values={"RDS_PORT": "33061"}, secrets={}).to_dict()
    assert env["name"] == "x" and "environment" not in env
    assert env["services"]["db"]["port"] == 33061 and env["values"]["RDS_PORT"] == "33061"  # ConfigMap data: strings


def test_every_declared_dependency_is_imported_by_devenv():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    module_of = {"pyyaml": "yaml", "python-dotenv": "dotenv"}
    source = "\n".join(p.read_text() for p in (REPO / "devenv").rglob("*.py"))
    for requirement in project["dependencies"]:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower()
        module = module_of.get(name, name.replace("-", "_"))
        assert re.search(rf"^\s*(import|from) {module}\b", source, flags=re.M), f"{name} is declared, never imported"


def test_the_licence_is_an_spdx_string_as_current_setuptools_wants():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "Apache-2.0"
    assert "setuptools>=77" in pyproject["build-system"]["requires"]


def test_rendering_a_docker_profile_without_mirror_says_there_is_nothing_to_render(cli):
    profile = REPO / "tests" / "data" / "profiles" / "valid-docker-without-mirror.yaml"
    result = cli("render", "demo", "--profile", str(profile))
    assert result.exit_code == 2 and result.stdout == ""
    assert "names no cluster folder to render" in result.stderr and "add `mirror:" in result.stderr


def test_times_for_people_carry_their_utc_offset(monkeypatch):
    from devenv.lifecycle.environments import timestamp

    monkeypatch.setenv("TZ", "America/St_Johns")  # -03:30 in December: an offset no default hides
    import time

    time.tzset()
    try:
        assert timestamp(1796140800) == "2026-12-01 12:30:00-03:30"
    finally:
        monkeypatch.undo()
        time.tzset()
