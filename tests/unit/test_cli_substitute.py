"""`devenv substitute` through the real typer app: exit codes, stdout and stderr apart."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from devenv.cli import app

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: orders-config
  namespace: apps
data:
  endpoint: ${RDS_ENDPOINT}
  replicas: "${REPLICAS:=2}"
"""


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "orders.yaml"
    path.write_text(CONFIGMAP)
    return path


def run(*args: object, stdin: str | None = None):
    return CliRunner().invoke(app, ["substitute", *map(str, args)], input=stdin)


def test_unset_variable_in_strict_mode_fails_naming_variable_and_resource(manifest: Path) -> None:
    result = run(manifest, "--set", "REPLICAS=3")
    assert result.exit_code == 7
    assert result.stdout == ""
    assert result.stderr.startswith(
        'error: variable "RDS_ENDPOINT" is not set (strict mode) in ConfigMap/apps/orders-config\n')
    assert "Traceback" not in result.stderr


def test_no_strict_substitutes_empty_and_yaml_output_is_a_stream(manifest: Path) -> None:
    result = run(manifest, "--no-strict", "--set", "REPLICAS=3")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    [doc] = list(yaml.safe_load_all(result.stdout))
    assert doc["data"] == {"endpoint": None, "replicas": 3}
    assert result.stdout.startswith("---\n")


def test_json_output_is_an_array_with_types_changed_as_flux_does(manifest: Path) -> None:
    result = run(manifest, "--set", "RDS_ENDPOINT=db.apps.internal", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == [{
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "orders-config", "namespace": "apps"},
        "data": {"endpoint": "db.apps.internal", "replicas": 2},
    }]


def test_vars_from_configmap_and_secret_files_later_wins_and_set_wins(tmp_path: Path, manifest: Path) -> None:
    cluster = tmp_path / "cluster-vars.yaml"
    cluster.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cluster-vars}\n"
        "data: {RDS_ENDPOINT: from-configmap, REPLICAS: '4'}\n"
        "---\n"
        "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\n"
        f"data: {{RDS_ENDPOINT: {base64.b64encode(b'from-secret').decode()}}}\n"
    )
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text("REPLICAS: 5\n")
    result = run(manifest, "--vars", cluster, "-o", "json")
    assert json.loads(result.stdout)[0]["data"] == {"endpoint": "from-secret", "replicas": 4}
    result = run(manifest, "--vars", cluster, "--vars", overrides, "--set", "RDS_ENDPOINT=from-set", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)[0]["data"] == {"endpoint": "from-set", "replicas": 5}


def test_invalid_variable_name_fails_naming_it(manifest: Path) -> None:
    result = run(manifest, "--set", "RDS_ENDPOINT=x", "--set", "1abc=y")
    assert result.exit_code == 7
    assert result.stdout == ""
    assert 'error: variable name "1abc" is invalid in ConfigMap/apps/orders-config' in result.stderr
    assert "Traceback" not in result.stderr


def test_set_without_equals_is_invalid_input(manifest: Path) -> None:
    result = run(manifest, "--set", "RDS_ENDPOINT")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --set 'RDS_ENDPOINT' is not NAME=VALUE")


def test_malformed_manifest_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\ndata:\n  v: @oops\n")
    result = run(path, "--set", "A=1")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}:4: ")
    assert "Traceback" not in result.stderr


def test_missing_vars_file_is_invalid_input(tmp_path: Path, manifest: Path) -> None:
    result = run(manifest, "--vars", tmp_path / "nope.yaml")
    assert result.exit_code == 2
    assert f"variables file {tmp_path / 'nope.yaml'} does not exist" in result.stderr


def test_stdin_and_no_variables_leaves_references_as_flux_does() -> None:
    result = run("-", stdin=CONFIGMAP)
    assert result.exit_code == 0, result.stderr
    [doc] = list(yaml.safe_load_all(result.stdout))
    assert doc["data"] == {"endpoint": "${RDS_ENDPOINT}", "replicas": "${REPLICAS:=2}"}
    assert "no variables given" in result.stderr


def test_help_runs_in_a_real_process() -> None:
    result = subprocess.run([sys.executable, "-m", "devenv", "substitute", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--no-strict" in result.stdout and "Example: devenv substitute" in result.stdout
