"""What depends on left-out secret sources: AWS secret stores of external-secrets replaced by its
`fake` provider with values from the profile's `secretStores`, and a warning for each reference
that is left dangling (an ExternalSecret of a left-out store, a pod mounting a left-out
SecretProviderClass)."""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

from devenv.domain import aws
from devenv.domain.profiles import Profile, render_template

ESO_GROUP = "external-secrets.io"
STORE_KINDS = ("SecretStore", "ClusterSecretStore")
CSI_DRIVER = "secrets-store.csi.k8s.io"


def store_key(resource: Mapping[str, Any]) -> str | None:
    """How the profile's `secretStores` names a store: ClusterSecretStore/name, SecretStore/namespace/name."""
    kind = resource.get("kind")
    if kind not in STORE_KINDS or aws.api_group(resource) != ESO_GROUP:
        return None
    meta = resource.get("metadata") or {}
    if kind == "ClusterSecretStore":
        return f"{kind}/{meta.get('name')}"
    return f"{kind}/{meta.get('namespace') or 'default'}/{meta.get('name')}"


def store_values(profile: Profile, environment: str, facts: Mapping[str, Mapping[str, str]],
                 namespace: str | None = None) -> dict[str, dict[str, str]]:
    """The profile's secretStores filled in: store -> remote key -> value (a mapping of properties
    becomes a JSON object, as a secret manager would hold it)."""
    env = {"name": environment, "namespace": namespace or profile.environment.namespace}
    out: dict[str, dict[str, str]] = {}
    for store, keys in profile.secret_stores.items():
        out[store] = {}
        for key, template in keys.items():
            if isinstance(template, Mapping):
                out[store][key] = json.dumps({p: render_template(t, facts, env) for p, t in template.items()})
            else:
                out[store][key] = render_template(template, facts, env)
    return out


def replace_store(resource: dict, values: Mapping[str, Mapping[str, str]]) -> list[str]:
    """An AWS store the profile feeds becomes a `fake` provider store with the profile's values."""
    key = store_key(resource)
    if key not in values or not aws.aws_only_reason(resource):
        return []
    spec = resource.setdefault("spec", {})
    spec["provider"] = {"fake": {"data": [{"key": k, "value": v} for k, v in values[key].items()]}}
    return [f"spec.provider: aws -> fake, serving {len(values[key])} key{'s' if len(values[key]) != 1 else ''} "
            f"from the profile's secretStores (AWS Secrets Manager is not reachable locally)"]


def _store_ref(external_secret: Mapping[str, Any]) -> str | None:
    spec = external_secret.get("spec") or {}
    ref = spec.get("secretStoreRef") if isinstance(spec, dict) else None
    if not isinstance(ref, dict) or not ref.get("name"):
        return None
    kind = ref.get("kind") or "SecretStore"
    if kind == "ClusterSecretStore":
        return f"{kind}/{ref['name']}"
    return f"{kind}/{(external_secret.get('metadata') or {}).get('namespace') or 'default'}/{ref['name']}"


def _remote_keys(external_secret: Mapping[str, Any]) -> list[str]:
    spec = external_secret.get("spec") or {}
    keys = [((d.get("remoteRef") or {}).get("key")) for d in spec.get("data") or [] if isinstance(d, dict)]
    keys += [((d.get("extract") or {}).get("key")) for d in spec.get("dataFrom") or [] if isinstance(d, dict)]
    return [str(k) for k in keys if k]


def _mounted_provider_classes(resource: Mapping[str, Any]) -> list[str]:
    """SecretProviderClass names that a workload's pod template (or a Pod) mounts."""
    spec = resource.get("spec") or {}
    pod = spec if resource.get("kind") == "Pod" else (spec.get("template") or {}).get("spec") or \
        (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
    out = []
    for volume in pod.get("volumes") or [] if isinstance(pod, dict) else []:
        csi = volume.get("csi") if isinstance(volume, dict) else None
        if isinstance(csi, dict) and csi.get("driver") == CSI_DRIVER:
            name = (csi.get("volumeAttributes") or {}).get("secretProviderClass")
            if name:
                out.append(str(name))
    return out


def dangling_references(kept: Iterable[tuple[str, dict]], dropped: Iterable[dict],
                        values: Mapping[str, Mapping[str, str]]) -> list[tuple[str, str]]:
    """(Kustomization, warning) for each kept object that reads a left-out secret source, and for each
    remote key an ExternalSecret reads that the profile's replacement store does not hold."""
    gone_stores = {store_key(r) for r in dropped if store_key(r)}
    gone_classes = {((r.get("metadata") or {}).get("namespace") or "default", (r.get("metadata") or {}).get("name"))
                    for r in dropped if r.get("kind") == "SecretProviderClass"}
    out = []
    for kustomization, resource in kept:
        kind, meta = resource.get("kind"), resource.get("metadata") or {}
        where = f"{kind} {meta.get('namespace') + '/' if meta.get('namespace') else ''}{meta.get('name')}"
        if kind == "ExternalSecret" and aws.api_group(resource) == ESO_GROUP:
            store = _store_ref(resource)
            target = ((resource.get("spec") or {}).get("target") or {}).get("name") or meta.get("name")
            if store in gone_stores:
                out.append((kustomization, f"{where} reads {store}, which is left out: the Secret {target} it makes "
                                           f"will not exist locally; let the profile feed a local replacement "
                                           f"(secretStores: {{{store}: {{<remote key>: <value>}}}})"))
            elif store in values:
                missing = [k for k in _remote_keys(resource) if k not in values[store]]
                if missing:
                    out.append((kustomization, f"{where} reads {', '.join(missing)} from {store}, which the "
                                               f"profile's secretStores does not hold: the Secret {target} will "
                                               f"not be made"))
        for name in _mounted_provider_classes(resource):
            if (meta.get("namespace") or "default", name) in gone_classes:
                out.append((kustomization, f"{where} mounts SecretProviderClass {name}, which is left out (AWS-only): "
                                           f"its pods will not start locally; replace the volume with a Secret in an "
                                           f"overlay, or exclude the workload"))
    return out
