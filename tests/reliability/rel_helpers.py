"""Helpers for the reliability suite: the real CLI as a subprocess, profiles written for a test, a
census of one environment's labelled resources, and MariaDB queries."""

from __future__ import annotations

import json
import subprocess

from docker_env import REPO, SEED, SEED_ROWS, devenv, engine, leftovers, managed, mariadb_image  # noqa: F401


def write_profile(folder: Path, *, services: tuple[str, ...] = ("db",), port: int | None = None,
                  seed: str | None = "orders.sql", filename: str = "rel.yaml", extra: str = "") -> Path:
    """A docker-target profile with MariaDB services (seeded with the orders seed) and its environment values."""
    if seed == "orders.sql":
        (folder / "orders.sql").write_bytes(SEED.read_bytes())
    lines = ["version: 1", "name: rel", "target: docker", "mirror: clusters/production", "services:"]
    for svc in services:
        lines += [f"  {svc}:", "    type: mariadb", "    database: orders", "    user: orders"]
        lines += [f"    port: {port}"] if port else []
        lines += [f"    seed: [{seed}]"] if seed else []
    lines += ["environment:", "  data:", '    RDS_ENDPOINT: "{services.db.host}"', '    RDS_PORT: "{services.db.port}"',
              "  secretData:", '    RDS_PASSWORD: "{services.db.password}"']
    path = folder / filename
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


def facts(name: str) -> dict[str, dict[str, str]]:
    """Every service's connection facts, passwords included, via `devenv env`."""
    result = devenv("env", name, "--format", "json", "--show-secrets")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["services"]


def query(service: dict[str, str], sql: str, *, user: str | None = None, password: str | None = None) -> list[tuple]:
    import pymysql

    connection = pymysql.connect(host=service["host"], port=int(service["port"]), user=user or service["user"],
                                 password=password or service["password"], database=service["database"],
                                 connect_timeout=10)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return [tuple(row) for row in cursor.fetchall()]
    finally:
        connection.close()


def clean_error(result: subprocess.CompletedProcess) -> bool:
    """An `error:` paragraph on stderr (after any progress lines), nothing on stdout, no traceback."""
    return (result.returncode != 0 and result.stdout == "" and "Traceback" not in result.stderr
            and any(line.startswith("error: ") for line in result.stderr.splitlines()))


def execute(service: dict[str, str], *statements: str) -> None:
    import pymysql

    connection = pymysql.connect(host=service["host"], port=int(service["port"]), user=service["user"],
                                 password=service["password"], database=service["database"], autocommit=True,
                                 connect_timeout=10)
    try:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    finally:
        connection.close()
