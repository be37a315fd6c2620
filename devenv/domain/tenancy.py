"""A namespace environment in a shared cluster, locked down as Flux's multi-tenancy guide does it: the
namespace (owner, branch, commit, expiry on it; its Pod Security level), a ResourceQuota and LimitRange, a
NetworkPolicy admitting only the namespace itself and the ingress controller's (and with `egress:
restricted` letting out only to the namespace, the cluster's DNS and the listed CIDRs), and the
ServiceAccount its Flux Kustomizations run as (`spec.serviceAccountName`), bound to a ClusterRole in that
namespace only: nothing the environment deploys can write outside it.

That holds only when the cluster's Flux itself is locked down (`flux_lockdown_gaps`: kustomize- and
helm-controller with `--no-cross-namespace-refs=true` and `--default-service-account`); a HelmRelease's
chart source in another namespace is moved into the environment's (`chart_source_in_tenant`).

Shared, cluster-scoped infrastructure is never instantiated per branch: `cluster_scope_reason` says why a
Kustomization's output cannot go into one namespace."""

from __future__ import annotations

import copy
from typing import Callable, Iterable, Mapping

from devenv.domain import labels as keys
from devenv.errors import InvalidInput
from devenv.domain.profiles import NamespaceSpec, Profile

SERVICE_ACCOUNT = "devenv-flux"  # what the environment's Kustomizations and HelmReleases run as
ROLE_BINDING = "devenv-flux"
NETWORK_POLICY = "devenv-isolation"
QUOTA = "devenv-quota"
LIMITS = "devenv-limits"
POD_SECURITY = "pod-security.kubernetes.io/enforce"
# The flags Flux's multi-tenancy lockdown sets on these controllers (fluxcd/flux2-multi-tenancy)
LOCKDOWN_FLAGS = ("--no-cross-namespace-refs", "--default-service-account")
LOCKED_CONTROLLERS = ("kustomize-controller", "helm-controller")
FLUX_NAMESPACE = "flux-system"

# Kinds the API server serves without a namespace (Kubernetes' own, and those of well-known CRDs); a CRD in
# the render declaring `scope: Cluster`, or the cluster's discovery, adds more.
CLUSTER_SCOPED = {
    ("", "Namespace"), ("", "PersistentVolume"), ("", "Node"), ("", "ComponentStatus"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"), ("apiregistration.k8s.io", "APIService"),
    ("rbac.authorization.k8s.io", "ClusterRole"), ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("storage.k8s.io", "StorageClass"), ("storage.k8s.io", "CSIDriver"), ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "VolumeAttachment"), ("scheduling.k8s.io", "PriorityClass"),
    ("node.k8s.io", "RuntimeClass"), ("networking.k8s.io", "IngressClass"),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
    ("certificates.k8s.io", "CertificateSigningRequest"), ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("snapshot.storage.k8s.io", "VolumeSnapshotClass"), ("cert-manager.io", "ClusterIssuer"),
    ("external-secrets.io", "ClusterSecretStore"), ("external-secrets.io", "ClusterExternalSecret"),
    ("kyverno.io", "ClusterPolicy"), ("karpenter.sh", "NodePool"), ("karpenter.k8s.aws", "EC2NodeClass"),
    ("pkg.crossplane.io", "Provider"), ("pkg.crossplane.io", "Configuration"),
}


def namespace_name(profile: Profile, environment: str) -> str:
    """A namespace environment's namespace: <prefix>-<environment>, a DNS label (at most 63 characters)."""
    name = f"{profile.namespace.prefix}-{environment}"
    if len(name) > 63:
        raise InvalidInput(f"namespace {name!r} would be longer than 63 characters",
                           hint=f"use a shorter environment name or `namespace.prefix` in {profile.path}")
    return name


def group_of(obj: Mapping) -> str:
    return str(obj.get("apiVersion") or "").rpartition("/")[0]


def crd_scopes(objects: Iterable[Mapping]) -> set[tuple[str, str]]:
    """(group, kind) of every cluster-scoped kind a CustomResourceDefinition among `objects` declares."""
    out = set()
    for obj in objects:
        if obj.get("kind") == "CustomResourceDefinition" and isinstance(obj.get("spec"), dict):
            spec = obj["spec"]
            if spec.get("scope") == "Cluster" and isinstance(spec.get("names"), dict):
                out.add((str(spec.get("group") or ""), str(spec["names"].get("kind") or "")))
    return out


def cluster_scope_reason(objects: list[dict], is_cluster_scoped: Callable[[Mapping], bool]) -> str | None:
    """Why a Kustomization's output (built as the platform wrote it) cannot become part of one namespace,
    or None. A single Namespace that every namespaced object of the output lives in is the Kustomization's
    own (the usual `namespace: shop` + namespace.yaml of an app): targetNamespace turns it into the
    environment's namespace. Any other cluster-scoped object (CRDs, ClusterRoles, StorageClasses, webhooks,
    a ClusterIssuer, Namespaces of infrastructure spread over several) is shared infrastructure."""
    namespaces = [o for o in objects if o.get("kind") == "Namespace" and group_of(o) == ""]
    others = sorted({f"{o.get('kind')} {(o.get('metadata') or {}).get('name')}" for o in objects
                     if is_cluster_scoped(o) and o not in namespaces})
    if others:
        shown = ", ".join(others[:4]) + (f" and {len(others) - 4} more" if len(others) > 4 else "")
        return (f"holds cluster-scoped objects ({shown}): shared infrastructure, which the cluster runs once "
                "and a branch environment never instantiates")
    if not namespaces:
        return None
    used = {(o.get("metadata") or {}).get("namespace") for o in objects if not is_cluster_scoped(o)} - {None}
    names = sorted(str((n.get("metadata") or {}).get("name")) for n in namespaces)
    if len(names) == 1 and used <= set(names):
        return None
    return (f"holds Namespaces {', '.join(names)}: infrastructure spread over several namespaces, which the "
            "cluster runs once and a branch environment never instantiates")


def guard_rails(namespace: str, spec: NamespaceSpec, tags: Mapping[str, str], annotations: Mapping[str, str], *,
                inner_tags: Mapping[str, str] | None = None) -> list[dict]:
    """The namespace (labelled `tags`, annotated) and what locks it down (labelled `inner_tags`, default
    `tags`), in the order they are applied."""
    inner = dict(tags if inner_tags is None else inner_tags)
    meta = lambda name: {"name": name, "namespace": namespace, "labels": dict(inner)}  # noqa: E731
    objects: list[dict] = [
        {"apiVersion": "v1", "kind": "Namespace",
         "metadata": {"name": namespace, "labels": {**tags, POD_SECURITY: spec.pod_security},
                      "annotations": dict(annotations)}},
        {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": meta(QUOTA), "spec": {"hard": dict(spec.quota)}},
    ]
    if spec.limits:
        objects.append({"apiVersion": "v1", "kind": "LimitRange", "metadata": meta(LIMITS),
                        "spec": {"limits": [{"type": "Container", **{k: dict(v) for k, v in spec.limits.items()}}]}})
    objects += [
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta(NETWORK_POLICY),
         "spec": network_policy(spec)},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(SERVICE_ACCOUNT)},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta(ROLE_BINDING),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": spec.role},
         "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": namespace}]},
    ]
    return objects


def is_ours(namespace_object: Mapping | None, environment: str) -> bool:
    """A namespace devenv made for this environment: its ownership labels say so."""
    found = ((namespace_object or {}).get("metadata") or {}).get("labels") or {}
    return (found.get(keys.MANAGED) == "true" and found.get(keys.ENVIRONMENT) == environment
            and found.get(keys.TARGET) == "namespace")


def network_policy(spec: NamespaceSpec) -> dict:
    """The namespace's NetworkPolicy spec: ingress from the namespace itself and the ingress controller's;
    with `egress: restricted`, egress only to the namespace (its data services are StatefulSets there), the
    cluster's DNS (kube-dns pods, port 53) and the profile's `egressCIDRs`."""
    policy: dict = {"podSelector": {}, "policyTypes": ["Ingress"],
                    "ingress": [{"from": [
                        {"podSelector": {}},
                        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": spec.ingress_namespace}}},
                    ]}]}
    if spec.egress == "restricted":
        dns = [{"protocol": protocol, "port": 53} for protocol in ("UDP", "TCP")]
        policy["policyTypes"] = ["Ingress", "Egress"]
        policy["egress"] = [
            {"to": [{"podSelector": {}}]},
            {"to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}], "ports": dns},
            *([{"to": [{"ipBlock": {"cidr": cidr}} for cidr in spec.egress_cidrs]}] if spec.egress_cidrs else []),
        ]
    return policy


# -- the cluster's Flux lockdown -------------------------------------------------------------------


def controller_flags(deployment: Mapping) -> dict[str, str]:
    """`--flag` -> value of every container's command and args of a controller's Deployment (a bare
    boolean flag reads "true")."""
    out: dict[str, str] = {}
    pod = (((deployment.get("spec") or {}).get("template") or {}).get("spec") or {})
    for container in pod.get("containers") or []:
        for arg in list(container.get("command") or []) + list(container.get("args") or []):
            text = str(arg)
            if text.startswith("--"):
                flag, _, value = text.partition("=")
                out[flag] = value if "=" in text else "true"
    return out


def lockdown_gaps(controller: str, deployment: Mapping) -> list[str]:
    """The lockdown flags a Flux controller's Deployment lacks (or sets off), as `--flag` names."""
    flags = controller_flags(deployment)
    missing = []
    if flags.get("--no-cross-namespace-refs", "false").lower() != "true":
        missing.append("--no-cross-namespace-refs=true")
    if not flags.get("--default-service-account"):
        missing.append("--default-service-account=<a ServiceAccount without rights, e.g. default>")
    return missing


def flux_lockdown_warning(read: Callable[[str], Mapping | None]) -> tuple[str | None, str]:
    """Whether the cluster's Flux is locked down for tenants, from its controllers' Deployments (`read`:
    name -> the Deployment in flux-system, None when it cannot be read or is not there). Returns (a
    warning naming each controller and the flags it lacks, or None; what was found, for -v)."""
    gaps, unread = [], []
    for controller in LOCKED_CONTROLLERS:
        deployment = read(controller)
        if deployment is None:
            unread.append(controller)
            continue
        missing = lockdown_gaps(controller, deployment)
        if missing:
            gaps.append(f"{controller}: {', '.join(missing)}")
    if unread:
        seen = (f"Flux's lockdown not checked for {', '.join(unread)}: Deployment(s) {FLUX_NAMESPACE}/"
                f"{', '.join(unread)} cannot be read with this context (or Flux runs elsewhere)")
    else:
        seen = f"Flux's {' and '.join(LOCKED_CONTROLLERS)} checked for the multi-tenancy lockdown"
    if not gaps:
        return None, seen
    warning = ("the cluster's Flux is not locked down for tenants: " + "; ".join(gaps) + ". Without these flags a "
               "Kustomization or HelmRelease in this namespace without serviceAccountName runs with the "
               "controller's own cluster-wide rights, and its sources may reach into other namespaces; devenv sets "
               "serviceAccountName on its own, but the cluster's admins should set the flags (Flux's "
               "multi-tenancy lockdown)")
    return warning, seen


# -- HelmRelease chart sources -------------------------------------------------------------------


SOURCE_KINDS = ("HelmRepository", "GitRepository", "OCIRepository", "Bucket")


def chart_source_in_tenant(release: dict, tenant: str,
                           known: Mapping[tuple[str, str, str], Mapping]) -> tuple[list[str], list[dict], str | None]:
    """A namespace environment's HelmRelease whose `spec.chart.spec.sourceRef` (or `spec.chartRef`) names
    another namespace: with `--no-cross-namespace-refs` helm-controller refuses it. When the platform defines
    that source (`known`: (kind, namespace, name) -> object, as the render's source resolver holds them),
    the reference is rewritten to a copy of it in `tenant`, which is returned for the environment to apply;
    otherwise the release is left as it is and the reason returned. Returns (changes, copies, problem)."""
    spec = release.get("spec") or {}
    chart_spec = (spec.get("chart") or {}).get("spec") if isinstance(spec.get("chart"), dict) else None
    holder = chart_spec if isinstance(chart_spec, dict) and isinstance(chart_spec.get("sourceRef"), dict) else None
    ref = holder["sourceRef"] if holder else spec.get("chartRef") if isinstance(spec.get("chartRef"), dict) else None
    if ref is None or not ref.get("namespace") or ref.get("namespace") == tenant:
        return [], [], None
    kind, namespace, name = str(ref.get("kind")), str(ref["namespace"]), str(ref.get("name"))
    where = "spec.chart.spec.sourceRef" if holder else "spec.chartRef"
    if (kind, tenant, name) in known:  # the platform's Kustomization of that source is kept: it is in `tenant` too
        ref.pop("namespace")
        return [f"{where} {kind} {namespace}/{name} -> {kind} {tenant}/{name} (the environment's own: a locked-down "
                "Flux refuses references into other namespaces)"], [], None
    source = known.get((kind, namespace, name))
    if source is None or kind not in SOURCE_KINDS:
        return [], [], (f"{where} is {kind} {namespace}/{name}, in another namespace, which devenv cannot see: "
                        f"a locked-down Flux (--no-cross-namespace-refs) refuses it; map the source in the "
                        f"profile's `sources:` or give the environment's namespace a copy")
    copied = copy.deepcopy(dict(source))
    meta = copied.setdefault("metadata", {})
    for server_set in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"):
        meta.pop(server_set, None)
    copied.pop("status", None)
    meta["namespace"] = tenant
    ref.pop("namespace")
    return ([f"{where} {kind} {namespace}/{name} -> {kind} {tenant}/{name} (a copy in the environment's namespace: "
             "a locked-down Flux refuses references into other namespaces)"], [copied], None)
