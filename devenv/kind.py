"""kind clusters for environments: create (config on stdin), delete, list, and a 0600 kubeconfig each.

A devenv cluster is named `devenv-<environment>` and its node carries the `devenv.*` labels;
devenv deletes only clusters it finds with both.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Mapping

import yaml

from devenv import labels as label_keys
from devenv import process
from devenv.errors import DevenvError, KubeError
from devenv.kube import Kube

CLUSTER_PREFIX = "devenv-"
KIND_NETWORK = "kind"  # the Docker network kind puts its nodes on
CREATE_TIMEOUT = 600


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "devenv"


def cluster_name(environment: str) -> str:
    return f"{CLUSTER_PREFIX}{environment}"


def node_container(environment: str) -> str:
    return f"{cluster_name(environment)}-control-plane"


def cluster_config(environment: str, node_labels: Mapping[str, str]) -> str:
    """The kind config: API server on 127.0.0.1 only, the node labelled as devenv's."""
    config = {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "name": cluster_name(environment),
        "networking": {"apiServerAddress": "127.0.0.1"},
        "nodes": [{"role": "control-plane", "labels": dict(node_labels)}],
    }
    return yaml.safe_dump(config, sort_keys=False)


class KindClusters:
    """The kind CLI, through the process runner handed in (a recording fake in unit tests)."""

    def __init__(self, run: Callable[..., process.Result] = process.run, home: Path | None = None,
                 connect: Callable[[Path], Kube] = Kube):
        self.run = run
        self.home = home or state_dir()
        self.connect = connect  # the kube seam: asks a found cluster's API for devenv's node label

    def kubeconfig(self, environment: str) -> Path:
        return self.home / "kubeconfig" / environment

    def names(self) -> list[str]:
        """Environments that have a devenv kind cluster."""
        result = self.run(["kind", "get", "clusters"], timeout=30)
        return sorted(n[len(CLUSTER_PREFIX):] for n in result.stdout.split() if n.startswith(CLUSTER_PREFIX))

    def exists(self, environment: str) -> bool:
        return environment in self.names()

    def create(self, environment: str, labels: Mapping[str, str], *, node_image: str | None = None) -> Path:
        """Create the cluster (or adopt an existing devenv one) and write its kubeconfig with mode 0600."""
        path = self.kubeconfig(environment)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self.exists(environment):
            argv = ["kind", "create", "cluster", "--name", cluster_name(environment), "--config", "-",
                    "--kubeconfig", str(path), "--wait", "120s"]
            if node_image:
                argv += ["--image", node_image]
            self.run(argv, stdin=cluster_config(environment, labels), timeout=CREATE_TIMEOUT)
        else:
            self.ensure_ours(environment)
        path.chmod(0o600)
        return path

    def ensure_ours(self, environment: str) -> None:
        """Refuse to touch a `devenv-*` cluster that devenv did not create: its node must carry our label.
        When its API cannot be asked, the kubeconfig devenv wrote at creation is the evidence."""
        path = self.kubeconfig(environment)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        known = path.is_file()
        probe = path.with_name(f".{environment}.probe")
        result = self.run(["kind", "get", "kubeconfig", "--name", cluster_name(environment)], timeout=30, check=False)
        if result.returncode == 0:
            probe.touch(mode=0o600)
            probe.write_text(result.stdout)
            try:
                with self.connect(probe) as kube:
                    nodes = kube.list("v1", "Node", selector={label_keys.MANAGED: "true"})
            except KubeError:
                nodes = None
            if nodes is not None:
                if not nodes:
                    probe.unlink()
                    raise DevenvError(
                        f"kind cluster {cluster_name(environment)} exists but was not created by devenv",
                        hint=f"delete it yourself with `kind delete cluster --name {cluster_name(environment)}` "
                             "if it is unused",
                    )
                probe.replace(path)
                return
            probe.unlink()
        if not known:
            raise DevenvError(
                f"cannot tell whether kind cluster {cluster_name(environment)} is devenv's: its API does not answer "
                "and devenv holds no kubeconfig for it",
                hint=f"if it is yours and unused: `kind delete cluster --name {cluster_name(environment)}`",
            )

    def delete(self, environment: str, *, verify: bool = True) -> bool:
        """Delete the environment's cluster; `verify`: only after ensure_ours (off for a cluster this run made)."""
        if not self.exists(environment):
            return False
        if verify:
            self.ensure_ours(environment)
        self.run(["kind", "delete", "cluster", "--name", cluster_name(environment)], timeout=300)
        self.kubeconfig(environment).unlink(missing_ok=True)
        return True
