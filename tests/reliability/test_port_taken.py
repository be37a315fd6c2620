"""A port pinned in the profile already taken (by a listener this test binds itself): `up` stops, naming
who holds it, creates nothing and leaves the listener alone; with --allow-other-port it picks a free port,
says so, and the service works there; also when the port is taken between runs."""

from __future__ import annotations

import contextlib
import os
import socket

import pytest
from rel_helpers import SEED_ROWS, devenv, execute, facts, managed, query, write_profile

pytestmark = [pytest.mark.reliability, pytest.mark.mariadb_image]


@contextlib.contextmanager
def listener(port: int = 0):
    """A socket listening on 127.0.0.1:port (0: any free port); SO_REUSEADDR, as a port in TIME_WAIT is free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(1)
        yield sock


def still_ours(sock: socket.socket) -> bool:
    """The listener still owns its port: a connection to it is accepted by it."""
    port = sock.getsockname()[1]
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        sock.settimeout(5)
        connection, _ = sock.accept()
        connection.close()
    return True


def test_taken_port_is_left_alone_and_another_is_used(tmp_path, new_env, tally):
    name = new_env("port")
    with listener() as blocker:
        port = blocker.getsockname()[1]
        refused = devenv("up", name, "--profile", str(write_profile(tmp_path, port=port)))
        assert refused.returncode == 12, refused.stderr
        assert f"port {port} on 127.0.0.1, pinned for db" in refused.stderr
        assert f"is taken by process {os.getpid()} (" in refused.stderr and "--allow-other-port" in refused.stderr
        assert not managed(name) and still_ours(blocker)
        up = devenv("up", name, "--profile", str(write_profile(tmp_path, port=port)), "--allow-other-port")
        assert up.returncode == 0, up.stderr
        assert f"warning: port {port} on 127.0.0.1 is taken; db uses 127.0.0.1:" in up.stderr
        db = facts(name)["db"]
        assert int(db["port"]) != port
        assert query(db, "SELECT customer, total_cents FROM orders ORDER BY id") == SEED_ROWS
        assert still_ours(blocker)
        down = devenv("down", name)
    tally("pinned port taken before `up`", runs=1, refused=1, moved_when_allowed=int(int(db["port"]) != port))
    assert down.returncode == 0, down.stderr


def test_port_taken_while_the_environment_was_down(tmp_path, new_env, tally):
    name = new_env("port")
    with listener() as probe:
        port = probe.getsockname()[1]
    profile = write_profile(tmp_path, port=port)
    first = devenv("up", name, "--profile", str(profile))
    assert first.returncode == 0, first.stderr
    assert int(facts(name)["db"]["port"]) == port
    execute(facts(name)["db"], "INSERT INTO orders (customer, total_cents) VALUES ('kept', 7)")
    assert devenv("down", name, "--keep-data").returncode == 0
    assert [len(managed(name).containers), len(managed(name).volumes)] == [0, 1]

    with listener(port) as blocker:
        refused = devenv("up", name, "--profile", str(profile))
        assert refused.returncode == 12 and f"is taken by process {os.getpid()}" in refused.stderr
        assert [len(managed(name).containers), len(managed(name).volumes)] == [0, 1]  # the kept data stays
        again = devenv("up", name, "--profile", str(profile), "--allow-other-port")
        assert again.returncode == 0, again.stderr
        assert f"warning: port {port} on 127.0.0.1 is taken" in again.stderr
        db = facts(name)["db"]
        assert int(db["port"]) != port
        assert query(db, "SELECT total_cents FROM orders WHERE customer = 'kept'") == [(7,)]
        assert still_ours(blocker)
    down = devenv("down", name)
    tally("port taken between `down --keep-data` and `up`", runs=1, data_kept=1)
    assert down.returncode == 0, down.stderr
