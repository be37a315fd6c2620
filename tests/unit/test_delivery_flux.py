"""The pure parts of delivery `flux` (what Flux does with them is proven on the lab in
tests/integration/test_flux_delivery.py): JSON patches that turn Flux's build into devenv's render, the
Kustomizations rewritten for the environment, and how Ready is read and waited for."""

from __future__ import annotations

import copy

import pytest
import yaml

from devenv.delivery.flux import KUSTOMIZE_API, kustomization_objects, ready_state, top_level, wait_ready
from devenv.flux import patches
from devenv.errors import DeliveryFailed

pytestmark = pytest.mark.kustomize

SOURCE = {"kind": "OCIRepository", "name": "devenv-platform", "namespace": "flux-system"}
TAGS = {"devenv.managed": "true", "devenv.environment": "demo"}


def apply_ops(doc, ops):
    """RFC 6902 add/remove/replace, as kustomize applies them (enough to check json_patch's output)."""
    doc = copy.deepcopy(doc)
    for op in ops:
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        node = doc
        for step in parents:
            node = node[int(step)] if isinstance(node, list) else node[step]
        key = int(last) if isinstance(node, list) else last
        if op["op"] == "remove":
            del node[key]
        else:
            node[key] = op["value"]
    return doc


def test_an_adaptations_changes_are_recorded_as_json_patch_ops_with_keys_holding_slashes_and_tildes() -> None:
    before = {"metadata": {"annotations": {"eks.amazonaws.com/role-arn": "arn", "a~b": "1"}},
              "spec": {"ingressClassName": "alb", "rules": [{"host": "x"}, {"host": "y"}]}}
    after = {"metadata": {"annotations": {"a~b": "2"}},
             "spec": {"ingressClassName": "nginx", "rules": [{"host": "x"}, {"host": "z"}], "tls": []}}
    recording = patches.record(before)
    obj = recording.obj
    del obj["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    obj["metadata"]["annotations"]["a~b"] = "2"
    obj["spec"]["ingressClassName"] = "nginx"
    obj["spec"]["rules"][1]["host"] = "z"
    obj["spec"].setdefault("tls", [])
    ops = recording.ops
    assert {"op": "remove", "path": "/metadata/annotations/eks.amazonaws.com~1role-arn"} in ops
    assert {"op": "replace", "path": "/metadata/annotations/a~0b", "value": "2"} in ops
    assert before["spec"]["ingressClassName"] == "alb"  # the recording changes a copy
    assert apply_ops(before, ops) == after == patches.apply_ops(copy.deepcopy(before), ops)
    assert patches.plain(obj) == after and type(patches.plain(obj)["spec"]) is dict
    with pytest.raises(patches.PatchFailed, match="replace /spec/missing"):  # kustomize refuses it too
        patches.apply_ops(copy.deepcopy(before), [{"op": "replace", "path": "/spec/missing", "value": 1}])


def test_a_value_replaced_whole_carries_later_changes_to_its_parts_in_itself() -> None:
    recording = patches.record({"spec": {"solvers": [{"dns01": {}}, {"http01": {"class": "alb"}}]}})
    solvers = recording.obj["spec"]["solvers"]
    rest = [s for s in solvers if "dns01" not in s]
    recording.obj["spec"]["solvers"] = rest
    rest[0]["http01"]["class"] = "nginx"  # its old path (/spec/solvers/1/...) no longer exists: no op for it
    assert recording.ops == [{"op": "replace", "path": "/spec/solvers", "value": [{"http01": {"class": "nginx"}}]}]


@pytest.fixture(scope="module")
def rendered(local_profile):
    from devenv.flux.render import render_environment

    return render_environment(local_profile, "demo", labels=TAGS, baselines=True)


def test_the_kustomizations_point_at_the_artifact_and_carry_devenvs_adaptations_as_patches(rendered) -> None:
    objects = {o["metadata"]["name"]: o for o in kustomization_objects(rendered, source=SOURCE, labels=TAGS)}
    assert set(objects) == {k.name for k in top_level(rendered)} == {"infra-controllers", "infra-configs", "apps"}
    for obj in objects.values():
        assert obj["spec"]["sourceRef"] == SOURCE
        assert obj["metadata"]["labels"]["devenv.environment"] == "demo"
    # dependsOn names only Kustomizations that are delivered (infra-aws is AWS-only, left out)
    assert objects["apps"]["spec"]["dependsOn"] == [{"name": "infra-configs", "namespace": "flux-system"}]
    patches = {(p["target"]["kind"], p["target"]["name"]): p["patch"] for p in objects["apps"]["spec"]["patches"]
               if "target" in p}
    orders = yaml.safe_load(patches[("Ingress", "orders")])  # the ALB ingress, made an nginx one
    assert {"op": "replace", "path": "/spec/ingressClassName", "value": "nginx"} in orders
    assert {"op": "remove", "path": "/metadata/annotations"} in orders  # only ALB annotations it had
    # an AWS-only object is deleted from Flux's build (target names are regular expressions: escaped)
    assert yaml.safe_load(patches[("TargetGroupBinding", r"orders\-partners")])["$patch"] == "delete"


class FakeKube:
    """Kube.get by (kind, namespace, name) over scripted objects; each get of a scripted sequence returns its
    next state (the last one repeats). A kind it does not know is refused, as an API server would."""

    def __init__(self, objects):
        self.objects = {key: list(states) for key, states in objects.items()}
        self.applied = []
        self.handled = {}

    def apply(self, obj, *, field_manager="devenv", force=False):
        meta = obj["metadata"]
        if not meta.get("name") or (obj["kind"] != "Namespace" and not meta.get("namespace")):
            raise AssertionError(f"the server refuses {obj['kind']} without a name and namespace")
        self.applied.append((obj, field_manager))
        token = (meta.get("annotations") or {}).get("reconcile.fluxcd.io/requestedAt")
        if token:  # the controller handles the request: the states it reports next say so
            self.handled[(obj["kind"], meta["namespace"], meta["name"])] = token
        return obj

    def get(self, ref):
        if ref["kind"] not in ("OCIRepository", "Kustomization", "HelmRelease"):
            raise AssertionError(f"the server serves no {ref['kind']}")
        states = self.objects.get((ref["kind"], ref["metadata"].get("namespace"), ref["metadata"]["name"]))
        if not states:
            return None
        state = copy.deepcopy(states.pop(0) if len(states) > 1 else states[0])
        key = (ref["kind"], ref["metadata"].get("namespace"), ref["metadata"]["name"])
        if key in self.handled:
            state["status"]["lastHandledReconcileAt"] = self.handled[key]
        return state


def flux_object(kind, name, *, status="True", reason="ReconciliationSucceeded", message="ok", revision="sha256:new",
                generation=1, observed=1, inventory=(), attempted=None):
    return {"apiVersion": KUSTOMIZE_API, "kind": kind, "metadata": {"name": name, "namespace": "flux-system",
                                                                    "generation": generation},
            "status": {"observedGeneration": observed, "lastAppliedRevision": revision,
                       "artifact": {"revision": revision},
                       "conditions": [{"type": "Ready", "status": status, "reason": reason, "message": message,
                                       "observedGeneration": generation}],
                       "inventory": {"entries": list(inventory)},
                       **({"lastAttemptedRevision": attempted} if attempted else {})}}


def ref(name):
    return {"apiVersion": KUSTOMIZE_API, "kind": "Kustomization", "metadata": {"name": name, "namespace": "flux-system"}}


def test_ready_counts_only_for_the_current_generation_and_revision() -> None:
    assert ready_state(flux_object("Kustomization", "a"), "sha256:new").ready
    stale = flux_object("Kustomization", "a", observed=0)
    stale["status"]["conditions"][0]["observedGeneration"] = 0
    assert not ready_state(stale, "sha256:new").ready
    assert not ready_state(flux_object("Kustomization", "a", revision="sha256:old"), "sha256:new").ready
    assert ready_state(None).reason == "NotFound"


def test_a_health_check_that_failed_at_the_current_revision_is_reported_at_once_with_fluxs_message() -> None:
    message = "timeout waiting for: [Deployment/shop/web status: 'InProgress']"
    kube = FakeKube({
        ("OCIRepository", "flux-system", "devenv-platform"): [flux_object("OCIRepository", "devenv-platform")],
        ("Kustomization", "flux-system", "apps"): [
            flux_object("Kustomization", "apps", status="Unknown", reason="Progressing", revision="sha256:old"),
            # never applied yet: the failed revision is the attempted one
            flux_object("Kustomization", "apps", status="False", reason="HealthCheckFailed", message=message,
                        revision="", attempted="sha256:new", observed=-1)],
    })
    source = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
              "metadata": {"name": "devenv-platform", "namespace": "flux-system"}}
    with pytest.raises(DeliveryFailed) as failed:
        wait_ready(kube, [ref("apps")], timeout=30, source=source, poll=0)
    assert "Kustomization flux-system/apps failed: HealthCheckFailed: " + message in failed.value.message


def test_an_apply_waiting_for_another_kustomizations_crd_is_waited_for_not_reported() -> None:
    kube = FakeKube({("Kustomization", "flux-system", "configs"): [
        flux_object("Kustomization", "configs", status="False", reason="ReconciliationFailed",
                    message="ClusterIssuer/letsencrypt dry-run failed: no matches for kind \"ClusterIssuer\""),
        flux_object("Kustomization", "configs")]})
    assert wait_ready(kube, [ref("configs")], timeout=30, poll=0) == ""


def test_a_timeout_names_the_kustomization_to_blame_and_its_helmreleases_that_are_not_ready() -> None:
    release = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
               "metadata": {"name": "cert-manager", "namespace": "cert-manager", "generation": 1},
               "status": {"observedGeneration": 1, "conditions": [
                   {"type": "Ready", "status": "False", "reason": "InstallFailed", "message": "chart pull failed"}]}}
    kube = FakeKube({
        ("Kustomization", "flux-system", "controllers"): [flux_object(
            "Kustomization", "controllers", status="Unknown", reason="Progressing", message="health check",
            inventory=[{"id": "cert-manager_cert-manager_helm.toolkit.fluxcd.io_HelmRelease", "v": "v2"}])],
        ("Kustomization", "flux-system", "apps"): [flux_object("Kustomization", "apps", status="False",
                                                               reason="DependencyNotReady", message="waiting")],
        ("HelmRelease", "cert-manager", "cert-manager"): [release],
    })
    with pytest.raises(DeliveryFailed) as failed:
        wait_ready(kube, [ref("apps"), ref("controllers")], timeout=0, poll=0)
    assert failed.value.message.startswith("Kustomization flux-system/controllers not Ready after 0s")
    assert "HelmRelease cert-manager/cert-manager: InstallFailed: chart pull failed" in failed.value.context


def test_a_kustomization_blocked_on_its_dependency_is_asked_to_reconcile_once_the_dependency_is_ready() -> None:
    """kustomize-controller would look again only after --requeue-dependency (30s)."""
    apps = {**ref("apps"), "spec": {"dependsOn": [{"name": "configs"}]}}
    kube = FakeKube({
        ("Kustomization", "flux-system", "configs"): [
            flux_object("Kustomization", "configs", status="Unknown", reason="Progressing"),
            flux_object("Kustomization", "configs")],
        ("Kustomization", "flux-system", "apps"): [
            flux_object("Kustomization", "apps", status="False", reason="DependencyNotReady", message="waiting")] * 3
        + [flux_object("Kustomization", "apps")],
    })
    wait_ready(kube, [apps, ref("configs")], timeout=30, poll=0)
    asked = [(obj["metadata"]["name"], manager) for obj, manager in kube.applied]
    assert asked == [("apps", "devenv-reconcile")]
    assert "reconcile.fluxcd.io/requestedAt" in kube.applied[0][0]["metadata"]["annotations"]


def test_a_nested_kustomization_found_in_its_parents_inventory_is_waited_for_too() -> None:
    """The parent is Ready in the same look that finds its child: the wait goes on (naming the child as not looked
    at yet) and ends when the child is Ready."""
    child = {"id": "flux-system_team-a_kustomize.toolkit.fluxcd.io_Kustomization", "v": "v1"}
    kube = FakeKube({
        ("Kustomization", "flux-system", "tenants"): [flux_object("Kustomization", "tenants", inventory=[child])],
        ("Kustomization", "flux-system", "team-a"): [
            flux_object("Kustomization", "team-a", status="Unknown", reason="Progressing"),
            flux_object("Kustomization", "team-a")]})
    assert wait_ready(kube, [ref("tenants")], timeout=30, poll=0) == ""
    assert [o["metadata"]["name"] for o, _ in kube.applied] == []  # nothing to ask: no dependsOn


def test_a_kustomization_that_saw_no_artifact_yet_is_waited_for_as_kustomize_controller_retries_it() -> None:
    """kustomize-controller reports ArtifactFailed 'Source artifact not found, retrying in 30s' when its view of the
    source has no artifact yet (seen on the lab while the OCIRepository was just stored): not a failure."""
    early = flux_object("Kustomization", "apps", status="False", reason="ArtifactFailed",
                        message="Source artifact not found, retrying in 30s", revision="", attempted="sha256:new")
    kube = FakeKube({
        ("OCIRepository", "flux-system", "devenv-platform"): [flux_object("OCIRepository", "devenv-platform")],
        ("Kustomization", "flux-system", "apps"): [early, flux_object("Kustomization", "apps")]})
    source = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
              "metadata": {"name": "devenv-platform", "namespace": "flux-system"}}
    assert wait_ready(kube, [ref("apps")], timeout=30, source=source, poll=0) == "sha256:new"
