"""The cache of seeded data without Docker: what its key covers (and not), the switches (--no-cache,
DEVENV_CACHE, DEVENV_CACHE_TTL), MariaDB's warm start with fresh credentials, OpenSearch's (no credentials,
heap not in the key), and the CLI's refusals."""

from __future__ import annotations

import dataclasses
import json
import uuid

import pytest
from typer.testing import CliRunner

from devenv.services import cache
from devenv.cli import app
from devenv.errors import InvalidInput
from devenv.domain.profiles import ServiceSpec
from devenv.services import swap_for

MARIADB = swap_for("mariadb")
OPENSEARCH = swap_for("opensearch")
IMAGE_ID = "sha256:" + "1" * 64


@pytest.fixture
def spec(tmp_path):
    (tmp_path / "a.sql").write_bytes(b"CREATE TABLE a (x INT);\n")
    (tmp_path / "b.sql").write_bytes(b"INSERT INTO a VALUES (1);\n")
    return ServiceSpec(name="db", type="mariadb", version="10.11", database="orders", user="orders",
                       seed=(tmp_path / "a.sql", tmp_path / "b.sql"))


def key(spec: ServiceSpec, image_id: str = IMAGE_ID) -> str:
    return cache.cache_key(MARIADB, spec, image_id)


def test_the_key_changes_with_one_byte_of_a_seed_file(spec):
    before = key(spec)
    spec.seed[1].write_bytes(b"INSERT INTO a VALUES (2);\n")
    assert key(spec) != before
    spec.seed[1].write_bytes(b"INSERT INTO a VALUES (1);\n")
    assert key(spec) == before  # content, not modification time


@pytest.mark.parametrize("change", [dict(version="10.6"), dict(database="other"), dict(user="other"),
                                    dict(user="root"), "image", "seed order"])
def test_the_key_changes_with_what_determines_the_data(spec, change):
    if change == "image":
        changed = key(spec, "sha256:" + "2" * 64)
    elif change == "seed order":
        changed = key(dataclasses.replace(spec, seed=tuple(reversed(spec.seed))))
    else:
        changed = key(dataclasses.replace(spec, **change))
    assert changed != key(spec)


def test_the_key_ignores_what_does_not_change_the_data(spec):
    assert key(dataclasses.replace(spec, port=3307, memory="1g", name="orders-db")) == key(spec)


def test_the_cache_is_on_unless_turned_off(monkeypatch):
    monkeypatch.delenv("DEVENV_CACHE", raising=False)
    assert cache.enabled() is True and cache.enabled(False) is False
    for value in ("off", "0", "false", "NO"):
        monkeypatch.setenv("DEVENV_CACHE", value)
        assert cache.enabled() is False and cache.enabled(True) is True
    monkeypatch.setenv("DEVENV_CACHE", "on")
    assert cache.enabled() is True


def test_the_snapshot_ttl_is_a_week_unless_set(monkeypatch):
    monkeypatch.delenv("DEVENV_CACHE_TTL", raising=False)
    assert cache.ttl_seconds() == 7 * 86400
    monkeypatch.setenv("DEVENV_CACHE_TTL", "36h")
    assert cache.ttl_seconds() == 36 * 3600
    monkeypatch.setenv("DEVENV_CACHE_TTL", "0")
    assert cache.ttl_seconds() == 0
    monkeypatch.setenv("DEVENV_CACHE_TTL", "soon")
    with pytest.raises(InvalidInput, match="DEVENV_CACHE_TTL='soon' is not a duration"):
        cache.ttl_seconds()


def test_a_warm_mariadb_sets_every_account_to_the_environment_s_passwords(spec):
    credentials = {"password": "app-pw", "root_password": "root'pw\\"}
    files, arguments = MARIADB.warm_start(spec, credentials)
    (path, sql), = files.items()
    assert arguments == [f"--init-file={path}"]
    assert sql.decode().splitlines() == [
        "ALTER USER IF EXISTS 'root'@'localhost' IDENTIFIED BY 'root\\'pw\\\\';",
        "ALTER USER IF EXISTS 'root'@'%' IDENTIFIED BY 'root\\'pw\\\\';",
        "ALTER USER IF EXISTS 'orders'@'%' IDENTIFIED BY 'app-pw';",
    ]
    as_root = MARIADB.warm_start(dataclasses.replace(spec, user="root"), credentials)[0][path].decode()
    assert "'app-pw'" in as_root and "root'pw" not in as_root and "'orders'" not in as_root


def test_only_the_snapshot_build_gets_the_small_redo_log(spec):
    assert MARIADB.snapshot_args(spec) == ["--innodb-log-file-size=4M"]
    assert not any("innodb" in a for a in MARIADB.warm_start(spec, {"password": "p", "root_password": "r"})[1])


def test_both_swaps_keep_snapshots_and_a_stopped_jvm_counts_as_clean():
    assert MARIADB.snapshots and OPENSEARCH.snapshots
    assert MARIADB.clean_exit_codes == (0,) and OPENSEARCH.clean_exit_codes == (0, 143)


@pytest.fixture
def search_spec(tmp_path):
    (tmp_path / "catalog.json").write_bytes(b'{"index_patterns": ["catalog*"]}')
    (tmp_path / "catalog.ndjson").write_bytes(b'{"index": {"_index": "catalog", "_id": "1"}}\n{"sku": "1"}\n')
    return ServiceSpec(name="search", type="opensearch", version="2",
                       seed=(tmp_path / "catalog.json", tmp_path / "catalog.ndjson"))


def test_an_opensearch_key_ignores_the_heap_and_follows_the_seed(search_spec):
    def search_key(spec):
        return cache.cache_key(OPENSEARCH, spec, IMAGE_ID)

    before = search_key(search_spec)
    assert search_key(dataclasses.replace(search_spec, heap="1g", memory="2g", port=9201)) == before
    assert "OPENSEARCH_JAVA_OPTS" in OPENSEARCH.environment(search_spec)  # the container still gets the heap
    assert search_key(dataclasses.replace(search_spec, version="2.19")) != before
    assert cache.cache_key(OPENSEARCH, search_spec, "sha256:" + "2" * 64) != before
    search_spec.seed[1].write_bytes(search_spec.seed[1].read_bytes().replace(b'"1"}\n', b'"2"}\n'))
    assert search_key(search_spec) != before


def test_a_warm_opensearch_needs_no_files_arguments_or_credentials(search_spec):
    # the security plugin is off: no account exists, in the snapshot or in an environment
    assert OPENSEARCH.credential_keys == () and OPENSEARCH.new_credentials() == {}
    assert OPENSEARCH.warm_start(search_spec, {}) == ({}, [])
    assert OPENSEARCH.snapshot_args(search_spec) == []


@pytest.fixture
def cli(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix:///tmp/devenv-nobody-{uuid.uuid4().hex[:8]}.sock")
    monkeypatch.setenv("DEVENV_MARIADB_IMAGE", "local/mariadb:test")
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def test_the_plan_says_whether_the_cache_is_used(monkeypatch):
    # (`up --dry-run` prints this plan; it needs Docker, so the CLI side is in the integration tests)
    from devenv.lifecycle import environments

    monkeypatch.delenv("DEVENV_CACHE", raising=False)
    assert environments.plan("demo", "test").to_dict()["cache"] is True
    assert environments.plan("demo", "test", cache=False).to_dict()["cache"] is False
    monkeypatch.setenv("DEVENV_CACHE", "off")
    assert environments.plan("demo", "test").to_dict()["cache"] is False


def test_cache_commands_without_an_engine_exit_5_and_print_nothing(cli):
    for args in (("cache", "list"), ("cache", "prune", "--all")):
        result = cli(*args)
        assert result.exit_code == 5 and result.stdout == ""
        assert "cannot reach the Docker engine" in result.stderr


def test_cache_refuses_bad_input_before_anything(cli, monkeypatch):
    assert cli("cache", "prune", "--everything").exit_code == 2
    assert cli("cache", "drop").exit_code == 2
    monkeypatch.setenv("DEVENV_CACHE_TTL", "a while")
    for args in (("cache", "list"), ("cache", "prune")):
        result = cli(*args)
        assert result.exit_code == 2 and result.stdout == ""  # before the engine is asked anything
        assert "DEVENV_CACHE_TTL='a while' is not a duration" in result.stderr
