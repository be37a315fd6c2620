"""Delivery `apply` on the lab's real API server: dependsOn order, CRDs Established before their objects,
`wait: true` on the fake nodes, an inventory that skips unchanged objects and prunes removed ones, and every
object devenv produces for the embedded platform accepted by the server's own validation (dry run).
Each test ends with a census: nothing labelled with its environment is left in the cluster."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from lab_env import cluster

from devenv.domain import labels
from devenv.delivery.apply import ApplyDelivery, FLUX_NAME
from devenv.errors import KubeError, ReadinessTimeout
from devenv.flux.render import render_environment
from devenv.clients.kube import Kube
from devenv.domain.plan import make_plan
from devenv.domain.profiles import load_profile

pytestmark = [pytest.mark.cluster, pytest.mark.kustomize]
REPO = Path(__file__).resolve().parents[2]

TOLERATION = ("      tolerations: [{key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}]\n"
              "      containers: [{name: c, image: example.invalid/app:1}]\n")


def flux_kustomization(name: str, path: str, *, depends=(), extra: str = "") -> str:
    deps = "".join(f"\n    - name: {d}" for d in depends)
    return (f"apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n"
            f"  namespace: flux-system\nspec:\n  interval: 10m\n  timeout: 60s\n  prune: true\n"
            f"  sourceRef: {{kind: GitRepository, name: flux-system}}\n  path: {path}\n"
            + (f"  dependsOn:{deps}\n" if depends else "")
            + "  postBuild:\n    substituteFrom:\n      - {kind: ConfigMap, name: environment}\n" + extra)


def deployment(name: str, namespace: str) -> str:
    return (f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {namespace}\n"
            f"spec:\n  replicas: 2\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n"
            f"    metadata: {{labels: {{app: {name}}}}}\n    spec:\n" + TOLERATION)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def platform(tmp_path):
    """A small Flux platform: `infra` brings a Namespace, a CRD and a Deployment (wait: true); `configs`
    (dependsOn infra) an object of the CRD's kind; `apps` (dependsOn configs) a Deployment and two ConfigMaps
    reading ${ENVIRONMENT}, checked by healthChecks."""
    group = f"g{uuid.uuid4().hex[:8]}.devenv.test"
    ns = f"apl-{uuid.uuid4().hex[:6]}"
    root = tmp_path / "platform"
    write(root / "clusters/lab/kustomization.yaml",
          "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [ks.yaml]\n")
    write(root / "clusters/lab/ks.yaml", "---\n".join([
        flux_kustomization("apps", "./apps", depends=["configs"],
                           extra=f"  healthChecks:\n    - {{apiVersion: apps/v1, kind: Deployment, name: api, "
                                 f"namespace: {ns}}}\n"),
        flux_kustomization("configs", "./configs", depends=["infra"]),
        flux_kustomization("infra", "./infra", extra="  wait: true\n"),
    ]))
    crd = (f"apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.{group}\n"
           f"spec:\n  group: {group}\n  scope: Namespaced\n  names: {{plural: widgets, singular: widget, kind: Widget}}\n"
           f"  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n"
           f"        type: object\n        x-kubernetes-preserve-unknown-fields: true\n")
    write(root / "infra/kustomization.yaml", "resources: [ns.yaml, crd.yaml, controller.yaml]\n")
    write(root / "infra/ns.yaml", f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n")
    write(root / "infra/crd.yaml", crd)
    write(root / "infra/controller.yaml", deployment("controller", ns))
    write(root / "configs/kustomization.yaml", "resources: [widget.yaml]\n")
    write(root / "configs/widget.yaml", f"apiVersion: {group}/v1\nkind: Widget\nmetadata:\n  name: w\n"
                                        f"  namespace: {ns}\nspec:\n  env: ${{ENVIRONMENT}}\n")
    write(root / "apps/kustomization.yaml", "resources: [api.yaml, settings.yaml, extra.yaml]\n")
    write(root / "apps/api.yaml", deployment("api", ns))
    write(root / "apps/settings.yaml", f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n"
                                       f"  namespace: {ns}\ndata:\n  env: ${{ENVIRONMENT}}\n")
    write(root / "apps/extra.yaml", f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n"
                                    f"  namespace: {ns}\ndata:\n  a: b\n")
    write(tmp_path / "lab.yaml", "version: 1\nname: lab\ntarget: kind\nmirror: clusters/lab\n"
                                 "environment:\n  data:\n    ENVIRONMENT: \"{env.name}\"\n")
    return root, tmp_path / "lab.yaml", ns, group


@pytest.fixture
def lab():
    found, _ = cluster()
    return found


def census(kube: Kube, environment: str, ns: str, group: str | None) -> list[str]:
    """Remove what the test's environment left and return what was found (the test asserts it is empty)."""
    found = []
    selector = labels.selector(environment)
    for api, kind in (("v1", "ConfigMap"), ("v1", "Secret"), ("apps/v1", "Deployment")):
        for obj in kube.list(api, kind, selector=selector):
            found.append(f"{kind} {obj['metadata'].get('namespace')}/{obj['metadata']['name']}")
            kube.delete(obj)
    for obj in kube.list("v1", "Namespace", selector=selector):
        if obj["metadata"]["name"] not in ("flux-system", "default"):
            found.append(f"Namespace {obj['metadata']['name']}")
            kube.delete(obj)
    for obj in kube.list("apiextensions.k8s.io/v1", "CustomResourceDefinition", selector=selector):
        found.append(f"CustomResourceDefinition {obj['metadata']['name']}")
        kube.delete(obj)
    return found


def remove(kube: Kube, environment: str, delivery: ApplyDelivery, ns: str, group: str) -> None:
    """What `down` does on a kind cluster is delete the cluster; on the shared lab the test removes its own."""
    for inventory in delivery.inventories():
        kube.delete(inventory)
    for obj in kube.list("v1", "ConfigMap", namespace="flux-system", selector=labels.selector(environment)):
        kube.delete(obj)
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
    kube.delete(namespace)
    kube.delete({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                 "metadata": {"name": f"widgets.{group}"}})
    deadline = time.monotonic() + 90
    while kube.get(namespace) is not None and time.monotonic() < deadline:  # the namespace controller empties it
        time.sleep(0.5)


def test_apply_delivery_orders_waits_skips_unchanged_and_prunes(platform, lab) -> None:
    root, profile_path, ns, group = platform
    environment = f"apl-{uuid.uuid4().hex[:8]}"
    plan = make_plan(environment, load_profile(profile_path), platform=root)
    kube_labels, annotations = labels.for_kubernetes(dict(plan.labels))
    assert labels.PROFILE_PATH in annotations and labels.PROFILE_PATH not in kube_labels
    notes: list[str] = []
    progress = type("P", (), {"note": lambda _, m: notes.append(m)})()
    with Kube(lab.kubeconfig, lab.context) as kube:
        delivery = ApplyDelivery(kube, environment, kube_labels, inventory_namespace="flux-system", progress=progress)
        try:
            rendered = render_environment(plan.profile, environment, platform=root, labels=kube_labels)
            assert [k.id for k in rendered.kustomizations] == [
                "flux-system/infra", "flux-system/configs", "flux-system/apps"]
            started = time.monotonic()
            outcomes = delivery.deliver(rendered, rendered.environment_objects)
            first = time.monotonic() - started
            assert [o.id for o in outcomes] == ["flux-system/infra", "flux-system/configs", "flux-system/apps"]
            assert all(not o.unchanged for o in outcomes)
            widget = kube.get({"apiVersion": f"{group}/v1", "kind": "Widget",
                               "metadata": {"name": "w", "namespace": ns}})
            assert widget["spec"]["env"] == environment  # substituted, applied after its CRD was Established
            api = kube.get({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": ns}})
            assert api["status"]["availableReplicas"] == 2  # healthChecks waited for it on the fake nodes
            assert api["metadata"]["labels"][FLUX_NAME] == "apps"
            assert api["metadata"]["labels"][labels.ENVIRONMENT] == environment

            started = time.monotonic()
            again = delivery.deliver(render_environment(plan.profile, environment, platform=root, labels=kube_labels),
                                     rendered.environment_objects)
            second = time.monotonic() - started
            assert all(not o.applied for o in again), [o.summary() for o in again]
            assert sum(len(o.unchanged) for o in again) == sum(len(o.applied) for o in outcomes)
            assert second < 5, f"an unchanged re-delivery took {second:.1f}s (first: {first:.1f}s)"

            (root / "apps/kustomization.yaml").write_text("resources: [api.yaml, settings.yaml]\n")
            pruned = delivery.deliver(render_environment(plan.profile, environment, platform=root, labels=kube_labels),
                                      rendered.environment_objects)
            assert pruned[-1].pruned == [f"ConfigMap {ns}/extra"]
            assert kube.get({"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": "extra", "namespace": ns}}) is None
            assert kube.get({"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": "settings", "namespace": ns}}) is not None

            # the platform drops the apps Kustomization: what it applied goes, and its inventory
            ks = root / "clusters/lab/ks.yaml"
            ks.write_text("---".join(doc for doc in ks.read_text().split("---") if "name: apps" not in doc))
            gone = delivery.deliver(render_environment(plan.profile, environment, platform=root, labels=kube_labels),
                                    rendered.environment_objects)
            assert gone[-1].id == "flux-system/apps"
            assert sorted(gone[-1].pruned) == [f"ConfigMap {ns}/settings", f"Deployment {ns}/api"]
            assert sorted(i["data"]["kustomization"] for i in delivery.inventories()) == [
                "flux-system/configs", "flux-system/infra"]
        finally:
            remove(kube, environment, delivery, ns, group)
            left = census(kube, environment, ns, group)
        assert not left, f"left behind: {left}"
    print(f"\napply delivery on the lab: first {first:.2f}s, unchanged {second:.2f}s")


def test_a_wait_that_times_out_names_the_kustomization_and_the_object(platform, lab) -> None:
    root, profile_path, ns, group = platform
    (root / "apps/api.yaml").write_text(deployment("api", ns).replace(
        "    spec:\n", "    spec:\n      nodeSelector: {devenv.test/none: 'true'}\n", 1))
    (root / "clusters/lab/ks.yaml").write_text((root / "clusters/lab/ks.yaml").read_text().replace(
        "timeout: 60s", "timeout: 3s"))
    environment = f"apl-{uuid.uuid4().hex[:8]}"
    plan = make_plan(environment, load_profile(profile_path), platform=root)
    kube_labels, _ = labels.for_kubernetes(dict(plan.labels))
    with Kube(lab.kubeconfig, lab.context) as kube:
        delivery = ApplyDelivery(kube, environment, kube_labels, inventory_namespace="flux-system")
        try:
            rendered = render_environment(plan.profile, environment, platform=root, labels=kube_labels)
            with pytest.raises((ReadinessTimeout, KubeError)) as caught:
                delivery.deliver(rendered, rendered.environment_objects)
            assert "Kustomization flux-system/" in caught.value.message
            assert f"Deployment {ns}/" in str(caught.value)
        finally:
            remove(kube, environment, delivery, ns, group)
            left = census(kube, environment, ns, group)
        assert not left, f"left behind: {left}"


def test_every_object_devenv_writes_for_the_embedded_platform_passes_server_validation(lab, tmp_path) -> None:
    """The server's own validation (server-side apply, dry run) over every object of the kind target's delivery
    of `components/`: labels, annotations and fields. Namespaced objects are checked in a namespace of the test's
    own; a kind the lab does not serve (cert-manager's ClusterIssuer: its CRD comes from the chart) has its
    metadata checked on a ConfigMap."""
    plan = make_plan(f"val-{uuid.uuid4().hex[:6]}", load_profile(REPO / "profiles" / "local.yaml"))
    kube_labels, annotations = labels.for_kubernetes(dict(plan.labels))
    rendered = render_environment(plan.profile, plan.environment, platform=plan.platform, labels=kube_labels)
    env_objects = [{**o, "metadata": {**o["metadata"], "annotations": annotations}} for o in rendered.environment_objects]
    objects = env_objects + [r for _, r in rendered.resources()]
    ns = f"val-{uuid.uuid4().hex[:6]}"
    checked, by_metadata = 0, []
    with Kube(lab.kubeconfig, lab.context) as kube:
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": kube_labels}})
        try:
            for obj in objects:
                probe = {**obj, "metadata": dict(obj["metadata"])}
                try:
                    resource = kube.resource(obj["apiVersion"], obj["kind"])
                except KubeError:
                    by_metadata.append(obj["kind"])
                    meta = {k: v for k, v in obj["metadata"].items() if k in ("labels", "annotations")}
                    probe = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {**meta, "name": "probe"}}
                    resource = kube.resource("v1", "ConfigMap")
                if resource.namespaced:
                    probe["metadata"]["namespace"] = ns
                kube.apply(probe, dry_run=True)
                checked += 1
        finally:
            kube.delete({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    assert checked == len(objects) and checked > 20
    assert by_metadata == ["ClusterIssuer"]
