"""The render pipeline: what Flux would apply for an environment, computed offline, as the sequence of its jobs.

For each Flux Kustomization of the profile's cluster folder (as the bootstrap Kustomization applies
them, substituted) and those nested in their output, in dependency waves (flux.scheduler): resolve its
source (one a later Kustomization produces, e.g. an ArtifactGenerator's ExternalArtifact, once it has),
build its path with kustomize and its Flux spec (in parallel), leave out what only works on AWS
(flux.reasons), remove what needs AWS alone (IRSA, ALB annotations) before post-build substitution with the
variables Flux would load (flux.postbuild, which keeps the books of what is undefined or missing), then adapt
what stays (flux.adapt's adaptations, run as the Flux patches delivery writes: flux.adapting), set
commonMetadata, and warn about what Flux would trip over (flux.checks) — each exclusion and adaptation with
its reason. What devenv cannot see or build is "not rendered"; strict substitution problems are reported
together at the end.

For a namespace-target profile (a branch in a shared cluster) the tenant rewrite (flux.tenant_rewrite) moves
every Kustomization into the environment's namespace, leaves shared infrastructure to the cluster and runs
HelmReleases as the environment's ServiceAccount.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from devenv.domain import aws, facts, labels as labelkeys, tenancy
from devenv.errors import CommandFailed, PlatformError, SubstitutionError
from devenv.flux import adapt, adapting, checks, secrets
from devenv.flux.adapt import Adaptation, Exclusion, identity_key
from devenv.flux.kustomizations import (
    FluxKustomization, check_cycles, dependency_order, is_flux_kustomization, read_cluster_folder,
)
from devenv.flux.manifests import find_malformed_yaml
from devenv.flux.kustomize import (
    BuildCache, FluxSpec, RemoteResource, Workspace, display, resolve_path,
)
from devenv.flux.postbuild import Presubstituted, Substitution, as_stored, has_reference
from devenv.flux.reasons import LeaveOut
from devenv.flux.registry_credentials import registry_hosts
from devenv.flux.result import (  # noqa: F401 - re-exported: where the CLI and the targets import them from
    SECRET_MASK, RenderedKustomization, RenderResult, RenderWarning, mask_secret,
)
from devenv.flux.scheduler import run_waves
from devenv.flux.sources import SourceResolver
from devenv.flux.tenant_rewrite import TenantRewrite
from devenv.domain.profiles import EMBEDDED_PLATFORM, Profile
from devenv.services import SWAPS

KEPT, EXCLUDED, NOT_RENDERED, PENDING = "kept", "excluded", "not-rendered", "pending"
SOURCE_ANNOTATION = "devenv.io/kustomization"  # how output names the Kustomization of each document


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
    service_facts = facts.cluster_facts(profile, environment, namespace, passwords, swaps=SWAPS)
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
    presubstituted: Presubstituted | None = None
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



class _Renderer:
    def __init__(self, profile: Profile, environment: str, platform: Path, env_objects: list[dict],
                 strict: bool, workspace: Workspace, *, skip_unbuildable: bool = False, keep_going: bool = False,
                 secret_values: Mapping[str, Mapping[str, str]] | None = None,
                 tenant: str | None = None, cluster_scoped: Callable[[Mapping], bool | None] | None = None,
                 aws_env: Mapping[str, str] | None = None):
        self.profile = profile
        self.tenant = tenant  # the namespace of a namespace-target environment
        self.tenancy = TenantRewrite(tenant, cluster_scoped) if tenant else None
        self.skip_unbuildable = skip_unbuildable
        self.keep_going = keep_going
        self.secret_values = dict(secret_values or {})
        self.aws_env = dict(aws_env or {})  # what points an AWS SDK at the profile's aws stand-in (none: {})
        self.irsa_accounts: set[tuple[str, str]] = set()  # ServiceAccounts that had an IRSA role
        self.not_rendered: list[Exclusion] = []
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
        self.generated = {identity_key(obj): as_stored(obj) for obj in env_objects}
        self.found: dict[tuple[str, str, str], dict] = {}  # ConfigMaps/Secrets of the mirror and of outputs
        self.seen: list[dict] = []  # every object built, kept or not (for storage class names)
        self.resolver: SourceResolver | None = None
        self.profile_name = display(profile.path)
        # HelmReleases kept while their chart source was not known yet: re-checked once it may be
        self.unsettled: list[tuple[_Entry, dict]] = []
        self.leave_out = LeaveOut(profile, self.generated, self.found, self.secret_values, self.warnings,
                                  self.tenancy, lambda: self.resolver.objects)
        self.substitution = Substitution(profile, platform, env_objects, self.generated, self.found, self.warnings,
                                         strict=strict, keep_going=keep_going, root_of=self._root_of)

    def _root_of(self, kid: str) -> Path | None:
        entry = self.entries.get(kid)
        return entry.root if entry is not None else None

    # -- driving -------------------------------------------------------------------------------

    def run(self, workers: int) -> RenderResult:
        cluster = read_cluster_folder(self.platform, self.profile.mirror, self.workspace)
        bootstrap = cluster.bootstrap[0] if cluster.bootstrap else None
        self.resolver = SourceResolver(self.platform, self.profile.sources, self.workspace,
                                       bootstrap.source_ref if bootstrap else None)
        self.resolver.add(obj for obj, _ in cluster.objects)
        wave = self._register(self._substitute_cluster_folder(bootstrap, cluster))

        def cluster_folder_objects() -> None:  # while the first builds run
            if self.tenancy:  # the bootstrap's own objects are the shared cluster's
                self.excluded += self.tenancy.leave_to_cluster(cluster.other_objects())
            else:
                self._render_mirror(bootstrap, cluster.path, cluster.other_objects())

        started = run_waves(wave, workers=workers, buildable=lambda k: self.entries[k.id].status == KEPT,
                            build=lambda k: self._build(self.entries[k.id]), render=self._render_built,
                            failed=self._build_failed, next_wave=self._next_wave,
                            before=lambda: check_cycles([e.k for e in self.entries.values() if not e.mirror]),
                            while_first_builds_run=cluster_folder_objects)
        if not started:  # no Kustomization of the folder could start: its own objects still count
            cluster_folder_objects()
        for entry in self.entries.values():
            if entry.status == PENDING:
                self._exclude_kustomization(entry, entry.reason)
        self.substitution.report()
        return self._result()

    def _render_built(self, k: FluxKustomization, objects: list[dict]) -> list[FluxKustomization]:
        """Render one built Kustomization (its sources known from now on); the nested ones it applies."""
        self.resolver.add(objects)
        try:
            return self._render(self.entries[k.id], objects)
        except (PlatformError, SubstitutionError) as err:
            if not self.keep_going:
                raise
            self._exclude_kustomization(self.entries[k.id], f"not rendered: {_first_line(err)}")
            return []

    def _build_failed(self, k: FluxKustomization, err: Exception) -> None:
        if not self._skips(err):
            raise err
        self._exclude_kustomization(self.entries[k.id], f"not rendered: {_first_line(err)}")

    def _next_wave(self, nested: list[FluxKustomization]) -> list[FluxKustomization]:
        """Once a wave is rendered: settle what needed every source of it, then the nested Kustomizations and
        those whose source it brought."""
        self._settle_charts()
        return self._register(nested) + self._resolve_pending()

    def _substitute_cluster_folder(self, bootstrap: FluxKustomization | None, cluster) -> list[FluxKustomization]:
        """The cluster folder's Kustomization objects as the bootstrap Kustomization applies them:
        after its post-build substitution (`spec.path: ${CLUSTER_PATH}/apps`)."""
        if bootstrap is None or not isinstance(bootstrap.spec.get("postBuild"), dict):
            return cluster.kustomizations
        for obj, _ in cluster.other_objects():
            if obj.get("kind") in ("ConfigMap", "Secret") and obj.get("apiVersion") == "v1":
                self.found.setdefault(identity_key(obj), as_stored(obj))
        objects = [k.obj for k in cluster.kustomizations]
        variables = self.substitution.variables(bootstrap, objects)
        always = (bootstrap.spec.get("postBuild") or {}).get("substituteStrategy") == "Always"
        if variables is None or not (variables or always):
            return cluster.kustomizations
        out = []
        for k in cluster.kustomizations:
            obj = self.substitution.substitute(bootstrap, k.obj, variables, always) if has_reference(k.obj) else k.obj
            out.append(FluxKustomization(obj, k.origin, k.parent))
        return out

    def _register(self, wave: list[FluxKustomization]) -> list[FluxKustomization]:
        fresh = []
        for k in wave:
            if self.tenancy:
                parent = self.entries.get(k.parent) if k.parent else None
                k = self.tenancy.into_tenant(k, parent.k.source_ref.namespace if parent else k.namespace)
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
        if self.tenancy:  # built as written first: shared infrastructure is left out whole (_render says why)
            objects, original, entry.tenant_build_error = self.tenancy.build(
                lambda as_written: self._build_objects(entry, as_written=as_written))
            entry.tenant_original = original
            if objects is original:
                return original
            entry.built = self.tenancy.identities(objects, original)
        else:
            objects = self._build_objects(entry)
        self._adapt_early(entry, objects)
        entry.presubstituted = self.substitution.presubstitute(entry.k, objects)
        return objects

    def _build_objects(self, entry: _Entry, *, as_written: bool = False) -> list[dict]:
        """kustomize's output for the Kustomization; `as_written`: without the targetNamespace a namespace
        environment adds (what the platform's own spec builds)."""
        k = entry.k
        describe = k.describe()
        spec = k.flux_spec
        if as_written:
            spec = FluxSpec.from_spec(self.tenancy.as_written(k))
        try:
            objects = self.workspace.build(entry.root, k.path, spec, describe=describe)
        except CommandFailed as failed:
            malformed = find_malformed_yaml(resolve_path(entry.root, k.path, describe), failed.output)
            if malformed is not None:
                malformed.context = [f"while building {describe}"] + malformed.context
                raise malformed from None
            raise
        for obj in objects:
            if not obj.get("apiVersion") or not obj.get("kind") or not (obj.get("metadata") or {}).get("name"):
                raise PlatformError(f"{describe}: kustomize produced an object without apiVersion, kind or "
                                    f"metadata.name", context=[adapt.identity(obj).__repr__()])
        return objects

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
            key = identity_key(obj)
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

    def _render(self, entry: _Entry, raw: list[dict]) -> list[FluxKustomization]:
        k = entry.k
        self.seen.extend(raw)
        if entry.early is None:
            self._adapt_early(entry, raw)
        local = {identity_key(r): as_stored(r) for r in raw
                 if r.get("kind") in ("ConfigMap", "Secret") and r.get("apiVersion") == "v1"}
        reasons = [self.leave_out.reason(r, local) for r in raw]
        whole = adapt.whole_exclusion_reason(raw, reasons)
        if whole and not entry.mirror:
            self._exclude_whole(entry, raw, reasons, whole)
            return []
        if entry.tenant_original is not None:  # namespace target: shared infrastructure stays the cluster's
            shared = self.tenancy.scope_reasons(entry.tenant_original)
            if shared:
                self._exclude_whole(entry, entry.tenant_original, shared[1], shared[0])
                return []
            if entry.tenant_build_error is not None:
                raise entry.tenant_build_error
        variables = self.substitution.variables(k, [r for r, why in zip(raw, reasons) if not why])
        # With a substituteFrom object missing, Flux fails anyway; substituting still names the
        # variables that object would have to hold.
        always = ((k.spec.get("postBuild") or {}).get("substituteStrategy") == "Always"
                  or self.substitution.waits_on_missing(k.id))
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
                        resource = done if done is not None else self.substitution.substitute(
                            k, resource, variables, always)
                elif has_reference(resource):
                    resource = self.substitution.substitute(k, resource, variables, always)
            why = self.leave_out.reason(resource, local)
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
            self.substitution.warn_nothing_substituted(k, kept)
        self._drop(entry, dropped)
        for resource in entry.resources:
            if resource.get("kind") in ("ConfigMap", "Secret") and resource.get("apiVersion") == "v1":
                self.found.setdefault(identity_key(resource), as_stored(resource))
            if resource.get("kind") == "HelmRelease" and not self._chart_source_known(resource):
                self.unsettled.append((entry, resource))
        return [FluxKustomization(r, f"output of Kustomization {k.id}", parent=k.id)
                for r in entry.resources if is_flux_kustomization(r)]

    def _adapt_early(self, entry: _Entry, objects: list[dict]) -> None:
        self.irsa_accounts |= adapt.irsa_service_accounts(objects)
        adapting.adapt_early(entry, objects)

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
        self.warnings += checks.output_warnings([(e.k.id, r) for e in ordered for r in e.resources],
                                                [r for _, r in self.dropped], self.secret_values)
        rendered = [self._rendered(e) for e in ordered]
        return RenderResult(self.environment, self.profile, self.platform, rendered, self.excluded, adapted,
                            self.env_objects, self.warnings, self._components(), self.not_rendered,
                            list(self.substitution.undefined.values()), list(self.substitution.missing.values()),
                            self.tenant_sources)

    def _rendered(self, e: _Entry) -> RenderedKustomization:
        patch_parts, built = adapting.flux_patches(e)
        return RenderedKustomization(e.k, e.source, e.resources, patch_parts, built, mirror=e.mirror)

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

    def _adapt(self, ordered: list[_Entry]) -> list[Adaptation]:
        kept_resources = [r for e in ordered for r in e.resources]
        adapter = adapt.Adapter(
            ingress_class=self.profile.ingress_class, storage_class=self.profile.storage_class,
            aws_storage=adapt.aws_storage_classes(self.seen, kept_resources) - {self.profile.storage_class},
            excluded_kustomizations={e.k.id for e in self.entries.values() if e.status in (EXCLUDED, NOT_RENDERED)},
            excluded_objects={(x.kind, x.namespace or "default", x.name) for x in self.excluded},
            irsa_accounts=self.irsa_accounts, aws_env=self.aws_env, tenant=self.tenant,
            registries=registry_hosts(self.profile))
        return adapting.adapt_kept(ordered, adapter, self.substitution, secret_values=self.secret_values,
                                   tenancy=self.tenancy, chart_source_in_tenant=self._chart_source_in_tenant)

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





BOOTSTRAP_ID = "flux-system/flux-system"



def _first_line(err: Exception) -> str:
    return str(err).splitlines()[0] if str(err) else type(err).__name__



__all__ = ["RenderResult", "RenderWarning", "RenderedKustomization", "SOURCE_ANNOTATION", "default_labels",
           "render_environment"]
