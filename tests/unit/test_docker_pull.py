"""devenv.clients.docker's pull, without an engine: the refusal for want of credentials says the registry, the docker
config it read and the helper that config names, and what to run; the progress line counts layers and bytes
from the engine's progress events (the real pull, against an authenticated registry, is in
tests/integration/test_registry_auth.py)."""

from __future__ import annotations

import json
import os

from devenv.clients import docker


def test_a_refusal_names_the_registry_the_helper_and_docker_login(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps(
        {"credHelpers": {"123456789012.dkr.ecr.eu-west-2.amazonaws.com": "ecr-login"}}))
    err = docker._credentials_missing("123456789012.dkr.ecr.eu-west-2.amazonaws.com/platform/mariadb:10.11",
                                      "Head https://...: no basic auth credentials")
    text = str(err)
    assert err.message.startswith("the registry 123456789012.dkr.ecr.eu-west-2.amazonaws.com refused")
    assert "docker-credential-ecr-login" in err.message
    assert "`docker login 123456789012.dkr.ecr.eu-west-2.amazonaws.com`" in err.message
    assert f"looked in: {tmp_path / 'config.json'}" in text and "no basic auth credentials" in text
    assert err.exit_code == 11 and isinstance(err, docker.CredentialsMissing)


def test_without_a_docker_config_the_hint_is_docker_login(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    err = docker._credentials_missing("registry.example.com:5000/team/app:1", "unauthorized: authentication required")
    assert "`docker login registry.example.com:5000`" in err.message and "credential" not in err.message.split(":")[-1]
    assert "(there is none)" in str(err)
    assert docker._wants_credentials("unauthorized: authentication required")
    assert docker._wants_credentials("pull access denied for x, repository does not exist or may require 'docker login'")
    assert not docker._wants_credentials("manifest for x:1 not found: manifest unknown")


def test_progress_counts_layers_and_bytes():
    shown = docker._Progress("mariadb:10.11", enabled=True)
    shown.draw = lambda: None  # the line itself goes to a terminal only
    for event in ({"id": "a", "status": "Pulling fs layer"}, {"id": "b", "status": "Already exists"},
                  {"id": "a", "status": "Downloading", "progressDetail": {"current": 1_500_000, "total": 3_000_000}},
                  {"id": "10.11", "status": "Pulling from library/mariadb"}):
        shown.update(event)
    assert shown.summary() == "mariadb:10.11: 1/2 layers, 1.5/3.0 MB"
    shown.update({"id": "a", "status": "Pull complete"})
    assert shown.summary() == "mariadb:10.11: 2/2 layers, 3.0/3.0 MB"
    quiet = docker._Progress("x", enabled=False)
    quiet.update({"id": "a", "status": "Pull complete"})
    assert quiet.layers == {}


def test_a_helper_that_answers_with_credentials_the_registry_refuses_says_so(tmp_path, monkeypatch):
    """The helper is on PATH and gives credentials (a real process answering the protocol), but the registry
    refused them: expired, not missing."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-ecr-login"
    helper.write_text('#!/bin/sh\nread server\necho \'{"ServerURL": "\'$server\'", "Username": "AWS", "Secret": "old"}\'\n')
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"credHelpers": {"registry.example.com": "ecr-login"}}))
    err = docker._credentials_missing("registry.example.com/app:1", "unauthorized: authentication required")
    assert "with the credentials from docker-credential-ecr-login" in err.message
    assert "run `docker login registry.example.com` again" in err.message and "old" not in str(err)
    helper.write_text("#!/bin/sh\necho 'credentials not found in native keychain'\nexit 1\n")
    err = docker._credentials_missing("registry.example.com/app:1", "unauthorized: authentication required")
    assert "docker-credential-ecr-login has none for it: run `docker login registry.example.com`" in err.message
