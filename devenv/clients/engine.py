"""Which Docker engine to use, as the docker CLI chooses it: DOCKER_HOST, else DOCKER_CONTEXT, else the docker
config's currentContext, else the default socket; and the environment that hands the same engine to the `docker`
and `kind` processes devenv runs. Standard library only (no SDK import), so every command may ask."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from devenv.errors import DockerUnavailable

DEFAULT_HOST = "unix:///var/run/docker.sock"
# the variables the docker CLI reads to choose an engine: replaced as a whole in a subprocess's environment
ENGINE_VARIABLES = ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")


@dataclass(frozen=True)
class Engine:
    host: str  # unix:///path, tcp://host:port, ssh://...
    reason: str  # why this engine: "DOCKER_HOST is set", "docker context colima (DOCKER_CONTEXT)", ...
    context: str | None = None  # the docker context it came from
    tls: Mapping[str, str] = field(default_factory=dict)  # DOCKER_TLS_VERIFY / DOCKER_CERT_PATH for this engine

    @property
    def tried(self) -> str:
        """What devenv tried, for an error's context line."""
        if self.reason == "DOCKER_HOST is set":
            return f"DOCKER_HOST={self.host}"
        if self.context is None:
            return f"DOCKER_HOST is not set, so the default {self.host}"
        return f"{self.host} ({self.reason})"

    def environment(self) -> dict[str, str]:
        """The engine variables a `docker` or `kind` process gets: this engine, whatever the context says."""
        return {"DOCKER_HOST": self.host, **self.tls}


def config_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """The docker CLI's configuration directory: DOCKER_CONFIG, else ~/.docker."""
    return Path(environ.get("DOCKER_CONFIG") or Path(environ.get("HOME") or Path.home()) / ".docker")


def resolve(environ: Mapping[str, str] = os.environ) -> Engine:
    """The engine the docker CLI would use; DockerUnavailable when the named context does not exist."""
    if environ.get("DOCKER_HOST"):
        tls = {k: environ[k] for k in ("DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH") if environ.get(k)}
        return Engine(environ["DOCKER_HOST"], "DOCKER_HOST is set", tls=tls)
    folder = config_dir(environ)
    if environ.get("DOCKER_CONTEXT"):
        name, why = environ["DOCKER_CONTEXT"], "DOCKER_CONTEXT"
    else:
        name, why = _current_context(folder / "config.json"), f"currentContext in {folder / 'config.json'}"
    if not name or name == "default":
        reason = "the default socket: no DOCKER_HOST, no docker context" if not name else f"docker context default ({why})"
        return Engine(DEFAULT_HOST, reason)
    context_id = hashlib.sha256(name.encode()).hexdigest()
    meta = folder / "contexts" / "meta" / context_id / "meta.json"
    try:
        endpoint = json.loads(meta.read_text())["Endpoints"]["docker"]
        host = endpoint["Host"]
    except FileNotFoundError:
        raise DockerUnavailable(f"the docker context {name} ({why}) does not exist",
                                context=[f"looked for: {meta}"],
                                hint="`docker context ls` lists the contexts; `docker context use NAME` picks one, "
                                     "or unset DOCKER_CONTEXT") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DockerUnavailable(f"the docker context {name} ({why}) cannot be read",
                                context=[f"file: {meta}", f"why: {type(exc).__name__}: {exc}"],
                                hint=f"recreate it (`docker context rm {name}`, then `docker context create`)") from None
    tls: dict[str, str] = {}
    certs = folder / "contexts" / "tls" / context_id / "docker"
    if certs.is_dir():
        tls["DOCKER_CERT_PATH"] = str(certs)
        if not endpoint.get("SkipTLSVerify"):
            tls["DOCKER_TLS_VERIFY"] = "1"
    return Engine(host, f"docker context {name} ({why})", context=name, tls=tls)


def _current_context(config: Path) -> str | None:
    try:
        return json.loads(config.read_text()).get("currentContext") or None
    except (OSError, ValueError, AttributeError):
        return None  # as the docker CLI: no (readable) config, no current context


def subprocess_environment(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """`environ` with the engine variables replaced by the resolved engine's (for `docker` and `kind`)."""
    chosen = resolve(environ)
    return {**{k: v for k, v in environ.items() if k not in ENGINE_VARIABLES}, **chosen.environment()}
