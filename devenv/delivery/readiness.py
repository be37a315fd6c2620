"""Reading and awaiting Flux's Ready: a Flux object's Ready condition for its current generation and revision,
the wait for a source and then every Kustomization (nested ones as their parents create them) along dependsOn,
what each Kustomization applied (its inventory), and `flux reconcile`'s request annotation."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

from devenv import wait
from devenv.clients.kube import Kube
from devenv.delivery import Progress, Quiet
from devenv.errors import DeliveryFailed
from devenv.flux.kustomizations import dependency_id

KUSTOMIZE_API = "kustomize.toolkit.fluxcd.io/v1"
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
# Flux's Ready=False reasons that waiting does not fix: the same source gives the same build.
FATAL_REASONS = {"BuildFailed", "ArtifactFailed"}
# Failures at the current revision that Flux retries but that waiting rarely fixes: a health check that already
# waited the Kustomization's own `timeout`, an apply the API server refused. An apply that failed for want of a
# CRD another Kustomization is still installing is waited for.
FAILED_REASONS = {"HealthCheckFailed", "ReconciliationFailed"}
TRANSIENT_MESSAGES = ("no matches for kind", "ensure CRDs are installed first")
# ArtifactFailed while the source has no artifact in kustomize-controller's view yet: it retries by itself.
SOURCE_NOT_FETCHED = "Source artifact not found"


@dataclass
class _Seen:
    ready: bool = False
    reason: str = ""
    message: str = ""
    revision: str = ""


def ready_state(obj: Mapping | None, revision: str | None = None, requested: str | None = None) -> _Seen:
    """A Flux object's Ready condition, current for its generation (and the revision / reconcile request)."""
    if obj is None:
        return _Seen(reason="NotFound", message="not created yet")
    status = obj.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    ready = conditions.get("Ready") or {}
    applied = str(status.get("lastAppliedRevision") or (status.get("artifact") or {}).get("revision") or "")
    if ready.get("status") == "False" and status.get("lastAttemptedRevision"):
        applied = str(status["lastAttemptedRevision"])  # the revision that failed (applied: the last that did not)
    seen = _Seen(False, str(ready.get("reason") or "Progressing"), str(ready.get("message") or "reconciling"), applied)
    generation = (obj.get("metadata") or {}).get("generation")
    # kustomize-controller moves status.observedGeneration only on success (-1 until one); its conditions
    # carry the generation they were written for
    if generation not in (status.get("observedGeneration"), ready.get("observedGeneration")):
        seen.reason, seen.message = "Progressing", "the controller has not seen this generation yet"
        return seen
    if requested and status.get("lastHandledReconcileAt") != requested:
        seen.reason, seen.message = "Progressing", "the reconcile request is not handled yet"
        return seen
    if revision and applied != revision and not revision.endswith(applied.rpartition("@")[2] or "\0"):
        seen.reason = seen.reason if ready.get("status") == "False" else "Progressing"
        return seen
    seen.ready = ready.get("status") == "True"
    return seen


def wait_ready(kube: Kube, kustomizations: list[dict], *, timeout: float, progress: Progress | None = None,
               source: Mapping | None = None, requested: str | None = None, poll: float = 0.5,
               check: Callable[[], None] | None = None) -> str:
    """Wait for the source, then every Kustomization (nested ones as their parents create them) to be Ready
    at the source's revision. Raises DeliveryFailed naming the Kustomization (and the HelmRelease) that
    failed, with Flux's condition message; returns the revision applied. `check`, called between looks,
    raises to end the wait early (a namespace environment's quota refusing its pods)."""
    progress = progress or Quiet()
    started = time.monotonic()
    revision = ""
    if source is not None:
        where = f"OCIRepository {source['metadata']['namespace']}/{source['metadata']['name']}"

        def not_ready(seen: _Seen) -> DeliveryFailed:
            return DeliveryFailed(f"{where} is not Ready: {seen.reason}: {seen.message}")

        last: list[_Seen] = []

        def look_at_source() -> str | wait.NotYet:
            seen = ready_state(kube.get(source), requested=requested)
            last[:] = [seen]
            if seen.ready:
                return seen.revision
            if seen.reason in FATAL_REASONS:
                raise not_ready(seen)
            return wait.NotYet(f"{seen.reason}: {seen.message}")

        revision = wait.until(look_at_source, what=where, timeout=timeout, poll=poll,
                              give_up=lambda _: not_ready(last[0]))
    pending = {f"{k['metadata']['namespace']}/{k['metadata']['name']}": k for k in kustomizations}
    needs = {kid: {dependency_id(d, k["metadata"]["namespace"]) for d in (k.get("spec") or {}).get("dependsOn") or []}
             for kid, k in pending.items()}
    asked = {kid: requested for kid in pending}  # the reconcile request each must have handled
    states: dict[str, _Seen] = {}
    ready: set[str] = set()
    announced: set[str] = set()

    def look() -> str | wait.NotYet:
        for kid, ref in list(pending.items()):
            live = kube.get(ref)
            seen = states[kid] = ready_state(live, revision or None, asked.get(kid))
            if seen.ready:
                progress.note(f"• Kustomization {kid}: Ready ({seen.revision or 'applied'})")
                del pending[kid]
                ready.add(kid)
                for child in _children(live):  # nested Kustomizations it applied: waited for too
                    cid = f"{child['metadata']['namespace']}/{child['metadata']['name']}"
                    if cid not in states and cid not in pending:
                        pending[cid] = child
                        states[cid] = _Seen(reason="NotFound", message="not looked at yet")  # looked at next pass
                # kustomize-controller looks at a Kustomization blocked on its dependsOn again only after
                # --requeue-dependency (30s): ask for those now unblocked at once, as `flux reconcile` would
                unblocked = [p for p in pending if needs.get(p) and kid in needs[p] and needs[p] <= ready]
                if unblocked:
                    token = request_reconcile(kube, [pending[p] for p in unblocked])
                    asked.update({p: token for p in unblocked})
            elif seen.revision == revision and not seen.message.startswith(SOURCE_NOT_FETCHED) and (
                    seen.reason in FATAL_REASONS or (
                    seen.reason in FAILED_REASONS and not any(m in seen.message for m in TRANSIENT_MESSAGES))):
                raise _failed(kube, kid, seen)
            elif kid not in announced and seen.reason != "Progressing":
                announced.add(kid)
                progress.note(f"• Kustomization {kid}: {seen.reason}: {seen.message[:200]}")
        if not pending:
            return revision
        return wait.NotYet([f"Kustomization {kid}: {states[kid].reason if kid in states else 'not looked at yet'}"
                            for kid in pending])  # a nested one just found is looked at next time

    def give_up(_: wait.NotYet) -> DeliveryFailed:
        culprit = _culprit(pending, states)
        seen = states.get(culprit) or _Seen(reason="NotFound", message="not looked at yet")
        return _failed(kube, culprit, seen, waited=timeout)

    return wait.until(look, what="Flux's Kustomizations", timeout=max(0.0, timeout - (time.monotonic() - started)),
                      poll=poll, between=(lambda _: check()) if check is not None else None, give_up=give_up)


def inventory(live: Mapping | None) -> list[dict]:
    """References to the objects a Flux Kustomization applied, from its status.inventory (ids are
    `<namespace>_<name>_<group>_<Kind>`, `v` the version); an entry that is not such an id is skipped."""
    refs = []
    for entry in (((live or {}).get("status") or {}).get("inventory") or {}).get("entries") or []:
        parts = str(entry.get("id", "")).split("_", 3)
        if len(parts) != 4:
            continue
        namespace, name, group, kind = parts
        version = str(entry.get("v") or "v1")
        refs.append({"apiVersion": f"{group}/{version}" if group else version, "kind": kind,
                     "metadata": {"name": name, **({"namespace": namespace} if namespace else {})}})
    return refs


def is_kustomization(ref: Mapping) -> bool:
    return ref["kind"] == "Kustomization" and ref["apiVersion"].startswith("kustomize.toolkit.fluxcd.io/")


def _children(live: Mapping | None) -> list[dict]:
    """The nested Kustomizations a Kustomization applied."""
    return [ref for ref in inventory(live) if is_kustomization(ref)]


def _culprit(pending: Mapping[str, dict], states: Mapping[str, _Seen]) -> str:
    """The Kustomization to blame: one that failed, else one still working (not waiting on another:
    DependencyNotReady is a symptom), else the first."""
    for unblamed in (("DependencyNotReady", "Progressing", "NotFound"), ("DependencyNotReady",)):
        for kid in pending:
            if kid in states and states[kid].reason not in unblamed:
                return kid
    return next(iter(pending))


def _failed(kube: Kube, kid: str, seen: _Seen, waited: float | None = None) -> DeliveryFailed:
    namespace, name = kid.split("/", 1)
    lines = []
    live = kube.get({"apiVersion": KUSTOMIZE_API, "kind": "Kustomization",
                     "metadata": {"name": name, "namespace": namespace}})
    for ref in inventory(live):
        if ref["kind"] == "HelmRelease":
            state = ready_state(kube.get(ref))
            if not state.ready:
                lines.append(f"HelmRelease {ref['metadata'].get('namespace')}/{ref['metadata']['name']}: "
                             f"{state.reason}: {state.message}")
    when = f"not Ready after {waited:g}s" if waited is not None else "failed"
    return DeliveryFailed(f"Kustomization {kid} {when}: {seen.reason}: {seen.message}", context=lines,
                          hint=f"flux get kustomizations -A; kubectl -n {namespace} describe kustomization {name}")


def request_reconcile(kube: Kube, objects: Iterable[Mapping]) -> str:
    """Ask Flux to reconcile now (the `reconcile.fluxcd.io/requestedAt` annotation, as `flux reconcile`)."""
    token = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{time.time_ns() % 10**9:09d}Z"
    for obj in objects:
        patch = {"apiVersion": obj["apiVersion"], "kind": obj["kind"],
                 "metadata": {"name": obj["metadata"]["name"], "namespace": obj["metadata"]["namespace"],
                              "annotations": {REQUESTED_AT: token}}}
        kube.apply(patch, field_manager="devenv-reconcile")
    return token
