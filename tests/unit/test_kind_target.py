"""The kind target's wiring, with fakes at devenv's seams (process runner, the kube seam, the services target,
Docker's kind network); the render is real (kustomize). The fake kube seam rejects label values the API
server rejects; ordering, CRDs, waits and pruning are proven on the lab (tests/integration/test_apply_delivery.py).
The kind CLI itself runs in tests marked `kind`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import re

import pytest

from devenv import process
from devenv.errors import CommandFailed, KubeError, PlatformError, ToolMissing
from devenv.facts import Endpoint
from devenv.kind import KindClusters
from devenv.plan import make_plan
from devenv.profiles import load_profile
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

    def up(self, plan, progress):
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


@pytest.fixture
def profile(tmp_path):
    text = (Path(__file__).parents[2] / "profiles" / "local.yaml").read_text()
    # MariaDB only; OpenSearch's endpoint as a literal (its image is not needed to test the wiring)
    text = text.replace("  search:\n    type: opensearch\n    version: \"2\"\n    heap: 512m\n"
                        "    seed: [seed/catalog.json, seed/catalog.ndjson]\n", "")
    text = text.replace('"{services.search.url}"', "http://search.invalid:9200")
    path = tmp_path / "profiles" / "kindtest.yaml"
    path.parent.mkdir()
    (path.parent / "seed").symlink_to(Path(__file__).parents[2] / "profiles" / "seed")
    path.write_text(text)
    return load_profile(path)


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
    assert target.services.network.connected == [("devenv-feat-x-db", ["devenv-feat-x-db"])]
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


def test_missing_kind_is_reported_before_anything_is_created(target, profile, monkeypatch) -> None:
    monkeypatch.setattr(process, "which", lambda tool: None if tool == "kind" else f"/usr/bin/{tool}")
    with pytest.raises(ToolMissing, match="kind is not installed"):
        target.up(make_plan("feat-x", profile))
    assert target.run.calls == []


def test_down_deletes_the_cluster_and_the_services(target, profile) -> None:
    target.up(make_plan("feat-x", profile))
    removed = target.down("feat-x")
    assert removed[0] == "kind cluster devenv-feat-x"
    assert ["kind", "delete", "cluster", "--name", "devenv-feat-x"] in [argv for argv, _ in target.run.calls]
    assert target.services.downs == ["feat-x"]


def test_a_failure_after_the_cluster_is_up_removes_what_this_run_made(target, profile) -> None:
    target.run.fail_on = ("flux", "install")
    plan = make_plan("feat-x", profile)
    with pytest.raises(CommandFailed):
        target.up(plan)
    assert ["kind", "delete", "cluster", "--name", "devenv-feat-x"] in [argv for argv, _ in target.run.calls]
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
    assert ["kind", "delete", "cluster", "--name", "devenv-feat-x"] in [argv for argv, _ in target.run.calls]
    assert target.services.removed_runs == [("feat-x", plan.labels["devenv.run"])]
