"""Helpers for the integration tests: profile snippets (the rest is shared in tests/docker_env.py)."""

from __future__ import annotations

import json
import signal

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


def sigint_as_in_a_terminal() -> None:
    """Popen's preexec_fn for a child that a test interrupts with SIGINT: the default disposition, as a
    terminal's foreground process has it. A run started in the background (`cmd &` in a script) ignores
    SIGINT, the child inherits the ignore across exec, and Python then installs no KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def up_json(name: str, profile, *extra: str) -> dict:
    """`devenv up NAME --profile P -o json` through the real CLI; fails the test with stderr if it fails."""
    result = devenv("up", name, "--profile", str(profile), "-o", "json", *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# -- comparing objects: what devenv rendered against what a cluster holds ---------------------------


def leaves(value, path=()):
    """Every (path, scalar) of a nested dict/list."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, path + (index,))
    else:
        yield path, value


def at(obj, path):
    """The value at `path` in `obj`, or "<absent>"."""
    for step in path:
        if isinstance(obj, dict) and step in obj:
            obj = obj[step]
        elif isinstance(obj, list) and isinstance(step, int) and step < len(obj):
            obj = obj[step]
        else:
            return "<absent>"
    return obj
