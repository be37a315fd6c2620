"""Helpers for the plugin tests: the Docker engine (or why not), image names, and a census of one environment."""

from __future__ import annotations

from docker_env import engine, leftovers, mariadb_image, opensearch_image  # noqa: F401


def root_password(name: str, service: str = "db") -> str:
    """The generated root password of a MariaDB service."""
    from devenv.lifecycle import environments

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
