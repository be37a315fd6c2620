"""containerd's registry mirror on a real kind node: devenv's cluster config points containerd at hosts files
(devenv.clients.kind CONTAINERD_CONFIG_PATH) and KindClusters.wire_registry writes one; an image pushed to a
registry container on the kind network under `localhost:<port>/...` is then pulled by a pod through that mirror.

Needs Docker, the real kind (DEVENV_KIND), the node image (DEVENV_KIND_NODE_IMAGE) and the lab's registry build;
skipped with the reason otherwise.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_kind_real_node import free_port, in_node, kind_path, node_image  # noqa: F401  (kind_path: a fixture)

from devenv.clients.kind import KIND_NETWORK, KindClusters, cluster_name
from devenv.domain import labels

sys.path.insert(0, str(Path(__file__).parents[1] / "lab" / "kindnode"))
import flux as lab_images  # noqa: E402  (tests/lab/kindnode/flux.py: the registry image)

pytestmark = [pytest.mark.docker, pytest.mark.kind_node]


def test_a_pod_pulls_an_image_pushed_to_the_local_registry_through_containerds_mirror(kind_path, tmp_path) -> None:
    environment = "km" + secrets.token_hex(3)
    clusters = KindClusters(home=tmp_path / "state")
    registry = f"devenv-test-registry-{environment}"
    port = free_port()
    pushed = f"localhost:{port}/probe/registry:{environment}"
    try:
        subprocess.run(["docker", "run", "-d", "--name", registry, "-p", f"127.0.0.1:{port}:5000",
                        lab_images.registry_image()], check=True, capture_output=True)
        subprocess.run(["docker", "tag", lab_images.registry_image(), pushed], check=True)
        for _ in range(20):  # the registry answers within a second or two of starting
            done = subprocess.run(["docker", "push", pushed], capture_output=True, text=True, timeout=120)
            if done.returncode == 0:
                break
            time.sleep(0.5)
        assert done.returncode == 0, done.stderr

        clusters.create(environment, {labels.MANAGED: "true", labels.ENVIRONMENT: environment},
                        node_image=node_image(), http_port=free_port(), https_port=free_port())
        subprocess.run(["docker", "network", "connect", KIND_NETWORK, registry], check=True, capture_output=True)
        clusters.wire_registry(environment, f"localhost:{port}", f"http://{registry}:5000")
        in_node(environment, "run", "pulled", f"--image={pushed}", "--image-pull-policy=Always", "--restart=Never")
        in_node(environment, "wait", "--for=condition=Ready", "pod/pulled", "--timeout=120s")
        pod = json.loads(in_node(environment, "get", "pod", "pulled", "-o", "json"))
        status = pod["status"]["containerStatuses"][0]
        assert status["image"] == pushed and status["state"].get("running") is not None
        log = subprocess.run(["docker", "logs", registry], capture_output=True, text=True).stdout + \
            subprocess.run(["docker", "logs", registry], capture_output=True, text=True).stderr
        assert "containerd" in log  # the node's containerd asked this registry for the image
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", registry], capture_output=True)
        subprocess.run(["docker", "rmi", pushed], capture_output=True)
        clusters.delete(environment, verify=False)
    assert environment not in clusters.names()
    assert subprocess.run(["docker", "ps", "-a", "-q", "--filter", f"name={registry}"], capture_output=True,
                          text=True).stdout.split() == []
    assert cluster_name(environment) not in subprocess.run([kind_path, "get", "clusters"], capture_output=True,
                                                           text=True).stdout.split()
