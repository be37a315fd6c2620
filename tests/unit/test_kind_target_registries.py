"""The kind target and the profile's `registries:`, with test_kind_target's fakes at devenv's seams (the process
runner as a kind cluster with one node container, the kube seam, the services target) and a real credential
helper named by a temporary docker configuration: the credentials are resolved before anything is made, reach the
node at the kubelet's path on stdin and each namespace holding a source on those registries as a dockerconfigjson
Secret, and appear on no command line; a registry without credentials stops `up` before the cluster."""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from test_kind_target import FakeKube, FakeServices, Recorder, profile  # noqa: F401 (profile: a fixture)

from devenv.clients import process
from devenv.clients.docker import CredentialsMissing
from devenv.clients.kind import KindClusters
from devenv.domain.plan import make_plan
from devenv.targets.kind import KindTarget

pytestmark = pytest.mark.kustomize

HOST = "123456789012.dkr.ecr.eu-west-2.amazonaws.com"
TOKEN = "ecr-token-Value-12h"
NODE = "devenv-feat-x-control-plane"
REPO = Path(__file__).parents[2]
HELPER = f"""#!{sys.executable}
import json, sys
server = sys.stdin.read().strip()
if server == {HOST!r}:
    print(json.dumps({{"ServerURL": server, "Username": "AWS", "Secret": {TOKEN!r}}}))
else:
    print("credentials not found in native keychain")
    sys.exit(1)
"""


class NodeRecorder(Recorder):
    """test_kind_target's process seam, plus a kind cluster's one node container: `kind get nodes` lists it
    once the cluster exists; `docker exec` into it answers (no file there yet: sha256sum fails)."""

    def __call__(self, argv, *, stdin=None, timeout, check=True, **kwargs):
        argv = [str(a) for a in argv]
        if argv[:3] == ["kind", "get", "nodes"]:
            self.calls.append((argv, stdin))
            name = argv[argv.index("--name") + 1]
            return process.Result(tuple(argv), 0, f"{name}-control-plane\n" if name in self.clusters else "", "")
        if argv[:3] == ["docker", "exec", NODE] and "sha256sum" in argv:
            self.calls.append((argv, stdin))
            return process.Result(tuple(argv), 1, "", "No such file or directory")
        return super().__call__(argv, stdin=stdin, timeout=timeout, check=check, **kwargs)


@pytest.fixture
def docker_config(tmp_path, monkeypatch):
    folder, bin_dir = tmp_path / "docker-config", tmp_path / "bin"
    folder.mkdir()
    bin_dir.mkdir()
    (bin_dir / "docker-credential-ecr-login").write_text(HELPER)
    (bin_dir / "docker-credential-ecr-login").chmod(0o755)
    (folder / "config.json").write_text(json.dumps({"credHelpers": {HOST: "ecr-login"}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(folder))
    return bin_dir


@pytest.fixture
def private(tmp_path, profile):  # noqa: F811
    """The local profile listing HOST, on a copy of the embedded platform whose HelmRepositories are ECR's
    (type oci, provider aws)."""
    platform = tmp_path / "platform"
    shutil.copytree(REPO / "components", platform)
    for path in (platform / "infrastructure" / "controllers").glob("*.yaml"):
        docs = list(yaml.safe_load_all(path.read_text()))
        for doc in docs:
            if doc and doc.get("kind") == "HelmRepository":
                doc["spec"] = {"interval": "1h", "type": "oci", "provider": "aws", "url": f"oci://{HOST}/charts"}
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return make_plan("feat-x", replace(profile, registries=(HOST,)), platform=platform)


@pytest.fixture
def target(tmp_path, monkeypatch):
    found = shutil.which  # kind and flux stand in; kustomize (or kubectl) is the real one
    monkeypatch.setattr(process, "which", lambda tool: f"/usr/bin/{tool}" if tool in ("kind", "flux") else found(tool))
    runner = NodeRecorder()
    kube = FakeKube()
    target = KindTarget(services=FakeServices(),
                        clusters=KindClusters(run=runner, home=tmp_path / "state", connect=lambda _: kube),
                        run=runner, connect=lambda kubeconfig: kube)
    target.kube = kube
    return target


def test_up_gives_the_node_and_each_sources_namespace_the_credentials(target, private, docker_config,
                                                                      monkeypatch) -> None:
    monkeypatch.setenv("PATH", f"{docker_config}:{os.environ['PATH']}")
    result = target.up(private)
    calls = target.run.calls
    writes = [(argv, stdin) for argv, stdin in calls if argv[:3] == ["docker", "exec", "-i"] and "cp" in argv]
    node_config = [stdin for argv, stdin in writes if argv[-1] == "/var/lib/kubelet/config.json"]
    assert len(node_config) == 1
    assert json.loads(node_config[0])["auths"][HOST]["password"] == TOKEN
    assert ["docker", "exec", NODE, "systemctl", "restart", "kubelet.service"] in [argv for argv, _ in calls]
    first_create = next(i for i, (argv, _) in enumerate(calls) if argv[:3] == ["kind", "create", "cluster"])
    assert first_create < next(i for i, (argv, _) in enumerate(calls) if argv[:3] == ["kind", "get", "nodes"])

    secrets = [o for o in target.kube.applied if o["kind"] == "Secret"
               and o["metadata"]["name"] == "devenv-registry-credentials"]
    assert sorted(s["metadata"]["namespace"] for s in secrets) == ["cert-manager", "ingress-nginx"]
    for secret in secrets:
        assert secret["type"] == "kubernetes.io/dockerconfigjson"
        assert secret["metadata"]["labels"]["devenv.environment"] == "feat-x"
        assert secret["metadata"]["labels"]["devenv.managed"] == "true"
        config = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
        assert config["auths"][HOST]["username"] == "AWS" and config["auths"][HOST]["password"] == TOKEN
        assert TOKEN not in json.dumps(secret["metadata"])
    repositories = [o for o in target.kube.applied if o["kind"] == "HelmRepository"]
    assert all(r["spec"]["secretRef"] == {"name": "devenv-registry-credentials"} and "provider" not in r["spec"]
               for r in repositories) and repositories
    assert not any(TOKEN in " ".join(argv) for argv, _ in calls)  # on stdin and in request bodies only
    assert not any(TOKEN in line for line in result.changes)
    assert any(line.startswith(f"registry credentials ({HOST}):") for line in result.changes), result.changes


def test_a_registry_without_credentials_stops_up_before_the_cluster(target, private, docker_config) -> None:
    with pytest.raises(CredentialsMissing) as caught:  # docker-credential-ecr-login is not on PATH
        target.up(private)
    assert f"`docker login {HOST}`" in caught.value.message and "docker-credential-ecr-login" in caught.value.message
    assert not any(argv[:2] in (["kind", "create"], ["flux", "install"]) for argv, _ in target.run.calls)
    assert target.services.retains == []  # the data services were not started either
    assert target.kube.applied == []


def test_a_profile_without_registries_asks_for_no_nodes(target, profile) -> None:  # noqa: F811
    target.up(make_plan("feat-x", profile))
    assert not any(argv[:3] == ["kind", "get", "nodes"] for argv, _ in target.run.calls)
    assert not any(o["metadata"]["name"] == "devenv-registry-credentials" for o in target.kube.applied)


def test_up_dry_run_says_a_registry_has_no_credentials_too(target, private, docker_config) -> None:
    with pytest.raises(CredentialsMissing, match=f"no credentials for the registry {HOST}"):
        target.preview(private)
    assert target.run.calls == [] and target.kube.applied == []


def test_a_credentials_secret_no_source_reads_any_more_is_removed_at_the_next_up(target, profile) -> None:  # noqa: F811
    class Listing(FakeKube):
        deleted: list = []

        def list(self, api_version, kind, *, namespace=None, selector=None):
            if kind != "Secret":
                return super().list(api_version, kind, namespace=namespace, selector=selector)
            assert selector == {"devenv.managed": "true", "devenv.environment": "feat-x"}
            return [{"kind": "Secret", "metadata": {"name": "devenv-registry-credentials", "namespace": "charts"}},
                    {"kind": "Secret", "metadata": {"name": "environment-secrets", "namespace": "flux-system"}}]

        def delete(self, obj, **_):
            self.deleted.append((obj["metadata"]["namespace"], obj["metadata"]["name"]))
            return True

    kube = Listing()
    target.connect = lambda kubeconfig: kube
    result = target.up(make_plan("feat-x", profile))  # the profile lists no registries now
    assert kube.deleted == [("charts", "devenv-registry-credentials")]
    assert "registry credentials: Secret devenv-registry-credentials in charts removed (no source there reads it " \
           "now)" in result.changes
