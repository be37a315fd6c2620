"""The OCI registry the kind target pushes the platform to (delivery `flux`), as kind documents a local
registry (https://kind.sigs.k8s.io/docs/user/local-registry/, KEP-1755).

`$DEVENV_REGISTRY` (host:port) names a registry this machine and the cluster's Flux both reach (the lab's);
otherwise devenv runs one container, `devenv-registry`, shared by every kind environment: published on
127.0.0.1 only, on the `kind` network under its name (where source-controller pulls from), wired into each
cluster's containerd (`localhost:<port>` resolves to it) and announced by the `local-registry-hosting`
ConfigMap. It is removed with the last kind environment (`release`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from devenv.clients import docker
from devenv.domain import labels
from devenv.errors import DevenvError

ENV = "DEVENV_REGISTRY"
IMAGE_ENV = "DEVENV_REGISTRY_IMAGE"
CONTAINER = "devenv-registry"
IMAGE = "registry:2.8.3"  # distribution's registry, as kind's guide runs it
PORT = 5000
HOST_PORT = 5001  # kind's guide uses localhost:5001; another free port if it is taken
ROLE = "devenv.role"


@dataclass(frozen=True)
class Registry:
    """Where devenv pushes (`push`, from this machine) and where Flux pulls (`pull`, from the cluster)."""

    push: str
    pull: str
    insecure: bool = True
    hosting: Mapping | None = None  # the cluster's `local-registry-hosting` ConfigMap (KEP-1755), if devenv runs it


def for_kind(client, clusters, environment: str) -> Registry:
    external = os.environ.get(ENV, "").strip()
    if external:
        return Registry(external, external, insecure=True)
    container = ensure_container(client)
    host_port = int(container.attrs["NetworkSettings"]["Ports"][f"{PORT}/tcp"][0]["HostPort"])
    wire = getattr(clusters, "wire_registry", None)
    if wire is not None:  # containerd in each node: `localhost:<port>` is this registry
        wire(environment, f"localhost:{host_port}", f"http://{CONTAINER}:{PORT}")
    return Registry(f"127.0.0.1:{host_port}", f"{CONTAINER}:{PORT}", insecure=True,
                    hosting=hosting_configmap(host_port))


def hosting_configmap(host_port: int) -> dict:
    """KEP-1755: how tools find the cluster's local registry."""
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "local-registry-hosting", "namespace": "kube-public"},
            "data": {"localRegistryHosting.v1": f'host: "localhost:{host_port}"\n'
                                                'help: "https://kind.sigs.k8s.io/docs/user/local-registry/"\n'}}


def ensure_container(client):
    """The shared registry container, running and on the kind network (created when missing)."""
    from devenv.clients.kind import KIND_NETWORK

    container = docker.get(client.containers, CONTAINER)
    if container is not None and not docker.is_managed(container):
        raise DevenvError(f"a container named {CONTAINER} exists and devenv did not create it",
                          hint=f"remove or rename it, or set {ENV}=host:port to use a registry you run")
    if container is None:
        image = os.environ.get(IMAGE_ENV) or IMAGE
        if not docker.image_present(client, image):
            docker.pull(client, image)
        port = HOST_PORT if docker.port_free("127.0.0.1", HOST_PORT) else docker.free_port("127.0.0.1")
        with docker.translate(f"start the registry container {CONTAINER} from {image}"):
            container = client.containers.run(
                image, name=CONTAINER, restart_policy={"Name": "unless-stopped"},
                labels={labels.MANAGED: "true", ROLE: "registry"}, ports={f"{PORT}/tcp": ("127.0.0.1", port)})
    elif container.status != "running":
        with docker.translate(f"start the registry container {CONTAINER}"):
            container.start()
    with docker.translate(f"connect {CONTAINER} to the {KIND_NETWORK} network"):
        network = docker.get(client.networks, KIND_NETWORK)
        if network is not None:
            network.reload()
            if CONTAINER not in {c.name for c in network.containers}:
                network.connect(container, aliases=[CONTAINER])
        container.reload()
    return container


def release(client, environments_left: int) -> list[str]:
    """Remove the shared registry once no kind environment uses it."""
    if os.environ.get(ENV) or environments_left:
        return []
    container = docker.get(client.containers, CONTAINER)
    if container is None or not docker.is_managed(container):
        return []
    docker.remove(container, stop_timeout=5)
    return [f"registry container {CONTAINER}"]
