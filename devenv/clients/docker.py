"""devenv's seam to the Docker engine, and the only importer of the docker SDK: a client of the engine the
docker CLI would use (devenv.clients.engine) that fails with one clear DockerUnavailable, pulls as `docker pull` does
(credentials from the docker config, progress on a terminal), label-filtered listing of devenv's containers,
volumes and networks, and small helpers. Every engine error becomes a DockerError naming what devenv was doing.
The SDK (and requests) is imported on the first call that talks to the engine, never at import."""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from devenv.clients import engine
from devenv.clients.pull_progress import PullProgress as _Progress
from devenv.domain import labels
from devenv.clients.engine import DEFAULT_HOST
from devenv.errors import DevenvError, DockerUnavailable, ImageUnavailable


class DockerError(DevenvError):
    """The Docker engine refused a request (not found, conflict, bad parameter...)."""

    def __init__(self, message: str, *, status: int | None = None, explanation: str = "", **kwargs):
        super().__init__(message, **kwargs)
        self.status = status
        self.explanation = explanation


class CredentialsMissing(ImageUnavailable):
    """A registry refused a pull for want of credentials that devenv (the docker config) could not supply."""


_clients: dict[tuple, Any] = {}
MIN_API_VERSION = "1.24"  # what the SDK needs to ask the engine its own version
_client_class: Any = None


def engine_origin() -> tuple[str, str]:
    """Which engine devenv (and the docker and kind processes it runs) talks to, and why: (endpoint, reason),
    e.g. ("unix:///home/me/.colima/default/docker.sock", "docker context colima (currentContext in ~/.docker/config.json)").
    DockerUnavailable when the context named does not exist."""
    chosen = engine.resolve(os.environ)
    return chosen.host, chosen.reason


def _sdk_client_class():
    """docker.DockerClient, with networks created as the docker CLI does: refused when the name is taken
    (CheckDuplicate: engines before API 1.44 otherwise allow two networks of one name)."""
    global _client_class
    if _client_class is None:
        import docker as sdk
        from docker.models.networks import NetworkCollection

        class Networks(NetworkCollection):
            def create(self, name, *args, **kwargs):
                kwargs.setdefault("check_duplicate", True)
                return super().create(name, *args, **kwargs)

        class Client(sdk.DockerClient):
            @property
            def networks(self):
                return Networks(client=self)

        _client_class = Client
    return _client_class


def _tls_config(chosen: engine.Engine):
    """The SDK's TLSConfig for the engine's DOCKER_TLS_VERIFY / DOCKER_CERT_PATH (None: plain)."""
    if not chosen.tls:
        return None
    from docker.utils import kwargs_from_env

    return kwargs_from_env(environment={"DOCKER_HOST": chosen.host, **chosen.tls}).get("tls")


def connect(timeout: float = 60):
    """A client (docker.DockerClient) of the engine the docker CLI would use, one per process and setting;
    DockerUnavailable when no engine answers."""
    chosen = engine.resolve(os.environ)
    key = (chosen.host, tuple(sorted(chosen.tls.items())), timeout)
    if key not in _clients:
        cls = _sdk_client_class()
        from docker.errors import DockerException

        options = dict(base_url=chosen.host, tls=_tls_config(chosen) or False, timeout=timeout,
                       use_ssh_client=chosen.host.startswith("ssh://"))
        # the version negotiation talks to the engine, so an unreachable one fails here, once; asked by a
        # client devenv closes on failure (the SDK's own negotiation leaves its socket open when it fails)
        probe = cls(version=MIN_API_VERSION, **options)
        try:
            version = probe.api.version(api_version=False)["ApiVersion"]
        except (DockerException, KeyError, TypeError, *_transport_errors()) as exc:
            _close_sockets_of(exc)
            _check_socket(chosen.host)
            raise unavailable(exc) from None
        finally:
            probe.close()
        _clients[key] = cls(version=version, **options)
    return _clients[key]


def _close_sockets_of(exc: BaseException) -> None:
    """Close the sockets a failed connection attempt left open: the SDK's unix-socket connection does not close
    its socket when connect() fails (no socket file, nobody listening), and the interpreter then warns of it."""
    import socket

    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        tb = exc.__traceback__
        while tb is not None:
            for value in list(tb.tb_frame.f_locals.values()):
                if isinstance(value, socket.socket) and value.fileno() != -1:
                    value.close()
            tb = tb.tb_next
        exc = exc.__cause__ or exc.__context__


def _transport_errors() -> tuple[type[BaseException], ...]:
    """What the SDK's HTTP stack raises when the engine does not answer (or stops answering mid-stream)."""
    import requests
    import urllib3

    return (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError)


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
    try:
        tried = engine.resolve(os.environ).tried
    except DockerUnavailable:  # the context vanished meanwhile
        tried = "DOCKER_HOST is not set, and the docker context named cannot be read"
    return DockerUnavailable(
        "cannot reach the Docker engine",
        context=[f"tried: {tried}", f"why: {why if isinstance(why, str) else _short(why)}"],
        hint=hint or ("start Docker (Docker Desktop, colima, or `sudo systemctl start docker`) and check with `docker info`; "
              "if the engine listens elsewhere, point DOCKER_HOST at it or pick its docker context "
              "(`docker context ls`, `docker context use NAME`)"),
    )


def engine_version() -> str:
    """The engine's version string (used by `devenv doctor`)."""
    client = connect(timeout=10)
    with translate("ask the engine its version"):
        return client.version().get("Version", "unknown")


@contextlib.contextmanager
def translate(doing: str) -> Iterator[None]:
    """Turn the engine's errors into devenv's: what we were doing, and what the engine said."""
    from docker.errors import APIError, DockerException

    try:
        yield
    except APIError as exc:
        explanation = _explanation(exc)
        raise DockerError(f"Docker refused to {doing}: {explanation}", status=exc.status_code,
                          explanation=explanation) from None
    except DockerException as exc:
        raise DockerError(f"Docker refused to {doing}: {_short(exc)}", explanation=str(exc)) from None
    except _transport_errors() as exc:
        raise unavailable(exc) from None


def _explanation(exc) -> str:
    text = exc.explanation
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return (text or str(exc)).strip()


def is_port_conflict(err: DevenvError) -> bool:
    text = getattr(err, "explanation", "").lower()
    return isinstance(err, DockerError) and ("port is already allocated" in text or "address already in use" in text)


@dataclass
class Resources:
    """devenv's resources found by label (the docker SDK's objects)."""

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
    from docker.errors import NotFound

    with translate(f"look up {name}"):
        try:
            return collection.get(name)
        except NotFound:
            return None


def image_present(client, image: str) -> bool:
    return get(client.images, image) is not None


def pull(client, image: str) -> None:
    """Pull as `docker pull` does: credentials from the docker config (auths, credsStore, credHelpers: the SDK
    resolves them for the image's registry), progress on stderr when it is a terminal. A registry that
    refuses for want of credentials: CredentialsMissing, naming the registry and what to run."""
    if "@" in image:  # pinned by digest (name@sha256:...): the reference goes whole, with no tag
        repository, tag = image, None
    else:
        repository, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "latest")
    from docker.errors import DockerException

    shown = _Progress.for_stderr(image)
    try:
        with translate(f"pull the image {image}"):
            with warnings.catch_warnings():  # a credential helper missing from PATH: said below, not warned
                warnings.simplefilter("ignore")
                try:
                    for event in client.api.pull(repository, tag=tag, stream=True, decode=True):
                        if event.get("error"):
                            raise DockerError(f"Docker refused to pull the image {image}: {event['error']}",
                                              explanation=str(event["error"]))
                        shown.update(event)
                except DockerException as exc:
                    if "Credentials store error" not in str(exc):
                        raise
                    raise _credentials_missing(image, str(exc)) from None
    except DockerError as err:
        if _wants_credentials(err.explanation):
            raise _credentials_missing(image, err.explanation) from None
        raise
    finally:
        shown.close()


def _docker_config():
    """The docker CLI's config as the SDK reads it (auths, credsStore, credHelpers), or None when there is none."""
    from docker import auth

    config = engine.config_dir(os.environ) / "config.json"
    with warnings.catch_warnings():  # a credential helper missing from PATH is the caller's to say
        warnings.simplefilter("ignore")
        return auth.load_config(str(config)) if config.is_file() else None


def credential_helper(registry: str) -> str | None:
    """The credential helper the docker config names for `registry` (credHelpers, else credsStore), or None."""
    found = _docker_config()
    return found.get_credential_store(registry) if found is not None else None


def registry_auth(registry: str) -> dict[str, str] | None:
    """The credentials `docker pull` would send to `registry`, resolved now through the user's docker config and
    its helper (an ECR token is fresh each time): {username, password, serveraddress} or {identitytoken}; None
    when the config and helper have none. Never stored by devenv."""
    found = _docker_config()
    if found is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        auth = found.resolve_authconfig(registry)
    return {k.lower() if k != "IdentityToken" else "identitytoken": v for k, v in auth.items() if v} if auth else None


def _wants_credentials(said: str) -> bool:
    text = said.lower()
    return any(words in text for words in ("no basic auth credentials", "unauthorized", "authentication required",
                                           "may require 'docker login'", "denied: requested access"))


def _credentials_missing(image: str, said: str) -> CredentialsMissing:
    """One paragraph: the registry, where devenv looked (the docker config, the helper it names), what to run."""
    import shutil

    from docker import auth

    registry, _ = auth.resolve_repository_name(image)
    config = engine.config_dir(os.environ) / "config.json"
    looked = [f"looked in: {config}" + ("" if config.is_file() else " (there is none)")]
    login = f"`docker login {registry}`"
    helper, had = None, None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = auth.load_config(str(config)) if config.is_file() else None
            helper = found.get_credential_store(registry) if found is not None else None
            if found is not None and (helper is None or shutil.which(f"docker-credential-{helper}")):
                had = found.resolve_authconfig(registry)  # asks the helper again: were there credentials at all?
    except Exception:  # an unreadable config, a failing helper: the registry's answer still says what to do
        pass
    program = f"docker-credential-{helper}"
    if helper:
        looked.append(f"{'credHelpers' if found.cred_helpers.get(registry) else 'credsStore'} names {program} "
                      f"for {registry}")
    if helper and not shutil.which(program):
        what = f"put {program} (the credential helper your docker config names) on PATH, or run {login}"
        refused = "without credentials"
    elif had:
        what = f"they may have expired: run {login} again" + (f" (or refresh what {program} reads)" if helper else "")
        refused = f"with the credentials {'from ' + program if helper else 'in ' + str(config)}"
    elif helper:
        what, refused = f"{program} has none for it: run {login}", "without credentials"
    else:
        what, refused = f"run {login}", "without credentials"
    return CredentialsMissing(
        f"the registry {registry} refused to let devenv pull {image} {refused}: {what}",
        context=looked + [f"the registry said: {_first_line(said)}"],
        hint=f"check with `docker pull {image}`; then run devenv again",
    )


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0][:300]


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
        answer = client.api.import_image(src=chunks, repository=repository, tag=tag, changes=changes, stream_src=True)
        for line in (answer or "").splitlines():
            if '"error"' in line:
                raise DockerError(f"Docker refused to import {repository}:{tag}: {_first_line(line)}", explanation=line)
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
    from docker.errors import NotFound

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
    if hasattr(resource, "tags"):
        return resource.tags[0] if resource.tags else resource.short_id
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
    from docker.errors import NotFound

    with translate(f"inspect {name_of(resource)}"):
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
    """The innermost reason of an error (the SDK's HTTP stack wraps the socket's in two or three layers)."""
    seen = 0
    while seen < 8:
        seen += 1
        reason = getattr(exc, "reason", None)
        inner = reason if isinstance(reason, BaseException) else next(
            (a for a in getattr(exc, "args", ()) if isinstance(a, BaseException)), None) or exc.__cause__
        if inner is None:
            break
        exc = inner
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]
