"""The render pipeline: what Flux would apply for an environment, computed offline.

For each Flux Kustomization of the profile's cluster folder (and those nested in their output):
resolve its source, build its path with kustomize and its Flux spec (in parallel), leave out what
only works on AWS, run post-build substitution with the variables Flux would load (the profile's
`environment` ConfigMap/Secret among them), set commonMetadata, then adapt what stays (dependsOn,
IRSA, ALB ingress, storage classes) — each exclusion and adaptation with its reason.
"""

from __future__ import annotations

import base64
import json
import os
import re
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from devenv import aws, facts, labels as labelkeys
from devenv.errors import CommandFailed, PlatformError, SubstitutionError
from devenv.flux import adapt
from devenv.flux.adapt import Adaptation, Exclusion
from devenv.flux.kustomizations import (
    FluxKustomization, check_cycles, dependency_order, is_flux_kustomization, read_cluster_folder,
)
from devenv.flux.kustomize import Workspace, display, load_documents, resolve_path
from devenv.flux.sources import SourceResolver
from devenv.profiles import EMBEDDED_PLATFORM, Profile

KEPT, EXCLUDED = "kept", "excluded"
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

    def to_dict(self) -> dict:
        return {
            "environment": self.environment,
            "profile": self.profile.name,
            "platform": str(self.platform),
            "mirror": self.profile.mirror,
            "kustomizations": [k.to_dict() for k in self.kustomizations],
            "excluded": [x.to_dict() for x in self.excluded],
            "adapted": [a.to_dict() for a in self.adapted],
            "environmentConfigMap": self.environment_configmap,
            "warnings": [w.to_dict() for w in self.warnings],
        }


def default_labels(profile: Profile, environment: str) -> dict[str, str]:
    """Deterministic labels for an offline render (no creation time: the output can be diffed)."""
    return {labelkeys.MANAGED: "true", labelkeys.ENVIRONMENT: environment, labelkeys.PROFILE: profile.name}


def render_environment(profile: Profile, environment: str, *, platform: str | os.PathLike | None = None,
                       labels: Mapping[str, str] | None = None, namespace: str | None = None,
                       passwords: Mapping[str, str] | None = None, strict: bool = True,
                       workers: int | None = None) -> RenderResult:
    """Render what Flux would apply for `environment` from the profile's cluster folder of `platform`
    (default: the embedded platform), AWS-only components left out and the rest adapted.

    `labels` go on the generated `environment` ConfigMap/Secret (default: managed/environment/profile);
    `namespace` is the target namespace of a namespace-target environment (endpoints differ);
    `passwords` are the services' generated passwords (an offline render shows placeholders);
    `strict` is Flux's strict post-build substitution (undefined variables are errors).
    Raises PlatformError, SubstitutionError, CommandFailed or ToolMissing, each naming what failed.
    """
    if not profile.mirror:  # a docker profile may leave it out: the data services alone, no cluster
        raise PlatformError(f"profile {profile.name!r} ({profile.path}) names no cluster folder to render",
                            hint="add `mirror: clusters/<cluster>` to the profile, or use a kind profile (`--profile local`)")
    root = Path(platform) if platform is not None else EMBEDDED_PLATFORM
    root = root.resolve()
    env_objects = facts.environment_objects(
        profile, environment, facts.cluster_facts(profile, environment, namespace, passwords),
        dict(labels) if labels is not None else default_labels(profile, environment), namespace)
    with Workspace() as workspace:
        renderer = _Renderer(profile, environment, root, env_objects, strict, workspace)
        return renderer.run(workers or _default_workers())


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
                 strict: bool, workspace: Workspace):
        self.profile = profile
        self.environment = environment
        self.platform = platform
        self.env_objects = env_objects
        self.strict = strict
        self.workspace = workspace
        self.entries: dict[str, _Entry] = {}
        self.excluded: list[Exclusion] = []
        self.warnings: list[RenderWarning] = []
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
        wave = cluster.kustomizations
        with ThreadPoolExecutor(max_workers=workers) as pool:
            while True:
                wave = self._register(wave)
                check_cycles([e.k for e in self.entries.values() if not e.mirror])
                futures = {k.id: pool.submit(self._build, self.entries[k.id]) for k in wave
                           if self.entries[k.id].status == KEPT}
                if cluster is not None:  # while the first builds run
                    self._render_mirror(bootstrap, cluster.path, cluster.other_objects())
                    cluster = None
                wave = self._finish_wave(wave, futures)
                if not wave:
                    break
        return self._result()

    def _register(self, wave: list[FluxKustomization]) -> list[FluxKustomization]:
        fresh = []
        for k in wave:
            if k.id in self.entries:
                self.warnings.append(RenderWarning(
                    f"Kustomization {k.id} is defined twice ({self.entries[k.id].k.origin} and {k.origin}); "
                    f"the second is ignored", kustomization=k.id))
                continue
            entry = self.entries[k.id] = _Entry(k)
            fresh.append(k)
            reason = self._skip_reason(k)
            if reason is None:
                resolved = self.resolver.resolve(k.source_ref)
                entry.source = resolved.description
                entry.root = resolved.root
                if resolved.root is None:
                    reason = f"not rendered: {resolved.reason}"
                else:
                    resolve_path(resolved.root, k.spec.get("path"), k.describe())
            if reason is not None:
                self._exclude_kustomization(entry, reason)
        return fresh

    def _skip_reason(self, k: FluxKustomization) -> str | None:
        if k.name in self.profile.exclude or k.id in self.profile.exclude:
            return f"listed in the profile's exclude ({self.profile_name})"
        if k.spec.get("suspend") is True:
            return "suspended (spec.suspend: true): Flux does not reconcile it"
        if k.spec.get("kubeConfig"):
            return "applies to another cluster (spec.kubeConfig), which a local environment does not have"
        return None

    def _build(self, entry: _Entry) -> list[dict]:
        objects = self._build_objects(entry)
        entry.presubstituted = self._presubstitute(entry.k, objects)
        return objects

    def _build_objects(self, entry: _Entry) -> list[dict]:
        k = entry.k
        describe = k.describe()
        try:
            objects = self.workspace.build(entry.root, k.path, k.flux_spec, describe=describe)
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
            variables = self._variables(k, objects)
        except Exception:  # noqa: BLE001 - rendering loads them again and reports
            return None
        always = (k.spec.get("postBuild") or {}).get("substituteStrategy") == "Always"
        if variables is None or not (variables or always):
            return None
        from devenv.flux.substitution import substitute_resource

        results: dict[int, dict | None] = {}
        for index, resource in enumerate(objects):
            if _has_reference(resource):
                try:
                    results[index] = substitute_resource(resource, variables, strict=self.strict, always=always)
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
                    objects = futures[k.id].result()
                    self.resolver.add(objects)
                    nested += self._render(self.entries[k.id], objects)
        except BaseException:
            for future in futures.values():
                future.cancel()
            raise
        self._settle_charts()
        return nested

    def _render_mirror(self, bootstrap: FluxKustomization | None, path: str, objects: list[tuple[dict, str]]) -> None:
        """The cluster folder's own objects besides Kustomizations (e.g. a ConfigMap of cluster
        variables, HelmRepositories), applied by the bootstrap Kustomization."""
        not_rendered = {(e.k.source_ref.kind, e.k.source_ref.namespace, e.k.source_ref.name)
                        for e in self.entries.values() if e.status == EXCLUDED}
        used = {(e.k.source_ref.kind, e.k.source_ref.namespace, e.k.source_ref.name)
                for e in self.entries.values() if e.status == KEPT}
        keep = []
        for obj, origin in objects:
            key = _key(obj)
            if adapt.is_flux_source(obj) and key in not_rendered and key not in used:
                continue  # only serves a Kustomization that is not rendered: reported with it
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

    def _reason(self, resource: dict) -> str | None:
        return (adapt.profile_exclusion_reason(resource, self.profile.exclude, self.profile_name)
                or aws.aws_only_reason(resource, self.resolver.objects))

    def _render(self, entry: _Entry, raw: list[dict]) -> list[FluxKustomization]:
        k = entry.k
        self.seen.extend(raw)
        reasons = [self._reason(r) for r in raw]
        whole = adapt.whole_exclusion_reason(raw, reasons)
        if whole and not entry.mirror:
            self._exclude_whole(entry, raw, reasons, whole)
            return []
        variables = self._variables(k, [r for r, why in zip(raw, reasons) if not why])
        always = (k.spec.get("postBuild") or {}).get("substituteStrategy") == "Always"
        pre, entry.presubstituted = entry.presubstituted, None
        if pre is not None and pre.variables != variables:
            pre = None
        kept: list[dict] = []
        dropped: list[tuple[dict, str]] = []
        for index, (resource, why) in enumerate(zip(raw, reasons)):
            if why:
                dropped.append((resource, why))
                continue
            if variables is not None and (variables or always):
                if pre is not None:  # substituted already, with these variables, if it has a `$`
                    if index in pre.results:
                        done = pre.results[index]
                        resource = done if done is not None else self._substitute(k, resource, variables, always)
                elif _has_reference(resource):
                    resource = self._substitute(k, resource, variables, always)
            why = self._reason(resource)
            if why:
                dropped.append((resource, why))
            else:
                kept.append(resource)
        if dropped and not entry.mirror and all(adapt.is_supporting(r) for r in kept):
            self._exclude_whole(entry, [r for r, _ in dropped] + kept, [w for _, w in dropped] + [None] * len(kept),
                                adapt.whole_exclusion_reason([r for r, _ in dropped], [w for _, w in dropped]))
            return []
        entry.resources = kept
        self._drop(entry, dropped)
        common = k.spec.get("commonMetadata")
        for resource in entry.resources:
            adapt.apply_common_metadata(resource, common if isinstance(common, dict) else None)
            if resource.get("kind") in ("ConfigMap", "Secret") and resource.get("apiVersion") == "v1":
                self.found.setdefault(_key(resource), _as_stored(resource))
            if resource.get("kind") == "HelmRelease" and not self._chart_source_known(resource):
                self.unsettled.append((entry, resource))
        return [FluxKustomization(r, f"output of Kustomization {k.id}", parent=k.id)
                for r in entry.resources if is_flux_kustomization(r)]

    def _drop(self, entry: _Entry, dropped: list[tuple[dict, str]]) -> None:
        """Leave these out of the entry's output, with the chart sources only they used."""
        orphans = adapt.unused_chart_sources(entry.resources, [r for r, _ in dropped])
        dropped = dropped + [(entry.resources[i], why) for i, why in orphans.items()]
        gone = {id(r) for r, _ in dropped}
        entry.resources = [r for r in entry.resources if id(r) not in gone]
        for resource, why in dropped:
            self.excluded.append(adapt.exclusion(resource, entry.k.id, why))

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
        from devenv.flux.substitution import substitute_resource

        try:
            return substitute_resource(resource, variables, strict=self.strict, always=always)
        except SubstitutionError as err:
            err.context = list(err.context) + [f"in the output of {k.describe()}"]
            raise

    def _variables(self, k: FluxKustomization, resources: list[dict]) -> dict[str, str] | None:
        """The variables kustomize-controller would load for this Kustomization, None without postBuild."""
        post = k.spec.get("postBuild")
        if not isinstance(post, dict):
            return None
        from devenv.flux.substitution import variables_from_objects

        variables: dict[str, str] = {}
        for i, ref in enumerate(post.get("substituteFrom") or []):
            if not isinstance(ref, dict):
                continue
            key = (str(ref.get("kind")), k.namespace, str(ref.get("name")))
            obj = self.generated.get(key) or self.found.get(key)
            if obj is None:
                if ref.get("optional") is True:
                    continue
                raise PlatformError(
                    f"{k.describe()}: postBuild.substituteFrom[{i}] names {key[0]} {key[1]}/{key[2]}, which does "
                    f"not exist (and is not optional)",
                    context=[f"the profile {display(self.profile.path)} generates ConfigMap "
                             f"{self.profile.environment.namespace}/{self.profile.environment.name}"
                             + (f" and Secret {self.profile.environment.namespace}/{self.profile.environment.secret_name}"
                                if self.profile.environment.secret_data else ""),
                             "no such object is in the cluster folder or in a Kustomization rendered before it"],
                    hint="name it in the profile's environment (name / secretName, with data / secretData), "
                         "or mark the reference `optional: true`")
            variables.update(variables_from_objects([obj], source=f"{key[0]} {key[1]}/{key[2]}"))
        for name, value in (post.get("substitute") or {}).items():
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

    def _exclude_kustomization(self, entry: _Entry, reason: str) -> None:
        entry.status, entry.reason = EXCLUDED, reason
        k = entry.k
        self.excluded.append(Exclusion("Kustomization", k.name, k.namespace, k.parent, reason))

    def _exclude_whole(self, entry: _Entry, resources: list[dict], reasons: list[str | None], why: str) -> None:
        """Leave out a Kustomization whose every object is AWS-only (or only serves those), listing
        each object; a nested one also disappears from the output of the Kustomization holding it."""
        self._exclude_kustomization(entry, why)
        k = entry.k
        if k.parent and k.parent in self.entries:
            parent = self.entries[k.parent]
            parent.resources = [r for r in parent.resources if r is not k.obj]
        rest = [r for r, reason in zip(resources, reasons) if not reason]
        orphans = adapt.unused_chart_sources(rest, [r for r, reason in zip(resources, reasons) if reason])
        orphan_reasons = {id(rest[i]): why for i, why in orphans.items()}
        for resource, reason in zip(resources, reasons):
            reason = reason or orphan_reasons.get(id(resource)) or f"only serves what {k.id} leaves out"
            self.excluded.append(adapt.exclusion(resource, k.id, reason))

    # -- the result ----------------------------------------------------------------------------

    def _result(self) -> RenderResult:
        kept = [e for e in self.entries.values() if e.status == KEPT]
        mirror = [e for e in kept if e.mirror]
        nested_after_parent = {e.k.id: [e.k.parent] for e in kept if e.k.parent}
        ordered = mirror + [self.entries[k.id] for k in
                            dependency_order([e.k for e in kept if not e.mirror], nested_after_parent)]
        known = set(self.entries)
        for e in ordered:
            for dep in e.k.depends_on:
                if dep not in known:
                    self.warnings.append(RenderWarning(
                        f"Kustomization {e.k.id} dependsOn {dep}, which no Kustomization defines: Flux would wait "
                        f"for it forever", kustomization=e.k.id))
        adapted = self._adapt(ordered)
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
                        f"Secret {namespace}/{name} is SOPS-encrypted; devenv cannot decrypt it offline",
                        kustomization=e.k.id))
        rendered = [RenderedKustomization(e.k, e.source, e.resources) for e in ordered]
        return RenderResult(self.environment, self.profile, self.platform, rendered, self.excluded, adapted,
                            self.env_objects, self.warnings, self._components())

    def _adapt(self, ordered: list[_Entry]) -> list[Adaptation]:
        kept_resources = [r for e in ordered for r in e.resources]
        adapter = adapt.Adapter(
            ingress_class=self.profile.ingress_class, storage_class=self.profile.storage_class,
            aws_storage=adapt.aws_storage_classes(self.seen, kept_resources),
            excluded_kustomizations={e.k.id for e in self.entries.values() if e.status == EXCLUDED},
            excluded_objects={(x.kind, x.namespace or "default", x.name) for x in self.excluded})
        out: list[Adaptation] = []
        for e in ordered:
            if e.k.parent is None and not e.mirror:
                for change in adapter.rewire_kustomization(e.k.obj):
                    out.append(Adaptation("Kustomization", e.k.name, e.k.namespace, None, change))
            for resource in e.resources:
                kind, namespace, name = adapt.identity(resource)
                for change in adapter.adapt(resource):
                    out.append(Adaptation(kind, name, namespace, e.k.id, change))
        return out

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


def _has_reference(resource: dict) -> bool:
    """Whether a `$` occurs anywhere in the object. Substitution of an object without one changes
    nothing that matters (envsubst leaves the text as it is), so it is skipped for speed."""
    return "$" in json.dumps(resource, default=str)


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
            load_documents(path.read_text(errors="replace"), display(path))
        except PlatformError as exc:
            return exc
        except OSError:
            continue
    return None


__all__ = ["RenderResult", "RenderWarning", "RenderedKustomization", "SOURCE_ANNOTATION", "default_labels",
           "render_environment"]
