"""Helpers for the reliability suite: the real CLI as a subprocess, profiles written for a test, a
census of one environment's labelled resources, and MariaDB queries."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

from devenv.errors import DevenvError

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "profiles" / "seed" / "orders.sql"
SEED_ROWS = [("ada", 1250), ("grace", 4200), ("linus", 999)]


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


def managed(name: str):
    """The environment's labelled resources."""
    from devenv import docker

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
