"""Where the suites find a real cluster: the lab (`make lab` writes .lab/env) or the cluster named by
DEVENV_TEST_KUBECONFIG (and DEVENV_TEST_KUBECONTEXT). Tests marked `cluster` need its API server;
tests marked `flux` also need Flux's controllers running against it (the lab has them). `shared_cluster()`:
the lab's second cluster, whose Flux is locked down for tenants as a shared EKS cluster's is
(DEVENV_TEST_SHARED_KUBECONTEXT names one elsewhere)."""

from __future__ import annotations

import dataclasses
import functools
import json
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


@functools.cache
def shared_cluster() -> tuple[Cluster | None, str | None]:
    """(the locked-down shared cluster, None), or (None, why there is none): its Flux's kustomize- and
    helm-controller run with --no-cross-namespace-refs and --default-service-account."""
    found, why = cluster()
    if found is None:
        return None, why
    if not found.is_lab:
        context = os.environ.get("DEVENV_TEST_SHARED_KUBECONTEXT")
        if not context:
            return None, "no locked-down cluster: DEVENV_TEST_SHARED_KUBECONTEXT is not set"
        return dataclasses.replace(found, context=context), None
    context = _read_exports(LAB_ENV).get("DEVENV_LAB_SHARED_KUBECONTEXT")
    if not context:
        return None, f"the lab in {LAB_ENV.parent} has no locked-down shared cluster (an older lab): run `make lab-down lab`"
    shared = dataclasses.replace(found, context=context)
    probe = shared.kubectl("get", "--raw", "/readyz", check=False)
    if probe.returncode != 0:
        return None, f"the lab's shared cluster {context} does not answer ({probe.stderr.strip()[:200]})"
    return shared, None


def flux_ready(found: Cluster) -> str | None:
    """None when Flux's controllers serve this cluster, else why not."""
    crds = found.kubectl("get", "crd", "kustomizations.kustomize.toolkit.fluxcd.io", check=False)
    if crds.returncode != 0:
        return "Flux's CRDs are not installed in the test cluster"
    if not found.is_lab:
        return None
    state = LAB_ENV.parent / "state.json"
    pids = json.loads(state.read_text()).get("pids", {}) if state.is_file() else {}
    missing = [c for c in ("source-controller", "kustomize-controller", "helm-controller")
               if c not in pids or not Path(f"/proc/{pids[c]}").exists()]
    return f"Flux controllers not running in the lab: {', '.join(missing)}" if missing else None


def push_helm_chart(registry: str, repository: str, name: str, version: str, files: dict[str, str]) -> None:
    """Push chart `name` at `version` (its Chart.yaml written here, `files` beside it, paths under `name/`) to
    `<registry>/<repository>/<name>:<version>` as an OCI artifact with Helm's media types, through the
    distribution API, as `helm push` does."""
    import hashlib
    import io
    import tarfile
    import urllib.request

    files = {f"{name}/Chart.yaml": f"apiVersion: v2\nname: {name}\nversion: {version}\n", **files}
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w:gz") as tar:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    base = f"http://{registry}/v2/{repository}/{name}"

    def blob(data: bytes, media_type: str) -> dict:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        start = urllib.request.urlopen(urllib.request.Request(f"{base}/blobs/uploads/", method="POST"))
        location = start.headers["Location"]
        location = location if location.startswith("http") else f"http://{registry}{location}"
        sep = "&" if "?" in location else "?"
        urllib.request.urlopen(urllib.request.Request(f"{location}{sep}digest={digest}", data=data, method="PUT",
                                                      headers={"Content-Type": "application/octet-stream"}))
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    config = json.dumps({"apiVersion": "v2", "name": name, "version": version}).encode()
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": blob(config, "application/vnd.cncf.helm.config.v1+json"),
                "layers": [blob(packed.getvalue(), "application/vnd.cncf.helm.chart.content.v1.tar+gzip")]}
    urllib.request.urlopen(urllib.request.Request(
        f"{base}/manifests/{version}", data=json.dumps(manifest).encode(), method="PUT",
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"}))
