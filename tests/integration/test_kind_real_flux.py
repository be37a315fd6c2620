"""Flux on a real kind node, offline: the lab's source-, kustomize- and helm-controller as images named as upstream's
(tests/lab/kindnode/flux.py), loaded with `kind load docker-image`, run as pods; source-controller pulls an OCI
artifact from a registry container on the kind network (by its DNS name) and kustomize-controller applies it.

Needs Docker, the real kind (DEVENV_KIND), the node image (DEVENV_KIND_NODE_IMAGE) and the lab's build (Flux
controllers, flux CLI, registry); skipped with the reason otherwise.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from test_kind_real_node import free_port, in_node, kind_path, node_image  # noqa: F401  (kind_path: a fixture)

from devenv.clients.kind import KIND_NETWORK, KindClusters, cluster_name
from devenv.domain import labels

sys.path.insert(0, str(Path(__file__).parents[1] / "lab" / "kindnode"))
import flux as lab_flux  # noqa: E402  (tests/lab/kindnode/flux.py)

pytestmark = [pytest.mark.docker, pytest.mark.kind_node]


@pytest.fixture
def flux_cli() -> Path:
    path = lab_flux.lab.binary("flux")
    if not path.is_file():
        pytest.skip(f"needs the lab's flux CLI at {path} (`make lab` or `python3 tests/lab/lab.py build`)")
    return path


def test_flux_runs_as_pods_and_applies_an_artifact_from_a_registry_on_the_kind_network(kind_path, flux_cli,
                                                                                        tmp_path) -> None:
    environment = "kf" + secrets.token_hex(3)
    clusters = KindClusters(home=tmp_path / "state")
    registry = f"devenv-test-registry-{environment}"
    port = free_port()
    try:
        clusters.create(environment, {labels.MANAGED: "true", labels.ENVIRONMENT: environment},
                        node_image=node_image(), http_port=free_port(), https_port=free_port())
        images = lab_flux.build_images()
        subprocess.run([kind_path, "load", "docker-image", "--name", cluster_name(environment), *images],
                       check=True, capture_output=True, timeout=600)
        in_node(environment, "apply", "--server-side", "-f", "-", stdin=lab_flux.manifest())
        in_node(environment, "wait", "--for=condition=Available", "deployment", "--all", "-n", "flux-system",
                "--timeout=180s")
        pods = json.loads(in_node(environment, "get", "pods", "-n", "flux-system", "-o", "json"))["items"]
        running = {p["metadata"]["labels"].get("app"): p["spec"]["containers"][0]["image"] for p in pods
                   if p["status"].get("phase") == "Running"}
        assert running == {n: lab_flux.image(n) for n in lab_flux.lab.FLUX_CONTROLLERS}

        subprocess.run(["docker", "run", "-d", "--name", registry, "--network", KIND_NETWORK,
                        "-p", f"127.0.0.1:{port}:5000", lab_flux.registry_image()], check=True, capture_output=True)
        content = tmp_path / "artifact"
        content.mkdir()
        (content / "configmap.yaml").write_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-artifact, namespace: default}\n"
            f"data: {{environment: {environment}}}\n")
        push = [str(flux_cli), "push", "artifact", f"oci://127.0.0.1:{port}/probe:v1", f"--path={content}",
                "--source=devenv-test", "--revision=v1", "--insecure-registry"]
        for _ in range(20):  # the registry container answers within a second or two
            done = subprocess.run(push, capture_output=True, text=True, timeout=60)
            if done.returncode == 0:
                break
            subprocess.run(["sleep", "0.5"])
        assert done.returncode == 0, done.stderr
        in_node(environment, "apply", "-f", "-", stdin=f"""
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {{name: probe, namespace: flux-system}}
spec: {{interval: 1m, url: "oci://{registry}:5000/probe", ref: {{tag: v1}}, insecure: true}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: probe, namespace: flux-system}}
spec: {{interval: 1m, path: ./, prune: true, sourceRef: {{kind: OCIRepository, name: probe}}}}
""")
        in_node(environment, "wait", "--for=condition=Ready", "kustomization/probe", "-n", "flux-system",
                "--timeout=180s")
        assert in_node(environment, "get", "configmap", "from-artifact", "-o",
                       "jsonpath={.data.environment}") == environment
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", registry], capture_output=True)
        clusters.delete(environment, verify=False)
    assert environment not in clusters.names()
    assert subprocess.run(["docker", "ps", "-a", "-q", "--filter", f"name={registry}"], capture_output=True,
                          text=True).stdout.split() == []
