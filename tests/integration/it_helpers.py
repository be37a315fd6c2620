"""Helpers for the integration tests: profile snippets (the rest is shared in tests/docker_env.py)."""

from __future__ import annotations

from docker_env import REPO, SEED, devenv, mariadb_image, opensearch_image  # noqa: F401

DB_SERVICE = """  db:
    type: mariadb
    version: "10.11"
    database: orders
    user: orders
    port: {port}
    seed: [seed/orders.sql]"""


def db_service(port: int, **extra: str) -> str:
    return DB_SERVICE.format(port=port) + "".join(f"\n    {k}: {v}" for k, v in extra.items())
