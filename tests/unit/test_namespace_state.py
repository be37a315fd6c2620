"""Reading a namespace environment back: its data services from their workloads (StatefulSets for MariaDB and
OpenSearch, a Deployment for the aws stand-in), with the facts the cluster's pods use, and nothing else that
carries the environment's labels (the platform's own Deployments)."""

from __future__ import annotations

import base64

from devenv.domain import labels
from devenv.targets.namespace_state import read_state


def _workload(kind: str, name: str, service_type: str | None, ns: str = "devenv-x") -> dict:
    tags = {labels.MANAGED: "true", labels.ENVIRONMENT: "x",
            **({labels.SERVICE: name, labels.SERVICE_TYPE: service_type} if service_type else {})}
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": ns, "labels": tags},
            "spec": {"template": {"spec": {"containers": [{"image": f"{name}:1", "env": []}]}}}}


class FakeKube:
    def __init__(self, objects: list[dict]):
        self.objects = objects

    def list(self, api_version, kind, *, namespace=None, selector=None):
        return [o for o in self.objects if o["kind"] == kind]

    def status(self, obj):
        return ("Current", "") if obj["metadata"]["name"] != "search" else ("InProgress", "0 of 1 ready")


def test_the_data_services_come_from_their_statefulsets_and_the_aws_deployment():
    namespace = {"metadata": {"name": "devenv-x", "labels": {labels.ENVIRONMENT: "x", labels.PROFILE: "branch",
                                                              labels.TARGET: "namespace"}}}
    secret = {"kind": "Secret", "metadata": {"name": "devenv-db"},
              "data": {"password": base64.b64encode(b"s3cret").decode()}}
    kube = FakeKube([_workload("StatefulSet", "db", "mariadb"), _workload("StatefulSet", "search", "opensearch"),
                     _workload("Deployment", "aws", "aws"), _workload("Deployment", "web", None), secret])
    state = read_state(kube, "dev-eks", namespace)
    found = {s.name: s for s in state.services}
    assert sorted(found) == ["aws", "db", "search"]  # the platform's own Deployment `web` is not a data service
    assert found["aws"].container == "Deployment devenv-x/aws" and found["aws"].endpoint.port == 5000
    assert found["aws"].facts["url"] == "http://aws.devenv-x.svc.cluster.local:5000"
    assert found["db"].container == "StatefulSet devenv-x/db" and found["db"].endpoint.port == 3306
    assert state.state == "degraded" and state.problems == ("data service search: 0 of 1 ready",)
