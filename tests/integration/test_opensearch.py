"""OpenSearch on real Docker (runs where DEVENV_OPENSEARCH_IMAGE, or the official image, is present):
single node without the security plugin, ready at yellow/green, seeded once with a template and a bulk file."""

from __future__ import annotations

import json
import urllib.request

import pytest
from it_helpers import REPO, devenv

from devenv import docker
from devenv.targets.docker import free_port

pytestmark = [pytest.mark.docker, pytest.mark.opensearch_image]


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_opensearch_comes_up_seeded_and_keeps_its_data(new_env, tmp_path):
    name = new_env()
    for seed in ("catalog.json", "catalog.ndjson"):
        (tmp_path / seed).write_bytes((REPO / "profiles" / "seed" / seed).read_bytes())
    profile = tmp_path / "search.yaml"
    profile.write_text(
        "version: 1\nname: search\ntarget: docker\nmirror: clusters/production\nservices:\n"
        f"  search:\n    type: opensearch\n    version: \"2\"\n    heap: 512m\n    memory: 1500m\n    port: {free_port()}\n"
        "    seed: [catalog.json, catalog.ndjson]\n"
        "environment:\n  data:\n    OPENSEARCH_ENDPOINT: \"{services.search.url}\"\n"
    )
    result = devenv("up", name, "--profile", str(profile), "-o", "json", timeout=600)
    assert result.returncode == 0, result.stderr
    url = json.loads(result.stdout)["services"]["search"]["url"]
    assert json.loads(result.stdout)["values"]["OPENSEARCH_ENDPOINT"] == url
    assert get(f"{url}/_cluster/health")["status"] in ("yellow", "green")
    assert "catalog" in get(f"{url}/_index_template/catalog")["index_templates"][0]["name"]
    assert get(f"{url}/catalog/_count")["count"] == 2
    assert get(f"{url}/catalog/_mapping")["catalog"]["mappings"]["properties"]["sku"]["type"] == "keyword"
    container = docker.managed(docker.connect(), name).containers[0]
    assert container.attrs["HostConfig"]["Memory"] == 1500 * 1024 * 1024

    assert devenv("down", name, "--keep-data").returncode == 0
    again = devenv("up", name, "--profile", str(profile), "-o", "json", timeout=600)
    assert again.returncode == 0, again.stderr
    url = json.loads(again.stdout)["services"]["search"]["url"]
    assert get(f"{url}/catalog/_count")["count"] == 2
    assert get(f"{url}/catalog/_doc/sku-1")["_version"] == 1  # kept, and not seeded a second time
    assert devenv("down", name).returncode == 0
