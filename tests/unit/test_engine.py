"""Which engine devenv uses, as the docker CLI chooses it (devenv.clients.engine): DOCKER_HOST, else DOCKER_CONTEXT,
else the docker config's currentContext, else the default socket; a context named but missing is one clear
DockerUnavailable. Contexts are written as `docker context create` writes them (meta.json under the SHA-256 of
the name); tests/integration/test_docker_context.py checks the same against contexts the docker CLI made."""

from __future__ import annotations

import hashlib
import json

import pytest

from devenv.clients import docker, engine
from devenv.errors import DockerUnavailable


def write_context(config_dir, name: str, host: str, *, tls: bool = False, current: bool = False) -> None:
    meta = config_dir / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest() / "meta.json"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({"Name": name, "Metadata": {},
                                "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": False}}}))
    if tls:
        certs = config_dir / "contexts" / "tls" / hashlib.sha256(name.encode()).hexdigest() / "docker"
        certs.mkdir(parents=True)
        for pem in ("ca.pem", "cert.pem", "key.pem"):
            (certs / pem).write_text("")
    if current:
        (config_dir / "config.json").write_text(json.dumps({"currentContext": name}))


def test_docker_host_wins_over_every_context(tmp_path):
    write_context(tmp_path, "other", "unix:///other.sock", current=True)
    env = {"DOCKER_HOST": "tcp://10.0.0.1:2376", "DOCKER_TLS_VERIFY": "1", "DOCKER_CONTEXT": "other",
           "DOCKER_CONFIG": str(tmp_path)}
    chosen = engine.resolve(env)
    assert (chosen.host, chosen.reason) == ("tcp://10.0.0.1:2376", "DOCKER_HOST is set")
    assert chosen.environment() == {"DOCKER_HOST": "tcp://10.0.0.1:2376", "DOCKER_TLS_VERIFY": "1"}


def test_docker_context_then_the_current_context_then_the_default(tmp_path):
    write_context(tmp_path, "colima", "unix:///home/me/.colima/docker.sock", current=True)
    write_context(tmp_path, "rootless", "unix:///run/user/1000/docker.sock")
    config = {"DOCKER_CONFIG": str(tmp_path)}
    chosen = engine.resolve({**config, "DOCKER_CONTEXT": "rootless"})
    assert chosen.host == "unix:///run/user/1000/docker.sock"
    assert chosen.reason == "docker context rootless (DOCKER_CONTEXT)"
    chosen = engine.resolve(config)
    assert chosen.host == "unix:///home/me/.colima/docker.sock"
    assert chosen.reason == f"docker context colima (currentContext in {tmp_path / 'config.json'})"
    assert engine.resolve({**config, "DOCKER_CONTEXT": "default"}).host == engine.DEFAULT_HOST
    (tmp_path / "config.json").write_text("{}")
    assert engine.resolve(config).host == engine.DEFAULT_HOST
    assert engine.resolve({"HOME": str(tmp_path / "nohome")}).reason == \
        "the default socket: no DOCKER_HOST, no docker context"


def test_home_dot_docker_is_the_config_without_docker_config(tmp_path):
    write_context(tmp_path / ".docker", "desktop-linux", "unix:///home/me/.docker/desktop/docker.sock", current=True)
    assert engine.resolve({"HOME": str(tmp_path)}).host == "unix:///home/me/.docker/desktop/docker.sock"


def test_a_tls_context_hands_its_certificates_to_the_processes(tmp_path):
    write_context(tmp_path, "remote", "tcp://build-host:2376", tls=True)
    env = {"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "remote", "PATH": "/usr/bin"}
    certs = tmp_path / "contexts" / "tls" / hashlib.sha256(b"remote").hexdigest() / "docker"
    assert engine.subprocess_environment(env) == {
        "DOCKER_CONFIG": str(tmp_path), "PATH": "/usr/bin", "DOCKER_HOST": "tcp://build-host:2376",
        "DOCKER_CERT_PATH": str(certs), "DOCKER_TLS_VERIFY": "1"}  # DOCKER_CONTEXT gone: DOCKER_HOST says it all


def test_a_missing_context_is_one_clear_paragraph(tmp_path):
    with pytest.raises(DockerUnavailable) as raised:
        engine.resolve({"DOCKER_CONFIG": str(tmp_path), "DOCKER_CONTEXT": "gone"})
    text = str(raised.value)
    assert "the docker context gone (DOCKER_CONTEXT) does not exist" in text
    assert "docker context ls" in text and raised.value.exit_code == 5


def test_engine_origin_says_which_engine_and_why(tmp_path, monkeypatch):
    write_context(tmp_path, "colima", "unix:///home/me/.colima/docker.sock", current=True)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert docker.engine_origin() == ("unix:///home/me/.colima/docker.sock",
                                      f"docker context colima (currentContext in {tmp_path / 'config.json'})")
    monkeypatch.setenv("DOCKER_HOST", "unix:///elsewhere.sock")
    assert docker.engine_origin() == ("unix:///elsewhere.sock", "DOCKER_HOST is set")
