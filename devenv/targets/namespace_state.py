"""Reading a namespace environment back from its cluster: the environment from its namespace's labels, its data
services from their workloads (StatefulSets; a Deployment for the aws stand-in) and Secrets, its Kustomizations'
Ready; and the services as `up` saw them Ready."""

from __future__ import annotations

import base64
from typing import Mapping

from devenv.clients.kube import CURRENT, Kube
from devenv.delivery.flux import KUSTOMIZE_API, ready_state
from devenv.domain import labels
from devenv.domain.facts import Endpoint, cluster_endpoint, service_facts
from devenv.domain.plan import Plan, ServicePlan
from devenv.domain.profiles import ServiceSpec
from devenv.services import SWAPS, swap_for
from devenv.services.workloads import Workload
from devenv.targets import EnvironmentState, ServiceState

# The workload each data service type runs as in a namespace (devenv.services.workloads): what status reads back.
SERVED_AS = {"StatefulSet": ("mariadb", "opensearch"), "Deployment": ("aws",)}


def read_state(kube: Kube, context: str, namespace: Mapping, *, probe: bool = True) -> EnvironmentState:
    """The environment as its cluster holds it: its services' StatefulSets and its Kustomizations' Ready."""
    base = from_labels(namespace, context)
    ns = base.namespace
    if not probe:
        return base
    problems = list(base.problems)
    services = []
    selector = labels.selector(base.name)
    secrets = {s["metadata"]["name"]: s for s in kube.list("v1", "Secret", namespace=ns, selector=selector)}
    workloads = [*kube.list("apps/v1", "StatefulSet", namespace=ns, selector=selector),
                 *kube.list("apps/v1", "Deployment", namespace=ns, selector=selector)]
    for sts in workloads:
        meta_labels = sts["metadata"].get("labels") or {}
        name, kind = meta_labels.get(labels.SERVICE), meta_labels.get(labels.SERVICE_TYPE)
        if not name or kind not in SERVED_AS.get(sts["kind"], ()):
            continue
        state, message = kube.status(sts)
        secret = secrets.get(Workload(name, ns).secret) or {}
        creds = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
        services.append(_service_state(name, kind, ns, sts, state, creds))
        if state != CURRENT:
            problems.append(f"data service {name}: {message or state}")
    rows = []
    for k in kube.list(KUSTOMIZE_API, "Kustomization", namespace=ns, selector=selector):
        seen = ready_state(k)
        rows.append({"name": k["metadata"]["name"], "ready": "True" if seen.ready else "False",
                     "reason": seen.reason, "message": seen.message[:300]})
        if not seen.ready:
            problems.append(f"Kustomization {k['metadata']['name']}: {seen.reason}: {seen.message[:300]}")
    state = base.state if base.state == "deleting" else "ready" if not problems else "degraded"
    return EnvironmentState(**{**base.__dict__, "state": state, "services": tuple(services),
                               "problems": tuple(problems), "kustomizations": tuple(rows)})


def expiry(namespace: Mapping) -> int | None:
    value = ((namespace.get("metadata") or {}).get("labels") or {}).get(labels.EXPIRES, "")
    return int(value) if value.isdigit() and int(value) else None


def from_labels(namespace: Mapping, context: str) -> EnvironmentState:
    """The environment as its namespace's labels and annotations say (cheap: no other object is read)."""
    meta = namespace.get("metadata") or {}
    found = meta.get("labels") or {}
    notes = meta.get("annotations") or {}
    created = found.get(labels.CREATED, "")
    deleting = bool(meta.get("deletionTimestamp"))
    return EnvironmentState(
        name=found.get(labels.ENVIRONMENT, meta.get("name", "?")), profile=found.get(labels.PROFILE, "?"),
        profile_path=notes.get(labels.PROFILE_PATH), target=found.get(labels.TARGET, "namespace"),
        state="deleting" if deleting else "ready", created=int(created) if created.isdigit() else None,
        expires=expiry(namespace), owner=found.get(labels.OWNER),
        branch=notes.get(labels.BRANCH_ANNOTATION) or found.get(labels.BRANCH),
        context=context, namespace=meta.get("name"), kept=found.get(labels.KEEP) == "true")


def _service_state(name: str, kind: str, ns: str, sts: Mapping, state: str, creds: Mapping[str, str]) -> ServiceState:
    endpoint = Endpoint(f"{name}.{ns}.svc.cluster.local", swap_for(kind).container_port)
    env = {e.get("name"): e.get("value") for e in
           ((sts.get("spec") or {}).get("template", {}).get("spec", {}).get("containers") or [{}])[0].get("env") or []}
    spec = ServiceSpec(name=name, type=kind, version="", database=env.get("MARIADB_DATABASE") or "app",
                       user=env.get("MARIADB_USER") or "root")
    image = ((sts.get("spec") or {}).get("template", {}).get("spec", {}).get("containers") or [{}])[0].get("image", "")
    return ServiceState(name=name, type=kind, container=f"{sts.get('kind', 'StatefulSet')} {ns}/{name}",
                        container_id=None, state="running" if state == CURRENT else "starting",
                        health="ready" if state == CURRENT else "not ready", image=image, endpoint=endpoint,
                        facts=service_facts(spec, endpoint, creds.get("password")))


def planned_state(plan: Plan, svc: ServicePlan, creds: Mapping[str, str]) -> ServiceState:
    """A data service `up` has just seen Ready: its facts as the environment's workloads see them."""
    endpoint = cluster_endpoint(plan.profile, plan.environment, svc.spec, plan.namespace, swaps=SWAPS)
    return ServiceState(name=svc.name, type=svc.type, container=f"StatefulSet {plan.namespace}/{svc.name}",
                        container_id=None, state="running", health="ready", image=svc.image, endpoint=endpoint,
                        facts=service_facts(svc.spec, endpoint, creds.get("password")))
