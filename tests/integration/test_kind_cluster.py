"""The kind target for real: a kind cluster, MariaDB on its network, the `environment` ConfigMap and the
embedded platform applied. Needs kind, kubectl, Docker and the MariaDB image; skipped with the reason otherwise."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest
from it_helpers import devenv

from devenv.clients.kind import KindClusters

pytestmark = [pytest.mark.kind, pytest.mark.docker, pytest.mark.mariadb_image]
REPO = Path(__file__).parents[2]


@pytest.fixture
def kind_profile(tmp_path) -> Path:
    """The `local` profile with MariaDB only (the OpenSearch image is not everywhere), seeds included."""
    text = (REPO / "profiles" / "local.yaml").read_text()
    text = text.replace("  search:\n    type: opensearch\n    version: \"2\"\n    heap: 512m\n"
                        "    seed: [seed/catalog.json, seed/catalog.ndjson]\n", "")
    text = text.replace('"{services.search.url}"', "http://search.invalid:9200")
    path = tmp_path / "kind-it.yaml"
    (tmp_path / "seed").symlink_to(REPO / "profiles" / "seed")
    path.write_text(text)
    return path


def test_up_writes_the_environment_into_a_kind_cluster_and_down_removes_it(new_env, kind_profile) -> None:
    name = new_env("kind")
    try:
        up = devenv("up", name, "--profile", str(kind_profile), timeout=1200)
        assert up.returncode == 0, up.stderr
        kubeconfig = KindClusters().kubeconfig(name)
        assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
        got = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), "get", "configmap", "environment",
                              "-n", "flux-system", "-o", "json"], capture_output=True, text=True, check=True)
        data = json.loads(got.stdout)["data"]
        assert data["RDS_ENDPOINT"] == f"devenv-{name}-db" and data["RDS_PORT"] == "3306"
        pods = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), "get", "deployment", "orders", "-n", "shop",
                               "-o", "jsonpath={.status.readyReplicas}"], capture_output=True, text=True, check=True)
        assert pods.stdout == "1"
    finally:
        down = devenv("down", name, timeout=600)
    assert down.returncode == 0, down.stderr
    assert name not in KindClusters().names()
