"""Delivery `apply`: devenv applies each rendered Flux Kustomization itself, the way kustomize-controller does.

Kustomizations go in `dependsOn` waves (independent ones concurrently); within one, Namespaces and
CustomResourceDefinitions first, then the rest once the new CRDs are Established; `wait: true` and
`healthChecks` are honoured with the Kustomization's `timeout`, and a Kustomization others depend on waits
for its HelmReleases (their charts bring the CRDs the dependants use). An inventory ConfigMap per
Kustomization records what was applied, so a re-`up` skips unchanged objects and prunes what is gone.
"""

from __future__ import annotations

import hashlib
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from devenv.domain import labels as label_keys
from devenv.delivery import Progress, Quiet
from devenv.errors import DevenvError
from devenv.flux.kustomizations import is_flux_kustomization
from devenv.clients.kube import Kube, describe

# kustomize-controller's labels on what it applies (and what its inventory is keyed by)
FLUX_NAME = "kustomize.toolkit.fluxcd.io/name"
FLUX_NAMESPACE = "kustomize.toolkit.fluxcd.io/namespace"
INVENTORY_PREFIX = "devenv-inventory-"
DEFAULT_TIMEOUT = 300.0
FIRST = ("CustomResourceDefinition", "Namespace")  # kustomize-controller's first apply stage


@dataclass
class Outcome:
    """What applying one Kustomization did."""

    id: str
    applied: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"Kustomization {self.id}: {len(self.applied)} applied, {len(self.unchanged)} unchanged"
                + (f", {len(self.pruned)} pruned" if self.pruned else ""))


def go_duration(text: str | None, default: float = DEFAULT_TIMEOUT) -> float:
    """A Go duration (`5m`, `1h30m`, `90s`, `500ms`) in seconds."""
    if not text:
        return default
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", str(text))
    if not parts or "".join(n + u for n, u in parts) != str(text):
        return default
    return sum(float(n) * units[u] for n, u in parts)


def object_id(obj: Mapping) -> str:
    """Flux's inventory id: `<namespace>_<name>_<group>_<kind>`."""
    meta = obj.get("metadata") or {}
    group = (obj.get("apiVersion") or "").rpartition("/")[0]
    return f"{meta.get('namespace', '')}_{meta.get('name', '')}_{group}_{obj.get('kind', '')}"


def _digest(obj: Mapping) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def _revision(live: Mapping) -> str:
    """What changes when someone changes the object (not when a controller writes its status): the
    generation where the kind has one, else the resourceVersion."""
    meta = live.get("metadata") or {}
    return str(meta.get("generation") or meta.get("resourceVersion") or "")


def inventory_name(environment: str, kustomization_id: str) -> str:
    """A valid ConfigMap name for the inventory of `namespace/name` in an environment (hashed: ids can be
    long, and two environments sharing a cluster must not share an inventory)."""
    slug = re.sub(r"[^a-z0-9-]", "-", kustomization_id.lower()).strip("-")[:30].strip("-")
    digest = hashlib.sha256(f"{environment}\0{kustomization_id}".encode()).hexdigest()[:8]
    return f"{INVENTORY_PREFIX}{slug}-{digest}"


class ApplyDelivery:
    """Applies a RenderResult into one cluster for one environment."""

    def __init__(self, kube: Kube, environment: str, tags: Mapping[str, str], *, inventory_namespace: str,
                 progress: Progress | None = None):
        self.kube = kube
        self.environment = environment
        self.tags = {k: v for k, v in tags.items() if k in (label_keys.MANAGED, label_keys.ENVIRONMENT)}
        self.inventory_namespace = inventory_namespace
        self.progress = progress or Quiet()

    def is_ours(self, live: Mapping) -> bool:
        """An object devenv may take fields over from, or prune: it carries this environment's labels."""
        found = (live.get("metadata") or {}).get("labels") or {}
        return found.get(label_keys.MANAGED) == "true" and found.get(label_keys.ENVIRONMENT) == self.environment

    # -- the whole render --------------------------------------------------------------------

    def deliver(self, rendered, environment_objects: Iterable[dict] = ()) -> list[Outcome]:
        """Apply the environment objects, then every Kustomization in dependsOn waves."""
        self.apply_environment(environment_objects)
        kustomizations = list(rendered.kustomizations)
        dependants = {dep for k in kustomizations for dep in k.depends_on}
        outcomes: list[Outcome] = []
        for wave in waves(kustomizations):
            with ThreadPoolExecutor(max_workers=max(1, len(wave)), thread_name_prefix="devenv-apply") as pool:
                futures = [pool.submit(self.apply_kustomization, k, k.id in dependants) for k in wave]
                errors = []
                for future in futures:
                    try:
                        outcomes.append(future.result())
                    except DevenvError as err:
                        errors.append(err)
                if errors:
                    raise errors[0]
        outcomes += self.prune_removed({k.id for k in kustomizations})
        return outcomes

    def apply_environment(self, environment_objects: Iterable[dict]) -> None:
        """The generated `environment` ConfigMap and Secret (and the profile's other substitution objects),
        with their namespaces: created when missing, labelled as ours; a namespace that exists is left alone."""
        env_objects = [self.labelled(o) for o in environment_objects]
        namespaces = sorted({o["metadata"]["namespace"] for o in env_objects if o["metadata"].get("namespace")}
                            | {self.inventory_namespace})
        for ns in namespaces:
            namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": dict(self.tags)}}
            if self.kube.get(namespace) is None:
                self.apply_one(namespace)
        for obj in env_objects:
            self.apply_one(obj)

    def prune_removed(self, kept: set[str]) -> list[Outcome]:
        """A Kustomization the platform no longer has: what it applied goes (as Flux garbage-collects a
        deleted Kustomization with `prune: true`), then its inventory."""
        outcomes = []
        for inventory in self.inventories():
            kustomization_id = (inventory.get("data") or {}).get("kustomization")
            if not kustomization_id or kustomization_id in kept:
                continue
            entries = self.read_inventory(kustomization_id)
            pruning = inventory["data"].get("prune") == "true"  # Flux deletes what it applied only with prune
            outcome = Outcome(kustomization_id, pruned=self.prune(entries, {}) if pruning else [])
            self.kube.delete(inventory)
            outcomes.append(outcome)
        return outcomes

    # -- one Kustomization --------------------------------------------------------------------

    def labelled(self, obj: Mapping, kustomization=None) -> dict:
        out = json.loads(json.dumps(obj))
        meta = out.setdefault("metadata", {})
        meta["labels"] = {**(meta.get("labels") or {}), **self.tags}
        if kustomization is not None:
            meta["labels"].update({FLUX_NAME: kustomization.name, FLUX_NAMESPACE: kustomization.namespace})
        return out

    def apply_kustomization(self, kustomization, has_dependants: bool) -> Outcome:
        spec = (kustomization.object or {}).get("spec") or {}
        timeout = go_duration(spec.get("timeout") or spec.get("interval"))
        desired = [self.labelled(r, kustomization) for r in kustomization.resources if not is_flux_kustomization(r)]
        outcome = Outcome(kustomization.id)
        previous = self.read_inventory(kustomization.id)
        self.progress.note(f"• applying Kustomization {kustomization.id} ({len(desired)} objects)")
        first = [o for o in desired if o.get("kind") in FIRST]
        rest = [o for o in desired if o.get("kind") not in FIRST]
        entries: dict[str, dict] = {}
        for stage in (first, rest):
            new_crds = []
            for obj in stage:
                oid, digest = object_id(obj), _digest(obj)
                known = previous.get(oid)
                if known and known.get("digest") == digest:
                    live = self.kube.get(obj)
                    if live is not None and _revision(live) == known.get("rv"):
                        outcome.unchanged.append(describe(obj))
                        entries[oid] = known
                        continue
                live = self.apply_one(obj)
                outcome.applied.append(describe(obj))
                entries[oid] = {"v": obj.get("apiVersion"), "digest": digest,
                                "rv": _revision(live)}
                if obj.get("kind") == "CustomResourceDefinition":
                    new_crds.append(obj)
            if new_crds:  # as kustomize-controller: the CRDs Established before the objects of their kinds
                self.kube.wait(new_crds, timeout=timeout, what=f"CRDs of Kustomization {kustomization.id}")
        # Record before waiting, so what was applied is pruned later even when the wait fails.
        self.write_inventory(kustomization, entries)
        if spec.get("prune"):
            outcome.pruned = self.prune(previous, entries)
        waited = self.to_wait_for(spec, desired, has_dependants)
        if waited:
            self.kube.wait(waited, timeout=timeout, what=f"Kustomization {kustomization.id}")
            # Controllers may have written to what was just applied (a claim bound, an annotation added): record
            # the revision it settled at, so the next `up` does not take that for a change.
            changed = False
            for obj in desired:
                entry = entries.get(object_id(obj))
                if entry is not None and describe(obj) in outcome.applied:
                    live = self.kube.get(obj)
                    if live is not None and _revision(live) != entry["rv"]:
                        entry["rv"], changed = _revision(live), True
            if changed:
                self.write_inventory(kustomization, entries)
        return outcome

    def to_wait_for(self, spec: Mapping, desired: list[dict], has_dependants: bool) -> list[dict]:
        if spec.get("wait"):
            return desired
        waited = []
        for check in spec.get("healthChecks") or []:
            if isinstance(check, dict) and check.get("kind") and check.get("name"):
                ref = {"apiVersion": check.get("apiVersion", ""), "kind": check["kind"],
                       "metadata": {"name": check["name"], **({"namespace": check["namespace"]}
                                                              if check.get("namespace") else {})}}
                if not ref["apiVersion"]:  # Flux lets healthChecks omit it: take it from the object applied
                    ref["apiVersion"] = next((o["apiVersion"] for o in desired if o.get("kind") == check["kind"]
                                              and o["metadata"].get("name") == check["name"]), "v1")
                waited.append(ref)
        if has_dependants:
            waited += [o for o in desired if o.get("kind") == "HelmRelease" and o not in waited]
        return waited

    def apply_one(self, obj: Mapping) -> dict:
        return self.kube.apply(obj, force=self.is_ours)

    def prune(self, previous: Mapping[str, dict], current: Mapping[str, dict]) -> list[str]:
        """Delete what the last apply made and this render no longer has, if it still carries our labels."""
        pruned = []
        for oid, entry in previous.items():
            if oid in current:
                continue
            namespace, name, group, kind = oid.split("_", 3)
            ref = {"apiVersion": entry.get("v") or (f"{group}/v1" if group else "v1"), "kind": kind,
                   "metadata": {"name": name, **({"namespace": namespace} if namespace else {})}}
            try:
                live = self.kube.get(ref)
            except DevenvError:
                live = None
            if live is not None and self.is_ours(live) and self.kube.delete(ref):
                pruned.append(describe(ref))
        return pruned

    # -- the inventory ------------------------------------------------------------------------

    def _inventory_ref(self, kustomization_id: str) -> dict:
        return {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": inventory_name(self.environment, kustomization_id),
                             "namespace": self.inventory_namespace}}

    def read_inventory(self, kustomization_id: str) -> dict[str, dict]:
        live = self.kube.get(self._inventory_ref(kustomization_id))
        if live is None or not self.is_ours(live):
            return {}
        try:
            return json.loads((live.get("data") or {}).get("entries", "{}"))
        except ValueError:
            return {}

    def write_inventory(self, kustomization, entries: Mapping[str, dict]) -> None:
        ref = self._inventory_ref(kustomization.id)
        ref["metadata"]["labels"] = dict(self.tags)
        ref["metadata"]["annotations"] = {"devenv.kustomization": kustomization.id}
        prune = bool(((kustomization.object or {}).get("spec") or {}).get("prune"))
        ref["data"] = {"kustomization": kustomization.id, "prune": str(prune).lower(),
                       "entries": json.dumps(entries, sort_keys=True)}
        self.apply_one(ref)

    def inventories(self) -> list[dict]:
        return [cm for cm in self.kube.list("v1", "ConfigMap", namespace=self.inventory_namespace,
                                            selector=label_keys.selector(self.environment))
                if cm["metadata"]["name"].startswith(INVENTORY_PREFIX)]


def waves(kustomizations: list) -> list[list]:
    """Kustomizations grouped so each wave depends only on earlier ones (the input is in dependency order)."""
    level: dict[str, int] = {}
    for k in kustomizations:
        deps = [level[d] for d in k.depends_on if d in level]
        if k.parent is not None and k.parent in level:
            deps.append(level[k.parent])
        level[k.id] = 1 + max(deps, default=-1)
    out: list[list] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for k in kustomizations:
        out[level[k.id]].append(k)
    return out
