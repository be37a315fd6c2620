"""Reading the Flux Kustomization objects of a cluster folder as Flux would, and ordering them by
`dependsOn` (a cycle is an error naming it; a dependency that does not exist is reported)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterable

from devenv.errors import PlatformError
from devenv.flux.kustomize import FluxSpec, Workspace, display, read_plain
from devenv.flux.sources import SourceRef

GROUP = "kustomize.toolkit.fluxcd.io"
# Objects `flux bootstrap` writes next to the cluster's Kustomizations (gotk-components.yaml).
FLUX_PART_OF = ("app.kubernetes.io/part-of", "flux")


def is_flux_kustomization(obj: Any) -> bool:
    return (isinstance(obj, dict) and obj.get("kind") == "Kustomization"
            and str(obj.get("apiVersion") or "").startswith(f"{GROUP}/"))


def normalize_path(path: str | None) -> str:
    """`./clusters/production/` -> `clusters/production`; the root is ``."""
    parts: list[str] = []
    for part in PurePosixPath(path or ".").parts:
        if part in ("/", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/".join(parts)


@dataclass
class FluxKustomization:
    """One Flux Kustomization object and where it was found."""

    obj: dict
    origin: str  # "file:line", or "output of Kustomization ns/name"
    parent: str | None = None  # id of the Kustomization whose output holds it (nested)

    @property
    def name(self) -> str:
        return str((self.obj.get("metadata") or {}).get("name") or "")

    @property
    def namespace(self) -> str:
        # Flux applies an object without a namespace into `default`, like kubectl.
        return str((self.obj.get("metadata") or {}).get("namespace") or "default")

    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def spec(self) -> dict:
        spec = self.obj.get("spec")
        return spec if isinstance(spec, dict) else {}

    @property
    def path(self) -> str:
        return normalize_path(self.spec.get("path"))

    @property
    def source_ref(self) -> SourceRef:
        return SourceRef.of(self.spec.get("sourceRef"), self.namespace)

    @property
    def depends_on(self) -> list[str]:
        return [dependency_id(entry, self.namespace) for entry in self.spec.get("dependsOn") or []
                if isinstance(entry, dict) and entry.get("name")]

    @property
    def flux_spec(self) -> FluxSpec:
        return FluxSpec.from_spec(self.spec)

    def describe(self) -> str:
        return f"Kustomization {self.id} ({self.origin})"


def dependency_id(entry: dict, namespace: str) -> str:
    return f"{entry.get('namespace') or namespace}/{entry.get('name')}"


@dataclass
class ClusterFolder:
    """What the cluster folder holds: its Kustomizations (the bootstrap one that syncs the folder
    itself set apart), and every other object with the file and line it came from."""

    path: str
    kustomizations: list[FluxKustomization]
    bootstrap: list[FluxKustomization]
    objects: list[tuple[dict, str]] = field(default_factory=list)

    def other_objects(self) -> list[tuple[dict, str]]:
        """Objects other than Flux Kustomizations and Flux's own install (gotk-components, the
        bootstrap GitRepository): what the bootstrap Kustomization applies besides Kustomizations."""
        own_sources = {(b.source_ref.kind, b.source_ref.namespace, b.source_ref.name) for b in self.bootstrap}
        out = []
        for obj, origin in self.objects:
            meta = obj.get("metadata") or {}
            if is_flux_kustomization(obj):
                continue
            if (meta.get("labels") or {}).get(FLUX_PART_OF[0]) == FLUX_PART_OF[1]:
                continue
            if (obj.get("kind"), meta.get("namespace") or "default", meta.get("name")) in own_sources:
                continue
            out.append((obj, origin))
        return out


def read_cluster_folder(platform: Path, mirror: str, workspace: Workspace) -> ClusterFolder:
    """Every object the bootstrap Kustomization would apply from `platform/mirror`."""
    if not platform.is_dir():
        raise PlatformError(f"platform folder {display(platform)} does not exist",
                            hint="pass --platform with the root of your Flux repository, or leave it out "
                                 "for the embedded platform")
    mirror = normalize_path(mirror)
    folder = platform / mirror
    if not folder.is_dir():
        clusters = sorted(p.name for p in (platform / "clusters").iterdir() if p.is_dir()) \
            if (platform / "clusters").is_dir() else []
        raise PlatformError(
            f"the cluster folder {mirror!r} (the profile's mirror) does not exist in {display(platform)}",
            hint=(f"clusters in this platform: {', '.join('clusters/' + c for c in clusters)}; " if clusters else "")
            + "set `mirror:` in the profile to one of them")
    objects = read_plain(folder)
    if objects is None:  # a kustomization that transforms: let kustomize build it as Flux would
        built = workspace.build(platform, mirror, FluxSpec(), describe=f"the cluster folder {mirror}")
        objects = [(obj, f"kustomize build of {mirror}") for obj in built]
    kustomizations, bootstrap = [], []
    for obj, origin in objects:
        if is_flux_kustomization(obj):
            k = FluxKustomization(obj, origin)
            check_kustomization(k)
            (bootstrap if k.path == mirror else kustomizations).append(k)
    return ClusterFolder(mirror, kustomizations, bootstrap, objects)


def check_kustomization(k: FluxKustomization) -> None:
    """What Flux's admission would reject before anything is built."""
    problems = []
    if not k.name:
        problems.append("metadata.name is missing")
    if not isinstance(k.obj.get("spec"), dict):
        problems.append("spec is missing")
    else:
        ref = k.spec.get("sourceRef")
        if not isinstance(ref, dict) or not ref.get("name") or not ref.get("kind"):
            problems.append("spec.sourceRef needs kind and name")
        for i, entry in enumerate(k.spec.get("dependsOn") or []):
            if not isinstance(entry, dict) or not entry.get("name"):
                problems.append(f"spec.dependsOn[{i}] needs a name")
    if problems:
        raise PlatformError(f"Kustomization {k.id} ({k.origin}) is invalid", context=problems)


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A dependency cycle as [a, b, ..., a], or None (edges to unknown nodes are ignored)."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = {node: WHITE for node in graph}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = GREY
        stack.append(node)
        for dep in graph[node]:
            if dep not in colour:
                continue
            if colour[dep] == GREY:
                return stack[stack.index(dep):] + [dep]
            if colour[dep] == WHITE:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        colour[node] = BLACK
        return None

    for node in graph:
        if colour[node] == WHITE:
            found = visit(node)
            if found:
                return found
    return None


def check_cycles(kustomizations: Iterable[FluxKustomization]) -> None:
    by_id = {k.id: k for k in kustomizations}
    cycle = find_cycle({k.id: k.depends_on for k in by_id.values()})
    if cycle:
        raise PlatformError(
            f"the Kustomizations' dependsOn form a cycle: {' -> '.join(cycle)}",
            context=[f"{kid}: {by_id[kid].origin}" for kid in dict.fromkeys(cycle)],
            hint="Flux would wait forever: remove one of these dependsOn entries")


def dependency_order(kustomizations: Iterable[FluxKustomization],
                     extra: dict[str, list[str]] | None = None) -> list[FluxKustomization]:
    """Dependencies first (Kahn's algorithm), otherwise in the given order; `extra` adds edges
    (e.g. a nested Kustomization after its parent). PlatformError on a cycle."""
    items = list(kustomizations)
    check_cycles(items)
    ids = [k.id for k in items]
    by_id = dict(zip(ids, items))
    deps = {kid: [d for d in by_id[kid].depends_on + (extra or {}).get(kid, []) if d in by_id and d != kid]
            for kid in ids}
    position = {kid: i for i, kid in enumerate(ids)}
    done: set[str] = set()
    out: list[FluxKustomization] = []
    while len(out) < len(ids):
        ready = [kid for kid in ids if kid not in done and all(d in done for d in deps[kid])]
        if not ready:  # only through `extra` edges; keep the given order for the rest
            ready = [kid for kid in ids if kid not in done]
        kid = min(ready, key=position.__getitem__)
        done.add(kid)
        out.append(by_id[kid])
    return out
