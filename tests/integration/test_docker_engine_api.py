"""devenv.clients.docker on the real engine (through the docker SDK): what the rest of devenv relies on, beyond what
the lifecycle tests use every day. A container is created as devenv creates them (ports on 127.0.0.1, a
volume, a memory limit, labels), files go in and an image comes out of a container's directory as tar
streams, logs are read, and the engine's refusals arrive as DockerErrors worded as the engine words them
(a second network of one name is refused, as the docker CLI refuses it, on engines before API 1.44 too)."""

from __future__ import annotations

import pytest
from it_helpers import mariadb_image

from devenv.clients import docker
from devenv.domain import labels

pytestmark = [pytest.mark.docker, pytest.mark.mariadb_image]


def test_the_client_is_the_sdks_and_one_per_process(client):
    import docker as sdk

    assert isinstance(client, sdk.DockerClient) and client.version()["Version"]
    assert docker.connect() is docker.connect()


def test_a_container_as_devenv_makes_them(client, new_env):
    name = new_env("api")
    tags = labels.selector(name)
    volume = client.volumes.create(f"devenv-{name}-data", labels=tags)
    container = docker.create_container(
        client, name=f"devenv-{name}", image=mariadb_image(), environment={"A": "1"}, labels=tags, network=None,
        volume=volume.name, data_path="/data", container_port=3306, host="127.0.0.1",
        host_port=docker.free_port("127.0.0.1"), memory="256m",
        command=["sh", "-c", "cat /data/hello.txt; echo to-stderr >&2; sleep 60"])
    try:
        host = container.attrs["HostConfig"]
        assert host["Memory"] == 256 * 1024 * 1024 and host["Binds"] == [f"{volume.name}:/data:rw"]
        assert host["PortBindings"]["3306/tcp"][0]["HostIp"] == "127.0.0.1"
        assert container.status == "created" and tags.items() <= docker.labels_of(container).items()
        docker.put_paths(container, {"/data/hello.txt": b"hello\n"})
        container.start()
        assert docker.reload(container) and docker.stopped(container) is None
        for _ in range(50):
            if "to-stderr" in docker.logs_tail(container):
                break
        assert sorted(docker.logs_tail(container)) == ["hello", "to-stderr"]
        assert [c.name for c in docker.managed(client, name).containers] == [f"devenv-{name}"]
        assert docker.stop(container, timeout=1) in (137, 143)
        assert docker.stopped(container) in ("was killed (exit code 137)", "exited with code 143")
    finally:
        assert docker.remove(container) and docker.remove(volume)
    assert not docker.remove(container)  # already gone: False, no error
    assert not docker.managed(client, name)


def test_the_engines_refusals_as_it_words_them(client, new_env):
    name = new_env("api")
    assert docker.get(client.containers, f"devenv-{name}-none") is None
    assert docker.get(client.images, f"devenv-test/{name}:absent") is None and not docker.image_present(
        client, f"devenv-test/{name}:absent")
    with pytest.raises(docker.DockerError, match="No such container") as refused:
        with docker.translate("inspect a container that is not there"):
            client.containers.get(f"devenv-{name}-none")
    assert refused.value.status == 404
    network = client.networks.create(f"devenv-{name}", labels=labels.selector(name))
    try:
        with pytest.raises(docker.DockerError, match=f"Docker refused to create network devenv-{name}: ") as refused:
            with docker.translate(f"create network devenv-{name}"):
                client.networks.create(f"devenv-{name}", labels=labels.selector(name))
        assert refused.value.status == 409 and "already exists" in refused.value.explanation
    finally:
        docker.remove(network)
    assert not docker.managed(client, name)


def test_an_image_made_from_a_directory_keeps_its_command_and_labels(client, new_env):
    name = new_env("api")
    tags = labels.selector(name)
    source = client.containers.create(mariadb_image(), ["true"], labels=tags, network_mode="none")
    try:
        docker.put_paths(source, {"/tmp/file": b"ok"})  # put_archive needs an existing directory
        image = docker.image_from_directory(client, source, "/tmp", repository=f"devenv-test/{name}", tag="v1",
                                            labels=tags, command=["/tmp/file"])
    finally:
        docker.remove(source)
    try:
        assert image.attrs["Config"]["Cmd"] == ["/tmp/file"]
        assert docker.labels_of(image)[labels.ENVIRONMENT] == name
        assert docker.name_of(image) == f"devenv-test/{name}:v1" and image.short_id.startswith("sha256:")
        assert docker.image_id(client, f"devenv-test/{name}:v1") == image.id
        assert docker.image_command(client, f"devenv-test/{name}:v1") == ["/tmp/file"]
        assert [i.id for i in docker.labelled_images(client, tags)] == [image.id]
    finally:
        assert docker.remove(image)
    assert docker.get(client.images, f"devenv-test/{name}:v1") is None
