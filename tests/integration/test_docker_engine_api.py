"""devenv.docker_api on the real engine: what the rest of devenv relies on, beyond what the lifecycle tests
use every day. The API version is negotiated, a container is created as devenv creates them (ports on
127.0.0.1, a volume, a memory limit, labels), files go in and come out as tar streams, logs are unwrapped
from the engine's frames, and the engine's refusals arrive as the engine words them."""

from __future__ import annotations

import io
import tarfile

import pytest
from it_helpers import mariadb_image

from devenv import docker, docker_api, labels

pytestmark = [pytest.mark.docker, pytest.mark.mariadb_image]


def test_the_api_version_is_the_engines(client):
    version = client.version()
    assert client.engine.prefix == f"/v{version['ApiVersion']}" and version["Version"]


def test_a_container_as_devenv_makes_them(client, new_env):
    name = new_env("api")
    tags = labels.selector(name)
    volume = client.volumes.create(f"devenv-{name}-data", labels=tags)
    container = client.containers.create(
        mariadb_image(), ["sh", "-c", "echo to-stdout; echo to-stderr >&2; sleep 60"], name=f"devenv-{name}",
        labels=tags, ports={"3306/tcp": ("127.0.0.1", docker.free_port("127.0.0.1"))},
        volumes={volume.name: {"bind": "/data", "mode": "rw"}}, mem_limit="256m", network_mode="none")
    try:
        host = container.attrs["HostConfig"]
        assert host["Memory"] == 256 * 1024 * 1024 and host["Binds"] == [f"{volume.name}:/data:rw"]
        assert host["PortBindings"]["3306/tcp"][0]["HostIp"] == "127.0.0.1"
        assert container.status == "created" and tags.items() <= docker.labels_of(container).items()

        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            info = tarfile.TarInfo("hello.txt")
            info.size = 5
            tar.addfile(info, io.BytesIO(b"hello"))
        assert container.put_archive("/data", buffer.getvalue())
        chunks, stat = container.get_archive("/data/hello.txt", chunk_size=1)
        with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
            assert tar.extractfile("hello.txt").read() == b"hello"
        assert stat["name"] == "hello.txt" and stat["size"] == 5

        container.start()
        container.reload()
        assert container.status == "running"
        for _ in range(50):
            if b"to-stderr" in container.logs():
                break
        assert sorted(container.logs().decode().split()) == ["to-stderr", "to-stdout"]  # frames unwrapped
        assert [c.name for c in client.containers.list(filters={"label": [f"{labels.ENVIRONMENT}={name}"]})] == \
            [f"devenv-{name}"]
        container.stop(timeout=1)
        assert container.wait(timeout=30)["StatusCode"] in (137, 143)
    finally:
        container.remove(force=True, v=True)
        volume.remove()
    assert not docker.managed(client, name)


def test_the_engines_refusals_as_it_words_them(client, new_env):
    name = new_env("api")
    with pytest.raises(docker_api.NotFound, match="No such container"):
        client.containers.get(f"devenv-{name}-none")
    with pytest.raises(docker_api.NotFound):
        client.images.get(f"devenv-test/{name}:absent")
    network = client.networks.create(f"devenv-{name}", labels=labels.selector(name))
    try:
        with pytest.raises(docker_api.APIError) as refused:  # one name, two networks: refused on every engine
            client.networks.create(f"devenv-{name}", labels=labels.selector(name))
        assert refused.value.status_code == 409 and "already exists" in refused.value.explanation
        with pytest.raises(docker.DockerError, match=f"Docker refused to create network devenv-{name}: "):
            with docker.translate(f"create network devenv-{name}"):
                client.networks.create(f"devenv-{name}")
    finally:
        network.remove()
    assert not docker.managed(client, name)


def test_an_image_made_from_a_stream_keeps_its_command_and_labels(client, new_env):
    name = new_env("api")
    tags = labels.selector(name)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("data/file")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"ok"))
    raw = buffer.getvalue()
    client.images.import_tar((raw[i:i + 512] for i in range(0, len(raw), 512)), repository=f"devenv-test/{name}",
                             tag="v1", changes=['CMD ["/data/file"]', f'LABEL "{labels.ENVIRONMENT}"="{name}"'])
    image = client.images.get(f"devenv-test/{name}:v1")
    try:
        assert image.attrs["Config"]["Cmd"] == ["/data/file"]
        assert docker.labels_of(image)[labels.ENVIRONMENT] == name
        assert image.name == f"devenv-test/{name}:v1" and image.short_id.startswith("sha256:")
        assert [i.id for i in client.images.list(filters={"label": f"{labels.ENVIRONMENT}={name}"})] == [image.id]
    finally:
        client.images.remove(image.id)
    with pytest.raises(docker_api.NotFound):
        client.images.get(f"devenv-test/{name}:v1")
