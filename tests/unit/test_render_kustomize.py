"""devenv.flux.kustomize: reading YAML as kustomize does, the kustomization Flux generates and
writes, the direct read of plain folders, and real builds (marked `kustomize`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import ACME, BROKEN, REPO
from devenv.clients import process
from devenv.errors import CommandFailed, PlatformError, ToolMissing
from devenv.flux import kustomize
from devenv.flux.kustomize import FluxSpec, Workspace, apply_flux_spec, legacy_sorted, load_documents, read_plain


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def cm(name: str, **data: str) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})


# -- YAML --------------------------------------------------------------------------------------------


def test_malformed_yaml_names_file_line_and_column() -> None:
    with pytest.raises(PlatformError) as err:
        load_documents("a: 1\nb:\n  c: 2\n   d: 3\n", "apps.yaml")
    assert str(err.value).startswith("apps.yaml:4:5: not valid YAML: mapping values are not allowed")


def test_plain_scalars_resolve_as_kustomize_reads_them() -> None:
    [doc] = load_documents("a: on\nb: yes\nc: 1:30\nd: 2024-01-01\ne: 3306\nf: true\ng: 1.5\nh: ~\n", "x")
    assert doc.data == {"a": "on", "b": "yes", "c": "1:30", "d": "2024-01-01", "e": 3306, "f": True, "g": 1.5,
                        "h": None}


def test_document_lines_are_recorded() -> None:
    docs = load_documents("# head\na: 1\n---\nb: 2\n---\n---\nc: 3\n", "x")
    assert [(d.data, d.line) for d in docs] == [({"a": 1}, 2), ({"b": 2}, 4), ({"c": 3}, 7)]


# -- what kustomize-controller generates ------------------------------------------------------------------


def test_generated_resources_list_yaml_recursively_and_stop_at_kustomizations(tmp_path: Path) -> None:
    write(tmp_path / "b.yaml", cm("b"))
    write(tmp_path / "a.yml", cm("a"))
    write(tmp_path / "notes.txt", "not yaml")
    write(tmp_path / "sub" / "c.yaml", cm("c"))
    write(tmp_path / "sub" / "deeper" / "d.yaml", cm("d"))
    write(tmp_path / "kust" / "kustomization.yaml", "resources: [e.yaml]\n")
    write(tmp_path / "kust" / "e.yaml", cm("e"))
    write(tmp_path / "kust" / "ignored.yaml", cm("ignored"))
    assert kustomize.scan_resources(tmp_path) == [
        "./a.yml", "./b.yaml", "./kust", "./sub/c.yaml", "./sub/deeper/d.yaml"]


def test_a_non_kubernetes_yaml_file_in_a_generated_folder_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "values.yaml", "replicas: 2\n")
    with pytest.raises(PlatformError, match=r"values.yaml:1: not a Kubernetes object \(no kind\)"):
        kustomize.scan_resources(tmp_path)


def test_flux_spec_is_merged_into_the_kustomization_as_the_controller_does(tmp_path: Path) -> None:
    base = {"resources": ["a.yaml"], "namespace": "old", "namePrefix": "inner-",
            "images": [{"name": "api", "newTag": "1.0"}, {"name": "web", "newTag": "2.0"}],
            "patches": [{"path": "p.yaml"}], "components": ["../c1"]}
    (tmp_path / "c2").mkdir()
    spec = FluxSpec.from_spec({
        "targetNamespace": "shop", "namePrefix": "dev-", "nameSuffix": "-x",
        "images": [{"name": "api", "newTag": "1.1"}, {"name": "db", "newName": "mariadb"}],
        "patches": [{"patch": "- op: remove\n  path: /x\n", "target": {"kind": "Deployment"}}],
        "components": ["c2", "missing"], "ignoreMissingComponents": True})
    merged = apply_flux_spec(base, spec, tmp_path, "K")
    assert merged["namespace"] == "shop" and merged["namePrefix"] == "dev-" and merged["nameSuffix"] == "-x"
    assert merged["images"] == [{"name": "api", "newTag": "1.1"}, {"name": "web", "newTag": "2.0"},
                                {"name": "db", "newName": "mariadb"}]
    assert merged["patches"] == [{"path": "p.yaml"},
                                 {"patch": "- op: remove\n  path: /x\n", "target": {"kind": "Deployment"}}]
    assert merged["components"] == ["../c1", "c2"]
    assert base["namespace"] == "old"  # the input is not changed


def test_remote_components_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PlatformError, match="must be a local path"):
        apply_flux_spec({}, FluxSpec(components=("https://github.com/x/y",)), tmp_path, "Kustomization a/b")


def test_spec_path_stays_inside_the_source(tmp_path: Path) -> None:
    (tmp_path / "apps").mkdir()
    assert kustomize.resolve_path(tmp_path, "./apps/", "K") == tmp_path / "apps"
    assert kustomize.resolve_path(tmp_path, "../../apps", "K") == tmp_path / "apps"  # securejoin clamps
    with pytest.raises(PlatformError, match=r"K: spec.path './nope' does not exist in its source"):
        kustomize.resolve_path(tmp_path, "./nope", "K")


# -- plain folders, read directly ---------------------------------------------------------------------


def test_plain_folders_are_read_and_transforming_ones_are_not(tmp_path: Path) -> None:
    write(tmp_path / "plain" / "kustomization.yaml", "resources: [a.yaml, sub]\n")
    write(tmp_path / "plain" / "a.yaml", cm("a"))
    write(tmp_path / "plain" / "sub" / "kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1beta1\n"
                                                            "kind: Kustomization\nresources: [b.yaml]\n")
    write(tmp_path / "plain" / "sub" / "b.yaml", cm("b"))
    assert [(o["metadata"]["name"], origin.rsplit("/", 1)[-1]) for o, origin in read_plain(tmp_path / "plain")] == \
        [("a", "a.yaml:1"), ("b", "b.yaml:1")]
    write(tmp_path / "prefixed" / "kustomization.yaml", "namePrefix: x-\nresources: [a.yaml]\n")
    write(tmp_path / "prefixed" / "a.yaml", cm("a"))
    assert read_plain(tmp_path / "prefixed") is None
    write(tmp_path / "dupes" / "kustomization.yaml", "resources: [a.yaml, b.yaml]\n")
    write(tmp_path / "dupes" / "a.yaml", cm("a"))
    write(tmp_path / "dupes" / "b.yaml", cm("a"))
    assert read_plain(tmp_path / "dupes") is None  # kustomize reports the duplicate itself
    write(tmp_path / "remote" / "kustomization.yaml", "resources: [https://example.com/x.yaml]\n")
    assert read_plain(tmp_path / "remote") is None
    assert read_plain(REPO / "components" / "apps" / "base" / "orders") is None  # it sets `labels:`


def test_legacy_order_puts_namespaces_first_then_kinds_then_names() -> None:
    objs = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "b"}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "a"}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "z"}},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration", "metadata": {"name": "a"}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "b"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "a"}},
    ]
    assert [(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in legacy_sorted(objs)] == [
        ("Namespace", None, "z"), ("ConfigMap", "a", "c"), ("ConfigMap", "b", "c"), ("Deployment", None, "a"),
        ("Deployment", None, "b"), ("Ingress", None, "a"), ("ValidatingWebhookConfiguration", None, "a")]


PLAIN_FOLDERS = [
    REPO / "components" / "infrastructure" / "controllers", REPO / "components" / "infrastructure" / "aws",
    REPO / "components" / "infrastructure" / "configs", ACME / "apps" / "indexer", ACME / "workloads" / "team-a",
    ACME / "infrastructure" / "controllers", ACME / "tenants", ACME / "workloads" / "team-b",
    BROKEN / "cycle" / "infrastructure",
]


@pytest.mark.kustomize
@pytest.mark.parametrize("folder", PLAIN_FOLDERS, ids=lambda p: str(p.relative_to(REPO)))
def test_reading_a_plain_folder_gives_exactly_what_kustomize_builds(folder: Path) -> None:
    plain = read_plain(folder)
    assert plain is not None
    built = kustomize.load_objects(process.run(kustomize.kustomize_command() + [str(folder)], timeout=60).stdout, "k")
    assert legacy_sorted([obj for obj, _ in plain]) == built


# -- builds --------------------------------------------------------------------------------------------


@pytest.mark.kustomize
def test_flux_spec_is_written_into_a_copy_of_the_kustomization(tmp_path: Path) -> None:
    write(tmp_path / "base" / "kustomization.yaml", "resources: [cm.yaml]\n")
    write(tmp_path / "base" / "cm.yaml", cm("settings", image="x"))
    write(tmp_path / "app" / "kustomization.yaml", "resources: [../base]\nnamePrefix: inner-\nnamespace: old\n")
    before = (tmp_path / "app" / "kustomization.yaml").read_text()
    spec = FluxSpec.from_spec({"targetNamespace": "shop", "namePrefix": "dev-"})
    with Workspace() as workspace:
        [obj] = workspace.build(tmp_path, "./app", spec, describe="K")
        assert workspace.dir.is_dir()
    assert not workspace.dir.exists()
    # Flux overrides the kustomization's own namePrefix and namespace; it does not stack them
    assert obj["metadata"] == {"name": "dev-settings", "namespace": "shop"}
    assert (tmp_path / "app" / "kustomization.yaml").read_text() == before
    assert sorted(p.name for p in (tmp_path / "app").iterdir()) == ["kustomization.yaml"]


@pytest.mark.kustomize
def test_a_folder_without_kustomization_gets_one_generated_with_the_spec(tmp_path: Path) -> None:
    write(tmp_path / "cfg" / "a.yaml", cm("a"))
    write(tmp_path / "cfg" / "nested" / "b.yaml", cm("b"))
    with Workspace() as workspace:
        objs = workspace.build(tmp_path, "cfg", FluxSpec(target_namespace="ops", name_suffix="-v2"), describe="K")
    assert [(o["metadata"]["name"], o["metadata"]["namespace"]) for o in objs] == [("a-v2", "ops"), ("b-v2", "ops")]
    assert sorted(p.name for p in (tmp_path / "cfg").iterdir()) == ["a.yaml", "nested"]


@pytest.mark.kustomize
def test_a_failed_build_names_the_command_and_kustomizes_message(tmp_path: Path) -> None:
    write(tmp_path / "app" / "kustomization.yaml", "resources: [missing.yaml]\nnamePrefix: x-\n")
    with Workspace() as workspace, pytest.raises(CommandFailed) as err:
        workspace.build(tmp_path, "app", FluxSpec(), describe="Kustomization flux-system/app (app.yaml:1)")
    message = str(err.value)
    assert message.startswith("kustomize build failed for Kustomization flux-system/app (app.yaml:1)")
    assert "command: " in message and "kustomize" in err.value.command
    assert "missing.yaml" in message


def test_without_kustomize_or_kubectl_the_error_says_what_to_install(monkeypatch) -> None:
    monkeypatch.setattr(kustomize, "_tool", None)
    monkeypatch.setattr(kustomize.process, "which", lambda name: None)
    with pytest.raises(ToolMissing) as err:
        kustomize.kustomize_command()
    assert "neither kustomize nor kubectl is installed" in str(err.value)
    assert err.value.hint and "kustomize" in err.value.hint
