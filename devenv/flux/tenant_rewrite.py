"""The tenant rewrite of a render for the namespace target: every Kustomization moved into the environment's
namespace with `targetNamespace` set to it (its dependencies there too, its source where it was); one whose output,
built as the platform wrote it, holds cluster-scoped objects is shared infrastructure and left out; a kept one's
own Namespace becomes the environment's; HelmReleases run as the environment's ServiceAccount, their chart
sources in its namespace; and the cluster folder's own objects (the bootstrap) stay the cluster's."""

from __future__ import annotations

import copy
from typing import Callable, Mapping

from devenv.domain import tenancy
from devenv.errors import CommandFailed
from devenv.flux import adapt, patches
from devenv.flux.adapt import Exclusion
from devenv.flux.kustomizations import FluxKustomization


class TenantRewrite:
    """`tenant`: the environment's namespace; `discovered_scope` (with a cluster at hand) says from the cluster's
    discovery whether an object's kind is cluster-scoped (None: not known there)."""

    def __init__(self, tenant: str, discovered_scope: Callable[[Mapping], bool | None] | None = None):
        self.tenant = tenant
        self.discovered_scope = discovered_scope
        self.cluster_scoped_crds: set[tuple[str, str]] = set()  # (group, kind) the render's CRDs declare Cluster
        self.written_targets: dict[str, object] = {}  # each Kustomization's own targetNamespace, by its new id

    def into_tenant(self, k: FluxKustomization, source_namespace: str) -> FluxKustomization:
        """A Kustomization as a namespace environment has it: in the environment's namespace, with
        targetNamespace set to it, its dependencies there too, its source where it was (`source_namespace`
        when its sourceRef names none: its parent's source's, or its own namespace)."""
        obj = copy.deepcopy(k.obj)
        spec = obj.setdefault("spec", {})
        source = spec.get("sourceRef")
        if isinstance(source, dict) and not source.get("namespace"):
            source["namespace"] = source_namespace
        obj.setdefault("metadata", {})["namespace"] = self.tenant
        self.written_targets[f"{self.tenant}/{k.name}"] = spec.get("targetNamespace")
        spec["targetNamespace"] = self.tenant
        if isinstance(spec.get("dependsOn"), list):
            spec["dependsOn"] = [{**d, "namespace": self.tenant} if isinstance(d, dict) else d
                                 for d in spec["dependsOn"]]
        return FluxKustomization(obj, k.origin, k.parent)

    def as_written(self, k: FluxKustomization) -> dict:
        """The Kustomization's spec with the targetNamespace the platform gave it (what its own spec builds)."""
        return {**k.spec, "targetNamespace": self.written_targets.get(k.id)}

    @staticmethod
    def leave_to_cluster(objects: list[tuple[dict, str]]) -> list[Exclusion]:
        return [adapt.exclusion(obj, None, "the cluster folder's own object (applied by the bootstrap): the shared "
                                           "cluster has it") for obj, _ in objects]

    def is_cluster_scoped(self, obj: Mapping) -> bool:
        key = (tenancy.group_of(obj), str(obj.get("kind")))
        if key in tenancy.CLUSTER_SCOPED or key in self.cluster_scoped_crds:
            return True
        return bool(self.discovered_scope and self.discovered_scope(obj))

    def build(self, build: Callable[[bool], list[dict]]) -> tuple[list[dict], list[dict], CommandFailed | None]:
        """The output as the render uses it, as the platform wrote it, and the build's failure: `build(as_written)`
        is first run as written; shared infrastructure (cluster-scoped objects) is not built again as the
        tenant's; a build into the environment's namespace that fails (e.g. two Namespaces folded into one) is
        kept to be raised once the Kustomization is known not to be left out."""
        original = build(True)
        if tenancy.cluster_scope_reason(original, self.is_cluster_scoped):
            return original, original, None
        try:
            return build(False), original, None
        except CommandFailed as failed:
            return original, original, failed

    @staticmethod
    def identities(objects: list[dict], original: list[dict]) -> list[dict]:
        """Patch identities of the output: the Namespace devenv drops is selected by the platform's own name."""
        return [patches.identity(o if o.get("kind") != "Namespace" else next(
            (n for n in original if n.get("kind") == "Namespace"), o)) for o in objects]

    def scope_reasons(self, original: list[dict]) -> tuple[str, list[str | None]] | None:
        """Why a Kustomization is shared infrastructure, left out whole, with each object's reason; else None."""
        self.cluster_scoped_crds |= tenancy.crd_scopes(original)
        why = tenancy.cluster_scope_reason(original, self.is_cluster_scoped)
        if not why:
            return None
        return why, [why if self.is_cluster_scoped(o) else None for o in original]

    def own_namespace_reason(self, resource: Mapping) -> str | None:
        if resource.get("kind") == "Namespace" and adapt.identity(resource)[2] == self.tenant:
            return ("the Kustomization's own namespace, which targetNamespace makes the environment's: devenv "
                    "creates and locks it down")
        return None

    @staticmethod
    def run_as_tenant(release: dict) -> list[str]:
        """A namespace environment's HelmRelease is installed as its ServiceAccount (helm-controller impersonates
        spec.serviceAccountName), never with helm-controller's own cluster-wide rights."""
        spec = release.setdefault("spec", {})
        if spec.get("serviceAccountName") == tenancy.SERVICE_ACCOUNT:
            return []
        spec["serviceAccountName"] = tenancy.SERVICE_ACCOUNT
        return [f"spec.serviceAccountName set to {tenancy.SERVICE_ACCOUNT}: installed as the environment's "
                "ServiceAccount, which can write only in its namespace"]
