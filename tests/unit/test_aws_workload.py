"""The `aws` stand-in of a namespace environment as Kubernetes objects (a Deployment, its Service, the seed Secret
and the start script's ConfigMap, a checksum that rolls it when the seed changes), its seed built from the
in-cluster facts with the environment's real passwords, and the pod's script itself against moto in a thread:
it seeds Secrets Manager from the mounted file, and its readiness check passes only once every secret is there."""

from __future__ import annotations

import json
import socket
import pytest

from devenv.domain import labels
from devenv.domain.profile_secrets import SecretSpec
from devenv.domain.profiles import NamespaceSpec, load_profile
from devenv.services import aws_pod
from devenv.services.aws import namespace_seed
from devenv.services.workloads import AWS_SCRIPT, Workload, objects

import moto.server as moto_server  # noqa: E402 - a test dependency (pyproject [test]): missing is an error

TAGS = {labels.MANAGED: "true", labels.ENVIRONMENT: "feat-x", labels.PROFILE: "branch", labels.TARGET: "namespace"}


def _aws(profile):
    return next(s for s in profile.services if s.type == "aws")


@pytest.fixture(scope="module")
def branch():
    profile = load_profile("branch")  # the built-in profile: MariaDB, OpenSearch, aws, and ledger's RDS secret
    assert profile.secrets == (SecretSpec(name="shop/ledger/db", from_service="db"),)
    return profile


def _by_kind(found: list[dict]) -> dict[str, dict]:
    return {o["kind"]: o for o in found}


def test_the_stand_in_is_a_deployment_with_its_seed_script_service_and_a_real_probe(branch) -> None:
    spec = _aws(branch)
    found = objects(spec, "devenv-feat-x", TAGS, "moto:test", NamespaceSpec(), seed={"a/b": "v"})
    assert [o["kind"] for o in found] == ["Secret", "ConfigMap", "Service", "Deployment"]
    got = _by_kind(found)
    assert json.loads(got["Secret"]["stringData"]["secrets.json"]) == {"a/b": "v"}
    assert got["ConfigMap"]["data"] == {"start.py": AWS_SCRIPT.read_text()}
    assert got["Service"]["spec"]["ports"][0]["port"] == 5000
    deployment = got["Deployment"]
    assert deployment["metadata"] | {"labels": None} == {"name": "aws", "namespace": "devenv-feat-x", "labels": None}
    assert deployment["metadata"]["labels"][labels.SERVICE_TYPE] == "aws"
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert "volumeClaimTemplates" not in deployment["spec"]  # moto's state lives in memory
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"] == ["python3", "/opt/devenv-aws/start.py"]
    assert container["readinessProbe"]["exec"]["command"] == ["python3", "/opt/devenv-aws/start.py", "ready"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["DEVENV_AWS_SEED"] == "/etc/devenv-aws/secrets.json" and env["DEVENV_ENVIRONMENT"] == "feat-x"
    assert pod["securityContext"]["runAsNonRoot"] is True  # Pod Security restricted (checked on a real cluster)
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert {v["name"]: v.get("secret", v.get("configMap")) for v in pod["volumes"]} == {
        "start": {"name": "aws-start"}, "seed": {"secretName": "aws-seed"}}
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert got["Service"]["spec"]["selector"] == selector
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert Workload("aws", "devenv-feat-x").controller("aws")["kind"] == "Deployment"
    assert Workload("db", "devenv-feat-x").controller("mariadb")["kind"] == "StatefulSet"


def test_a_changed_seed_rolls_the_pod_and_an_unchanged_one_does_not(branch) -> None:
    def checksum(seed) -> str:
        found = _by_kind(objects(_aws(branch), "ns", TAGS, "moto:test", NamespaceSpec(), seed=seed))
        return found["Deployment"]["spec"]["template"]["metadata"]["annotations"][labels.CONFIG_HASH]

    assert checksum({"a": "1"}) == checksum({"a": "1"})
    assert checksum({"a": "1"}) != checksum({"a": "2"})
    assert checksum({"a": "1"}) != checksum({"a": "1", "b": "1"})
    assert len(checksum({"a": "1"})) == 32


def test_the_seed_holds_the_in_cluster_facts_and_the_real_password(branch) -> None:
    credentials = {"db": {"password": "the-real-one", "root_password": "r"}, "search": {}, "aws": {"seed": "k"}}
    seed = namespace_seed(branch, "feat-x", "devenv-feat-x", "aws", credentials)
    assert json.loads(seed["shop/ledger/db"]) == {
        "username": "orders", "password": "the-real-one", "host": "db.devenv-feat-x.svc.cluster.local",
        "port": 3306, "dbname": "orders", "engine": "mariadb"}


@pytest.fixture
def moto(monkeypatch, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    monkeypatch.setattr(aws_pod, "PORT", port)
    monkeypatch.setattr(aws_pod, "SEED", str(tmp_path / "secrets.json"))
    for key, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "devenv-local",
                       "AWS_SECRET_ACCESS_KEY": "devenv-local-secret"}.items():
        monkeypatch.setenv(key, value)
    yield tmp_path / "secrets.json"
    server.stop()


def test_the_pods_script_seeds_and_is_ready_only_with_every_secret(moto, capsys) -> None:
    moto.write_text(json.dumps({"shop/ledger/db": '{"password": "p"}', "other": "x"}))
    assert aws_pod.ready() == 1
    assert "not seeded yet: other, shop/ledger/db" in capsys.readouterr().out
    sm = aws_pod.client()
    aws_pod.seed(sm, {"shop/ledger/db": '{"password": "p"}'}, "feat-x")
    assert aws_pod.ready() == 1
    assert "not seeded yet: other" in capsys.readouterr().out
    aws_pod.seed(sm, {"other": "x"}, "feat-x")
    assert aws_pod.ready() == 0
    assert sm.get_secret_value(SecretId="shop/ledger/db")["SecretString"] == '{"password": "p"}'
    tags = {t["Key"]: t["Value"] for t in sm.describe_secret(SecretId="other")["Tags"]}
    assert tags == {"devenv.managed": "true", "devenv.environment": "feat-x"}  # what `status` lists on other targets


def test_the_probe_fails_when_nothing_answers(monkeypatch, tmp_path, capsys) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(aws_pod, "PORT", port)
    monkeypatch.setattr(aws_pod, "SEED", str(tmp_path / "secrets.json"))
    (tmp_path / "secrets.json").write_text("{}")
    for key, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "devenv-local",
                       "AWS_SECRET_ACCESS_KEY": "devenv-local-secret"}.items():
        monkeypatch.setenv(key, value)
    assert aws_pod.ready() == 1
    assert "ListSecrets: EndpointConnectionError" in capsys.readouterr().out


def test_up_dry_run_lists_the_stand_in_with_its_seed_masked(branch, tmp_path, monkeypatch) -> None:
    from devenv.domain.plan import make_plan
    from devenv.targets.namespace import NamespaceTarget

    monkeypatch.setenv("DEVENV_CONTEXTS", "dev-eks")
    monkeypatch.setenv("DEVENV_REGISTRY", "registry.example:5000")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    made = NamespaceTarget().objects(make_plan("x", branch, context="dev-eks"))
    kinds = {(o["kind"], o["metadata"]["name"]) for o in made}
    assert {("Deployment", "aws"), ("Service", "aws"), ("Secret", "aws-seed"), ("ConfigMap", "aws-start"),
            ("Secret", "aws-credentials")} <= kinds
    assert ("StatefulSet", "aws") not in kinds
    seed = next(o for o in made if o["kind"] == "Secret" and o["metadata"]["name"] == "aws-seed")
    assert json.loads(seed["stringData"]["secrets.json"]) == {"shop/ledger/db": "********"}  # names only
    config = next(o for o in made if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "environment")
    assert config["data"]["AWS_ENDPOINT_URL"] == "http://aws.devenv-x.svc.cluster.local:5000"


def test_only_the_stand_ins_pod_runs_as_the_non_root_user(branch) -> None:
    db = next(s for s in branch.services if s.name == "db")
    statefulset = next(o for o in objects(db, "ns", TAGS, "mariadb:10.11", NamespaceSpec()) if o["kind"] == "StatefulSet")
    assert "securityContext" not in statefulset["spec"]["template"]["spec"]  # the image's entry point starts as root
