"""The engine the docker CLI would use: a docker context made with `docker context create` in a temporary
DOCKER_CONFIG, pointing at another socket path (a counting proxy to the real engine), and made current.
Without DOCKER_HOST, `devenv up` of the docker target, `status`, `down` and the docker CLI processes devenv
runs all go through it: every request of devenv's own `status` crosses the proxy (as many as the same
command makes with DOCKER_HOST pointing at a second proxy), and a context that does not exist is one clear
paragraph, exit 5, nothing created."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from docker_env import devenv, leftovers
from engine_proxy import EngineProxy

pytestmark = [pytest.mark.docker, pytest.mark.mariadb_image]


@pytest.fixture
def context(tmp_path):
    """A DOCKER_CONFIG whose current context `proxied` is a proxy to the real engine; the variables that
    make devenv and its processes read it (DOCKER_HOST unset)."""
    config = tmp_path / "docker-config"
    config.mkdir()
    with EngineProxy(10**6) as proxy:
        env = {"DOCKER_CONFIG": str(config), "DOCKER_HOST": "", "DOCKER_CONTEXT": ""}
        cli = {**os.environ, **env}
        cli.pop("DOCKER_HOST"), cli.pop("DOCKER_CONTEXT")
        for argv in (["docker", "context", "create", "proxied", "--docker", f"host={proxy.docker_host}"],
                     ["docker", "context", "use", "proxied"]):
            made = subprocess.run(argv, capture_output=True, text=True, env=cli, timeout=30)
            assert made.returncode == 0, made.stderr
        assert json.loads((config / "config.json").read_text())["currentContext"] == "proxied"
        yield proxy, env


def test_up_status_and_down_go_through_the_current_context(context, profile_file, new_env):
    proxy, env = context
    name = new_env("ctx")
    up = devenv("up", name, "--profile", str(profile_file()), "-o", "json", env=env)
    assert up.returncode == 0, up.stderr
    after_up = proxy.seen
    assert after_up > 5  # every request of `up` (create, start, inspect, ...) crossed the context's socket

    status = devenv("status", name, "-o", "json", env=env)
    assert status.returncode == 0 and json.loads(status.stdout)["state"] == "ready", status.stderr
    through_context = proxy.seen - after_up
    with EngineProxy(10**6) as direct:  # the same command, told the engine by DOCKER_HOST
        again = devenv("status", name, "-o", "json", env={"DOCKER_HOST": direct.docker_host})
    assert again.returncode == 0, again.stderr
    assert through_context == direct.seen > 0  # all of devenv's own requests, none to the default socket

    before_down = proxy.seen
    down = devenv("down", name, env=env)
    assert down.returncode == 0, down.stderr
    assert proxy.seen > before_down
    assert leftovers(name) == []


def test_the_docker_processes_devenv_runs_get_the_same_engine(context):
    """devenv.clients.process hands DOCKER_HOST (the context's endpoint) to `docker` (and `kind`, which runs the docker
    CLI): the real docker CLI's requests cross the proxy, and it was told the endpoint, not the context."""
    proxy, env = context
    probe = ("import json; from devenv.clients import docker, process; "
             "r = process.run(['docker', 'version', '--format', '{{json .Server.Version}}'], timeout=30); "
             "print(json.dumps([docker.engine_origin(), r.stdout.strip()]))")
    before = proxy.seen
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                          env={**{k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKER_CONTEXT")},
                               "DOCKER_CONFIG": env["DOCKER_CONFIG"]})
    assert done.returncode == 0, done.stderr
    (host, reason), version = json.loads(done.stdout)
    assert host == proxy.docker_host
    assert reason == f"docker context proxied (currentContext in {env['DOCKER_CONFIG']}/config.json)"
    assert json.loads(version) and proxy.seen > before


def test_a_context_that_does_not_exist_is_one_paragraph_and_creates_nothing(context, profile_file, new_env):
    proxy, env = context
    name = new_env("ctx")
    result = devenv("up", name, "--profile", str(profile_file()), env={**env, "DOCKER_CONTEXT": "gone"})
    assert result.returncode == 5, result.stderr
    assert result.stderr.startswith("error: the docker context gone (DOCKER_CONTEXT) does not exist")
    assert "docker context ls" in result.stderr and "Traceback" not in result.stderr
    assert proxy.seen == 0 and leftovers(name) == []
