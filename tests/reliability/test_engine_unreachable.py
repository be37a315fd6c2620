"""The Docker engine unreachable: no socket, a socket nobody listens on, one that hangs up at once, and an
engine that goes away part-way through `status` and `up` (a proxy in front of the real engine, which is
never stopped). Every command fails with one clear paragraph, and nothing is orphaned."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from dead_sockets import dead_socket
from engine_proxy import EngineProxy
from rel_helpers import clean_error, devenv, leftovers, managed, write_profile

pytestmark = pytest.mark.reliability

COMMANDS = {
    "status": ("status", "{name}"), "list": ("list",), "up": ("up", "{name}", "--profile", "test"),
    "down": ("down", "{name}"), "gc": ("gc",), "env": ("env", "{name}"),
}


@pytest.fixture(params=["no socket", "nobody listens", "hangs up"])
def dead_engine(request):
    """A DOCKER_HOST no engine answers on (in /tmp: unix socket paths are limited to about 100 bytes)."""
    path = Path(f"/tmp/nobody-{uuid.uuid4().hex}.sock")
    if request.param == "no socket":
        yield f"unix://{path}"
        return
    with dead_socket(path, hangs_up=request.param == "hangs up") as docker_host:
        yield docker_host


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_fails_clearly_without_an_engine(dead_engine, command, new_env, tally):
    name = new_env("dead")
    result = devenv(*(arg.format(name=name) for arg in COMMANDS[command]), env={"DOCKER_HOST": dead_engine})
    tally("engine unreachable (3 kinds of dead socket x 6 commands)", runs=1,
          clean_errors=int(result.returncode == 5 and clean_error(result)))
    assert result.returncode == 5, result.stderr
    assert clean_error(result), result.stderr
    assert result.stderr.splitlines()[0] == "error: cannot reach the Docker engine"
    assert f"tried: DOCKER_HOST={dead_engine}" in result.stderr
    assert "hint: start Docker" in result.stderr


@pytest.mark.mariadb_image
def test_engine_going_away_while_status_runs(new_env, tally):
    from devenv.lifecycle import environments

    name = new_env("vanish")
    environments.up(name, "test")
    containers = sorted(c.id for c in managed(name).containers)
    with EngineProxy(10**6) as proxy:
        whole = devenv("status", name, "-o", "json", env={"DOCKER_HOST": proxy.docker_host})
    assert whole.returncode == 0, whole.stderr
    requests = proxy.seen
    for allowed in range(requests):  # the engine hangs up before answering request number allowed+1
        with EngineProxy(allowed) as proxy:
            result = devenv("status", name, "-o", "json", env={"DOCKER_HOST": proxy.docker_host})
        tally("engine goes away while `status` runs", runs=1, clean_errors=int(clean_error(result)))
        assert result.returncode == 5 and clean_error(result), f"cut after {allowed} requests: {result.stderr}"
        assert "error: cannot reach the Docker engine" in result.stderr
    assert sorted(c.id for c in managed(name).containers) == containers
    assert json.loads(devenv("status", name, "-o", "json").stdout)["state"] == "ready"
    environments.down(name)


@pytest.mark.mariadb_image
def test_engine_going_away_mid_up_orphans_nothing(tmp_path, new_env, tally):
    profile = write_profile(tmp_path)
    name = new_env("vanish-up")
    with EngineProxy(10**6) as proxy:
        whole = devenv("up", name, "--profile", str(profile), env={"DOCKER_HOST": proxy.docker_host})
    assert whole.returncode == 0, whole.stderr
    requests = proxy.seen
    assert devenv("down", name).returncode == 0

    for allowed in range(0, requests, 2):
        name = new_env("vanish-up")
        with EngineProxy(allowed) as proxy:
            result = devenv("up", name, "--profile", str(profile), env={"DOCKER_HOST": proxy.docker_host})
        left = len(leftovers(name))
        down = devenv("down", name)  # the real engine: whatever the cut-off run made carries labels
        tally("engine goes away mid-`up`", runs=1, clean_errors=int(clean_error(result)),
              runs_that_left_resources=int(left > 0), leftovers_after_down=len(leftovers(name)))
        assert down.returncode == 0, down.stderr
        assert leftovers(name) == []
        if result.returncode != 0:  # 0: this run needed fewer requests than the first
            assert result.returncode == 5 and clean_error(result), f"cut after {allowed} requests: {result.stderr}"
            assert "error: cannot reach the Docker engine" in result.stderr
