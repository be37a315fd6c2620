"""What a new user trips over, on real Docker with a real MariaDB: the .env file `devenv env --help`
suggests logs in, `list` and `status` agree, gc says what it keeps and why, a re-created container keeps
its port, Ctrl-C during a re-create says what is left, dry-run shows the difference from what exists,
and a missing image has its own exit code."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time

import pymysql
import pytest
from dotenv import dotenv_values
from it_helpers import db_service, devenv, sigint_as_in_a_terminal, up_json

from devenv.clients import docker
from devenv.domain import labels
from devenv.domain.profiles import DEFAULT_PORTS

pytestmark = [pytest.mark.docker, pytest.mark.mariadb_image]



@contextlib.contextmanager
def busy(port: int):
    """Hold 127.0.0.1:port for the block (when something else already does, it is busy all the same)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as devenv probes: TIME_WAIT is free
        with contextlib.suppress(OSError):  # in use: held by something else, busy all the same
            sock.bind(("127.0.0.1", port))
            sock.listen()
        yield


def test_the_env_file_of_the_first_help_example_logs_in_and_a_masked_one_says_it_is_masked(new_env, profile_file, tmp_path):
    name = new_env()
    up_json(name, profile_file())
    written = devenv("env", name, "--show-secrets")  # `devenv env demo --show-secrets > .env`: stdout is a pipe
    assert written.returncode == 0 and "masked" not in written.stderr
    (tmp_path / ".env").write_text(written.stdout)
    env = dotenv_values(tmp_path / ".env")
    pymysql.connect(host=env["RDS_ENDPOINT"], port=int(env["RDS_PORT"]), user=env["DEVENV_DB_USER"],
                    password=env["RDS_PASSWORD"], database=env["DEVENV_DB_DATABASE"]).close()

    masked = devenv("env", name)
    assert "RDS_PASSWORD='********'" in masked.stdout
    assert "warning: passwords are masked (********)" in masked.stderr and "--show-secrets" in masked.stderr
    assert devenv("down", name).returncode == 0


def test_env_of_a_profile_without_environment_values_says_so_in_the_output(new_env, profile_file):
    name = new_env()
    profile = profile_file()
    profile.write_text(profile.read_text().split("environment:")[0])
    up_json(name, profile)
    result = devenv("env", name, "--show-secrets")
    assert result.returncode == 0
    assert result.stdout.startswith(f"# environment {name} has no environment values")
    assert "DEVENV_DB_PASSWORD=" in result.stdout
    assert json.loads(devenv("env", name, "-f", "json").stdout)["warnings"][0].startswith(f"environment {name} has no")
    assert devenv("down", name).returncode == 0


def test_list_and_status_give_the_same_answer_in_the_same_types(new_env, profile_file, client):
    name = new_env()
    up_json(name, profile_file())
    container = docker.managed(client, name).containers[0]
    container.kill(signal="SIGSTOP")  # running, but answers nothing: as a hung or killed-mid-start server
    try:
        status = json.loads(devenv("status", name, "-o", "json").stdout)
        listed = next(e for e in json.loads(devenv("list", "-o", "json").stdout) if e["name"] == name)
    finally:
        container.kill(signal="SIGCONT")
    assert (status["state"], status["services"][0]["health"]) == ("degraded", "not ready")
    assert (listed["state"], listed["services"][0]["health"]) == (status["state"], status["services"][0]["health"])
    assert listed.keys() == status.keys()
    port = status["services"][0]["endpoint"]["port"]
    assert isinstance(port, int) and status["services"][0]["facts"]["port"] == port
    env = json.loads(devenv("env", name, "-f", "json").stdout)
    assert env["name"] == name and env["services"]["db"]["port"] == port
    assert devenv("down", name).returncode == 0


def test_gc_says_what_it_keeps_within_the_grace_period_and_collects_it_with_grace_0(new_env, client):
    name = new_env()
    now = int(time.time())
    tags = {labels.MANAGED: "true", labels.ENVIRONMENT: name, labels.PROFILE: "it", labels.TARGET: "docker",
            labels.CREATED: str(now), labels.EXPIRES: str(now + 3600), labels.RUN: "crashed"}
    client.networks.create(f"devenv-{name}", labels=tags)  # what an `up` killed right after its first step leaves

    kept = devenv("gc")
    assert kept.returncode == 0, kept.stderr
    row = next(line for line in kept.stdout.splitlines() if line.startswith(name))
    assert "incomplete: a network without containers" in row and "within the grace period of 60s" in row
    assert "devenv gc --grace 0" in row and "nothing to collect" not in kept.stderr
    as_json = next(e for e in json.loads(devenv("gc", "--dry-run", "-o", "json").stdout) if e["name"] == name)
    assert as_json["action"] == "kept" and as_json["resources"] == [] and "grace period" in as_json["kept"]
    assert docker.managed(client, name).networks

    collected = devenv("gc", "--grace", "0", "-o", "json")
    assert collected.returncode == 0, collected.stderr
    entry = next(e for e in json.loads(collected.stdout) if e["name"] == name)
    assert (entry["action"], entry["resources"]) == ("removed", [f"network devenv-{name}"])
    assert not docker.managed(client, name)


def test_a_recreated_container_keeps_its_port_while_the_profile_port_is_busy(new_env, profile_file, client):
    name = new_env()
    with busy(DEFAULT_PORTS["mariadb"]):  # the profile's (default) port is taken: the first `up` picks another
        first = up_json(name, profile_file())["services"]["db"]["port"]
        assert first != DEFAULT_PORTS["mariadb"]
        for memory in ("600m", "700m"):  # two re-creates (a changed profile)
            changed = up_json(name, profile_file(db_service(memory=memory)))
            assert changed["changes"][0].startswith("db: re-created")
            assert changed["services"]["db"]["port"] == first
    assert devenv("down", name).returncode == 0


def test_ctrl_c_during_a_recreate_says_what_is_left_and_up_brings_it_back(new_env, profile_file, client):
    name = new_env()
    up_json(name, profile_file())
    old_id = docker.managed(client, name).containers[0].id
    argv = [sys.executable, "-m", "devenv", "up", name, "--profile", str(profile_file(db_service(memory="640m")))]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=sigint_as_in_a_terminal)
    deadline = time.monotonic() + 60
    while [c.id for c in docker.managed(client, name).containers] == [old_id]:  # until the old one is gone
        assert proc.poll() is None and time.monotonic() < deadline, "the re-create never started"
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "the environment is now:" in err and "Traceback" not in err
    assert "stopped and removed what it had created\n" not in err
    left = docker.managed(client, name)
    if left.containers:  # the interrupt landed after the new container was ready: it is said to exist
        assert f"db: container devenv-{name}-db is {left.containers[0].status}" in err
    else:
        assert f"db: no container (an existing one is removed when it is re-created); its data volume " \
               f"devenv-{name}-db-data is kept" in err
    assert [v.name for v in left.volumes] == [f"devenv-{name}-db-data"]
    back = up_json(name, profile_file(db_service(memory="640m")))
    assert back["state"] == "ready"
    assert devenv("down", name).returncode == 0


def test_dry_run_shows_what_would_change_and_the_real_port(new_env, profile_file):
    name = new_env()
    port = up_json(name, profile_file())["services"]["db"]["port"]
    same = devenv("up", name, "--profile", str(profile_file()), "--dry-run", "-o", "json")
    assert same.returncode == 0, same.stderr
    assert json.loads(same.stdout)["changes"] == [{"service": "db", "action": "unchanged", "port": port, "note": ""}]

    changed = devenv("up", name, "--profile", str(profile_file(db_service(memory="600m"))), "--dry-run")
    assert changed.returncode == 0, changed.stderr
    row = changed.stdout.splitlines()[1]
    assert f"127.0.0.1:{port}" in row and "re-created (its configuration changed; data kept)" in row

    missing = devenv("up", name, "--profile", str(profile_file()), "--dry-run",
                     env={"DEVENV_MARIADB_IMAGE": "127.0.0.1:9/devenv-no-such-image:0"})
    assert missing.returncode == 0, missing.stderr
    assert "db: image 127.0.0.1:9/devenv-no-such-image:0 is not present locally: up pulls it" in missing.stderr
    assert devenv("down", name).returncode == 0


def test_dry_run_stops_where_up_would_on_a_taken_pinned_port(new_env, profile_file):
    name = new_env()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = devenv("up", name, "--profile", str(profile_file(db_service(port))), "--dry-run")
        allowed = devenv("up", name, "--profile", str(profile_file(db_service(port))), "--dry-run",
                         "--allow-other-port")
    assert result.returncode == 12 and result.stdout == ""
    assert f"port {port} on 127.0.0.1, pinned for db" in result.stderr and "is taken by process" in result.stderr
    assert allowed.returncode == 0 and "a free port on 127.0.0.1" in allowed.stdout


def test_an_image_that_cannot_be_had_has_its_own_exit_code_and_creates_nothing(new_env, profile_file, client):
    name = new_env()
    result = devenv("up", name, "--profile", str(profile_file()),
                    env={"DEVENV_MARIADB_IMAGE": "127.0.0.1:9/devenv-no-such-image:0"})
    assert result.returncode == 11, result.stderr
    assert "image 127.0.0.1:9/devenv-no-such-image:0 is not present locally and could not be pulled" in result.stderr
    assert not docker.managed(client, name)
