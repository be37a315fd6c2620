"""The kind target's wiring, with fakes at devenv's seams (process runner, the kube seam, the services target,
Docker's kind network); the render is real (kustomize). The fake kube seam rejects label values the API
server rejects; ordering, CRDs, waits and pruning are proven on the lab (tests/integration/test_apply_delivery.py).
The kind CLI itself runs in tests marked `kind`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import re
import socket

import pytest
import yaml

from devenv.lifecycle import environments
from devenv.clients import process
from devenv.clients.docker import free_port
from devenv.errors import CommandFailed, KubeError, PlatformError, PortTaken, ToolMissing
from devenv.domain.facts import Endpoint
from devenv.clients.kind import KindClusters
from devenv.domain.plan import make_plan
from devenv.domain.profiles import load_profile
from devenv import targets
from devenv.targets import ServiceState, UpResult
from devenv.targets.kind import KindTarget

pytestmark = pytest.mark.kustomize


class Recorder:
    """The process seam: records every command; `kind get clusters` answers from `clusters`."""

    def __init__(self, fail_on: tuple[str, ...] | None = None):
        self.calls: list[tuple[list[str], str | None]] = []
        self.clusters: list[str] = []
        self.fail_on = fail_on

    def __call__(self, argv, *, stdin=None, timeout, check=True, **_):
        argv = [str(a) for a in argv]
        self.calls.append((argv, stdin))
        if self.fail_on and self.fail_on == tuple(argv[: len(self.fail_on)]):
            raise CommandFailed(f"`{' '.join(argv)}` failed with exit code 1", command=" ".join(argv), returncode=1)
        if argv[:3] == ["kind", "get", "clusters"]:
            return process.Result(tuple(argv), 0, "\n".join(self.clusters), "")
        if argv[:3] == ["kind", "create", "cluster"]:
            kubeconfig = Path(argv[argv.index("--kubeconfig") + 1])
            kubeconfig.write_text("apiVersion: v1\n")
            self.clusters.append(argv[argv.index("--name") + 1])
        return process.Result(tuple(argv), 0, "", "")



# Kubernetes' own rule (k8s.io/apimachinery validation.IsValidLabelValue), written out here independently.
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


class FakeKube:
    """The kube seam: stores what is applied, refusing label values the API server refuses (422)."""

    def __init__(self, kubeconfig=None, flux: bool = False):
        self.applied: list[dict] = []
        self.flux = flux

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def check_version(self):
        return None

    def list(self, api_version, kind, *, namespace=None, selector=None):  # the node of a cluster this fake made
        return [{"kind": "Node", "metadata": {"name": "devenv-feat-x-control-plane"}}] if kind == "Node" else []

    def apply(self, obj, *, force=False, dry_run=False, **_):
        for key, value in (obj["metadata"].get("labels") or {}).items():
            if len(value) > 63 or not LABEL_VALUE.match(value):
                raise KubeError(f"cannot apply {obj['kind']}: metadata.labels: Invalid value: {value!r} (Invalid 422)")
        self.applied.append(obj)
        return {**obj, "metadata": {**obj["metadata"], "resourceVersion": "1"}}

    def get(self, obj, missing_ok=True):
        return None

    def status(self, obj):
        return ("Current", "") if self.flux else ("NotFound", "not found")

    def wait(self, objects, *, timeout, what=""):
        pass


class FakeNetwork:
    def __init__(self):
        self.containers: list = []
        self.connected: list[tuple[str, list[str]]] = []

    def reload(self):
        pass

    def connect(self, container, aliases):
        self.connected.append((container, aliases))


class FakeServices:
    """The services seam: what DockerTarget.up returns, without Docker."""

    def __init__(self):
        self.network = FakeNetwork()
        self.client = type("Client", (), {"networks": type("Networks", (), {"get": lambda _, name: self.network})()})()
        self.downs: list[str] = []
        self.removed_runs: list[tuple[str, str]] = []
        self.retains: list[bool] = []

    def up(self, plan, progress, *, retain=False):  # DockerTarget.up's signature
        self.retains.append(retain)
        db = plan.service("db")
        facts = {"host": "127.0.0.1", "port": "33061", "user": "orders", "password": "s3cret-generated",
                 "database": "orders", "url": "mysql://orders@127.0.0.1:33061/orders"}
        return UpResult(services=(ServiceState(name="db", type="mariadb", container=db.container, container_id="c1",
                                               state="running", health="ready", endpoint=Endpoint("127.0.0.1", 33061),
                                               facts=facts),), changes=("db: created",))

    def down(self, environment, *, keep_data=False, dry_run=False):  # DockerTarget.down's signature
        self.downs.append(environment)
        return []

    def remove_run(self, environment, run):
        self.removed_runs.append((environment, run))
        return []

    def status(self, environment, *, probe=True):  # DockerTarget.status: nothing labelled (no Docker here)
        return None


def _free_ports(profile):
    """The profile with ingress host ports nothing listens on (its 8080/8443 may be in use on this machine)."""
    http = free_port("127.0.0.1")
    return replace(profile, kind=replace(profile.kind, http_port=http, https_port=free_port("127.0.0.1", {http}),
                                         ports_pinned=True))


@pytest.fixture
def profile(tmp_path):
    text = (Path(__file__).parents[2] / "profiles" / "local.yaml").read_text()
    # MariaDB only; OpenSearch's endpoint as a literal (its image is not needed to test the wiring)
    text = text.replace("  search:\n    type: opensearch\n    version: \"2\"\n    heap: 512m\n"
                        "    seed: [seed/catalog.json, seed/catalog.ndjson]\n", "")
    text = text.replace('"{services.search.url}"', "http://search.invalid:9200")
    # delivery `apply`: devenv's own apply path, through the fake kube (delivery `flux` is proven on the lab)
    text = text.replace("delivery: flux\n", "delivery: apply\n")
    path = tmp_path / "profiles" / "kindtest.yaml"
    path.parent.mkdir()
    (path.parent / "seed").symlink_to(Path(__file__).parents[2] / "profiles" / "seed")
    path.write_text(text)
    return _free_ports(load_profile(path))


@pytest.fixture
def target(tmp_path, monkeypatch):
    monkeypatch.setattr(process, "which", lambda tool: f"/usr/bin/{tool}")
    runner = Recorder()
    kube = FakeKube()
    target = KindTarget(services=FakeServices(), clusters=KindClusters(run=runner, home=tmp_path / "state", connect=lambda _: kube), run=runner,
                        connect=lambda kubeconfig: kube)
    target.kube = kube
    return target


def test_up_creates_the_cluster_writes_the_environment_and_applies_in_dependency_order(target, profile) -> None:
    plan = make_plan("feat-x", profile)
    result = target.up(plan)
    runner: Recorder = target.run
    assert any(argv[:3] == ["kind", "create", "cluster"] for argv, _ in runner.calls)
    applied = target.kube.applied
    config = next(o for o in applied if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "environment")
    assert config["data"]["RDS_ENDPOINT"] == "devenv-feat-x-db"  # the container, as pods on the kind network see it
    assert config["data"]["RDS_PORT"] == "3306"
    secret = next(o for o in applied if o["kind"] == "Secret" and o["metadata"]["name"] == "environment-secrets")
    assert secret["stringData"]["RDS_PASSWORD"] == "s3cret-generated"  # the real generated password, not a placeholder
    order = [line for line in result.changes if line.startswith("Kustomization")]
    assert [line.split()[1].rstrip(":") for line in order] == [
        "flux-system/infra-controllers", "flux-system/infra-configs", "flux-system/apps"]
    assert not any(o.get("kind") == "TargetGroupBinding" for o in applied)  # AWS-only left out
    assert any(argv[:2] == ["flux", "install"] for argv, _ in runner.calls)  # HelmReleases need helm-controller
    assert target.services.network.connected == [("devenv-feat-x-db", ["devenv-feat-x-db"]),
                                                  ("devenv-feat-x-aws", ["devenv-feat-x-aws"])]  # local's aws service
    # the profile's path cannot be a label value: it travels as an annotation
    assert config["metadata"]["annotations"]["devenv.profile-path"] == str(profile.path)
    assert "devenv.profile-path" not in config["metadata"]["labels"]
    assert config["metadata"]["labels"]["devenv.environment"] == "feat-x"


def test_flux_is_not_installed_when_the_cluster_already_serves_its_kinds(target, profile) -> None:
    target.kube.flux = True
    target.up(make_plan("feat-x", profile))
    assert not any(argv[:2] == ["flux", "install"] for argv, _ in target.run.calls)


def test_a_dependson_cycle_in_the_platform_creates_nothing(target, profile) -> None:
    broken = Path(__file__).parents[1] / "data" / "platforms" / "broken" / "cycle"
    plan = make_plan("feat-x", replace(profile, mirror="clusters/dev"), platform=broken)
    with pytest.raises(PlatformError, match="cycle"):
        target.up(plan)
    assert not any(argv[:2] == ["kind", "create"] for argv, _ in target.run.calls)


def assert_cluster_deleted(target, environment: str) -> None:
    """kind deleted the environment's cluster with the environment's own kubeconfig, never the user's."""
    deletes = [argv for argv, _ in target.run.calls if argv[:3] == ["kind", "delete", "cluster"]]
    assert deletes == [["kind", "delete", "cluster", "--name", f"devenv-{environment}",
                        "--kubeconfig", str(target.clusters.kubeconfig(environment))]]


def test_missing_kind_is_reported_before_anything_is_created(target, profile, monkeypatch) -> None:
    monkeypatch.setattr(process, "which", lambda tool: None if tool == "kind" else f"/usr/bin/{tool}")
    with pytest.raises(ToolMissing, match="kind is not installed"):
        target.up(make_plan("feat-x", profile))
    assert target.run.calls == []


def test_down_deletes_the_cluster_and_the_services(target, profile) -> None:
    target.up(make_plan("feat-x", profile))
    removed = target.down("feat-x")
    assert removed[0] == "kind cluster devenv-feat-x"
    assert_cluster_deleted(target, "feat-x")
    assert target.services.downs == ["feat-x"]


def test_a_failure_after_the_cluster_is_up_removes_what_this_run_made(target, profile) -> None:
    target.run.fail_on = ("flux", "install")
    plan = make_plan("feat-x", profile)
    with pytest.raises(CommandFailed):
        target.up(plan)
    assert_cluster_deleted(target, "feat-x")
    assert target.services.removed_runs == [("feat-x", plan.labels["devenv.run"])]  # this run only, not `down`
    assert target.services.downs == []


def test_the_generated_password_is_never_on_a_command_line(target, profile) -> None:
    target.up(make_plan("feat-x", profile))
    assert target.kube.applied  # the Secret went through the kube seam, in a request body
    assert not any("s3cret-generated" in " ".join(argv) + (stdin or "") for argv, stdin in target.run.calls)


def test_a_cluster_that_refuses_the_delivery_rolls_back_this_run(target, profile) -> None:
    def refuse(kubeconfig):
        raise KubeError("cannot read the server version: the API server does not answer")

    target.connect = refuse
    plan = make_plan("feat-x", profile)
    with pytest.raises(KubeError):
        target.up(plan)
    assert_cluster_deleted(target, "feat-x")
    assert target.services.removed_runs == [("feat-x", plan.labels["devenv.run"])]


def test_the_cluster_is_created_with_the_profiles_node_image_and_ingress_ports(target, profile) -> None:
    profile = replace(profile, kind=replace(profile.kind, node_image="kindest/node:v1.31.4"))
    target.up(make_plan("feat-x", profile))
    argv, stdin = next((a, s) for a, s in target.run.calls if a[:3] == ["kind", "create", "cluster"])
    assert argv[argv.index("--image") + 1] == "kindest/node:v1.31.4"
    node = yaml.safe_load(stdin)["nodes"][0]
    assert [(p["containerPort"], p["hostPort"], p["listenAddress"]) for p in node["extraPortMappings"]] == [
        (80, profile.kind.http_port, "127.0.0.1"), (443, profile.kind.https_port, "127.0.0.1")]
    assert node["labels"]["ingress-ready"] == "true" and node["labels"]["devenv.environment"] == "feat-x"


def test_the_default_node_image_is_pinned(target, profile) -> None:
    target.up(make_plan("feat-x", profile))
    argv = next(a for a, _ in target.run.calls if a[:3] == ["kind", "create", "cluster"])
    assert argv[argv.index("--image") + 1] == "kindest/node:v1.32.2"


@pytest.mark.parametrize("field", ["http", "https"])
def test_a_taken_ingress_port_the_profile_does_not_pin_is_replaced_by_a_free_one(target, profile, field) -> None:
    with socket.socket() as holder:  # another environment's cluster holds the default port
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        profile = replace(profile, kind=replace(profile.kind, ports_pinned=False, **{f"{field}_port": taken}))
        target.up(make_plan("feat-x", profile))
    _, stdin = next((a, s) for a, s in target.run.calls if a[:3] == ["kind", "create", "cluster"])
    ports = {p["containerPort"]: p["hostPort"] for p in yaml.safe_load(stdin)["nodes"][0]["extraPortMappings"]}
    chosen = ports[80 if field == "http" else 443]
    assert chosen != taken and len(set(ports.values())) == 2


@pytest.mark.parametrize("field", ["http", "https"])
def test_a_taken_ingress_port_the_profile_pins_stops_up_before_anything_is_created(target, profile, field) -> None:
    with socket.socket() as holder:  # a real listener: the check binds 127.0.0.1 as kind's port mapping would
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        profile = replace(profile, kind=replace(profile.kind, ports_pinned=True, **{f"{field}_port": taken}))
        with pytest.raises(PortTaken) as stopped:
            target.up(make_plan("feat-x", profile))
    assert f"port {taken} on 127.0.0.1" in stopped.value.message
    assert f"kind.ingress.{field} of profile {profile.path}" in stopped.value.message
    assert not any(a[:2] == ["kind", "create"] for a, _ in target.run.calls)
    assert target.services.retains == []  # no container either


def test_an_existing_cluster_keeps_its_ports_without_a_check(target, profile) -> None:
    with socket.socket() as holder:  # the existing cluster itself holds its ingress port
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        profile = replace(profile, kind=replace(profile.kind, http_port=holder.getsockname()[1]))
        target.run.clusters.append("devenv-feat-x")
        target.clusters.kubeconfig("feat-x").parent.mkdir(parents=True)
        target.clusters.kubeconfig("feat-x").write_text("apiVersion: v1\n")
        target.up(make_plan("feat-x", profile))
    assert not any(a[:2] == ["kind", "create"] for a, _ in target.run.calls)


def test_retain_keeps_the_cluster_and_the_containers_of_a_failed_up_and_says_how_to_remove_them(target, profile) -> None:
    target.run.fail_on = ("flux", "install")
    plan = make_plan("feat-x", profile)
    with pytest.raises(CommandFailed) as failed:
        target.up(plan, retain=True)
    calls = [a for a, _ in target.run.calls]
    assert "--retain" in next(a for a in calls if a[:3] == ["kind", "create", "cluster"])
    assert not any(a[:2] == ["kind", "delete"] for a in calls)
    assert target.services.removed_runs == [] and target.services.retains == [True]
    assert "--retain kept this run's containers and kind cluster devenv-feat-x" in failed.value.hint
    assert failed.value.hint.endswith("`devenv down feat-x` removes it all")


def test_without_retain_the_create_is_not_retained(target, profile) -> None:
    target.up(make_plan("feat-x", profile))
    assert "--retain" not in next(a for a, _ in target.run.calls if a[:3] == ["kind", "create", "cluster"])
    assert target.services.retains == [False]


def test_down_removes_the_context_up_merged_and_says_so(target, profile, tmp_path) -> None:
    from test_kubeconfig import USERS_OWN, kind_kubeconfig

    target.up(make_plan("feat-x", profile))
    target.clusters.kubeconfig("feat-x").write_text(kind_kubeconfig("feat-x"))  # as kind writes it
    users = tmp_path / "kube-config"
    users.write_text(USERS_OWN)
    target.clusters.merge_kubeconfig("feat-x", into=users)
    assert target.down("feat-x", dry_run=True)[1] == f"kubeconfig context kind-devenv-feat-x (its cluster and user too) in {users}"
    assert "kind-devenv-feat-x" in users.read_text()  # a dry run changes nothing
    removed = target.down("feat-x")
    assert removed[:2] == ["kind cluster devenv-feat-x",
                           f"kubeconfig context kind-devenv-feat-x (its cluster and user too) in {users}"]
    assert "kind-devenv-feat-x" not in users.read_text() and "keep-me" in users.read_text()


def test_the_dry_run_plan_shows_the_node_image_and_the_ingress_ports(profile) -> None:
    shown = make_plan("feat-x", profile).to_dict()["kind"]
    assert shown == {"nodeImage": "kindest/node:v1.32.2",
                     "ingress": {"http": profile.kind.http_port, "https": profile.kind.https_port, "bind": "127.0.0.1"}}


@pytest.fixture
def lifecycle(target, tmp_path, monkeypatch):
    """environments.up with this module's KindTarget (its fakes at the seams) as the kind target, and the
    state, lock and home folders in tmp_path."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    target.clusters.home = tmp_path / "devenv"  # where the kind target keeps its kubeconfig files (state_dir())
    monkeypatch.setattr(targets, "target_for", lambda name: target)
    return environments


def test_environments_up_retain_reaches_the_target(lifecycle, target, profile) -> None:
    target.run.fail_on = ("flux", "install")
    with pytest.raises(CommandFailed) as failed:
        lifecycle.up("feat-x", profile, retain=True)
    assert not any(a[:2] == ["kind", "delete"] for a, _ in target.run.calls)
    assert "`devenv down feat-x` removes it all" in failed.value.hint


def test_environments_up_merges_the_kubeconfig_only_when_asked(lifecycle, target, profile, tmp_path) -> None:
    from test_kubeconfig import kind_kubeconfig

    users = tmp_path / "home" / ".kube" / "config"
    original = target.run.__call__

    def kind_writes_a_real_kubeconfig(argv, **kw):
        result = original(argv, **kw)
        if list(argv[:3]) == ["kind", "create", "cluster"]:
            Path(argv[argv.index("--kubeconfig") + 1]).write_text(kind_kubeconfig("feat-x"))
        if list(argv[:3]) == ["kind", "get", "kubeconfig"]:  # a found cluster's, as kind prints it
            return process.Result(tuple(argv), 0, kind_kubeconfig("feat-x"), "")
        return result

    target.clusters.run = kind_writes_a_real_kubeconfig
    env = lifecycle.up("feat-x", profile)
    assert env.kubeconfig == str(tmp_path / "devenv" / "kubeconfig" / "feat-x")
    assert not users.exists()  # never without the flag
    env = lifecycle.up("feat-x", profile, merge_kubeconfig=True)
    assert f"kubeconfig: context kind-devenv-feat-x merged into {users} (kubectl --context kind-devenv-feat-x)" \
        in env.changes
    assert "kind-devenv-feat-x" in users.read_text()
    removed = lifecycle.down("feat-x")
    assert f"kubeconfig context kind-devenv-feat-x (its cluster and user too) in {users}" in removed
    assert "kind-devenv-feat-x" not in users.read_text()
