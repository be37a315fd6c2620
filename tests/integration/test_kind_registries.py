"""Private registries on the kind target, on the lab (the `kind` stand-in: a KWOK cluster with the lab's real Flux
controllers as processes), against a registry that wants credentials standing in for ECR (the lab's distribution
registry with htpasswd, and a stub `docker-credential-ecr-login` named by credHelpers: private_registry.py).

A platform whose HelmRepository (type oci) and OCIRepository read from that registry, both written for ECR
(`provider: aws`), and a profile listing the registry under `registries:`:
- `devenv up` (delivery flux): the credentials come from the helper, asked at this `up`; each namespace holding such
  a source gets the dockerconfigjson Secret devenv labels, the sources read it instead of the cloud's identity, and
  every Kustomization and HelmRelease becomes Ready (the chart and the artifact were pulled with them); the secret
  is in no output and no file of devenv's state;
- `devenv sync` asks the helper again (an ECR token lasts 12 hours: nothing is cached);
- without the helper: exit 11, one paragraph naming the registry, `docker login` and the helper, nothing created;
- `devenv down`: no cluster, nothing labelled left in Docker (the census)."""

from __future__ import annotations

import base64
import json
import subprocess
import textwrap
import uuid
from pathlib import Path

import pytest
from lab_env import push_helm_chart
from private_registry import running_registry
from test_flux_delivery import assert_nothing_left
from test_kind_standin import devenv, kubectl_json, standin_env, the_lab

from devenv.domain import labels

pytestmark = [pytest.mark.cluster, pytest.mark.flux, pytest.mark.docker, pytest.mark.mariadb_image,
              pytest.mark.kustomize, pytest.mark.timeout(900)]

SECRET = "devenv-registry-credentials"
CONFIG_MAP = """apiVersion: v1
kind: ConfigMap
metadata:
  name: hello
data:
  from: a private chart
"""


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    with running_registry(tmp_path_factory.mktemp("registry")) as started:
        yield started


@pytest.fixture(scope="module")
def artifacts(registry, tmp_path_factory):
    """A Helm chart (Helm's media types) and a Flux artifact (`flux push artifact`, through the helper) that
    exist only in the registry that wants credentials."""
    lab = the_lab()
    with registry.logged_in():
        push_helm_chart(registry.host, "charts", "hello", "0.1.0", {"hello/templates/configmap.yaml": CONFIG_MAP})
    manifests = tmp_path_factory.mktemp("manifests")
    (manifests / "configmap.yaml").write_text(CONFIG_MAP.replace("name: hello", "name: from-an-artifact"))
    pushed = subprocess.run(
        ["flux", "push", "artifact", f"oci://{registry.host}/manifests/extra:v1", "--path", str(manifests),
         "--source", "devenv-test", "--revision", f"v1@sha1:{'0' * 40}", "--insecure-registry"],
        capture_output=True, text=True, timeout=120,
        env={**standin_env(lab, tmp_path_factory.mktemp("push-state")), **registry.env(path=lab.path)})
    assert pushed.returncode == 0, pushed.stderr
    return registry


def private_platform(root: Path, host: str) -> Path:
    """A cluster folder with one Kustomization (wait: true) holding an ECR-style HelmRepository of type oci with
    its HelmRelease, and an ECR-style OCIRepository."""
    files = {
        "clusters/production/kustomization.yaml": "resources: [flux-system, private.yaml]\n",
        "clusters/production/flux-system/kustomization.yaml": "resources: [gotk-sync.yaml]\n",
        "clusters/production/flux-system/gotk-sync.yaml": """
            apiVersion: source.toolkit.fluxcd.io/v1
            kind: GitRepository
            metadata: {name: flux-system, namespace: flux-system}
            spec: {interval: 1m0s, ref: {branch: main}, url: ssh://git@github.com/example-org/platform}
            ---
            apiVersion: kustomize.toolkit.fluxcd.io/v1
            kind: Kustomization
            metadata: {name: flux-system, namespace: flux-system}
            spec: {interval: 10m0s, path: ./clusters/production, prune: true,
                   sourceRef: {kind: GitRepository, name: flux-system}}
            """,
        "clusters/production/private.yaml": """
            apiVersion: kustomize.toolkit.fluxcd.io/v1
            kind: Kustomization
            metadata: {name: private, namespace: flux-system}
            spec: {interval: 1h, retryInterval: 10s, timeout: 4m, path: ./private, prune: true, wait: true,
                   sourceRef: {kind: GitRepository, name: flux-system}}
            """,
        "private/kustomization.yaml": "resources: [sources.yaml]\n",
        "private/sources.yaml": f"""
            apiVersion: v1
            kind: Namespace
            metadata: {{name: charts}}
            ---
            apiVersion: source.toolkit.fluxcd.io/v1
            kind: HelmRepository
            metadata: {{name: private-charts, namespace: charts}}
            spec: {{type: oci, url: "oci://{host}/charts", provider: aws, insecure: true, interval: 1h}}
            ---
            apiVersion: helm.toolkit.fluxcd.io/v2
            kind: HelmRelease
            metadata: {{name: hello, namespace: charts}}
            spec:
              interval: 1h
              chart:
                spec: {{chart: hello, version: 0.1.0, sourceRef: {{kind: HelmRepository, name: private-charts}}}}
            ---
            apiVersion: source.toolkit.fluxcd.io/v1
            kind: OCIRepository
            metadata: {{name: private-manifests, namespace: flux-system}}
            spec: {{url: "oci://{host}/manifests/extra", ref: {{tag: v1}}, provider: aws, insecure: true,
                    interval: 1h}}
            """,
    }
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(textwrap.dedent(text).lstrip())
    return root


def private_profile(folder: Path, host: str) -> Path:
    path = folder / "private.yaml"
    path.write_text(f"version: 1\nname: private\ntarget: kind\ndelivery: flux\nmirror: clusters/production\n"
                    f"registries:\n  - host: {host}\nservices:\n  db: {{type: mariadb}}\n")
    return path


def ready(obj: dict) -> dict:
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}.get("Ready", {})


def test_without_the_helper_up_names_the_registry_and_docker_login_and_creates_nothing(artifacts, tmp_path,
                                                                                         env_names) -> None:
    lab, registry = the_lab(), artifacts
    name = f"rg-{uuid.uuid4().hex[:6]}"
    env_names.append(name)
    platform = private_platform(tmp_path / "platform", registry.host)
    profile = private_profile(tmp_path, registry.host)
    env = standin_env(lab, tmp_path / "state")
    env.update(registry.env(helper=False, path=env["PATH"]))
    up = devenv("up", name, "--profile", str(profile), "--platform", str(platform), env=env)
    assert up.returncode == 11, up.stderr[-3000:]
    error = up.stderr[up.stderr.index("error: "):]
    print(error)
    assert error.startswith(f"error: devenv found no credentials for the registry {registry.host} (profile "
                            f"{profile} lists it under `registries:`): put docker-credential-ecr-login")
    assert f"`docker login {registry.host}`" in error and "nothing was created" in error
    assert "Traceback" not in up.stderr and registry.secret not in up.stdout + up.stderr
    assert_nothing_left(lab, env, name)  # no cluster, no container, network or volume
    assert not (tmp_path / "state" / "devenv" / "kubeconfig" / name).exists()


def test_flux_delivery_reads_the_private_chart_and_artifact_with_the_users_credentials(artifacts, tmp_path,
                                                                                        env_names) -> None:
    lab, registry = the_lab(), artifacts
    name = f"rg-{uuid.uuid4().hex[:6]}"
    env_names.append(name)
    platform = private_platform(tmp_path / "platform", registry.host)
    profile = private_profile(tmp_path, registry.host)
    state = tmp_path / "state"
    env = standin_env(lab, state)
    env.update(registry.env(path=env["PATH"]))
    kubeconfig = state / "devenv" / "kubeconfig" / name

    def kubectl(*args: str) -> dict:
        return kubectl_json(kubeconfig, env, *args)

    explained = devenv("render", name, "--profile", str(profile), "--platform", str(platform), "--explain", env=env)
    assert explained.returncode == 0, explained.stderr
    assert SECRET in explained.stdout + explained.stderr  # the adaptation is shown
    registry.helper_log.write_text("")
    try:
        up = devenv("up", name, "--profile", str(profile), "--platform", str(platform), env=env)
        assert up.returncode == 0, up.stderr[-4000:]
        assert registry.helper_log.read_text().split().count("get") >= 1  # resolved at this up, by the helper

        for namespace in ("charts", "flux-system"):  # each namespace holding a source on the registry
            secret = kubectl("get", "secret", SECRET, "-n", namespace)
            assert secret["type"] == "kubernetes.io/dockerconfigjson"
            assert secret["metadata"]["labels"][labels.MANAGED] == "true"
            assert secret["metadata"]["labels"][labels.ENVIRONMENT] == name
            auths = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))["auths"]
            assert auths[registry.host]["username"] == registry.user
            assert auths[registry.host]["password"] == registry.secret
            assert registry.secret not in json.dumps(secret["metadata"])
        for kind, namespace, source in (("helmrepository", "charts", "private-charts"),
                                        ("ocirepository", "flux-system", "private-manifests")):
            spec = kubectl("get", kind, source, "-n", namespace)["spec"]
            # provider aws removed: the CRD's default, generic, logs in with the secretRef
            assert spec["secretRef"] == {"name": SECRET} and spec.get("provider", "generic") == "generic", spec
        artifact = kubectl("get", "ocirepository", "private-manifests", "-n", "flux-system")
        assert ready(artifact).get("status") == "True", ready(artifact)  # pulled with the credentials
        kustomizations = kubectl("get", "kustomizations", "-A", "-l", f"{labels.ENVIRONMENT}={name}")["items"]
        assert [k["metadata"]["name"] for k in kustomizations] == ["private"]
        assert all(ready(k).get("status") == "True" for k in kustomizations), [ready(k) for k in kustomizations]
        releases = kubectl("get", "helmreleases", "-A")["items"]
        assert [r["metadata"]["name"] for r in releases] == ["hello"]
        assert ready(releases[0]).get("status") == "True", ready(releases[0])
        assert kubectl("get", "configmap", "hello", "-n", "charts")["data"] == {"from": "a private chart"}

        registry.helper_log.write_text("")
        sync = devenv("sync", name, env=env)
        assert sync.returncode == 0, sync.stderr[-3000:]
        assert registry.helper_log.read_text().split().count("get") >= 1  # asked again: nothing cached
        outputs = up.stdout + up.stderr + sync.stdout + sync.stderr + explained.stdout + explained.stderr
        assert registry.secret not in outputs
        assert base64.b64encode(f"{registry.user}:{registry.secret}".encode()).decode() not in outputs
        held = [p for p in state.rglob("*") if p.is_file() and registry.secret.encode() in p.read_bytes()]
        assert held == [], held  # devenv's state on this machine holds no copy
    finally:
        down = devenv("down", name, env=env)
    assert down.returncode == 0, down.stderr[-3000:]
    assert_nothing_left(lab, env, name)
