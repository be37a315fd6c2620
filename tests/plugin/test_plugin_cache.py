"""The pytest plugin uses the cache of seeded data as the CLI does: the first session makes the snapshot,
the next starts from it with its own credentials; DEVENV_CACHE=off opts out; a census of the cache after."""

from __future__ import annotations

import uuid

import pytest
from docker_env import cache_resources

from devenv.services.cache import Cache

RUN_TIMEOUT = 240

INNER = """
import json, pathlib
import pymysql
from devenv.clients import docker
from devenv.domain import labels

def test_seeded(devenv_services):
    db = devenv_services["db"]
    connection = pymysql.connect(host=db.host, port=db.port, user=db.user, password=db.password, database=db.database)
    with connection.cursor() as cursor:
        cursor.execute("SELECT value FROM marker")
        value = cursor.fetchone()[0]
    connection.close()
    container = docker.managed(docker.connect(), devenv_services.name).containers[0]
    out = pathlib.Path(__file__).parent / "seen.jsonl"
    with out.open("a") as f:
        f.write(json.dumps({"marker": value, "password": db.password,
                            "key": docker.label_of(container, labels.CACHE_KEY)}) + "\\n")
"""


@pytest.fixture(autouse=True)
def cache_census():
    before = cache_resources()
    yield
    left = sorted(cache_resources() - before)
    assert not left, f"the cache left behind: {', '.join(left)}"


@pytest.mark.docker
@pytest.mark.mariadb_image
def test_the_fixture_starts_from_the_snapshot_the_first_session_made(pytester, monkeypatch):
    import json

    marker = uuid.uuid4().hex
    (pytester.path / "marker.sql").write_text(f"CREATE TABLE marker (value VARCHAR(64));\n"
                                              f"INSERT INTO marker VALUES ('{marker}');\n")
    (pytester.path / "p.yaml").write_text(
        "version: 1\nname: p\ntarget: docker\nmirror: clusters/production\nservices:\n"
        "  db: {type: mariadb, version: \"10.11\", database: orders, user: orders, seed: [marker.sql]}\n")
    pytester.makepyfile(INNER)

    monkeypatch.setenv("DEVENV_CACHE", "off")
    off = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--devenv-profile", "p.yaml", timeout=RUN_TIMEOUT)
    off.assert_outcomes(passed=1)
    monkeypatch.setenv("DEVENV_CACHE", "on")
    for _ in range(2):
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--devenv-profile", "p.yaml",
                                               timeout=RUN_TIMEOUT)
        result.assert_outcomes(passed=1)
    seen = [json.loads(line) for line in (pytester.path / "seen.jsonl").read_text().splitlines()]
    assert [s["marker"] for s in seen] == [marker] * 3
    assert seen[0]["key"] is None and seen[1]["key"] and seen[1]["key"] == seen[2]["key"]
    assert len({s["password"] for s in seen}) == 3  # every session's environment has its own
    key = seen[1]["key"]
    assert [s.key for s in Cache().snapshots() if s.key == key] == [key]  # one snapshot, used by both sessions
    assert Cache().remove(key).resources
