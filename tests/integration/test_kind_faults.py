"""The kind target's faults on the lab, with the `kind` stand-in (tests/lab/bin/kind: a fresh KWOK cluster per
name, its kube-apiserver a process kwokctl records by PID): the cluster's API server goes away while `up` is
delivering the platform. `up` ends within a bounded time with one clear error naming what it was doing and
that the API server does not answer, no traceback; `down` then leaves nothing in Docker nor a cluster.

(A Kustomization that never becomes Ready is test_kind_standin's; a forbidden write is the namespace
target's, whose user has only a namespace's rights.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from docker_env import engine
from test_kind_standin import REPO, devenv, local_profile, platform_with_local_charts, standin_env, the_lab, \
    without_search

from devenv.clients import docker
from devenv.domain import labels

pytestmark = [pytest.mark.cluster, pytest.mark.flux, pytest.mark.docker, pytest.mark.mariadb_image,
              pytest.mark.kustomize, pytest.mark.timeout(900)]

UP_TIMEOUT = 600  # generous: proves "no hang", not a speed
DELIVERING = {  # what exists in the cluster once `up` is past creating it and is delivering, per delivery
    # apply: a Kustomization's inventory, written before devenv waits for what it applied
    "apply": ("configmaps", lambda name: name.startswith("devenv-inventory-")),
    # flux: the Kustomizations, applied just before devenv waits for Flux to make them Ready
    "flux": ("kustomizations.kustomize.toolkit.fluxcd.io", lambda name: True),
}


def apiserver_pid(lab, cluster: str) -> int:
    """The PID of the stand-in cluster's kube-apiserver, from the pid file kwokctl keeps for that cluster
    (the stand-in runs kwokctl with KWOK_WORKDIR=$DEVENV_LAB_DIR/kind/.kwok), checked to be a kube-apiserver."""
    pid_file = Path(lab.kubeconfig).parent / "kind" / ".kwok" / "clusters" / cluster / "pids" / "kube-apiserver.pid"
    pid = int(pid_file.read_text().strip())
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert Path(argv[0].decode()).name == "kube-apiserver", (pid_file, argv[:1])
    return pid


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (OSError, IndexError):
        return True
    return state == "Z"


def wait_until_delivering(up: subprocess.Popen, kubeconfig: Path, env: dict[str, str], delivery: str, name: str,
                          stderr: Path) -> None:
    """Until the environment's objects of `DELIVERING[delivery]` are in its cluster (or `up` ended: fail)."""
    resource, matches = DELIVERING[delivery]
    deadline = time.monotonic() + UP_TIMEOUT
    while time.monotonic() < deadline:
        assert up.poll() is None, f"`up` ended (exit {up.returncode}) before delivering:\n{stderr.read_text()[-3000:]}"
        if kubeconfig.is_file():
            done = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), "get", resource, "-n", "flux-system",
                                   "-l", f"{labels.ENVIRONMENT}={name}", "-o", "name"],
                                  capture_output=True, text=True, env=env, timeout=30)
            if done.returncode == 0 and any(matches(n.rpartition("/")[2]) for n in done.stdout.split()):
                return
        time.sleep(0.5)
    pytest.fail(f"`up` did not reach delivery within {UP_TIMEOUT}s:\n{stderr.read_text()[-3000:]}")


@pytest.mark.parametrize("delivery", ["apply", "flux"])
def test_the_api_server_going_away_mid_up_is_one_clear_error_and_down_removes_everything(
        tmp_path, env_names, delivery) -> None:
    lab = the_lab()
    name = f"e2k-{uuid.uuid4().hex[:6]}"
    env_names.append(name)
    cluster = f"devenv-{name}"
    platform = platform_with_local_charts(tmp_path, lab.registry)
    profile = local_profile(tmp_path, delivery=delivery, edit=without_search)
    env = standin_env(lab, tmp_path / "state")
    kubeconfig = tmp_path / "state" / "devenv" / "kubeconfig" / name
    out, err = tmp_path / "up.stdout", tmp_path / "up.stderr"
    try:
        with out.open("w") as stdout, err.open("w") as stderr:
            up = subprocess.Popen([sys.executable, "-m", "devenv", "up", name, "--profile", str(profile),
                                   "--platform", str(platform)], stdout=stdout, stderr=stderr, env=env, cwd=REPO)
        try:
            wait_until_delivering(up, kubeconfig, env, delivery, name, err)
            pid = apiserver_pid(lab, cluster)
            os.kill(pid, signal.SIGKILL)  # only the process this cluster's own pid file names
            deadline = time.monotonic() + 30
            while not gone(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert gone(pid), f"kube-apiserver {pid} still runs"
            code = up.wait(timeout=UP_TIMEOUT)
        finally:
            if up.poll() is None:  # a hang: end the `up` this test started, by its PID, then fail below
                up.kill()
                up.wait()
        stderr_text = err.read_text()
        print(f"\n`up` ({delivery}) after its API server went away: exit {code}\n{stderr_text[-2000:]}")
        assert "Traceback" not in stderr_text, stderr_text[-4000:]
        logged = [line for line in stderr_text.splitlines() if line.startswith(("WARNING ", "ERROR "))]
        assert not logged, logged  # e.g. urllib3's retries: the error below is the one word on the failure
        assert code == 10, stderr_text[-4000:]  # KubeError
        error = stderr_text[stderr_text.index("\nerror: ") + 1:] if "\nerror: " in stderr_text else stderr_text
        assert error.startswith("error: cannot "), stderr_text[-4000:]
        assert stderr_text.count("error: ") == 1, stderr_text[-4000:]
        assert "does not answer" in error, error
        assert "127.0.0.1:" in error.splitlines()[0], error  # the server it was talking to
        assert out.read_text() == ""
    finally:
        down = devenv("down", name, env=env)
    print(f"`down` after it: exit {down.returncode}\n{down.stdout}{down.stderr}")
    assert down.returncode == 0, down.stderr[-3000:]
    assert "Traceback" not in down.stderr, down.stderr[-3000:]
    clusters = subprocess.run(["kind", "get", "clusters"], capture_output=True, text=True, env=env, timeout=60)
    assert clusters.returncode == 0, clusters.stderr
    assert cluster not in clusters.stdout.split()
    assert not (Path(lab.kubeconfig).parent / "kind" / cluster).exists()
    client, _ = engine()
    found = docker.managed(client, name)
    assert not (found.containers + found.networks + found.volumes), \
        [r.name for r in found.containers + found.networks + found.volumes]
