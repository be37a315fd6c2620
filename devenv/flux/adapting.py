"""Assembling a render's adaptations as Flux patches: each adaptation (devenv.flux.adapt, registry credentials,
secret stores, the tenant's) edits a recording of an object, its operations are run on the object as kustomize
built it and substituted after (as kustomize-controller runs `spec.patches` before post-build substitution), and
each Kustomization gets the patches that make Flux's build of it what the render gives (a delete for each object
built and left out)."""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from devenv.domain import aws
from devenv.flux import adapt, patches, secrets
from devenv.flux.adapt import Adaptation
from devenv.flux.postbuild import Substitution, has_reference

if TYPE_CHECKING:
    from devenv.flux.tenant_rewrite import TenantRewrite

# A render's book of one Kustomization (devenv.flux.render's _Entry; this module sits below the render, which
# hands it its entries): k, resources, mirror, adapted, and per built object early, built, index_of, pre, late.
_Entry = Any


def mentions_aws_annotations(resource: Mapping) -> bool:
    """Whether an IRSA or ALB annotation key may occur in the object (a cheap test before recording)."""
    text = json.dumps(resource, default=str)
    return aws.IRSA_PREFIX in text or aws.ALB_ANNOTATION_PREFIX in text


def adapt_early(entry: _Entry, objects: list[dict]) -> None:
    """What is adapted before post-build substitution (IRSA and ALB annotations: a variable used only there
    needs no value), as patch operations run on the build; the patch identities of every object built."""
    if not entry.built:
        entry.built = [patches.identity(o) for o in objects]
    entry.early = []
    for obj in objects:
        if not mentions_aws_annotations(obj):
            entry.early.append(([], []))
            continue
        recording = patches.record(obj)
        changes = adapt.remove_aws_annotations(recording.obj)
        ops = recording.ops
        patches.apply_ops(obj, ops)
        entry.early.append((changes, ops))


def adapt_kept(ordered: Iterable[_Entry], adapter: adapt.Adapter, substitution: Substitution, *,
               secret_values: Mapping[str, Mapping[str, str]], tenancy: TenantRewrite | None,
               chart_source_in_tenant: Callable[[dict, str], list[str]]) -> list[Adaptation]:
    """Adapt every kept object (and the top-level Kustomizations devenv writes itself), commonMetadata set after;
    every change described."""
    ordered = list(ordered)
    values_keys = adapt.values_keys([r for e in ordered for r in e.resources])
    out: list[Adaptation] = []
    for e in ordered:
        out += e.adapted
        if e.k.parent is None and not e.mirror:
            for change in adapter.rewire_kustomization(e.k.obj):
                out.append(Adaptation("Kustomization", e.k.name, e.k.namespace, None, change))
        common = e.k.spec.get("commonMetadata")
        for resource in e.resources:
            kind, namespace, name = adapt.identity(resource)
            recording = patches.record(resource)
            view = recording.obj
            changes = adapter.adapt(view)
            changes += adapter.adapt_values_data(view, values_keys.get(adapt.identity_key(resource), ()))
            changes += secrets.replace_store(view, secret_values)
            if tenancy and kind == "HelmRelease":
                changes += tenancy.run_as_tenant(view)
                changes += chart_source_in_tenant(view, e.k.id)
            out += [Adaptation(kind, name, namespace, e.k.id, change) for change in changes]
            ops = recording.ops
            if ops:
                _patch(e, resource, ops, substitution)
            adapt.apply_common_metadata(resource, common if isinstance(common, dict) else None)
    return out


def _patch(e: _Entry, resource: dict, ops: list[dict], substitution: Substitution) -> None:
    """Run an adaptation's operations as kustomize-controller runs devenv's patches: on the object as built
    (before post-build substitution), then substituted; the result replaces `resource` in place."""
    index = e.index_of[id(resource)]
    e.late[index] = ops
    final = patches.apply_ops(copy.deepcopy(e.pre.get(index, resource)), ops)
    if e.substitution is not None and has_reference(final):
        final = substitution.substitute(e.k, final, *e.substitution)
    resource.clear()
    resource.update(final)


def flux_patches(e: _Entry) -> tuple[list[tuple[dict, list[dict] | None]], list[dict]]:
    """What the Kustomization's Flux patches are made of, as (identity, operations) with None for a delete: one
    for each object built and left out, then each kept object's adaptation operations (those the render ran);
    and the patch identity of each kept object. RenderedKustomization.patches writes them when asked."""
    kept = [e.index_of[id(r)] for r in e.resources]
    out: list[tuple[dict, list[dict] | None]] = [(b, None) for i, b in enumerate(e.built) if i not in set(kept)]
    for i in kept:
        ops = e.early[i][1] + e.late.get(i, [])
        if ops:
            out.append((e.built[i], ops))
    return out, [e.built[i] for i in kept]
