"""Registry credentials for the kind target (devenv.clients.registry_auth): resolved through a temporary docker
configuration as the docker CLI reads it (`auths`, and a real credential-helper process named by credHelpers),
refused in one paragraph naming each registry and what to run, shaped as kind's guide and Flux want them (a
config.json with inline `auths`, a kubernetes.io/dockerconfigjson Secret), and copied to the node at the process
seam; the secret itself appears in no repr, error or command line."""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from pathlib import Path

import pytest

from devenv.clients import process, registry_auth
from devenv.clients.docker import CredentialsMissing

HOST = "123456789012.dkr.ecr.eu-west-2.amazonaws.com"
MIRROR = "registry.example.com:5000"
SECRET = "s3cr3t-Token-value"
HELPER = """#!{python}
import json, sys
server = sys.stdin.read().strip()
if sys.argv[1:] == ["get"] and server == {host!r}:
    print(json.dumps({{"ServerURL": server, "Username": "AWS", "Secret": {secret!r}}}))
else:
    print("credentials not found in native keychain")
    sys.exit(1)
"""


@pytest.fixture
def docker_config(tmp_path, monkeypatch):
    """A DOCKER_CONFIG folder; write(config) puts its config.json; the helper folder is on PATH only on ask."""
    folder = tmp_path / "docker-config"
    folder.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(folder))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-ecr-login"
    helper.write_text(HELPER.format(python=sys.executable, host=HOST, secret=SECRET))
    helper.chmod(0o755)
    broken = bin_dir / "docker-credential-broken"
    broken.write_text(f"#!{sys.executable}\nimport sys\nprint('the SSO session has expired')\nsys.exit(1)\n")
    broken.chmod(0o755)

    class Config:
        path = folder / "config.json"

        def write(self, config: dict) -> None:
            self.path.write_text(json.dumps(config))

        def helper_on_path(self) -> None:
            monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")

    return Config()


def test_credentials_come_from_the_helper_and_from_auths(docker_config) -> None:
    docker_config.write({"credHelpers": {HOST: "ecr-login"},
                         "auths": {MIRROR: {"auth": base64.b64encode(b"me:mirror-pass").decode()}}})
    docker_config.helper_on_path()
    found = registry_auth.resolve([HOST, MIRROR])
    assert found.hosts == (HOST, MIRROR)
    assert dict(found.logins) == {HOST: ("AWS", SECRET), MIRROR: ("me", "mirror-pass")}
    assert SECRET not in repr(found) and "mirror-pass" not in repr(found) and HOST in repr(found)


def test_the_node_config_and_the_secret_hold_the_credentials_inline(docker_config) -> None:
    docker_config.write({"credHelpers": {HOST: "ecr-login"}})
    docker_config.helper_on_path()
    found = registry_auth.resolve([HOST])
    config = json.loads(found.config_json())
    assert config == {"auths": {HOST: {"username": "AWS", "password": SECRET,
                                       "auth": base64.b64encode(f"AWS:{SECRET}".encode()).decode()}}}
    secret = found.secret("devenv-registry-credentials", "shop")
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    assert secret["metadata"] == {"name": "devenv-registry-credentials", "namespace": "shop"}
    assert json.loads(base64.b64decode(secret["data"][".dockerconfigjson"])) == config
    assert SECRET not in json.dumps(secret)  # only base64 of it: what render's masking replaces whole
    from devenv.flux.render import SECRET_MASK, mask_secret

    assert mask_secret(secret)["data"] == {".dockerconfigjson": SECRET_MASK}


@pytest.mark.parametrize("case", ["helper not on PATH", "helper has none", "helper fails", "no docker config",
                                  "identity token"])
def test_a_registry_without_credentials_is_one_paragraph_naming_it_and_docker_login(docker_config, case) -> None:
    other = "ghcr.io"
    if case == "helper not on PATH":
        docker_config.write({"credHelpers": {HOST: "ecr-login"}})
    elif case == "helper has none":
        docker_config.write({"credHelpers": {HOST: "ecr-login", other: "ecr-login"}})
        docker_config.helper_on_path()
    elif case == "helper fails":
        docker_config.write({"credHelpers": {HOST: "broken"}})
        docker_config.helper_on_path()
    elif case == "identity token":
        docker_config.write({"auths": {HOST: {"identitytoken": SECRET}}})
    host = other if case == "helper has none" else HOST
    with pytest.raises(CredentialsMissing) as caught:
        registry_auth.resolve([host], profile="profile p.yaml")
    err = caught.value
    text = str(err)
    assert err.exit_code == 11
    assert err.message.startswith(f"devenv found no credentials for the registry {host} (profile p.yaml lists it "
                                  "under `registries:`): ")
    assert err.message.endswith("; nothing was created")
    assert f"`docker login {host}`" in err.message
    assert err.context[0].startswith(f"looked in: {docker_config.path}")
    assert SECRET not in text and "Traceback" not in text
    if case == "helper not on PATH":
        assert "put docker-credential-ecr-login (the credential helper your docker config names) on PATH" in err.message
        assert err.context[1] == f"{HOST}: the docker config names docker-credential-ecr-login for it, which is not on PATH"
    elif case == "helper has none":
        assert err.context[1] == f"{other}: docker-credential-ecr-login has none for it"
    elif case == "helper fails":
        assert err.context[1].startswith(f"{HOST}: docker-credential-broken failed: ")
        assert "the SSO session has expired" in err.context[1]
        assert "check that docker-credential-broken works (its login may have expired)" in err.message
    elif case == "no docker config":
        assert err.context == [f"looked in: {docker_config.path} (there is none)",
                               f"{HOST}: the docker config has no entry for it"]
    else:
        assert "identity token" in err.context[1]


def test_every_registry_without_credentials_is_named_in_the_one_error(docker_config) -> None:
    docker_config.write({"auths": {MIRROR: {"auth": base64.b64encode(b"me:pw").decode()}}})
    with pytest.raises(CredentialsMissing) as caught:
        registry_auth.resolve([HOST, MIRROR, "ghcr.io"])
    err = caught.value
    assert err.message.startswith(f"devenv found no credentials for the registries {HOST}, ghcr.io (")
    assert err.context[1:] == [f"{HOST}: the docker config has no entry for it: run `docker login {HOST}`",
                               "ghcr.io: the docker config has no entry for it: run `docker login ghcr.io`"]


class Node:
    """The process seam as a kind cluster with one node container answers it: `kind get nodes` lists the node,
    `docker exec` of a container that is not one fails as docker does, the node holds files written to it."""

    def __init__(self, cluster: str, node: str):
        self.cluster, self.node = cluster, node
        self.files: dict[str, str] = {}
        self.calls: list[tuple[list[str], str | None]] = []

    def __call__(self, argv, *, stdin=None, timeout, check=True, **_):
        argv = list(argv)
        self.calls.append((argv, stdin))
        ok = lambda out="": process.Result(tuple(argv), 0, out, "")  # noqa: E731
        if argv[:3] == ["kind", "get", "nodes"]:
            assert argv[3:] == ["--name", self.cluster]
            return ok(f"{self.node}\n")
        assert argv[:2] == ["docker", "exec"]
        rest = [a for a in argv[2:] if a != "-i"]
        if rest[0] != self.node:
            raise AssertionError(f"Error response from daemon: No such container: {rest[0]}")
        command = rest[1:]
        if command[0] == "sha256sum":
            if command[1] not in self.files:
                return process.Result(tuple(argv), 1, "", f"sha256sum: {command[1]}: No such file or directory")
            return ok(f"{hashlib.sha256(self.files[command[1]].encode()).hexdigest()}  {command[1]}\n")
        if command[:2] == ["cp", "/dev/stdin"]:
            self.files[command[2]] = stdin
            return ok()
        if command[0] in ("chmod", "systemctl"):
            return ok()
        raise AssertionError(f"unexpected command {argv}")


def test_the_node_gets_the_config_at_the_kubelets_path_once_and_its_kubelet_restarts(docker_config) -> None:
    docker_config.write({"credHelpers": {HOST: "ecr-login"}})
    docker_config.helper_on_path()
    found = registry_auth.resolve([HOST])
    node = Node("devenv-x", "devenv-x-control-plane")
    assert registry_auth.give_to_nodes(found, "devenv-x", run=node) == ["devenv-x-control-plane"]
    assert json.loads(node.files["/var/lib/kubelet/config.json"]) == json.loads(found.config_json())
    commands = [argv[2:] for argv, _ in node.calls if argv[0] == "docker"]
    assert ["-i", "devenv-x-control-plane", "cp", "/dev/stdin", "/var/lib/kubelet/config.json"] in commands
    assert ["devenv-x-control-plane", "chmod", "0600", "/var/lib/kubelet/config.json"] in commands
    assert commands[-1] == ["devenv-x-control-plane", "systemctl", "restart", "kubelet.service"]
    assert not any(SECRET in " ".join(argv) for argv, _ in node.calls)  # on stdin only, never an argument

    node.calls.clear()
    assert registry_auth.give_to_nodes(found, "devenv-x", run=node) == []  # the same credentials: left alone
    assert [argv[2:][1:] for argv, _ in node.calls if argv[0] == "docker"] == [["sha256sum",
                                                                                 "/var/lib/kubelet/config.json"]]


def test_a_cluster_without_node_containers_gets_nothing_copied(docker_config) -> None:
    docker_config.write({"auths": {MIRROR: {"auth": base64.b64encode(b"me:pw").decode()}}})
    calls = []

    def run(argv, **kwargs):
        calls.append(list(argv))
        return process.Result(tuple(argv), 0, "", 'No kind nodes found for cluster "devenv-x".\n')

    assert registry_auth.give_to_nodes(registry_auth.resolve([MIRROR]), "devenv-x", run=run) == []
    assert calls == [["kind", "get", "nodes", "--name", "devenv-x"]]


def test_nothing_is_written_on_this_machine(docker_config, tmp_path: Path) -> None:
    docker_config.write({"credHelpers": {HOST: "ecr-login"}})
    docker_config.helper_on_path()
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    found = registry_auth.resolve([HOST])
    registry_auth.give_to_nodes(found, "devenv-x", run=Node("devenv-x", "devenv-x-control-plane"))
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
