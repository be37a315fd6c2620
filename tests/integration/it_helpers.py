"""Helpers for the integration tests: profile snippets (the rest is shared in tests/docker_env.py)."""

from __future__ import annotations

import json

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


def up_json(name: str, profile, *extra: str) -> dict:
    """`devenv up NAME --profile P -o json` through the real CLI; fails the test with stderr if it fails."""
    result = devenv("up", name, "--profile", str(profile), "-o", "json", *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
