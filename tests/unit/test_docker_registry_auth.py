"""devenv.clients.docker.registry_auth: the credentials `docker pull` would send, resolved at use through the
user's docker config (auths) and the credential helper it names (credHelpers, credsStore), as the SDK does."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from devenv.clients import docker


def write_config(folder: Path, config: dict) -> None:
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))


def stub_helper(bin_dir: Path, name: str, secret: str) -> None:
    """A docker-credential-<name> that answers `get` as the helper protocol does (stdin: the server URL)."""
    bin_dir.mkdir(exist_ok=True)
    program = bin_dir / f"docker-credential-{name}"
    program.write_text("#!/bin/sh\nread server\n"
                       f"printf '{{\"ServerURL\":\"%s\",\"Username\":\"AWS\",\"Secret\":\"{secret}\"}}' \"$server\"\n")
    program.chmod(program.stat().st_mode | stat.S_IXUSR)


def test_auths_entry(tmp_path, monkeypatch) -> None:
    auth = base64.b64encode(b"ci:s3cret").decode()
    write_config(tmp_path / "cfg", {"auths": {"registry.example:5443": {"auth": auth}}})
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "cfg"))
    found = docker.registry_auth("registry.example:5443")
    assert (found["username"], found["password"]) == ("ci", "s3cret")
    assert docker.registry_auth("other.example") is None


def test_cred_helper_is_asked_each_time(tmp_path, monkeypatch) -> None:
    host = "123456789012.dkr.ecr.eu-west-2.amazonaws.com"
    write_config(tmp_path / "cfg", {"credHelpers": {host: "ecr-login"}})
    stub_helper(tmp_path / "bin", "ecr-login", "token-1")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "cfg"))
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    assert docker.credential_helper(host) == "ecr-login"
    assert docker.registry_auth(host)["password"] == "token-1"
    stub_helper(tmp_path / "bin", "ecr-login", "token-2")  # a new ECR token: read again, never cached
    assert docker.registry_auth(host)["password"] == "token-2"


def test_no_config_no_credentials(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "none"))
    assert docker.registry_auth("registry.example") is None
    assert docker.credential_helper("registry.example") is None
