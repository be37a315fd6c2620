"""The reaper of a test session, on real Docker and MariaDB: a session killed with SIGKILL mid-test leaves
nothing labelled for it within 30 s, a parallel session's environment is untouched, the watcher ends with its
job, and --devenv-keep keeps a killed session's environment on purpose."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from plugin_helpers import engine, leftovers

pytestmark = [pytest.mark.docker, pytest.mark.mariadb_image]

REAP_WITHIN = 30  # seconds (the bound; the watcher looks every 0.25 s)

HOLDING_TEST = """
import json, os, pathlib, time
from devenv.pytest_plugin import _RUN

def test_hold(devenv_services, request):
    here = pathlib.Path(__file__).parent
    run = request.config.stash[_RUN]
    (here / "up.json").write_text(json.dumps({"name": devenv_services.name, "records": run.records,
                                              "session": run.session}))
    while not (here / "release").exists():  # mid-test until the outer test says so (or kills us)
        time.sleep(0.1)
"""


def start_session(folder: Path, *extra: str) -> subprocess.Popen:
    folder.mkdir()
    (folder / "test_hold.py").write_text(HOLDING_TEST)
    with (folder / "pytest.log").open("w") as log:  # the child has its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_hold.py",
                                 *extra], cwd=folder, stdout=log, stderr=subprocess.STDOUT)


def wait_until_up(proc: subprocess.Popen, folder: Path) -> dict:
    deadline = time.monotonic() + 240
    while not (folder / "up.json").exists():
        if proc.poll() is not None:
            pytest.fail(f"the inner session ended (exit {proc.returncode}): {(folder / 'pytest.log').read_text()}")
        assert time.monotonic() < deadline, "the inner session brought nothing up within 240 s"
        time.sleep(0.1)
    return json.loads((folder / "up.json").read_text())


def labelled_for(session_id: str) -> list[str]:
    from devenv.clients import docker
    from devenv.domain import labels

    found = docker.labelled(engine()[0], {labels.MANAGED: "true", labels.SESSION: session_id})
    networks = [n for n in docker.managed(engine()[0]).networks if docker.label_of(n, labels.SESSION) == session_id]
    return [f"{type(r).__name__.lower()} {r.name}" for r in found.containers + found.volumes + networks]


def resource_ids(name: str) -> set[str]:
    from docker_env import managed

    found = managed(name)
    return {r.id for r in found.containers + found.volumes + found.networks}


def reaper_pid(records: str) -> int | None:
    path = Path(records) / "reaper.pid"
    return int(path.read_text()) if path.exists() and path.read_text().isdigit() else None


def running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_a_killed_session_is_reaped_within_seconds_and_a_parallel_one_is_untouched(tmp_path, env_names):
    killed = start_session(tmp_path / "killed")
    parallel = start_session(tmp_path / "parallel")
    try:
        gone, kept = wait_until_up(killed, tmp_path / "killed"), wait_until_up(parallel, tmp_path / "parallel")
        env_names += [gone["name"], kept["name"]]
        session_id = gone["session"].partition(":")[0]
        assert session_id and labelled_for(session_id), "the session's environment carries no session label"
        watcher = reaper_pid(gone["records"])
        assert watcher is not None and running(watcher)
        before = resource_ids(kept["name"])

        os.kill(killed.pid, signal.SIGKILL)  # only the PID this test started
        killed.wait(timeout=30)
        deadline = time.monotonic() + REAP_WITHIN
        while (labelled_for(session_id) or leftovers(gone["name"]) or running(watcher)) and time.monotonic() < deadline:
            time.sleep(0.25)
        assert labelled_for(session_id) == [] and leftovers(gone["name"]) == [], \
            f"left {REAP_WITHIN}s after the kill: {labelled_for(session_id) + leftovers(gone['name'])}"
        assert not running(watcher), "the watcher outlived its job"
        assert not Path(gone["records"]).exists()

        from devenv.lifecycle import environments

        assert resource_ids(kept["name"]) == before  # the parallel session's environment: untouched
        assert environments.status(kept["name"]).state == "ready"
        other_watcher = reaper_pid(kept["records"])
        assert other_watcher is not None and running(other_watcher)
    finally:
        (tmp_path / "parallel" / "release").touch()
        for proc in (killed, parallel):
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert parallel.returncode == 0, (tmp_path / "parallel" / "pytest.log").read_text()
    assert leftovers(kept["name"]) == []  # its own teardown removed it
    deadline = time.monotonic() + 10
    while running(other_watcher) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not running(other_watcher), "the watcher of a session that finished did not end"


def test_devenv_keep_keeps_a_killed_sessions_environment(tmp_path, env_names):
    from devenv.lifecycle import environments

    proc = start_session(tmp_path / "keep", "--devenv-keep")
    try:
        up = wait_until_up(proc, tmp_path / "keep")
        env_names.append(up["name"])
        assert up["session"] == ""  # not tied to the session: nothing reaps it
        assert reaper_pid(up["records"]) is None
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        time.sleep(2)  # what a reaper would have needed (it looks every 0.25 s): there is none to act
        assert environments.status(up["name"]).state == "ready"
        gc = subprocess.run([sys.executable, "-m", "devenv", "gc", "--dry-run", "-o", "json"], capture_output=True,
                            text=True, timeout=120)
        assert up["name"] not in gc.stdout  # nor does gc take it for a dead session's
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        environments.down(up["name"])


def test_the_next_session_reaps_an_earlier_dead_sessions_environment(tmp_path, env_names):
    """A session that died while no watcher could act (the machine rebooted, the watcher was killed with the
    job) left a labelled environment: the next session's watcher removes it as it starts."""
    import uuid

    from devenv.domain import labels

    owner, earlier = f"reap-{uuid.uuid4().hex[:6]}", f"pytest-{uuid.uuid4().hex[:8]}"
    env_names.append(earlier)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    dead = labels.process_token(child.pid)
    child.wait()
    now = int(time.time())
    tags = {labels.MANAGED: "true", labels.ENVIRONMENT: earlier, labels.PROFILE: "test", labels.TARGET: "docker",
            labels.OWNER: owner, labels.CREATED: str(now), labels.EXPIRES: str(now + 3600), labels.RUN: "r1",
            labels.HOST: labels.host(), labels.SESSION: "earlier1", labels.SESSION_PROCESS: dead}
    subprocess.run(["docker", "network", "create", *[a for k, v in tags.items() for a in ("--label", f"{k}={v}")],
                    f"devenv-{earlier}"], check=True, capture_output=True, timeout=60)
    folder = tmp_path / "next"
    folder.mkdir()
    (folder / "test_next.py").write_text("def test_it(devenv_services):\n    assert devenv_services.name\n")
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_next.py"],
                            cwd=folder, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "DEVENV_OWNER": owner})
    assert result.returncode == 0, result.stdout + result.stderr
    deadline = time.monotonic() + REAP_WITHIN
    while leftovers(earlier) and time.monotonic() < deadline:
        time.sleep(0.25)
    assert leftovers(earlier) == [] and labelled_for("earlier1") == []
