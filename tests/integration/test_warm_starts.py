"""The cache of seeded data against real Docker, MariaDB and OpenSearch: a warm environment has the seed and
its own credentials (OpenSearch has none), a changed seed misses, two first `up`s of one key make one
snapshot, --no-cache makes none, prune and gc remove snapshots (never kept data), a failed build leaves
nothing; a census of the cache's labelled resources after every test, beside the environments' own."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
import uuid

import pymysql
import pytest
from docker_env import REPO, SEED_ROWS, cache_resources, engine
from it_helpers import devenv

from devenv.clients import docker
from devenv.lifecycle import environments
from devenv.domain import labels
from devenv.services.cache import Cache
from devenv.errors import ReadinessTimeout
from devenv.services.mariadb import MariaDB

pytestmark = [pytest.mark.docker]
needs_mariadb = pytest.mark.mariadb_image
needs_opensearch = pytest.mark.opensearch_image


@pytest.fixture(autouse=True)
def cache_on(monkeypatch, tmp_path):
    monkeypatch.setenv("DEVENV_CACHE", "on")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))  # the key locks of this test (CLI subprocesses too)


@pytest.fixture(autouse=True)
def cache_census():
    """After the test, nothing the cache labelled may remain beyond what existed before it (each test removes
    the snapshots it made); leftovers are removed, and the test fails naming them."""
    before = cache_resources()
    yield
    left = sorted(cache_resources() - before)
    if left:
        client = engine()[0]
        found = docker.labelled(client, {labels.MANAGED: "true"})
        for resource in found.containers + found.volumes:
            if f"{'container' if hasattr(resource, 'stop') else 'volume'} {resource.name}" in left:
                docker.remove(resource)
        for image in docker.labelled_images(client, {labels.MANAGED: "true", labels.CACHE_ROLE: "snapshot"}):
            if f"image {docker.name_of(image)}" in left:
                docker.remove(image)
    assert not left, f"the cache left behind: {', '.join(left)}"


@pytest.fixture
def cached_profile(profile_file, tmp_path):
    """A profile whose seed is unique to the test (so is its cache key): orders.sql, then a marker row."""
    marker = uuid.uuid4().hex

    def write(value: str = marker):
        (tmp_path / "seed").mkdir(exist_ok=True)
        (tmp_path / "seed" / "marker.sql").write_text(
            f"CREATE TABLE marker (value VARCHAR(64));\nINSERT INTO marker VALUES ('{value}');\n")
        services = ("  db:\n    type: mariadb\n    version: \"10.11\"\n    database: orders\n    user: orders\n"
                    "    seed: [seed/orders.sql, seed/marker.sql]")
        return profile_file(services)

    write.marker = marker
    return write


def facts(env) -> dict:
    return dict(env.services["db"])


def rows(f: dict, sql: str, user: str | None = None, password: str | None = None) -> list[tuple]:
    connection = pymysql.connect(host=f["host"], port=int(f["port"]), user=user or f["user"],
                                 password=password if password is not None else f["password"],
                                 database=f["database"], connect_timeout=5)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            found = list(cursor.fetchall())
        connection.commit()
        return found
    finally:
        connection.close()


def refused(f: dict, user: str, password: str) -> bool:
    try:
        rows(f, "SELECT 1", user=user, password=password)
    except pymysql.err.OperationalError as exc:
        return exc.args[0] == 1045  # access denied
    return False


def key_of(name: str) -> str | None:
    container = next(c for c in docker.managed(engine()[0], name).containers)
    return docker.label_of(container, labels.CACHE_KEY)


def snapshots_of(key: str) -> list:
    return [s for s in Cache().snapshots() if s.key == key]


@needs_mariadb
def test_a_warm_environment_has_the_seed_and_its_own_credentials(new_env, cached_profile, monkeypatch):
    generated: list[dict] = []
    original = MariaDB.new_credentials
    monkeypatch.setattr(MariaDB, "new_credentials", lambda self: generated.append(original(self)) or generated[-1])
    profile = cached_profile()
    first, second = new_env(), new_env()

    cold = environments.up(first, profile)
    key = key_of(first)
    assert key and len(snapshots_of(key)) == 1  # the first `up` made the snapshot, and started from it too
    warm = environments.up(second, profile)
    assert key_of(second) == key and len(snapshots_of(key)) == 1

    a, b = facts(cold), facts(warm)
    for f in (a, b):
        assert rows(f, "SELECT customer, total_cents FROM orders ORDER BY customer") == SEED_ROWS
        assert rows(f, "SELECT value FROM marker") == [(cached_profile.marker,)]
    build = [c for c in generated if c["password"] not in (a["password"], b["password"])]
    assert len(generated) == 3 and len(build) == 1  # environment one, the snapshot's build, environment two
    roots = {environments.credentials(n, "db")["root_password"] for n in (first, second)}
    assert a["password"] != b["password"] and len(roots) == 2
    assert rows(b, "SELECT CURRENT_USER()", user="root", password=environments.credentials(second, "db")["root_password"])
    # the snapshot's own accounts, and the other environment's, do not log in
    assert refused(b, "orders", build[0]["password"]) and refused(b, "root", build[0]["root_password"])
    assert refused(b, "orders", a["password"]) and refused(a, "orders", b["password"])

    for name in (first, second):
        environments.down(name)
    snapshot = snapshots_of(key)[0].name
    assert Cache().remove(key).resources == (f"image {snapshot}",)
    assert snapshots_of(key) == []


@needs_mariadb
def test_the_snapshot_is_made_before_the_environment_has_anything(new_env, cached_profile, monkeypatch):
    """A build takes as long as seeding: an environment with a network and no container for that long would
    look like a crashed `up`'s leftovers to another user's `devenv gc` (which cannot see this user's locks)."""
    name = new_env()
    during: list = []
    build = Cache.build
    monkeypatch.setattr(Cache, "build", lambda self, *a, **k: during.append(docker.managed(self.client, name))
                        or build(self, *a, **k))
    environments.up(name, cached_profile())
    assert len(during) == 1 and not during[0]
    key = key_of(name)
    environments.down(name)
    Cache().remove(key)


@needs_mariadb
def test_changing_one_byte_of_a_seed_misses(new_env, cached_profile):
    first, second = new_env(), new_env()
    environments.up(first, cached_profile("a" * 32))
    changed = environments.up(second, cached_profile("b" + "a" * 31))
    keys = {key_of(first), key_of(second)}
    assert len(keys) == 2 and all(len(snapshots_of(k)) == 1 for k in keys)
    assert rows(facts(changed), "SELECT value FROM marker") == [("b" + "a" * 31,)]
    for name in (first, second):
        environments.down(name)
    for key in keys:
        Cache().remove(key)


@needs_mariadb
def test_two_first_ups_of_one_key_at_once_make_one_snapshot(new_env, cached_profile):
    profile = cached_profile()
    names = [new_env(), new_env()]
    runs = [subprocess.Popen([sys.executable, "-m", "devenv", "up", name, "--profile", str(profile), "-o", "json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO) for name in names]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err for _, err in outputs]
    made = [err.count("initialising and seeding one") for _, err in outputs]
    assert sorted(made) == [0, 1]  # one made it; the other waited for it and copied it
    key = key_of(names[0])
    assert key_of(names[1]) == key and len(snapshots_of(key)) == 1
    for out, _ in outputs:
        db = json.loads(out)["services"]["db"]
        password = environments.credentials(json.loads(out)["name"], "db")["password"]
        assert rows({**db, "password": password}, "SELECT value FROM marker") == [(cached_profile.marker,)]
    for name in names:
        environments.down(name)
    Cache().remove(key)


@needs_mariadb
def test_no_cache_starts_from_empty_data_and_makes_no_snapshot(new_env, cached_profile):
    name = new_env()
    profile = cached_profile()
    before = {s.key for s in Cache().snapshots()}
    result = devenv("up", name, "--profile", str(profile), "--no-cache")
    assert result.returncode == 0, result.stderr
    assert key_of(name) is None and {s.key for s in Cache().snapshots()} == before
    state = environments.attach(name)
    assert rows(dict(state.services["db"]), "SELECT value FROM marker") == [(cached_profile.marker,)]
    environments.down(name)


@needs_mariadb
def test_prune_removes_snapshots_and_never_data_kept_by_down_keep_data(new_env, cached_profile):
    name = new_env()
    profile = cached_profile()
    env = environments.up(name, profile)
    key = key_of(name)
    rows(facts(env), "INSERT INTO marker VALUES ('written later')")
    environments.down(name, keep_data=True)

    listed = devenv("cache", "list", "-o", "json")
    assert listed.returncode == 0 and key in [s["key"] for s in json.loads(listed.stdout)]
    pruned = devenv("cache", "prune", "--all")
    assert pruned.returncode == 0, pruned.stderr
    assert "removed image devenv-cache/mariadb:" in pruned.stdout
    assert snapshots_of(key) == [] and cache_resources() == set()  # --all: nothing of the cache is left
    assert [v.name for v in docker.managed(engine()[0], name).volumes] == [f"devenv-{name}-db-data"]

    again = environments.up(name, profile)  # the kept data, not a fresh copy
    assert rows(facts(again), "SELECT value FROM marker ORDER BY value") == \
        sorted([(cached_profile.marker,), ("written later",)])
    assert snapshots_of(key) == []  # a volume that holds data is never filled from the cache
    environments.down(name)


@needs_mariadb
def test_gc_removes_snapshots_older_than_the_ttl_the_user_sets(new_env, cached_profile, monkeypatch):
    monkeypatch.setenv("DEVENV_CACHE_TTL", "2h")
    name = new_env()
    environments.up(name, cached_profile())
    key = key_of(name)
    environments.down(name)
    created = snapshots_of(key)[0].created
    assert not [c for c in environments.gc(now=created + 7199) if key[:24] in c.environment]
    collected = [c for c in environments.gc(now=created + 7201) if key[:24] in c.environment]
    assert [(c.reason, len(c.resources)) for c in collected] == [("older than 2h (DEVENV_CACHE_TTL)", 1)]
    assert snapshots_of(key) == []


@needs_mariadb
def test_a_failed_snapshot_build_leaves_nothing(new_env, profile_file, tmp_path):
    name = new_env()
    profile = profile_file()
    (tmp_path / "seed" / "orders.sql").write_text(f"-- {uuid.uuid4().hex}\nTHIS IS NOT SQL;\n")
    before = {s.key for s in Cache().snapshots()}
    with pytest.raises(ReadinessTimeout, match="before it was ready"):
        environments.up(name, profile)
    assert {s.key for s in Cache().snapshots()} == before
    assert not docker.managed(engine()[0], name)


@needs_mariadb
def test_snapshot_images_are_labelled_and_hold_no_secret(new_env, cached_profile):
    name = new_env()
    env = environments.up(name, cached_profile())
    key = key_of(name)
    image = docker.labelled_images(engine()[0], {labels.CACHE_KEY: key})[0]
    tags = docker.labels_of(image)
    assert tags[labels.MANAGED] == "true" and tags[labels.CACHE_ROLE] == "snapshot"
    secrets = set(environments.credentials(name, "db").values())
    assert not secrets & set(tags.values()) and not any(s in json.dumps(image.attrs) for s in secrets)
    assert env.services["db"]["password"] in secrets
    environments.down(name)
    Cache().remove(key)


# -- OpenSearch: a seeded index snapshot restored into a new environment's volume ----------------------


@pytest.fixture
def search_profile(tmp_path):
    """A profile of one OpenSearch service, seeded with the sample catalog (a template and a bulk file)
    and a marker document unique to the test (so is its cache key); `heap` changes the node's heap only."""
    marker = uuid.uuid4().hex

    def write(value: str = marker, heap: str = "512m", filename: str = "search.yaml"):
        seed = tmp_path / "seed"
        seed.mkdir(exist_ok=True)
        for name in ("catalog.json", "catalog.ndjson"):
            (seed / name).write_bytes((REPO / "profiles" / "seed" / name).read_bytes())
        (seed / "marker.ndjson").write_text('{"index": {"_index": "marker", "_id": "m"}}\n'
                                            + json.dumps({"value": value}) + "\n")
        path = tmp_path / filename
        path.write_text("version: 1\nname: search\ntarget: docker\nmirror: clusters/production\nservices:\n"
                        "  search:\n    type: opensearch\n    version: \"2\"\n"
                        f"    heap: {heap}\n    seed: [seed/catalog.json, seed/catalog.ndjson, seed/marker.ndjson]\n"
                        "environment:\n  data:\n    OPENSEARCH_ENDPOINT: \"{services.search.url}\"\n")
        return path

    write.marker = marker
    return write


def search(env_or_url, path: str, method: str = "GET", body: dict | None = None) -> dict:
    url = env_or_url if isinstance(env_or_url, str) else env_or_url.services["search"]["url"]
    request = urllib.request.Request(url + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def search_key_of(name: str) -> str | None:
    container = next(c for c in docker.managed(engine()[0], name).containers)
    return docker.label_of(container, labels.CACHE_KEY)


def one(answer: dict) -> dict:
    """The only node's entry of a _nodes answer."""
    (node,) = answer["nodes"].values()
    return node


@needs_opensearch
def test_a_warm_opensearch_has_the_seeded_index_and_documents_and_no_credentials(new_env, search_profile):
    first, second = new_env(), new_env()
    cold = environments.up(first, search_profile())
    key = search_key_of(first)
    assert key and len(snapshots_of(key)) == 1  # the first `up` made the snapshot, and started from it too
    warm = environments.up(second, search_profile(heap="768m", filename="bigger-heap.yaml"))
    assert search_key_of(second) == key and len(snapshots_of(key)) == 1  # the heap is not part of the key

    uuids = set()
    for env in (cold, warm):
        assert search(env, "/_cluster/health")["status"] in ("yellow", "green")
        assert search(env, "/catalog/_count")["count"] == 2
        assert search(env, "/catalog/_mapping")["catalog"]["mappings"]["properties"]["sku"]["type"] == "keyword"
        assert search(env, "/catalog/_search?q=title:kettle")["hits"]["hits"][0]["_source"]["sku"] == "sku-2"
        assert search(env, "/_index_template/catalog")["index_templates"][0]["name"] == "catalog"
        assert search(env, "/marker/_doc/m")["_source"] == {"value": search_profile.marker}
        uuids.add(search(env, "/catalog/_settings")["catalog"]["settings"]["index"]["uuid"])
    # one index, restored twice: seeding again would have created a new index with a new UUID
    assert len(uuids) == 1
    heap = one(search(warm, "/_nodes/_local/jvm"))["jvm"]["mem"]["heap_max_in_bytes"]
    assert heap == 768 * 1024 * 1024  # the warm node runs with its own profile's heap

    # each copy is its own cluster: a document written to one is not in the other
    search(cold, "/catalog/_doc/sku-9?refresh=true", "PUT", {"sku": "sku-9", "title": "Only in the first"})
    assert search(cold, "/catalog/_count")["count"] == 3 and search(warm, "/catalog/_count")["count"] == 2
    # no credentials anywhere: no security plugin, nothing generated, nothing in the snapshot to reuse
    plugins = [p["name"] for p in one(search(warm, "/_nodes/_local/plugins"))["plugins"]]
    assert not [p for p in plugins if "security" in p]
    for name, env in ((first, cold), (second, warm)):
        assert environments.credentials(name, "search") == {}
        assert set(env.services["search"]) == {"host", "port", "url"}
    snapshot = docker.labelled_images(engine()[0], {labels.CACHE_KEY: key})[0]
    assert not [k for k in docker.labels_of(snapshot) if k.startswith(labels.SECRET_PREFIX)]

    for name in (first, second):
        environments.down(name)
    made = snapshots_of(key)[0].name
    assert Cache().remove(key).resources == (f"image {made}",) and snapshots_of(key) == []


@needs_opensearch
@pytest.mark.timeout(600)  # two snapshot builds, each a node start, a seed, a flush and a clean stop
def test_changing_one_byte_of_an_opensearch_seed_misses(new_env, search_profile):
    first, second = new_env(), new_env()
    environments.up(first, search_profile("a" * 32))
    changed = environments.up(second, search_profile("b" + "a" * 31))
    keys = {search_key_of(first), search_key_of(second)}
    assert len(keys) == 2 and all(len(snapshots_of(k)) == 1 for k in keys)
    assert search(changed, "/marker/_doc/m")["_source"] == {"value": "b" + "a" * 31}
    for name in (first, second):
        environments.down(name)
    for key in keys:
        Cache().remove(key)


@needs_opensearch
def test_cache_prune_leaves_nothing_of_an_opensearch_snapshot(new_env, search_profile):
    name = new_env()
    up = devenv("up", name, "--profile", str(search_profile()), "-o", "json", timeout=600)
    assert up.returncode == 0, up.stderr
    assert "initialising and seeding one" in up.stderr and "data copied from snapshot" in up.stderr
    key = search_key_of(name)
    assert search(json.loads(up.stdout)["services"]["search"]["url"], "/marker/_count")["count"] == 1
    assert devenv("down", name).returncode == 0

    listed = devenv("cache", "list", "-o", "json")
    assert listed.returncode == 0
    (row,) = [s for s in json.loads(listed.stdout) if s["key"] == key]
    assert row["type"] == "opensearch" and row["seed"] == ["catalog.json", "catalog.ndjson", "marker.ndjson"]
    assert row["database"] == row["user"] == ""  # an index is made for no database or user
    pruned = devenv("cache", "prune", "--all")
    assert pruned.returncode == 0, pruned.stderr
    assert f"removed image devenv-cache/opensearch:{key[:24]}" in pruned.stdout
    assert snapshots_of(key) == [] and not [r for r in cache_resources() if key[:16] in r]
