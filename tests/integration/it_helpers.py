"""Helpers for the integration tests: the real CLI as a subprocess, profile snippets, image names."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "profiles" / "seed" / "orders.sql"


def mariadb_image() -> str:
    return os.environ.get("DEVENV_MARIADB_IMAGE") or "mariadb:10.11"


def opensearch_image() -> str:
    return os.environ.get("DEVENV_OPENSEARCH_IMAGE") or "opensearchproject/opensearch:2"


DB_SERVICE = """  db:
    type: mariadb
    version: "10.11"
    database: orders
    user: orders
    port: {port}
    seed: [seed/orders.sql]"""


def db_service(port: int, **extra: str) -> str:
    return DB_SERVICE.format(port=port) + "".join(f"\n    {k}: {v}" for k, v in extra.items())


def devenv(*args: str, env: dict | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    """Run the real CLI (`python -m devenv`) and return its exit code, stdout and stderr."""
    return subprocess.run([sys.executable, "-m", "devenv", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout, cwd=REPO)
