"""Taking a namespace environment away: its Kustomizations first (Flux prunes what they applied), then its
namespace, waiting until each is gone; and what its namespace holds, for `down --dry-run`."""

from __future__ import annotations

import contextlib
from typing import Mapping

from devenv.clients.kube import Kube, describe
from devenv.delivery import Progress
from devenv.delivery.flux import KUSTOMIZE_API, SOURCE_API, inventory
from devenv.domain import labels
from devenv.errors import KubeError, ReadinessTimeout
from devenv.wait import SYSTEM, Clock, NotYet, until

DELETE_TIMEOUT = 180.0
PRUNE_GRACE = 20.0  # how long Flux gets to prune a deleted Kustomization before its finalizer is taken off


def remove(kube: Kube, ns: str, environment: str, progress: Progress, clock: Clock = SYSTEM) -> list[dict]:
    """The Kustomizations first, while the ServiceAccount they prune as still exists (deleted with the
    namespace, kustomize-controller could not impersonate it and their finalizers would hold the
    namespace), then the namespace; returns the Kustomizations. A Kustomization whose controller is busy
    (a health check waits out its `timeout` before the deletion is seen) loses its finalizer after
    PRUNE_GRACE: everything it applied is inside the namespace, which deleting the namespace removes."""
    kustomizations = kube.list(KUSTOMIZE_API, "Kustomization", namespace=ns, selector=labels.selector(environment))
    for k in kustomizations:
        kube.delete(k)
    left = wait_gone(kube, kustomizations, timeout=PRUNE_GRACE, progress=progress,
                     what="Flux pruning what the Kustomizations applied", quiet=True, clock=clock)
    for k in left:
        progress.note(f"• {describe(k)}: its controller is busy; the namespace's deletion removes what it applied")
        with contextlib.suppress(KubeError):
            kube.merge_patch(k, {"metadata": {"finalizers": None}})
    namespace = namespace_ref(ns)
    kube.delete(namespace)
    wait_gone(kube, [namespace], timeout=DELETE_TIMEOUT, progress=progress, what=f"namespace {ns} to be deleted",
              clock=clock)
    return kustomizations


def contents(kube: Kube, ns: str) -> list[dict]:
    """What a namespace environment's namespace holds: devenv's objects and what Flux applied for it."""
    out = []
    for api, kind in (("v1", "ResourceQuota"), ("v1", "LimitRange"), ("networking.k8s.io/v1", "NetworkPolicy"),
                      ("v1", "ServiceAccount"), ("rbac.authorization.k8s.io/v1", "RoleBinding"),
                      ("v1", "Secret"), ("v1", "ConfigMap"), ("v1", "Service"), ("apps/v1", "StatefulSet"),
                      ("apps/v1", "Deployment"), ("v1", "PersistentVolumeClaim"), (SOURCE_API, "OCIRepository"),
                      (KUSTOMIZE_API, "Kustomization")):
        out += [o for o in kube.list(api, kind, namespace=ns)
                if (o["metadata"].get("labels") or {}).get(labels.MANAGED) == "true"
                or kind == "PersistentVolumeClaim"]
    for k in [o for o in out if o["kind"] == "Kustomization"]:
        out += [ref for ref in inventory(k) if describe(ref) not in {describe(o) for o in out}]
    return out


def wait_gone(kube: Kube, objects: list[Mapping], *, timeout: float, progress: Progress, what: str,
              quiet: bool = False, clock: Clock = SYSTEM) -> list[Mapping]:
    """Wait until the objects are gone; returns those still there after `timeout` (warned about unless quiet)."""
    pending = list(objects)
    announced = []

    def look() -> NotYet | None:
        pending[:] = [o for o in pending if kube.get(o) is not None]
        return NotYet([describe(o) for o in pending]) if pending else None

    def announce(_: NotYet) -> None:
        if not announced:
            progress.note(f"• waiting for {what}")
            announced.append(True)

    try:
        until(look, what=what, timeout=timeout, clock=clock, between=announce)
    except ReadinessTimeout:
        if not quiet:
            progress.warn(f"{', '.join(describe(o) for o in pending)} still there after {timeout:g}s ({what}); "
                          "Kubernetes removes it once its finalizers are done")
    return pending


def namespace_ref(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
