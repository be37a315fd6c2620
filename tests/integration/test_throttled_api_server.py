"""A busy shared cluster: between devenv and the lab's locked-down shared cluster sits a proxy
(tests/lab/throttle_proxy.py) that refuses the first call of every kind (method and resource) with 429 Too
Many Requests or 503, each with Retry-After, as API Priority and Fairness on a busy EKS does. `devenv up` and
`devenv down` of a namespace environment still succeed, having been refused and asked again for every kind
of call they make; nothing is left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_namespace_target import REPO, Lab, wait_gone

pytestmark = [pytest.mark.cluster, pytest.mark.flux, pytest.mark.kustomize, pytest.mark.timeout(900)]


@pytest.fixture
def throttled(tmp_path):
    """(the lab, a kubeconfig whose context `throttled` reaches the shared cluster through the proxy, the
    proxy's refusals log); the proxy is killed by its PID afterwards."""
    lab = Lab(tmp_path)
    refusals = tmp_path / "refusals.log"
    refusals.touch()
    proxy = subprocess.Popen([sys.executable, str(REPO / "tests/lab/throttle_proxy.py"), lab.cluster.kubeconfig,
                              lab.cluster.context, str(refusals), "1"], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proxy.stdout.readline().strip())
        kubeconfig = tmp_path / "throttled.kubeconfig"
        kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "throttled",
            "clusters": [{"name": "throttled", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
            "users": [{"name": "throttled", "user": {}}],  # the proxy logs in upstream as the lab's admin
            "contexts": [{"name": "throttled", "context": {"cluster": "throttled", "user": "throttled"}}]}))
        kubeconfig.chmod(0o600)
        yield lab, kubeconfig, refusals
    finally:
        os.kill(proxy.pid, signal.SIGTERM)
        proxy.wait(timeout=10)
        proxy.stdout.close()
        for name in lab.names:  # a failed test's leftovers, removed through the lab's own context
            lab.kubectl("delete", "namespace", f"devenv-{name}", "--wait=false", check=False)
        lab.kubectl("delete", "pv", "-l", f"devenv.test/run={lab.run}", "--wait=false", check=False)


def refused(log: Path) -> list[tuple[str, str, str]]:
    return [tuple(line.split()) for line in log.read_text().splitlines() if line.strip()]


def test_up_and_down_succeed_through_an_api_server_that_refuses_the_first_call_of_each_kind(throttled):
    lab, kubeconfig, log = throttled
    lab.volumes(3)
    name = lab.name("busy")
    ns = f"devenv-{name}"
    lab.env = {**lab.env, "KUBECONFIG": str(kubeconfig)}
    profile = lab.profile(lambda t: t.replace(f"contexts: [{lab.cluster.context}]", "contexts: [throttled]"))

    up = lab.devenv("-v", "up", name, "--profile", str(profile), "--context", "throttled")
    assert up.returncode == 0, up.stderr
    during_up = refused(log)
    assert {status for status, _, _ in during_up} == {"429", "503"}
    kinds = {(method, kind) for _, method, kind in during_up}
    assert {("GET", "namespaces"), ("PATCH", "namespaces"), ("PATCH", "statefulsets"),
            ("PATCH", "kustomizations"), ("GET", "kustomizations")} <= kinds, kinds
    assert "asking again" in up.stderr  # -v says what it waited for
    assert lab.get("namespace", ns)["metadata"]["labels"]["devenv.environment"] == name
    apps = lab.get("kustomization", "apps", "-n", ns)
    assert {c["type"]: c["status"] for c in apps["status"]["conditions"]}["Ready"] == "True"

    down = lab.devenv("down", name, "--context", "throttled", timeout=300)
    assert down.returncode == 0, down.stderr
    during_down = refused(log)[len(during_up):]
    assert ("DELETE", "kustomizations") in {(m, k) for _, m, k in during_down}, during_down
    wait_gone(lab, "namespace", ns)
    assert lab.left() == []
