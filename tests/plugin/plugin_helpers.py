"""Helpers for the plugin tests: the Docker engine (or why not), image names, and a census of one environment."""

from __future__ import annotations

import functools
import os

from devenv.errors import DevenvError


@functools.cache
def engine() -> tuple[object | None, str | None]:
    """(client, None), or (None, why Docker cannot be used)."""
    from devenv import docker

    try:
        return docker.connect(timeout=10), None
    except DevenvError as err:
        return None, f"Docker engine not reachable ({'; '.join(err.context)})"


def mariadb_image() -> str:
    return os.environ.get("DEVENV_MARIADB_IMAGE") or "mariadb:10.11"


def opensearch_image() -> str:
    return os.environ.get("DEVENV_OPENSEARCH_IMAGE") or "opensearchproject/opensearch:2"


def leftovers(name: str) -> list[str]:
    """What still carries the environment's labels, as `kind name` strings."""
    client, _ = engine()
    if client is None:
        return []
    from devenv import docker

    found = docker.managed(client, name)
    return [f"{kind} {r.name}" for kind in ("containers", "volumes", "networks") for r in getattr(found, kind)]


def root_password(name: str, service: str = "db") -> str:
    """The generated root password of a MariaDB service, from its data volume's labels."""
    from devenv import environments

    return environments.credentials(name, service)["root_password"]


def query(port: int, user: str, password: str, sql: str, database: str | None = None) -> list[tuple]:
    import pymysql

    connection = pymysql.connect(host="127.0.0.1", port=port, user=user, password=password, database=database)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return list(cursor.fetchall())
    finally:
        connection.close()
