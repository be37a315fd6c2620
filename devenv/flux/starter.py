"""A starting profile for a platform (`devenv init`): its cluster folders, the data services its
variables name, and every variable its Kustomizations read through postBuild.substituteFrom,
mapped to a service fact where the name says so, else a commented placeholder naming its use."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from devenv.errors import PlatformError
from devenv.flux.postbuild import MissingObject, UndefinedVariable
from devenv.flux.render import render_environment
from devenv.domain.profiles import EnvironmentSpec, Profile

# Which swap a variable's name points at, and which fact its suffix asks for.
_SERVICES = (("db", "mariadb", re.compile(r"(^|_)(RDS|DB|DATABASE|MYSQL|MARIADB)(_|$)")),
             ("search", "opensearch", re.compile(r"(^|_)(OPENSEARCH|ES|ELASTICSEARCH)(_|$)")))
_FACTS = ((re.compile(r"_(ENDPOINT|HOST|HOSTNAME|ADDRESS)$"), "host"), (re.compile(r"_PORT$"), "port"),
          (re.compile(r"_(URL|URI)$"), "url"), (re.compile(r"_USER(NAME)?$"), "user"),
          (re.compile(r"_PASSWORD$"), "password"), (re.compile(r"_(DATABASE|DB_NAME|NAME)$"), "database"))
_SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|(^|_)KEY($|_)|CREDENTIAL")
_MARIADB_ONLY = {"user", "password", "database"}


@dataclass
class _Section:
    """One object of the profile: the environment ConfigMap/Secret or a substituteFrom entry."""

    entries: dict[str, str] = field(default_factory=dict)  # KEY -> template
    placeholders: dict[str, str] = field(default_factory=dict)  # KEY -> where it is used
    reads: str = ""  # "ConfigMap ns/name by Kustomization ns/name": where Flux reads the variables from
    note: str = ""  # a comment above the object (e.g. it replaces the repository's copy)


def cluster_folders(platform: Path) -> list[str]:
    clusters = platform / "clusters"
    return sorted(f"clusters/{p.name}" for p in clusters.iterdir() if p.is_dir()) if clusters.is_dir() else []


def fact_for(variable: str) -> tuple[str, str, str] | None:
    """(service name, type, fact) a variable's name maps to, e.g. RDS_ENDPOINT -> (db, mariadb, host)."""
    for service, kind, marker in _SERVICES:
        if marker.search(variable):
            for suffix, fact in _FACTS:
                if suffix.search(variable) and (kind == "mariadb" or fact not in _MARIADB_ONLY):
                    return service, kind, fact
    return None


def starter_profile(platform: Path, name: str, mirror: str | None = None) -> str:
    """The text of a starting profile for `platform` (PlatformError when it has no cluster folder)."""
    folders = cluster_folders(platform)
    if mirror is None:
        if not folders:
            raise PlatformError(f"{platform} has no clusters/ folder to mirror",
                                hint="pass --mirror with the folder holding your cluster's Flux Kustomizations")
        mirror = folders[0]
    probe = Profile(name=name, description="", target="kind", mirror=mirror, path=platform / "profile.yaml",
                    environment=EnvironmentSpec(data={}))
    result = render_environment(probe, name, platform=platform, keep_going=True)
    env = _Section()
    objects: dict[tuple[str, str, str], _Section] = {}
    missing_by_reader: dict[str, list[MissingObject]] = {}
    for m in result.missing_objects:
        objects.setdefault((m.kind, m.namespace, m.name), _Section())
        missing_by_reader.setdefault(m.kustomization_id, []).append(m)
        for key in m.keys:  # a SOPS-encrypted Secret names its keys
            objects[(m.kind, m.namespace, m.name)].placeholders.setdefault(key, f"a key of the SOPS-encrypted {m.id}")
    committed = {_object_key(r): r for _, r in result.resources() if r.get("kind") in ("ConfigMap", "Secret")}
    services: dict[str, str] = {}
    for u in _unique(result.undefined):
        section = _section_for(u, env, objects, missing_by_reader, committed, probe.environment)
        mapped = fact_for(u.name)
        if mapped:
            services[mapped[0]] = mapped[1]
            section.entries[u.name] = f"{{services.{mapped[0]}.{mapped[2]}}}"
            section.placeholders.pop(u.name, None)
        elif u.name not in section.entries:
            where = f"{u.resource} (Kustomization {u.kustomization}{', ' + u.files[0] if u.files else ''})"
            if section.reads:
                where += f"; read from {section.reads}"
            section.placeholders[u.name] = where
    return _write(name, mirror, folders, services, env, objects)


def _unique(undefined: list[UndefinedVariable]) -> list[UndefinedVariable]:
    seen, out = set(), []
    for u in undefined:
        if (u.kustomization, u.name) not in seen:
            seen.add((u.kustomization, u.name))
            out.append(u)
    return out


def _object_key(obj: dict) -> tuple[str, str, str]:
    meta = obj.get("metadata") or {}
    return str(obj.get("kind")), str(meta.get("namespace") or "default"), str(meta.get("name"))


def _section_for(u: UndefinedVariable, env: _Section, objects: dict[tuple[str, str, str], _Section],
                 missing_by_reader: dict[str, list[MissingObject]], committed: dict[tuple[str, str, str], dict],
                 environment: EnvironmentSpec) -> _Section:
    """Where a variable goes: the object its Kustomization reads it from (postBuild.substituteFrom): the
    environment ConfigMap when it reads that, else an object nothing generates (a Secret for secret-looking
    names when it reads one), else a copy of one the repository commits (which the profile's replaces, so it
    starts with the repository's keys); the environment ConfigMap when it reads none."""
    read = list(u.read_from)
    if ("ConfigMap", environment.namespace, environment.name) in read or not read:
        if read:
            env.reads = f"ConfigMap {environment.namespace}/{environment.name}"
        return env
    candidates = missing_by_reader.get(u.kustomization) or []
    secret = bool(_SECRET_NAME.search(u.name))
    if candidates:
        preferred = [m for m in candidates if (m.kind == "Secret") == secret] or candidates
        m = preferred[0]
        section = objects[(m.kind, m.namespace, m.name)]
        section.reads = f"{m.id} by Kustomization {u.kustomization}"
        return section
    key = sorted(read, key=lambda k: (k[0] == "Secret") != secret)[0]
    if key not in objects:
        section = objects[key] = _Section()
        repo_copy = committed.get(key) or {}
        for name in (repo_copy.get("data") or {}):  # the copy replaces the repository's: its keys stay
            if key[0] == "ConfigMap":
                section.entries[str(name)] = str(repo_copy["data"][name]).replace("{", "{{")
            else:
                section.placeholders[str(name)] = f"a key of the repository's {key[0]} {key[1]}/{key[2]}"
        if repo_copy:
            section.note = (f"the repository commits {key[0]} {key[1]}/{key[2]}: this copy replaces it, so it "
                            f"keeps the repository's keys")
    objects[key].reads = f"{key[0]} {key[1]}/{key[2]} by Kustomization {u.kustomization}"
    return objects[key]


def _mapping(section: _Section, indent: str) -> list[str]:
    lines = [f"{indent}{key}: {json.dumps(template)}" for key, template in section.entries.items()]
    for key, where in section.placeholders.items():
        lines.append(f"{indent}# {key}: \"\"    # TODO: used in {where}")
    return lines


def _block(key: str, section: _Section, indent: str) -> list[str]:
    """`key:` with the section's entries below it (`key: {}` when there are only placeholders)."""
    if section.entries:
        return [f"{indent}{key}:"] + _mapping(section, indent + "  ")
    head = [f"{indent}{key}: {{}}"]
    if section.placeholders:
        head.append(f"{indent}  # fill in and uncomment (then remove the {{}} above):")
    return head + _mapping(section, indent + "  ")


def _write(name: str, mirror: str, folders: list[str], services: dict[str, str], env: _Section,
           objects: dict[tuple[str, str, str], _Section]) -> str:
    others = [f for f in folders if f != mirror]
    lines = ["# Written by `devenv init`: check the services, then fill in every TODO below.",
             "version: 1", f"name: {name}", "target: kind", f"mirror: {mirror}"]
    if others:
        lines.append(f"# other cluster folders: {', '.join(others)}")
    lines.append("services:" if services else "services: {}")
    for service, kind in sorted(services.items()):
        lines.append(f"  {service}: {{type: {kind}}}")
    lines += ["environment:                  # the ConfigMap Terraform writes in AWS",
              "  name: environment", "  namespace: flux-system"]
    lines += _block("data", env, "  ")
    if objects:
        lines.append("substituteFrom:                # other objects the Kustomizations read variables from")
        for (kind, namespace, obj_name), section in objects.items():
            if section.note:
                lines.append(f"  # {section.note}")
            lines += [f"  - kind: {kind}", f"    name: {obj_name}", f"    namespace: {namespace}"]
            lines += _block("data", section, "    ")
    return "\n".join(lines) + "\n"
