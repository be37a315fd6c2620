"""Plugin tests: skip what needs Docker or an absent image (saying why), keep lock files in the session's
tmp folder, and end every test with a census of the environments it named: nothing labelled may remain."""

from __future__ import annotations

import os

import pytest
from plugin_helpers import engine, leftovers, mariadb_image, opensearch_image


def pytest_runtest_setup(item: pytest.Item) -> None:
    needs = {mark.name for mark in item.iter_markers()}
    if not needs & {"docker", "mariadb_image", "opensearch_image"}:
        return
    client, why = engine()
    if client is None:
        pytest.skip(why)
    from devenv.clients import docker

    for marker, image, variable in (("mariadb_image", mariadb_image(), "DEVENV_MARIADB_IMAGE"),
                                    ("opensearch_image", opensearch_image(), "DEVENV_OPENSEARCH_IMAGE")):
        if marker in needs and not docker.image_present(client, image):
            pytest.skip(f"image {image} is not present locally and tests never pull: "
                        f"build or load it, or set {variable} to an image that is present")


@pytest.fixture(scope="session", autouse=True)
def _isolated_locks(tmp_path_factory) -> None:
    """Lock files of test environments go to a session folder (subprocesses inherit it)."""
    os.environ["XDG_RUNTIME_DIR"] = str(tmp_path_factory.mktemp("runtime"))


@pytest.fixture(autouse=True)
def _inner_sessions_choose_their_own_requirements(monkeypatch) -> None:
    """DEVENV_REQUIRE of the outer run (CI) must not turn the inner sessions' expected skips into errors."""
    monkeypatch.delenv("DEVENV_REQUIRE", raising=False)


@pytest.fixture(autouse=True)
def census(env_names):
    """After the test, nothing labelled with its environments may remain; leftovers are removed and named."""
    yield
    left = [item for name in env_names for item in leftovers(name)]
    for name in env_names:
        if leftovers(name):
            from devenv.lifecycle import environments

            environments.down(name)
    assert not left, f"left behind: {', '.join(left)}"
