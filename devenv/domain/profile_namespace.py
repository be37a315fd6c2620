"""The profile's `namespace:` section, a `target: namespace` environment's namespace in a shared cluster and its
guard rails: the frozen dataclass, its defaults and its validation, run by the profile loader with its own
problem reporter (file:line: field: why)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

# A namespace environment's guard rails when the profile sets none: room for a small platform, not a cluster's worth.
DEFAULT_QUOTA = {"requests.cpu": "8", "requests.memory": "16Gi", "limits.memory": "32Gi", "pods": "50",
                 "persistentvolumeclaims": "10", "services.loadbalancers": "0", "services.nodeports": "0"}
DEFAULT_LIMITS = {"default": {"cpu": "500m", "memory": "512Mi"}, "defaultRequest": {"cpu": "50m", "memory": "64Mi"}}
REGISTRY_PROVIDERS = ("generic", "aws", "azure", "gcp")  # Flux's OCIRepository spec.provider
POD_SECURITY_LEVELS = ("privileged", "baseline", "restricted")  # Pod Security Standards
EGRESS_POLICIES = ("open", "restricted")
_QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[KMGTPE]i?|[mkMGTPE])?$")
_REGISTRY = re.compile(r"^[A-Za-z0-9.-]+(:\d+)?(/[a-z0-9._/-]+)?$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # a DNS-1123 label: a namespace prefix
# A Kubernetes object name (DNS-1123 subdomain): a Secret's
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_CIDR = re.compile(r"^[0-9a-fA-F:.]+/\d{1,3}$")
_SECRET_HINT = "the name of a Secret in the environment's namespace"


@dataclass(frozen=True)
class NamespaceSpec:
    """The namespace of a `target: namespace` profile in a shared cluster, and its guard rails."""

    prefix: str = "devenv"  # the namespace is <prefix>-<environment>
    quota: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_QUOTA))  # ResourceQuota spec.hard
    limits: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: {k: dict(v) for k, v in DEFAULT_LIMITS.items()})
    ingress_namespace: str = "ingress-nginx"  # the ingress controller's namespace, admitted by the NetworkPolicy
    role: str = "admin"  # the ClusterRole the environment's ServiceAccount is bound to, in its namespace only
    registry: str | None = None  # host[:port][/path]: where the working tree is pushed (DEVENV_REGISTRY wins)
    # How the cluster's source-controller logs in to that registry: OCIRepository spec.provider (the cluster's
    # workload identity: aws, azure, gcp), or spec.secretRef / spec.certSecretRef, Secrets the shared cluster
    # already holds in the environment's namespace.
    registry_provider: str | None = None
    registry_secret: str | None = None
    registry_cert_secret: str | None = None
    git_secret: str | None = None  # `--from-git`: the GitRepository's spec.secretRef (SSH key or HTTPS token)
    storage_class: str | None = None  # the data services' PVCs; None: the cluster's default StorageClass
    volume_size: str = "1Gi"
    pod_security: str = "baseline"  # pod-security.kubernetes.io/enforce on the namespace
    egress: str = "open"  # open: any; restricted: the namespace itself, the cluster's DNS, and egress_cidrs
    egress_cidrs: tuple[str, ...] = ()


def parse_namespace(v: Any, value: Any, target: str | None) -> NamespaceSpec:
    """`namespace: {prefix, quota, limits, ingressNamespace, role, registry, git, storageClass, volumeSize,
    podSecurity, egress, egressCIDRs}`. `v` is the profile loader's validator: `problem(at, why)`,
    `mapping(...)`, `string(...)`, `string_list(...)`."""
    at = ("namespace",)
    if target is not None and target != "namespace":
        v.problem(at, f"only a `target: namespace` profile has a namespace section (this one has target {target})")
        return NamespaceSpec()
    fields = ("prefix", "quota", "limits", "ingressNamespace", "role", "registry", "git", "storageClass",
              "volumeSize", "podSecurity", "egress", "egressCIDRs")
    value = v.mapping(value, at, fields)
    prefix = v.string(value.get("prefix", "devenv"), at + ("prefix",), pattern=_LABEL,
                      hint="lowercase letters, digits and '-'") or "devenv"
    if len(prefix) > 20:
        v.problem(at + ("prefix",), f"{prefix!r} is longer than 20 characters: <prefix>-<environment> must fit "
                                    "a namespace name (63)")
    quota = quantities(v, value.get("quota", DEFAULT_QUOTA), at + ("quota",))
    limits_in = v.mapping(value.get("limits", DEFAULT_LIMITS), at + ("limits",),
                          ("default", "defaultRequest", "max", "min"))
    limits = {key: quantities(v, limits_in[key], at + ("limits", key)) for key in limits_in}
    ingress = v.string(value.get("ingressNamespace", "ingress-nginx"), at + ("ingressNamespace",),
                       pattern=_LABEL) or "ingress-nginx"
    role = v.string(value.get("role", "admin"), at + ("role",), pattern=re.compile(r"^[a-z0-9:.-]+$"),
                    hint="a ClusterRole name, e.g. admin or edit") or "admin"
    registry, provider, secret, cert = _registry(v, value.get("registry"), at + ("registry",))
    git = v.mapping(value.get("git", {}), at + ("git",), ("secretRef",))
    git_secret = v.string(git.get("secretRef"), at + ("git", "secretRef"), pattern=_SUBDOMAIN, hint=_SECRET_HINT)
    storage = v.string(value.get("storageClass"), at + ("storageClass",), pattern=_LABEL)
    size = v.string(value.get("volumeSize", "1Gi"), at + ("volumeSize",), pattern=_QUANTITY,
                    hint="a Kubernetes quantity, e.g. 1Gi") or "1Gi"
    pod_security = v.string(value.get("podSecurity", "baseline"), at + ("podSecurity",),
                            choices=POD_SECURITY_LEVELS) or "baseline"
    egress = v.string(value.get("egress", "open"), at + ("egress",), choices=EGRESS_POLICIES) or "open"
    cidrs = v.string_list(value.get("egressCIDRs", []), at + ("egressCIDRs",))
    for i, cidr in enumerate(cidrs):
        if not _valid_cidr(cidr):
            v.problem(at + ("egressCIDRs", i), f"{cidr!r} is not a CIDR (e.g. 10.0.0.0/16)")
    if cidrs and egress != "restricted":
        v.problem(at + ("egressCIDRs",), "only with `egress: restricted` (open egress allows every address)")
    return NamespaceSpec(prefix=prefix, quota=quota, limits=limits, ingress_namespace=ingress, role=role,
                         registry=registry, registry_provider=provider, registry_secret=secret,
                         registry_cert_secret=cert, git_secret=git_secret, storage_class=storage,
                         volume_size=size, pod_security=pod_security, egress=egress,
                         egress_cidrs=tuple(c for c in cidrs if _valid_cidr(c)))


def _registry(v: Any, value: Any, at: tuple) -> tuple[str | None, str | None, str | None, str | None]:
    """`registry: HOST[/PATH]`, or `{host, provider | secretRef, certSecretRef}`."""
    hint = "host[:port][/path] of an OCI registry, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/devenv"
    if value is None or isinstance(value, str):
        return v.string(value, at, pattern=_REGISTRY, hint=hint), None, None, None
    value = v.mapping(value, at, ("host", "provider", "secretRef", "certSecretRef"), required=("host",))
    host = v.string(value.get("host"), at + ("host",), pattern=_REGISTRY, hint=hint)
    provider = v.string(value.get("provider"), at + ("provider",), choices=REGISTRY_PROVIDERS)
    refs = [v.string(value.get(key), at + (key,), pattern=_SUBDOMAIN, hint=_SECRET_HINT)
            for key in ("secretRef", "certSecretRef")]
    if provider not in (None, "generic") and value.get("secretRef") is not None:
        v.problem(at + ("secretRef",), f"name either provider ({provider}: the cluster's workload identity "
                                       "logs in) or secretRef (a Secret with the registry's credentials)")
    return host, provider, refs[0], refs[1]


def quantities(v: Any, value: Any, at: tuple) -> dict[str, str]:
    """A map of resource name to Kubernetes quantity (numbers are taken as they would be written)."""
    if not isinstance(value, dict):
        v.problem(at, f"must be a mapping of resource to quantity, not {_kind(value)}")
        return {}
    out = {}
    for key, quantity in value.items():
        text = str(quantity) if isinstance(quantity, (int, float)) and not isinstance(quantity, bool) else quantity
        if not isinstance(text, str) or not _QUANTITY.match(text):
            v.problem(at + (key,), f"{quantity!r} is not a Kubernetes quantity (e.g. 500m, 2, 1Gi)")
            continue
        out[str(key)] = text
    return out


def _valid_cidr(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return bool(_CIDR.match(text))


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "empty"}.get(type(value), type(value).__name__)
