"""The render pipeline: what Flux would apply for an environment, computed offline.

For each Flux Kustomization of the profile's cluster folder (as the bootstrap Kustomization applies
them, substituted) and those nested in their output: resolve its source (one a later Kustomization
produces, e.g. an ArtifactGenerator's ExternalArtifact, once it has), build its path with kustomize
and its Flux spec (in parallel), leave out what only works on AWS, remove what needs AWS alone
(IRSA, ALB annotations) before post-build substitution with the variables Flux would load (the
profile's objects among them), set commonMetadata, then adapt what stays (dependsOn, ALB ingress,
storage classes, secret stores) — each exclusion and adaptation with its reason. What devenv cannot
see or build is "not rendered"; strict substitution problems are reported together at the end.

For a namespace-target profile (a branch in a shared cluster) every Kustomization moves into the
environment's namespace with `targetNamespace` set to it (devenv.domain.tenancy): one whose output, built as the
platform wrote it, holds cluster-scoped objects is shared infrastructure and left out, a kept one's own
Namespace becomes the environment's (devenv creates it), HelmReleases run as the environment's
ServiceAccount, and the cluster folder's own objects (the bootstrap) stay the cluster's.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from devenv.domain import aws, facts, labels as labelkeys, tenancy
from devenv.errors import CommandFailed, PlatformError, SubstitutionError
from devenv.flux import adapt, patches, secrets
from devenv.flux.adapt import Adaptation, Exclusion
from devenv.flux.kustomizations import (
    FluxKustomization, check_cycles, dependency_order, is_flux_kustomization, read_cluster_folder,
)
from devenv.flux.kustomize import (
    BuildCache, FluxSpec, RemoteResource, Workspace, build_files, display, load_documents, read_manifest,
    resolve_path,
)
from devenv.flux.registry_credentials import registry_hosts
from devenv.flux.sources import SourceResolver, merge_values
from devenv.domain.profiles import EMBEDDED_PLATFORM, Profile

KEPT, EXCLUDED, NOT_RENDERED, PENDING = "kept", "excluded", "not-rendered", "pending"
SOURCE_ANNOTATION = "devenv.io/kustomization"  # how output names the Kustomization of each document


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
    # For Flux delivery: the `spec.patches` that turn Flux's build of this Kustomization into `resources` (each
    # adaptation's operations, a delete for each object left out: what the render itself applied), and per
    # resource its identity in the build (apiVersion, kind, metadata.name as kustomize built it: patches.target).
    patches: list[dict] = field(default_factory=list)
    built: list[dict] = field(default_factory=list)
    mirror: bool = False  # the cluster folder's own objects (what the bootstrap Kustomization applies)

    @property
    def name(self) -> str:
        return self.kustomization.name

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


def default_labels(profile: Profile, environment: str) -> dict[str, str]:
    """Deterministic labels for an offline render (no creation time: the output can be diffed)."""
    return {labelkeys.MANAGED: "true", labelkeys.ENVIRONMENT: environment, labelkeys.PROFILE: profile.name}


def render_environment(profile: Profile, environment: str, *, platform: str | os.PathLike | None = None,
                       labels: Mapping[str, str] | None = None, namespace: str | None = None,
                       passwords: Mapping[str, str] | None = None, strict: bool = True,
                       skip_unbuildable: bool = False, keep_going: bool = False,
                       workers: int | None = None, baselines: bool = False,
                       build_cache: BuildCache | None = None,
                       cluster_scoped: Callable[[Mapping], bool | None] | None = None) -> RenderResult:
    """Render what Flux would apply for `environment` from the profile's cluster folder of `platform`
    (default: the embedded platform), AWS-only components left out and the rest adapted.

    `labels` go on the generated `environment` ConfigMap/Secret (default: managed/environment/profile);
    `namespace` is the target namespace of a namespace-target environment (endpoints differ);
    `passwords` are the services' generated passwords (an offline render shows placeholders);
    `strict` is Flux's strict post-build substitution: every undefined variable of the whole render
    is reported in one error (without it they become empty, with a warning each);
    `skip_unbuildable` leaves out, as not rendered, a Kustomization that cannot be built offline
    (a remote resource, a failing kustomize build) instead of failing;
    `keep_going` (for `devenv components` and `devenv init`) also records every other problem of a
    Kustomization (as not rendered, or in `undefined` / `missing_objects`) instead of raising;
    `baselines` is accepted for callers that asked for Flux delivery's patches, which every render now gives
    (RenderedKustomization.patches);
    `build_cache` shares kustomize builds with another render of the same, unchanged tree (`up` renders twice);
    `cluster_scoped` (namespace target, with a cluster at hand) says from the cluster's discovery whether an
    object's kind is cluster-scoped (None: not known there), beyond the kinds devenv knows offline.
    Raises PlatformError, SubstitutionError, CommandFailed or ToolMissing, each naming what failed.
    """
    if not profile.mirror:  # a docker profile may leave it out: the data services alone, no cluster
        raise PlatformError(f"profile {profile.name!r} ({profile.path}) names no cluster folder to render",
                            hint="add `mirror: clusters/<cluster>` to the profile, or use a kind profile (`--profile local`)")
    root = Path(platform) if platform is not None else EMBEDDED_PLATFORM
    root = root.resolve()
    if profile.target == "namespace" and namespace is None:
        namespace = tenancy.namespace_name(profile, environment)
    service_facts = facts.cluster_facts(profile, environment, namespace, passwords)
    env_objects = facts.environment_objects(
        profile, environment, service_facts,
        dict(labels) if labels is not None else default_labels(profile, environment), namespace)
    with Workspace(build_cache) as workspace:
        renderer = _Renderer(profile, environment, root, env_objects, strict, workspace,
                             skip_unbuildable=skip_unbuildable or keep_going, keep_going=keep_going,
                             secret_values=secrets.store_values(profile, environment, service_facts, namespace),
                             tenant=namespace if profile.target == "namespace" else None,
                             cluster_scoped=cluster_scoped, aws_env=_aws_env(profile, service_facts))
        return renderer.run(workers or _default_workers())


def _aws_env(profile: Profile, service_facts: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """The variables an IRSA workload gets to reach the aws stand-in as the cluster sees it (none without one)."""
    data, secret = facts.aws_values(profile, service_facts)
    return {**data, **secret}


def _default_workers() -> int:
    """Enough threads to run every build of a usual platform at once: each mostly waits for its
    kustomize process, and builds started together finish sooner than builds started in turns."""
    return min(32, max(8, 4 * (os.cpu_count() or 2)))


# -- the pipeline --------------------------------------------------------------------------------


@dataclass
class _Entry:
    k: FluxKustomization
    status: str = KEPT
    reason: str = ""
    source: str = ""
    root: Path | None = None
    resources: list[dict] = field(default_factory=list)
    mirror: bool = False  # the cluster folder's own objects (applied by the bootstrap Kustomization)
    presubstituted: _Presubstituted | None = None
    # per built object: the changes and patch operations of the adaptations made before substitution
    early: list[tuple[list[str], list[dict]]] | None = None
    adapted: list[Adaptation] = field(default_factory=list)
    built: list[dict] = field(default_factory=list)  # per built object: its identity (patches.identity)
    index_of: dict[int, int] = field(default_factory=dict)  # id(object kept or left out) -> its index in the build
    pre: dict[int, dict] = field(default_factory=dict)  # index -> a kept object before substitution (early ops run)
    late: dict[int, list[dict]] = field(default_factory=dict)  # index -> the operations of the later adaptations
    substitution: tuple[dict[str, str], bool] | None = None  # (variables, always) when postBuild substitutes
    tenant_original: list[dict] | None = None  # namespace target: the output built as the platform wrote it
    tenant_build_error: CommandFailed | None = None  # and the build into the environment's namespace, failed


@dataclass
class _Presubstituted:
    """Post-build substitution of a build's output, done in the build's thread as soon as it is built
    (while other builds still run) with the variables known then. Rendering, in dependency order,
    uses it only if it loads the very same variables (they differ only when a substituteFrom object
    comes from a Kustomization rendered in between); the result is the same as substituting then."""

    variables: dict[str, str]
    results: dict[int, dict | None]  # index in the output -> substituted; None: failed (redone, to report it)


def _as_stored(obj: dict) -> dict:
    """A Secret as the API server stores it: stringData folded into base64 data."""
    if obj.get("kind") != "Secret" or not obj.get("stringData"):
        return obj
    data = dict(obj.get("data") or {})
    for key, value in obj["stringData"].items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    return {**{k: v for k, v in obj.items() if k != "stringData"}, "data": data}


def _key(obj: Mapping) -> tuple[str, str, str]:
    meta = obj.get("metadata") or {}
    return str(obj.get("kind")), str(meta.get("namespace") or "default"), str(meta.get("name"))


class _Renderer:
    def __init__(self, profile: Profile, environment: str, platform: Path, env_objects: list[dict],
                 strict: bool, workspace: Workspace, *, skip_unbuildable: bool = False, keep_going: bool = False,
                 secret_values: Mapping[str, Mapping[str, str]] | None = None,
                 tenant: str | None = None, cluster_scoped: Callable[[Mapping], bool | None] | None = None,
                 aws_env: Mapping[str, str] | None = None):
        self.profile = profile
        self.tenant = tenant  # the namespace of a namespace-target environment
        self.discovered_scope = cluster_scoped
        self.cluster_scoped_crds: set[tuple[str, str]] = set()  # (group, kind) the render's CRDs declare Cluster
        self.written_targets: dict[str, Any] = {}  # namespace target: each Kustomization's own targetNamespace
        self.skip_unbuildable = skip_unbuildable
        self.keep_going = keep_going
        self.secret_values = dict(secret_values or {})
        self.aws_env = dict(aws_env or {})  # what points an AWS SDK at the profile's aws stand-in (none: {})
        self.irsa_accounts: set[tuple[str, str]] = set()  # ServiceAccounts that had an IRSA role
        self.not_rendered: list[Exclusion] = []
        self.undefined: dict[tuple[str, str, str], UndefinedVariable] = {}
        self.missing: dict[tuple[str, str, str, str], MissingObject] = {}
        self.dropped: list[tuple[str, dict]] = []  # (Kustomization id, object) of everything left out
        self.environment = environment
        self.platform = platform
        self.env_objects = env_objects
        self.strict = strict
        self.workspace = workspace
        self.entries: dict[str, _Entry] = {}
        self.excluded: list[Exclusion] = []
        self.warnings: list[RenderWarning] = []
        self.tenant_sources: list[dict] = []
        self.generated = {_key(obj): _as_stored(obj) for obj in env_objects}
        self.found: dict[tuple[str, str, str], dict] = {}  # ConfigMaps/Secrets of the mirror and of outputs
        self.seen: list[dict] = []  # every object built, kept or not (for storage class names)
        self.resolver: SourceResolver | None = None
        self.profile_name = display(profile.path)
        # HelmReleases kept while their chart source was not known yet: re-checked once it may be
        self.unsettled: list[tuple[_Entry, dict]] = []

    # -- driving -------------------------------------------------------------------------------

    def run(self, workers: int) -> RenderResult:
        cluster = read_cluster_folder(self.platform, self.profile.mirror, self.workspace)
        bootstrap = cluster.bootstrap[0] if cluster.bootstrap else None
        self.resolver = SourceResolver(self.platform, self.profile.sources, self.workspace,
                                       bootstrap.source_ref if bootstrap else None)
        self.resolver.add(obj for obj, _ in cluster.objects)
        wave = self._register(self._substitute_cluster_folder(bootstrap, cluster))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            while wave:
                check_cycles([e.k for e in self.entries.values() if not e.mirror])
                futures = {k.id: pool.submit(self._build, self.entries[k.id]) for k in wave
                           if self.entries[k.id].status == KEPT}
                if cluster is not None:  # while the first builds run
                    if self.tenant:  # the bootstrap's own objects are the shared cluster's
                        self._leave_to_cluster(cluster.other_objects())
                    else:
                        self._render_mirror(bootstrap, cluster.path, cluster.other_objects())
                    cluster = None
                nested = self._finish_wave(wave, futures)
                wave = self._register(nested) + self._resolve_pending()
        if cluster is not None:  # no Kustomization of the folder could start: its own objects still count
            if self.tenant:
                self._leave_to_cluster(cluster.other_objects())
            else:
                self._render_mirror(bootstrap, cluster.path, cluster.other_objects())
        for entry in self.entries.values():
            if entry.status == PENDING:
                self._exclude_kustomization(entry, entry.reason)
        self._report_substitution_problems()
        return self._result()

    def _substitute_cluster_folder(self, bootstrap: FluxKustomization | None, cluster) -> list[FluxKustomization]:
        """The cluster folder's Kustomization objects as the bootstrap Kustomization applies them:
        after its post-build substitution (`spec.path: ${CLUSTER_PATH}/apps`)."""
        if bootstrap is None or not isinstance(bootstrap.spec.get("postBuild"), dict):
            return cluster.kustomizations
        for obj, _ in cluster.other_objects():
            if obj.get("kind") in ("ConfigMap", "Secret") and obj.get("apiVersion") == "v1":
                self.found.setdefault(_key(obj), _as_stored(obj))
        objects = [k.obj for k in cluster.kustomizations]
        variables = self._variables(bootstrap, objects)
        always = (bootstrap.spec.get("postBuild") or {}).get("substituteStrategy") == "Always"
        if variables is None or not (variables or always):
            return cluster.kustomizations
        out = []
        for k in cluster.kustomizations:
            obj = self._substitute(bootstrap, k.obj, variables, always) if _has_reference(k.obj) else k.obj
            out.append(FluxKustomization(obj, k.origin, k.parent))
        return out

    def _register(self, wave: list[FluxKustomization]) -> list[FluxKustomization]:
        fresh = []
        for k in wave:
            if self.tenant:
                k = self._into_tenant(k)
            if k.id in self.entries:
                self.warnings.append(RenderWarning(
                    f"Kustomization {k.id} is defined twice ({self.entries[k.id].k.origin} and {k.origin}); "
                    f"the second is ignored", kustomization=k.id))
                continue
            entry = self.entries[k.id] = _Entry(k)
            reason = self._skip_reason(k)
            if reason is not None:
                fresh.append(k)
                self._exclude_kustomization(entry, reason)
            elif self._resolve_source(entry):
                fresh.append(k)
        return fresh

    def _into_tenant(self, k: FluxKustomization) -> FluxKustomization:
        """A Kustomization as a namespace environment has it: in the environment's namespace, with
        targetNamespace set to it, its dependencies there too, its source where it was."""
        obj = copy.deepcopy(k.obj)
        spec = obj.setdefault("spec", {})
        source = spec.get("sourceRef")
        if isinstance(source, dict) and not source.get("namespace"):
            parent = self.entries.get(k.parent) if k.parent else None
            source["namespace"] = parent.k.source_ref.namespace if parent else k.namespace
        obj.setdefault("metadata", {})["namespace"] = self.tenant
        self.written_targets[f"{self.tenant}/{k.name}"] = spec.get("targetNamespace")
        spec["targetNamespace"] = self.tenant
        if isinstance(spec.get("dependsOn"), list):
            spec["dependsOn"] = [{**d, "namespace": self.tenant} if isinstance(d, dict) else d
                                 for d in spec["dependsOn"]]
        return FluxKustomization(obj, k.origin, k.parent)

    def _leave_to_cluster(self, objects: list[tuple[dict, str]]) -> None:
        for obj, _ in objects:
            self.excluded.append(adapt.exclusion(obj, None, "the cluster folder's own object (applied by the "
                                                            "bootstrap): the shared cluster has it"))

    def _is_cluster_scoped(self, obj: Mapping) -> bool:
        key = (tenancy.group_of(obj), str(obj.get("kind")))
        if key in tenancy.CLUSTER_SCOPED or key in self.cluster_scoped_crds:
            return True
        return bool(self.discovered_scope and self.discovered_scope(obj))

    def _resolve_source(self, entry: _Entry) -> bool:
        """Whether the entry's source can be read now; if not, it waits (a Kustomization rendered
        later may define it, e.g. an ArtifactGenerator applied by another) and is not rendered if
        none does."""
        resolved = self.resolver.resolve(entry.k.source_ref)
        entry.source = resolved.description
        if resolved.root is None:
            entry.status, entry.reason = PENDING, f"not rendered: {resolved.reason}"
            return False
        entry.status, entry.root = KEPT, resolved.root
        try:
            resolve_path(resolved.root, entry.k.spec.get("path"), entry.k.describe())
        except PlatformError as err:
            if not self.skip_unbuildable:  # --skip-unbuildable: a path that does not exist cannot be built
                raise
            self._exclude_kustomization(entry, f"not rendered: {err.message}")
        return True

    def _resolve_pending(self) -> list[FluxKustomization]:
        return [e.k for e in list(self.entries.values()) if e.status == PENDING and self._resolve_source(e)]

    def _skip_reason(self, k: FluxKustomization) -> str | None:
        if k.name in self.profile.exclude or k.id in self.profile.exclude:
            return f"listed in the profile's exclude ({self.profile_name})"
        if k.spec.get("suspend") is True:
            return "suspended (spec.suspend: true): Flux does not reconcile it"
        if k.spec.get("kubeConfig"):
            return "applies to another cluster (spec.kubeConfig), which a local environment does not have"
        return None

    def _build(self, entry: _Entry) -> list[dict]:
        if self.tenant:
            original = entry.tenant_original = self._build_objects(entry, as_written=True)
            if tenancy.cluster_scope_reason(original, self._is_cluster_scoped):
                return original  # left out whole (_render says why): no build as the tenant's
            try:
                objects = self._build_objects(entry)
            except CommandFailed as failed:  # e.g. two Namespaces folded into one: said by _render
                entry.tenant_build_error = failed
                return original
        else:
            objects = self._build_objects(entry)
        if self.tenant:  # the Namespace devenv drops: Flux's patch selects it by its own name
            entry.built = [patches.identity(o if o.get("kind") != "Namespace" else next(
                (n for n in original if n.get("kind") == "Namespace"), o)) for o in objects]
        self._adapt_early(entry, objects)
        entry.presubstituted = self._presubstitute(entry.k, objects)
        return objects

    def _build_objects(self, entry: _Entry, *, as_written: bool = False) -> list[dict]:
        """kustomize's output for the Kustomization; `as_written`: without the targetNamespace a namespace
        environment adds (what the platform's own spec builds)."""
        k = entry.k
        describe = k.describe()
        spec = k.flux_spec
        if as_written:
            spec = FluxSpec.from_spec({**k.spec, "targetNamespace": self.written_targets.get(k.id)})
        try:
            objects = self.workspace.build(entry.root, k.path, spec, describe=describe)
        except CommandFailed as failed:
            malformed = _find_malformed_yaml(resolve_path(entry.root, k.path, describe), failed.output)
            if malformed is not None:
                malformed.context = [f"while building {describe}"] + malformed.context
                raise malformed from None
            raise
        for obj in objects:
            if not obj.get("apiVersion") or not obj.get("kind") or not (obj.get("metadata") or {}).get("name"):
                raise PlatformError(f"{describe}: kustomize produced an object without apiVersion, kind or "
                                    f"metadata.name", context=[adapt.identity(obj).__repr__()])
        return objects

    def _presubstitute(self, k: FluxKustomization, objects: list[dict]) -> _Presubstituted | None:
        """Substitute every object of the output that has a `$` (see _Presubstituted); errors are
        left for rendering to raise, in order and with their context."""
        try:
            variables = self._variables(k, objects, record=False)
        except Exception:  # noqa: BLE001 - rendering loads them again and reports
            return None
        always = (k.spec.get("postBuild") or {}).get("substituteStrategy") == "Always"
        if variables is None or not (variables or always):
            return None
        from devenv.flux.substitution import substitute_resource

        results: dict[int, dict | None] = {}
        for index, resource in enumerate(objects):
            if _has_reference(resource):
                try:  # strict: an undefined variable is redone by rendering, which reports it
                    results[index] = substitute_resource(resource, variables, strict=True, always=always)
                except Exception:  # noqa: BLE001 - redone by rendering, which raises it
                    results[index] = None
        return _Presubstituted(variables, results)

    def _finish_wave(self, wave: list[FluxKustomization], futures: dict[str, Future]) -> list[FluxKustomization]:
        """Render the wave in dependency order, each as soon as its build is done (later builds go
        on meanwhile), then settle what needed every source of the wave; returns the nested ones."""
        nested: list[FluxKustomization] = []
        try:
            for k in dependency_order(wave):
                if k.id in futures:
                    try:
                        objects = futures[k.id].result()
                    except (CommandFailed, PlatformError) as err:
                        if not self._skips(err):
                            raise
                        self._exclude_kustomization(self.entries[k.id], f"not rendered: {_first_line(err)}")
                        continue
                    self.resolver.add(objects)
                    try:
                        nested += self._render(self.entries[k.id], objects)
                    except (PlatformError, SubstitutionError) as err:
                        if not self.keep_going:
                            raise
                        self._exclude_kustomization(self.entries[k.id], f"not rendered: {_first_line(err)}")
        except BaseException:
            for future in futures.values():
                future.cancel()
            raise
        self._settle_charts()
        return nested

    def _skips(self, err: Exception) -> bool:
        """Whether a Kustomization's failure leaves it out (as not rendered) instead of failing the render."""
        if self.keep_going:
            return True
        return self.skip_unbuildable and isinstance(err, (RemoteResource, CommandFailed))

    def _render_mirror(self, bootstrap: FluxKustomization | None, path: str, objects: list[tuple[dict, str]]) -> None:
        """The cluster folder's own objects besides Kustomizations (e.g. a ConfigMap of cluster
        variables, HelmRepositories), applied by the bootstrap Kustomization."""
        not_rendered = {(e.k.source_ref.kind, e.k.source_ref.namespace, e.k.source_ref.name)
                        for e in self.entries.values() if e.status in (EXCLUDED, NOT_RENDERED, PENDING)}
        used = {(e.k.source_ref.kind, e.k.source_ref.namespace, e.k.source_ref.name)
                for e in self.entries.values() if e.status == KEPT}
        keep = []
        for obj, origin in objects:
            key = _key(obj)
            if adapt.is_flux_source(obj) and key in not_rendered and key not in used:
                readers = sorted(e.k.id for e in self.entries.values()
                                 if (e.k.source_ref.kind, e.k.source_ref.namespace, e.k.source_ref.name) == key)
                self.excluded.append(adapt.exclusion(obj, None, f"only serves {', '.join(readers)}, which "
                                                                f"{'is' if len(readers) == 1 else 'are'} not rendered "
                                                                f"or left out"))
                continue
            keep.append(obj)
        if not keep:
            return
        if bootstrap is None:
            bootstrap = FluxKustomization({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                                           "metadata": {"name": "flux-system", "namespace": "flux-system"},
                                           "spec": {"path": f"./{path}", "sourceRef": {
                                               "kind": "GitRepository", "name": "flux-system"}}},
                                          f"the cluster folder {path}")
        entry = _Entry(bootstrap, source="the cluster folder itself", mirror=True)
        self.entries = {bootstrap.id: entry, **self.entries}
        self._render(entry, keep)

    # -- one Kustomization ---------------------------------------------------------------------

    def _reason(self, resource: dict, local: Mapping[tuple[str, str, str], dict]) -> str | None:
        """Why the object is left out, or None. `local`: the ConfigMaps/Secrets of its own output."""
        if self.tenant and resource.get("kind") == "Namespace" and adapt.identity(resource)[2] == self.tenant:
            return ("the Kustomization's own namespace, which targetNamespace makes the environment's: devenv "
                    "creates and locks it down")
        why = adapt.profile_exclusion_reason(resource, self.profile.exclude, self.profile_name)
        if why:
            return why
        kind = resource.get("kind")
        if kind == "Secret" and "sops" in resource and _key(resource) in self.generated:
            return "SOPS-encrypted, which devenv cannot decrypt: replaced by the Secret the profile generates"
        if kind in ("ConfigMap", "Secret") and resource.get("apiVersion") == "v1" and _key(resource) in self.generated:
            return self._replaced_reason(resource)
        values, unseen = self._helm_values(resource, local) if kind == "HelmRelease" else (None, [])
        if unseen:
            assumed = aws.assumes_default(resource, self.resolver.objects, values)
            if assumed:  # the deciding value may be in what devenv cannot see: said, not assumed
                self._warn_unseen_values(resource, unseen, assumed)
                return None
        why = aws.aws_only_reason(resource, self.resolver.objects, values)
        if why and secrets.store_key(resource) in self.secret_values:
            return None  # adapted instead: the profile feeds a local replacement
        return why

    def _replaced_reason(self, resource: dict) -> str:
        """A ConfigMap/Secret the repository commits and the profile also generates: the profile's replaces
        it (two copies would fight, and the repository's would win once applied), the keys only the
        repository's holds named, since they are gone with it."""
        kind, _, name = _key(resource)
        generated = self.generated[_key(resource)]
        theirs = [key for key in _secret_keys(_as_stored(resource)) if key not in (generated.get("data") or {})]
        lost = (f"; keys only the repository's holds, gone with it: {', '.join(theirs)} (add them to the profile's "
                f"copy if the platform reads them)") if theirs else ""
        return f"replaced by the {kind} {name} the profile {self.profile_name} generates{lost}"

    def _warn_unseen_values(self, release: dict, unseen: list[str], assumed: tuple[str, str, str]) -> None:
        chart, key, default = assumed
        kind, namespace, name = adapt.identity(release)
        message = (f"HelmRelease {namespace}/{name} (chart {chart}) takes its values from {', '.join(unseen)}, which "
                   f"devenv cannot see (not in the cluster folder, a rendered output or the profile), so it cannot "
                   f"tell its {key}: kept, not assumed to be the chart's default {default}; if its {key} is "
                   f"{default}, list {namespace}/{name} in the profile's `exclude` ({self.profile_name})")
        if all(w.message != message for w in self.warnings):
            self.warnings.append(RenderWarning(message, kind=kind, namespace=namespace, name=name))

    def _helm_values(self, release: dict, local: Mapping[tuple[str, str, str], dict]) -> tuple[dict | None, list[str]]:
        """A HelmRelease's values as helm-controller merges them: each valuesFrom ConfigMap/Secret in
        order, then spec.values (None without valuesFrom); and the valuesFrom objects devenv cannot see."""
        spec = release.get("spec") or {}
        refs = spec.get("valuesFrom") if isinstance(spec, dict) else None
        if not isinstance(refs, list) or not refs:
            return None, []
        namespace = (release.get("metadata") or {}).get("namespace") or "default"
        merged: dict = {}
        unseen: list[str] = []
        for ref in refs:
            if not isinstance(ref, dict):
                continue
            key = (str(ref.get("kind")), namespace, str(ref.get("name")))
            obj = self.generated.get(key) or local.get(key) or self.found.get(key)
            if obj is None and ref.get("optional") is not True:
                unseen.append(f"{key[0]} {key[1]}/{key[2]}")
            values = adapt.values_in(obj, ref.get("valuesKey") or "values.yaml") if obj else None
            if values is None:
                continue
            if ref.get("targetPath"):
                values = adapt.at_path(str(ref["targetPath"]), values)
            if isinstance(values, dict):
                merged = merge_values(merged, values)
        if isinstance(spec.get("values"), dict):
            merged = merge_values(merged, spec["values"])
        return merged, unseen

    def _render(self, entry: _Entry, raw: list[dict]) -> list[FluxKustomization]:
        k = entry.k
        self.seen.extend(raw)
        if entry.early is None:
            self._adapt_early(entry, raw)
        local = {_key(r): _as_stored(r) for r in raw
                 if r.get("kind") in ("ConfigMap", "Secret") and r.get("apiVersion") == "v1"}
        reasons = [self._reason(r, local) for r in raw]
        whole = adapt.whole_exclusion_reason(raw, reasons)
        if whole and not entry.mirror:
            self._exclude_whole(entry, raw, reasons, whole)
            return []
        if entry.tenant_original is not None:  # namespace target: shared infrastructure stays the cluster's
            original = entry.tenant_original
            self.cluster_scoped_crds |= tenancy.crd_scopes(original)
            why = tenancy.cluster_scope_reason(original, self._is_cluster_scoped)
            if why:
                self._exclude_whole(entry, original, [why if self._is_cluster_scoped(o) else None for o in original],
                                    why)
                return []
            if entry.tenant_build_error is not None:
                raise entry.tenant_build_error
        variables = self._variables(k, [r for r, why in zip(raw, reasons) if not why])
        # With a substituteFrom object missing, Flux fails anyway; substituting still names the
        # variables that object would have to hold.
        always = ((k.spec.get("postBuild") or {}).get("substituteStrategy") == "Always"
                  or any(m.kustomization_id == k.id for m in self.missing.values()))
        pre, entry.presubstituted = entry.presubstituted, None
        if pre is not None and pre.variables != variables:
            pre = None
        if variables is not None and (variables or always):
            entry.substitution = (variables, always)
        kept: list[dict] = []
        dropped: list[tuple[dict, str]] = []
        for index, (resource, why) in enumerate(zip(raw, reasons)):
            if why:
                dropped.append((resource, why))
                entry.index_of[id(resource)] = index
                continue
            entry.pre[index] = resource
            if variables is not None and (variables or always):
                if pre is not None:  # substituted already, with these variables, if it has a `$`
                    if index in pre.results:
                        done = pre.results[index]
                        resource = done if done is not None else self._substitute(k, resource, variables, always)
                elif _has_reference(resource):
                    resource = self._substitute(k, resource, variables, always)
            why = self._reason(resource, local)
            entry.index_of[id(resource)] = index
            if why:
                dropped.append((resource, why))
            else:
                kept.append(resource)
                kind, namespace, name = adapt.identity(resource)
                entry.adapted += [Adaptation(kind, name, namespace, k.id, change) for change in entry.early[index][0]]
        if dropped and not entry.mirror and all(adapt.is_supporting(r) for r in kept):
            self._exclude_whole(entry, [r for r, _ in dropped] + kept, [w for _, w in dropped] + [None] * len(kept),
                                adapt.whole_exclusion_reason([r for r, _ in dropped], [w for _, w in dropped]))
            return []
        entry.resources = kept
        if variables is not None and not variables and not always:
            self._warn_nothing_substituted(k, kept)
        self._drop(entry, dropped)
        for resource in entry.resources:
            if resource.get("kind") in ("ConfigMap", "Secret") and resource.get("apiVersion") == "v1":
                self.found.setdefault(_key(resource), _as_stored(resource))
            if resource.get("kind") == "HelmRelease" and not self._chart_source_known(resource):
                self.unsettled.append((entry, resource))
        return [FluxKustomization(r, f"output of Kustomization {k.id}", parent=k.id)
                for r in entry.resources if is_flux_kustomization(r)]

    def _warn_nothing_substituted(self, k: FluxKustomization, resources: list[dict]) -> None:
        """Flux's rule: a postBuild that loads no variables substitutes nothing, even in strict mode, so every
        ${VAR} stays as written (what an unfilled `devenv init` profile gives): said, with what is left."""
        from devenv.flux.substitution import resource_ref

        used = [(r, _REFERENCE.findall(json.dumps(r, default=str))) for r in resources
                if not adapt.substitution_disabled(r) and _has_reference(r)]
        left = sorted({name for _, names in used for name in names})
        if not left:
            return
        if self.keep_going:  # `devenv init`: these are the variables its profile must fill in
            for r, names in used:
                for name in dict.fromkeys(names):
                    self._record_undefined(k, name, resource_ref(r))
        refs = [r for r in ((k.spec.get("postBuild") or {}).get("substituteFrom") or []) if isinstance(r, dict)]
        read = [f"{r.get('kind')} {k.namespace}/{r.get('name')}" for r in refs]
        ours = [f"{kind} {ns}/{name}" for kind, ns, name in self.generated
                if f"{kind} {ns}/{name}" in read]
        where = (f"; the profile {self.profile_name} generates {', '.join(ours)} with no keys: fill in its TODOs"
                 if ours else "")
        self.warnings.append(RenderWarning(
            f"{k.describe()}: postBuild loads no variables ({'substituteFrom ' + ', '.join(read) + ' empty' if read else 'no substitute nor substituteFrom values'}), "
            f"so Flux substitutes nothing, strict or not: {', '.join('${' + n + '}' for n in left)} stay as "
            f"written{where}", kustomization=k.id))

    def _adapt_early(self, entry: _Entry, objects: list[dict]) -> None:
        """What is adapted before post-build substitution (IRSA and ALB annotations: a variable used only there
        needs no value), as patch operations run on the build; the patch targets of every object built."""
        if not entry.built:
            entry.built = [patches.identity(o) for o in objects]
        self.irsa_accounts |= adapt.irsa_service_accounts(objects)
        entry.early = []
        for obj in objects:
            if not _mentions_aws_annotations(obj):
                entry.early.append(([], []))
                continue
            recording = patches.record(obj)
            changes = adapt.remove_aws_annotations(recording.obj)
            ops = recording.ops
            patches.apply_ops(obj, ops)
            entry.early.append((changes, ops))

    def _drop(self, entry: _Entry, dropped: list[tuple[dict, str]]) -> None:
        """Leave these out of the entry's output, with the chart sources only they used."""
        orphans = adapt.unused_supporting_objects(entry.resources, [r for r, _ in dropped])
        dropped = dropped + [(entry.resources[i], why) for i, why in orphans.items()]
        gone = {id(r) for r, _ in dropped}
        entry.resources = [r for r in entry.resources if id(r) not in gone]
        for resource, why in dropped:
            self.excluded.append(adapt.exclusion(resource, entry.k.id, why))
            self.dropped.append((entry.k.id, resource))

    def _chart_source_known(self, release: dict) -> bool:
        spec = release.get("spec") or {}
        ref = ((spec.get("chart") or {}).get("spec") or {}).get("sourceRef") or spec.get("chartRef")
        if not isinstance(ref, dict):
            return True
        namespace = ref.get("namespace") or (release.get("metadata") or {}).get("namespace") or "default"
        return (str(ref.get("kind")), namespace, str(ref.get("name"))) in self.resolver.objects

    def _settle_charts(self) -> None:
        """HelmReleases whose chart source is defined by a Kustomization rendered after theirs: now
        that the wave's sources are all known, leave out those whose repository is AWS-only."""
        unsettled, self.unsettled = self.unsettled, []
        for entry, release in unsettled:
            why = aws.aws_only_reason(release, self.resolver.objects)
            if why and entry.status == KEPT and any(r is release for r in entry.resources):
                self._drop(entry, [(release, why)])

    def _substitute(self, k: FluxKustomization, resource: dict, variables: dict[str, str], always: bool) -> dict:
        """Flux's post-build substitution of one object. Undefined variables are recorded (all of
        them, reported together at the end) and substituted as empty, as Flux without strict mode."""
        from devenv.flux.envsubst import VariableNotSet
        from devenv.flux.substitution import resource_ref, substitute_resource

        values = dict(variables)
        while True:
            try:
                result = substitute_resource(resource, values, strict=True, always=always)
                break
            except SubstitutionError as err:
                cause = err.__cause__
                if isinstance(cause, VariableNotSet) and cause.name not in values:
                    values[cause.name] = ""
                    self._record_undefined(k, cause.name, resource_ref(resource))
                    continue
                if self.keep_going:
                    self.warnings.append(RenderWarning(f"{k.describe()}: {err.message}", kustomization=k.id))
                    return resource
                err.context = list(err.context) + [f"in the output of {k.describe()}"]
                raise
        return result

    def _record_undefined(self, k: FluxKustomization, name: str, resource: str) -> None:
        key = (k.id, resource, name)
        if key not in self.undefined:
            entry = self.entries.get(k.id)
            root = entry.root if entry is not None and entry.root is not None else self.platform
            refs = (k.spec.get("postBuild") or {}).get("substituteFrom") or []
            read_from = tuple((str(r.get("kind")), k.namespace, str(r.get("name")))
                              for r in refs if isinstance(r, dict)) if isinstance(refs, list) else ()
            self.undefined[key] = UndefinedVariable(name, resource, k.id, _files_mentioning(root, k.path, name),
                                                    read_from)

    def _report_substitution_problems(self) -> None:
        """Strict mode: one error naming every missing substituteFrom object and every undefined
        variable of the whole render. Otherwise a warning for each."""
        missing, undefined = list(self.missing.values()), list(self.undefined.values())
        if not self.strict or self.keep_going:
            for m in missing:
                self.warnings.append(RenderWarning(f"{m.kustomization}: postBuild.substituteFrom names {m.id}, "
                                                   f"which {m.why}", kustomization=m.kustomization_id))
            for u in undefined:
                self.warnings.append(RenderWarning(
                    f"variable {u.name} is not defined"
                    + (": " if self.keep_going else ", so it became empty (Flux without strict substitution): ")
                    + f"{u.resource} in Kustomization {u.kustomization}"
                    + (f" ({', '.join(u.files)})" if u.files else ""), kustomization=u.kustomization))
            return
        if not missing and not undefined:
            return
        objects: dict[str, list[MissingObject]] = {}
        for m in missing:
            objects.setdefault(m.id, []).append(m)
        waiting = {m.kustomization_id for m in missing}
        # Variables of a Kustomization whose object is missing are most likely that object's keys.
        undefined_elsewhere = [u for u in undefined if u.kustomization not in waiting]
        context: list[str] = []
        if objects:
            context.append(f"substituteFrom objects devenv cannot read offline ({len(objects)}):")
            for readers in objects.values():
                first = readers[0]
                keys = first.keys or tuple(sorted({u.name for u in undefined
                                                   if u.kustomization in {m.kustomization_id for m in readers}}))
                context.append(f"  {first.id}, read by {'; '.join(m.kustomization for m in readers)}: {first.why}"
                               + (f"; keys it would hold: {', '.join(keys)}" if keys else ""))
            generated = ", ".join(f"{o['kind']} {o['metadata']['namespace']}/{o['metadata']['name']}"
                                  for o in self.env_objects)
            context.append(f"  (the profile {self.profile_name} generates {generated})")
        names = sorted({u.name for u in undefined_elsewhere})
        if names:
            context.append(f"undefined variables ({len(names)}), strict substitution as Flux 2.9 does by default:")
            context += [f"  {u.describe()}" for u in undefined_elsewhere]
            context += self._profile_lines(undefined_elsewhere)
        snippet = ", ".join(f"{{kind: {m[0].kind}, name: {m[0].name}, namespace: {m[0].namespace}, data: {{"
                            + ", ".join(f"{key}: ..." for key in (m[0].keys or ("KEY",))[:3]) + "}}"
                            for m in list(objects.values())[:2])
        hint = []
        if objects:
            hint.append(f"let the profile {self.profile_name} generate each, under `substituteFrom:` "
                        f"(e.g. substituteFrom: [{snippet}]), or mark the reference `optional: true`")
        if names:
            hint.append(f"add the lines above to the profile {self.profile_name} (each variable in the object its "
                        f"Kustomization reads it from), or render with --no-strict (they become empty, as Flux "
                        f"without strict substitution)")
        summary = " and ".join(filter(None, [
            f"{len(objects)} substituteFrom object{'s' if len(objects) != 1 else ''} missing or unreadable"
            if objects else "",
            f"{len(names)} variable{'s' if len(names) != 1 else ''} undefined" if names else ""]))
        error = PlatformError if missing else SubstitutionError
        raise error(f"post-build substitution cannot complete: {summary}", context=context, hint="; ".join(hint))

    def _target_of(self, u: UndefinedVariable) -> tuple[str, str, str] | None:
        """The object an undefined variable belongs in: one its Kustomization reads (postBuild.substituteFrom),
        the profile's own first, a Secret for a secret-looking name; None when it reads none."""
        if not u.read_from:
            return None
        secret = bool(SECRET_NAME.search(u.name))
        ranked = sorted(u.read_from, key=lambda key: (key not in self.generated, (key[0] == "Secret") != secret))
        return ranked[0]

    def _profile_lines(self, undefined: list[UndefinedVariable]) -> list[str]:
        """The profile lines that define the undefined variables, grouped by the object each is read from."""
        targets: dict[tuple[str, str, str] | None, dict[str, list[str]]] = {}
        for u in undefined:
            targets.setdefault(self._target_of(u), {}).setdefault(u.name, [])
            readers = targets[self._target_of(u)][u.name]
            if u.kustomization not in readers:
                readers.append(u.kustomization)
        env = self.profile.environment
        lines = ["profile lines that define them:"]
        for target, variables in targets.items():
            readers = sorted({r for rs in variables.values() for r in rs})
            if target is None:
                lines.append(f"  (Kustomization {', '.join(readers)} reads no ConfigMap or Secret, only "
                             f"postBuild.substitute: {', '.join(variables)} cannot come from the profile; Flux fails "
                             f"the same way unless the platform sets them or gives a default, ${{NAME:=value}})")
                continue
            kind, namespace, name = target
            read = f"{kind} {namespace}/{name}, read by Kustomization {', '.join(readers)}"
            new = [f'{key}: "..."' for key in variables]
            if target == ("ConfigMap", env.namespace, env.name):
                lines += [f"  # {read}", "  environment:", "    data:"] + [f"      {n}" for n in new]
            elif target == ("Secret", env.namespace, env.secret_name):
                lines += [f"  # {read}", "  environment:", "    secretData:"] + [f"      {n}" for n in new]
            elif target in self.generated:
                lines += [f"  # {read}: in the profile's substituteFrom entry for it, beside its other keys",
                          "  substituteFrom:", f"    - kind: {kind}", f"      name: {name}",
                          f"      namespace: {namespace}", "      data:"]
                lines += [f"        {n}" for n in new]
            else:
                committed = self.found.get(target)
                note = (": the repository commits it; the profile's copy replaces it, so it carries the "
                        "repository's keys too" if committed is not None else
                        ": nothing generates it yet")
                lines += [f"  # {read}{note}", "  substituteFrom:", f"    - kind: {kind}", f"      name: {name}",
                          f"      namespace: {namespace}", "      data:"]
                for key, value in ((committed or {}).get("data") or {}).items():
                    if key not in variables:
                        shown = value if kind == "ConfigMap" else "..."
                        lines.append(f"        {key}: {json.dumps(str(shown))}")
                lines += [f"        {n}" for n in new]
        return lines

    def _variables(self, k: FluxKustomization, resources: list[dict], *, record: bool = True) -> dict[str, str] | None:
        """The variables kustomize-controller would load for this Kustomization, None without postBuild.
        A substituteFrom object that is missing (or SOPS-encrypted) is recorded and skipped; without
        `record` (a build thread guessing early, when such an object may still come) None is returned."""
        post = k.spec.get("postBuild")
        if not isinstance(post, dict):
            return None
        from devenv.flux.substitution import variables_from_objects

        variables: dict[str, str] = {}
        refs = post.get("substituteFrom") or []
        if not isinstance(refs, list):
            raise PlatformError(f"{k.describe()}: postBuild.substituteFrom must be a list of {{kind, name}}, "
                                f"not {type(refs).__name__}")
        for ref in refs:
            if not isinstance(ref, dict):
                continue
            key = (str(ref.get("kind")), k.namespace, str(ref.get("name")))
            obj = self.generated.get(key) or self.found.get(key)
            if not record and (obj is None or "sops" in obj):
                return None
            if obj is None:
                if ref.get("optional") is not True:
                    self._record_missing(k, key, "does not exist (not generated by the profile, not in the cluster "
                                                 "folder nor in a Kustomization rendered before it)")
                continue
            if key[0] == "Secret" and "sops" in obj:
                self._record_missing(k, key, "is SOPS-encrypted, which devenv cannot decrypt offline (Flux "
                                             "decrypts it in the cluster)", keys=_secret_keys(obj))
                continue
            variables.update(variables_from_objects([obj], source=f"{key[0]} {key[1]}/{key[2]}"))
        substitute = post.get("substitute") or {}
        if not isinstance(substitute, dict):
            raise PlatformError(f"{k.describe()}: postBuild.substitute must be a mapping of NAME: value, not "
                                f"{'a list' if isinstance(substitute, list) else type(substitute).__name__}",
                                hint="write it as `substitute: {NAME: value}`")
        for name, value in substitute.items():
            variables[str(name)] = "" if value is None else str(value)
        invalid = sorted(name for name in variables if not _VAR_NAME.fullmatch(name))
        if invalid and any(not adapt.substitution_disabled(r) for r in resources):
            # Flux checks every name, used or not, for each resource it substitutes.
            raise SubstitutionError(
                f"{k.describe()}: variable name{'s' if len(invalid) > 1 else ''} "
                f"{', '.join(repr(n) for n in invalid)} {'are' if len(invalid) > 1 else 'is'} invalid",
                context=["Flux requires every variable name of postBuild (substitute and substituteFrom) to "
                         "match ^[_[:alpha:]][_[:alpha:][:digit:]]*$"],
                hint="rename the key in postBuild.substitute or in the ConfigMap/Secret it comes from")
        return variables

    def _record_missing(self, k: FluxKustomization, key: tuple[str, str, str], why: str,
                        keys: tuple[str, ...] = ()) -> None:
        self.missing.setdefault((k.id, *key), MissingObject(key[0], key[1], key[2], k.describe(), k.id, why, keys))

    def _exclude_kustomization(self, entry: _Entry, reason: str) -> None:
        """Leave a Kustomization out: as excluded, or as not rendered when devenv cannot see or build it."""
        not_rendered = reason.startswith("not rendered")
        entry.status, entry.reason = (NOT_RENDERED if not_rendered else EXCLUDED), reason
        k = entry.k
        (self.not_rendered if not_rendered else self.excluded).append(
            Exclusion("Kustomization", k.name, k.namespace, k.parent, reason))

    def _exclude_whole(self, entry: _Entry, resources: list[dict], reasons: list[str | None], why: str) -> None:
        """Leave out a Kustomization whose every object is AWS-only (or only serves those), listing
        each object; a nested one also disappears from the output of the Kustomization holding it."""
        self._exclude_kustomization(entry, why)
        k = entry.k
        if k.parent and k.parent in self.entries:
            parent = self.entries[k.parent]
            parent.resources = [r for r in parent.resources if r is not k.obj]
        rest = [r for r, reason in zip(resources, reasons) if not reason]
        orphans = adapt.unused_supporting_objects(rest, [r for r, reason in zip(resources, reasons) if reason])
        orphan_reasons = {id(rest[i]): why for i, why in orphans.items()}
        for resource, reason in zip(resources, reasons):
            reason = reason or orphan_reasons.get(id(resource)) or f"only serves what {k.id} leaves out"
            self.excluded.append(adapt.exclusion(resource, k.id, reason))
            self.dropped.append((k.id, resource))

    # -- the result ----------------------------------------------------------------------------

    def _result(self) -> RenderResult:
        kept = [e for e in self.entries.values() if e.status == KEPT]
        mirror = [e for e in kept if e.mirror]
        nested_after_parent = {e.k.id: [e.k.parent] for e in kept if e.k.parent}
        ordered = mirror + [self.entries[k.id] for k in
                            dependency_order([e.k for e in kept if not e.mirror], nested_after_parent)]
        known = set(self.entries) | {BOOTSTRAP_ID}  # the bootstrap Kustomization always exists (`up` drops it)
        for e in ordered:
            for dep in e.k.depends_on:
                if dep not in known:
                    self.warnings.append(RenderWarning(
                        f"Kustomization {e.k.id} dependsOn {dep}, which no Kustomization defines: Flux would wait "
                        f"for it forever", kustomization=e.k.id))
        self._drop_orphans(ordered)
        adapted = self._adapt(ordered)
        self.warnings += [RenderWarning(message, kustomization=where)
                          for where, message in secrets.dangling_references(
                              [(e.k.id, r) for e in ordered for r in e.resources],
                              [r for _, r in self.dropped], self.secret_values)]
        self._warn_applied_twice(ordered)
        for e in ordered:
            for resource in e.resources:
                kind, namespace, name = adapt.identity(resource)
                for where, value in adapt.non_string_fields(resource):
                    self.warnings.append(RenderWarning(
                        f"{kind} {namespace + '/' if namespace else ''}{name}: {where} is {value!r} "
                        f"({type(value).__name__}), not a string: the API server would reject it, so Flux would "
                        f"fail to apply it (post-build substitution re-reads the YAML as YAML 1.1, where values "
                        f"like 3306, on or 010 are not strings; keep the variable inside a longer string, or "
                        f"give it a value that stays a string)",
                        kustomization=e.k.id, kind=kind, namespace=namespace, name=name, field=where, value=value))
                if kind == "Secret" and "sops" in resource:
                    self.warnings.append(RenderWarning(
                        f"Secret {namespace}/{name} is SOPS-encrypted; devenv cannot decrypt it offline (Flux would "
                        f"apply it decrypted): let the profile generate it under `substituteFrom:` with its keys "
                        f"({', '.join(_secret_keys(resource)) or 'none'})", kustomization=e.k.id))
        rendered = [self._rendered(e) for e in ordered]
        return RenderResult(self.environment, self.profile, self.platform, rendered, self.excluded, adapted,
                            self.env_objects, self.warnings, self._components(), self.not_rendered,
                            list(self.undefined.values()), list(self.missing.values()), self.tenant_sources)

    def _rendered(self, e: _Entry) -> RenderedKustomization:
        """The Kustomization's output and the Flux patches that make Flux's build of it the same: a delete for
        each object built and left out, each kept object's adaptation operations (those the render ran)."""
        prefix, suffix = str(e.k.spec.get("namePrefix") or ""), str(e.k.spec.get("nameSuffix") or "")
        kept = [e.index_of[id(r)] for r in e.resources]
        out = [patches.delete_patch(b, prefix, suffix) for i, b in enumerate(e.built) if i not in set(kept)]
        for i in kept:
            ops = e.early[i][1] + e.late.get(i, [])
            if ops:
                out.append(patches.ops_patch(e.built[i], ops, prefix, suffix))
        return RenderedKustomization(e.k, e.source, e.resources, out, [e.built[i] for i in kept], mirror=e.mirror)

    def _drop_orphans(self, ordered: list[_Entry]) -> None:
        """Leave out supporting objects (chart sources, Crossplane runtime configs) that only
        left-out objects used, in whichever output they are."""
        kept = [(e, r) for e in ordered for r in e.resources]
        orphans = adapt.unused_supporting_objects([r for _, r in kept], [r for _, r in self.dropped])
        by_entry: dict[str, list[tuple[dict, str]]] = {}
        for index, why in orphans.items():
            entry, resource = kept[index]
            by_entry.setdefault(entry.k.id, []).append((resource, why))
        for e in ordered:
            if e.k.id in by_entry:
                self._drop(e, by_entry[e.k.id])

    def _warn_applied_twice(self, ordered: list[_Entry]) -> None:
        """Two Kustomizations applying the same object fight over it in Flux (each prunes or
        overwrites the other's version)."""
        appliers: dict[tuple, list[str]] = {}
        for e in ordered:
            for resource in e.resources:
                kind, namespace, name = adapt.identity(resource)
                key = (aws.api_group(resource), kind, namespace or "", name)
                if e.k.id not in appliers.setdefault(key, []):
                    appliers[key].append(e.k.id)
        for (_, kind, namespace, name), ids in appliers.items():
            if len(ids) > 1:
                self.warnings.append(RenderWarning(
                    f"{kind} {namespace + '/' if namespace else ''}{name} is applied by {len(ids)} Kustomizations "
                    f"({', '.join(ids)}): Flux would have them fight over it (each applies its own version, and "
                    f"pruning one deletes it from the other)", kustomization=ids[0]))

    def _adapt(self, ordered: list[_Entry]) -> list[Adaptation]:
        kept_resources = [r for e in ordered for r in e.resources]
        adapter = adapt.Adapter(
            ingress_class=self.profile.ingress_class, storage_class=self.profile.storage_class,
            aws_storage=adapt.aws_storage_classes(self.seen, kept_resources) - {self.profile.storage_class},
            excluded_kustomizations={e.k.id for e in self.entries.values() if e.status in (EXCLUDED, NOT_RENDERED)},
            excluded_objects={(x.kind, x.namespace or "default", x.name) for x in self.excluded},
            irsa_accounts=self.irsa_accounts, aws_env=self.aws_env, tenant=self.tenant,
            registries=registry_hosts(self.profile))
        values_keys = adapt.values_keys([r for e in ordered for r in e.resources])
        out: list[Adaptation] = []
        for e in ordered:
            out += e.adapted
            if e.k.parent is None and not e.mirror:
                for change in adapter.rewire_kustomization(e.k.obj):
                    out.append(Adaptation("Kustomization", e.k.name, e.k.namespace, None, change))
            common = e.k.spec.get("commonMetadata")
            for resource in e.resources:
                kind, namespace, name = adapt.identity(resource)
                recording = patches.record(resource)
                view = recording.obj
                changes = adapter.adapt(view)
                changes += adapter.adapt_values_data(view, values_keys.get(_key(resource), ()))
                changes += secrets.replace_store(view, self.secret_values)
                if self.tenant and kind == "HelmRelease":
                    changes += _run_as_tenant(view)
                    changes += self._chart_source_in_tenant(view, e.k.id)
                for change in changes:
                    out.append(Adaptation(kind, name, namespace, e.k.id, change))
                ops = recording.ops
                if ops:
                    self._patch(e, resource, ops)
                adapt.apply_common_metadata(resource, common if isinstance(common, dict) else None)
        return out

    def _patch(self, e: _Entry, resource: dict, ops: list[dict]) -> None:
        """Run an adaptation's operations as kustomize-controller runs devenv's patches: on the object as built
        (before post-build substitution), then substituted; the result replaces `resource` in place."""
        index = e.index_of[id(resource)]
        e.late[index] = ops
        final = patches.apply_ops(copy.deepcopy(e.pre.get(index, resource)), ops)
        if e.substitution is not None and _has_reference(final):
            final = self._substitute(e.k, final, *e.substitution)
        resource.clear()
        resource.update(final)

    def _chart_source_in_tenant(self, release: dict, kustomization: str) -> list[str]:
        moved, copies, problem = tenancy.chart_source_in_tenant(release, self.tenant, self.resolver.objects)
        self.tenant_sources += [c for c in copies if c not in self.tenant_sources]
        if problem:
            _, namespace, name = adapt.identity(release)
            self.warnings.append(RenderWarning(f"HelmRelease {namespace}/{name}: {problem}", kustomization=kustomization))
        return moved

    def _components(self) -> list[dict]:
        rows = []
        for e in self.entries.values():
            rows.append({"kind": "Kustomization", "namespace": e.k.namespace, "name": e.k.name,
                         "kustomization": e.k.parent, "status": e.status, "reason": e.reason,
                         "path": str(e.k.spec.get("path") or "./"), "source": e.source})
            for resource in e.resources:
                if resource.get("kind") == "HelmRelease":
                    kind, namespace, name = adapt.identity(resource)
                    rows.append({"kind": kind, "namespace": namespace, "name": name, "kustomization": e.k.id,
                                 "status": KEPT, "reason": "", "path": None, "source": None})
            for x in self.excluded:
                if x.kind == "HelmRelease" and x.kustomization == e.k.id:
                    rows.append({"kind": x.kind, "namespace": x.namespace, "name": x.name,
                                 "kustomization": x.kustomization, "status": EXCLUDED, "reason": x.reason,
                                 "path": None, "source": None})
        return rows


_VAR_NAME = re.compile(r"[_A-Za-z][_A-Za-z0-9]*")  # Go's [:alpha:] is ASCII-only
_REFERENCE = re.compile(r"(?<!\$)\$\{([_A-Za-z][_A-Za-z0-9]*)")  # ${NAME...}, not $${NAME} (an escaped one)


def _run_as_tenant(release: dict) -> list[str]:
    """A namespace environment's HelmRelease is installed as its ServiceAccount (helm-controller impersonates
    spec.serviceAccountName), never with helm-controller's own cluster-wide rights."""
    spec = release.setdefault("spec", {})
    if spec.get("serviceAccountName") == tenancy.SERVICE_ACCOUNT:
        return []
    spec["serviceAccountName"] = tenancy.SERVICE_ACCOUNT
    return [f"spec.serviceAccountName set to {tenancy.SERVICE_ACCOUNT}: installed as the environment's "
            "ServiceAccount, which can write only in its namespace"]


def _mentions_aws_annotations(resource: dict) -> bool:
    """Whether an IRSA or ALB annotation key may occur in the object (a cheap test before recording)."""
    text = json.dumps(resource, default=str)
    return aws.IRSA_PREFIX in text or aws.ALB_ANNOTATION_PREFIX in text


def _has_reference(resource: dict) -> bool:
    """Whether a `$` occurs anywhere in the object. Substitution of an object without one changes
    nothing that matters (envsubst leaves the text as it is), so it is skipped for speed."""
    return "$" in json.dumps(resource, default=str)


BOOTSTRAP_ID = "flux-system/flux-system"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|(^|_)KEY($|_)|CREDENTIAL")  # names that belong in a Secret


def _secret_keys(secret: Mapping) -> tuple[str, ...]:
    """The keys a Secret holds, in data and in stringData (SOPS encrypts either)."""
    keys = []
    for field_name in ("data", "stringData"):
        if isinstance(secret.get(field_name), dict):
            keys += [str(k) for k in secret[field_name] if str(k) not in keys]
    return tuple(keys)


def _first_line(err: Exception) -> str:
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def _files_mentioning(root: Path, path: str, name: str) -> tuple[str, ...]:
    """The files of the Kustomization's own build (its folder, what its kustomization lists, ../base
    included) that mention ${name}; none when the reference comes from elsewhere (its spec.patches)."""
    pattern = re.compile(r"\$\{" + re.escape(name) + r"(?![_A-Za-z0-9])")
    try:
        directory = resolve_path(root, path, "")
    except PlatformError:
        return ()
    found = []
    for file in build_files(directory):
        try:
            if pattern.search(file.read_text(errors="replace")):
                found.append(display(file))
        except OSError:
            continue
    return tuple(found[:3])


def _find_malformed_yaml(directory: Path, message: str) -> PlatformError | None:
    """After a failed build: the YAML file that does not parse, as a PlatformError with file, line
    and column (kustomize numbers lines per document). Looks at the file kustomize names, then at
    every YAML file under the Kustomization's path."""
    candidates: list[Path] = []
    named = re.search(r"in File: (\S+?)\"?$", message, re.M)
    if named:
        folders = re.findall(r"accumulation of path '([^']+)'", message)
        candidates.append(Path(folders[-1] if folders else directory) / named.group(1))
    for base, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        candidates += [Path(base) / name for name in sorted(files)
                       if name.endswith((".yaml", ".yml")) or name == "Kustomization"]
    for path in candidates:
        try:
            load_documents(read_manifest(path), display(path))
        except PlatformError as exc:
            return exc
        except OSError:
            continue
    return None


__all__ = ["RenderResult", "RenderWarning", "RenderedKustomization", "SOURCE_ANNOTATION", "default_labels",
           "render_environment"]
