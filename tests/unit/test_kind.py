"""kind clusters through a recording fake runner (the kind CLI itself is exercised by tests marked `kind`)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from devenv.clients import process
from devenv.errors import CommandFailed, DevenvError, KubeError
from devenv.clients.kind import KindClusters, cluster_config


class FakeRunner:
    """Records argv/stdin and answers from a script of (argv prefix -> stdout, returncode)."""

    def __init__(self, answers: dict[tuple[str, ...], tuple[str, int]]):
        self.answers = answers
        self.calls: list[tuple[list[str], str | None]] = []

    def __call__(self, argv, *, stdin=None, timeout, check=True, **_):
        self.calls.append((list(argv), stdin))
        if list(argv[:3]) == ["kind", "create", "cluster"]:  # kind writes the kubeconfig it is given
            Path(argv[argv.index("--kubeconfig") + 1]).write_text("apiVersion: v1\n")
        for prefix, (out, code) in self.answers.items():
            if tuple(argv[: len(prefix)]) == prefix:
                return process.Result(tuple(argv), code, out, "")
        return process.Result(tuple(argv), 0, "", "")


def test_config_binds_the_api_server_to_loopback_and_labels_the_node() -> None:
    config = yaml.safe_load(cluster_config("feat-x", {"devenv.managed": "true", "devenv.environment": "feat-x"}))
    assert config["name"] == "devenv-feat-x"
    assert config["networking"]["apiServerAddress"] == "127.0.0.1"
    assert config["nodes"][0]["labels"]["devenv.environment"] == "feat-x"


def test_create_passes_the_config_on_stdin_and_keeps_the_kubeconfig_private(tmp_path) -> None:
    runner = FakeRunner({("kind", "get", "clusters"): ("other\ndevenv-old\n", 0)})
    clusters = KindClusters(run=runner, home=tmp_path)

    def fake_create(argv, *, stdin=None, timeout, check=True, **kw):
        if argv[:3] == ["kind", "create", "cluster"]:
            (tmp_path / "kubeconfig" / "feat-x").write_text("apiVersion: v1\n")
        return runner(argv, stdin=stdin, timeout=timeout, check=check, **kw)

    clusters.run = fake_create
    path = clusters.create("feat-x", {"devenv.managed": "true"})
    create = next(argv for argv, _ in runner.calls if argv[:3] == ["kind", "create", "cluster"])
    stdin = next(s for argv, s in runner.calls if argv[:3] == ["kind", "create", "cluster"])
    assert create[create.index("--config") + 1] == "-"
    assert create[create.index("--name") + 1] == "devenv-feat-x"
    assert yaml.safe_load(stdin)["name"] == "devenv-feat-x"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def nodes(*labelled: str, answers: bool = True):
    """The kube seam of KindClusters: a cluster whose API lists these nodes as carrying devenv's label."""

    class Cluster:
        def __init__(self, kubeconfig):
            if not answers:
                raise KubeError("cannot list Node: the API server does not answer")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

        def list(self, api_version, kind, *, namespace=None, selector=None):
            assert (api_version, kind, selector) == ("v1", "Node", {"devenv.managed": "true"})
            return [{"kind": "Node", "metadata": {"name": n}} for n in labelled]

    return Cluster


def test_names_lists_only_devenv_clusters(tmp_path) -> None:
    runner = FakeRunner({("kind", "get", "clusters"): ("kind\ndevenv-a\ndevenv-b-2\nmine\n", 0)})
    assert KindClusters(run=runner, home=tmp_path).names() == ["a", "b-2"]


def test_an_existing_cluster_without_our_node_label_is_refused(tmp_path) -> None:
    runner = FakeRunner({
        ("kind", "get", "clusters"): ("devenv-x\n", 0),
        ("kind", "get", "kubeconfig"): ("apiVersion: v1\n", 0),
    })
    with pytest.raises(DevenvError, match="was not created by devenv"):
        KindClusters(run=runner, home=tmp_path, connect=nodes()).create("x", {})  # no node labelled as ours
    assert not any(argv[:2] == ["kind", "delete"] for argv, _ in runner.calls)


def test_delete_only_existing_clusters(tmp_path) -> None:
    runner = FakeRunner({("kind", "get", "clusters"): ("devenv-x\n", 0),
                         ("kind", "get", "kubeconfig"): ("apiVersion: v1\n", 0)})
    clusters = KindClusters(run=runner, home=tmp_path, connect=nodes("devenv-x-control-plane"))
    assert clusters.delete("y") is False
    assert clusters.delete("x") is True
    # the environment's own kubeconfig: kind takes the cluster's entries out of it, never out of the user's
    assert ["kind", "delete", "cluster", "--name", "devenv-x", "--kubeconfig", str(tmp_path / "kubeconfig" / "x")] \
        in [argv for argv, _ in runner.calls]


def test_delete_refuses_a_foreign_cluster_and_a_cluster_it_cannot_vouch_for(tmp_path) -> None:
    foreign = FakeRunner({
        ("kind", "get", "clusters"): ("devenv-x\n", 0),
        ("kind", "get", "kubeconfig"): ("apiVersion: v1\n", 0),
    })
    with pytest.raises(DevenvError, match="was not created by devenv"):  # the API answers: no node of ours
        KindClusters(run=foreign, home=tmp_path, connect=nodes()).delete("x")
    unreachable = FakeRunner({
        ("kind", "get", "clusters"): ("devenv-x\n", 0),
        ("kind", "get", "kubeconfig"): ("apiVersion: v1\n", 0),
    })
    with pytest.raises(DevenvError, match="cannot tell whether"):  # the API does not answer, no kubeconfig held
        KindClusters(run=unreachable, home=tmp_path, connect=nodes(answers=False)).delete("x")
    for runner in (foreign, unreachable):
        assert not any(argv[:2] == ["kind", "delete"] for argv, _ in runner.calls)


def test_config_maps_http_and_https_to_loopback_only_and_marks_the_node_ingress_ready() -> None:
    node_labels = {"devenv.managed": "true", "devenv.environment": "feat-x"}
    config = yaml.safe_load(cluster_config("feat-x", node_labels, http_port=18080, https_port=18443))
    node = config["nodes"][0]
    assert node["labels"] == {**node_labels, "ingress-ready": "true"}  # devenv's labels kept beside kind's
    assert node["extraPortMappings"] == [
        {"containerPort": 80, "hostPort": 18080, "listenAddress": "127.0.0.1", "protocol": "TCP"},
        {"containerPort": 443, "hostPort": 18443, "listenAddress": "127.0.0.1", "protocol": "TCP"},
    ]


def test_create_passes_the_node_image_and_the_ingress_ports(tmp_path) -> None:
    runner = FakeRunner({})
    KindClusters(run=runner, home=tmp_path).create("feat-x", {}, node_image="kindest/node:v1.31.4",
                                                    http_port=18080, https_port=18443)
    argv, stdin = next((a, s) for a, s in runner.calls if a[:3] == ["kind", "create", "cluster"])
    assert argv[argv.index("--image") + 1] == "kindest/node:v1.31.4"
    assert "--retain" not in argv
    ports = yaml.safe_load(stdin)["nodes"][0]["extraPortMappings"]
    assert [(p["containerPort"], p["hostPort"]) for p in ports] == [(80, 18080), (443, 18443)]


def test_a_retained_failed_create_can_still_be_deleted_by_down(tmp_path) -> None:
    """kind --retain keeps a node it could not finish: no kubeconfig, no API; devenv's marker vouches for it."""
    clusters_seen: list[str] = []

    def kind(argv, *, stdin=None, timeout, check=True, **_):
        if argv[:3] == ["kind", "create", "cluster"]:
            clusters_seen.append("devenv-feat-x")  # the node stays (--retain) though creation fails
            raise CommandFailed("`kind create cluster` failed with exit code 1", returncode=1)
        if argv[:3] == ["kind", "get", "clusters"]:
            return process.Result(tuple(argv), 0, "\n".join(clusters_seen), "")
        if argv[:3] == ["kind", "get", "kubeconfig"]:
            return process.Result(tuple(argv), 1, "", "could not locate any control plane nodes")
        return process.Result(tuple(argv), 0, "", "")

    calls = []
    recording = lambda argv, **kw: (calls.append(list(argv)), kind(argv, **kw))[1]  # noqa: E731
    clusters = KindClusters(run=recording, home=tmp_path, connect=nodes(answers=False))
    with pytest.raises(CommandFailed):
        clusters.create("feat-x", {}, retain=True)
    assert "--retain" in next(a for a in calls if a[:3] == ["kind", "create", "cluster"])
    assert clusters.delete("feat-x") is True  # without the marker: "cannot tell whether ... is devenv's"
    assert ["kind", "delete", "cluster", "--name", "devenv-feat-x",
            "--kubeconfig", str(tmp_path / "kubeconfig" / "feat-x")] in calls
    # the marker went with the cluster: a later devenv-feat-x that does not answer is not vouched for
    with pytest.raises(DevenvError, match="cannot tell whether"):
        clusters.delete("feat-x")


def test_the_local_registry_is_wired_into_the_node_as_kinds_guide_does(tmp_path) -> None:
    runner = FakeRunner({})
    KindClusters(run=runner, home=tmp_path).wire_registry("feat-x", "localhost:5001", "http://devenv-registry:5000")
    assert runner.calls == [
        (["docker", "exec", "devenv-feat-x-control-plane", "mkdir", "-p", "/etc/containerd/certs.d/localhost:5001"],
         None),
        (["docker", "exec", "-i", "devenv-feat-x-control-plane", "cp", "/dev/stdin",
          "/etc/containerd/certs.d/localhost:5001/hosts.toml"], '[host."http://devenv-registry:5000"]\n')]
    config = yaml.safe_load(cluster_config("feat-x", {}))
    assert 'config_path = "/etc/containerd/certs.d"' in config["containerdConfigPatches"][0]


def test_delete_never_lets_kind_edit_the_users_kubeconfig(tmp_path, monkeypatch) -> None:
    """Issue 24: `kind delete cluster` without --kubeconfig edits $KUBECONFIG (or ~/.kube/config) when entries
    of the cluster's name are there. Every delete devenv runs names the environment's own file."""
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "users-config"))
    runner = FakeRunner({("kind", "get", "clusters"): ("devenv-x\n", 0),
                         ("kind", "get", "kubeconfig"): ("apiVersion: v1\n", 0)})
    KindClusters(run=runner, home=tmp_path / "state", connect=nodes("devenv-x-control-plane")).delete("x")
    deletes = [argv for argv, _ in runner.calls if argv[:3] == ["kind", "delete", "cluster"]]
    assert len(deletes) == 1
    assert deletes[0][deletes[0].index("--kubeconfig") + 1] == str(tmp_path / "state" / "kubeconfig" / "x")
