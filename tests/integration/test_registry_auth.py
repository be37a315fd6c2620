"""Pulls as the docker CLI pulls, against a registry that wants credentials (standing in for ECR): the lab's
distribution registry with htpasswd authentication and a stub `docker-credential-ecr-login` on PATH named by
`credHelpers` in a temporary DOCKER_CONFIG (tests/integration/private_registry.py). The MariaDB image of the
test profile exists only in that registry (the offline image pushed there, its local tag removed).

- with the helper, `devenv up` pulls (the helper was asked for that registry) and the environment is ready;
- without it (helper missing, or no credentials configured at all), `up` fails with one paragraph naming the
  registry and `docker login REGISTRY` (and the helper looked for), exit 11, and creates nothing (census);
- on a terminal the pull shows layers and bytes on stderr; in a pipe it is quiet;
- the registry's secret appears in no output."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import uuid

import pytest
from docker_env import devenv, leftovers, mariadb_image
from private_registry import running_registry

from devenv.clients import docker

pytestmark = [pytest.mark.docker, pytest.mark.mariadb_image]


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    with running_registry(tmp_path_factory.mktemp("registry")) as started:
        yield started


def docker_cli(*args: str, env: dict[str, str]) -> None:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, env={**os.environ, **env}, timeout=300)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def private_image(registry):
    """The offline MariaDB image, only in the registry: pushed with the helper's credentials, untagged here."""
    ref = f"{registry.host}/platform/mariadb:10.11-{uuid.uuid4().hex[:8]}"
    docker_cli("tag", mariadb_image(), ref, env=registry.env())
    docker_cli("push", ref, env=registry.env())
    docker_cli("rmi", ref, env=registry.env())
    assert not docker.image_present(docker.connect(), ref)
    yield ref
    subprocess.run(["docker", "rmi", ref], capture_output=True, timeout=60)


@pytest.fixture
def private_profile(tmp_path, private_image):
    path = tmp_path / "private.yaml"
    path.write_text("version: 1\nname: private\ntarget: docker\nmirror: clusters/production\nservices:\n"
                    f"  db:\n    type: mariadb\n    version: \"10.11\"\n    image: {private_image}\n"
                    "    database: orders\n    user: orders\n")
    return path


def untag(ref: str) -> None:
    subprocess.run(["docker", "rmi", ref], capture_output=True, timeout=60)


def test_up_pulls_through_the_credential_helper(registry, private_image, private_profile, new_env):
    name = new_env("reg")
    registry.helper_log.write_text("")
    # DEVENV_MARIADB_IMAGE empty: the profile's image (the private one), not the suite's offline image
    result = devenv("up", name, "--profile", str(private_profile), "-o", "json",
                    env={**registry.env(), "DEVENV_MARIADB_IMAGE": ""})
    try:
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["changes"] == ["db: created"]
        status = devenv("status", name, "-o", "json")
        assert json.loads(status.stdout)["state"] == "ready", status.stderr
        assert "get" in registry.helper_log.read_text().split()  # the helper was asked, for this registry
        assert docker.image_present(docker.connect(), private_image)
        assert "layers" not in result.stderr  # stderr is a pipe here: no progress line
        assert registry.secret not in result.stdout + result.stderr
    finally:
        assert devenv("down", name).returncode == 0
        untag(private_image)
    assert leftovers(name) == []


@pytest.mark.parametrize("missing", ["helper not on PATH", "no credentials configured"])
def test_without_credentials_up_says_docker_login_and_creates_nothing(registry, private_image, private_profile,
                                                                       new_env, missing):
    name = new_env("reg")
    env = registry.env(helper=False) if missing == "helper not on PATH" else registry.env(configured=False)
    result = devenv("up", name, "--profile", str(private_profile), env={**env, "DEVENV_MARIADB_IMAGE": ""})
    assert result.returncode == 11, result.stderr
    error = result.stderr[result.stderr.index("error: "):]  # after the "• pulling ..." note
    assert error.startswith(f"error: image {private_image} is not present locally and could not be pulled")
    print(error)
    assert f"`docker login {registry.host}`" in result.stderr
    assert "check the registry is reachable" not in result.stderr  # the refusal's own hint, not a network one
    assert "the registry said:" in result.stderr
    if missing == "helper not on PATH":
        assert "docker-credential-ecr-login" in result.stderr
    assert "Traceback" not in result.stderr and registry.secret not in result.stderr
    assert leftovers(name) == []  # census: no container, volume or network of this environment
    assert not docker.image_present(docker.connect(), private_image)


def test_the_pull_shows_layers_and_bytes_on_a_terminal(registry, tmp_path):
    """A layer the engine has not seen (random bytes, so it must be downloaded) pulled by devenv.clients.docker.pull
    with stderr on a pseudo-terminal: the progress line counts layers and megabytes."""
    ref = f"{registry.host}/platform/progress:{uuid.uuid4().hex[:8]}"
    (tmp_path / "blob").write_bytes(os.urandom(3_000_000))
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY blob /blob\n")
    docker_cli("build", "-q", "-t", ref, str(tmp_path), env={**registry.env(), "DOCKER_BUILDKIT": "0"})
    docker_cli("push", ref, env=registry.env())
    docker_cli("rmi", ref, env=registry.env())
    primary, secondary = pty.openpty()
    try:
        pull = subprocess.run([sys.executable, "-c", f"from devenv.clients import docker; docker.pull(docker.connect(), {ref!r})"],
                              stdout=subprocess.PIPE, stderr=secondary, env={**os.environ, **registry.env()},
                              timeout=120)
        os.close(secondary)
        shown = b""
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(primary)
        untag(ref)
    text = shown.decode(errors="replace")
    assert pull.returncode == 0, text
    assert f"pulled {ref}: 1/1 layers, " in text and "/3.0 MB" in text, text
    assert registry.secret not in text
