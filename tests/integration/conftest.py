"""Integration fixtures: skip tests whose markers need Docker or an image that is absent (saying why),
give each test unique environment names, and end every test with a census proving that none of its
environments left a devenv-labelled container, volume or network behind."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from docker_env import engine
from it_helpers import SEED, db_service, mariadb_image, opensearch_image

from devenv.lock import lock_path


@functools.cache
def _image_present(image: str) -> bool:
    from devenv.clients import docker

    client, _ = engine()
    return client is not None and docker.image_present(client, image)


def pytest_runtest_setup(item: pytest.Item) -> None:
    needs = {mark.name for mark in item.iter_markers()}
    if needs & {"docker", "mariadb_image", "opensearch_image"}:
        client, why = engine()
        if client is None:
            pytest.skip(why)
    for marker, image, variable in (("mariadb_image", mariadb_image(), "DEVENV_MARIADB_IMAGE"),
                                    ("opensearch_image", opensearch_image(), "DEVENV_OPENSEARCH_IMAGE")):
        if marker in needs and not _image_present(image):
            pytest.skip(f"image {image} is not present locally and tests never pull: "
                        f"build or load it, or set {variable} to an image that is present")


@pytest.fixture(autouse=True)
def census(env_names):
    """After the test: nothing labelled with the test's environments may remain. Leftovers are removed
    (so later tests start clean) and the test fails, naming them."""
    yield
    for name in env_names:  # the lock files of these one-off names (real runs use the user's lock folder)
        lock_path(name).unlink(missing_ok=True)
    if not env_names:
        return
    client, _ = engine()
    if client is None:
        return
    from devenv.clients import docker

    left = []
    for name in env_names:
        found = docker.managed(client, name)
        for resource in found.containers + found.networks + found.volumes:
            left.append(f"{type(resource).__name__.lower()} {resource.name}")
            docker.remove(resource)
    assert not left, f"left behind: {', '.join(left)}"


@pytest.fixture
def client():
    """The Docker SDK client of the engine the tests use."""
    from devenv.clients import docker

    return docker.connect()


@pytest.fixture
def profile_file(tmp_path):
    """Write a docker-target profile in tmp_path (seed files next to it) and return its path; by default
    one MariaDB service `db`, seeded, its port not pinned (the profile's default, or a free one when taken)."""

    def write(services: str | None = None, *, name: str = "it", extra: str = "", filename: str = "it.yaml") -> Path:
        seed_dir = tmp_path / "seed"
        seed_dir.mkdir(exist_ok=True)
        (seed_dir / "orders.sql").write_bytes(SEED.read_bytes())
        if services is None:
            services = db_service()
        text = (f"version: 1\nname: {name}\ntarget: docker\nmirror: clusters/production\n"
                f"services:\n{services}\n"
                "environment:\n  data:\n    ENVIRONMENT: \"{env.name}\"\n"
                "    RDS_ENDPOINT: \"{services.db.host}\"\n    RDS_PORT: \"{services.db.port}\"\n"
                "  secretData:\n    RDS_PASSWORD: \"{services.db.password}\"\n" + extra)
        path = tmp_path / filename
        path.write_text(text)
        return path

    return write
