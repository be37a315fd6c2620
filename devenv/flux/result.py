"""What a render gives: each Flux Kustomization kept with what it applies (and the Flux patches that make Flux's
build the same), what was left out or not rendered and why, each adaptation, the environment's own objects,
and the warnings; as JSON for `devenv render --format json`, Secrets masked."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from devenv.domain import aws
from devenv.domain.profiles import Profile
from devenv.flux import patches
from devenv.flux.adapt import Adaptation, Exclusion
from devenv.flux.kustomizations import FluxKustomization, is_flux_kustomization


@dataclass
class RenderWarning:
    """Something Flux would trip over that is not devenv's to fix; type-change warnings carry the field."""

    message: str
    kustomization: str | None = None
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    field: str | None = None
    value: Any = None

    def to_dict(self) -> dict:
        out = {"message": self.message, "kustomization": self.kustomization}
        if self.field is not None:
            out.update(kind=self.kind, namespace=self.namespace, name=self.name, field=self.field, value=self.value)
        return out


@dataclass
class RenderedKustomization:
    """One Flux Kustomization that survives the exclusions: its (rewritten) object and what it applies."""

    kustomization: FluxKustomization
    source: str
    resources: list[dict]
    # For Flux delivery: what the `spec.patches` that turn Flux's build of this Kustomization into `resources` are
    # made of ((identity, operations), None for a delete: see `patches`), and per resource its identity in the
    # build (apiVersion, kind, metadata.name as kustomize built it: devenv.flux.patches.target).
    patch_parts: list[tuple[dict, list[dict] | None]] = field(default_factory=list)
    built: list[dict] = field(default_factory=list)
    mirror: bool = False  # the cluster folder's own objects (what the bootstrap Kustomization applies)

    @property
    def name(self) -> str:
        return self.kustomization.name

    @property
    def patches(self) -> list[dict]:
        """The Flux patches: each adaptation's operations and a delete for each object left out, which the render
        ran on the build before substitution as kustomize-controller runs them (written only when asked)."""
        spec = self.kustomization.spec
        prefix, suffix = str(spec.get("namePrefix") or ""), str(spec.get("nameSuffix") or "")
        return [patches.delete_patch(built, prefix, suffix) if ops is None else
                patches.ops_patch(built, ops, prefix, suffix) for built, ops in self.patch_parts]

    @property
    def namespace(self) -> str:
        return self.kustomization.namespace

    @property
    def id(self) -> str:
        return self.kustomization.id

    @property
    def path(self) -> str:
        return str(self.kustomization.spec.get("path") or "./")

    @property
    def depends_on(self) -> list[str]:
        return self.kustomization.depends_on

    @property
    def object(self) -> dict:
        """The Flux Kustomization object, rewritten (dependsOn without what was left out)."""
        return self.kustomization.obj

    @property
    def parent(self) -> str | None:
        return self.kustomization.parent

    def to_dict(self) -> dict:
        return {"name": self.name, "namespace": self.namespace, "path": self.path, "dependsOn": self.depends_on,
                "source": self.source, "parent": self.parent, "resources": self.resources}


@dataclass
class RenderResult:
    environment: str
    profile: Profile
    platform: Path
    kustomizations: list[RenderedKustomization]
    excluded: list[Exclusion]
    adapted: list[Adaptation]
    environment_objects: list[dict]
    warnings: list[RenderWarning]
    components: list[dict]
    not_rendered: list[Exclusion] = field(default_factory=list)
    # What strict substitution found missing (reported together; kept here for `devenv init`).
    undefined: list[UndefinedVariable] = field(default_factory=list)
    missing_objects: list[MissingObject] = field(default_factory=list)
    # namespace target: copies of chart sources HelmReleases named in other namespaces (the target applies them)
    tenant_sources: list[dict] = field(default_factory=list)

    @property
    def environment_configmap(self) -> dict:
        return self.environment_objects[0]

    def resources(self) -> Iterable[tuple[RenderedKustomization, dict]]:
        for rendered in self.kustomizations:
            for resource in rendered.resources:
                yield rendered, resource

    def flux_objects(self) -> list[tuple[dict, str]]:
        """Every Flux object devenv writes or rewrites: the rendered Kustomizations themselves and
        every Flux object in their output, with where each comes from."""
        out = []
        for rendered in self.kustomizations:
            if rendered.parent is None and is_flux_kustomization(rendered.object):
                out.append((rendered.object, rendered.kustomization.origin))
            for resource in rendered.resources:
                if aws.api_group(resource).endswith(".fluxcd.io"):
                    out.append((resource, f"output of Kustomization {rendered.id}"))
        return out

    def to_dict(self, *, show_secrets: bool = False) -> dict:
        return {
            "environment": self.environment,
            "profile": self.profile.name,
            "platform": str(self.platform),
            "mirror": self.profile.mirror,
            "kustomizations": [k.to_dict() for k in self.kustomizations],
            "excluded": [x.to_dict() for x in self.excluded],
            "notRendered": [x.to_dict() for x in self.not_rendered],
            "adapted": [a.to_dict() for a in self.adapted],
            "environmentConfigMap": self.environment_configmap,
            "environmentObjects": [obj if show_secrets else mask_secret(obj) for obj in self.environment_objects],
            "warnings": [w.to_dict() for w in self.warnings],
        }


SECRET_MASK = "********"


def mask_secret(obj: dict) -> dict:
    """A Secret with its values replaced by a mask (other objects as they are)."""
    if obj.get("kind") != "Secret":
        return obj
    out = dict(obj)
    for field_name in ("data", "stringData"):
        if isinstance(obj.get(field_name), dict):
            out[field_name] = {key: SECRET_MASK for key in obj[field_name]}
    return out


@dataclass(frozen=True)
class UndefinedVariable:
    """A ${VAR} that no variable of its Kustomization defines (and that has no default)."""

    name: str
    resource: str  # Kind/namespace/name
    kustomization: str  # namespace/name
    files: tuple[str, ...] = ()  # the files of the Kustomization's own build that mention it
    # (kind, namespace, name) of each object the Kustomization reads variables from (postBuild.substituteFrom)
    read_from: tuple[tuple[str, str, str], ...] = ()

    def describe(self) -> str:
        where = f" ({', '.join(self.files)})" if self.files else ""
        return f"{self.name}: in {self.resource}, Kustomization {self.kustomization}{where}"


@dataclass(frozen=True)
class MissingObject:
    """A postBuild.substituteFrom object that does not exist offline (or cannot be read)."""

    kind: str
    namespace: str
    name: str
    kustomization: str  # describe() of the Kustomization reading it
    kustomization_id: str
    why: str = "does not exist"
    keys: tuple[str, ...] = ()  # the keys it would hold, when known (a SOPS-encrypted Secret)

    @property
    def id(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"
