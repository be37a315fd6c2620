"""The registry-credentials adaptation: OCI Flux sources on a registry the profile lists read devenv's credentials
Secret in place of the cloud's workload identity, in the offline render, in `render --explain`'s list and in the
patches Flux delivery writes; sources elsewhere are left as they are."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from conftest import find, write_profile
from test_adapt_patches import cluster_folder, kustomization, write
from devenv.flux.registry_credentials import (
    REGISTRY_CREDENTIALS_SECRET, namespaces_needing_credentials, use_registry_credentials,
)
from devenv.domain.profiles import load_profile

ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
LAB = "127.0.0.1:5443"


def helm_repository(name: str, url: str, **spec) -> dict:
    return {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
            "metadata": {"name": name, "namespace": "charts"}, "spec": {"interval": "1h", "url": url, **spec}}


def oci_repository(name: str, url: str, **spec) -> dict:
    return {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
            "metadata": {"name": name, "namespace": "apps"},
            "spec": {"interval": "1h", "url": url, "ref": {"tag": "1.0"}, **spec}}


def test_a_private_oci_source_reads_the_credentials_secret_in_place_of_the_provider() -> None:
    repo = helm_repository("platform", f"oci://{ECR}/charts", type="oci", provider="aws")
    changes = use_registry_credentials(repo, {ECR})
    assert repo["spec"] == {"interval": "1h", "url": f"oci://{ECR}/charts", "type": "oci",
                            "secretRef": {"name": REGISTRY_CREDENTIALS_SECRET}}
    assert changes[0].startswith("spec.provider: removed aws") and ECR in changes[1]
    # an existing secretRef is replaced; a registry with a port is matched with it
    other = oci_repository("app", f"oci://{LAB}/app", secretRef={"name": "company-pull"})
    assert use_registry_credentials(other, {LAB}) and other["spec"]["secretRef"] == {
        "name": REGISTRY_CREDENTIALS_SECRET}
    assert namespaces_needing_credentials([repo, other]) == ["charts", "apps"]


def test_sources_elsewhere_and_helm_repositories_over_https_are_untouched() -> None:
    untouched = [helm_repository("https", f"https://{ECR}/charts"),  # not type oci: Helm's index over HTTPS
                 helm_repository("public", "oci://ghcr.io/org/charts", type="oci", provider="generic"),
                 oci_repository("elsewhere", "oci://registry.example.com/app", provider="aws")]
    for source in untouched:
        before = copy.deepcopy(source)
        assert use_registry_credentials(source, {ECR, LAB}) == []
        assert source == before
    assert namespaces_needing_credentials(untouched) == []


@pytest.mark.kustomize
def test_render_and_flux_delivery_both_adapt_the_private_sources(tmp_path: Path) -> None:
    from devenv.delivery.flux import kustomization_objects
    from devenv.flux.render import render_environment

    root = cluster_folder(tmp_path / "platform", kustomization("apps", {
        "interval": "10m", "path": "./apps", "prune": True,
        "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}))
    write(root, "apps/sources.yaml", helm_repository("platform", f"oci://{ECR}/charts", type="oci", provider="aws"),
          oci_repository("app", f"oci://{ECR}/app", provider="aws"),
          oci_repository("public", "oci://ghcr.io/org/app"))
    text = "name: small\ntarget: kind\nmirror: clusters/dev\n"
    profile = load_profile(write_profile(tmp_path, text + f"registries: [{{host: {ECR}}}]\n"))
    result = render_environment(profile, "demo", platform=root, baselines=True)
    for kind, name in (("HelmRepository", "platform"), ("OCIRepository", "app")):
        spec = find(result, kind, name)["spec"]
        assert spec["secretRef"] == {"name": REGISTRY_CREDENTIALS_SECRET} and "provider" not in spec
    assert "secretRef" not in find(result, "OCIRepository", "public")["spec"]
    explained = {(a.kind, a.name) for a in result.adapted if REGISTRY_CREDENTIALS_SECRET in a.change}
    assert explained == {("HelmRepository", "platform"), ("OCIRepository", "app")}  # what --explain lists
    (apps,) = kustomization_objects(result, source={"kind": "OCIRepository", "name": "p", "namespace": "flux-system"},
                                    labels={})
    patched = {p["target"]["name"]: yaml.safe_load(p["patch"]) for p in apps["spec"]["patches"]}
    assert set(patched) == {"platform", "app"}
    for ops in patched.values():
        assert {"op": "remove", "path": "/spec/provider"} in ops
        assert {"op": "add", "path": "/spec/secretRef", "value": {"name": REGISTRY_CREDENTIALS_SECRET}} in ops
    # and without `registries:` nothing changes
    plain = render_environment(load_profile(write_profile(tmp_path, text, "plain.yaml")), "demo", platform=root)
    assert find(plain, "OCIRepository", "app")["spec"]["provider"] == "aws" and plain.adapted == []
