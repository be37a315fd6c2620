"""Why a render leaves an object out: the tenant's own Namespace, the profile's `exclude`, a ConfigMap/Secret the
profile generates in its place (a SOPS-encrypted one too), and what only works on AWS (devenv.domain.aws) unless
the profile feeds a local replacement; a HelmRelease judged on its values as helm-controller merges them, kept
with a warning when the deciding value may sit where devenv cannot see."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Mapping

from devenv.domain import aws
from devenv.domain.profiles import Profile
from devenv.flux import adapt, secrets
from devenv.flux.adapt import identity_key
from devenv.flux.kustomize import display
from devenv.flux.postbuild import as_stored, secret_keys
from devenv.flux.result import RenderWarning
from devenv.flux.sources import merge_values

if TYPE_CHECKING:
    from devenv.flux.tenant_rewrite import TenantRewrite


@dataclass
class LeaveOut:
    """`generated`: the profile's ConfigMaps/Secrets (as stored); `found`: those of the cluster folder and the
    outputs rendered so far; `sources()`: every object the render's source resolver knows (chart sources)."""

    profile: Profile
    generated: Mapping
    found: Mapping
    secret_values: Mapping[str, Mapping[str, str]]
    warnings: list[RenderWarning]
    tenancy: TenantRewrite | None
    sources: Callable[[], Mapping]

    @property
    def profile_name(self) -> str:
        return display(self.profile.path)

    def reason(self, resource: dict, local: Mapping[tuple[str, str, str], dict]) -> str | None:
        """Why the object is left out, or None. `local`: the ConfigMaps/Secrets of its own output."""
        why = self.tenancy.own_namespace_reason(resource) if self.tenancy else None
        if why:
            return why
        why = adapt.profile_exclusion_reason(resource, self.profile.exclude, self.profile_name)
        if why:
            return why
        kind = resource.get("kind")
        if kind == "Secret" and "sops" in resource and identity_key(resource) in self.generated:
            return "SOPS-encrypted, which devenv cannot decrypt: replaced by the Secret the profile generates"
        if kind in ("ConfigMap", "Secret") and resource.get("apiVersion") == "v1" and identity_key(resource) in self.generated:
            return self._replaced_reason(resource)
        values, unseen = self._helm_values(resource, local) if kind == "HelmRelease" else (None, [])
        if unseen:
            assumed = aws.assumes_default(resource, self.sources(), values)
            if assumed:  # the deciding value may be in what devenv cannot see: said, not assumed
                self._warn_unseen_values(resource, unseen, assumed)
                return None
        why = aws.aws_only_reason(resource, self.sources(), values)
        if why and secrets.store_key(resource) in self.secret_values:
            return None  # adapted instead: the profile feeds a local replacement
        return why

    def _replaced_reason(self, resource: dict) -> str:
        """A ConfigMap/Secret the repository commits and the profile also generates: the profile's replaces
        it (two copies would fight, and the repository's would win once applied), the keys only the
        repository's holds named, since they are gone with it."""
        kind, _, name = identity_key(resource)
        generated = self.generated[identity_key(resource)]
        theirs = [key for key in secret_keys(as_stored(resource)) if key not in (generated.get("data") or {})]
        lost = (f"; keys only the repository's holds, gone with it: {', '.join(theirs)} (add them to the profile's "
                f"copy if the platform reads them)") if theirs else ""
        return f"replaced by the {kind} {name} the profile {self.profile_name} generates{lost}"

    def _warn_unseen_values(self, release: dict, unseen: list[str], assumed: tuple[str, str, str]) -> None:
        chart, key, default = assumed
        kind, namespace, name = adapt.identity(release)
        message = (f"HelmRelease {namespace}/{name} (chart {chart}) takes its values from {', '.join(unseen)}, which "
                   f"devenv cannot see (not in the cluster folder, a rendered output or the profile), so it cannot "
                   f"tell its {key}: kept, not assumed to be the chart's default {default}; if its {key} is "
                   f"{default}, list {namespace}/{name} in the profile's `exclude` ({self.profile_name})")
        if all(w.message != message for w in self.warnings):
            self.warnings.append(RenderWarning(message, kind=kind, namespace=namespace, name=name))

    def _helm_values(self, release: dict, local: Mapping[tuple[str, str, str], dict]) -> tuple[dict | None, list[str]]:
        """A HelmRelease's values as helm-controller merges them: each valuesFrom ConfigMap/Secret in
        order, then spec.values (None without valuesFrom); and the valuesFrom objects devenv cannot see."""
        spec = release.get("spec") or {}
        refs = spec.get("valuesFrom") if isinstance(spec, dict) else None
        if not isinstance(refs, list) or not refs:
            return None, []
        namespace = (release.get("metadata") or {}).get("namespace") or "default"
        merged: dict = {}
        unseen: list[str] = []
        for ref in refs:
            if not isinstance(ref, dict):
                continue
            key = (str(ref.get("kind")), namespace, str(ref.get("name")))
            obj = self.generated.get(key) or local.get(key) or self.found.get(key)
            if obj is None and ref.get("optional") is not True:
                unseen.append(f"{key[0]} {key[1]}/{key[2]}")
            values = adapt.values_in(obj, ref.get("valuesKey") or "values.yaml") if obj else None
            if values is None:
                continue
            if ref.get("targetPath"):
                values = adapt.at_path(str(ref["targetPath"]), values)
            if isinstance(values, dict):
                merged = merge_values(merged, values)
        if isinstance(spec.get("values"), dict):
            merged = merge_values(merged, spec["values"])
        return merged, unseen
