"""kill -9 of a `devenv up` subprocess once its first container exists: a second `up` converges to a
working, correctly seeded environment, and `gc` removes what the killed run left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from rel_helpers import REPO, SEED_ROWS, devenv, facts, leftovers, managed, query, write_profile

pytestmark = [pytest.mark.reliability, pytest.mark.mariadb_image]

KILLS = 3  # per gc test
KILLS_THEN_UP = 5
SERVICES = ("db", "db2")  # two services: the kill lands while one is further along than the other


def kill_mid_up(name: str, profile, *extra: str, tmp_path) -> dict[str, str]:
    """Start `devenv up`, SIGKILL it by its pid once its first container exists; return the containers' states
    once it is dead (Docker still completes a request the killed process had sent)."""
    log = (tmp_path / f"{name}.stderr").open("w+")
    proc = subprocess.Popen([sys.executable, "-m", "devenv", "up", name, "--profile", str(profile), *extra],
                            stdout=subprocess.DEVNULL, stderr=log, cwd=REPO)
    try:
        deadline = time.monotonic() + 120
        while not (found := managed(name)).containers:
            if proc.poll() is not None:
                log.seek(0)
                pytest.fail(f"`devenv up` ended (exit {proc.returncode}) before creating a container: {log.read()}")
            assert time.monotonic() < deadline, "`devenv up` created no container within 120s"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        log.close()
    assert proc.returncode == -signal.SIGKILL
    from devenv.clients import docker
    from devenv.domain import labels

    return {docker.label_of(c, labels.SERVICE): c.status for c in managed(name).containers}


@pytest.mark.parametrize("attempt", range(KILLS_THEN_UP))
def test_up_after_kill_9_converges(attempt, tmp_path, new_env, tally):
    import pymysql

    profile = write_profile(tmp_path, services=SERVICES)
    name = new_env("kill")
    at_kill = kill_mid_up(name, profile, tmp_path=tmp_path)
    assert leftovers(name), "the killed run left nothing behind to converge from"

    result = devenv("up", name, "--profile", str(profile))
    state = json.loads(devenv("status", name, "-o", "json").stdout)
    rows: dict[str, object] = {}
    if result.returncode == 0:
        for service, service_facts in facts(name).items():
            try:
                rows[service] = query(service_facts, "SELECT customer, total_cents FROM orders ORDER BY id")
            except pymysql.err.ProgrammingError as exc:
                rows[service] = f"{exc.args[1]}"
    down = devenv("down", name)
    tally("kill -9 mid-up, then up", runs=1, never_started_at_kill=int("created" in at_kill.values()),
          converged=int(result.returncode == 0 and rows == {service: SEED_ROWS for service in SERVICES}))

    assert result.returncode == 0, result.stderr
    assert down.returncode == 0, down.stderr
    assert state["state"] == "ready"
    assert sorted(s["name"] for s in state["services"]) == list(SERVICES)
    # seeded exactly once, even when the kill landed between creating a container and copying its seed in
    assert rows == {service: SEED_ROWS for service in SERVICES}


@pytest.mark.parametrize("attempt", range(KILLS))
def test_gc_spares_a_fresh_incomplete_environment_and_removes_it_once_expired(attempt, tmp_path, new_env, tally):
    from devenv.clients import docker
    from devenv.domain import labels

    profile = write_profile(tmp_path, services=SERVICES)
    name = new_env("killgc")
    at_kill = kill_mid_up(name, profile, "--ttl", "6s", tmp_path=tmp_path)
    left = sorted(leftovers(name))
    assert left, "the killed run left nothing behind for gc"
    expires = max(int(docker.label_of(r, labels.EXPIRES)) for kind in ("containers", "volumes", "networks")
                  for r in getattr(managed(name), kind))

    incomplete = json.loads(devenv("status", name, "-o", "json").stdout)["state"] == "incomplete"
    first = devenv("gc")  # within the grace period: another user's `up` may look like this
    assert first.returncode == 0, first.stderr
    spared = [line for line in first.stdout.splitlines() if line.startswith(name)]
    if time.time() < expires:
        assert sorted(leftovers(name)) == left
        if incomplete:  # kept, and gc says why
            assert len(spared) == 1 and "kept: its last change was" in spared[0] and "grace period of 60s" in spared[0]
        else:  # its containers had started: not a crashed run's leftovers until it expires
            assert spared == []

    time.sleep(max(0.0, expires + 1 - time.time()))
    still_there = bool(leftovers(name))  # False when a concurrent session's `gc` got there first
    second = devenv("gc")
    assert second.returncode == 0, second.stderr
    assert name in second.stdout or not still_there
    tally("kill -9 mid-up, then gc once expired", runs=1, resources_left_by_kill=len(left),
          never_started_at_kill=int("created" in at_kill.values()), spared_in_grace=len(spared))
    assert leftovers(name) == []


def test_gc_removes_what_killed_ups_left_after_the_grace_period(tmp_path, new_env, tally):
    from devenv.lifecycle import environments

    profile = write_profile(tmp_path, services=SERVICES)
    killed = {}
    for _ in range(KILLS):
        name = new_env("killgrace")
        killed[name] = kill_mid_up(name, profile, tmp_path=tmp_path)
    time.sleep(environments.LEFTOVER_GRACE + 1)
    still_there = {name for name in killed if leftovers(name)}  # a concurrent session's `gc` may be first
    result = devenv("gc")
    assert result.returncode == 0, result.stderr
    for name, at_kill in killed.items():
        after = managed(name)
        assert [c.name for c in after.containers if c.status == "created"] == []
        assert not (after.networks and not after.containers), f"{name}: a network without containers was kept"
        if set(at_kill.values()) == {"created"} and len(at_kill) == len(SERVICES):
            assert leftovers(name) == []  # never started: nothing worth keeping
            assert name in result.stdout or name not in still_there
        tally("kill -9 mid-up, then gc after the grace period", runs=1,
              never_started_at_kill=int("created" in at_kill.values()),
              collected=int(name in result.stdout or name not in still_there), left_for_down=len(leftovers(name)))
        assert devenv("down", name).returncode == 0
