"""kind clusters for environments: create (config on stdin), delete, list, and a 0600 kubeconfig each
(merged into the user's kubeconfig on request, and removed from it with the cluster).

A devenv cluster is named `devenv-<environment>` and its node carries the `devenv.*` labels;
devenv deletes only clusters it finds with both.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Mapping

import yaml

from devenv.clients import kubeconfig as user_kubeconfig
from devenv.domain import labels as label_keys
from devenv.clients import process
from devenv.errors import DevenvError, KubeError
from devenv.clients.kube import Kube

CLUSTER_PREFIX = "devenv-"
KIND_NETWORK = "kind"  # the Docker network kind puts its nodes on
CREATE_TIMEOUT = 600
CERTS_DIR = "/etc/containerd/certs.d"
CONTAINERD_CONFIG_PATH = ('[plugins."io.containerd.grpc.v1.cri".registry]\n'
                          f'  config_path = "{CERTS_DIR}"\n')
INGRESS_READY = {"ingress-ready": "true"}  # the node label kind's ingress guide selects the controller's pod by


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "devenv"


def cluster_name(environment: str) -> str:
    return f"{CLUSTER_PREFIX}{environment}"


def node_container(environment: str) -> str:
    return f"{cluster_name(environment)}-control-plane"


def context_name(environment: str) -> str:
    """The cluster, context and user name kind gives the environment in a kubeconfig."""
    return f"kind-{cluster_name(environment)}"


def cluster_config(environment: str, node_labels: Mapping[str, str], *, http_port: int = 8080,
                   https_port: int = 8443) -> str:
    """The kind config: API server on 127.0.0.1 only, the node labelled as devenv's and as ingress-ready,
    its ports 80 and 443 reachable from this machine only, on 127.0.0.1:<http_port> and :<https_port>."""
    ports = [{"containerPort": container, "hostPort": host, "listenAddress": "127.0.0.1", "protocol": "TCP"}
             for container, host in ((80, http_port), (443, https_port))]
    config = {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "name": cluster_name(environment),
        "networking": {"apiServerAddress": "127.0.0.1"},
        # containerd reads per-registry hosts files (wire_registry writes one for devenv's local registry)
        "containerdConfigPatches": [CONTAINERD_CONFIG_PATH],
        "nodes": [{"role": "control-plane", "labels": {**node_labels, **INGRESS_READY},
                   "extraPortMappings": ports}],
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

    def wire_registry(self, environment: str, host: str, endpoint: str) -> None:
        """Make images named `host/...` (e.g. localhost:5001/app) pull from `endpoint` inside the cluster's
        node, as kind's local-registry guide does: a containerd hosts file under /etc/containerd/certs.d."""
        folder = f"{CERTS_DIR}/{host}"
        node = node_container(environment)
        self.run(["docker", "exec", node, "mkdir", "-p", folder], timeout=30)
        self.run(["docker", "exec", "-i", node, "cp", "/dev/stdin", f"{folder}/hosts.toml"],
                 stdin=f'[host."{endpoint}"]\n', timeout=30)

    def _retained(self, environment: str) -> Path:
        """Written before a `--retain` create: evidence that this machine made the cluster when kind could
        not finish it (no kubeconfig then), so that `devenv down` may delete it."""
        return self.home / "kubeconfig" / f".{environment}.retained"

    def _merged(self, environment: str) -> Path:
        """Which user kubeconfig the environment's context was merged into (so `down` takes it out there)."""
        return self.home / "kubeconfig" / f".{environment}.merged"

    def names(self) -> list[str]:
        """Environments that have a devenv kind cluster."""
        result = self.run(["kind", "get", "clusters"], timeout=30)
        return sorted(n[len(CLUSTER_PREFIX):] for n in result.stdout.split() if n.startswith(CLUSTER_PREFIX))

    def exists(self, environment: str) -> bool:
        return environment in self.names()

    def create(self, environment: str, labels: Mapping[str, str], *, node_image: str | None = None,
               http_port: int = 8080, https_port: int = 8443, retain: bool = False,
               exists: bool | None = None) -> Path:
        """Create the cluster (or adopt an existing devenv one) and write its kubeconfig with mode 0600.
        `retain`: kind keeps the node when creating it fails (`kind create cluster --retain`); `exists`: what
        the caller just found (asked again when None)."""
        path = self.kubeconfig(environment)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not (self.exists(environment) if exists is None else exists):
            argv = ["kind", "create", "cluster", "--name", cluster_name(environment), "--config", "-",
                    "--kubeconfig", str(path), "--wait", "120s"]
            if node_image:
                argv += ["--image", node_image]
            if retain:
                argv.append("--retain")
                self._retained(environment).touch(mode=0o600)
            config = cluster_config(environment, labels, http_port=http_port, https_port=https_port)
            self.run(argv, stdin=config, timeout=CREATE_TIMEOUT)
            self._retained(environment).unlink(missing_ok=True)  # created: the kubeconfig is the evidence now
        else:
            self.ensure_ours(environment)
        path.chmod(0o600)
        return path

    def ensure_ours(self, environment: str) -> None:
        """Refuse to touch a `devenv-*` cluster that devenv did not create: its node must carry our label.
        When its API cannot be asked, the kubeconfig devenv wrote at creation is the evidence."""
        path = self.kubeconfig(environment)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        known = path.is_file() or self._retained(environment).is_file()
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
            self._retained(environment).unlink(missing_ok=True)
            return False
        if verify:
            self.ensure_ours(environment)
        # --kubeconfig: kind takes the cluster's entries out of the environment's own file, never the user's
        self.run(["kind", "delete", "cluster", "--name", cluster_name(environment),
                  "--kubeconfig", str(self.kubeconfig(environment))], timeout=300)
        self.kubeconfig(environment).unlink(missing_ok=True)
        self._retained(environment).unlink(missing_ok=True)
        return True

    def merge_kubeconfig(self, environment: str, into: Path | None = None) -> Path:
        """Merge the environment's cluster, context and user (kind-devenv-<environment>) into the user's
        kubeconfig (`into`, default $KUBECONFIG's first file or ~/.kube/config); returns that file."""
        source = self.kubeconfig(environment)
        if not source.is_file():
            raise DevenvError(f"environment {environment} has no kubeconfig at {source} to merge",
                              hint=f"`devenv up {environment}` writes it")
        target = into or user_kubeconfig.default_path()
        user_kubeconfig.merge(source, target)
        self._merged(environment).write_text(str(target.absolute()) + "\n")
        return target

    def unmerge_kubeconfig(self, environment: str, *, dry_run: bool = False) -> Path | None:
        """Remove the entries `merge_kubeconfig` added (only those named kind-devenv-<environment>) from the
        file it merged them into; returns that file when it held any."""
        record = self._merged(environment)
        if not record.is_file():
            return None
        target = Path(record.read_text().strip())
        if dry_run:
            return target if user_kubeconfig.holds(target, context_name(environment)) else None
        removed = user_kubeconfig.remove(target, context_name(environment))
        record.unlink()
        return target if removed else None
