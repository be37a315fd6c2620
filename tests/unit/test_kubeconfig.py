"""The user's kubeconfig: `up --merge-kubeconfig` adds one environment's cluster, context and user (replacing
its own by name, keeping every other entry), `down` takes exactly those out; the file is replaced atomically
with mode 0600 under kubectl's `<file>.lock`. `devenv kubeconfig` runs the real process runner against a
stand-in `kind` on PATH that answers only `kind get clusters` and refuses anything else."""

from __future__ import annotations

import json
import os
import stat
import textwrap
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from devenv.clients import kubeconfig
from devenv.cli import app
from devenv.lifecycle.environments import Environment
from devenv.errors import DevenvError, InvalidInput
from devenv.clients.kind import KindClusters


def kind_kubeconfig(environment: str, server: str = "https://127.0.0.1:40001") -> str:
    """What `kind create cluster --kubeconfig FILE` writes for cluster devenv-<environment>."""
    name = f"kind-devenv-{environment}"
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": name,
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": "Q0E="}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "users": [{"name": name, "user": {"client-certificate-data": "Q0VSVA==", "client-key-data": "S0VZ"}}],
    })


USERS_OWN = textwrap.dedent("""\
    apiVersion: v1
    kind: Config
    current-context: prod
    clusters:
    - name: prod
      cluster: {server: "https://prod.example.com"}
    - name: kind-devenv-feat-x
      cluster: {server: "https://127.0.0.1:1"}
    contexts:
    - name: prod
      context: {cluster: prod, user: admin}
    - name: kind-devenv-feat-x
      context: {cluster: kind-devenv-feat-x, user: kind-devenv-feat-x}
    users:
    - name: admin
      user: {token: keep-me}
    - name: kind-devenv-feat-x
      user: {token: stale}
    """)


def by_name(config: dict, section: str) -> dict:
    return {e["name"]: e for e in config[section]}


def test_merge_replaces_our_entries_by_name_and_keeps_everything_else(tmp_path) -> None:
    source, target = tmp_path / "env", tmp_path / "config"
    source.write_text(kind_kubeconfig("feat-x", server="https://127.0.0.1:40001"))
    target.write_text(USERS_OWN)
    target.chmod(0o644)
    inode = target.stat().st_ino
    assert kubeconfig.merge(source, target) == ["kind-devenv-feat-x"]
    merged = yaml.safe_load(target.read_text())
    assert merged["current-context"] == "prod"  # the user's choice stays
    assert [e["name"] for e in merged["clusters"]] == ["prod", "kind-devenv-feat-x"]  # replaced in place, not doubled
    assert by_name(merged, "clusters")["kind-devenv-feat-x"]["cluster"]["server"] == "https://127.0.0.1:40001"
    assert by_name(merged, "users")["admin"]["user"]["token"] == "keep-me"
    assert by_name(merged, "users")["kind-devenv-feat-x"]["user"]["client-key-data"] == "S0VZ"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.stat().st_ino != inode  # a new file renamed over the old one, never rewritten in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config", "env"]  # no temp file, no lock left


def test_merge_into_a_missing_file_creates_it_private_with_our_context_current(tmp_path) -> None:
    source, target = tmp_path / "env", tmp_path / "home" / ".kube" / "config"
    source.write_text(kind_kubeconfig("feat-x"))
    kubeconfig.merge(source, target)
    config = yaml.safe_load(target.read_text())
    assert config["current-context"] == "kind-devenv-feat-x"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700


def test_merge_through_a_symlink_writes_the_file_it_points_at(tmp_path) -> None:
    source, real, link = tmp_path / "env", tmp_path / "dotfiles-kubeconfig", tmp_path / "config"
    source.write_text(kind_kubeconfig("feat-x"))
    real.write_text(USERS_OWN)
    link.symlink_to(real)
    kubeconfig.merge(source, link)
    assert link.is_symlink()
    assert "kind-devenv-feat-x" in by_name(yaml.safe_load(real.read_text()), "contexts")


def test_remove_takes_out_only_the_environments_entries(tmp_path) -> None:
    target = tmp_path / "config"
    target.write_text(USERS_OWN.replace("current-context: prod", "current-context: kind-devenv-feat-x")
                      .replace("- name: admin", "- name: kind-devenv-feat-x-2\n  user: {token: other-env}\n- name: admin"))
    assert kubeconfig.remove(target, "kind-devenv-feat-x") is True
    config = yaml.safe_load(target.read_text())
    assert [e["name"] for e in config["clusters"]] == ["prod"]
    assert [e["name"] for e in config["contexts"]] == ["prod"]
    assert [e["name"] for e in config["users"]] == ["kind-devenv-feat-x-2", "admin"]  # a longer name is not ours
    assert config["current-context"] == ""
    assert kubeconfig.remove(target, "kind-devenv-feat-x") is False  # nothing left of it
    assert kubeconfig.remove(tmp_path / "missing", "kind-devenv-feat-x") is False


def test_a_kubeconfig_that_is_not_yaml_is_left_alone(tmp_path) -> None:
    source, target = tmp_path / "env", tmp_path / "config"
    source.write_text(kind_kubeconfig("feat-x"))
    target.write_text("clusters: [unclosed\n")
    with pytest.raises(InvalidInput, match="is not valid YAML: devenv leaves it as it is"):
        kubeconfig.merge(source, target)
    assert target.read_text() == "clusters: [unclosed\n"
    target.write_text("clusters: {a: b}\n")
    with pytest.raises(InvalidInput, match="is not a kubeconfig"):
        kubeconfig.remove(target, "kind-devenv-feat-x")


def test_a_held_kubectl_lock_is_waited_for_then_reported(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(kubeconfig, "LOCK_TIMEOUT", 0.3)
    source, target = tmp_path / "env", tmp_path / "config"
    source.write_text(kind_kubeconfig("feat-x"))
    target.write_text(USERS_OWN)
    (tmp_path / "config.lock").touch()  # kubectl (client-go) holds it while it writes
    with pytest.raises(DevenvError, match="is locked") as locked:
        kubeconfig.merge(source, target)
    assert str(tmp_path / "config.lock") in locked.value.hint
    assert target.read_text() == USERS_OWN


def test_the_default_file_is_kubeconfigs_first_then_home(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join(["", str(tmp_path / "a"), str(tmp_path / "b")]))
    assert kubeconfig.default_path() == tmp_path / "a"
    monkeypatch.delenv("KUBECONFIG")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert kubeconfig.default_path() == tmp_path / ".kube" / "config"


def test_down_takes_out_what_up_merged_from_the_file_it_went_into(tmp_path, monkeypatch) -> None:
    """Merged into $KUBECONFIG's first file; `down` finds that file even when $KUBECONFIG has changed since."""
    clusters = KindClusters(run=None, home=tmp_path / "state")
    clusters.kubeconfig("feat-x").parent.mkdir(parents=True)
    clusters.kubeconfig("feat-x").write_text(kind_kubeconfig("feat-x"))
    users = tmp_path / "users-config"
    users.write_text(USERS_OWN)
    monkeypatch.setenv("KUBECONFIG", str(users))
    assert clusters.merge_kubeconfig("feat-x") == users
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "elsewhere"))
    assert clusters.unmerge_kubeconfig("feat-x", dry_run=True) == users
    assert "kind-devenv-feat-x" in by_name(yaml.safe_load(users.read_text()), "contexts")  # dry run: untouched
    assert clusters.unmerge_kubeconfig("feat-x") == users
    config = yaml.safe_load(users.read_text())
    assert [e["name"] for e in config["contexts"]] == ["prod"] and config["current-context"] == "prod"
    assert clusters.unmerge_kubeconfig("feat-x") is None  # done: nothing more to take out
    assert not (tmp_path / "elsewhere").exists()


def test_env_prints_kubeconfig_for_a_kind_environment_in_every_format() -> None:
    from devenv.cli.env import dotenv, shell

    env = Environment(name="feat-x", profile="local", services={}, values={"ENVIRONMENT": "feat-x"}, secrets={},
                      kubeconfig="/home/dev/.local/state/devenv/kubeconfig/feat-x")
    assert dotenv(env.variables()).splitlines()[0] == "KUBECONFIG=/home/dev/.local/state/devenv/kubeconfig/feat-x"
    assert shell(env.variables()).splitlines()[0] == "export KUBECONFIG=/home/dev/.local/state/devenv/kubeconfig/feat-x"
    assert env.to_dict()["kubeconfig"] == "/home/dev/.local/state/devenv/kubeconfig/feat-x"
    docker_only = Environment(name="t", profile="test", services={}, values={"A": "b"}, secrets={})
    assert "KUBECONFIG" not in docker_only.variables() and docker_only.to_dict()["kubeconfig"] is None


# -- the CLI, with a stand-in kind on PATH ------------------------------------------------------------


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """`devenv` with XDG_STATE_HOME in tmp_path and a `kind` on PATH listing $FAKE_KIND_CLUSTERS."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kind = bin_dir / "kind"
    kind.write_text('#!/bin/sh\nif [ "$1 $2" = "get clusters" ]; then\n  for c in $FAKE_KIND_CLUSTERS; do echo "$c"; done\n'
                    '  exit 0\nfi\necho "stand-in kind: not supported: $*" >&2\nexit 1\n')
    kind.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("FAKE_KIND_CLUSTERS", "kind devenv-other")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def _written(tmp_path: Path, environment: str) -> Path:
    path = tmp_path / "state" / "devenv" / "kubeconfig" / environment
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(kind_kubeconfig(environment))
    path.chmod(0o600)
    return path


def test_kubeconfig_prints_the_path_the_content_or_json(cli, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_KIND_CLUSTERS", "kind devenv-feat-x")
    path = _written(tmp_path, "feat-x")
    plain = cli("kubeconfig", "feat-x")
    assert plain.exit_code == 0, plain.stderr
    assert plain.stdout == f"{path}\n"
    raw = cli("kubeconfig", "feat-x", "--raw")
    assert raw.exit_code == 0 and raw.stdout == path.read_text()
    as_json = cli("kubeconfig", "feat-x", "-o", "json")
    assert as_json.exit_code == 0 and json.loads(as_json.stdout) == {"environment": "feat-x", "path": str(path)}


def test_kubeconfig_of_an_environment_without_a_cluster_is_exit_8(cli, tmp_path) -> None:
    _written(tmp_path, "feat-x")  # a file left behind does not make a cluster: kind lists none for feat-x
    result = cli("kubeconfig", "feat-x")
    assert result.exit_code == 8
    assert result.stdout == ""
    assert result.stderr.startswith("error: environment feat-x has no kind cluster, so no kubeconfig")
    assert "Traceback" not in result.stderr


def test_kubeconfig_refuses_raw_with_json_and_bad_names(cli) -> None:
    both = cli("kubeconfig", "feat-x", "--raw", "-o", "json")
    assert both.exit_code == 2 and "pick one" in both.stderr and both.stdout == ""
    bad = cli("kubeconfig", "!!!")
    assert bad.exit_code == 2 and "cannot be turned into an environment name" in bad.stderr


def test_merge_kubeconfig_without_a_cluster_target_is_refused_before_anything(cli, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DEVENV_MARIADB_IMAGE", "local/mariadb:test")
    result = cli("up", "demo", "--profile", "test", "--merge-kubeconfig")
    assert result.exit_code == 2, result.stderr  # not 5: refused before Docker is asked for anything
    assert "--merge-kubeconfig: profile 'test' has target docker" in result.stderr and result.stdout == ""
    assert not (tmp_path / ".kube").exists()


def test_the_cli_lists_kubeconfig_and_up_teaches_its_flags(cli) -> None:
    assert " kubeconfig " in cli("--help").stdout
    helped = cli("up", "--help").stdout
    assert "--retain" in helped and "--merge-kubeconfig" in helped and "devenv up feature-x --retain" in helped


def test_a_dry_run_down_reports_merged_entries_only_while_they_are_there(tmp_path) -> None:
    clusters = KindClusters(run=None, home=tmp_path / "state")
    clusters.kubeconfig("feat-x").parent.mkdir(parents=True)
    clusters.kubeconfig("feat-x").write_text(kind_kubeconfig("feat-x"))
    users = tmp_path / "config"
    clusters.merge_kubeconfig("feat-x", into=users)
    kubeconfig.remove(users, "kind-devenv-feat-x")  # e.g. `kind delete cluster` cleaned it already
    assert clusters.unmerge_kubeconfig("feat-x", dry_run=True) is None


def test_a_source_without_a_context_merges_nothing_and_says_so(tmp_path) -> None:
    source, target = tmp_path / "env", tmp_path / "config"
    source.write_text("apiVersion: v1\n")
    with pytest.raises(DevenvError, match="has no context to merge"):
        kubeconfig.merge(source, target)
    assert not target.exists()
