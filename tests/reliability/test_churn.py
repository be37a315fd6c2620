"""Twenty environments brought up and down (five at a time, through the library API) answer with
their seed rows while up and leave no labelled container, volume or network behind."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from rel_helpers import SEED_ROWS, leftovers, query, write_profile

pytestmark = [pytest.mark.reliability, pytest.mark.mariadb_image]

ENVIRONMENTS = 20
PARALLEL = 5


def test_twenty_environments_up_and_down_leave_nothing(tmp_path, new_env, tally):
    from devenv.lifecycle import environments

    profile = write_profile(tmp_path)
    names = [new_env("churn") for _ in range(ENVIRONMENTS)]

    def cycle(name: str) -> tuple[list[tuple], list[str], list[str]]:
        env = environments.up(name, profile)
        try:
            rows = query(env.services["db"], "SELECT customer, total_cents FROM orders ORDER BY id")
        finally:
            removed = environments.down(name)
        return rows, removed, leftovers(name)

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        outcomes = dict(zip(names, pool.map(cycle, names)))
    tally("20 environments up and down, 5 at a time", environments=len(outcomes),
          answered=sum(rows == SEED_ROWS for rows, _, _ in outcomes.values()),
          leftovers=sum(len(left) for _, _, left in outcomes.values()))
    for name, (rows, removed, left) in outcomes.items():
        assert rows == SEED_ROWS, name
        assert sorted(r.split()[0] for r in removed) == ["container", "network", "volume"], name
        assert left == [], name
