"""Exclusions and local adaptations of rendered resources.

What is left out (AWS-only objects, whole Flux Kustomizations of nothing else, what the profile
excludes) and how what stays is changed to run off AWS (dependsOn rewired, IRSA annotations
removed, ALB ingress moved to the profile's ingress class, AWS storage classes replaced, and the workloads
of an IRSA ServiceAccount given the AWS SDK variables of the local `aws` stand-in); every decision carries a
reason or a description of the change.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
import base64
from typing import Any, Iterable, Mapping, Sequence

import yaml

from devenv.domain import aws
from devenv.flux.registry_credentials import use_registry_credentials

FLUX_SOURCE_GROUP = "source.toolkit.fluxcd.io"
SUBSTITUTE_DISABLED = "kustomize.toolkit.fluxcd.io/substitute"


@dataclass(frozen=True)
class Exclusion:
    kind: str
    name: str
    namespace: str | None
    kustomization: str | None  # the Flux Kustomization (namespace/name) whose output held it
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Adaptation:
    kind: str
    name: str
    namespace: str | None
    kustomization: str | None
    change: str

    def to_dict(self) -> dict:
        return asdict(self)


def identity(resource: Mapping[str, Any]) -> tuple[str, str | None, str]:
    meta = resource.get("metadata") or {}
    return str(resource.get("kind") or ""), meta.get("namespace"), str(meta.get("name") or "")


def exclusion(resource: Mapping[str, Any], kustomization: str | None, reason: str) -> Exclusion:
    kind, namespace, name = identity(resource)
    return Exclusion(kind, name, namespace, kustomization, reason)


def is_flux_source(resource: Mapping[str, Any]) -> bool:
    return str(resource.get("apiVersion") or "").startswith(f"{FLUX_SOURCE_GROUP}/")


def is_supporting(resource: Mapping[str, Any]) -> bool:
    """Objects that only serve the others of their Kustomization: chart sources, namespaces, and
    ServiceAccounts that exist for an IAM role. A Kustomization of AWS-only objects plus these is
    AWS-only as a whole."""
    kind = resource.get("kind")
    if is_flux_source(resource) or (kind == "Namespace" and resource.get("apiVersion") == "v1"):
        return True
    if kind in aws.CROSSPLANE_RUNTIME_KINDS and aws.api_group(resource) == aws.CROSSPLANE_PKG_GROUP:
        return True
    annotations = (resource.get("metadata") or {}).get("annotations") or {}
    return kind == "ServiceAccount" and any(aws.is_irsa_annotation(k) for k in annotations)


# Where each kind of workload keeps its pod spec.
WORKLOAD_POD_SPECS = {
    ("apps", "Deployment"): ("spec", "template", "spec"), ("apps", "StatefulSet"): ("spec", "template", "spec"),
    ("apps", "DaemonSet"): ("spec", "template", "spec"), ("apps", "ReplicaSet"): ("spec", "template", "spec"),
    ("batch", "Job"): ("spec", "template", "spec"), ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template", "spec"),
    ("", "Pod"): ("spec",),
}


def irsa_service_accounts(objects: Iterable[Mapping[str, Any]]) -> set[tuple[str, str]]:
    """(namespace, name) of the ServiceAccounts among these that carry an IRSA role annotation: read before
    remove_aws_annotations takes it away, so that their workloads can be pointed at the local stand-in."""
    out = set()
    for obj in objects:
        meta = obj.get("metadata") or {}
        annotations = meta.get("annotations") if isinstance(meta.get("annotations"), dict) else {}
        if obj.get("kind") == "ServiceAccount" and obj.get("apiVersion") == "v1" and any(
                isinstance(k, str) and aws.is_irsa_annotation(k) for k in annotations):
            out.add((meta.get("namespace") or "default", str(meta.get("name") or "")))
    return out


def remove_aws_annotations(resource: dict) -> list[str]:
    """Remove what needs AWS and nothing else: IRSA annotations wherever an `annotations` mapping
    holds them (a ServiceAccount, a custom resource's service account template) or anywhere in a
    HelmRelease's values, and AWS Load Balancer Controller annotations of Ingresses and values.
    Done before post-build substitution, as Flux applies devenv's patches before it, so a
    variable used only there needs no value. Returns the changes."""
    changes: list[str] = []
    is_release = resource.get("kind") == "HelmRelease" and aws.api_group(resource) == "helm.toolkit.fluxcd.io"
    alb_too = is_release or resource.get("kind") == "Ingress"

    def walk(node: Any, where: str, in_values: bool) -> None:
        if isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{where}[{i}]", in_values)
            return
        if not isinstance(node, dict):
            return
        for key in list(node):
            value = node[key]
            path = f"{where}.{key}" if where else str(key)
            if isinstance(value, dict) and (key == "annotations" or in_values):
                removed = [k for k in value if isinstance(k, str) and (
                    aws.is_irsa_annotation(k) or (alb_too and k.startswith(aws.ALB_ANNOTATION_PREFIX)))]
                for k in removed:
                    del value[k]
                irsa = [k for k in removed if aws.is_irsa_annotation(k)]
                alb = [k for k in removed if not aws.is_irsa_annotation(k)]
                changes.extend(f"{path}: removed {k} (IRSA: IAM roles exist only on EKS)" for k in irsa)
                if alb:
                    changes.append(f"{path}: removed {len(alb)} {aws.ALB_ANNOTATION_PREFIX}* "
                                   f"annotation{'s' if len(alb) > 1 else ''} ({', '.join(alb)})")
                if removed and not value and key == "annotations":
                    del node[key]
                    continue
            walk(value, path, in_values or (is_release and path == "spec.values"))

    walk(resource, "", False)
    return changes


def profile_exclusion_reason(resource: Mapping[str, Any], exclude: Iterable[str], profile: str) -> str | None:
    """A HelmRelease or Flux Kustomization whose name is in the profile's `exclude`."""
    kind, namespace, name = identity(resource)
    group = aws.api_group(resource)
    if kind in ("HelmRelease", "Kustomization") and group.endswith("toolkit.fluxcd.io"):
        if name in exclude or f"{namespace}/{name}" in exclude:
            return f"listed in the profile's exclude ({profile})"
    return None


def identity_key(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    kind, namespace, name = identity(obj)
    return kind, namespace or "default", name


def _values_objects(releases: Sequence[Mapping]) -> set[tuple[str, str, str]]:
    """(kind, namespace, name) of the ConfigMaps/Secrets the HelmReleases among these read values from."""
    out = set()
    for release in releases:
        spec = release.get("spec") or {}
        if release.get("kind") != "HelmRelease" or not isinstance(spec, dict):
            continue
        namespace = (release.get("metadata") or {}).get("namespace") or "default"
        for ref in spec.get("valuesFrom") or () if isinstance(spec.get("valuesFrom"), list) else ():
            if isinstance(ref, dict) and ref.get("name"):
                out.add((str(ref.get("kind")), namespace, str(ref["name"])))
    return out


def whole_exclusion_reason(resources: Sequence[Mapping], reasons: Sequence[str | None]) -> str | None:
    """Why a Flux Kustomization is left out as a whole: everything it applies is AWS-only, apart
    from objects that only support those (see is_supporting); None otherwise."""
    left_out = [(r, why) for r, why in zip(resources, reasons) if why]
    if not left_out:
        return None
    rest = [r for r, why in zip(resources, reasons) if not why]
    only_values = _values_objects([r for r, _ in left_out]) - _values_objects(rest)
    if not all(is_supporting(r) or (r.get("kind") in ("ConfigMap", "Secret") and r.get("apiVersion") == "v1"
                                    and identity_key(r) in only_values) for r in rest):
        return None
    shown = "; ".join(f"{r.get('kind')} {identity(r)[2]}: {why}" for r, why in left_out[:3])
    more = f"; and {len(left_out) - 3} more" if len(left_out) > 3 else ""
    return f"everything it applies is left out: {shown}{more}"


def unused_supporting_objects(resources: Sequence[Mapping], dropped: Sequence[Mapping]) -> dict[int, str]:
    """Objects of `resources` that only left-out objects used: chart sources (HelmRepository,
    OCIRepository) of left-out HelmReleases, Crossplane ControllerConfigs / DeploymentRuntimeConfigs
    of left-out providers. index -> reason."""
    def refs(obj: Mapping) -> set[tuple[str, str, str]]:
        spec = obj.get("spec") or {}
        namespace = (obj.get("metadata") or {}).get("namespace") or ""
        found = set()
        if obj.get("kind") == "HelmRelease":
            for ref in (((spec.get("chart") or {}).get("spec") or {}).get("sourceRef"), spec.get("chartRef")):
                if isinstance(ref, dict) and ref.get("name"):
                    found.add((str(ref.get("kind")), ref.get("namespace") or namespace, str(ref["name"])))
        elif obj.get("kind") == "Terraform" and aws.api_group(obj) == aws.TERRAFORM_GROUP:
            ref = spec.get("sourceRef")
            if isinstance(ref, dict) and ref.get("name"):
                found.add((str(ref.get("kind")), ref.get("namespace") or namespace, str(ref["name"])))
        elif obj.get("kind") == "Provider" and aws.api_group(obj) == aws.CROSSPLANE_PKG_GROUP:
            found |= {(kind, "", name) for kind, name in aws.crossplane_runtime_refs(obj)}
        return found

    kept_refs = set().union(*(refs(r) for r in resources)) if resources else set()
    dropped_refs: dict[tuple, list[str]] = {}
    for obj in dropped:
        for ref in refs(obj):
            dropped_refs.setdefault(ref, []).append(f"{obj.get('kind')} {identity(obj)[2]}")
    out = {}
    for i, resource in enumerate(resources):
        kind, namespace, name = identity(resource)
        key = (kind, namespace or "", name)
        supporting = is_flux_source(resource) or (
            kind in aws.CROSSPLANE_RUNTIME_KINDS and aws.api_group(resource) == aws.CROSSPLANE_PKG_GROUP)
        if supporting and key in dropped_refs and key not in kept_refs:
            users = dropped_refs[key]
            out[i] = f"only used by {', '.join(users)}, which {'is' if len(users) == 1 else 'are'} left out"
    return out


def values_in(obj: Mapping[str, Any], key: str) -> Any:
    """The Helm values a ConfigMap or Secret holds under `key` (YAML text), or None."""
    text = None
    if obj.get("kind") == "ConfigMap":
        text = (obj.get("data") or {}).get(key)
    elif obj.get("kind") == "Secret":
        text = (obj.get("stringData") or {}).get(key)
        encoded = (obj.get("data") or {}).get(key)
        if text is None and isinstance(encoded, str):
            try:
                text = base64.b64decode(encoded).decode()
            except (ValueError, UnicodeDecodeError):
                return None
    if not isinstance(text, str):
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None  # helm-controller reports it; not devenv's to judge here


def at_path(path: str, value: Any) -> dict:
    """`a.b.c` and a value -> {a: {b: {c: value}}} (a valuesFrom targetPath)."""
    out: Any = value
    for part in reversed(path.split(".")):
        out = {part: out}
    return out


def values_keys(resources: Iterable[Mapping]) -> dict[tuple[str, str, str], tuple[str, ...]]:
    """(kind, namespace, name) of the ConfigMaps/Secrets holding Helm values -> their keys: those a
    HelmRelease's valuesFrom reads as a whole, and the `values.yaml` key Helm users give them."""
    found: dict[tuple[str, str, str], set[str]] = {}
    for r in resources:
        kind, namespace, name = identity(r)
        if kind == "HelmRelease":
            for ref in (r.get("spec") or {}).get("valuesFrom") or []:
                if isinstance(ref, dict) and not ref.get("targetPath"):
                    key = (str(ref.get("kind")), namespace or "default", str(ref.get("name")))
                    found.setdefault(key, set()).add(str(ref.get("valuesKey") or "values.yaml"))
        elif kind == "ConfigMap" and "values.yaml" in (r.get("data") or {}):
            found.setdefault((kind, namespace or "default", name), set()).add("values.yaml")
    return {key: tuple(sorted(keys)) for key, keys in found.items()}


def aws_storage_classes(seen: Iterable[Mapping], kept: Iterable[Mapping]) -> set[str]:
    """Storage class names that will not exist locally: StorageClasses with AWS provisioners, and
    EKS's usual names unless the platform defines them with another provisioner."""
    aws_names = {identity(r)[2] for r in seen if r.get("kind") == "StorageClass" and aws.aws_only_reason(r)}
    local = {identity(r)[2] for r in kept if r.get("kind") == "StorageClass"}
    return aws_names | (set(aws.EKS_STORAGE_CLASSES) - local)


class Adapter:
    """Rewrites kept resources (in place) to run off AWS and describes each change."""

    def __init__(self, *, ingress_class: str, storage_class: str, aws_storage: set[str],
                 excluded_kustomizations: set[str], excluded_objects: set[tuple[str, str, str]],
                 irsa_accounts: set[tuple[str, str]] = frozenset(), aws_env: Mapping[str, str] | None = None,
                 tenant: str | None = None, registries: Iterable[str] = ()):
        # The workloads of these ServiceAccounts (namespace, name) get `aws_env` (the variables that point an AWS
        # SDK at the profile's aws stand-in; empty without one). `tenant`: every object is moved into that one
        # namespace, so a ServiceAccount is matched by its name alone.
        self.irsa_accounts = set(irsa_accounts)
        self.aws_env = dict(aws_env or {})
        self.tenant = tenant
        self.registries = frozenset(registries)  # hosts whose sources read devenv's credentials Secret
        self.ingress_class = ingress_class
        self.storage_class = storage_class
        self.aws_storage = aws_storage
        self.excluded_kustomizations = excluded_kustomizations
        self.excluded_objects = excluded_objects  # (kind, namespace, name)

    def adapt(self, resource: dict) -> list[str]:
        kind = resource.get("kind")
        group = aws.api_group(resource)
        changes: list[str] = self._aws_sdk_env(resource, group, kind)
        if kind == "Ingress" and group in ("networking.k8s.io", "extensions"):
            changes += self._ingress(resource)
        elif kind == "PersistentVolumeClaim" and group == "":
            changes += self._claim(resource, "spec")
        elif kind == "StatefulSet" and group == "apps":
            for i, template in enumerate((resource.get("spec") or {}).get("volumeClaimTemplates") or []):
                if isinstance(template, dict):
                    changes += self._claim(template, f"spec.volumeClaimTemplates[{i}].spec")
        elif kind == "HelmRelease" and group == "helm.toolkit.fluxcd.io":
            changes += self._depends_on(resource, "HelmRelease")
            values = (resource.get("spec") or {}).get("values")
            if isinstance(values, dict):
                changes += self._values(values, "spec.values", ())
        elif kind == "Kustomization" and group == "kustomize.toolkit.fluxcd.io":
            changes += self.rewire_kustomization(resource)
        elif kind in ("ClusterIssuer", "Issuer") and group == "cert-manager.io":
            changes += self._issuer(resource)
        elif kind in ("HelmRepository", "OCIRepository"):
            changes += use_registry_credentials(resource, self.registries)
        elif group and not group.endswith((".k8s.io", ".fluxcd.io")) and "." in group:
            spec = resource.get("spec")
            if isinstance(spec, (dict, list)):  # a custom resource: storage classes wherever it names one
                changes += self._storage_classes(spec, "spec")
        return changes + remove_aws_annotations(resource)

    def _aws_sdk_env(self, resource: dict, group: str, kind: Any) -> list[str]:
        """A workload whose ServiceAccount carried an IRSA role: each container gets the variables that point its
        AWS SDK at the local stand-in (endpoint, region, local access key), except those it sets itself, so its
        calls (Secrets Manager first) reach the stand-in without a code or manifest change."""
        path = WORKLOAD_POD_SPECS.get((group, kind))
        if not self.aws_env or path is None:
            return []
        pod: Any = resource
        for part in path:
            pod = pod.get(part) if isinstance(pod, dict) else None
        if not isinstance(pod, dict):
            return []
        account = pod.get("serviceAccountName") or pod.get("serviceAccount") or "default"
        namespace = (resource.get("metadata") or {}).get("namespace") or "default"
        if self.tenant:
            irsa = any(name == account for _, name in self.irsa_accounts)
        else:
            irsa = (namespace, account) in self.irsa_accounts
        if not irsa:
            return []
        changes = []
        where = ".".join(path)
        for field in ("initContainers", "containers"):
            for i, container in enumerate(pod.get(field) or []):
                if not isinstance(container, dict):
                    continue
                env = container.get("env") if isinstance(container.get("env"), list) else []
                have = {e.get("name") for e in env if isinstance(e, dict)}
                added = [{"name": k, "value": v} for k, v in self.aws_env.items() if k not in have]
                if added:
                    container["env"] = env + added
                    changes.append(f"{where}.{field}[{i}].env: added {', '.join(e['name'] for e in added)} (the "
                                   f"local aws stand-in, in place of ServiceAccount {account}'s IRSA role)")
        return changes

    def _issuer(self, issuer: dict) -> list[str]:
        """A cert-manager issuer solving ACME challenges through Route 53 (which needs AWS credentials and a
        hosted zone, so its Certificates would stay pending): the Route 53 solvers removed; with none left,
        a self-signed issuer of the same name, so that the Certificates naming it are issued locally."""
        spec = issuer.get("spec")
        acme = spec.get("acme") if isinstance(spec, dict) else None
        solvers = acme.get("solvers") if isinstance(acme, dict) else None
        if not isinstance(solvers, list):
            return []
        route53 = [s for s in solvers if isinstance(s, dict) and isinstance(s.get("dns01"), dict)
                   and "route53" in s["dns01"]]
        if not route53:
            return []
        rest = [s for s in solvers if not any(s is r for r in route53)]
        if not rest:
            issuer["spec"] = {"selfSigned": {}}
            return ["spec: ACME through Route 53 (dns01.route53, which needs AWS credentials and a hosted zone: "
                    "its Certificates would stay pending) replaced by selfSigned: {}, so they are issued locally"]
        acme["solvers"] = rest
        changes = [f"spec.acme.solvers: {len(route53)} Route 53 solver{'s' if len(route53) > 1 else ''} "
                   f"(dns01.route53, which needs AWS credentials) removed, {len(rest)} other kept"]
        for i, solver in enumerate(rest):
            ingress = (solver.get("http01") or {}).get("ingress") if isinstance(solver, dict) else None
            if isinstance(ingress, dict):
                for key in ("ingressClassName", "class"):
                    if ingress.get(key) == aws.ALB_CLASS:
                        ingress[key] = self.ingress_class
                        changes.append(f"spec.acme.solvers[{i}].http01.ingress.{key}: {aws.ALB_CLASS} -> "
                                       f"{self.ingress_class}")
        return changes

    def adapt_values_data(self, obj: dict, keys: Iterable[str]) -> list[str]:
        """Helm values held in a ConfigMap or Secret (valuesFrom): IRSA, ALB and storage classes
        adapted as in spec.values, the text written back."""
        changes: list[str] = []
        for key in keys:
            values = values_in(obj, key)
            if not isinstance(values, dict):
                continue
            field = "stringData" if key in (obj.get("stringData") or {}) else "data"
            found = self._values(values, f"{field}.{key}", ())
            if not found:
                continue
            text = yaml.safe_dump(values, sort_keys=False)
            if obj.get("kind") == "Secret" and field == "data":
                text = base64.b64encode(text.encode()).decode()
            obj[field][key] = text
            changes += found
        return changes

    def _storage_classes(self, node: Any, where: str) -> list[str]:
        changes: list[str] = []
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in list(items):
            path = f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}"
            if key in ("storageClass", "storageClassName") and isinstance(value, str) and value in self.aws_storage:
                node[key] = self.storage_class
                changes.append(f"{path}: {value} -> {self.storage_class} (an AWS storage class)")
            elif isinstance(value, (dict, list)):
                changes += self._storage_classes(value, path)
        return changes

    def rewire_kustomization(self, obj: dict) -> list[str]:
        changes = self._depends_on(obj, "Kustomization")
        spec = obj.get("spec") or {}
        checks = spec.get("healthChecks")
        if isinstance(checks, list):
            namespace = (obj.get("metadata") or {}).get("namespace") or "default"
            kept = []
            for check in checks:
                key = (str(check.get("kind")), check.get("namespace") or namespace, str(check.get("name"))) \
                    if isinstance(check, dict) else None
                if key in self.excluded_objects:
                    changes.append(f"spec.healthChecks: removed {key[0]} {key[1]}/{key[2]} (left out)")
                else:
                    kept.append(check)
            if len(kept) != len(checks):
                if kept:
                    spec["healthChecks"] = kept
                else:
                    del spec["healthChecks"]
        return changes

    def _depends_on(self, obj: dict, kind: str) -> list[str]:
        spec = obj.get("spec")
        if not isinstance(spec, dict) or not isinstance(spec.get("dependsOn"), list):
            return []
        namespace = (obj.get("metadata") or {}).get("namespace") or "default"
        kept, changes = [], []
        for entry in spec["dependsOn"]:
            if not isinstance(entry, dict):
                kept.append(entry)
                continue
            ref = f"{entry.get('namespace') or namespace}/{entry.get('name')}"
            gone = (ref in self.excluded_kustomizations if kind == "Kustomization"
                    else (kind, *ref.split("/", 1)) in self.excluded_objects)
            if gone:
                changes.append(f"spec.dependsOn: removed {ref} (left out)")
            else:
                kept.append(entry)
        if changes:
            if kept:
                spec["dependsOn"] = kept
            else:
                del spec["dependsOn"]
        return changes

    def _ingress(self, resource: dict) -> list[str]:
        meta = resource.setdefault("metadata", {})
        spec = resource.get("spec")
        if not isinstance(spec, dict):
            spec = resource["spec"] = {}
        annotations = meta.get("annotations") if isinstance(meta.get("annotations"), dict) else {}
        changes = []
        legacy = annotations.get(aws.INGRESS_CLASS_ANNOTATION) == aws.ALB_CLASS
        if spec.get("ingressClassName") == aws.ALB_CLASS or legacy:
            if legacy:
                del annotations[aws.INGRESS_CLASS_ANNOTATION]
                changes.append(f"metadata.annotations: removed {aws.INGRESS_CLASS_ANNOTATION}: {aws.ALB_CLASS}")
            if spec.get("ingressClassName") in (None, aws.ALB_CLASS):
                changes.append(f"spec.ingressClassName: {spec.get('ingressClassName') or '(unset)'} -> "
                               f"{self.ingress_class} (the AWS Load Balancer Controller does not run locally)")
                spec["ingressClassName"] = self.ingress_class
        if "annotations" in meta and not meta["annotations"]:
            del meta["annotations"]
        return changes

    def _claim(self, claim: dict, where: str) -> list[str]:
        changes = []
        spec = claim.get("spec")
        if isinstance(spec, dict) and spec.get("storageClassName") in self.aws_storage:
            changes.append(f"{where}.storageClassName: {spec['storageClassName']} -> {self.storage_class} "
                           f"(an AWS storage class)")
            spec["storageClassName"] = self.storage_class
        annotations = (claim.get("metadata") or {}).get("annotations") or {}
        legacy = "volume.beta.kubernetes.io/storage-class"
        if annotations.get(legacy) in self.aws_storage:
            changes.append(f"metadata.annotations.{legacy}: {annotations[legacy]} -> {self.storage_class}")
            annotations[legacy] = self.storage_class
        return changes

    def _values(self, node: Any, where: str, keys: tuple[str, ...]) -> list[str]:
        """HelmRelease values: IRSA annotations, ALB ingress settings and AWS storage classes,
        wherever a chart puts them."""
        changes: list[str] = []
        if isinstance(node, list):
            for i, item in enumerate(node):
                changes += self._values(item, f"{where}[{i}]", keys)
            return changes
        if not isinstance(node, dict):
            return changes
        in_ingress = any("ingress" in k.lower() for k in keys)
        for key in list(node):
            value = node[key]
            path = f"{where}.{key}"
            if isinstance(key, str) and aws.is_irsa_annotation(key):
                del node[key]
                changes.append(f"{where}: removed {key} (IRSA: IAM roles exist only on EKS)")
            elif isinstance(key, str) and key.startswith(aws.ALB_ANNOTATION_PREFIX):
                del node[key]
                changes.append(f"{where}: removed {key} (AWS Load Balancer Controller annotation)")
            elif value == aws.ALB_CLASS and (key == aws.INGRESS_CLASS_ANNOTATION or (
                    in_ingress and key in ("className", "ingressClassName", "ingressClass", "class"))):
                node[key] = self.ingress_class
                changes.append(f"{path}: {aws.ALB_CLASS} -> {self.ingress_class}")
            elif key in ("storageClass", "storageClassName") and isinstance(value, str) and value in self.aws_storage:
                node[key] = self.storage_class
                changes.append(f"{path}: {value} -> {self.storage_class} (an AWS storage class)")
            elif isinstance(value, (dict, list)):
                changes += self._values(value, path, keys + (str(key),))
        return changes


# -- fields the API server needs as strings ------------------------------------------------------

_POD_SPECS = (("spec",), ("spec", "template", "spec"), ("spec", "jobTemplate", "spec", "template", "spec"))
_POD_METADATA = (("spec", "template", "metadata"), ("spec", "jobTemplate", "spec", "template", "metadata"))


def non_string_fields(resource: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(field, value) where a value that must be a string is not one: labels, annotations,
    container env values, ConfigMap data, Secret stringData. Post-build substitution round-trips
    through YAML 1.1, so `"${PORT}"` with PORT=3306 arrives as the integer 3306."""
    found: list[tuple[str, Any]] = []

    def scalars(mapping: Any, where: str) -> None:
        if isinstance(mapping, dict):
            for key, value in mapping.items():
                if value is not None and not isinstance(value, str):
                    found.append((f"{where}.{key}", value))

    def dig(path: tuple[str, ...]) -> Any:
        node: Any = resource
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        return node

    scalars(dig(("metadata", "labels")), "metadata.labels")
    scalars(dig(("metadata", "annotations")), "metadata.annotations")
    kind = resource.get("kind")
    if kind == "ConfigMap" and resource.get("apiVersion") == "v1":
        scalars(resource.get("data"), "data")
    if kind == "Secret" and resource.get("apiVersion") == "v1":
        scalars(resource.get("stringData"), "stringData")
    for path in _POD_METADATA:
        where = ".".join(path)
        scalars(dig(path + ("labels",)), f"{where}.labels")
        scalars(dig(path + ("annotations",)), f"{where}.annotations")
    for path in _POD_SPECS:
        pod = dig(path)
        if not isinstance(pod, dict) or not any(k in pod for k in ("containers", "initContainers")):
            continue
        for group in ("initContainers", "containers", "ephemeralContainers"):
            for i, container in enumerate(pod.get(group) or []):
                for j, env in enumerate((container or {}).get("env") or []):
                    if isinstance(env, dict) and env.get("value") is not None and not isinstance(env["value"], str):
                        found.append((f"{'.'.join(path)}.{group}[{i}].env[{j}].value", env["value"]))
    return found


def substitution_disabled(resource: Mapping[str, Any]) -> bool:
    meta = resource.get("metadata") or {}
    return "disabled" in ((meta.get("labels") or {}).get(SUBSTITUTE_DISABLED),
                          (meta.get("annotations") or {}).get(SUBSTITUTE_DISABLED))


def apply_common_metadata(resource: dict, common: Mapping[str, Any] | None) -> None:
    """spec.commonMetadata: labels and annotations set on every object after substitution
    (kustomize-controller does this after the build, so they are not substituted)."""
    if not common:
        return
    meta = resource.setdefault("metadata", {})
    for field in ("labels", "annotations"):
        extra = common.get(field)
        if isinstance(extra, dict) and extra:
            current = meta.get(field) if isinstance(meta.get(field), dict) else {}
            meta[field] = {**current, **{str(k): v for k, v in extra.items()}}
