"""The OpenSearch image's settings reach the node: `devenv up` of an OpenSearch service gives the node
`discovery.type=single-node` (an environment variable with a dot, which the offline image's entry point
once dropped by running under dash), so the node elects itself at once instead of waiting for a cluster
bootstrap. Runs on the image DEVENV_OPENSEARCH_IMAGE names (`make opensearch-image` builds the offline one)."""

from __future__ import annotations

import json
import urllib.request

import pytest
from it_helpers import devenv

from devenv.targets.docker import free_port

pytestmark = [pytest.mark.docker, pytest.mark.opensearch_image]


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def test_the_node_runs_with_the_single_node_discovery_devenv_sets(new_env, tmp_path):
    name = new_env()
    profile = tmp_path / "search.yaml"
    profile.write_text("version: 1\nname: search\ntarget: docker\nmirror: clusters/production\nservices:\n"
                       f"  search:\n    type: opensearch\n    version: \"2\"\n    heap: 512m\n    port: {free_port()}\n")
    result = devenv("up", name, "--profile", str(profile), "-o", "json", timeout=600)
    assert result.returncode == 0, result.stderr
    url = json.loads(result.stdout)["services"]["search"]["url"]
    try:
        nodes = get(f"{url}/_nodes/settings")["nodes"]
        assert [((n["settings"].get("discovery") or {}).get("type")) for n in nodes.values()] == ["single-node"]
        # a single-node cluster has no voting configuration to bootstrap: the node is its only master
        state = get(f"{url}/_cluster/state/metadata?filter_path=metadata.cluster_coordination")
        voting = state["metadata"]["cluster_coordination"]["last_committed_config"]
        assert voting == list(nodes)
    finally:
        assert devenv("down", name).returncode == 0
