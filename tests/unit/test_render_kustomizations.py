"""devenv.flux.kustomizations: reading a cluster folder as Flux does, and dependency order."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import ACME, BROKEN, REPO
from devenv.errors import PlatformError
from devenv.flux.kustomizations import FluxKustomization, dependency_order, find_cycle, read_cluster_folder
from devenv.flux.kustomize import Workspace


def ks(name: str, *deps: str, namespace: str = "flux-system", path: str = "./x") -> FluxKustomization:
    return FluxKustomization({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                              "metadata": {"name": name, "namespace": namespace},
                              "spec": {"path": path, "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
                                       "dependsOn": [{"name": d.split("/")[-1], **({"namespace": d.split("/")[0]}
                                                                                   if "/" in d else {})} for d in deps]}},
                             f"{name}.yaml:1")


@pytest.fixture
def workspace():
    with Workspace() as ws:
        yield ws


def test_dependencies_come_first_and_otherwise_the_given_order_holds() -> None:
    order = dependency_order([ks("apps", "configs"), ks("monitoring"), ks("configs", "controllers"), ks("controllers")])
    assert [k.name for k in order] == ["monitoring", "controllers", "configs", "apps"]


def test_depends_on_without_namespace_means_the_kustomizations_own() -> None:
    assert ks("team", "apps", namespace="team-a").depends_on == ["team-a/apps"]
    assert ks("team", "flux-system/apps", namespace="team-a").depends_on == ["flux-system/apps"]


def test_a_cycle_is_an_error_naming_it_and_where_each_is_defined() -> None:
    with pytest.raises(PlatformError) as err:
        dependency_order([ks("monitoring"), ks("infra", "apps"), ks("apps", "infra")])
    assert str(err.value).startswith(
        "the Kustomizations' dependsOn form a cycle: flux-system/infra -> flux-system/apps -> flux-system/infra")
    assert err.value.context == ["flux-system/infra: infra.yaml:1", "flux-system/apps: apps.yaml:1"]
    assert find_cycle({"a": ["a"]}) == ["a", "a"]
    assert find_cycle({"a": ["b"], "b": ["missing"]}) is None


def test_cluster_folder_with_kustomization_yaml(workspace) -> None:
    folder = read_cluster_folder(REPO / "components", "./clusters/production/", workspace)
    assert [k.id for k in folder.kustomizations] == ["flux-system/infra-controllers", "flux-system/infra-aws",
                                                     "flux-system/infra-configs", "flux-system/apps"]
    assert [k.id for k in folder.bootstrap] == ["flux-system/flux-system"]  # its path is the folder itself
    assert folder.kustomizations[3].origin.endswith("components/clusters/production/apps.yaml:1")
    assert folder.other_objects() == []  # the bootstrap GitRepository is Flux's own


def test_cluster_folder_without_kustomization_yaml_is_read_recursively(workspace) -> None:
    folder = read_cluster_folder(ACME, "clusters/dev-eu", workspace)
    assert sorted(k.name for k in folder.kustomizations) == [
        "apps", "cluster-config", "controllers", "indexer", "karpenter", "observability", "tenants"]
    assert [obj["kind"] + "/" + obj["metadata"]["name"] for obj, _ in folder.other_objects()] == [
        "OCIRepository/platform-observability"]


def test_missing_platform_and_missing_mirror_are_clear_errors(tmp_path: Path, workspace) -> None:
    with pytest.raises(PlatformError, match=r"^platform folder .*nowhere does not exist"):
        read_cluster_folder(tmp_path / "nowhere", "clusters/dev", workspace)
    (tmp_path / "clusters" / "dev").mkdir(parents=True)
    with pytest.raises(PlatformError) as err:
        read_cluster_folder(tmp_path, "clusters/prod", workspace)
    assert "the cluster folder 'clusters/prod' (the profile's mirror) does not exist" in str(err.value)
    assert "clusters in this platform: clusters/dev" in err.value.hint


def test_malformed_cluster_folder_names_file_and_line(workspace) -> None:
    with pytest.raises(PlatformError) as err:
        read_cluster_folder(BROKEN / "malformed", "clusters/dev", workspace)
    assert "broken/malformed/clusters/dev/apps.yaml:13:4: not valid YAML" in str(err.value)


def test_an_invalid_kustomization_object_is_reported_with_its_file(tmp_path: Path, workspace) -> None:
    folder = tmp_path / "clusters" / "dev"
    folder.mkdir(parents=True)
    (folder / "bad.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "bad", "namespace": "flux-system"}, "spec": {"path": "./x", "dependsOn": [{}]}}))
    with pytest.raises(PlatformError) as err:
        read_cluster_folder(tmp_path, "clusters/dev", workspace)
    assert str(err.value).startswith("Kustomization flux-system/bad (")
    assert err.value.context == ["spec.sourceRef needs kind and name", "spec.dependsOn[0] needs a name"]
