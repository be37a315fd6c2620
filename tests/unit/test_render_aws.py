"""The IRSA adaptation: with an `aws` service in the profile, every workload whose ServiceAccount carried an IRSA
role annotation gets the AWS SDK variables of the local stand-in, as the cluster reaches it (the embedded
platform's orders Deployment); without one, nothing is added; `render --explain`'s adaptations say so."""

from __future__ import annotations

from dataclasses import replace

import pytest
from conftest import find

from devenv.flux import adapt


pytestmark = pytest.mark.kustomize

AWS_VARIABLES = ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_REGION", "AWS_DEFAULT_REGION",
                 "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]


def test_an_irsa_workload_reaches_the_stand_in(components_render) -> None:
    result = components_render  # the local profile declares an aws service
    orders = find(result, "Deployment", "orders")
    env = {e["name"]: e.get("value") for e in orders["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert {k: env[k] for k in AWS_VARIABLES} == {
        "AWS_ENDPOINT_URL": "http://devenv-demo-aws:5000", "AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://devenv-demo-aws:5000",
        "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "devenv-local",
        "AWS_SECRET_ACCESS_KEY": "devenv-local-secret"}
    said = [a.change for a in result.adapted if a.kind == "Deployment" and a.name == "orders"]
    assert any("AWS_ENDPOINT_URL" in c and "ServiceAccount orders's IRSA role" in c for c in said), said
    assert result.environment_configmap["data"]["AWS_ENDPOINT_URL"] == "http://devenv-demo-aws:5000"


def test_the_embedded_ledger_reads_its_rds_secret_through_the_stand_in(components_render, local_profile) -> None:
    """ledger's init container asks Secrets Manager for the secret the local profile seeds from its MariaDB
    service, with nothing but the SDK's variables that the adaptation gave it."""
    ledger = find(components_render, "Deployment", "ledger")["spec"]["template"]["spec"]
    init = ledger["initContainers"][0]
    env = {e["name"]: e.get("value") for e in init["env"]}
    assert env["AWS_ENDPOINT_URL_SECRETS_MANAGER"] == "http://devenv-demo-aws:5000"
    assert env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert ledger["serviceAccountName"] == "ledger"
    declared = {s.name: s.from_service for s in local_profile.secrets}
    assert declared == {env["DB_SECRET_ID"]: "db"}
    sa = find(components_render, "ServiceAccount", "ledger")
    assert "eks.amazonaws.com/role-arn" not in (sa["metadata"].get("annotations") or {})


def test_without_a_stand_in_nothing_is_added(local_profile) -> None:
    from devenv.flux.render import render_environment

    profile = replace(local_profile, services=tuple(s for s in local_profile.services if s.type != "aws"), secrets=())
    result = render_environment(profile, "demo")
    for name in ("orders", "ledger"):
        spec = find(result, "Deployment", name)["spec"]["template"]["spec"]
        for container in spec.get("initContainers", []) + spec["containers"]:
            assert not {e["name"] for e in container.get("env") or []} & set(AWS_VARIABLES), name
    assert not [a for a in result.adapted if a.kind == "Deployment"]


def _adapter(accounts, **kw):
    return adapt.Adapter(ingress_class="nginx", storage_class="standard", aws_storage=set(),
                         excluded_kustomizations=set(), excluded_objects=set(), irsa_accounts=accounts,
                         aws_env={"AWS_ENDPOINT_URL": "http://aws:5000", "AWS_REGION": "us-east-1"}, **kw)


def _cronjob(account: str, env=None) -> dict:
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "j", "namespace": "apps"},
            "spec": {"jobTemplate": {"spec": {"template": {"spec": {
                "serviceAccountName": account,
                "initContainers": [{"name": "init"}],
                "containers": [{"name": "main", "env": env or []}]}}}}}}


def test_only_workloads_of_irsa_accounts_and_never_over_their_own_values() -> None:
    sa = {"apiVersion": "v1", "kind": "ServiceAccount",
          "metadata": {"name": "exporter", "namespace": "apps",
                       "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/x"}}}
    accounts = adapt.irsa_service_accounts([sa, {"apiVersion": "v1", "kind": "ServiceAccount",
                                                 "metadata": {"name": "plain", "namespace": "apps"}}])
    assert accounts == {("apps", "exporter")}
    job = _cronjob("exporter", env=[{"name": "AWS_REGION", "value": "eu-west-1"}])
    changes = _adapter(accounts).adapt(job)
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["initContainers"][0]["env"] == [{"name": "AWS_ENDPOINT_URL", "value": "http://aws:5000"},
                                               {"name": "AWS_REGION", "value": "us-east-1"}]
    assert pod["containers"][0]["env"] == [{"name": "AWS_REGION", "value": "eu-west-1"},
                                           {"name": "AWS_ENDPOINT_URL", "value": "http://aws:5000"}]
    assert len(changes) == 2
    other = _cronjob("plain")
    assert _adapter(accounts).adapt(other) == [] and other == _cronjob("plain")
    elsewhere = _cronjob("exporter")
    elsewhere["metadata"]["namespace"] = "other"
    assert _adapter(accounts).adapt(elsewhere) == []
    assert _adapter(accounts, tenant="devenv-x").adapt(elsewhere) != []  # one namespace: matched by name
