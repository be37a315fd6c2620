"""Delivery `flux` end to end on the lab, with the `kind` stand-in: `devenv up X` pushes a copy of the
embedded platform to the lab's registry as an OCI artifact, and the lab's real source-controller,
kustomize-controller and helm-controller reconcile every Kustomization to Ready, devenv's adaptations
applied by Flux itself as `spec.patches`. Then: render equals Flux (what the controllers applied, read back
from the API server, is what `devenv render` prints), an unchanged re-`up` pushes nothing, `devenv sync`
after editing a file makes the change visible in the cluster, and `devenv down` leaves nothing behind.

The charts the platform installs from the internet are served from the lab's registry by stand-ins
(test_kind_standin.platform_with_local_charts)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from docker_env import engine
from it_helpers import at, leaves
from lab_env import push_helm_chart
from test_kind_standin import (DEPLOYMENT, INGRESS_CLASS, REPO, charts_from, devenv, kubectl_json, local_profile,
                               platform_with_local_charts, standin_env, the_lab, web_never_schedules,
                               without_search)

from devenv.clients import docker
from devenv.domain import labels
from devenv.domain.facts import GENERATED_PLACEHOLDER

pytestmark = [pytest.mark.cluster, pytest.mark.flux, pytest.mark.docker, pytest.mark.mariadb_image,
              pytest.mark.opensearch_image, pytest.mark.kustomize, pytest.mark.timeout(900)]

FLUX_LABELS = ("kustomize.toolkit.fluxcd.io/name", "kustomize.toolkit.fluxcd.io/namespace")
# written by the API server and controllers, not by Flux: a Namespace's name label, a Deployment's revision,
# the PersistentVolume controller's binding annotations on a claim
SERVER_SET = ("kubernetes.io/metadata.name", "deployment.kubernetes.io/revision")
SERVER_SET_PREFIXES = ("kubectl.kubernetes.io/", "pv.kubernetes.io/", "volume.kubernetes.io/",
                       "volume.beta.kubernetes.io/")


def object_id(obj: dict) -> str:
    """Flux's inventory id: namespace_name_group_Kind."""
    return (f"{obj['metadata'].get('namespace', '')}_{obj['metadata']['name']}_"
            f"{obj['apiVersion'].rpartition('/')[0]}_{obj['kind']}")


def differences(rendered: dict, kubectl) -> list[str]:
    """Every way the objects Flux applied differ from what `devenv render --format json` printed: the set of
    objects per Kustomization (its inventory), every leaf devenv rendered, and labels, annotations and data
    as wholes (less Flux's own labels and what controllers write)."""
    out = []
    for k in rendered["kustomizations"]:
        live_k = kubectl("get", "kustomization", k["name"], "-n", k["namespace"])
        theirs = {e["id"] for e in live_k["status"]["inventory"]["entries"]}
        ours = {object_id(r): r for r in k["resources"]}
        if set(ours) != theirs:
            out.append(f"{k['namespace']}/{k['name']}: devenv renders {sorted(set(ours) - theirs)} that Flux did "
                       f"not apply; Flux applied {sorted(theirs - set(ours))} that devenv does not render")
        for oid, mine in ours.items():
            if oid not in theirs or mine["kind"] == "Kustomization":
                continue  # a nested Kustomization: Flux applies devenv's rewrite of it (sourceRef, patches)
            namespace = mine["metadata"].get("namespace")
            live = kubectl("get", f"{mine['kind']}.{mine['apiVersion'].rpartition('/')[0]}".rstrip("."),
                           mine["metadata"]["name"], *(["-n", namespace] if namespace else []))
            if mine["kind"] == "Secret":  # the API server stores stringData in data, base64-encoded
                encoded = {key: base64.b64encode(str(v).encode()).decode() for key, v in
                           (mine.get("stringData") or {}).items()}
                mine = {**{k: v for k, v in mine.items() if k != "stringData"},
                        "data": {**(mine.get("data") or {}), **encoded}}
            for path, value in leaves({k: v for k, v in mine.items() if k != "metadata"}):
                if at(live, path) != value and not (value in ("", 0, False) and at(live, path) == "<absent>"):
                    # (the API server does not store a zero value of an `omitempty` field: globalDefault: false)
                    out.append(f"{oid} {'.'.join(map(str, path))}: devenv {value!r}, Flux {at(live, path)!r}")
            for part in ("labels", "annotations"):
                flux_meta = {key: v for key, v in (live["metadata"].get(part) or {}).items()
                             if key not in FLUX_LABELS + SERVER_SET and not key.startswith(SERVER_SET_PREFIXES)}
                if flux_meta != (mine["metadata"].get(part) or {}):
                    out.append(f"{oid} metadata.{part}: devenv {mine['metadata'].get(part)}, Flux {flux_meta}")
            if mine["kind"] in ("ConfigMap", "Secret") and live.get("data") != mine.get("data"):
                out.append(f"{oid} data: devenv {mine.get('data')}, Flux {live.get('data')}")
    return out


def with_passwords(rendered_json: str, name: str, env: dict[str, str]) -> dict:
    """`devenv render --format json` output with the environment's own password where an offline render
    shows a placeholder (`up` generated it)."""
    facts = devenv("env", name, "--format", "json", "--show-secrets", env=env)
    assert facts.returncode == 0, facts.stderr
    password = json.loads(facts.stdout)["services"]["db"]["password"]
    return json.loads(rendered_json.replace(GENERATED_PLACEHOLDER, password))


def assert_nothing_left(lab, env, name: str) -> None:
    clusters = subprocess.run(["kind", "get", "clusters"], capture_output=True, text=True, env=env)
    assert f"devenv-{name}" not in clusters.stdout
    assert not (Path(lab.kubeconfig).parent / "kind" / f"devenv-{name}").exists()
    client, _ = engine()
    found = docker.managed(client, name)
    assert not (found.containers + found.networks + found.volumes), \
        [r.name for r in found.containers + found.networks + found.volumes]


def test_flux_delivery_of_the_embedded_platform_render_equals_flux_and_sync(tmp_path, env_names) -> None:
    lab = the_lab()
    name = f"fx-{uuid.uuid4().hex[:6]}"
    env_names.append(name)
    platform = platform_with_local_charts(tmp_path, lab.registry)
    profile = local_profile(tmp_path, delivery="flux")
    state = tmp_path / "state"
    env = standin_env(lab, state)
    kubeconfig = state / "devenv" / "kubeconfig" / name

    def kubectl(*args: str) -> dict:
        return kubectl_json(kubeconfig, env, *args)

    try:
        started = time.monotonic()
        up = devenv("up", name, "--profile", str(profile), "--platform", str(platform), env=env)
        first = time.monotonic() - started
        assert up.returncode == 0, up.stderr[-4000:]
        assert "platform: pushed sha256:" in up.stderr

        source = kubectl("get", "ocirepository", "devenv-platform", "-n", "flux-system")
        assert source["spec"]["url"] == f"oci://{lab.registry}/devenv/{name}/platform"
        assert source["spec"]["ref"]["digest"].startswith("sha256:")
        kustomizations = kubectl("get", "kustomizations", "-n", "flux-system",
                                 "-l", f"{labels.ENVIRONMENT}={name}")["items"]
        assert sorted(k["metadata"]["name"] for k in kustomizations) == ["apps", "infra-configs", "infra-controllers"]
        for k in kustomizations:
            assert k["spec"]["sourceRef"] == {"kind": "OCIRepository", "name": "devenv-platform",
                                              "namespace": "flux-system"}
            ready = {c["type"]: c for c in k["status"]["conditions"]}["Ready"]
            assert ready["status"] == "True", (k["metadata"]["name"], ready)
            assert k["status"]["lastAppliedRevision"].endswith(source["spec"]["ref"]["digest"])
        for deployment in ("web", "orders", "catalog"):
            status = kubectl("get", "deployment", deployment, "-n", "shop")["status"]
            assert status.get("availableReplicas", 0) >= 1, (deployment, status)
        # devenv's adaptations, applied by kustomize-controller from spec.patches
        assert kubectl("get", "ingress", "web", "-n", "shop")["spec"]["ingressClassName"] == "nginx"
        config = kubectl("get", "configmap", "catalog-config", "-n", "shop")
        assert config["data"]["OPENSEARCH_URL"] == f"http://devenv-{name}-search:9200"

        rendered = devenv("render", name, "--profile", str(profile), "--platform", str(platform),
                          "--format", "json", env=env)
        assert rendered.returncode == 0, rendered.stderr[-3000:]
        assert GENERATED_PLACEHOLDER in rendered.stdout
        found = differences(with_passwords(rendered.stdout, name, env), kubectl)
        assert not found, "\n".join(found)

        started = time.monotonic()
        again = devenv("up", name, "--profile", str(profile), "--platform", str(platform), env=env)
        second = time.monotonic() - started
        assert again.returncode == 0, again.stderr[-4000:]
        assert "platform: unchanged" in again.stderr
        assert "Kustomization flux-system/apps: changed" not in again.stderr

        settings = platform / "apps/base/catalog/configmap.yaml"
        settings.write_text(settings.read_text().replace("OPENSEARCH_URL:", "SYNCED: \"yes\"\n  OPENSEARCH_URL:", 1))
        started = time.monotonic()
        sync = devenv("sync", name, "-o", "json", env=env)
        third = time.monotonic() - started
        assert sync.returncode == 0, sync.stderr[-4000:]
        changes = json.loads(sync.stdout)["changes"]
        assert any(c.startswith("platform: pushed sha256:") for c in changes), changes
        assert "ConfigMap shop/catalog-config: changed" in changes, changes
        assert kubectl("get", "configmap", "catalog-config", "-n", "shop")["data"]["SYNCED"] == "yes"
        print(f"\nflux delivery on the kind stand-in: first up {first:.1f}s, unchanged re-up {second:.1f}s, "
              f"sync after a one-line change {third:.1f}s")
    finally:
        down = devenv("down", name, env=env)
    assert down.returncode == 0, down.stderr[-3000:]
    assert_nothing_left(lab, env, name)


def test_a_kustomization_flux_cannot_make_ready_is_named_with_its_message(tmp_path, env_names) -> None:
    """Under delivery `flux`, the apps Kustomization's Deployment never schedules: `up` fails naming the
    Kustomization with kustomize-controller's own message, and removes what the run made."""
    lab = the_lab()
    name = f"fy-{uuid.uuid4().hex[:6]}"
    env_names.append(name)
    platform = platform_with_local_charts(tmp_path, lab.registry)
    web_never_schedules(platform, timeout="15s")
    profile = local_profile(tmp_path, delivery="flux", edit=without_search)
    env = standin_env(lab, tmp_path / "state")
    up = devenv("up", name, "--profile", str(profile), "--platform", str(platform), env=env)
    assert up.returncode == 10, up.stderr[-3000:]  # DeliveryFailed
    assert "Kustomization flux-system/apps" in up.stderr
    assert "Deployment/shop/web" in up.stderr  # kustomize-controller's health check message names it
    assert_nothing_left(lab, env, name)


def acme_with_local_charts(tmp_path: Path, registry: str) -> Path:
    """A copy of tests/data/platforms/acme whose portable charts come from the lab's registry, with the one
    value Flux would turn into a number kept a string (devenv's render warns about it: see test_render)."""
    root = tmp_path / "acme"
    shutil.copytree(REPO / "tests/data/platforms/acme", root)
    charts_from(root / "infrastructure/controllers", registry)
    push_helm_chart(registry, "charts", "ingress-nginx", "4.11.3", {
        "ingress-nginx/templates/ingressclass.yaml": INGRESS_CLASS,
        "ingress-nginx/templates/deployment.yaml": DEPLOYMENT.format(name="ingress-nginx-controller")})
    push_helm_chart(registry, "charts", "secrets-store-csi-driver", "1.4.7", {
        "secrets-store-csi-driver/templates/deployment.yaml": DEPLOYMENT.format(name="csi-secrets-store")})
    config = root / "apps/base/storefront/configmap.yaml"
    config.write_text(config.read_text().replace('DB_PORT: "${DB_PORT}"', 'DB_PORT: "tcp/${DB_PORT}"'))
    return root


def test_flux_delivery_of_acme_nested_kustomizations_included_render_equals_flux(tmp_path, env_names) -> None:
    """acme (tests/data/platforms/acme): Kustomizations in subfolders, nested tenants' Kustomizations in their
    own namespaces run as their own ServiceAccount, namePrefix/commonMetadata/images/patches/components, AWS
    pieces left out, a remote OCI source not rendered (and so not delivered)."""
    lab = the_lab()
    name = f"fa-{uuid.uuid4().hex[:6]}"
    env_names.append(name)
    platform = acme_with_local_charts(tmp_path, lab.registry)
    text = (REPO / "tests/data/profiles/valid-acme.yaml").read_text()
    text = text.replace("  search:\n    type: opensearch\n", "").replace('"{services.search.url}"',
                                                                       "http://search.invalid:9200")
    text = text.replace("target: kind\n", "target: kind\ndelivery: flux\n")
    profile = tmp_path / "acme.yaml"
    profile.write_text(text)
    state = tmp_path / "state"
    env = standin_env(lab, state)
    kubeconfig = state / "devenv" / "kubeconfig" / name

    def kubectl(*args: str) -> dict:
        return kubectl_json(kubeconfig, env, *args)

    try:
        up = devenv("up", name, "--profile", str(profile), "--platform", str(platform), env=env)
        assert up.returncode == 0, up.stderr[-4000:]
        rendered = devenv("render", name, "--profile", str(profile), "--platform", str(platform),
                          "--format", "json", env=env)
        assert rendered.returncode == 0, rendered.stderr[-3000:]
        result = json.loads(rendered.stdout)
        names = {f"{k['namespace']}/{k['name']}" for k in result["kustomizations"]}
        assert {"team-a/team-a", "team-b/team-b", "flux-system/tenants", "flux-system/apps"} <= names
        assert "flux-system/observability" not in names  # remote source: not rendered, not delivered
        for kid in names:
            namespace, kname = kid.split("/")
            ready = {c["type"]: c for c in kubectl("get", "kustomization", kname, "-n", namespace)["status"]
                     ["conditions"]}["Ready"]
            assert ready["status"] == "True", (kid, ready)
        found = differences(with_passwords(rendered.stdout, name, env), kubectl)
        assert not found, "\n".join(found)
    finally:
        down = devenv("down", name, env=env)
    assert down.returncode == 0, down.stderr[-3000:]
    assert_nothing_left(lab, env, name)
