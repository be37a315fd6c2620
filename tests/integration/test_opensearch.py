"""OpenSearch on real Docker (runs where DEVENV_OPENSEARCH_IMAGE, or the official image, is present;
CI builds a real 2.19 node offline: `make opensearch-image`): single node without the security plugin,
ready at yellow/green, seeded once with a template and a bulk file, beside MariaDB, its data kept by
`down --keep-data`, and a readiness timeout that shows the node's own last log lines."""

from __future__ import annotations

import json
import urllib.request

import pytest
from it_helpers import REPO, db_service, devenv

from devenv.clients import docker
from devenv.targets.docker import free_port

pytestmark = [pytest.mark.docker, pytest.mark.opensearch_image]

SEARCH_SERVICE = """  search:
    type: opensearch
    version: "2"
    heap: 512m
    port: {port}
    seed: [seed/catalog.json, seed/catalog.ndjson]"""


def call(method: str, url: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def get(url: str) -> dict:
    return call("GET", url)


def write_profile(tmp_path, services: str, data: str) -> object:
    seed = tmp_path / "seed"
    seed.mkdir(exist_ok=True)
    for name in ("catalog.json", "catalog.ndjson", "orders.sql"):
        (seed / name).write_bytes((REPO / "profiles" / "seed" / name).read_bytes())
    profile = tmp_path / "search.yaml"
    profile.write_text("version: 1\nname: search\ntarget: docker\nmirror: clusters/production\n"
                       f"services:\n{services}\nenvironment:\n  data:\n{data}")
    return profile


def test_opensearch_comes_up_seeded_and_keeps_its_data(new_env, tmp_path):
    name = new_env()
    profile = write_profile(tmp_path, SEARCH_SERVICE.format(port=free_port()) + "\n    memory: 1500m",
                            "    OPENSEARCH_ENDPOINT: \"{services.search.url}\"\n")
    result = devenv("up", name, "--profile", str(profile), "-o", "json", timeout=600)
    assert result.returncode == 0, result.stderr
    url = json.loads(result.stdout)["services"]["search"]["url"]
    assert json.loads(result.stdout)["values"]["OPENSEARCH_ENDPOINT"] == url
    assert get(f"{url}/_cluster/health")["status"] in ("yellow", "green")
    assert "catalog" in get(f"{url}/_index_template/catalog")["index_templates"][0]["name"]
    assert get(f"{url}/catalog/_count")["count"] == 2
    assert get(f"{url}/catalog/_mapping")["catalog"]["mappings"]["properties"]["sku"]["type"] == "keyword"
    # full-text analysis (the template's `text` field), and a painless script, on the real node
    hits = get(f"{url}/catalog/_search?q=title:mugs")["hits"]["hits"]
    assert [hit["_id"] for hit in hits] == [] and get(f"{url}/catalog/_search?q=title:MUG")["hits"]["total"]["value"] == 1
    scripted = call("POST", f"{url}/catalog/_search", {"query": {"term": {"sku": "sku-2"}}, "script_fields": {
        "euros": {"script": {"lang": "painless", "source": "doc['price_cents'].value / 100"}}}})
    assert scripted["hits"]["hits"][0]["fields"]["euros"] == [42]
    container = docker.managed(docker.connect(), name).containers[0]
    assert container.attrs["HostConfig"]["Memory"] == 1500 * 1024 * 1024
    assert container.attrs["HostConfig"]["PortBindings"]["9200/tcp"][0]["HostIp"] == "127.0.0.1"

    call("POST", f"{url}/catalog/_doc/sku-3?refresh=true", {"sku": "sku-3", "title": "Green teapot"})
    assert devenv("down", name, "--keep-data").returncode == 0
    assert docker.managed(docker.connect(), name).containers == []
    again = devenv("up", name, "--profile", str(profile), "-o", "json", timeout=600)
    assert again.returncode == 0, again.stderr
    url = json.loads(again.stdout)["services"]["search"]["url"]
    assert get(f"{url}/catalog/_count")["count"] == 3  # the document written by hand survived
    assert get(f"{url}/catalog/_doc/sku-1")["_version"] == 1  # kept, and not seeded a second time
    assert devenv("down", name).returncode == 0


def test_opensearch_beside_mariadb_as_a_new_user_would(new_env, tmp_path):
    """`up` of a profile with both services, then the URL from `env --format json` finds the seed."""
    name = new_env()
    services = db_service(free_port()) + "\n" + SEARCH_SERVICE.format(port=free_port())
    profile = write_profile(tmp_path, services, "    RDS_ENDPOINT: \"{services.db.host}\"\n"
                                                "    OPENSEARCH_ENDPOINT: \"{services.search.url}\"\n")
    up = devenv("up", name, "--profile", str(profile), timeout=600)
    assert up.returncode == 0, up.stderr
    assert "db: created" in up.stderr and "search: created" in up.stderr

    env = devenv("env", name, "--format", "json")
    assert env.returncode == 0, env.stderr
    facts = json.loads(env.stdout)
    assert set(facts["services"]) == {"db", "search"}
    url = facts["services"]["search"]["url"]
    assert facts["values"]["OPENSEARCH_ENDPOINT"] == url and url.startswith("http://127.0.0.1:")
    assert get(f"{url}/catalog/_search?q=title:kettle")["hits"]["hits"][0]["_source"]["sku"] == "sku-2"

    status = devenv("status", name, "-o", "json")
    assert status.returncode == 0, status.stderr
    states = {svc["name"]: (svc["type"], svc["state"], svc["health"]) for svc in json.loads(status.stdout)["services"]}
    assert states == {"db": ("mariadb", "running", "ready"), "search": ("opensearch", "running", "ready")}
    assert devenv("down", name).returncode == 0


def test_a_node_that_stays_red_times_out_showing_its_last_log_lines(new_env, tmp_path):
    name = new_env()
    profile = write_profile(tmp_path, SEARCH_SERVICE.format(port=free_port()), "    ENVIRONMENT: \"{env.name}\"\n")
    up = devenv("up", name, "--profile", str(profile), "-o", "json", timeout=600)
    assert up.returncode == 0, up.stderr
    url = json.loads(up.stdout)["services"]["search"]["url"]
    # an index whose primary can never be allocated: the cluster is red from now on, also after a restart
    call("PUT", f"{url}/stranded?wait_for_active_shards=0", {"settings": {
        "number_of_shards": 1, "index.routing.allocation.require._name": "no-such-node"}})
    assert get(f"{url}/_cluster/health")["status"] == "red"
    assert devenv("down", name, "--keep-data").returncode == 0

    again = devenv("up", name, "--profile", str(profile), env={"DEVENV_READY_TIMEOUT": "60"}, timeout=600)
    assert again.returncode == 6, again.stderr  # ReadinessTimeout
    assert "search (opensearch) was not ready after 60s" in again.stderr
    assert "waited for: cluster health yellow or green at http://127.0.0.1:" in again.stderr
    lines = again.stderr.split("last log lines:", 1)[1].splitlines()
    assert any("[o.o." in line for line in lines), again.stderr  # the node's own log, as `docker logs` has it
    assert "Traceback" not in again.stderr
    assert docker.managed(docker.connect(), name).containers == []  # the failed run removed what it created
    assert devenv("down", name).returncode == 0
