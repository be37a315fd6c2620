"""The lab's smoke suite: each test proves one real behaviour of the cluster the other suites rely on,
and removes what it made (its namespace, whose deletion Flux's finalizers must let through)."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import yaml
from lab_env import cluster, push_helm_chart

pytestmark = pytest.mark.cluster


@pytest.fixture
def kube():
    found, _ = cluster()
    return found


@pytest.fixture
def namespace(kube):
    """A namespace of the test's own; deleted afterwards, and the test fails if it does not go away."""
    name = f"lab-{uuid.uuid4().hex[:8]}"
    kube.kubectl("create", "namespace", name)
    kube.kubectl("label", "namespace", name, "devenv.test/lab=smoke")
    yield name
    kube.kubectl("delete", "namespace", name, "--wait=true", "--timeout=90s")
    assert kube.kubectl("get", "namespace", name, check=False).returncode != 0, f"namespace {name} left behind"


def wait_for(what: str, probe, timeout: float = 120):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(1)
    raise AssertionError(f"{what}: not within {timeout:.0f} s (last: {last!r})")


def get(kube, *args: str) -> dict:
    return json.loads(kube.kubectl("get", *args, "-o", "json").stdout)


def condition(obj: dict, kind: str = "Ready") -> dict:
    return next((c for c in obj.get("status", {}).get("conditions", []) if c["type"] == kind), {})


def wait_ready(kube, kind: str, name: str, namespace: str, timeout: float = 120) -> None:
    """Wait for a Flux object's Ready condition; on timeout, fail with the condition Flux reports."""
    seen = {}

    def ready():
        seen.update(condition(get(kube, kind, name, "-n", namespace)))
        return seen.get("status") == "True"

    try:
        wait_for(f"{kind} {name} to become Ready", ready, timeout)
    except AssertionError:
        raise AssertionError(f"{kind} {namespace}/{name} not Ready within {timeout:.0f} s: "
                             f"{seen.get('reason')}: {seen.get('message')}") from None


def test_the_server_reports_the_pinned_version(kube) -> None:
    if not kube.is_lab:
        pytest.skip("the pinned version is the lab's; this cluster is not the lab")
    import lab

    version = json.loads(kube.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == lab.KUBE_VERSION
    assert version["clientVersion"]["gitVersion"] == lab.KUBE_VERSION


def test_rbac_refuses_a_service_account_without_a_role_binding(kube, namespace) -> None:
    kube.kubectl("create", "serviceaccount", "nobody", "-n", namespace)
    who = f"system:serviceaccount:{namespace}:nobody"
    refused = kube.kubectl("--as", who, "create", "configmap", "x", "-n", namespace, check=False)
    assert refused.returncode != 0
    assert "forbidden" in refused.stderr.lower()
    # the same write is allowed once a RoleBinding grants it: the refusal came from RBAC, not from elsewhere
    kube.kubectl("create", "role", "writer", "--verb=create", "--resource=configmaps", "-n", namespace)
    kube.kubectl("create", "rolebinding", "writer", "--role=writer", f"--serviceaccount={namespace}:nobody",
                 "-n", namespace)
    wait_for("the RoleBinding to take effect",
             lambda: kube.kubectl("--as", who, "create", "configmap", "x", "-n", namespace,
                                  check=False).returncode == 0, timeout=30)


def test_a_resource_quota_rejects_an_over_quota_object(kube, namespace) -> None:
    kube.kubectl("create", "quota", "two-secrets", "--hard=count/secrets=1", "-n", namespace)
    wait_for("the quota controller to count usage",
             lambda: get(kube, "resourcequota", "two-secrets", "-n", namespace).get("status", {}).get("used"))
    kube.kubectl("create", "secret", "generic", "first", "--from-literal=a=1", "-n", namespace)
    over = kube.kubectl("create", "secret", "generic", "second", "--from-literal=a=1", "-n", namespace,
                        check=False)
    assert over.returncode != 0
    assert "exceeded quota: two-secrets" in over.stderr


def test_a_deployment_becomes_available_on_the_fake_nodes(kube, namespace) -> None:
    kube.kubectl("create", "deployment", "web", "--image=registry.invalid/web:1", "--replicas=2", "-n", namespace)
    kube.kubectl("rollout", "status", "deployment/web", "-n", namespace, "--timeout=120s")
    deployment = get(kube, "deployment", "web", "-n", namespace)
    assert condition(deployment, "Available")["status"] == "True"
    pods = get(kube, "pods", "-n", namespace, "-l", "app=web")["items"]
    assert len(pods) == 2
    assert all(p["spec"]["nodeName"] and p["status"]["phase"] == "Running" for p in pods)


def push_flux_artifact(kube, tmp_path: Path, repository: str, files: dict[str, str]) -> str:
    source = tmp_path / "artifact"
    source.mkdir()
    for name, text in files.items():
        (source / name).write_text(text)
    url = f"oci://{kube.registry}/{repository}:v1"
    subprocess.run(["flux", "push", "artifact", url, f"--path={source}", "--source=devenv-lab-test",
                    "--revision=v1@sha1:0000000000000000000000000000000000000001", "--insecure-registry"],
                   check=True, capture_output=True, text=True, env={**os.environ, **kube.env()})
    return url


def apply(kube, *objects: dict) -> None:
    kube.kubectl("apply", "--server-side", "--field-manager=devenv-lab-test", "-f", "-",
                 stdin=yaml.safe_dump_all(objects))


def oci_repository(name: str, namespace: str, url: str, **spec) -> dict:
    return {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"url": url.rsplit(":", 1)[0], "ref": {"tag": "v1"}, "interval": "1m", "insecure": True, **spec}}


@pytest.mark.flux
def test_flux_applies_a_pushed_artifact_with_post_build_substitution(kube, namespace, tmp_path) -> None:
    if not kube.registry:
        pytest.skip("no registry for this cluster (DEVENV_TEST_REGISTRY)")
    # a default that stays a string: Flux substitutes the YAML text kustomize emits, so even a quoted
    # "${PORT:=3306}" comes back as the integer 3306, which a ConfigMap refuses (seen on this lab)
    manifest = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-settings\n"
                "data:\n  endpoint: ${RDS_ENDPOINT}\n  logLevel: ${LOG_LEVEL:=info}\n")
    url = push_flux_artifact(kube, tmp_path, f"smoke/{namespace}", {"settings.yaml": manifest})
    apply(kube,
          {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "environment", "namespace": namespace},
           "data": {"RDS_ENDPOINT": "mariadb.example.internal"}},
          oci_repository("platform", namespace, url),
          {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
           "metadata": {"name": "apps", "namespace": namespace},
           "spec": {"interval": "1m", "prune": True, "wait": True, "targetNamespace": namespace, "path": "./",
                    "sourceRef": {"kind": "OCIRepository", "name": "platform"},
                    "postBuild": {"substituteFrom": [{"kind": "ConfigMap", "name": "environment"}]}}})
    wait_ready(kube, "kustomization", "apps", namespace)
    applied = get(kube, "configmap", "app-settings", "-n", namespace)
    assert applied["data"] == {"endpoint": "mariadb.example.internal", "logLevel": "info"}
    assert applied["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == "apps"


@pytest.mark.flux
def test_helm_controller_installs_a_chart_pushed_to_the_registry(kube, namespace) -> None:
    if not kube.registry:
        pytest.skip("no registry for this cluster (DEVENV_TEST_REGISTRY)")
    push_helm_chart(kube.registry, f"charts/{namespace}", "demo", "0.1.0", {
        "demo/values.yaml": "greeting: hello\n",
        "demo/templates/configmap.yaml": ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-greeting\n"
                                          "data:\n  greeting: {{ .Values.greeting | quote }}\n"),
    })
    repo = oci_repository("demo-chart", namespace, f"oci://{kube.registry}/charts/{namespace}/demo:0.1.0",
                          layerSelector={"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                                         "operation": "copy"})
    repo["spec"]["ref"] = {"tag": "0.1.0"}
    apply(kube, repo,
          {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
           "metadata": {"name": "demo", "namespace": namespace},
           "spec": {"interval": "1m", "chartRef": {"kind": "OCIRepository", "name": "demo-chart"},
                    "values": {"greeting": "from-flux"}}})
    wait_ready(kube, "helmrelease", "demo", namespace)
    installed = get(kube, "configmap", "demo-greeting", "-n", namespace)
    assert installed["data"] == {"greeting": "from-flux"}
    assert installed["metadata"]["annotations"]["meta.helm.sh/release-name"] == "demo"


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[1:-1]


@pytest.mark.parametrize("which", ["lab", "shared"])
def test_each_cluster_records_its_flux_controllers_as_deployments_with_the_flags_they_run_with(which) -> None:
    from lab_env import LAB_ENV, shared_cluster

    found, why = cluster() if which == "lab" else shared_cluster()
    if found is None or not found.is_lab:
        pytest.skip(why or "the lab's own processes are read here")
    pids = json.loads((LAB_ENV.parent / "state.json").read_text())["pids"]
    prefix = "" if which == "lab" else "shared-"
    for controller in ("source-controller", "kustomize-controller", "helm-controller"):
        deployment = get(found, "deployment", controller, "-n", "flux-system")
        args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        assert args == _cmdline(pids[prefix + controller]), controller  # what devenv reads is what runs
        if controller != "source-controller":
            locked = {"--no-cross-namespace-refs=true", "--default-service-account=default"} <= set(args)
            assert locked is (which == "shared"), (controller, args)
