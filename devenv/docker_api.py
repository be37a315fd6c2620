"""The Docker Engine API, spoken directly: HTTP/1.1 over the engine's socket, JSON in and out, streams for
archives, logs and image imports. The objects (Container, Volume, Network, Image) hold `attrs` as the engine
returns them, and their methods are named as the docker SDK names them.

Why not the SDK: importing it (requests, urllib3, charset_normalizer and their HTTP stack) took ~95 ms of
every command that talks to Docker, the largest part of what the CLI adds to the work it does (bench/README.md,
"CLI start-up"), and requests adds a few ms to every call. devenv uses ~25 endpoints; this is them, with the
standard library only. One connection per request (`Connection: close`), so every call is thread-safe.

DOCKER_HOST as the docker CLI reads it: unix:///path (the default /var/run/docker.sock), tcp://host:port
(TLS with DOCKER_TLS_VERIFY / DOCKER_CERT_PATH). ssh:// and npipe:// are refused with what to do instead."""

from __future__ import annotations

import json
import os
import socket
import urllib.parse
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping

DEFAULT_HOST = "unix:///var/run/docker.sock"
READ_SIZE = 1 << 16


class APIError(Exception):
    """The engine answered with an error status; `explanation` is its message."""

    def __init__(self, status: int, explanation: str):
        super().__init__(f"{status}: {explanation}")
        self.status_code = status
        self.explanation = explanation


class NotFound(APIError):
    pass


class Unreachable(Exception):
    """The engine did not answer: no connection, a connection cut, or no answer in time."""


@dataclass(frozen=True)
class Endpoint:
    family: int  # socket.AF_UNIX, or AF_INET for a TCP host (connected by name: IPv4 or IPv6)
    address: Any  # a socket path, or (host, port)
    tls: Any = None  # an ssl.SSLContext for tcp:// with TLS

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> "Endpoint":
        host = environ.get("DOCKER_HOST") or DEFAULT_HOST
        scheme, _, rest = host.partition("://")
        if scheme == "unix":
            return cls(socket.AF_UNIX, rest)
        if scheme in ("tcp", "http", "https"):
            https = scheme == "https"
            try:
                tls = _tls_context(environ, https=https) if https or _tls_wanted(environ) else None
                parsed = urllib.parse.urlsplit(f"//{rest}")
                port = parsed.port
            except (OSError, ValueError) as exc:  # a certificate file missing or unreadable, a port that is no number
                raise Unreachable(f"DOCKER_HOST={host}: {exc}") from None
            if not parsed.hostname:
                raise Unreachable(f"DOCKER_HOST={host} names no host")
            return cls(socket.AF_INET, (parsed.hostname, port or (2376 if tls else 2375)), tls)
        if scheme == "ssh":
            raise Unreachable(f"DOCKER_HOST={host}: devenv does not speak ssh:// to an engine; forward its socket "
                              f"(ssh -nNT -L /tmp/docker.sock:/var/run/docker.sock HOST) and set "
                              f"DOCKER_HOST=unix:///tmp/docker.sock")
        raise Unreachable(f"DOCKER_HOST={host}: devenv speaks unix:// and tcp:// only")


def _tls_wanted(environ: Mapping[str, str]) -> bool:
    return bool(environ.get("DOCKER_TLS_VERIFY") or environ.get("DOCKER_CERT_PATH"))


def _tls_context(environ: Mapping[str, str], *, https: bool):
    """TLS as the docker CLI does it: the client certificate from DOCKER_CERT_PATH (default ~/.docker), the
    server verified against its ca.pem when DOCKER_TLS_VERIFY is set; an https:// host against the system's
    CAs; tcp:// with DOCKER_CERT_PATH alone is encrypted but not verified (`docker --tls`)."""
    import ssl

    certs = environ.get("DOCKER_CERT_PATH") or os.path.expanduser("~/.docker")
    if environ.get("DOCKER_TLS_VERIFY"):
        context = ssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))
    elif https:
        context = ssl.create_default_context()
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    if os.path.exists(os.path.join(certs, "cert.pem")):
        context.load_cert_chain(os.path.join(certs, "cert.pem"), os.path.join(certs, "key.pem"))
    return context


class Response:
    """An answer being read: status, headers (lower-case names), and the body as chunks or whole."""

    def __init__(self, sock: socket.socket, method: str, timeout: float):
        self.sock, self.timeout = sock, timeout
        self.file = sock.makefile("rb")
        try:
            self._read_head(method)
        except BaseException:
            self.close()
            raise

    def _read_head(self, method: str) -> None:
        line = self._readline()
        if not line:
            raise Unreachable("the engine closed the connection without answering")
        try:
            self.status = int(line.split()[1])
        except (IndexError, ValueError):
            raise Unreachable(f"the engine answered something that is not HTTP: {line[:80]!r}") from None
        self.headers: dict[str, str] = {}
        while (header := self._readline()) not in (b"\r\n", b"\n"):
            if not header:
                raise Unreachable("the engine closed the connection mid-answer")
            name, _, value = header.decode("latin-1").partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self.empty = method == "HEAD" or self.status in (204, 304) or 100 <= self.status < 200

    def _readline(self) -> bytes:
        try:
            return self.file.readline(1 << 16)
        except socket.timeout:
            raise Unreachable(f"the engine did not answer within {self.timeout:g} s") from None
        except OSError as exc:
            raise Unreachable(exc) from None

    def _read(self, size: int, exact: bool) -> bytes:
        try:
            data = self.file.read(size)
        except socket.timeout:
            raise Unreachable(f"the engine did not answer within {self.timeout:g} s") from None
        except OSError as exc:
            raise Unreachable(exc) from None
        if exact and len(data) < size:
            raise Unreachable("the engine closed the connection mid-answer")
        return data

    def chunks(self, size: int = READ_SIZE) -> Iterator[bytes]:
        """The body as it arrives; the connection is closed at its end."""
        try:
            if self.empty:
                return
            if self.headers.get("transfer-encoding", "").lower() == "chunked":
                while True:
                    line = self._readline()
                    if not line:
                        raise Unreachable("the engine closed the connection mid-answer")
                    try:
                        length = int(line.split(b";")[0].strip(), 16)
                    except ValueError:
                        raise Unreachable(f"the engine sent a broken chunk size: {line[:40]!r}") from None
                    if length == 0:
                        while self._readline() not in (b"\r\n", b"\n", b""):  # trailers
                            pass
                        return
                    while length:
                        data = self._read(min(size, length), exact=True)
                        length -= len(data)
                        yield data
                    self._read(2, exact=True)
            elif "content-length" in self.headers:
                left = int(self.headers["content-length"])
                while left:
                    data = self._read(min(size, left), exact=True)
                    left -= len(data)
                    yield data
            else:
                while data := self._read(size, exact=False):
                    yield data
        finally:
            self.close()

    def read(self) -> bytes:
        return b"".join(self.chunks())

    def json(self) -> Any:
        body = self.read()
        return json.loads(body) if body.strip() else None

    def close(self) -> None:
        self.file.close()
        self.sock.close()


class Engine:
    """Requests to one engine; `timeout` is the socket timeout of each (a call may give its own)."""

    def __init__(self, endpoint: Endpoint, timeout: float = 60):
        self.endpoint, self.timeout = endpoint, timeout
        self.prefix = ""  # "/v1.41" once the engine's API version is known

    def negotiate(self) -> dict:
        """Ask the engine its version (the first call: it proves an engine answers) and speak that API version."""
        version = self.call("GET", "/version", versioned=False)
        self.prefix = f"/v{version['ApiVersion']}" if version.get("ApiVersion") else ""
        return version

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                body: bytes | Iterable[bytes] | None = None, content_type: str = "application/json",
                timeout: float | None = None, versioned: bool = True) -> Response:
        """Send one request; the answer's status and headers are read, its body is left to the caller.
        An error status raises APIError (NotFound for 404)."""
        timeout = self.timeout if timeout is None else timeout
        target = (self.prefix if versioned else "") + urllib.parse.quote(path, safe="/:@")
        if params:
            target += "?" + urllib.parse.urlencode(_query(params), doseq=True)
        head = [f"{method} {target} HTTP/1.1", "Host: docker", "User-Agent: devenv", "Connection: close"]
        chunked = body is not None and not isinstance(body, bytes)
        if body is not None:
            head.append(f"Content-Type: {content_type}")
            head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}")
        sock = self._connect(timeout)
        try:
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
            if isinstance(body, bytes):
                sock.sendall(body)
            elif chunked:
                for data in body:
                    if data:
                        sock.sendall(b"%x\r\n%s\r\n" % (len(data), data))
                sock.sendall(b"0\r\n\r\n")
            response = Response(sock, method, timeout)
        except socket.timeout:
            sock.close()
            raise Unreachable(f"the engine did not answer within {timeout:g} s") from None
        except OSError as exc:
            sock.close()
            raise Unreachable(exc) from None
        except BaseException:
            sock.close()
            raise
        if response.status >= 400:
            raise _error(response)
        return response

    def call(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json_body: Any = None,
             timeout: float | None = None, versioned: bool = True) -> Any:
        """One request with a JSON body (or none); the answer's JSON (None when it has no body)."""
        body = None if json_body is None else json.dumps(json_body).encode()
        return self.request(method, path, params=params, body=body, timeout=timeout, versioned=versioned).json()

    def _connect(self, timeout: float) -> socket.socket:
        sock = None
        try:
            if self.endpoint.family == socket.AF_UNIX:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(timeout)
                sock.connect(self.endpoint.address)
            else:  # IPv4 or IPv6, whichever the host has
                sock = socket.create_connection(self.endpoint.address, timeout=timeout)
            if self.endpoint.tls is not None:
                sock = self.endpoint.tls.wrap_socket(sock, server_hostname=self.endpoint.address[0])
        except socket.timeout:
            if sock is not None:
                sock.close()
            raise Unreachable(f"no connection to the engine within {timeout:g} s") from None
        except OSError as exc:
            if sock is not None:
                sock.close()
            raise Unreachable(exc) from None
        return sock


def _query(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    pairs = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, dict):
            value = json.dumps(value)
        for one in value if isinstance(value, list) else [value]:
            pairs.append((key, str(one)))
    return pairs


def _error(response: Response) -> APIError:
    try:
        body = response.read()
        message = (json.loads(body).get("message") if body.strip().startswith(b"{") else body.decode()) or ""
    except (Unreachable, ValueError, AttributeError):
        message = ""
    message = message.strip() or f"HTTP {response.status}"
    return (NotFound if response.status == 404 else APIError)(response.status, message)


def _stream_errors(response: Response) -> list[dict]:
    """Read a JSON-lines progress stream (pull, import) to its end; raise its first error."""
    entries = []
    for line in response.read().splitlines():
        if line.strip():
            try:
                entry = json.loads(line)
            except ValueError:
                raise APIError(500, f"the engine sent a progress line that is not JSON: {line[:80]!r}") from None
            if entry.get("error"):
                raise APIError(500, str(entry["error"]))
            entries.append(entry)
    return entries


def _filters(filters: Mapping[str, Any] | None) -> dict | None:
    return {k: v if isinstance(v, list) else [v] for k, v in filters.items()} if filters else None


def parse_bytes(size: str | int) -> int:
    """'512m' -> bytes (k, m, g: powers of 1024), as the docker CLI reads --memory."""
    if isinstance(size, int):
        return size
    units = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    text = size.strip().lower()
    if text and text[-1] in units:
        return int(text[:-1]) * units[text[-1]]
    return int(text)


# -- the objects ---------------------------------------------------------------------------------------


class Resource:
    """One engine object; `attrs` is its inspect (or, for volumes and networks, listing) as the engine gave it."""

    def __init__(self, client: "Client", attrs: dict):
        self.client, self.attrs = client, attrs

    @property
    def id(self) -> str:
        return self.attrs.get("Id") or self.attrs.get("Name", "")

    @property
    def name(self) -> str:
        return (self.attrs.get("Name") or "").lstrip("/")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name or self.id[:12]}>"


class Container(Resource):
    @property
    def status(self) -> str:
        return (self.attrs.get("State") or {}).get("Status", "unknown")

    def _path(self, action: str = "") -> str:
        return f"/containers/{self.id}" + (f"/{action}" if action else "")

    def reload(self) -> None:
        self.attrs = self.client.engine.call("GET", self._path("json"))

    def start(self) -> None:
        self.client.engine.call("POST", self._path("start"))

    def stop(self, timeout: int = 10) -> None:
        self.client.engine.call("POST", self._path("stop"), params={"t": timeout},
                                timeout=self.client.engine.timeout + timeout)

    def wait(self, timeout: float | None = None) -> dict:
        return self.client.engine.call("POST", self._path("wait"), timeout=timeout) or {}

    def kill(self, signal: str = "SIGKILL") -> None:
        self.client.engine.call("POST", self._path("kill"), params={"signal": signal})

    def remove(self, force: bool = False, v: bool = False) -> None:
        self.client.engine.call("DELETE", self._path(), params={"force": force, "v": v})

    def logs(self, tail: int | str = "all") -> bytes:
        """stdout and stderr, interleaved as written (the engine's multiplexed frames, unwrapped)."""
        raw = self.client.engine.request("GET", self._path("logs"),
                                         params={"stdout": 1, "stderr": 1, "tail": tail}).read()
        if (self.attrs.get("Config") or {}).get("Tty"):
            return raw
        out, at = [], 0
        while at + 8 <= len(raw):
            size = int.from_bytes(raw[at + 4:at + 8], "big")
            out.append(raw[at + 8:at + 8 + size])
            at += 8 + size
        return b"".join(out)

    def put_archive(self, path: str, data: bytes) -> bool:
        self.client.engine.request("PUT", self._path("archive"), params={"path": path}, body=data,
                                   content_type="application/x-tar").read()
        return True

    def get_archive(self, path: str, chunk_size: int = READ_SIZE) -> tuple[Iterator[bytes], dict]:
        """A tar of `path`, streamed: (its chunks, the engine's stat of the path)."""
        import base64

        response = self.client.engine.request("GET", self._path("archive"), params={"path": path})
        stat = response.headers.get("x-docker-container-path-stat")
        return response.chunks(chunk_size), (json.loads(base64.b64decode(stat)) if stat else {})


class Volume(Resource):
    def reload(self) -> None:
        self.attrs = self.client.engine.call("GET", f"/volumes/{self.name}")

    def remove(self, force: bool = False) -> None:
        self.client.engine.call("DELETE", f"/volumes/{self.name}", params={"force": force})


class Network(Resource):
    @property
    def containers(self) -> list[Container]:
        """The containers attached (as of the last reload: a listed network's attrs name none)."""
        found = []
        for container_id in (self.attrs.get("Containers") or {}):
            try:
                found.append(self.client.containers.get(container_id))
            except NotFound:
                pass
        return found

    def reload(self) -> None:
        self.attrs = self.client.engine.call("GET", f"/networks/{self.id}")

    def connect(self, container: Container | str, aliases: list[str] | None = None) -> None:
        target = container.id if isinstance(container, Container) else container
        self.client.engine.call("POST", f"/networks/{self.id}/connect",
                                json_body={"Container": target, "EndpointConfig": {"Aliases": aliases or []}})

    def remove(self) -> None:
        self.client.engine.call("DELETE", f"/networks/{self.id}")


class Image(Resource):
    @property
    def tags(self) -> list[str]:
        return [t for t in self.attrs.get("RepoTags") or [] if t != "<none>:<none>"]

    @property
    def short_id(self) -> str:
        return self.id[:19] if self.id.startswith("sha256:") else self.id[:12]

    @property
    def name(self) -> str:
        return self.tags[0] if self.tags else self.short_id


# -- the collections -----------------------------------------------------------------------------------


class _Collection:
    def __init__(self, client: "Client"):
        self.client = client


class Containers(_Collection):
    def get(self, name_or_id: str) -> Container:
        return Container(self.client, self.client.engine.call("GET", f"/containers/{name_or_id}/json"))

    def list(self, all: bool = False, filters: Mapping[str, Any] | None = None,  # noqa: A002 - the SDK's name
             ignore_removed: bool = False) -> list[Container]:
        """Inspected, as the SDK gives them; one removed between the listing and its inspection is skipped
        with `ignore_removed`."""
        summaries = self.client.engine.call("GET", "/containers/json",
                                            params={"all": all, "filters": _filters(filters)}) or []
        found = []
        for summary in summaries:
            try:
                found.append(self.get(summary["Id"]))
            except NotFound:
                if not ignore_removed:
                    raise
        return found

    def create(self, image: str, command: list[str] | None = None, *, name: str | None = None,
               environment: Mapping[str, str] | None = None, labels: Mapping[str, str] | None = None,
               ports: Mapping[str, tuple[str, int]] | None = None,
               volumes: Mapping[str, Mapping[str, str]] | None = None, network: str | None = None,
               network_mode: str | None = None, mem_limit: str | int | None = None,
               restart_policy: Mapping[str, Any] | None = None) -> Container:
        """`ports`: {"3306/tcp": (host_ip, host_port)}; `volumes`: {volume: {"bind": path, "mode": "rw"}}."""
        host: dict[str, Any] = {}
        config: dict[str, Any] = {"Image": image, "Labels": dict(labels or {}), "HostConfig": host}
        if command is not None:
            config["Cmd"] = list(command)
        if environment:
            config["Env"] = [f"{k}={v}" for k, v in environment.items()]
        if ports:
            config["ExposedPorts"] = {port: {} for port in ports}
            host["PortBindings"] = {port: [{"HostIp": ip, "HostPort": str(number)}]
                                    for port, (ip, number) in ports.items()}
        if volumes:
            host["Binds"] = [f"{source}:{mount['bind']}:{mount.get('mode', 'rw')}" for source, mount in volumes.items()]
        if network:
            host["NetworkMode"] = network
            config["NetworkingConfig"] = {"EndpointsConfig": {network: {}}}
        elif network_mode:
            host["NetworkMode"] = network_mode
        if mem_limit is not None:
            host["Memory"] = parse_bytes(mem_limit)
        if restart_policy:
            host["RestartPolicy"] = dict(restart_policy)
        made = self.client.engine.call("POST", "/containers/create", params={"name": name}, json_body=config)
        return self.get(made["Id"])

    def run(self, image: str, command: list[str] | None = None, **options: Any) -> Container:
        """Create and start (detached): the container, inspected after its start."""
        container = self.create(image, command, **options)
        container.start()
        container.reload()
        return container


class Volumes(_Collection):
    def get(self, name: str) -> Volume:
        return Volume(self.client, self.client.engine.call("GET", f"/volumes/{name}"))

    def list(self, filters: Mapping[str, Any] | None = None) -> list[Volume]:
        found = self.client.engine.call("GET", "/volumes", params={"filters": _filters(filters)}) or {}
        return [Volume(self.client, attrs) for attrs in found.get("Volumes") or []]

    def create(self, name: str, labels: Mapping[str, str] | None = None) -> Volume:
        return Volume(self.client, self.client.engine.call("POST", "/volumes/create",
                                                           json_body={"Name": name, "Labels": dict(labels or {})}))


class Networks(_Collection):
    def get(self, name_or_id: str) -> Network:
        return Network(self.client, self.client.engine.call("GET", f"/networks/{name_or_id}"))

    def list(self, filters: Mapping[str, Any] | None = None) -> list[Network]:
        found = self.client.engine.call("GET", "/networks", params={"filters": _filters(filters)}) or []
        return [Network(self.client, attrs) for attrs in found]

    def create(self, name: str, driver: str = "bridge", labels: Mapping[str, str] | None = None) -> Network:
        # CheckDuplicate: engines before API 1.44 otherwise allow two networks of one name
        made = self.client.engine.call("POST", "/networks/create", json_body={
            "Name": name, "Driver": driver, "Labels": dict(labels or {}), "CheckDuplicate": True})
        return self.get(made["Id"])


class Images(_Collection):
    def get(self, name: str) -> Image:
        return Image(self.client, self.client.engine.call("GET", f"/images/{name}/json"))

    def list(self, filters: Mapping[str, Any] | None = None) -> list[Image]:
        summaries = self.client.engine.call("GET", "/images/json", params={"filters": _filters(filters)}) or []
        found = []
        for summary in summaries:
            try:
                found.append(self.get(summary["Id"]))
            except NotFound:  # removed meanwhile
                pass
        return found

    def pull(self, repository: str, tag: str | None = "latest") -> Image:
        """`tag` None: `repository` is a whole reference (name@sha256:..., pinned by digest)."""
        _stream_errors(self.client.engine.request("POST", "/images/create",
                                                  params={"fromImage": repository, "tag": tag}))
        return self.get(repository if tag is None else f"{repository}:{tag}")

    def import_tar(self, chunks: Iterable[bytes], *, repository: str, tag: str, changes: list[str]) -> None:
        """A new image from a tar stream (as `docker import`); `changes` are Dockerfile lines (CMD, LABEL)."""
        response = self.client.engine.request(
            "POST", "/images/create", params={"fromSrc": "-", "repo": repository, "tag": tag, "changes": changes},
            body=chunks, content_type="application/x-tar")
        _stream_errors(response)

    def remove(self, image: str, force: bool = False, noprune: bool = False) -> None:
        self.client.engine.call("DELETE", f"/images/{image}", params={"force": force, "noprune": noprune})


class Client:
    """What devenv asks of one engine."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.containers, self.volumes = Containers(self), Volumes(self)
        self.networks, self.images = Networks(self), Images(self)

    def version(self) -> dict:
        return self.engine.call("GET", "/version", versioned=False)


def connect(environ: Mapping[str, str] = os.environ, timeout: float = 60) -> Client:
    """A client of DOCKER_HOST's engine, speaking its API version; Unreachable when none answers."""
    engine = Engine(Endpoint.from_environment(environ), timeout)
    engine.negotiate()
    return Client(engine)
