"""kstatus as devenv.clients.kube computes it, for the states the lab cannot produce (KWOK runs no containers, so
no Job completes or fails and no rollout stalls): table tests over the status the real controllers write."""

from __future__ import annotations

import pytest

from devenv.clients.kube import compute_status


def obj(kind, api="apps/v1", spec=None, status=None, generation=1):
    return {"apiVersion": api, "kind": kind, "metadata": {"name": "x", "generation": generation},
            "spec": spec or {}, "status": status or {}}


@pytest.mark.parametrize("thing, expected", [
    (obj("Deployment", spec={"replicas": 2}, status={"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2,
                                                    "availableReplicas": 2, "readyReplicas": 2,
                                                    "conditions": [{"type": "Available", "status": "True"}]}),
     "Current"),
    (obj("Deployment", spec={"replicas": 2}, status={"observedGeneration": 0}), "InProgress"),
    (obj("Deployment", spec={"replicas": 2}, status={"observedGeneration": 1, "replicas": 3, "updatedReplicas": 2,
                                                    "availableReplicas": 2, "readyReplicas": 2}), "InProgress"),
    (obj("Deployment", status={"observedGeneration": 1, "conditions": [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "too slow"}]}),
     "Failed"),
    (obj("StatefulSet", spec={"replicas": 1}, status={"observedGeneration": 1, "readyReplicas": 1,
                                                     "currentReplicas": 1, "currentRevision": "a",
                                                     "updateRevision": "b"}), "InProgress"),
    (obj("StatefulSet", spec={"replicas": 1}, status={"observedGeneration": 1, "readyReplicas": 1,
                                                     "currentReplicas": 1, "currentRevision": "a",
                                                     "updateRevision": "a"}), "Current"),
    (obj("DaemonSet", status={"observedGeneration": 1, "desiredNumberScheduled": 2, "currentNumberScheduled": 2,
                              "updatedNumberScheduled": 2, "numberAvailable": 1, "numberReady": 2}), "InProgress"),
    (obj("DaemonSet", status={"observedGeneration": 1, "desiredNumberScheduled": 2, "currentNumberScheduled": 2,
                              "updatedNumberScheduled": 2, "numberAvailable": 2, "numberReady": 2}), "Current"),
    (obj("Job", api="batch/v1", status={"conditions": [{"type": "Complete", "status": "True"}]}), "Current"),
    (obj("Job", api="batch/v1", status={"conditions": [{"type": "Failed", "status": "True", "message": "x"}]}),
     "Failed"),
    (obj("Job", api="batch/v1", status={"active": 1}), "InProgress"),
    (obj("CustomResourceDefinition", api="apiextensions.k8s.io/v1",
         status={"conditions": [{"type": "Established", "status": "True"}]}), "Current"),
    (obj("CustomResourceDefinition", api="apiextensions.k8s.io/v1",
         status={"conditions": [{"type": "NamesAccepted", "status": "False"}]}), "Failed"),
    (obj("HelmRelease", api="helm.toolkit.fluxcd.io/v2", status={"observedGeneration": 1, "conditions": [
        {"type": "Ready", "status": "True", "message": "installed"}]}), "Current"),
    (obj("HelmRelease", api="helm.toolkit.fluxcd.io/v2", generation=2, status={"observedGeneration": 1, "conditions": [
        {"type": "Ready", "status": "True"}]}), "InProgress"),
    (obj("HelmRelease", api="helm.toolkit.fluxcd.io/v2", status={"observedGeneration": 1, "conditions": [
        {"type": "Ready", "status": "False", "reason": "InstallFailed"},
        {"type": "Stalled", "status": "True", "message": "retries exhausted"}]}), "Failed"),
    (obj("Kustomization", api="kustomize.toolkit.fluxcd.io/v1"), "InProgress"),
    (obj("HelmRepository", api="source.toolkit.fluxcd.io/v1", spec={"type": "oci"}), "Current"),
    (obj("HelmRepository", api="source.toolkit.fluxcd.io/v1"), "InProgress"),
    (obj("ConfigMap", api="v1"), "Current"),
    (obj("Widget", api="example.com/v1", status={"conditions": [{"type": "Reconciling", "status": "True"}]}),
     "InProgress"),
])
def test_kstatus(thing, expected) -> None:
    assert compute_status(thing)[0] == expected
