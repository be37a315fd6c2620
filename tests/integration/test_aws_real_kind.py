"""The namespace target's `aws` stand-in and the embedded platform's ledger on a real kubelet (the offline kind node,
the real kind CLI): the stand-in's objects as devenv makes them for a branch namespace become Available only once
their readiness probe (ListSecrets holding every seeded secret) passes in the pod, beside the MariaDB StatefulSet
devenv makes there (seeded, its PVC bound, ready once its probe's query ran); ledger, as devenv renders it for
that namespace (the IRSA adaptation's SDK variables pointing at the in-cluster Service), reads its RDS-style
secret there and becomes Available only once its readiness probe logs in to MariaDB with it. The images are the
offline ones, loaded into the node (`kind load`); the cluster is deleted and nothing of it is left.

Needs Docker, the real kind (DEVENV_KIND), the node image, and the moto and MariaDB images; skipped otherwise."""

from __future__ import annotations

import json
import secrets
import subprocess

import pytest
from it_helpers import mariadb_image
from test_aws_secrets import _aws_image_present, aws_image  # noqa: F401 - the image check is an autouse fixture
from test_kind_real_node import (  # noqa: F401 - kind_path: a fixture
    assert_cluster_gone, free_port, in_node, kind_path, node_image)

from devenv.clients.kind import KindClusters, cluster_name
from devenv.domain import labels
from devenv.domain.profiles import NamespaceSpec, load_profile
from devenv.services.aws import namespace_seed
from devenv.services.workloads import credentials_secret, objects

pytestmark = [pytest.mark.docker, pytest.mark.kind_node, pytest.mark.mariadb_image, pytest.mark.kustomize,
              pytest.mark.timeout(900)]


def _ready(environment: str, ns: str, what: str, condition: str) -> bool:
    """`kubectl wait` in the node, in turns shorter than in_node's own timeout (a loaded machine is slow)."""
    for _ in range(4):
        out = in_node(environment, "wait", "-n", ns, f"--for={condition}", what, "--timeout=150s", check=False)
        if "condition met" in out:
            return True
    return False


def _why(environment: str, ns: str) -> str:
    return (in_node(environment, "get", "events", "-n", ns, check=False)[-4000:]
            + in_node(environment, "logs", "-n", ns, "statefulset/db", "--tail=30", check=False))


def test_the_stand_in_and_ledger_become_ready_on_a_real_kubelet(kind_path, tmp_path) -> None:
    from devenv.flux.render import render_environment

    environment = "ka" + secrets.token_hex(3)
    ns = f"devenv-{environment}"
    clusters = KindClusters(home=tmp_path / "state")
    tags = {labels.MANAGED: "true", labels.ENVIRONMENT: environment}
    profile = load_profile("branch")
    password = secrets.token_urlsafe(18)
    seed = namespace_seed(profile, environment, ns, "aws", {"db": {"password": password},
                                                             "aws": {"seed": secrets.token_hex(8)}})
    aws_spec = next(s for s in profile.services if s.type == "aws")
    stand_in = objects(aws_spec, ns, tags, aws_image(), NamespaceSpec(), seed=seed)
    db_spec = next(s for s in profile.services if s.name == "db")
    database = [credentials_secret(db_spec, ns, tags, {"password": password, "root_password": secrets.token_hex(9)}),
                *objects(db_spec, ns, tags, mariadb_image(), NamespaceSpec())]  # its StatefulSet, as devenv makes it

    rendered = render_environment(profile, environment, namespace=ns)
    ledger = [r for _, r in rendered.resources() if r["metadata"]["name"] in ("ledger", "ledger-scripts")]
    assert sorted(r["kind"] for r in ledger) == ["ConfigMap", "Deployment", "ServiceAccount"]
    offline = {"motoserver/moto:5.2.3": aws_image(), "mariadb:10.11": mariadb_image()}
    for r in ledger:
        if r["kind"] == "Deployment":
            pod = r["spec"]["template"]["spec"]
            for container in pod["initContainers"] + pod["containers"]:
                container["image"] = offline[container["image"]]  # the images the offline machines have

    try:
        clusters.create(environment, tags, node_image=node_image(), http_port=free_port(), https_port=free_port())
        for image in sorted(set(offline.values())):
            subprocess.run([kind_path, "load", "docker-image", image, "--name", cluster_name(environment)],
                           check=True, capture_output=True, timeout=600)
        in_node(environment, "create", "namespace", ns)
        apply = lambda docs: in_node(environment, "apply", "-f", "-",  # noqa: E731
                                     stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}))
        apply(database + stand_in)
        assert _ready(environment, ns, "deployment/aws", "condition=Available"), _why(environment, ns)
        # its readiness probe logged in
        assert _ready(environment, ns, "statefulset/db", "jsonpath={.status.readyReplicas}=1"), _why(environment, ns)
        assert "seeded with 1 secret(s): shop/ledger/db" in in_node(environment, "logs", "-n", ns, "deployment/aws")

        # the stand-in's pod passes Pod Security's `restricted` level, as the API server's admission judges it
        in_node(environment, "create", "namespace", f"{ns}-restricted")
        in_node(environment, "label", "namespace", f"{ns}-restricted", "pod-security.kubernetes.io/enforce=restricted")
        template = next(o for o in stand_in if o["kind"] == "Deployment")["spec"]["template"]
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "aws", "namespace": f"{ns}-restricted"},
               "spec": template["spec"]}
        assert "pod/aws created (server dry run)" in in_node(environment, "create", "--dry-run=server", "-f", "-",
                                                              stdin=json.dumps(pod))

        apply(ledger)
        waited = _ready(environment, ns, "deployment/ledger", "condition=Available")
        logs = in_node(environment, "logs", "-n", ns, "deployment/ledger", "--all-containers", check=False)
        assert waited, logs + _why(environment, ns)
        assert (f"mariadb credentials of orders@db.{ns}.svc.cluster.local:3306/orders read from Secrets Manager "
                "secret shop/ledger/db") in logs
        assert "ledger: connected as orders@" in logs
        assert password not in logs
    finally:
        clusters.delete(environment, verify=False)
    assert_cluster_gone(clusters, environment)
