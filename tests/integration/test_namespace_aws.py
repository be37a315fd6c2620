"""The `aws` stand-in on the namespace target, on the lab's locked-down shared cluster: `devenv up --profile branch`
runs it as a Deployment with a Service in the branch namespace (no StatefulSet, no volume), its Secrets Manager
seed in a Secret holding the RDS-style secret of the environment's own MariaDB as the namespace's pods reach it;
the `environment` ConfigMap/Secret carry AWS_ENDPOINT_URL (the in-cluster Service), the Secrets Manager endpoint,
both region variables and the local access key; the Deployments of the embedded platform whose ServiceAccount had
an IRSA role (ledger, orders) are delivered by the lab's Flux exactly as devenv renders them, the SDK variables
included; a changed seed rolls the stand-in's pod template, an unchanged re-`up` does not; `down` leaves nothing.

KWOK's nodes run no containers: the pods are Ready when scheduled, so the stand-in's start script and readiness
probe are proven on real containers in tests/integration/test_aws_pod.py, not here."""

from __future__ import annotations

import base64
import json

import pytest
from it_helpers import at, leaves
from test_namespace_target import lab, up, wait_gone  # noqa: F401 - `lab` is the fixture

from devenv.domain import labels
from devenv.domain.profiles import load_profile

pytestmark = [pytest.mark.cluster, pytest.mark.flux, pytest.mark.kustomize, pytest.mark.timeout(900)]
AWS_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_REGION", "AWS_DEFAULT_REGION",
                 "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def _decoded(secret: dict) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


def _checksum(lab, ns: str) -> str:
    return lab.get("deployment", "aws", "-n", ns)["spec"]["template"]["metadata"]["annotations"][labels.CONFIG_HASH]


def test_the_stand_in_runs_as_a_deployment_and_irsa_workloads_are_delivered_as_rendered(lab) -> None:
    from devenv.flux.render import render_environment

    lab.volumes(3)
    name = lab.name("aws")
    ns = f"devenv-{name}"
    profile = lab.profile()
    up(lab, name, profile)

    # the stand-in: a Deployment and its Service, Available; nothing of it as a StatefulSet
    deployment = lab.get("deployment", "aws", "-n", ns)
    assert deployment["metadata"]["labels"][labels.SERVICE_TYPE] == "aws"
    assert {c["type"]: c["status"] for c in deployment["status"]["conditions"]}["Available"] == "True"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["containers"][0]["readinessProbe"]["exec"]["command"][-1] == "ready"
    assert lab.kubectl("get", "statefulset", "aws", "-n", ns, check=False).returncode != 0
    service = lab.get("service", "aws", "-n", ns)
    assert service["spec"]["ports"][0]["port"] == 5000
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()

    # its seed: the RDS-style secret of this environment's MariaDB, as the namespace's pods reach it
    password = _decoded(lab.get("secret", "db-credentials", "-n", ns))["password"]
    seed = json.loads(_decoded(lab.get("secret", "aws-seed", "-n", ns))["secrets.json"])
    assert json.loads(seed["shop/ledger/db"]) == {
        "username": "orders", "password": password, "host": f"db.{ns}.svc.cluster.local", "port": 3306,
        "dbname": "orders", "engine": "mariadb"}
    assert lab.get("configmap", "aws-start", "-n", ns)["data"]["start.py"].startswith('"""The script the `aws`')

    # the environment's values point an AWS SDK at the in-cluster Service
    url = f"http://aws.{ns}.svc.cluster.local:5000"
    config = lab.get("configmap", "environment", "-n", ns)["data"]
    assert {k: config[k] for k in AWS_VARIABLES[:5]} == {
        "AWS_ENDPOINT_URL": url, "AWS_ENDPOINT_URL_SECRETS_MANAGER": url, "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "devenv-local"}
    assert _decoded(lab.get("secret", "environment-secrets", "-n", ns))["AWS_SECRET_ACCESS_KEY"] == "devenv-local-secret"

    # the IRSA workloads: delivered by Flux exactly as devenv renders them, the SDK variables included
    rendered = render_environment(load_profile(profile), name, namespace=ns)
    for workload in ("ledger", "orders"):
        mine = next(r for _, r in rendered.resources() if r["kind"] == "Deployment"
                    and r["metadata"]["name"] == workload)
        live = lab.get("deployment", workload, "-n", ns)
        assert live["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == "apps"  # Flux applied it
        spec = mine["spec"]["template"]["spec"]
        different = [(path, value, at(live["spec"]["template"]["spec"], path)) for path, value in leaves(spec)
                     if at(live["spec"]["template"]["spec"], path) != value]
        assert different == [], (workload, different)
        for container in spec.get("initContainers", []) + spec["containers"]:
            env = {e["name"]: e.get("value") for e in container["env"]}
            assert env["AWS_ENDPOINT_URL_SECRETS_MANAGER"] == url and set(AWS_VARIABLES) <= set(env), workload
    assert "eks.amazonaws.com/role-arn" not in (lab.get("serviceaccount", "ledger", "-n", ns)["metadata"]
                                                .get("annotations") or {})

    # converged on re-up: unchanged, the pod template stays; a secret added to the profile rolls it
    before = _checksum(lab, ns)
    up(lab, name, profile)
    assert _checksum(lab, ns) == before
    changed = lab.profile(lambda text: text.replace("  shop/ledger/db: {fromService: db}\n",
                                                    "  shop/ledger/db: {fromService: db}\n"
                                                    "  shop/ledger/token: {generate: password}\n"))
    up(lab, name, changed)
    assert _checksum(lab, ns) != before
    assert set(json.loads(_decoded(lab.get("secret", "aws-seed", "-n", ns))["secrets.json"])) == {
        "shop/ledger/db", "shop/ledger/token"}

    down = lab.devenv("down", name, timeout=300)
    assert down.returncode == 0, down.stderr
    wait_gone(lab, "namespace", ns)
    assert lab.left() == []
