"""devenv's seam to the Docker engine: a client (devenv.docker_api, the Engine API spoken directly) that fails
with one clear DockerUnavailable, label-filtered listing of devenv's containers, volumes and networks, and
small helpers. Every engine error becomes a DockerError naming what devenv was doing."""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from devenv import docker_api, labels
from devenv.docker_api import DEFAULT_HOST, NotFound
from devenv.errors import DevenvError, DockerUnavailable


class DockerError(DevenvError):
    """The Docker engine refused a request (not found, conflict, bad parameter...)."""

    def __init__(self, message: str, *, status: int | None = None, explanation: str = "", **kwargs):
        super().__init__(message, **kwargs)
        self.status = status
        self.explanation = explanation


_clients: dict[tuple, docker_api.Client] = {}


def connect(timeout: float = 60) -> docker_api.Client:
    """A client of DOCKER_HOST's engine (or the default socket), one per process and setting;
    DockerUnavailable when no engine answers."""
    key = tuple(os.environ.get(k) for k in ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")) + (timeout,)
    if key not in _clients:
        try:
            # the version negotiation talks to the engine, so an unreachable one fails here, once
            _clients[key] = docker_api.connect(os.environ, timeout=timeout)
        except (docker_api.Unreachable, docker_api.APIError) as exc:
            _check_socket(os.environ.get("DOCKER_HOST") or DEFAULT_HOST)
            raise unavailable(exc) from None
    return _clients[key]


def _check_socket(host: str) -> None:
    """Say what to do when a unix socket is dead (asked only once the engine did not answer)."""
    if not host.startswith("unix://"):
        return
    import socket

    path = host[len("unix://"):]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(5)
        try:
            probe.connect(path)
        except FileNotFoundError:
            raise unavailable(f"there is no socket at {path}: the engine is not running, or listens elsewhere") from None
        except ConnectionRefusedError:
            raise unavailable(f"nothing listens on {path}: the engine is not running") from None
        except PermissionError:
            raise unavailable(f"permission denied on {path}",
                              hint="add yourself to the docker group (then log in again), or use rootless Docker") from None
        except OSError as exc:
            raise unavailable(exc) from None


def unavailable(why: BaseException | str, hint: str | None = None) -> DockerUnavailable:
    host = os.environ.get("DOCKER_HOST")
    where = f"DOCKER_HOST={host}" if host else f"DOCKER_HOST is not set, so the default {DEFAULT_HOST}"
    return DockerUnavailable(
        "cannot reach the Docker engine",
        context=[f"tried: {where}", f"why: {why if isinstance(why, str) else _short(why)}"],
        hint=hint or ("start Docker (Docker Desktop, colima, or `sudo systemctl start docker`) and check with `docker info`; "
              "if the engine listens elsewhere, point DOCKER_HOST at it "
              "(for a Docker context: export DOCKER_HOST=$(docker context inspect -f '{{.Endpoints.docker.Host}}'))"),
    )


def engine_version() -> str:
    """The engine's version string (used by `devenv doctor`)."""
    client = connect(timeout=10)
    with translate("ask the engine its version"):
        return client.version().get("Version", "unknown")


@contextlib.contextmanager
def translate(doing: str) -> Iterator[None]:
    """Turn the engine's errors into devenv's: what we were doing, and what the engine said."""
    try:
        yield
    except docker_api.APIError as exc:
        raise DockerError(f"Docker refused to {doing}: {exc.explanation}", status=exc.status_code,
                          explanation=exc.explanation) from None
    except docker_api.Unreachable as exc:
        raise unavailable(exc) from None


def is_port_conflict(err: DevenvError) -> bool:
    text = getattr(err, "explanation", "").lower()
    return isinstance(err, DockerError) and ("port is already allocated" in text or "address already in use" in text)


@dataclass
class Resources:
    """devenv's resources found by label (devenv.docker_api's objects)."""

    containers: list = field(default_factory=list)
    volumes: list = field(default_factory=list)
    networks: list = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.containers or self.volumes or self.networks)

    def by_environment(self) -> dict[str, "Resources"]:
        found: dict[str, Resources] = {}
        for kind in ("containers", "volumes", "networks"):
            for item in getattr(self, kind):
                env = label_of(item, labels.ENVIRONMENT)
                if env:
                    getattr(found.setdefault(env, Resources()), kind).append(item)
        return found


def managed(client, environment: str | None = None) -> Resources:
    """Every container (running or not), volume and network carrying devenv.managed=true (of one environment)."""
    wanted = [f"{k}={v}" for k, v in labels.selector(environment).items()]
    with translate("list devenv's resources"):
        return Resources(
            # ignore_removed: a container removed between the listing and its inspection is simply gone
            containers=client.containers.list(all=True, filters={"label": wanted}, ignore_removed=True),
            volumes=client.volumes.list(filters={"label": wanted}),
            networks=client.networks.list(filters={"label": wanted}),
        )


def labels_of(resource) -> dict[str, str]:
    """The labels of a container, volume or network (a container's inspect keeps them under Config)."""
    attrs = resource.attrs
    found = attrs["Labels"] if "Labels" in attrs else (attrs.get("Config") or {}).get("Labels")
    return dict(found or {})


def label_of(resource, key: str) -> str | None:
    return labels_of(resource).get(key)


def is_managed(resource) -> bool:
    return label_of(resource, labels.MANAGED) == "true"


def get(collection, name: str):
    """A container, volume, network or image by name, or None."""
    with translate(f"look up {name}"):
        try:
            return collection.get(name)
        except NotFound:
            return None


def image_present(client, image: str) -> bool:
    return get(client.images, image) is not None


def pull(client, image: str) -> None:
    if "@" in image:  # pinned by digest (name@sha256:...): the reference goes whole, with no tag
        repository, tag = image, None
    else:
        repository, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "latest")
    with translate(f"pull the image {image}"):
        client.images.pull(repository, tag=tag)


def create_container(client, *, name: str, image: str, environment: Mapping[str, str], labels: Mapping[str, str],
                     network: str | None, volume: str, data_path: str, container_port: int, host: str, host_port: int,
                     memory: str | None = None, command: list[str] | None = None):
    """Create (not start) a service container: on `network` (None: Docker's default bridge), `volume` at
    `data_path`, the port published on host only; `command` replaces the image's CMD."""
    options: dict[str, Any] = dict(
        name=name, environment=dict(environment), labels=dict(labels),
        ports={f"{container_port}/tcp": (host, host_port)},
        volumes={volume: {"bind": data_path, "mode": "rw"}},
    )
    if network:
        options["network"] = network
    if memory:
        options["mem_limit"] = memory
    if command is not None:
        options["command"] = command
    with translate(f"create container {name} from {image}"):
        return client.containers.create(image, **options)


def put_files(container, directory: str, files: Mapping[str, bytes], mode: int = 0o644) -> None:
    """Copy files (name -> content) into a created container's directory, before it starts."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = mode
            tar.addfile(info, io.BytesIO(content))
    with translate(f"copy files into {container.name}"):
        container.put_archive(directory, buffer.getvalue())


def put_paths(container, files: Mapping[str, bytes], mode: int = 0o644) -> None:
    """Copy files ({absolute path: content}) into a created container, before it starts."""
    by_directory: dict[str, dict[str, bytes]] = {}
    for path, content in files.items():
        directory, _, name = path.rpartition("/")
        by_directory.setdefault(directory or "/", {})[name] = content
    for directory, content in by_directory.items():
        put_files(container, directory, content, mode)


def image_id(client, image: str) -> str | None:
    """The ID (config digest) of a local image, or None when it is absent."""
    found = get(client.images, image)
    return found.id if found is not None else None


def image_command(client, image: str) -> list[str]:
    """The image's CMD (empty when it has none)."""
    found = get(client.images, image)
    return list(((found.attrs.get("Config") or {}).get("Cmd") or []) if found is not None else [])


def labelled_images(client, selector: Mapping[str, str]) -> list:
    wanted = [f"{k}={v}" for k, v in selector.items()]
    with translate("list devenv's images"):
        return client.images.list(filters={"label": wanted})


def labelled(client, selector: Mapping[str, str]) -> Resources:
    """Containers (running or not) and volumes carrying every label of `selector` (networks: none)."""
    wanted = [f"{k}={v}" for k, v in selector.items()]
    with translate("list devenv's resources"):
        return Resources(containers=client.containers.list(all=True, filters={"label": wanted}, ignore_removed=True),
                         volumes=client.volumes.list(filters={"label": wanted}))


def stop(container, timeout: int) -> int:
    """Stop a container gracefully (SIGTERM, then SIGKILL after `timeout` seconds); its exit code."""
    with translate(f"stop {container.name}"):
        container.stop(timeout=timeout)
        return int(container.wait(timeout=timeout + 30).get("StatusCode", -1))


def image_from_directory(client, container, path: str, *, repository: str, tag: str, labels: Mapping[str, str],
                         command: list[str]):
    """A new image whose only content is `path` of a (stopped) container, at /<basename of path>: the
    archive streams from the engine back into it, never held in memory. Labelled; `command` is its CMD."""
    import json

    with translate(f"read {path} of {container.name}"):
        chunks, _ = container.get_archive(path, chunk_size=1 << 20)
    changes = [f"CMD {json.dumps(command)}"] + [f"LABEL {json.dumps(k)}={json.dumps(v)}" for k, v in labels.items()]
    with translate(f"import {repository}:{tag}"):
        client.images.import_tar(chunks, repository=repository, tag=tag, changes=changes)
    found = get(client.images, f"{repository}:{tag}")
    if found is None:
        raise DockerError(f"Docker did not keep the image {repository}:{tag} it was asked to import")
    return found


def fill_volume(client, *, image: str, volume: str, mount: str, labels: Mapping[str, str]) -> None:
    """Fill an empty named volume with the content of `image` at `mount`: creating (never starting) a
    container with the volume there makes the engine copy that content in, natively; the container goes."""
    with translate(f"fill volume {volume} from {image}"):
        helper = client.containers.create(image, labels=dict(labels), network_mode="none",
                                          volumes={volume: {"bind": mount, "mode": "rw"}})
    remove(helper)


def remove(resource, *, stop_timeout: int | None = None) -> bool:
    """Remove a container (stopped gracefully first when stop_timeout is given), volume or network.
    False when it was already gone."""
    with translate(f"remove {name_of(resource)}"):
        try:
            if hasattr(resource, "stop"):  # a container
                if stop_timeout is not None and resource.status == "running":
                    resource.stop(timeout=stop_timeout)
                resource.remove(force=True, v=True)
            elif hasattr(resource, "tags"):  # an image: by ID, so every tag of it goes
                resource.client.images.remove(resource.id, force=False, noprune=False)
            else:
                resource.remove()
        except NotFound:
            return False
    return True


def name_of(resource) -> str:
    """A container's, volume's or network's name; an image's first tag (else its short ID)."""
    return resource.name


def logs_tail(container, lines: int = 20) -> list[str]:
    """The container's last log lines (stdout and stderr), best effort."""
    try:
        text = container.logs(tail=lines).decode(errors="replace")
    except Exception:  # the container may be gone already
        return []
    return text.rstrip().splitlines()


def state(container) -> dict[str, Any]:
    """Docker's State of a container: Status, ExitCode, OOMKilled, StartedAt..."""
    return container.attrs.get("State") or {}


def stopped(container) -> str | None:
    """Why a container is not running any more ("exited with code 1", ...), or None while it runs (or is
    created and not started yet)."""
    if not reload(container):
        return "was removed"
    found = state(container)
    if found.get("Status") in ("running", "created"):
        return None
    if found.get("OOMKilled"):
        return "ran out of memory (OOM-killed)"
    code = found.get("ExitCode")
    return "was killed (exit code 137)" if code == 137 else f"exited with code {code}"


def reload(resource) -> bool:
    """Refresh attrs; False when the resource has gone."""
    with translate(f"inspect {resource.name}"):
        try:
            resource.reload()
        except NotFound:
            return False
    return True


def port_free(host: str, port: int) -> bool:
    """True when nothing listens on host:port (SO_REUSEADDR: a port in TIME_WAIT counts as free)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str, exclude: set[int] = frozenset()) -> int:
    import socket

    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
        if port not in exclude:
            return port


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]
