"""devenv.clients.kube against the lab's real API server: apply, conflicts, list by label, delete, waits with kstatus
semantics, RBAC refusals and an unreachable server, each error a KubeError (exit 10) naming verb and object.
Each test works in a namespace of its own and proves it is gone afterwards."""

from __future__ import annotations

import base64
import socket
import uuid
from pathlib import Path

import pytest
import yaml
from lab_env import cluster

from devenv.errors import KubeError, ReadinessTimeout
from devenv.clients.kube import CURRENT, FAILED, Kube, KubeConflict

pytestmark = pytest.mark.cluster


@pytest.fixture
def lab():
    found, _ = cluster()
    return found


@pytest.fixture
def kube(lab):
    with Kube(lab.kubeconfig, lab.context) as client:
        yield client


@pytest.fixture
def namespace(lab, kube):
    name = f"kube-{uuid.uuid4().hex[:8]}"
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"devenv.test": "kube"}}})
    yield name
    lab.kubectl("delete", "namespace", name, "--wait=true", "--timeout=90s", check=False)
    assert lab.kubectl("get", "namespace", name, check=False).returncode != 0, f"namespace {name} left behind"


def configmap(namespace: str, name: str = "cm", labels=None, **data) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": labels or {}}, "data": data}


def deployment(namespace: str, name: str, **pod_spec) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "example.invalid/app:1"}],
                                           "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists",
                                                            "effect": "NoSchedule"}], **pod_spec}}}}


def test_the_server_version_is_read_and_within_skew(kube, lab) -> None:
    major, minor, version = kube.server_version()
    if lab.is_lab:
        assert version == "v1.36.3" and (major, minor) == (1, 36)
    assert kube.check_version() is None


def test_an_invalid_label_is_refused_with_the_servers_message_and_nothing_is_created(kube, namespace) -> None:
    with pytest.raises(KubeError) as caught:
        kube.apply(configmap(namespace, labels={"devenv.profile-path": "/home/me/profiles/local.yaml"}))
    err = caught.value
    assert err.exit_code == 10
    assert f"cannot apply ConfigMap {namespace}/cm" in err.message
    assert "metadata.labels" in err.message and "Invalid 422" in err.message
    assert kube.get(configmap(namespace)) is None


def test_apply_is_idempotent_list_selects_by_label_and_delete_reports_what_it_did(kube, namespace) -> None:
    first = kube.apply(configmap(namespace, "ours", labels={"devenv.managed": "true"}, a="1"))
    again = kube.apply(configmap(namespace, "ours", labels={"devenv.managed": "true"}, a="1"))
    assert first["metadata"]["resourceVersion"] == again["metadata"]["resourceVersion"]  # nothing changed
    managers = {m["manager"] for m in again["metadata"]["managedFields"]}
    assert managers == {"devenv"}
    kube.apply(configmap(namespace, "theirs", a="1"))
    listed = kube.list("v1", "ConfigMap", namespace=namespace, selector={"devenv.managed": "true"})
    assert [o["metadata"]["name"] for o in listed] == ["ours"]
    assert listed[0]["kind"] == "ConfigMap"
    assert kube.delete(configmap(namespace, "ours")) is True
    assert kube.delete(configmap(namespace, "ours")) is False
    assert kube.get(configmap(namespace, "ours")) is None


def test_a_conflict_with_another_manager_is_reported_and_forced_only_for_devenvs_own(kube, namespace) -> None:
    theirs = configmap(namespace, "shared", a="theirs")
    kube.apply(theirs, field_manager="someone-else")
    with pytest.raises(KubeConflict) as caught:
        kube.apply(configmap(namespace, "shared", a="ours"))
    assert caught.value.exit_code == 10 and "conflict" in caught.value.message.lower()
    assert "someone-else" in caught.value.message
    is_devenvs = lambda live: (live["metadata"].get("labels") or {}).get("devenv.managed") == "true"  # noqa: E731
    with pytest.raises(KubeConflict):  # not labelled as devenv's: still refused
        kube.apply(configmap(namespace, "shared", a="ours"), force=is_devenvs)
    assert kube.get(theirs)["data"]["a"] == "theirs"
    kube.apply(configmap(namespace, "shared", labels={"devenv.managed": "true"}), field_manager="someone-else")
    kube.apply(configmap(namespace, "shared", labels={"devenv.managed": "true"}, a="ours"), force=is_devenvs)
    assert kube.get(theirs)["data"]["a"] == "ours"


def test_a_server_dry_run_validates_without_creating(kube, namespace) -> None:
    answer = kube.apply(configmap(namespace, "dry", a="1"), dry_run=True)
    assert answer["metadata"]["name"] == "dry"
    assert kube.get(configmap(namespace, "dry")) is None


def test_a_deployment_and_a_new_crd_are_waited_for_until_current(kube, namespace, lab) -> None:
    kube.apply(deployment(namespace, "web"))
    kube.wait([deployment(namespace, "web")], timeout=90)
    assert kube.status(deployment(namespace, "web"))[0] == CURRENT
    live = kube.get(deployment(namespace, "web"))
    assert live["status"]["availableReplicas"] == 2
    group = f"{namespace}.devenv.test"
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": f"widgets.{group}", "labels": {"devenv.test": "kube"}},
           "spec": {"group": group, "scope": "Namespaced",
                    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                    "versions": [{"name": "v1", "served": True, "storage": True,
                                  "schema": {"openAPIV3Schema": {"type": "object",
                                                                 "x-kubernetes-preserve-unknown-fields": True}}}]}}
    try:
        kube.apply(crd)
        kube.wait([crd], timeout=30)
        widget = {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": namespace}}
        kube.apply(widget)  # discovery is asked again for a kind it did not know
        assert kube.get(widget)["metadata"]["name"] == "w"
    finally:
        kube.delete(crd)


def test_a_deployment_that_cannot_schedule_times_out_naming_it(kube, namespace) -> None:
    stuck = deployment(namespace, "stuck", nodeSelector={"devenv.test/no-such-node": "true"})
    kube.apply(stuck)
    with pytest.raises(ReadinessTimeout) as caught:
        kube.wait([stuck], timeout=3, what="Kustomization flux-system/apps")
    assert "Kustomization flux-system/apps" in caught.value.message
    assert any(line.startswith(f"Deployment {namespace}/stuck: InProgress") for line in caught.value.context)


def test_a_kind_the_server_does_not_serve_is_named(kube, namespace) -> None:
    with pytest.raises(KubeError) as caught:
        kube.apply({"apiVersion": "example.devenv.test/v1", "kind": "Gadget",
                    "metadata": {"name": "g", "namespace": namespace}})
    assert "does not serve Gadget (example.devenv.test/v1)" in caught.value.message
    assert "CustomResourceDefinition" in caught.value.hint


def test_a_write_rbac_forbids_is_a_kube_error_with_the_verb_and_object(kube, lab, namespace, tmp_path) -> None:
    kube.apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reader", "namespace": namespace}})
    token = lab.kubectl("create", "token", "reader", "-n", namespace, "--duration=10m").stdout.strip()
    config = yaml.safe_load(Path(lab.kubeconfig).read_text())
    context = next(c for c in config["contexts"] if c["name"] == lab.context)["context"]
    server = next(c for c in config["clusters"] if c["name"] == context["cluster"])["cluster"]
    path = tmp_path / "sa.kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "sa",
        "clusters": [{"name": "lab", "cluster": server}], "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "lab", "user": "sa", "namespace": namespace}}]}))
    path.chmod(0o600)
    with Kube(path) as restricted:
        with pytest.raises(KubeError) as caught:
            restricted.apply(configmap(namespace, "nope", a="1"))
    assert caught.value.exit_code == 10
    assert f"cannot apply ConfigMap {namespace}/nope" in caught.value.message and "Forbidden 403" in caught.value.message
    assert "RBAC" in caught.value.hint
    assert kube.get(configmap(namespace, "nope")) is None


def test_an_api_server_that_does_not_answer_is_one_clear_error(tmp_path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = tmp_path / "gone.kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "gone",
        "clusters": [{"name": "gone", "cluster": {"server": f"https://127.0.0.1:{port}",
                                                  "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": base64.b64encode(b"x").decode()}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "u"}}]}))
    with Kube(path) as gone:
        with pytest.raises(KubeError) as caught:
            gone.request("GET", "/version", what="read the server version", timeout=3)
    assert f"cannot read the server version: the API server at https://127.0.0.1:{port} does not answer" \
           in caught.value.message


def test_a_missing_kubeconfig_or_context_is_a_kube_error(tmp_path, lab) -> None:
    with pytest.raises(KubeError, match="cannot load kubeconfig"):
        Kube(tmp_path / "absent")
    with pytest.raises(KubeError, match="context no-such-context"):
        Kube(lab.kubeconfig, "no-such-context")


@pytest.mark.flux
def test_a_flux_object_is_current_only_when_ready(kube, namespace) -> None:
    repo = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
            "metadata": {"name": "absent", "namespace": namespace},
            "spec": {"interval": "1m", "url": "oci://127.0.0.1:1/nothing", "ref": {"tag": "latest"}, "insecure": True}}
    kube.apply(repo)
    with pytest.raises((ReadinessTimeout, KubeError)) as caught:
        kube.wait([repo], timeout=15)
    text = str(caught.value)
    assert f"OCIRepository {namespace}/absent" in text
    assert kube.status(repo)[0] in ("InProgress", FAILED)
