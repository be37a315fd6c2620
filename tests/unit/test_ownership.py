"""Who owns what and who is still alive, from labels alone: the owner value, which owners a destructive
command covers, process tokens that survive PID reuse, and gc's reasons (a dead test session's environment
goes, one whose `up` or session still runs stays whatever the grace period says)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from devenv.lifecycle import environments
from devenv.domain import labels
from devenv.targets import EnvironmentState


def test_the_owner_is_user_and_machine_unless_devenv_owner_says_otherwise(monkeypatch):
    monkeypatch.delenv("DEVENV_OWNER", raising=False)
    monkeypatch.setenv("USER", "ada lovelace")
    monkeypatch.setenv("LOGNAME", "ada lovelace")
    assert labels.owner() == f"ada-lovelace.{labels.host()}"
    assert labels.is_valid_label_value(labels.owner())
    monkeypatch.setenv("DEVENV_OWNER", "ci/job 42")
    assert labels.owner() == "ci-job-42"
    assert labels.for_environment("x", profile="p", target="docker", ttl_seconds=None)[labels.OWNER] == "ci-job-42"


def test_owners_cover_the_current_one_unless_told_otherwise(monkeypatch):
    monkeypatch.setenv("DEVENV_OWNER", "alice")
    mine = labels.Owners.chosen()
    assert mine.covers("alice") and not mine.covers("bob")
    assert mine.covers(None)  # labelled by hand, without an owner: nobody's to protect
    assert "owned by bob, not by alice" in mine.why_not("bob") and "--all-owners" in mine.why_not("bob")
    assert labels.Owners.chosen(others=["bob"]).covers("bob")
    everyone = labels.Owners.chosen(all_owners=True)
    assert everyone.covers("bob") and everyone.covers(None) and everyone.describe() == "every owner's"


def test_without_devenv_owner_the_bare_user_of_older_labels_is_still_ours(monkeypatch):
    monkeypatch.delenv("DEVENV_OWNER", raising=False)
    monkeypatch.setenv("USER", "ada")
    monkeypatch.setenv("LOGNAME", "ada")
    assert labels.Owners.chosen().covers("ada") and labels.Owners.chosen().covers(labels.owner())


def test_a_process_token_tells_a_live_process_from_a_dead_one_and_from_a_reused_pid():
    me = labels.process_token()
    assert labels.process_alive(me) is True
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    token = labels.process_token(child.pid)
    child.wait()
    assert labels.process_alive(token) is False
    if "-" in me:  # /proc gives start times: the same PID with another start time is another process
        assert labels.process_alive(f"{os.getpid()}-1") is False
    assert labels.process_alive("not-a-token") is None


def test_the_session_variable_labels_what_is_created_for_the_session(monkeypatch):
    monkeypatch.setenv(labels.SESSION_VARIABLE, f"abc123:{labels.process_token()}")
    tags = labels.for_environment("x", profile="p", target="docker", ttl_seconds=None)
    assert tags[labels.SESSION] == "abc123" and tags[labels.SESSION_PROCESS] == labels.process_token()
    assert tags[labels.HOST] == labels.host() and tags[labels.RUN_PROCESS] == labels.process_token()
    monkeypatch.setenv(labels.SESSION_VARIABLE, "abc123")  # no process token: not a session
    assert labels.SESSION not in labels.for_environment("x", profile="p", target="docker", ttl_seconds=None)


def _state(state: str = "ready", changed: int = 0, expires: int | None = None) -> EnvironmentState:
    return EnvironmentState(name="e", profile="test", profile_path=None, target="docker", state=state,
                            created=changed, changed=changed, expires=expires,
                            problems=("a network without containers",) if state == "incomplete" else ())


def _dead_token() -> str:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    token = labels.process_token(child.pid)
    child.wait()
    return token


def test_gc_takes_a_dead_sessions_environment_at_once_and_keeps_a_live_ones():
    here, dead, alive = labels.host(), _dead_token(), labels.process_token()
    ended = {labels.HOST: here, labels.SESSION: "s1", labels.SESSION_PROCESS: dead}
    reason = environments._why_collect(_state(), 1000, 60, [ended])
    assert reason and reason.startswith("its test session s1") and "ended without removing it" in reason
    running = {labels.HOST: here, labels.SESSION: "s2", labels.SESSION_PROCESS: alive}
    assert environments._why_collect(_state("incomplete", changed=0), 1000, 60, [running]) is None
    assert "its test session s2" in environments._alive([running]) and "still running" in environments._alive([running])
    elsewhere = {**ended, labels.HOST: "another-machine"}  # another machine's PIDs mean nothing here
    assert environments._why_collect(_state(), 1000, 60, [elsewhere]) is None


def test_an_incomplete_environment_whose_up_still_runs_is_kept_past_the_grace_period():
    up = {labels.HOST: labels.host(), labels.RUN_PROCESS: labels.process_token()}
    assert environments._why_collect(_state("incomplete", changed=0), 1000, 60, [up]) is None
    assert "the `up` that creates it" in environments._alive([up])
    crashed = {labels.HOST: labels.host(), labels.RUN_PROCESS: _dead_token()}
    assert environments._why_collect(_state("incomplete", changed=0), 1000, 60, [crashed]).startswith("incomplete")
    assert environments._why_collect(_state("incomplete", changed=990), 1000, 60, [crashed]) is None  # grace
    assert environments._why_collect(_state(expires=999), 1000, 60, [up]).startswith("expired")


def test_env_says_on_stderr_that_it_masks_a_password_even_without_environment_values(monkeypatch):
    from typer.testing import CliRunner

    from devenv.cli import app

    env = environments.Environment(name="demo", profile="bare", values={}, secrets={},
                                   services={"db": {"host": "127.0.0.1", "port": "3306", "password": "s3cret"}})
    monkeypatch.setattr(environments, "attach", lambda name, profile=None: env)
    result = CliRunner().invoke(app, ["env", "demo"])
    assert result.exit_code == 0, result.stderr
    assert "DEVENV_DB_PASSWORD='********'" in result.stdout and "s3cret" not in result.stdout
    assert "passwords are masked (********) in DEVENV_DB_PASSWORD" in result.stderr
    assert "--show-secrets" in result.stderr
    shown = CliRunner().invoke(app, ["env", "demo", "--show-secrets"])
    assert "DEVENV_DB_PASSWORD=s3cret" in shown.stdout and "masked" not in shown.stderr
    as_json = CliRunner().invoke(app, ["env", "demo", "-f", "json"])
    assert "s3cret" not in as_json.stdout and "passwords are masked" in as_json.stderr


@pytest.mark.parametrize("value, level", [("65530", "warning"), ("262144", "ok"), ("1048576", "ok")])
def test_doctor_explains_a_low_max_map_count_instead_of_failing(tmp_path, value, level):
    from devenv.cli import doctor

    path = tmp_path / "max_map_count"
    path.write_text(value + "\n")
    check = doctor._max_map_count(path)
    assert check.ok and check.level == level
    if level == "warning":
        assert "262144" in check.detail and "OpenSearch" in check.detail
        assert "sysctl -w vm.max_map_count=262144" in check.fix and "/etc/sysctl.d/" in check.fix
        assert "Docker Desktop" in check.fix and "colima" in check.fix.lower()
    else:
        assert check.fix == ""


def test_doctor_prints_the_warning_on_stderr_and_it_alone_does_not_fail(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from devenv.cli import app, doctor

    path = tmp_path / "max_map_count"
    path.write_text("65530\n")
    monkeypatch.setattr(doctor, "MAX_MAP_COUNT", path)
    monkeypatch.setattr(doctor, "checks", lambda: [doctor._max_map_count()])
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 0
    assert "WARNING" in result.stdout and "warning: vm.max_map_count: 65530, below the 262144" in result.stderr


def test_kubernetes_objects_carry_no_per_process_labels(monkeypatch):
    """A namespace environment's objects are applied again on every `up`: a label naming the run's process
    would change each time (and restart its StatefulSets' pods)."""
    monkeypatch.setenv(labels.SESSION_VARIABLE, f"abc123:{labels.process_token()}")
    tags = labels.for_environment("x", profile="p", target="namespace", ttl_seconds=None)
    kube_labels, annotations = labels.for_kubernetes(tags)
    assert not set(labels.PER_PROCESS) & (set(kube_labels) | set(annotations))
    assert kube_labels[labels.OWNER] == labels.owner() and kube_labels[labels.HOST] == labels.host()
