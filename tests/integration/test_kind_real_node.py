"""The offline kind node for real (tests/lab/kindnode, `make kind-node-image`): the real kind CLI creates a cluster
from it with the config devenv writes (devenv.clients.kind), and the parts only a real node shows work: the node
Ready with CoreDNS and the CNI running, pod DNS for Services and for containers on the kind network, a `standard`
PVC bound and written, and the ingress port mapping reaching a pod on the node's port 80. Then the cluster is
deleted and nothing of it is left.

Needs Docker, the real kind (DEVENV_KIND, which .lab/env exports) and the node image (DEVENV_KIND_NODE_IMAGE,
default devenv-offline/kind-node:v1.36.3); skipped with the reason otherwise.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from devenv.clients.kind import KindClusters, cluster_name, node_container
from devenv.domain import labels

pytestmark = [pytest.mark.docker, pytest.mark.kind_node]

DEFAULT_IMAGE = "devenv-offline/kind-node:v1.36.3"


def real_kind() -> str | None:
    path = os.environ.get("DEVENV_KIND") or str(Path.home() / ".cache" / "devenv-lab" / "kind-v0.33.0" / "kind")
    return path if os.access(path, os.X_OK) else None


def node_image() -> str:
    return os.environ.get("DEVENV_KIND_NODE_IMAGE") or DEFAULT_IMAGE


@pytest.fixture
def kind_path(monkeypatch) -> str:
    kind = real_kind()
    if kind is None:
        pytest.skip("needs the real kind: set DEVENV_KIND to its path (`make lab` builds it; .lab/env exports it)")
    image = node_image()
    if subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode != 0:
        pytest.skip(f"needs the kind node image {image} (`make kind-node-image`; DEVENV_KIND_NODE_IMAGE names another)")
    monkeypatch.setenv("PATH", f"{Path(kind).parent}{os.pathsep}{os.environ['PATH']}")  # devenv runs `kind`
    assert shutil.which("kind") == kind
    return kind


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def in_node(environment: str, *args: str, stdin: str | None = None, check: bool = True) -> str:
    """kubectl inside the node (the image carries it), as cluster admin."""
    done = subprocess.run(["docker", "exec", "-i", node_container(environment), "kubectl",
                           "--kubeconfig=/etc/kubernetes/admin.conf", *args],
                          input=stdin, capture_output=True, text=True, timeout=180)
    if check:
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
    return done.stdout


PROBE = """
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: probe, namespace: default}}
spec: {{accessModes: [ReadWriteOnce], resources: {{requests: {{storage: 10Mi}}}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: probe, namespace: default}}
spec:
  restartPolicy: Never
  containers:
  - name: probe
    image: docker.io/devenv-offline/kind-node-tools:{version}
    command: ["/bin/sh", "-c", "getent hosts kubernetes.default.svc.cluster.local && getent hosts {node} && echo written-by-probe > /data/file && cat /data/file"]
    volumeMounts: [{{name: data, mountPath: /data}}]
  volumes: [{{name: data, persistentVolumeClaim: {{claimName: probe}}}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: web, namespace: default}}
data: {{Corefile: ".:1053 {{\\n  health :80\\n}}\\n"}}
---
apiVersion: v1
kind: Pod
metadata: {{name: web, namespace: default}}
spec:
  containers:
  - name: web
    image: registry.k8s.io/coredns/coredns:v1.14.2
    args: ["-conf", "/etc/coredns/Corefile"]
    ports: [{{containerPort: 80, hostPort: 80}}]
    volumeMounts: [{{name: config, mountPath: /etc/coredns}}]
  volumes: [{{name: config, configMap: {{name: web}}}}]
"""


def test_a_real_node_from_the_offline_image_runs_pods_with_dns_storage_and_ingress(kind_path, tmp_path) -> None:
    environment = "kr" + secrets.token_hex(3)
    clusters = KindClusters(home=tmp_path / "state")
    node_labels = {labels.MANAGED: "true", labels.ENVIRONMENT: environment}
    http_port, https_port = free_port(), free_port()
    version = subprocess.run(["docker", "image", "inspect", "--format", '{{ index .Config.Labels "io.kubernetes.version" }}',
                              node_image()], capture_output=True, text=True, check=True).stdout.strip()
    kubeconfig = None
    try:
        kubeconfig = clusters.create(environment, node_labels, node_image=node_image(), http_port=http_port,
                                     https_port=https_port)
        assert environment in clusters.names()

        node = json.loads(in_node(environment, "get", "node", node_container(environment), "-o", "json"))
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}
        assert ready["Ready"] == "True"
        assert node["metadata"]["labels"][labels.MANAGED] == "true"
        assert node["status"]["nodeInfo"]["kubeletVersion"] == version
        in_node(environment, "wait", "--for=condition=Ready", "pod", "-n", "kube-system", "-l", "k8s-app=kube-dns",
                "--timeout=120s")
        in_node(environment, "wait", "--for=condition=Ready", "pod", "-n", "kube-system", "-l", "app=devenv-node-cni",
                "--timeout=60s")

        in_node(environment, "apply", "-f", "-", stdin=PROBE.format(version=version, node=node_container(environment)))
        in_node(environment, "wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/probe", "--timeout=120s")
        log = in_node(environment, "logs", "probe")
        assert "kubernetes.default.svc.cluster.local" in log  # a Service, through CoreDNS
        assert node_container(environment) in log  # a container on the kind network, through Docker's DNS
        assert log.strip().endswith("written-by-probe")
        assert in_node(environment, "get", "pvc", "probe", "-o", "jsonpath={.status.phase}") == "Bound"
        assert in_node(environment, "get", "pvc", "probe", "-o", "jsonpath={.spec.storageClassName}") == "standard"

        in_node(environment, "wait", "--for=condition=Ready", "pod/web", "--timeout=120s")
        answer, deadline = "", time.monotonic() + 30
        while time.monotonic() < deadline:  # the hostPort rule lands just after the pod reports Ready
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/health", timeout=5) as resp:
                    answer = resp.read().decode()
                    break
            except OSError:
                time.sleep(0.5)
        assert answer == "OK"
    finally:
        clusters.delete(environment, verify=False)
    assert_cluster_gone(clusters, environment)
    assert kubeconfig is not None and not kubeconfig.exists()


def assert_cluster_gone(clusters: KindClusters, environment: str) -> None:
    """The census after a real kind cluster: kind lists it no more and no node container of it is left."""
    assert environment not in clusters.names()
    left = subprocess.run(["docker", "ps", "-a", "-q", "--filter", f"label=io.x-k8s.kind.cluster={cluster_name(environment)}"],
                          capture_output=True, text=True, check=True).stdout.split()
    assert left == []
