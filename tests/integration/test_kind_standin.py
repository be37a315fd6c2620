"""`devenv up X --profile local` of the embedded platform end to end on the lab, with the `kind` stand-in
(tests/lab/bin/kind: a fresh KWOK cluster per name, the lab's Flux controllers as processes): the real CLI,
real MariaDB and OpenSearch containers, every Kustomization applied by delivery `apply`, the workloads
Available on the fake nodes, an unchanged re-`up`, then `devenv down` leaving nothing in Docker or the cluster.

The lab has no download site, so the two charts the platform installs from the internet (cert-manager,
ingress-nginx) are served by stand-in charts of the same names and versions pushed to the lab's registry
(the HelmRepositories of a copy of components/ point there): cert-manager's brings the ClusterIssuer CRD,
which is what the platform's next Kustomization needs from it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml
from docker_env import engine
from it_helpers import mariadb_image, opensearch_image
from lab_env import cluster, push_helm_chart
from test_aws_secrets import _aws_image_present, aws_image  # noqa: F401 - local's aws service: an autouse image check

from devenv.clients import docker
from devenv.domain import labels

pytestmark = [pytest.mark.cluster, pytest.mark.flux, pytest.mark.docker, pytest.mark.mariadb_image,
              pytest.mark.opensearch_image, pytest.mark.kustomize, pytest.mark.timeout(900)]
REPO = Path(__file__).resolve().parents[2]
STANDIN = REPO / "tests" / "lab" / "bin"

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers: [{{name: c, image: example.invalid/{name}:stand-in}}]
"""
CLUSTER_ISSUER_CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: clusterissuers.cert-manager.io
spec:
  group: cert-manager.io
  scope: Cluster
  names: {plural: clusterissuers, singular: clusterissuer, kind: ClusterIssuer}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"""
INGRESS_CLASS = """apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: nginx
spec:
  controller: k8s.io/ingress-nginx
"""


def charts_from(folder: Path, registry: str) -> None:
    """Point every HelmRepository in `folder` at the lab registry's `charts` repository (OCI, plain HTTP)."""
    for path in folder.glob("*.yaml"):
        docs = list(yaml.safe_load_all(path.read_text()))
        for doc in docs:
            if doc and doc.get("kind") == "HelmRepository":
                doc["spec"] = {"interval": "1h", "type": "oci", "url": f"oci://{registry}/charts", "insecure": True}
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False))


def kubectl_json(kubeconfig: Path, env: dict[str, str], *args: str) -> dict:
    """`kubectl ... -o json` against an environment's cluster; fails the test with kubectl's message."""
    done = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), *args, "-o", "json"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def platform_with_local_charts(tmp_path: Path, registry: str) -> Path:
    root = tmp_path / "platform"
    shutil.copytree(REPO / "components", root)
    charts_from(root / "infrastructure/controllers", registry)
    push_helm_chart(registry, "charts", "cert-manager", "v1.16.2", {
        "cert-manager/crds/clusterissuers.yaml": CLUSTER_ISSUER_CRD,
        "cert-manager/templates/deployment.yaml": DEPLOYMENT.format(name="cert-manager")})
    push_helm_chart(registry, "charts", "ingress-nginx", "4.11.3", {
        "ingress-nginx/templates/ingressclass.yaml": INGRESS_CLASS,
        "ingress-nginx/templates/deployment.yaml": DEPLOYMENT.format(name="ingress-nginx-controller")})
    return root


def local_profile(tmp_path: Path, *, delivery: str, edit=lambda text: text) -> Path:
    """profiles/local.yaml with the given delivery (seed files beside it), optionally edited."""
    text = (REPO / "profiles" / "local.yaml").read_text()
    text = text.replace("delivery: flux\n", f"delivery: {delivery}\n").replace("delivery: apply\n",
                                                                               f"delivery: {delivery}\n")
    assert f"delivery: {delivery}\n" in text
    folder = tmp_path / "profiles"
    folder.mkdir(exist_ok=True)
    if not (folder / "seed").exists():
        (folder / "seed").symlink_to(REPO / "profiles" / "seed")
    path = folder / f"{delivery}.yaml"
    path.write_text(edit(text))
    return path


def web_never_schedules(platform: Path, *, timeout: str) -> None:
    """The embedded platform's web Deployment gets a node selector no fake node has; the apps Kustomization
    (which waits for it) the given `timeout`."""
    deployment = platform / "apps/base/web/deployment.yaml"
    deployment.write_text(deployment.read_text().replace(
        "    spec:\n", "    spec:\n      nodeSelector: {devenv.test/none: 'true'}\n", 1))
    apps = platform / "clusters/production/apps.yaml"
    apps.write_text(apps.read_text().replace("timeout: 5m", f"timeout: {timeout}"))


def devenv(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "devenv", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=REPO)


def without_search(profile: str) -> str:
    """A local profile's text without its OpenSearch service (a quicker `up` for failure tests)."""
    profile = profile.replace("  search:\n    type: opensearch\n    version: \"2\"\n    heap: 512m\n"
                              "    seed: [seed/catalog.json, seed/catalog.ndjson]\n", "")
    return profile.replace('"{services.search.url}"', "http://search.invalid:9200")


def the_lab():
    """The lab cluster, or skip: the stand-in needs the lab's binaries and registry."""
    lab, _ = cluster()
    if not lab.is_lab or not lab.registry:
        pytest.skip("the kind stand-in needs the lab (its binaries and registry)")
    return lab


def standin_env(lab, state: Path) -> dict[str, str]:
    """The CLI's environment: the kind stand-in first on PATH, the lab's tools, state under `state`."""
    return {**os.environ, "PATH": f"{STANDIN}{os.pathsep}{lab.path}", "XDG_STATE_HOME": str(state),
            "DEVENV_LAB_DIR": str(Path(lab.kubeconfig).parent), "KUBECONFIG": lab.kubeconfig,
            "DEVENV_MARIADB_IMAGE": mariadb_image(), "DEVENV_OPENSEARCH_IMAGE": opensearch_image(),
            "DEVENV_AWS_IMAGE": aws_image(), "DEVENV_REGISTRY": lab.registry, "TESTCONTAINERS_RYUK_DISABLED": "true"}


def test_up_of_the_embedded_platform_on_the_kind_stand_in_then_down_leaves_nothing(tmp_path, env_names) -> None:
    lab = the_lab()
    name = f"e2e-{uuid.uuid4().hex[:6]}"
    env_names.append(name)
    platform = platform_with_local_charts(tmp_path, lab.registry)
    state = tmp_path / "state"
    env = standin_env(lab, state)
    kubeconfig = state / "devenv" / "kubeconfig" / name
    profile = local_profile(tmp_path, delivery="apply")
    try:
        started = time.monotonic()
        up = devenv("up", name, "--profile", str(profile), "--platform", str(platform), env=env)
        first = time.monotonic() - started
        assert up.returncode == 0, up.stderr[-4000:]
        assert oct(kubeconfig.stat().st_mode & 0o777) == "0o600"

        def kubectl(*args: str) -> dict:
            return kubectl_json(kubeconfig, env, *args)

        inventories = kubectl("get", "configmap", "-n", "flux-system", "-l", f"{labels.ENVIRONMENT}={name}")["items"]
        applied = sorted(cm["data"]["kustomization"] for cm in inventories if "kustomization" in cm.get("data", {}))
        assert applied == ["flux-system/apps", "flux-system/infra-configs", "flux-system/infra-controllers"]
        for deployment in ("web", "orders", "catalog", "ledger"):
            status = kubectl("get", "deployment", deployment, "-n", "shop")["status"]
            assert status.get("availableReplicas", 0) >= 1, (deployment, status)
        # ledger reads its RDS secret from the aws container on the kind network (the IRSA adaptation's variables)
        ledger = kubectl("get", "deployment", "ledger", "-n", "shop")["spec"]["template"]["spec"]["initContainers"][0]
        assert {e["name"]: e.get("value") for e in ledger["env"]}["AWS_ENDPOINT_URL_SECRETS_MANAGER"] == \
            f"http://devenv-{name}-aws:5000"
        releases = kubectl("get", "helmreleases", "-A")["items"]
        assert {r["metadata"]["name"] for r in releases} == {"cert-manager", "ingress-nginx"}
        assert all(any(c["type"] == "Ready" and c["status"] == "True" for c in r["status"]["conditions"])
                   for r in releases)
        assert kubectl("get", "clusterissuer", "letsencrypt")["metadata"]["name"] == "letsencrypt"
        config = kubectl("get", "configmap", "environment", "-n", "flux-system")
        assert config["data"]["RDS_ENDPOINT"] == f"devenv-{name}-db"
        assert config["metadata"]["annotations"][labels.PROFILE_PATH] == str(profile)

        started = time.monotonic()
        again = devenv("up", name, "--profile", str(profile), "--platform", str(platform), env=env)
        second = time.monotonic() - started
        assert again.returncode == 0, again.stderr[-4000:]
        lines = [line.strip() for line in (again.stdout + again.stderr).splitlines()
                 if line.strip().startswith("Kustomization ")]
        assert len(lines) == 3 and all(": 0 applied," in line for line in lines), lines  # nothing re-applied
        print(f"\nup on the kind stand-in: first {first:.1f}s, unchanged re-up {second:.1f}s")
    finally:
        down = devenv("down", name, env=env)
    assert down.returncode == 0, down.stderr[-3000:]
    clusters = subprocess.run(["kind", "get", "clusters"], capture_output=True, text=True, env=env)
    assert f"devenv-{name}" not in clusters.stdout
    assert not (Path(lab.kubeconfig).parent / "kind" / f"devenv-{name}").exists()
    client, _ = engine()
    found = docker.managed(client, name)
    assert not (found.containers + found.networks + found.volumes)


def test_a_kustomization_that_never_becomes_ready_is_named_and_the_run_rolled_back(tmp_path, env_names) -> None:
    """The apps Kustomization's Deployment can never schedule (a node selector no fake node has): `up` fails
    naming the Kustomization and the Deployment within its `timeout`, and removes the cluster and containers."""
    lab = the_lab()
    name = f"e2f-{uuid.uuid4().hex[:6]}"
    env_names.append(name)
    platform = platform_with_local_charts(tmp_path, lab.registry)
    web_never_schedules(platform, timeout="10s")
    profile = local_profile(tmp_path, delivery="apply", edit=without_search)
    env = standin_env(lab, tmp_path / "state")
    up = devenv("up", name, "--profile", str(profile), "--platform", str(platform), env=env)
    assert up.returncode == 6, up.stderr[-3000:]  # ReadinessTimeout
    assert "(Kustomization flux-system/apps)" in up.stderr
    assert "Deployment shop/web: InProgress" in up.stderr
    clusters = subprocess.run(["kind", "get", "clusters"], capture_output=True, text=True, env=env)
    assert f"devenv-{name}" not in clusters.stdout
    assert not (Path(lab.kubeconfig).parent / "kind" / f"devenv-{name}").exists()
    client, _ = engine()
    found = docker.managed(client, name)
    assert not (found.containers + found.volumes), [r.name for r in found.containers + found.volumes]
