"""The kind node pulls a private image with the credentials devenv gives it (kind's private-registry guide: the
kubelet's /var/lib/kubelet/config.json, the kubelet restarted), on a real node (the offline kind node image, the
real kind CLI) from a registry that wants credentials (the lab's distribution registry with htpasswd, in a
container on the kind network, published on 127.0.0.1 for the push).

Before: the node's pull is refused (401). After devenv.clients.registry_auth resolves the registry's credentials
from a docker configuration and gives them to the node: the same image is pulled; giving the same credentials
again changes nothing. The cluster, the registry container and the images are removed afterwards.

Needs Docker, the real kind (DEVENV_KIND; the lab builds it) and the node image (DEVENV_KIND_NODE_IMAGE, default
devenv-offline/kind-node:v1.36.3); skipped with the reason otherwise."""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from private_registry import registry_binary

from devenv.clients import docker, registry_auth
from devenv.clients.kind import KIND_NETWORK, KindClusters, cluster_name, node_container
from devenv.domain import labels

pytestmark = [pytest.mark.docker, pytest.mark.kind_node, pytest.mark.timeout(900)]

NODE_IMAGE = os.environ.get("DEVENV_KIND_NODE_IMAGE") or "devenv-offline/kind-node:v1.36.3"


@pytest.fixture
def real_kind(monkeypatch) -> str:
    kind = os.environ.get("DEVENV_KIND") or str(Path.home() / ".cache" / "devenv-lab" / "kind-v0.33.0" / "kind")
    if not os.access(kind, os.X_OK):
        pytest.skip("needs the real kind: set DEVENV_KIND to its path (`make lab` builds it)")
    if subprocess.run(["docker", "image", "inspect", NODE_IMAGE], capture_output=True).returncode != 0:
        pytest.skip(f"needs the kind node image {NODE_IMAGE} (`make kind-node-image`; DEVENV_KIND_NODE_IMAGE)")
    if not registry_binary().is_file():
        pytest.skip(f"the lab's registry binary is not built ({registry_binary()})")
    monkeypatch.setenv("PATH", f"{Path(kind).parent}{os.pathsep}{os.environ['PATH']}")  # give_to_nodes runs `kind`
    return kind


def run(*argv: str, stdin: str | None = None, env: dict | None = None, check: bool = True) -> str:
    done = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})
    assert not check or done.returncode == 0, f"{' '.join(argv[:4])}: {done.stderr[-2000:]}"
    return done.stdout


def kubectl(environment: str, *args: str, stdin: str | None = None) -> str:
    return run("docker", "exec", "-i", node_container(environment), "kubectl", "--kubeconfig=/etc/kubernetes/admin.conf",
               *args, stdin=stdin)


def pull_outcome(environment: str, pod: str, image: str) -> str:
    """Apply a Pod of `image` and wait for the kubelet's verdict on its pull: 'pulled', or the refusal's event."""
    kubectl(environment, "apply", "-f", "-", stdin=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod, "namespace": "default"},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": image, "command": ["/none"]}]}}))
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        events = json.loads(kubectl(environment, "get", "events", "-n", "default", "--field-selector",
                                    f"involvedObject.name={pod}", "-o", "json"))["items"]
        for event in events:
            if event["reason"] == "Pulled":
                return "pulled"
            if event["reason"] == "Failed" and "pull" in event["message"].lower():
                return event["message"]
        time.sleep(1)
    raise AssertionError(f"no pull outcome for {pod} within 180 s")


def test_the_node_pulls_a_private_image_once_devenv_gives_it_the_credentials(real_kind, tmp_path,
                                                                            monkeypatch) -> None:
    environment = "kc" + secrets.token_hex(3)
    clusters = KindClusters(home=tmp_path / "state")
    user, secret = "node-puller", secrets.token_urlsafe(16)
    registry = f"devenv-test-registry-{environment}"  # its name on the kind network, where the node pulls from
    registry_image = f"devenv-test/auth-registry:{environment}"
    port = docker.free_port("127.0.0.1")
    private = f"{registry}:5000/tiny:1"
    pushed = f"127.0.0.1:{port}/tiny:1"  # the same repository, as this machine's engine pushes to it
    import bcrypt

    build = tmp_path / "registry-image"
    build.mkdir()
    shutil.copy(registry_binary(), build / "registry")
    (build / "htpasswd").write_text(f"{user}:{bcrypt.hashpw(secret.encode(), bcrypt.gensalt(rounds=5)).decode()}\n")
    (build / "config.yml").write_text("version: 0.1\nlog: {level: warn}\nstorage: {filesystem: {rootdirectory: "
                                      "/var/lib/registry}}\nhttp: {addr: ':5000'}\n"
                                      "auth: {htpasswd: {realm: devenv-test, path: /etc/registry/htpasswd}}\n")
    (build / "Dockerfile").write_text("FROM scratch\nCOPY registry /registry\nCOPY config.yml htpasswd /etc/registry/\n"
                                      'ENTRYPOINT ["/registry", "serve", "/etc/registry/config.yml"]\n')
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    (tiny / "blob").write_bytes(os.urandom(4096))
    (tiny / "Dockerfile").write_text("FROM scratch\nCOPY blob /blob\n")
    config = tmp_path / "docker-config"
    config.mkdir()
    login = base64.b64encode(f"{user}:{secret}".encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {pushed.split("/")[0]: {"auth": login},
                                                              registry + ":5000": {"auth": login}}}))
    try:
        clusters.create(environment, {labels.MANAGED: "true", labels.ENVIRONMENT: environment},
                        node_image=NODE_IMAGE, http_port=docker.free_port("127.0.0.1"),
                        https_port=docker.free_port("127.0.0.1"))
        run("docker", "build", "-q", "-t", registry_image, str(build), env={"DOCKER_BUILDKIT": "0"})
        run("docker", "run", "-d", "--name", registry, "--network", KIND_NETWORK, "-p", f"127.0.0.1:{port}:5000",
            registry_image)
        run("docker", "build", "-q", "-t", pushed, str(tiny), env={"DOCKER_BUILDKIT": "0"})
        for _ in range(50):  # the registry answers once it listens
            if subprocess.run(["docker", "push", pushed], capture_output=True,
                              env={**os.environ, "DOCKER_CONFIG": str(config)}).returncode == 0:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(run("docker", "logs", registry, check=False))
        clusters.wire_registry(environment, f"{registry}:5000", f"http://{registry}:5000")  # plain HTTP

        refused = pull_outcome(environment, "before", private)
        assert "no basic auth credentials" in refused, refused  # the node has none of its own

        monkeypatch.setenv("DOCKER_CONFIG", str(config))
        credentials = registry_auth.resolve([f"{registry}:5000"])
        assert registry_auth.give_to_nodes(credentials, cluster_name(environment)) == [node_container(environment)]
        mode = run("docker", "exec", node_container(environment), "stat", "-c", "%a", "/var/lib/kubelet/config.json")
        assert mode.strip() == "600"
        for _ in range(60):  # the restarted kubelet is back
            if "Ready" in kubectl(environment, "get", "nodes", "--no-headers"):
                break
            time.sleep(1)
        assert pull_outcome(environment, "after", private) == "pulled"
        assert registry_auth.give_to_nodes(credentials, cluster_name(environment)) == []  # unchanged: left alone
    finally:
        clusters.delete(environment, verify=False)
        subprocess.run(["docker", "rm", "-f", "-v", registry], capture_output=True, timeout=60)
        subprocess.run(["docker", "rmi", registry_image, pushed], capture_output=True, timeout=60)
    assert environment not in clusters.names()
    assert run("docker", "ps", "-a", "-q", "--filter", f"label=io.x-k8s.kind.cluster={cluster_name(environment)}") == ""
    assert run("docker", "ps", "-a", "-q", "--filter", f"name={registry}") == ""
    assert docker.managed(docker.connect(), environment).containers == []
