"""What `gc` reads off the labels, whoever's lock files it cannot see: an environment of a test session of this
machine whose process is gone is collected at once (no grace period); an incomplete one whose session or
`up` still runs is kept even with `--grace 0`, saying which process it waits for."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

import pytest
from docker_env import devenv, leftovers

from devenv.domain import labels

pytestmark = [pytest.mark.docker]


def network(env: str, owner: str, **more: str) -> None:
    """A labelled network, as the first step of an `up` leaves it."""
    now = int(time.time())
    tags = {labels.MANAGED: "true", labels.ENVIRONMENT: env, labels.PROFILE: "it", labels.TARGET: "docker",
            labels.OWNER: owner, labels.CREATED: str(now), labels.EXPIRES: str(now + 3600), labels.RUN: "r1",
            labels.HOST: labels.host(), **more}
    subprocess.run(["docker", "network", "create", *[a for k, v in tags.items() for a in ("--label", f"{k}={v}")],
                    f"devenv-{env}"], check=True, capture_output=True, timeout=60)


def dead_token() -> str:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    token = labels.process_token(child.pid)
    child.wait()
    return token


def test_gc_collects_a_dead_sessions_environment_at_once_and_keeps_a_live_ones(new_env):
    owner = f"sess-{uuid.uuid4().hex[:6]}"
    dead, live, running_up = new_env("dead"), new_env("live"), new_env("uprun")
    network(dead, owner, **{labels.SESSION: "s-dead", labels.SESSION_PROCESS: dead_token()})
    network(live, owner, **{labels.SESSION: "s-live", labels.SESSION_PROCESS: labels.process_token()})
    network(running_up, owner, **{labels.RUN_PROCESS: labels.process_token()})

    result = devenv("gc", "--grace", "0", "-o", "json", env={"DEVENV_OWNER": owner})
    assert result.returncode == 0, result.stderr
    found = {e["name"]: e for e in json.loads(result.stdout)}
    assert found[dead]["action"] == "removed" and "its test session s-dead" in found[dead]["reason"]
    assert found[dead]["resources"] == [f"network devenv-{dead}"] and leftovers(dead) == []
    for name, why in ((live, "its test session s-live"), (running_up, "the `up` that creates it")):
        assert found[name]["action"] == "kept" and why in found[name]["kept"] and "still running" in found[name]["kept"]
        assert leftovers(name) == [f"network devenv-{name}"]
    for name in (live, running_up):
        assert devenv("down", name, env={"DEVENV_OWNER": owner}).returncode == 0
