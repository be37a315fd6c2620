"""Profiles: load `profiles/*.yaml`, validate strictly (every problem at once, with file, line
and field), apply defaults in one place, and return frozen dataclasses."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from devenv.errors import ProfileError
from devenv.domain.profile_namespace import NamespaceSpec, parse_namespace
from devenv.domain.profile_registries import parse_registries
from devenv.domain.profile_secrets import SecretSpec, parse_secrets

PROFILE_VERSION = 1
TARGETS = ("kind", "namespace", "docker")
DELIVERIES = ("apply", "flux")
SERVICE_TYPES = ("mariadb", "opensearch", "aws")
# The connection facts each kind of swap exposes, usable as {services.<name>.<fact>}.
FACTS = {
    "mariadb": ("host", "port", "url", "user", "password", "database"),
    "opensearch": ("host", "port", "url"),
    "aws": ("host", "port", "url", "region", "access_key_id", "secret_access_key"),
}
DEFAULT_VERSIONS = {"mariadb": "10.11", "opensearch": "2", "aws": "5.2.3"}  # aws: moto's release
DEFAULT_PORTS = {"mariadb": 3306, "opensearch": 9200}
SEED_SUFFIXES = {"mariadb": (".sql", ".sql.gz"), "opensearch": (".json", ".ndjson")}
# The kind node image when the profile pins none: devenv documents no kind release, so this is a node image
# kind publishes for its v0.27 release (Kubernetes 1.32); `kind.nodeImage` pins another.
DEFAULT_NODE_IMAGE = "kindest/node:v1.32.2"
# Host ports (on 127.0.0.1) for the cluster's ingress: unprivileged, so a laptop needs no root for them.
DEFAULT_INGRESS_PORTS = {"http": 8080, "https": 8443}


def _shipped(in_package: str, in_repository: str) -> Path:
    """A folder devenv ships: inside the package in a regular install (pyproject.toml maps it there), at the
    top of the repository in a checkout or an editable install."""
    package = Path(__file__).resolve().parents[1]  # devenv/
    return package / in_package if (package / in_package).is_dir() else package.parent / in_repository


BUILTIN_PROFILES = _shipped("builtin_profiles", "profiles")
EMBEDDED_PLATFORM = _shipped("embedded_platform", "components")

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_VERSION = re.compile(r"^\d+(\.\d+){0,2}$")
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_SIZE = re.compile(r"^\d+[kmgKMG]?$")
_VAR_NAME = re.compile(r"^[_a-zA-Z][_a-zA-Z0-9]*$")
# An image reference as Docker's reference grammar reads it (distribution/reference), with a tag or a digest:
# [registry[:port]/]path[:tag][@algorithm:hex]. Without either, kind would pull whatever `latest` is.
_IMAGE_PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
# The first part is a registry only when it has a '.' or a port, or is localhost (as Docker decides).
_HOST_PART = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_IMAGE_DOMAIN = rf"(?:(?:{_HOST_PART}(?:\.{_HOST_PART})+|localhost)(?::\d+)?/|{_HOST_PART}:\d+/)"
_IMAGE = re.compile(rf"^{_IMAGE_DOMAIN}?{_IMAGE_PATH}(?::(?P<tag>[\w][\w.-]{{0,127}}))?"
                    rf"(?:@(?P<digest>[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{{32,}}))?$")
# `{services.db.host}`, `{env.name}`: a reference; `{{` writes a literal `{`; any other brace is
# literal text, so JSON and YAML flow values (`{owner: dev}`) need no escaping.
_TEMPLATE_PART = re.compile(r"\{\{|\{([A-Za-z_][\w-]*(?:\.[\w-]+)+)\}")


@dataclass(frozen=True)
class ServiceSpec:
    """One data service swapped in for a managed AWS one."""

    name: str
    type: str
    version: str
    image: str | None = None  # None: the official image for type:version (or DEVENV_<TYPE>_IMAGE)
    port: int | None = None  # preferred host port; a free one is picked when taken (unless pinned)
    port_pinned: bool = False  # the profile names the port: taken by something else, `up` stops
    database: str = "app"
    user: str = "app"
    seed: tuple[Path, ...] = ()
    heap: str = "512m"  # opensearch JVM heap
    memory: str | None = None  # container memory limit, e.g. 1g


@dataclass(frozen=True)
class EnvironmentSpec:
    """The `environment` ConfigMap (and its Secret) devenv writes in place of Terraform."""

    name: str = "environment"
    namespace: str = "flux-system"
    data: Mapping[str, str] = field(default_factory=dict)
    secret_name: str = "environment-secrets"
    secret_data: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SubstitutionObject:
    """One more ConfigMap or Secret devenv writes for postBuild.substituteFrom, in any namespace."""

    kind: str  # ConfigMap | Secret
    name: str
    namespace: str
    data: Mapping[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


@dataclass(frozen=True)
class KindSpec:
    """The kind cluster of a `target: kind` profile: its node image and the host ports of its ingress."""

    node_image: str = DEFAULT_NODE_IMAGE
    http_port: int = DEFAULT_INGRESS_PORTS["http"]  # 127.0.0.1:<port> -> the node's port 80
    https_port: int = DEFAULT_INGRESS_PORTS["https"]  # 127.0.0.1:<port> -> the node's port 443
    ports_pinned: bool = False  # set in the profile: `up` stops when one is taken; else free ones are used


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    target: str
    mirror: str
    path: Path
    delivery: str = "apply"
    exclude: tuple[str, ...] = ()
    services: tuple[ServiceSpec, ...] = ()
    environment: EnvironmentSpec = field(default_factory=EnvironmentSpec)
    ingress_class: str = "nginx"
    storage_class: str = "standard"
    ttl: str = "8h"
    ttl_seconds: int = 8 * 3600
    sources: Mapping[str, Path] = field(default_factory=dict)  # "Kind/namespace/name" -> local folder
    substitute_from: tuple[SubstitutionObject, ...] = ()  # beside the environment ConfigMap/Secret
    # Left-out AWS secret stores replaced by external-secrets' fake provider: store ("Kind/name" or
    # "Kind/namespace/name") -> remote key -> template (or property -> template).
    secret_stores: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    kind: KindSpec = field(default_factory=KindSpec)
    namespace: NamespaceSpec = field(default_factory=NamespaceSpec)
    contexts: tuple[str, ...] = ()  # the kubeconfig contexts a namespace environment may be made in
    secrets: tuple[SecretSpec, ...] = ()  # Secrets Manager secrets seeded into the profile's aws service
    # Hosts (host[:port], lower-case) of the private registries the kind target logs its node and Flux's OCI
    # sources in to, with the credentials the user's docker configuration resolves for each at every up/sync.
    registries: tuple[str, ...] = ()

    def service(self, name: str) -> ServiceSpec:
        for svc in self.services:
            if svc.name == name:
                return svc
        raise KeyError(name)


def parse_duration(text: str) -> int | None:
    """'8h', '30m', '1d12h', '90s' -> seconds; '0' -> 0 (never expires); None when malformed."""
    text = str(text).strip()
    if text == "0":
        return 0
    match = _DURATION.match(text)
    if not text or not match or not any(match.groups()):
        return None
    d, h, m, s = (int(g or 0) for g in match.groups())
    return ((d * 24 + h) * 60 + m) * 60 + s


def render_template(template: str, facts: Mapping[str, Mapping[str, Any]], env: Mapping[str, str]) -> str:
    """Fill `{services.<name>.<fact>}` and `{env.<key>}` references (validated at load time);
    `{{` gives `{`."""

    def value(match: re.Match) -> str:
        if match.group(1) is None:
            return "{"
        parts = match.group(1).split(".")
        if parts[0] == "env":
            return str(env[parts[1]])
        return str(facts[parts[1]][parts[2]])

    return _TEMPLATE_PART.sub(value, template)


def template_references(template: str) -> list[str]:
    """The references of a template (`services.db.host`, `env.name`), escapes left out."""
    return [m.group(1) for m in _TEMPLATE_PART.finditer(template) if m.group(1) is not None]


def find_profile(ref: str, search: list[Path] | None = None) -> Path:
    """A profile by path, or by name in ./profiles then devenv's built-in profiles/."""
    candidate = Path(ref)
    if candidate.suffix in (".yaml", ".yml") or os.sep in ref or "/" in ref:
        if candidate.is_file():
            return candidate
        raise ProfileError(f"profile file {ref} does not exist")
    dirs = search if search is not None else [Path.cwd() / "profiles", BUILTIN_PROFILES]
    for folder in dirs:
        for suffix in (".yaml", ".yml"):
            path = folder / f"{ref}{suffix}"
            if path.is_file():
                return path
    known = sorted({p.stem for folder in dirs if folder.is_dir() for p in folder.glob("*.y*ml")})
    raise ProfileError(
        f"no profile named {ref!r}",
        context=[f"looked in: {', '.join(str(d) for d in dirs)}"],
        hint=f"known profiles: {', '.join(known) or 'none'}; or pass a path to a profile file",
    )


def list_profiles(search: list[Path] | None = None) -> list[Path]:
    dirs = search if search is not None else [Path.cwd() / "profiles", BUILTIN_PROFILES]
    seen: dict[str, Path] = {}
    for folder in dirs:
        if folder.is_dir():
            for path in sorted(folder.glob("*.y*ml")):
                seen.setdefault(path.stem, path)
    return list(seen.values())


def load_profile(ref: str | os.PathLike) -> Profile:
    """Find, parse and validate a profile; raise ProfileError listing every problem."""
    path = find_profile(str(ref))
    try:
        text = path.read_text()
    except OSError as exc:
        raise ProfileError(f"cannot read profile {path}: {exc.strerror}") from None
    data, lines = _parse(text, path)
    return _Validator(path, lines).profile(data)


# -- parsing with line numbers -------------------------------------------------------------------


def _parse(text: str, path: Path) -> tuple[Any, dict[tuple, int]]:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ProfileError(f"profile {path} is not valid YAML", context=[f"{where}: {problem}"]) from None
    finally:
        loader.dispose()
    if node is None:
        raise ProfileError(f"profile {path} is empty", context=[f"{path}:1: expected a mapping with version: 1"])
    lines: dict[tuple, int] = {}
    duplicates: list[str] = []
    data = _to_data(node, (), lines, loader, path, duplicates)
    if duplicates:
        raise ProfileError(f"profile {path} has duplicate keys", context=duplicates)
    return data, lines


def _to_data(node, at: tuple, lines: dict, loader, path: Path, duplicates: list[str]) -> Any:
    lines.setdefault(at, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in out:
                duplicates.append(f"{path}:{key_node.start_mark.line + 1}: {_dotted(at + (key,))}: duplicate key")
            lines[at + (key,)] = key_node.start_mark.line + 1
            out[key] = _to_data(value_node, at + (key,), lines, loader, path, duplicates)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_data(item, at + (i,), lines, loader, path, duplicates) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def _dotted(at: tuple) -> str:
    out = ""
    for part in at:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


# -- validation ----------------------------------------------------------------------------------


class _Validator:
    """Collects every problem as `file:line: field: why`, then raises them together."""

    def __init__(self, path: Path, lines: dict[tuple, int]):
        self.path = path
        self.lines = lines
        self.problems: list[str] = []
        self.invalid_services: set[str] = set()  # named, but with a bad type: references to them are not checked

    def problem(self, at: tuple, why: str) -> None:
        line = self.lines.get(at)
        probe = at
        while line is None and probe:
            probe = probe[:-1]
            line = self.lines.get(probe)
        self.problems.append(f"{self.path}:{line or 1}: {_dotted(at)}: {why}")

    def mapping(self, value: Any, at: tuple, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> dict:
        if not isinstance(value, dict):
            self.problem(at, f"must be a mapping, not {_type_name(value)}")
            return {}
        for key in value:
            if key not in allowed:
                self.problem(at + (key,), f"unknown field (allowed: {', '.join(allowed)})")
        for key in required:
            if key not in value:
                self.problem(at, f"missing required field {key!r}")
        return value

    def string(self, value: Any, at: tuple, *, pattern: re.Pattern | None = None, choices: tuple = (),
               hint: str = "") -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            extra = f" (quote it: \"{value}\")" if isinstance(value, (int, float)) and not isinstance(value, bool) else ""
            self.problem(at, f"must be a string, not {_type_name(value)}{extra}")
            return None
        if choices and value not in choices:
            self.problem(at, f"{value!r} is not one of {', '.join(choices)}")
            return None
        if pattern and not pattern.match(value):
            self.problem(at, f"{value!r} is not valid{': ' + hint if hint else ''}")
            return None
        return value

    def profile(self, data: Any) -> Profile:
        top = ("version", "name", "description", "target", "delivery", "mirror", "exclude", "services",
               "environment", "substituteFrom", "secretStores", "ingressClass", "storageClass", "ttl", "sources", "kind",
               "namespace", "contexts", "secrets", "registries")
        data = self.mapping(data, (), top, required=("version", "name", "target"))
        if "version" in data and data["version"] != PROFILE_VERSION:
            self.problem(("version",), f"unsupported version {data['version']!r} (this devenv reads version {PROFILE_VERSION})")
        name = self.string(data.get("name"), ("name",), pattern=_NAME, hint="lowercase letters, digits and '-'")
        description = self.string(data.get("description", ""), ("description",)) or ""
        target = self.string(data.get("target"), ("target",), choices=TARGETS)
        delivery = self.string(data.get("delivery", "apply"), ("delivery",), choices=DELIVERIES) or "apply"
        mirror = self.string(data.get("mirror"), ("mirror",))
        if "mirror" not in data and target in ("kind", "namespace"):  # docker: the data services alone, no cluster
            self.problem((), f"missing required field 'mirror' (the cluster folder a {target} environment reproduces)")
        if mirror is not None and (Path(mirror).is_absolute() or ".." in Path(mirror).parts):
            self.problem(("mirror",), f"{mirror!r} must be a folder inside the platform, e.g. clusters/production")
        exclude = self.string_list(data.get("exclude", []), ("exclude",))
        services = self.services(data.get("services", {}))
        environment = self.environment(data.get("environment", {}), services)
        ingress = self.string(data.get("ingressClass", "nginx"), ("ingressClass",), pattern=_NAME) or "nginx"
        storage = self.string(data.get("storageClass", "standard"), ("storageClass",), pattern=_NAME) or "standard"
        ttl = data.get("ttl", "8h")
        ttl_seconds = parse_duration(ttl) if isinstance(ttl, (str, int)) and not isinstance(ttl, bool) else None
        if ttl_seconds is None:
            self.problem(("ttl",), f"{ttl!r} is not a duration (e.g. 8h, 30m, 2d; 0 for never)")
        sources = self.sources(data.get("sources", {}))
        substitute_from = self.substitute_from(data.get("substituteFrom", []), services, environment)
        secret_stores = self.secret_stores(data.get("secretStores", {}), services)
        kind = self.kind(data["kind"], target) if "kind" in data else KindSpec()
        namespace = parse_namespace(self, data["namespace"], target) if "namespace" in data else NamespaceSpec()
        contexts = self.string_list(data.get("contexts", []), ("contexts",))
        secrets = parse_secrets(self, data.get("secrets", {}), services)
        registries = parse_registries(self, data["registries"], target) if "registries" in data else ()
        if self.problems:
            raise ProfileError(f"profile {self.path} is invalid ({len(self.problems)} problem"
                               f"{'s' if len(self.problems) > 1 else ''})", context=self.problems)
        return Profile(
            name=name, description=description, target=target, mirror=(mirror or "").strip("/").removeprefix("./"),
            path=self.path, delivery=delivery, exclude=tuple(exclude), services=services,
            environment=environment, ingress_class=ingress, storage_class=storage, ttl=str(ttl),
            ttl_seconds=ttl_seconds, sources=sources, substitute_from=substitute_from, secret_stores=secret_stores,
            kind=kind, namespace=namespace, contexts=tuple(contexts), secrets=secrets,
            registries=registries,
        )

    def kind(self, value: Any, target: str | None) -> KindSpec:
        at = ("kind",)
        if target is not None and target != "kind":
            self.problem(at, f"only a `target: kind` profile has a kind cluster (this one has target {target})")
            return KindSpec()
        value = self.mapping(value, at, ("nodeImage", "ingress"))
        image = value.get("nodeImage", DEFAULT_NODE_IMAGE)
        if self.string(image, at + ("nodeImage",)) is not None:
            match = _IMAGE.match(image)
            if not match or not (match.group("tag") or match.group("digest")):
                self.problem(at + ("nodeImage",), f"{image!r} is not an image reference with a tag or a digest "
                                                  f"(e.g. {DEFAULT_NODE_IMAGE}, or kindest/node@sha256:...)")
                image = DEFAULT_NODE_IMAGE
        else:
            image = DEFAULT_NODE_IMAGE
        ingress = self.mapping(value.get("ingress", {}), at + ("ingress",), tuple(DEFAULT_INGRESS_PORTS))
        ports = {}
        for key, default in DEFAULT_INGRESS_PORTS.items():
            port = ingress.get(key, default)
            if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
                self.problem(at + ("ingress", key), f"{port!r} is not a port number (1-65535)")
                port = default
            ports[key] = port
        if ports["http"] == ports["https"]:
            self.problem(at + ("ingress", "https"), f"{ports['https']} is also kind.ingress.http: HTTP and HTTPS "
                                                    "need a host port each")
        return KindSpec(node_image=image, http_port=ports["http"], https_port=ports["https"],
                        ports_pinned=bool(ingress))

    def string_list(self, value: Any, at: tuple) -> list[str]:
        if not isinstance(value, list):
            self.problem(at, f"must be a list, not {_type_name(value)}")
            return []
        return [s for i, item in enumerate(value) if (s := self.string(item, at + (i,))) is not None]

    def services(self, value: Any) -> tuple[ServiceSpec, ...]:
        at = ("services",)
        if not isinstance(value, dict):
            self.problem(at, f"must be a mapping of service name to settings, not {_type_name(value)}")
            return ()
        fields = ("type", "version", "image", "port", "database", "user", "seed", "heap", "memory")
        out = []
        for name, spec in value.items():
            here = at + (name,)
            if not isinstance(name, str) or not _NAME.match(name):
                self.problem(here, f"service name {name!r} must be lowercase letters, digits and '-'")
                continue
            spec = self.mapping(spec, here, fields, required=("type",))
            kind = self.string(spec.get("type"), here + ("type",), choices=SERVICE_TYPES)
            if kind is None:
                self.invalid_services.add(name)
            version = spec.get("version", DEFAULT_VERSIONS.get(kind or "", ""))
            if kind is not None or "version" in spec:  # no default version to check for an unknown type
                version = self.string(version, here + ("version",), pattern=_VERSION,
                                      hint="a version such as 10.11 or 2.17.1")
            image = self.string(spec.get("image"), here + ("image",))
            port = spec.get("port", DEFAULT_PORTS.get(kind or ""))
            if port is not None and (not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535):
                self.problem(here + ("port",), f"{port!r} is not a port number (1-65535)")
                port = None
            for key in ("database", "user"):
                self.string(spec.get(key), here + (key,), pattern=re.compile(r"^[A-Za-z0-9_]{1,64}$"),
                            hint="letters, digits and '_'")
            heap = self.string(spec.get("heap", "512m"), here + ("heap",), pattern=_SIZE, hint="e.g. 512m or 1g")
            memory = self.string(spec.get("memory"), here + ("memory",), pattern=_SIZE, hint="e.g. 1g")
            seeds = self.seeds(spec.get("seed", []), here + ("seed",), kind)
            if kind is None or version is None:
                continue
            out.append(ServiceSpec(
                name=name, type=kind, version=version, image=image, port=port, port_pinned="port" in spec,
                database=spec.get("database") or "app", user=spec.get("user") or "app",
                seed=seeds, heap=heap or "512m", memory=memory,
            ))
        return tuple(out)

    def seeds(self, value: Any, at: tuple, kind: str | None) -> tuple[Path, ...]:
        out = []
        for i, entry in enumerate(self.string_list(value, at)):
            path = (self.path.parent / entry).resolve()
            suffixes = SEED_SUFFIXES.get(kind or "", ())
            if suffixes and not entry.endswith(suffixes):
                self.problem(at + (i,), f"{entry!r}: a {kind} seed file must end with {' or '.join(suffixes)}")
            elif not path.is_file():
                self.problem(at + (i,), f"seed file {entry!r} not found (looked for {path})")
            out.append(path)
        return tuple(out)

    def environment(self, value: Any, services: tuple[ServiceSpec, ...]) -> EnvironmentSpec:
        at = ("environment",)
        value = self.mapping(value, at, ("name", "namespace", "data", "secretName", "secretData"))
        name = self.string(value.get("name", "environment"), at + ("name",), pattern=_NAME) or "environment"
        namespace = self.string(value.get("namespace", "flux-system"), at + ("namespace",), pattern=_NAME) or "flux-system"
        secret_name = self.string(value.get("secretName", "environment-secrets"), at + ("secretName",),
                                  pattern=_NAME) or "environment-secrets"
        data = self.templates(value.get("data", {}), at + ("data",), services)
        secret_data = self.templates(value.get("secretData", {}), at + ("secretData",), services)
        return EnvironmentSpec(name=name, namespace=namespace, data=data, secret_name=secret_name, secret_data=secret_data)

    def templates(self, value: Any, at: tuple, services: tuple[ServiceSpec, ...], *,
                  flux_names: bool = True) -> dict[str, str]:
        if value is None:  # `data:` left empty
            return {}
        if not isinstance(value, dict):
            self.problem(at, f"must be a mapping of KEY: template, not {_type_name(value)}")
            return {}
        kinds = {svc.name: svc.type for svc in services}
        out = {}
        for key, template in value.items():
            here = at + (key,)
            if flux_names and (not isinstance(key, str) or not _VAR_NAME.match(key)):
                self.problem(here, f"{key!r} is not a valid Flux variable name (letters, digits, '_'; not starting with a digit)")
                continue
            if isinstance(template, bool) or template is None or isinstance(template, (dict, list)):
                self.problem(here, f"must be a string template, not {_type_name(template)}")
                continue
            template = str(template)
            for ref in template_references(template):
                parts = ref.split(".")
                if parts[0] == "env" and len(parts) == 2 and parts[1] in ("name", "namespace"):
                    continue
                if parts[0] == "services" and len(parts) == 3:
                    if parts[1] in self.invalid_services:
                        continue  # its type is already reported: no follow-up errors
                    if parts[1] not in kinds:
                        self.problem(here, f"{{{ref}}}: no service named {parts[1]!r} in services")
                    elif parts[2] not in FACTS[kinds[parts[1]]]:
                        self.problem(here, f"{{{ref}}}: service {parts[1]!r} ({kinds[parts[1]]}) has no fact {parts[2]!r} "
                                           f"(it has: {', '.join(FACTS[kinds[parts[1]]])})")
                    continue
                self.problem(here, f"{{{ref}}} is not a known reference "
                                   "(use {services.<name>.<fact>}, {env.name} or {env.namespace}; "
                                   "{{ writes a literal {)")
            out[str(key)] = template
        return out

    def substitute_from(self, value: Any, services: tuple[ServiceSpec, ...],
                        environment: EnvironmentSpec) -> tuple[SubstitutionObject, ...]:
        at = ("substituteFrom",)
        if not isinstance(value, list):
            self.problem(at, f"must be a list of {{kind, name, namespace, data}}, not {_type_name(value)}")
            return ()
        seen = {("ConfigMap", environment.namespace, environment.name)}
        if environment.secret_data:
            seen.add(("Secret", environment.namespace, environment.secret_name))
        out = []
        for i, entry in enumerate(value):
            here = at + (i,)
            entry = self.mapping(entry, here, ("kind", "name", "namespace", "data"), required=("kind", "name", "data"))
            kind = self.string(entry.get("kind"), here + ("kind",), choices=("ConfigMap", "Secret"))
            name = self.string(entry.get("name"), here + ("name",), pattern=_NAME, hint="a Kubernetes object name")
            namespace = self.string(entry.get("namespace", "flux-system"), here + ("namespace",), pattern=_NAME,
                                    hint="a Kubernetes namespace")
            data = self.templates(entry.get("data", {}), here + ("data",), services)
            if kind is None or name is None or namespace is None:
                continue
            if (kind, namespace, name) in seen:
                self.problem(here, f"{kind} {namespace}/{name} is generated twice (by `environment` or an "
                                   f"earlier entry)")
                continue
            seen.add((kind, namespace, name))
            out.append(SubstitutionObject(kind, name, namespace, data))
        return tuple(out)

    def secret_stores(self, value: Any, services: tuple[ServiceSpec, ...]) -> dict[str, dict[str, Any]]:
        at = ("secretStores",)
        if not isinstance(value, dict):
            self.problem(at, f"must be a mapping of store (Kind/name or Kind/namespace/name) to its keys, "
                             f"not {_type_name(value)}")
            return {}
        out: dict[str, dict[str, Any]] = {}
        for store, keys in value.items():
            here = at + (store,)
            parts = str(store).split("/")
            if parts[0] not in ("ClusterSecretStore", "SecretStore") or len(parts) not in (2, 3) or not all(parts):
                self.problem(here, f"{store!r} must read ClusterSecretStore/name or SecretStore/namespace/name")
                continue
            if not isinstance(keys, dict):
                self.problem(here, f"must be a mapping of remote key to a template (or to property: template), "
                                   f"not {_type_name(keys)}")
                continue
            entries: dict[str, Any] = {}
            for key, template in keys.items():
                if isinstance(template, dict):
                    entries[str(key)] = self.templates(template, here + (key,), services, flux_names=False)
                else:
                    entries.update(self.templates({key: template}, here, services, flux_names=False))
            out[str(store)] = entries
        return out

    def sources(self, value: Any) -> dict[str, Path]:
        at = ("sources",)
        if not isinstance(value, dict):
            self.problem(at, f"must be a mapping of Kind/namespace/name to a local folder, not {_type_name(value)}")
            return {}
        out = {}
        for ref, folder in value.items():
            if not isinstance(ref, str) or ref.count("/") != 2:
                self.problem(at + (ref,), f"{ref!r} must read Kind/namespace/name, e.g. GitRepository/flux-system/shared")
                continue
            if self.string(folder, at + (ref,)) is not None:
                out[ref] = (self.path.parent / folder).resolve()
        return out


def _type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "empty"}.get(type(value), type(value).__name__)
