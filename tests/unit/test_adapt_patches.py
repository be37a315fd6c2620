"""Adaptations are Flux patches, and the render is those patches applied: an adapted Kustomization rendered
offline is what real kustomize builds from the same folder with the `spec.patches` Flux delivery writes (its
namePrefix too), then post-build substitution as kustomize-controller runs it after the build.

The folder has what each kind of adaptation touches: an IRSA annotation whose variable is undefined (removed
before substitution, so strict substitution does not fail, in both), an ALB Ingress, a claim whose AWS storage
class comes from a variable (decided on the substituted object, patched on the built one), a HelmRelease's
values, a private OCI source, and an AWS-only object (deleted from Flux's build)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import write_profile
from devenv.domain.profiles import load_profile
from devenv.flux.adapt import apply_common_metadata
from devenv.flux.kustomize import kustomize_command, load_objects
from devenv.flux.substitution import substitute_resource

pytestmark = pytest.mark.kustomize

ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
APPS = [
    {"apiVersion": "v1", "kind": "ServiceAccount",
     "metadata": {"name": "orders", "annotations": {"eks.amazonaws.com/role-arn": "${ROLE_ARN}"}}},
    {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
     "metadata": {"name": "orders", "annotations": {"alb.ingress.kubernetes.io/scheme": "internet-facing"}},
     "spec": {"ingressClassName": "alb", "rules": [{"host": "orders.${DOMAIN}"}]}},
    {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
     "spec": {"storageClassName": "${STORAGE}", "accessModes": ["ReadWriteOnce"],
              "resources": {"requests": {"storage": "1Gi"}}}},
    {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "metadata": {"name": "web"},
     "spec": {"interval": "1h", "chart": {"spec": {"chart": "web", "sourceRef": {"kind": "HelmRepository",
                                                                                  "name": "charts"}}},
              "values": {"ingress": {"className": "alb", "host": "web.${DOMAIN}"},
                         "persistence": {"storageClass": "gp2"}}}},
    {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository", "metadata": {"name": "charts"},
     "spec": {"interval": "1h", "type": "oci", "url": f"oci://{ECR}/charts", "provider": "aws"}},
    {"apiVersion": "elbv2.k8s.aws/v1beta1", "kind": "TargetGroupBinding", "metadata": {"name": "orders"},
     "spec": {"serviceRef": {"name": "orders", "port": 80}, "targetGroupARN": "arn:aws:elasticloadbalancing:x"}},
]
SPEC = {"interval": "10m", "path": "./apps", "prune": True, "targetNamespace": "shop", "namePrefix": "eu-",
        "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
        "commonMetadata": {"labels": {"team": "shop"}},
        "postBuild": {"substitute": {"DOMAIN": "dev.test", "STORAGE": "gp3"}}}


def write(root: Path, rel: str, *docs: dict) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))


def kustomization(name: str, spec: dict) -> dict:
    return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": name, "namespace": "flux-system"}, "spec": spec}


def cluster_folder(root: Path, *kustomizations: dict) -> Path:
    """A platform whose cluster folder clusters/dev holds the bootstrap and these Kustomizations."""
    write(root, "clusters/dev/flux-system/gotk-sync.yaml",
          {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
           "metadata": {"name": "flux-system", "namespace": "flux-system"},
           "spec": {"interval": "1m", "url": "https://git.example.com/fleet.git", "ref": {"branch": "main"}}},
          kustomization("flux-system", {"interval": "10m", "path": "./clusters/dev", "prune": True,
                                        "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}))
    write(root, "clusters/dev/kustomizations.yaml", *kustomizations)
    return root


@pytest.fixture
def platform(tmp_path: Path) -> Path:
    root = cluster_folder(tmp_path / "platform", kustomization("apps", SPEC))
    write(root, "apps/manifests.yaml", *APPS)
    return root


def flux_build(root: Path, spec: dict) -> list[dict]:
    """What kustomize-controller applies for a Kustomization: kustomize builds its path with the Flux spec
    written into a kustomization (targetNamespace, namePrefix, patches), then post-build substitution of each
    object and commonMetadata."""
    (root / "apps/kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": ["manifests.yaml"],
        "namespace": spec["targetNamespace"], "namePrefix": spec["namePrefix"], "patches": spec["patches"]}))
    built = subprocess.run([*kustomize_command(), str(root / "apps")], capture_output=True, text=True,
                           check=True).stdout
    out = []
    for obj in load_objects(built, "kustomize build"):
        obj = substitute_resource(obj, spec["postBuild"]["substitute"], strict=True)
        apply_common_metadata(obj, spec["commonMetadata"])
        out.append(obj)
    return out


def test_the_render_is_fluxs_build_with_the_patches_delivery_writes(tmp_path: Path, platform: Path) -> None:
    from devenv.delivery.flux import kustomization_objects
    from devenv.flux.render import render_environment

    profile = load_profile(write_profile(tmp_path, f"name: small\ntarget: kind\nmirror: clusters/dev\n"
                                                   f"registries: [{{host: {ECR}}}]\n"))
    rendered = render_environment(profile, "demo", platform=platform)  # strict: ROLE_ARN is defined nowhere
    (apps,) = [k for k in rendered.kustomizations if k.name == "apps"]
    offline = sorted(apps.resources, key=lambda o: (o["kind"], o["metadata"]["name"]))
    # each kind of adaptation happened offline
    adapted = {(a.kind, a.name) for a in rendered.adapted}
    assert {("ServiceAccount", "eu-orders"), ("Ingress", "eu-orders"), ("PersistentVolumeClaim", "eu-data"),
            ("HelmRelease", "eu-web"), ("HelmRepository", "eu-charts")} <= adapted
    assert [x.kind for x in rendered.excluded] == ["TargetGroupBinding"]
    claim = next(o for o in offline if o["kind"] == "PersistentVolumeClaim")
    assert claim["spec"]["storageClassName"] == "standard"  # gp3 (from ${STORAGE}) is an AWS class

    (written,) = kustomization_objects(rendered, source={"kind": "GitRepository", "name": "flux-system",
                                                         "namespace": "flux-system"}, labels={})
    assert written["spec"]["patches"] == apps.patches  # delivery writes the render's own patches
    flux = sorted(flux_build(platform, written["spec"]), key=lambda o: (o["kind"], o["metadata"]["name"]))
    assert flux == offline
