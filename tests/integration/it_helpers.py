"""Helpers for the integration tests: profile snippets (the rest is shared in tests/docker_env.py)."""

from __future__ import annotations

from docker_env import REPO, SEED, devenv, mariadb_image, opensearch_image  # noqa: F401

DB_SERVICE = """  db:
    type: mariadb
    version: "10.11"
    database: orders
    user: orders
    seed: [seed/orders.sql]"""


def db_service(port: int | None = None, **extra: str) -> str:
    """The `db` service; `port` pins its host port (taken by something else, `up` then stops)."""
    pinned = {"port": str(port)} if port else {}
    return DB_SERVICE + "".join(f"\n    {k}: {v}" for k, v in {**pinned, **extra}.items())
