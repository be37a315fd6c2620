"""`devenv init` and `devenv components` on a platform a new user brings: a Flux repository whose
Kustomizations read a Terraform-made ConfigMap and Secret that devenv does not generate yet."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from devenv.cli import app
from devenv.flux.starter import fact_for
from devenv.domain.profiles import load_profile

APPS = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "apps", "namespace": "flux-system"},
        "spec": {"interval": "10m", "path": "./apps", "prune": True,
                 "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
                 "postBuild": {"substituteFrom": [{"kind": "ConfigMap", "name": "terraform-outputs"},
                                                  {"kind": "Secret", "name": "terraform-secrets"}]}}}
SETTINGS = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "loans", "namespace": "loans"},
            "data": {"db": "${RDS_ENDPOINT}", "search": "${OPENSEARCH_URL}", "cluster": "${CLUSTER_NAME}"}}
CREDENTIALS = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "loans-db", "namespace": "loans"},
               "stringData": {"password": "${RDS_PASSWORD}", "token": "${API_TOKEN}"}}
# A variable used only where devenv removes it needs no value (adapted before substitution).
ACCOUNT = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {
    "name": "loans-api", "namespace": "loans", "annotations": {"eks.amazonaws.com/role-arn": "${LOANS_API_ROLE_ARN}"}}}


def run(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def platform(tmp_path: Path) -> Path:
    root = tmp_path / "fleet"
    (root / "clusters/dev").mkdir(parents=True)
    (root / "clusters/prod").mkdir(parents=True)
    (root / "apps").mkdir()
    (root / "clusters/dev/apps.yaml").write_text(yaml.safe_dump(APPS))
    (root / "clusters/prod/apps.yaml").write_text(yaml.safe_dump(APPS))
    (root / "apps/loans.yaml").write_text(yaml.safe_dump_all([SETTINGS, CREDENTIALS, ACCOUNT]))
    return root


def test_names_map_to_service_facts() -> None:
    assert fact_for("RDS_ENDPOINT") == ("db", "mariadb", "host")
    assert fact_for("LOANS_DB_PASSWORD") == ("db", "mariadb", "password")
    assert fact_for("OPENSEARCH_URL") == ("search", "opensearch", "url")
    assert fact_for("OPENSEARCH_PASSWORD") is None  # the opensearch swap has no password
    assert fact_for("CLUSTER_NAME") is None


def test_init_then_render_gets_to_a_full_render_by_filling_the_placeholders(platform: Path) -> None:
    result = run("init", "--platform", platform)
    assert result.exit_code == 0, result.stderr
    written = platform / "profiles/local.yaml"
    assert "wrote" in result.stderr and "2 placeholders to fill in" in result.stderr
    text = written.read_text()
    assert "mirror: clusters/dev" in text and "# other cluster folders: clusters/prod" in text
    profile = load_profile(written)  # valid as written
    assert {s.name: s.type for s in profile.services} == {"db": "mariadb", "search": "opensearch"}
    by_name = {o.name: o for o in profile.substitute_from}
    assert by_name["terraform-outputs"].data == {"RDS_ENDPOINT": "{services.db.host}",
                                                 "OPENSEARCH_URL": "{services.search.url}"}
    assert by_name["terraform-secrets"].data == {"RDS_PASSWORD": "{services.db.password}"}
    assert re.search(r'# CLUSTER_NAME: ""    # TODO: used in ConfigMap/loans/loans \(Kustomization flux-system/apps, '
                     r'.*apps/loans.yaml\)', text)
    assert "# API_TOKEN" in text and "LOANS_API_ROLE_ARN" not in text

    failed = run("render", "x", "--platform", platform, "--profile", written)
    assert failed.exit_code == 7 and "CLUSTER_NAME" in failed.stderr and "API_TOKEN" in failed.stderr

    # what a user does with the placeholders: give each a value
    filled = re.sub(r'# (\w+): ""    # TODO.*', r'\1: "filled"', text)
    written.write_text(filled.replace("data: {}\n", "data:\n"))  # `data:` left empty is allowed
    rendered = run("render", "x", "--platform", platform, "--profile", written, "--format", "json")
    assert rendered.exit_code == 0, rendered.stderr
    doc = json.loads(rendered.stdout)
    [apps] = doc["kustomizations"]
    settings = next(r for r in apps["resources"] if r["kind"] == "ConfigMap")
    assert settings["data"] == {"db": "devenv-x-db", "search": "http://devenv-x-search:9200", "cluster": "filled"}
    account = next(r for r in apps["resources"] if r["kind"] == "ServiceAccount")
    assert "annotations" not in account["metadata"]


def test_init_refuses_to_overwrite_and_creates_nothing_on_bad_input(platform: Path, tmp_path: Path) -> None:
    existing = tmp_path / "mine.yaml"
    existing.write_text("keep me\n")
    result = run("init", "--platform", platform, "-o", existing)
    assert result.exit_code == 2 and "already exists" in result.stderr and "--force" in result.stderr
    assert existing.read_text() == "keep me\n"
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run("init", "--platform", empty)
    assert result.exit_code == 2 and "has no clusters/ folder" in result.stderr
    assert not (empty / "profiles").exists()
    assert "Traceback" not in result.stderr


def test_components_lists_what_render_cannot_get_past(platform: Path, tmp_path: Path) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text("version: 1\nname: p\ntarget: kind\nmirror: clusters/dev\n")
    assert run("render", "x", "--platform", platform, "--profile", profile).exit_code == 2
    (platform / "broken").mkdir()
    (platform / "broken/kustomization.yaml").write_text("resources: [missing.yaml]\n")
    (platform / "clusters/dev/broken.yaml").write_text(yaml.safe_dump(
        {**APPS, "metadata": {"name": "broken", "namespace": "flux-system"},
         "spec": {**APPS["spec"], "path": "./broken", "postBuild": {}}}))
    result = run("components", "--platform", platform, "--profile", profile, "-o", "json")
    assert result.exit_code == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["apps"]["status"] == "kept"
    assert rows["broken"]["status"] == "not-rendered"
    assert "kustomize build failed" in rows["broken"]["reason"]
    assert "postBuild.substituteFrom names ConfigMap flux-system/terraform-outputs, which does not exist" \
        in result.stderr
