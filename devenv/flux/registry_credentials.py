"""Private registries' credentials for Flux sources: a HelmRepository of `type: oci` or an OCIRepository reading
from a registry the profile lists under `registries:` gets `spec.secretRef` to the Secret devenv fills from the
user's docker configuration, in place of `spec.provider` (the cloud's workload identity, which a local cluster has
not got)."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

REGISTRY_CREDENTIALS_SECRET = "devenv-registry-credentials"  # kubernetes.io/dockerconfigjson, in each such namespace
SOURCE_GROUP = "source.toolkit.fluxcd.io"


def registry_hosts(profile: Any) -> frozenset[str]:
    """The hosts of the profile's `registries:` (strings, or entries with a `host`), lower-cased."""
    return frozenset(str(getattr(r, "host", r)).lower() for r in getattr(profile, "registries", ()) or ())


def url_host(url: Any) -> str:
    """`oci://host[:port]/path` -> `host[:port]` (lower-cased); "" for what is not a URL."""
    if not isinstance(url, str) or "://" not in url:
        return ""
    return url.split("://", 1)[1].split("/", 1)[0].lower()


def private_source(resource: Mapping[str, Any], hosts: Iterable[str]) -> bool:
    """Whether the object is an OCI Flux source (OCIRepository, HelmRepository of type oci) on one of `hosts`."""
    api = str(resource.get("apiVersion") or "")
    spec = resource.get("spec")
    if not api.startswith(f"{SOURCE_GROUP}/") or not isinstance(spec, dict):
        return False
    kind = resource.get("kind")
    if not (kind == "OCIRepository" or (kind == "HelmRepository" and spec.get("type") == "oci")):
        return False
    return url_host(spec.get("url")) in set(hosts)


def use_registry_credentials(resource: dict, hosts: Iterable[str]) -> list[str]:
    """The adaptation (in place): spec.provider removed and spec.secretRef the credentials Secret. Returns the
    changes, as `render --explain` shows them."""
    if not private_source(resource, hosts):
        return []
    spec = resource["spec"]
    host = url_host(spec.get("url"))
    changes = []
    provider = spec.pop("provider", None)
    if provider is not None:
        changes.append(f"spec.provider: removed {provider} (the cluster's workload identity: a local cluster "
                       "has none)")
    if spec.get("secretRef") != {"name": REGISTRY_CREDENTIALS_SECRET}:
        was = spec.get("secretRef")
        spec["secretRef"] = {"name": REGISTRY_CREDENTIALS_SECRET}
        changes.append(f"spec.secretRef: {was.get('name') if isinstance(was, dict) else '(unset)'} -> "
                       f"{REGISTRY_CREDENTIALS_SECRET} (registry {host} is listed under the profile's registries: "
                       "devenv gives the cluster its credentials from your docker configuration)")
    return changes


def namespaces_needing_credentials(objects: Iterable[Mapping[str, Any]]) -> list[str]:
    """The namespaces of the sources among `objects` that reference the credentials Secret (each needs one)."""
    found: list[str] = []
    for obj in objects:
        spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
        if (str(obj.get("apiVersion") or "").startswith(f"{SOURCE_GROUP}/")
                and spec.get("secretRef") == {"name": REGISTRY_CREDENTIALS_SECRET}):
            namespace = (obj.get("metadata") or {}).get("namespace") or "default"
            if namespace not in found:
                found.append(namespace)
    return found
