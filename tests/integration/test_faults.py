"""Faults and bad input on real Docker: an unreachable engine, a taken port, a busy environment,
Ctrl-C and SIGTERM mid-`up`, invalid profiles and names, a failing seed, and a foreign resource.
Each ends with nothing of its environments left (the census)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import uuid

import pymysql
import pytest
from it_helpers import db_service, devenv, mariadb_image, sigint_as_in_a_terminal

from devenv.clients import docker
from devenv.targets.docker import free_port

def test_an_unreachable_engine_is_one_clear_error(new_env, profile_file):
    socket_path = f"/tmp/devenv-nobody-{uuid.uuid4().hex[:8]}.sock"
    for args in (["up", new_env(), "--profile", str(profile_file())], ["list"], ["gc"], ["down", "x"]):
        result = devenv(*args, env={"DOCKER_HOST": f"unix://{socket_path}"})
        assert result.returncode == 5, (args, result.stderr)
        assert result.stderr.startswith("error: cannot reach the Docker engine")
        assert f"DOCKER_HOST=unix://{socket_path}" in result.stderr and "docker info" in result.stderr
        assert "Traceback" not in result.stderr and result.stdout == ""


@pytest.mark.docker
@pytest.mark.mariadb_image
def test_a_taken_pinned_port_is_refused_unless_another_is_allowed(new_env, profile_file):
    name = new_env()
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        refused = devenv("up", name, "--profile", str(profile_file(db_service(port))), "-o", "json")
        assert refused.returncode == 12 and refused.stdout == ""
        assert f"error: port {port} on 127.0.0.1, pinned for db by profile" in refused.stderr
        assert not docker.managed(docker.connect(), name)
        result = devenv("up", name, "--profile", str(profile_file(db_service(port))), "-o", "json",
                        "--allow-other-port")
    assert result.returncode == 0, result.stderr
    assert f"port {port} on 127.0.0.1 is taken; db uses 127.0.0.1:" in result.stderr
    used = int(json.loads(result.stdout)["services"]["db"]["port"])
    assert used != port
    db = json.loads(devenv("env", name, "--format", "json", "--show-secrets").stdout)["services"]["db"]
    assert int(db["port"]) == used
    pymysql.connect(host="127.0.0.1", port=used, user=db["user"], password=db["password"], database=db["database"]).close()
    assert devenv("down", name).returncode == 0


HOLD_LOCK = """
import sys, time
from devenv.lock import environment_lock
with environment_lock(sys.argv[1], purpose="up"):
    print("locked", flush=True)
    time.sleep(60)
"""


@pytest.mark.docker
@pytest.mark.mariadb_image
def test_a_busy_environment_waits_then_fails_clearly(new_env, profile_file):
    name = new_env()
    with subprocess.Popen([sys.executable, "-c", HOLD_LOCK, name], stdout=subprocess.PIPE, text=True) as holder:
        try:
            assert holder.stdout.readline().strip() == "locked"
            result = devenv("up", name, "--profile", str(profile_file()), env={"DEVENV_LOCK_TIMEOUT": "1"})
        finally:
            holder.kill()
    assert result.returncode == 9, result.stderr
    assert f"environment {name} is busy" in result.stderr and f"pid {holder.pid}" in result.stderr
    assert "waiting up to 1s" in result.stderr
    assert not docker.managed(docker.connect(), name)


@pytest.mark.docker
@pytest.mark.mariadb_image
def test_two_ups_at_once_are_serialised(new_env, profile_file):
    name = new_env()
    argv = [sys.executable, "-m", "devenv", "up", name, "--profile", str(profile_file()), "-o", "json"]
    first, second = (subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2))
    results = [(*p.communicate(timeout=180), p.returncode) for p in (first, second)]
    results = [(code, out, err) for out, err, code in results]
    assert [code for code, _, _ in results] == [0, 0], results
    changes = sorted(json.loads(out)["changes"][0] for _, out, _ in results)
    assert changes == ["db: created", "db: unchanged"]
    assert any("is busy" in err for _, _, err in results)  # the second one waited for the first
    assert len(docker.managed(docker.connect(), name).containers) == 1
    assert devenv("down", name).returncode == 0


@pytest.mark.docker
@pytest.mark.mariadb_image
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupting_up_leaves_nothing_down_or_gc_cannot_find(sig, new_env, profile_file):
    name = new_env()
    client = docker.connect()
    up = subprocess.Popen([sys.executable, "-m", "devenv", "up", name, "--profile", str(profile_file())],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          preexec_fn=sigint_as_in_a_terminal)
    deadline = time.monotonic() + 60
    while not docker.managed(client, name).containers:
        assert up.poll() is None and time.monotonic() < deadline, "the container never appeared"
        time.sleep(0.02)
    up.send_signal(sig)
    _, err = up.communicate(timeout=60)
    assert up.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not docker.managed(client, name)  # the run removed what it had created
    down = devenv("down", name)
    assert down.returncode == 0 and "nothing to remove" in down.stderr


BAD_PROFILES = {
    "unknown service type": ("  db:\n    type: postgres\n", "'postgres' is not one of mariadb, opensearch"),
    "bad version": ("  db:\n    type: mariadb\n    version: \"ten\"\n", "'ten' is not valid"),
    "missing seed file": ("  db:\n    type: mariadb\n    seed: [seed/nope.sql]\n", "seed file 'seed/nope.sql' not found"),
}


@pytest.mark.docker
@pytest.mark.parametrize("case", list(BAD_PROFILES))
def test_an_invalid_profile_is_a_clear_error_and_creates_nothing(case, new_env, tmp_path):
    name = new_env()
    services, message = BAD_PROFILES[case]
    profile = tmp_path / "bad.yaml"
    profile.write_text(f"version: 1\nname: bad\ntarget: docker\nmirror: clusters/production\nservices:\n{services}")
    result = devenv("up", name, "--profile", str(profile))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: profile {profile} is invalid") and message in result.stderr
    assert result.stdout == ""
    assert not docker.managed(docker.connect(), name)


@pytest.mark.parametrize("raw", ["!!!", "_/_"])
def test_an_invalid_name_is_a_clear_error(raw, profile_file):
    result = devenv("up", raw, "--profile", str(profile_file()))
    assert result.returncode == 2
    assert "cannot be turned into an environment name" in result.stderr and result.stdout == ""


def test_a_kind_profile_without_kind_says_how_to_install_it_and_creates_nothing(new_env, tmp_path):
    bare = tmp_path / "bin"  # python on PATH, but no kind and no kubectl
    bare.mkdir()
    (bare / "git").symlink_to("/usr/bin/git")
    result = devenv("up", new_env(), "--profile", "local", env={"PATH": str(bare)})
    assert result.returncode == 3
    assert "is installed" in result.stderr or "is not installed" in result.stderr  # the first missing tool
    assert "hint: install" in result.stderr and "kubectl" in result.stderr


@pytest.mark.docker
@pytest.mark.mariadb_image
def test_a_failing_seed_stops_up_with_the_server_log_and_rolls_back(new_env, profile_file, tmp_path):
    name = new_env()
    profile = profile_file(db_service(free_port()).replace("seed/orders.sql", "seed/broken.sql"))
    (tmp_path / "seed" / "broken.sql").write_text("CREATE TABLE broken (;\n")
    result = devenv("up", name, "--profile", str(profile))
    assert result.returncode == 6, result.stderr
    assert "db (mariadb) exited with code" in result.stderr and "before it was ready" in result.stderr
    assert "SQL syntax" in result.stderr  # the container's own log line says why
    assert not docker.managed(docker.connect(), name)


@pytest.mark.docker
@pytest.mark.mariadb_image
def test_a_foreign_container_with_our_name_is_left_alone(new_env, profile_file):
    name = new_env()
    foreign = f"devenv-{name}-db"
    subprocess.run(["docker", "create", "--name", foreign, mariadb_image()], check=True, capture_output=True)
    try:
        result = devenv("up", name, "--profile", str(profile_file()))
        assert result.returncode != 0
        assert result.stderr.startswith(f"error: a container named {foreign} exists but devenv did not create it")
        assert subprocess.run(["docker", "inspect", foreign], capture_output=True).returncode == 0
        assert not docker.managed(docker.connect(), name)
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", foreign], capture_output=True)
