"""`devenv render` and `devenv components` through the real typer app: exit codes, stdout and stderr apart."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from conftest import ACME, ACME_PROFILE, BROKEN, REPO, write_profile
from devenv.cli import app

pytestmark = pytest.mark.kustomize

DEV_PROFILE = "name: dev\ntarget: kind\nmirror: clusters/dev\nenvironment:\n  data:\n    CLUSTER: dev\n"


def run(*args: object):
    return CliRunner().invoke(app, [*map(str, args)])


def test_render_prints_a_yaml_stream_each_document_labelled_with_its_kustomization() -> None:
    result = run("render", "demo")
    assert result.exit_code == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d is not None]
    assert [d["kind"] for d in docs[:2]] == ["ConfigMap", "Secret"]  # the environment devenv writes
    assert len(docs) == 2 + 6 + 1 + 16 + 3  # apps: ledger (ServiceAccount, scripts, Deployment) is the 3
    labels = [line for line in result.stdout.splitlines() if line.startswith("# devenv.io/kustomization: ")]
    assert len(labels) == len(docs)
    assert labels[2] == "# devenv.io/kustomization: flux-system/infra-controllers"
    assert labels[-1] == "# devenv.io/kustomization: flux-system/apps"
    assert "rendering clusters/production for demo (profile local)" in result.stderr
    assert "warning" not in result.stderr


def test_render_json_is_the_documented_document() -> None:
    result = run("render", "demo", "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert set(doc) >= {"environment", "profile", "kustomizations", "excluded", "adapted", "environmentConfigMap",
                        "warnings"}
    assert [k["name"] for k in doc["kustomizations"]] == ["infra-controllers", "infra-configs", "apps"]
    assert {"kind": "Kustomization", "name": "infra-aws"}.items() <= doc["excluded"][0].items()
    assert doc["environmentConfigMap"]["data"]["RDS_ENDPOINT"] == "devenv-demo-db"


def test_explain_prints_every_exclusion_and_adaptation_to_stderr() -> None:
    result = run("render", "demo", "--explain")
    assert result.exit_code == 0, result.stderr
    assert "Left out" in result.stderr and "Adapted" in result.stderr
    assert "Kustomization/flux-system/infra-aws" in result.stderr
    assert "StorageClass/gp3" in result.stderr and "ebs.csi.aws.com" in result.stderr
    assert "spec.ingressClassName: alb -> nginx" in result.stderr
    assert "Left out" not in result.stdout
    assert yaml.safe_load_all(result.stdout)


def test_output_folder_gets_one_file_per_kustomization(tmp_path: Path) -> None:
    result = run("render", "demo", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "00-environment.yaml", "01-flux-system-infra-controllers.yaml", "02-flux-system-infra-configs.yaml",
        "03-flux-system-apps.yaml"]
    apps = list(yaml.safe_load_all((tmp_path / "out" / "03-flux-system-apps.yaml").read_text()))
    assert len(apps) == 16 + 3  # ledger: ServiceAccount, scripts, Deployment
    assert "wrote 4 files" in result.stderr


def test_type_change_warnings_go_to_stderr(tmp_path: Path) -> None:
    profile = write_profile(tmp_path, ACME_PROFILE.read_text().replace("version: 1\n", ""))
    result = run("render", "demo", "--platform", ACME, "--profile", profile, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert "warning: ConfigMap storefront/dev-api-config: data.DB_PORT is 3306 (int)" in result.stderr
    [warning] = json.loads(result.stdout)["warnings"]
    assert warning["field"] == "data.DB_PORT" and warning["value"] == 3306


def test_validate_crds(crd_dir, tmp_path: Path) -> None:
    result = run("render", "demo", "--validate-crds", crd_dir)
    assert result.exit_code == 0, result.stderr
    assert "every Flux object validates against the CRDs" in result.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run("render", "demo", "--validate-crds", empty)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: --validate-crds {empty}: no CustomResourceDefinitions found there")


def test_validate_crds_lists_violations(crd_dir, tmp_path: Path) -> None:
    import shutil

    platform = tmp_path / "platform"
    shutil.copytree(REPO / "components", platform)
    path = platform / "infrastructure/controllers/cert-manager.yaml"
    path.write_text(path.read_text().replace("  interval: 30m\n  chart:", "  intervall: 30m\n  chart:"))
    result = run("render", "demo", "--platform", platform, "--validate-crds", crd_dir)
    assert result.exit_code == 2
    assert "error: 2 Flux object fields of the render do not validate" in result.stderr
    assert "HelmRelease cert-manager/cert-manager: spec: unknown field 'intervall'" in result.stderr
    assert "'interval' is a required property" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("platform, message, also", [
    (BROKEN / "cycle", "error: the Kustomizations' dependsOn form a cycle: flux-system/infra -> flux-system/apps "
                       "-> flux-system/infra", "platform.yaml"),
    (BROKEN / "malformed", "error: ", "broken/malformed/clusters/dev/apps.yaml:13:4: not valid YAML"),
    (BROKEN / "missing-path", "error: Kustomization flux-system/apps (", "spec.path './apps/dev' does not exist"),
])
def test_broken_platforms_fail_with_one_clear_paragraph(tmp_path: Path, platform: Path, message: str, also: str) -> None:
    result = run("render", "demo", "--platform", platform, "--profile", write_profile(tmp_path, DEV_PROFILE))
    assert result.exit_code == 2
    assert result.stdout == ""
    error = result.stderr[result.stderr.index("error: "):]
    assert error.startswith(message) and also in error
    assert "Traceback" not in result.stderr
    if platform.name == "cycle":
        assert "monitoring" not in error


def test_missing_platform_and_mirror(tmp_path: Path) -> None:
    result = run("render", "demo", "--platform", tmp_path / "nowhere")
    assert result.exit_code == 2 and result.stdout == ""
    assert "error: platform folder" in result.stderr and "does not exist" in result.stderr
    result = run("render", "demo", "--platform", ACME)  # profile local mirrors clusters/production
    assert result.exit_code == 2
    assert "error: the cluster folder 'clusters/production' (the profile's mirror) does not exist" in result.stderr
    assert "hint: clusters in this platform: clusters/dev-eu" in result.stderr


def test_every_undefined_variable_is_named_in_one_error(tmp_path: Path) -> None:
    import shutil

    platform = tmp_path / "platform"
    shutil.copytree(REPO / "components", platform)
    path = platform / "apps/base/orders/configmap.yaml"
    path.write_text(path.read_text().replace("${LOG_LEVEL}", "${LOGLEVEL}") + "  extra: ${ALSO_MISSING}\n")
    result = run("render", "demo", "--platform", platform)
    assert result.exit_code == 7
    assert "error: post-build substitution cannot complete: 2 variables undefined" in result.stderr
    for name in ("LOGLEVEL", "ALSO_MISSING"):
        assert f"{name}: in ConfigMap/shop/orders-config, Kustomization flux-system/apps (" in result.stderr
    assert "apps/base/orders/configmap.yaml" in result.stderr
    # the profile lines that define them, in the ConfigMap the Kustomization reads them from
    assert "# ConfigMap flux-system/environment, read by Kustomization flux-system/apps" in result.stderr
    assert '    environment:\n      data:\n        LOGLEVEL: "..."\n' in result.stderr, result.stderr
    assert "--no-strict" in result.stderr
    assert result.stdout == ""

    relaxed = run("render", "demo", "--platform", platform, "--no-strict", "--format", "json")
    assert relaxed.exit_code == 0, relaxed.stderr
    assert "warning: variable LOGLEVEL is not defined, so it became empty" in relaxed.stderr
    assert "warning: variable ALSO_MISSING is not defined" in relaxed.stderr


def test_kustomize_failure_exit_code_and_message(tmp_path: Path) -> None:
    import shutil

    platform = tmp_path / "platform"
    shutil.copytree(REPO / "components", platform)
    (platform / "apps/production/kustomization.yaml").write_text("resources: [missing]\n")
    result = run("render", "demo", "--platform", platform)
    assert result.exit_code == 4
    assert "error: kustomize build failed for Kustomization flux-system/apps" in result.stderr
    assert "command: " in result.stderr and "missing" in result.stderr
    assert "Traceback" not in result.stderr


def test_components_lists_kustomizations_and_helm_releases_with_reasons() -> None:
    result = run("components", "-o", "json")
    assert result.exit_code == 0, result.stderr
    rows = {(r["kind"], r["namespace"], r["name"]): r for r in json.loads(result.stdout)}
    assert rows[("Kustomization", "flux-system", "infra-aws")]["status"] == "excluded"
    assert rows[("HelmRelease", "external-dns", "external-dns")]["status"] == "excluded"
    assert "provider aws" in rows[("HelmRelease", "external-dns", "external-dns")]["reason"]
    assert rows[("HelmRelease", "cert-manager", "cert-manager")]["status"] == "kept"
    assert rows[("Kustomization", "flux-system", "apps")]["status"] == "kept"
    assert len([r for r in rows if r[0] == "HelmRelease"]) == 6
    table = run("components")
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["KIND", "NAME", "KUSTOMIZATION", "STATUS", "REASON"]
    assert any(line.startswith("Kustomization") and "infra-aws" in line and "excluded" in line for line in lines)


def test_components_of_a_users_platform_include_nested_kustomizations(tmp_path: Path) -> None:
    profile = write_profile(tmp_path, ACME_PROFILE.read_text().replace("version: 1\n", ""))
    result = run("components", "--platform", ACME, "--profile", profile, "-o", "json")
    assert result.exit_code == 0, result.stderr
    rows = {(r["kind"], r["namespace"], r["name"]): r for r in json.loads(result.stdout)}
    assert rows[("Kustomization", "team-a", "team-a")]["kustomization"] == "flux-system/tenants"
    assert rows[("Kustomization", "flux-system", "observability")]["reason"].startswith("not rendered: ")
    assert rows[("HelmRelease", "kube-system", "cluster-autoscaler")]["status"] == "excluded"


def test_python_dash_m_devenv_render_json_in_a_real_process() -> None:
    proc = subprocess.run([sys.executable, "-m", "devenv", "render", "demo", "--format", "json"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["environment"] == "demo"
    help_text = subprocess.run([sys.executable, "-m", "devenv", "render", "--help"], cwd=REPO,
                               capture_output=True, text=True, timeout=60).stdout
    assert "devenv.io/kustomization" in help_text and "--validate-crds" in help_text


def test_dash_o_json_is_refused_with_the_format_option_named_and_nothing_written(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("render", "demo", "-o", "json")
    assert result.exit_code == 2, result.output
    assert "-o names a folder" in result.stderr and "--format json" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_yaml_output_masks_the_generated_secrets_unless_show_secrets(tmp_path: Path) -> None:
    """Issue 24: YAML (stdout and -o DIR) masks the Secret devenv generates as JSON does."""
    masked = [d for d in yaml.safe_load_all(run("render", "demo").stdout) if d]
    secret = masked[1]
    assert secret["kind"] == "Secret" and secret.get("stringData") or secret.get("data")
    values = {**(secret.get("data") or {}), **(secret.get("stringData") or {})}
    assert values and set(values.values()) == {"********"}
    shown = [d for d in yaml.safe_load_all(run("render", "demo", "--show-secrets").stdout) if d][1]
    clear = {**(shown.get("data") or {}), **(shown.get("stringData") or {})}
    assert set(clear) == set(values) and "********" not in clear.values()
    result = run("render", "demo", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    written = [d for d in yaml.safe_load_all((tmp_path / "out" / "00-environment.yaml").read_text()) if d]
    assert set({**(written[1].get("data") or {}), **(written[1].get("stringData") or {})}.values()) == {"********"}
