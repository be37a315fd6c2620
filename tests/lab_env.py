"""Where the suites find a real cluster: the lab (`make lab` writes .lab/env) or the cluster named by
DEVENV_TEST_KUBECONFIG (and DEVENV_TEST_KUBECONTEXT). Tests marked `cluster` need its API server;
tests marked `flux` also need Flux's controllers running against it (the lab has them)."""

from __future__ import annotations

import dataclasses
import functools
import os
import shlex
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAB_ENV = Path(os.environ.get("DEVENV_LAB_DIR") or REPO / ".lab") / "env"


@dataclasses.dataclass(frozen=True)
class Cluster:
    kubeconfig: str
    context: str
    registry: str | None        # host:port of an OCI registry the cluster's Flux can pull from
    path: str                   # PATH with the lab's kubectl, flux, kwokctl first
    is_lab: bool

    def env(self) -> dict[str, str]:
        """Variables for a subprocess (the devenv CLI, kubectl, flux) that should talk to this cluster."""
        return {"KUBECONFIG": self.kubeconfig, "PATH": self.path}

    def kubectl(self, *args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
        done = subprocess.run(["kubectl", "--context", self.context, *args], capture_output=True, text=True,
                              input=stdin, env={**os.environ, **self.env()}, timeout=120)
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
        return done


def _read_exports(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            key, _, value = words[1].partition("=")
            values[key] = value.replace("$PATH", os.environ.get("PATH", ""))
    return values


@functools.cache
def cluster() -> tuple[Cluster | None, str | None]:
    """(the cluster, None), or (None, why there is none)."""
    if os.environ.get("DEVENV_TEST_KUBECONFIG"):
        kubeconfig = os.environ["DEVENV_TEST_KUBECONFIG"]
        if not Path(kubeconfig).is_file():
            return None, f"DEVENV_TEST_KUBECONFIG={kubeconfig} is not a file"
        return Cluster(kubeconfig, os.environ.get("DEVENV_TEST_KUBECONTEXT", ""),
                       os.environ.get("DEVENV_TEST_REGISTRY"), os.environ.get("PATH", ""), False), None
    if not LAB_ENV.is_file():
        return None, f"no cluster: run `make lab` (writes {LAB_ENV}) or set DEVENV_TEST_KUBECONFIG"
    values = _read_exports(LAB_ENV)
    found = Cluster(values["KUBECONFIG"], values["DEVENV_LAB_KUBECONTEXT"], values.get("DEVENV_LAB_REGISTRY"),
                    values.get("PATH", os.environ.get("PATH", "")), True)
    probe = found.kubectl("get", "--raw", "/readyz", check=False)
    if probe.returncode != 0:
        return None, f"the lab in {LAB_ENV.parent} does not answer ({probe.stderr.strip()[:200]}): run `make lab`"
    return found, None


def flux_ready(found: Cluster) -> str | None:
    """None when Flux's controllers serve this cluster, else why not."""
    crds = found.kubectl("get", "crd", "kustomizations.kustomize.toolkit.fluxcd.io", check=False)
    if crds.returncode != 0:
        return "Flux's CRDs are not installed in the test cluster"
    if not found.is_lab:
        return None
    state = LAB_ENV.parent / "state.json"
    import json

    pids = json.loads(state.read_text()).get("pids", {}) if state.is_file() else {}
    missing = [c for c in ("source-controller", "kustomize-controller", "helm-controller")
               if c not in pids or not Path(f"/proc/{pids[c]}").exists()]
    return f"Flux controllers not running in the lab: {', '.join(missing)}" if missing else None
