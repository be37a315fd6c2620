"""What every Docker-backed suite (integration, plugin, reliability) shares: the engine (or why not),
image names, the real CLI as a subprocess, and a census of one environment's labelled resources."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

from devenv.errors import DevenvError

REPO = Path(__file__).resolve().parents[1]
SEED = REPO / "profiles" / "seed" / "orders.sql"
SEED_ROWS = [("ada", 1250), ("grace", 4200), ("linus", 999)]


@functools.cache
def engine() -> tuple[object | None, str | None]:
    """(client, None), or (None, why Docker cannot be used)."""
    from devenv.clients import docker

    try:
        return docker.connect(timeout=10), None
    except DevenvError as err:
        return None, f"Docker engine not reachable ({'; '.join(err.context)})"


def mariadb_image() -> str:
    return os.environ.get("DEVENV_MARIADB_IMAGE") or "mariadb:10.11"


def opensearch_image() -> str:
    return os.environ.get("DEVENV_OPENSEARCH_IMAGE") or "opensearchproject/opensearch:2"


def managed(name: str):
    """The environment's labelled resources."""
    from devenv.clients import docker

    return docker.managed(engine()[0], name)


def leftovers(name: str) -> list[str]:
    """What still carries the environment's labels, as `kind name` strings ([] without Docker)."""
    if engine()[0] is None:
        return []
    found = managed(name)
    return [f"{kind[:-1]} {r.name}" for kind in ("containers", "volumes", "networks") for r in getattr(found, kind)]


def devenv(*args: str, env: dict | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    """Run the real CLI (`python -m devenv`): exit code, stdout and stderr."""
    return subprocess.run([sys.executable, "-m", "devenv", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout, cwd=REPO)


def cache_resources() -> set[str]:
    """Everything the cache of seeded data labelled: snapshot images, and the containers and volumes that
    make or copy them (empty without Docker)."""
    client = engine()[0]
    if client is None:
        return set()
    from devenv.clients import docker
    from devenv.domain import labels

    images = docker.labelled_images(client, {labels.MANAGED: "true", labels.CACHE_ROLE: "snapshot"})
    found = docker.labelled(client, {labels.MANAGED: "true"})
    return {f"image {docker.name_of(i)}" for i in images} | {
        f"{'container' if hasattr(r, 'stop') else 'volume'} {r.name}" for r in found.containers + found.volumes
        if docker.label_of(r, labels.CACHE_ROLE) or (docker.label_of(r, labels.CACHE_KEY) and
                                                     not docker.label_of(r, labels.ENVIRONMENT))}
