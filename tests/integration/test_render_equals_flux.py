"""Render equals Flux: a platform pushed to the lab registry is reconciled by the real kustomize-controller,
and every object it applied (read back from the API server, found through the Kustomization's inventory)
matches what `devenv render` computed offline: the same objects, and every field devenv rendered has the
same value in the cluster, with labels, annotations and data equal as wholes (Flux adds only its own labels).

The platform uses the Flux spec features devenv reimplements (targetNamespace, namePrefix, commonMetadata,
patches, images, postBuild substitute and substituteFrom with defaults, dependsOn) and no AWS-only component,
so devenv adapts nothing and the comparison is exact."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from it_helpers import at, leaves
from lab_env import cluster

from devenv.flux.render import render_environment
from devenv.clients.kube import Kube
from devenv.domain.profiles import load_profile

pytestmark = [pytest.mark.cluster, pytest.mark.flux, pytest.mark.kustomize, pytest.mark.timeout(400)]

FLUX_LABELS = ("kustomize.toolkit.fluxcd.io/name", "kustomize.toolkit.fluxcd.io/namespace")
SERVER_SET = ("deployment.kubernetes.io/revision",)  # written by the deployment controller, not by Flux


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def platform(root: Path, ns: str) -> None:
    write(root / "clusters/lab/kustomization.yaml", "resources: [apps.yaml, base.yaml]\n")
    write(root / "clusters/lab/base.yaml", f"""apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: base, namespace: flux-system}}
spec:
  interval: 10m
  timeout: 2m
  prune: true
  wait: true
  targetNamespace: {ns}
  sourceRef: {{kind: GitRepository, name: flux-system}}
  path: ./base
  commonMetadata:
    labels: {{team: platform}}
    annotations: {{owner: platform-team}}
  postBuild:
    substitute: {{REPLICAS_NOTE: "two"}}
    substituteFrom:
      - {{kind: ConfigMap, name: environment}}
""")
    write(root / "clusters/lab/apps.yaml", f"""apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: apps, namespace: flux-system}}
spec:
  dependsOn: [{{name: base}}]
  interval: 10m
  timeout: 2m
  prune: true
  wait: true
  targetNamespace: {ns}
  namePrefix: shop-
  sourceRef: {{kind: GitRepository, name: flux-system}}
  path: ./apps
  images:
    - {{name: example.invalid/api, newTag: "1.2.3"}}
  patches:
    - target: {{kind: Deployment, name: api}}
      patch: |
        - op: replace
          path: /spec/replicas
          value: 2
  postBuild:
    substituteFrom:
      - {{kind: ConfigMap, name: environment}}
      - {{kind: Secret, name: environment-secrets, optional: true}}
""")
    write(root / "base/kustomization.yaml", "resources: [settings.yaml]\n")
    write(root / "base/settings.yaml", """apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data:
  environment: ${ENVIRONMENT}
  endpoint: "${RDS_ENDPOINT}:${RDS_PORT}"
  level: ${LOG_LEVEL:=info}
  note: replicas are ${REPLICAS_NOTE}
""")
    write(root / "apps/kustomization.yaml", "resources: [api.yaml]\nlabels:\n- pairs: {app.kubernetes.io/part-of: shop}\n")
    write(root / "apps/api.yaml", """apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  replicas: 1
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
      - name: api
        image: example.invalid/api:0.1
        env:
        - {name: DB_HOST, value: "${RDS_ENDPOINT}"}
        - {name: DOMAIN, value: "api.${DOMAIN:=example.test}"}
---
apiVersion: v1
kind: Service
metadata: {name: api}
spec:
  selector: {app: api}
  ports: [{port: 80, targetPort: 8080}]
""")


def test_what_kustomize_controller_applies_is_what_devenv_renders(tmp_path) -> None:
    lab, _ = cluster()
    if not lab.registry:
        pytest.skip("no registry for the cluster's Flux (DEVENV_TEST_REGISTRY)")
    ns = f"ref-{uuid.uuid4().hex[:8]}"
    root = tmp_path / "platform"
    platform(root, ns)
    write(tmp_path / "p.yaml", "version: 1\nname: ref\ntarget: kind\nmirror: clusters/lab\nenvironment:\n  data:\n"
                               "    ENVIRONMENT: \"{env.name}\"\n    RDS_ENDPOINT: db.internal\n"
                               "    RDS_PORT: \"3306\"\n")
    profile = load_profile(tmp_path / "p.yaml")
    rendered = render_environment(profile, "ref", platform=root)
    assert rendered.adapted == [] and rendered.excluded == []
    url = f"oci://{lab.registry}/render-equals-flux/{ns}"
    subprocess.run(["flux", "push", "artifact", f"{url}:v1", f"--path={root}", "--source=devenv-test",
                    "--revision=v1@sha1:0000000000000000000000000000000000000001", "--insecure-registry"],
                   check=True, capture_output=True, text=True, env={"PATH": lab.path, "HOME": str(tmp_path)})
    with Kube(lab.kubeconfig, lab.context) as kube:
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        try:
            env_cm = dict(rendered.environment_configmap)
            kube.apply({**env_cm, "metadata": {"name": "environment", "namespace": ns}})
            kube.apply({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
                        "metadata": {"name": "platform", "namespace": ns},
                        "spec": {"url": url, "ref": {"tag": "v1"}, "interval": "10m", "insecure": True}})
            flux_objects = []
            for k in rendered.kustomizations:
                obj = json.loads(json.dumps(k.object))
                obj["metadata"] = {"name": k.name, "namespace": ns}
                obj["spec"]["sourceRef"] = {"kind": "OCIRepository", "name": "platform"}
                kube.apply(obj)
                flux_objects.append(obj)
            kube.wait(flux_objects, timeout=180, what="the real kustomize-controller")
            differences = []
            for k, obj in zip(rendered.kustomizations, flux_objects):
                live_k = kube.get(obj)
                entries = live_k["status"]["inventory"]["entries"]
                ours = {f"{r['metadata'].get('namespace', '')}_{r['metadata']['name']}_"
                        f"{r['apiVersion'].rpartition('/')[0]}_{r['kind']}": r for r in k.resources}
                theirs = {e["id"]: e["v"] for e in entries}
                if set(ours) != set(theirs):
                    differences.append(f"{k.id}: devenv renders {sorted(ours)}, Flux applied {sorted(theirs)}")
                for oid, mine in ours.items():
                    if oid not in theirs:
                        continue
                    live = kube.get(mine)
                    for path, value in leaves(mine):
                        if at(live, path) != value:
                            differences.append(f"{oid} {'.'.join(map(str, path))}: devenv {value!r}, "
                                               f"Flux {at(live, path)!r}")
                    for part in ("labels", "annotations"):
                        flux_meta = {key: v for key, v in (live["metadata"].get(part) or {}).items()
                                     if key not in FLUX_LABELS + SERVER_SET}
                        if flux_meta != (mine["metadata"].get(part) or {}):
                            differences.append(f"{oid} metadata.{part}: devenv {mine['metadata'].get(part)}, "
                                               f"Flux {flux_meta}")
                    if mine["kind"] == "ConfigMap" and live.get("data") != mine.get("data"):
                        differences.append(f"{oid} data: devenv {mine.get('data')}, Flux {live.get('data')}")
            assert not differences, "\n".join(differences)
            assert sum(len(k.resources) for k in rendered.kustomizations) == 3
        finally:
            for obj in reversed(flux_objects if "flux_objects" in locals() else []):
                kube.delete(obj)  # kustomize-controller prunes what it applied (prune: true)
            kube.delete({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
            deadline = time.monotonic() + 120
            while kube.get({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}) is not None:
                assert time.monotonic() < deadline, f"namespace {ns} left behind"
                time.sleep(0.5)
