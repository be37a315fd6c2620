"""`down --keep-data` keeps the data volume and its credentials: after each down/up cycle the tables'
CHECKSUM TABLE values and a SHA-256 of every row are unchanged."""

from __future__ import annotations

import hashlib

import pytest
from rel_helpers import devenv, execute, facts, managed, query, write_profile

pytestmark = [pytest.mark.reliability, pytest.mark.mariadb_image]

CYCLES = 3
ROWS = 500


def fingerprint(db: dict[str, str]) -> tuple[list[tuple], str]:
    checksums = query(db, "CHECKSUM TABLE orders, items EXTENDED")
    rows = query(db, "SELECT * FROM orders ORDER BY id") + query(db, "SELECT * FROM items ORDER BY id")
    return checksums, hashlib.sha256(repr(rows).encode()).hexdigest()


def test_kept_volume_survives_down_and_up_unchanged(tmp_path, new_env, tally):
    name = new_env("keep")
    profile = write_profile(tmp_path)
    up = devenv("up", name, "--profile", str(profile))
    assert up.returncode == 0, up.stderr
    db = facts(name)["db"]
    execute(db, "CREATE TABLE items (id INT PRIMARY KEY, sku VARCHAR(20), qty INT)",
            "INSERT INTO items VALUES " + ", ".join(f"({i}, 'sku-{i}', {i % 7})" for i in range(1, ROWS + 1)),
            "INSERT INTO orders (customer, total_cents) VALUES ('keep', 4242)")
    before = fingerprint(db)
    assert query(db, "SELECT COUNT(*) FROM items") == [(ROWS,)]

    for cycle in range(CYCLES):
        down = devenv("down", name, "--keep-data")
        assert down.returncode == 0, down.stderr
        kept = managed(name)
        assert (len(kept.containers), len(kept.networks), [v.name for v in kept.volumes]) == \
               (0, 0, [f"devenv-{name}-db-data"])
        again = devenv("up", name, "--profile", str(profile))
        assert again.returncode == 0, again.stderr
        now = facts(name)["db"]
        assert now["password"] == db["password"]
        assert fingerprint(now) == before, f"cycle {cycle + 1}: the data changed"
        tally("`down --keep-data` then `up`", cycles=1, checksum_unchanged=1)
    final = devenv("down", name)
    assert final.returncode == 0, final.stderr
