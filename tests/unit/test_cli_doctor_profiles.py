"""`devenv profiles` and `devenv doctor` through the CLI: results on stdout, exit codes."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from devenv.cli import app


def test_profiles_lists_the_builtin_ones_and_a_broken_local_one_with_its_error(tmp_path, monkeypatch) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "mine.yaml").write_text("version: 1\nname: mine\ntarget: laptop\nmirror: clusters/x\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["profiles", "-o", "json"])
    assert result.exit_code == 0, result.stderr
    found = {p["name"]: p for p in json.loads(result.stdout)}
    assert {"local", "branch", "test"} <= set(found)
    assert found["local"]["target"] == "kind" and found["test"]["services"] == {"db": "mariadb:10.11"}
    assert found["mine"]["valid"] is False and "'laptop' is not one of kind, namespace, docker" in found["mine"]["error"]


def test_doctor_names_what_is_missing_and_how_to_fix_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no kind, kubectl, kustomize or flux
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nobody.sock")
    result = CliRunner().invoke(app, ["doctor", "-o", "json"])
    assert result.exit_code == 1
    checks = {c["name"]: c for c in json.loads(result.stdout)}
    assert not checks["docker engine"]["ok"] and "nobody.sock" in result.stdout
    assert not checks["kind"]["ok"] and "kind.sigs.k8s.io" in checks["kind"]["fix"]
    assert not checks["kustomize"]["ok"] and checks["kustomize"]["fix"]
    assert not checks["flux"]["ok"] and "fluxcd.io" in checks["flux"]["fix"]


def test_a_bug_is_one_paragraph_with_its_own_exit_code_not_a_traceback(monkeypatch) -> None:
    from devenv.lifecycle import environments

    def broken(context=None):
        raise RuntimeError("boom")

    monkeypatch.setattr(environments, "list_environments", broken)
    result = CliRunner().invoke(app, ["list"])
    assert result.exit_code == 70
    assert result.stderr.startswith("error: unexpected error: RuntimeError: boom")
    assert "Traceback" not in result.stderr and "--debug" in result.stderr


def test_an_api_server_that_went_away_is_devenvs_one_error_not_urllib3s_retries_too(monkeypatch) -> None:
    """urllib3 warns of each retry before devenv.clients.kube's KubeError says the same once; -v shows its lines."""
    import logging

    from devenv.lifecycle import environments
    from devenv.errors import KubeError

    def unanswered(context=None):
        logging.getLogger("urllib3.connectionpool").warning("Retrying (Retry(total=2)) after connection broken")
        raise KubeError("cannot list Node: the API server at https://127.0.0.1:1 does not answer (refused)")

    monkeypatch.setattr(environments, "list_environments", unanswered)
    result = CliRunner().invoke(app, ["list"])
    assert result.exit_code == 10
    assert result.stderr == "error: cannot list Node: the API server at https://127.0.0.1:1 does not answer (refused)\n"
    verbose = CliRunner().invoke(app, ["-v", "list"])
    assert verbose.exit_code == 10 and "WARNING urllib3.connectionpool: Retrying" in verbose.stderr


def test_an_unknown_output_format_is_refused_not_ignored() -> None:
    for command in ("profiles", "doctor"):
        result = CliRunner().invoke(app, [command, "-o", "yaml"])
        assert result.exit_code == 2 and result.stdout == ""
        assert "'yaml' is not one of: table, json" in result.stderr and "Value error" not in result.stderr


def test_doctor_says_which_engine_it_asked_and_why(tmp_path, monkeypatch) -> None:
    """A docker context chosen by DOCKER_CONTEXT: doctor names its endpoint and the context, so a user whose
    devenv and docker CLI disagree sees which engine devenv took."""
    import hashlib

    socket = tmp_path / "colima.sock"  # nobody listens here
    meta = tmp_path / "contexts" / "meta" / hashlib.sha256(b"colima").hexdigest() / "meta.json"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({"Name": "colima", "Endpoints": {"docker": {"Host": f"unix://{socket}"}}}))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.setenv("DOCKER_CONTEXT", "colima")
    result = CliRunner().invoke(app, ["doctor", "-o", "json"])
    engine = {c["name"]: c for c in json.loads(result.stdout)}["docker engine"]
    assert not engine["ok"]
    assert str(socket) in engine["detail"] and "colima" in engine["detail"]
