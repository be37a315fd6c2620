"""A namespace environment in a shared cluster, locked down as Flux's multi-tenancy guide does it: the
namespace (owner, branch, commit, expiry on it), a ResourceQuota and LimitRange, a NetworkPolicy admitting
only the namespace itself and the ingress controller's, and the ServiceAccount its Flux Kustomizations run
as (`spec.serviceAccountName`), bound to a ClusterRole in that namespace only: nothing the environment
deploys can write outside it.

Shared, cluster-scoped infrastructure is never instantiated per branch: `cluster_scope_reason` says why a
Kustomization's output cannot go into one namespace."""

from __future__ import annotations

from typing import Callable, Iterable, Mapping

from devenv import labels as keys
from devenv.errors import InvalidInput
from devenv.profiles import NamespaceSpec, Profile

SERVICE_ACCOUNT = "devenv-flux"  # what the environment's Kustomizations and HelmReleases run as
ROLE_BINDING = "devenv-flux"
NETWORK_POLICY = "devenv-isolation"
QUOTA = "devenv-quota"
LIMITS = "devenv-limits"

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
         "metadata": {"name": namespace, "labels": dict(tags), "annotations": dict(annotations)}},
        {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": meta(QUOTA), "spec": {"hard": dict(spec.quota)}},
    ]
    if spec.limits:
        objects.append({"apiVersion": "v1", "kind": "LimitRange", "metadata": meta(LIMITS),
                        "spec": {"limits": [{"type": "Container", **{k: dict(v) for k, v in spec.limits.items()}}]}})
    objects += [
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta(NETWORK_POLICY),
         "spec": {"podSelector": {}, "policyTypes": ["Ingress"],
                  "ingress": [{"from": [
                      {"podSelector": {}},
                      {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": spec.ingress_namespace}}},
                  ]}]}},
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
