"""Reliability suite: skips what needs Docker or an absent image (saying why), keeps lock files in the
session's tmp folder, ends every test with a census of the environments it named, and tallies what was
tried (printed at the end; written as JSON to $DEVENV_RELIABILITY_REPORT when set)."""

from __future__ import annotations

import collections
import json
import os

import pytest
from rel_helpers import engine, leftovers, mariadb_image

TALLY: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)


def pytest_runtest_setup(item: pytest.Item) -> None:
    needs = {mark.name for mark in item.iter_markers()}
    if not needs & {"docker", "mariadb_image"}:
        return
    client, why = engine()
    if client is None:
        pytest.skip(why)
    from devenv.clients import docker

    if "mariadb_image" in needs and not docker.image_present(client, mariadb_image()):
        pytest.skip(f"image {mariadb_image()} is not present locally and tests never pull: "
                    "build or load it, or set DEVENV_MARIADB_IMAGE to an image that is present")


@pytest.fixture(scope="session", autouse=True)
def _isolated_locks(tmp_path_factory) -> None:
    """Lock files of test environments go to a session folder (subprocesses inherit it)."""
    os.environ["XDG_RUNTIME_DIR"] = str(tmp_path_factory.mktemp("runtime"))


@pytest.fixture
def tally():
    """Count what a test tried: tally("kill -9 mid-up", runs=1, leftovers=0)."""

    def add(row: str, **counts: int) -> None:
        TALLY[row].update(counts)

    return add


@pytest.fixture(autouse=True)
def census(env_names):
    """After the test, nothing labelled with its environments may remain; leftovers are removed and named."""
    yield
    left = [item for name in env_names for item in leftovers(name)]
    TALLY["census after each test"].update(environments=len(env_names), leftovers=len(left))
    for name in env_names:
        if leftovers(name):
            from devenv.lifecycle import environments

            environments.down(name)
    assert not left, f"left behind: {', '.join(left)}"


def pytest_terminal_summary(terminalreporter) -> None:
    if not TALLY:
        return
    terminalreporter.section("reliability tally")
    for row, counts in sorted(TALLY.items()):
        terminalreporter.write_line(f"{row}: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    report = os.environ.get("DEVENV_RELIABILITY_REPORT")
    if report:
        with open(report, "w") as out:
            json.dump({row: dict(counts) for row, counts in TALLY.items()}, out, indent=2, sort_keys=True)
