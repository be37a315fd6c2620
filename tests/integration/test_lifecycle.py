"""The environment lifecycle on real Docker with a real MariaDB: up, re-up, converge, env, status,
down (with and without --keep-data), gc, and the library API the pytest plugin builds on."""

from __future__ import annotations

import json
import subprocess
import time

import pymysql
import pytest
from it_helpers import db_service, devenv, mariadb_image, up_json

from devenv.clients import docker
from devenv.lifecycle import environments
from devenv.domain import labels
from devenv.lock import environment_lock
from devenv.targets.docker import free_port

pytestmark = [pytest.mark.docker, pytest.mark.mariadb_image]



def facts(name: str) -> dict:
    result = devenv("env", name, "--format", "json", "--show-secrets")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def connect(db: dict):
    return pymysql.connect(host=db["host"], port=int(db["port"]), user=db["user"], password=db["password"],
                           database=db["database"], autocommit=True)


def query(db: dict, sql: str) -> tuple:
    with connect(db) as conn, conn.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def container_ids(client, name: str) -> list[str]:
    return sorted(c.id for c in docker.managed(client, name).containers)


def test_up_then_up_again_changes_nothing_then_down_removes_everything(new_env, profile_file, client):
    name = new_env()
    first = up_json(name, profile_file())
    assert first["changes"] == ["db: created"]
    found = docker.managed(client, name)
    assert [c.name for c in found.containers] == [f"devenv-{name}-db"]
    assert [n.name for n in found.networks] == [f"devenv-{name}"]
    assert [v.name for v in found.volumes] == [f"devenv-{name}-db-data"]
    bindings = found.containers[0].attrs["HostConfig"]["PortBindings"]["3306/tcp"]
    assert [b["HostIp"] for b in bindings] == ["127.0.0.1"]
    ids = container_ids(client, name)

    again = devenv("up", name, "--profile", str(profile_file()), "-o", "json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["changes"] == ["db: unchanged"]
    assert container_ids(client, name) == ids

    down = devenv("down", name)
    assert down.returncode == 0, down.stderr
    assert set(down.stdout.split("\n")) >= {f"container devenv-{name}-db", f"network devenv-{name}",
                                            f"volume devenv-{name}-db-data"}
    assert not docker.managed(client, name)


def test_env_gives_facts_a_client_can_use_and_masks_secrets_unless_asked(new_env, profile_file, tmp_path):
    name = new_env()
    up_json(name, profile_file())
    values = facts(name)
    db = values["services"]["db"]
    assert query(db, "SELECT customer FROM orders ORDER BY id") == (("ada",), ("grace",), ("linus",))
    assert values["values"]["RDS_PORT"] == str(db["port"]) and values["secrets"]["RDS_PASSWORD"] == db["password"]

    masked = devenv("env", name, "--format", "json")
    assert masked.returncode == 0 and db["password"] not in masked.stdout
    dotenv = devenv("env", name)
    assert f"DEVENV_DB_PORT={db['port']}\n" in dotenv.stdout and db["password"] not in dotenv.stdout

    shell = devenv("env", name, "--format", "shell", "--show-secrets")
    script = tmp_path / "env.sh"
    script.write_text(shell.stdout)
    echoed = subprocess.run(["bash", "-c", f'. "{script}" && printf %s "$RDS_PASSWORD:$DEVENV_DB_URL"'],
                            capture_output=True, text=True, check=True)
    assert echoed.stdout == f"{db['password']}:{db['url']}"
    assert devenv("down", name).returncode == 0


def test_down_keep_data_then_up_finds_the_same_data_and_password(new_env, profile_file, client):
    name = new_env()
    profile = profile_file()
    up_json(name, profile)
    before = facts(name)["services"]["db"]
    query(before, "INSERT INTO orders (customer, total_cents) VALUES ('kept', 7)")

    kept = devenv("down", name, "--keep-data")
    assert kept.returncode == 0, kept.stderr
    found = docker.managed(client, name)
    assert not found.containers and not found.networks and [v.name for v in found.volumes] == [f"devenv-{name}-db-data"]
    listed = json.loads(devenv("list", "-o", "json").stdout)
    assert [(e["state"], e["owner"], e["target"]) for e in listed if e["name"] == name] == [
        ("data only", labels.owner(), "docker")]  # the owner, as on every resource it made

    up_json(name, profile)
    after = facts(name)["services"]["db"]
    assert after["password"] == before["password"]
    # the row survived, and the seed did not run a second time on the kept volume
    assert query(after, "SELECT customer FROM orders ORDER BY id") == (("ada",), ("grace",), ("linus",), ("kept",))
    assert devenv("down", name).returncode == 0
    assert not docker.managed(client, name)


def test_a_changed_profile_recreates_only_the_container_and_keeps_the_data(new_env, profile_file, client):
    name = new_env()
    port = free_port()
    up_json(name, profile_file(db_service(port)))
    db = facts(name)["services"]["db"]
    query(db, "INSERT INTO orders (customer, total_cents) VALUES ('before-change', 1)")
    ids = container_ids(client, name)
    volume_id = docker.managed(client, name).volumes[0].id

    changed = up_json(name, profile_file(db_service(port, memory="512m")))
    assert changed["changes"][0].startswith("db: re-created")
    assert container_ids(client, name) != ids
    found = docker.managed(client, name)
    assert found.volumes[0].id == volume_id
    assert found.containers[0].attrs["HostConfig"]["Memory"] == 512 * 1024 * 1024
    assert query(facts(name)["services"]["db"], "SELECT customer FROM orders WHERE id = 4") == (("before-change",),)

    # a new user would never be created in data initialised for the old one: refused, nothing touched
    ids = container_ids(client, name)
    refused = devenv("up", name, "--profile", str(profile_file(db_service(port).replace("user: orders", "user: other"))))
    assert refused.returncode == 2
    assert "was initialised for another user 'orders' -> 'other'" in refused.stderr
    assert container_ids(client, name) == ids
    assert devenv("down", name).returncode == 0


def test_status_shows_a_killed_container_and_up_brings_it_back(new_env, profile_file, client):
    name = new_env()
    profile = profile_file()
    up_json(name, profile)
    healthy = json.loads(devenv("status", name, "-o", "json").stdout)
    assert healthy["state"] == "ready" and healthy["services"][0]["health"] == "ready"

    container_id = docker.managed(client, name).containers[0].id
    subprocess.run(["docker", "kill", container_id], check=True, capture_output=True)
    status = devenv("status", name, "-o", "json")
    assert status.returncode == 0, status.stderr
    killed = json.loads(status.stdout)
    service = killed["services"][0]
    assert (killed["state"], service["state"], service["health"], service["exitCode"]) == \
        ("degraded", "exited", "killed", 137)
    table = devenv("status", name)
    assert "killed" in table.stdout and "degraded" in table.stdout

    back = up_json(name, profile)
    assert back["changes"] == ["db: started (it had stopped)"]
    assert container_ids(client, name) == [container_id]
    assert devenv("down", name).returncode == 0


def test_gc_removes_an_expired_environment_and_keeps_a_live_one(new_env, profile_file, client):
    expired, live = new_env("exp"), new_env("live")
    up_json(live, profile_file(filename="live.yaml"))
    # long enough for `up` to finish first: an expired environment is fair game for any `gc` on this engine
    up_json(expired, profile_file(), "--ttl", "8s")
    expires = max(int(docker.label_of(c, labels.EXPIRES)) for c in docker.managed(client, expired).containers)
    time.sleep(max(0.0, expires + 1 - time.time()))

    still_there = bool(docker.managed(client, expired))  # False when a concurrent test session's gc came first
    dry = devenv("gc", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"would remove container devenv-{expired}-db" in dry.stdout or not still_there
    assert bool(docker.managed(client, expired).containers) or not still_there

    collected = devenv("gc")
    assert collected.returncode == 0, collected.stderr
    assert f"removed volume devenv-{expired}-db-data" in collected.stdout or not still_there
    assert live not in collected.stdout
    assert not docker.managed(client, expired)
    assert docker.managed(client, live).containers
    assert devenv("down", live).returncode == 0


def test_up_renews_an_expired_environment_keeping_its_data(new_env, profile_file, client):
    name = new_env()
    profile = profile_file()
    first = up_json(name, profile, "--ttl", "8s")  # long enough for `up` to finish before it expires
    db = facts(name)["services"]["db"]
    query(db, "INSERT INTO orders (customer, total_cents) VALUES ('renewed', 5)")
    time.sleep(max(0.0, first["expires"] + 1 - time.time()))
    if not docker.managed(client, name):
        pytest.skip("a concurrent test session's gc removed the expired environment first")
    renewed = up_json(name, profile)
    assert renewed["changes"] == ["db: re-created with a new expiry (it had expired; data kept)"]
    assert renewed["expires"] > time.time() + 3600
    assert query(facts(name)["services"]["db"], "SELECT customer FROM orders WHERE id = 4") == (("renewed",),)
    assert devenv("down", name).returncode == 0


def test_gc_removes_the_leftovers_of_a_killed_up_but_not_kept_data(new_env, profile_file, client):
    """A run killed mid-`up` leaves a network and a never-started container (and the fresh volume it
    made for it); a volume kept by an earlier `down --keep-data` carries another run and must stay."""
    name = new_env()

    def tags(run: str, **more: str) -> list[str]:
        # made two minutes ago: gc leaves younger incomplete environments alone (an `up` may be running)
        made = int(time.time()) - 120
        found = {labels.MANAGED: "true", labels.ENVIRONMENT: name, labels.PROFILE: "it", labels.TARGET: "docker",
                 labels.CREATED: str(made), labels.EXPIRES: str(made + 3600),
                 "devenv.run": run, **more}
        return [arg for k, v in found.items() for arg in ("--label", f"{k}={v}")]

    def docker_cli(*args: str) -> None:
        subprocess.run(["docker", *args], check=True, capture_output=True)

    docker_cli("volume", "create", *tags("old", **{labels.SERVICE: "kept"}), f"devenv-{name}-kept-data")
    docker_cli("network", "create", *tags("dead"), f"devenv-{name}")
    docker_cli("volume", "create", *tags("dead", **{labels.SERVICE: "db"}), f"devenv-{name}-db-data")
    docker_cli("create", "--name", f"devenv-{name}-db", "--network", f"devenv-{name}",
               *tags("dead", **{labels.SERVICE: "db", labels.SERVICE_TYPE: "mariadb"}), mariadb_image())
    assert json.loads(devenv("status", name, "-o", "json").stdout)["state"] == "incomplete"

    with environment_lock(name, purpose="up"):  # as if that `up` were still running: gc must wait its turn
        busy = devenv("gc")
    assert busy.returncode == 0 and f"kept: environment {name} is busy" in busy.stdout
    assert len(docker.managed(client, name).containers) == 1

    collected = devenv("gc")
    assert collected.returncode == 0, collected.stderr
    found = docker.managed(client, name)
    assert not found.containers and not found.networks
    assert [v.name for v in found.volumes] == [f"devenv-{name}-kept-data"]
    assert devenv("down", name).returncode == 0


def test_library_api_up_attach_down(new_env, profile_file, client):
    """What the pytest plugin builds on: up returns facts and environment values; attach finds the same."""
    name = new_env()
    env = environments.up(name, profile_file())
    assert env.changes == ("db: created",)
    db = env.services["db"]
    assert query(db, "SELECT COUNT(*) FROM orders") == ((3,),)
    assert env.values == {"ENVIRONMENT": name, "RDS_ENDPOINT": "127.0.0.1", "RDS_PORT": db["port"]}
    assert env.secrets == {"RDS_PASSWORD": db["password"]}

    attached = environments.attach(name)
    assert (attached.services, attached.values, attached.secrets) == (env.services, env.values, env.secrets)
    removed = environments.down(name)
    assert f"volume devenv-{name}-db-data" in removed
    assert not docker.managed(client, name)
