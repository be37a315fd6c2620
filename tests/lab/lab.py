#!/usr/bin/env python3
"""The lab: a real Kubernetes control plane, Flux's controllers and an OCI registry, built from Go
modules and run as local processes on 127.0.0.1, so devenv's cluster paths are proven for real.

    python3 tests/lab/lab.py build     # build what is missing into the cache, with the time each took
    python3 tests/lab/lab.py up        # build, start, wait until healthy; writes .lab/kubeconfig and .lab/env
    python3 tests/lab/lab.py status    # what runs, by recorded PID
    python3 tests/lab/lab.py down      # stop exactly what `up` started and remove .lab/

Each program is built from one small wrapper module under tests/lab/modules/<program>/ that requires
the upstream module at a pinned version and carries the replace directives it needs. Binaries go to
$DEVENV_LAB_CACHE (default ~/.cache/devenv-lab)/<program>-<version>/, never into the repository.

The control plane is started by kwokctl (binary runtime: etcd, kube-apiserver with RBAC and the
default admission plugins, kube-controller-manager, kube-scheduler, KWOK's fake nodes); the lab starts
the registry and the Flux controllers itself and records their PIDs. Standard library only: it runs
before any virtualenv exists.

Two clusters, both contexts in .lab/kubeconfig:
- `kwok-devenv-lab`: Flux's controllers as `flux install` runs them (no tenant lockdown), for the kind
  stand-in's and the render's tests, whose Kustomizations run with the controllers' own rights;
- `kwok-devenv-lab-shared`: the locked-down shared cluster a platform team runs (as Flux's multi-tenancy
  guide, and a locked-down EKS): kustomize- and helm-controller with `--no-cross-namespace-refs=true` and
  `--default-service-account=default`, for the namespace target's tests.
Each cluster also holds a Deployment flux-system/<controller> per controller whose container args are the
very flags its process was started with (replicas 0: the process is the controller), so what devenv reads
from the cluster to check the lockdown is what runs.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
MODULES = HERE / "modules"
STATE = Path(os.environ.get("DEVENV_LAB_DIR") or REPO / ".lab")
CACHE = Path(os.environ.get("DEVENV_LAB_CACHE") or Path.home() / ".cache" / "devenv-lab")
CLUSTER = "devenv-lab"
CONTEXT = f"kwok-{CLUSTER}"
SHARED = f"{CLUSTER}-shared"  # the locked-down shared cluster
SHARED_CONTEXT = f"kwok-{SHARED}"
NODES = 2
# Flux's multi-tenancy lockdown (fluxcd/flux2-multi-tenancy), on the shared cluster's kustomize- and helm-controller
LOCKDOWN = ("--no-cross-namespace-refs=true", "--default-service-account=default")
FLUX_CONTROLLERS = {"source-controller": "v1.9.5", "kustomize-controller": "v1.9.5", "helm-controller": "v1.6.4"}
KUBE_VERSION = "v1.36.3"
FLUX_VERSION = "v2.9.5"


@dataclasses.dataclass(frozen=True)
class Program:
    """One wrapper module and the binaries built from it."""

    name: str                 # the wrapper's folder under modules/
    version: str              # the upstream version the wrapper pins (the cache key)
    binaries: dict[str, str]  # binary name -> Go package path
    ldflags: str = ""
    overlay: str = ""         # a file under the wrapper replacing one upstream file (go build -overlay)
    generate: tuple[str, ...] = ()  # run after the build, in the wrapper, with {bin} set: produces files beside the binaries

    @property
    def module(self) -> Path:
        return MODULES / self.name

    @property
    def bin_dir(self) -> Path:
        return CACHE / f"{self.name}-{self.version}"

    def fingerprint(self) -> str:
        """What the build depends on besides the version: the wrapper's files."""
        digest = hashlib.sha256()
        for path in sorted(p for p in self.module.rglob("*") if p.is_file()):
            digest.update(path.relative_to(self.module).as_posix().encode())
            digest.update(path.read_bytes())
        return digest.hexdigest()

    def is_built(self) -> bool:
        stamp = self.bin_dir / ".fingerprint"
        return (stamp.is_file() and stamp.read_text() == self.fingerprint()
                and all((self.bin_dir / b).is_file() for b in self.binaries))


def _kube_ldflags(version: str) -> str:
    """Stamp the version as Kubernetes' hack/lib/version.sh does, so the server reports it."""
    major, minor = version.lstrip("v").split(".")[:2]
    flags = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {pkg}.gitVersion={version}", f"-X {pkg}.gitMajor={major}", f"-X {pkg}.gitMinor={minor}",
                  f"-X {pkg}.gitTreeState=clean", f"-X {pkg}.buildDate=1970-01-01T00:00:00Z"]
    return " ".join(flags)


PROGRAMS = [
    # the longest build first, so the others overlap it
    Program("kubernetes", KUBE_VERSION, {
        "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
        "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
        "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
        "kubectl": "k8s.io/kubernetes/cmd/kubectl",
    }, ldflags=_kube_ldflags(KUBE_VERSION)),
    Program("source-controller", "v1.9.5", {"source-controller": "github.com/fluxcd/source-controller"}),
    Program("helm-controller", "v1.6.4", {"helm-controller": "github.com/fluxcd/helm-controller"}),
    Program("kustomize-controller", "v1.9.5", {"kustomize-controller": "github.com/fluxcd/kustomize-controller"}),
    Program("flux", FLUX_VERSION, {"flux": "github.com/fluxcd/flux2/v2/cmd/flux"},
            ldflags=f"-X main.VERSION={FLUX_VERSION.lstrip('v')}",
            overlay="github.com/fluxcd/flux2/v2@v2.9.5/cmd/flux/manifests.embed.go"),
    Program("etcd", "v3.6.16", {"etcd": "go.etcd.io/etcd/server/v3"}),
    Program("kwok", "v0.8.0", {"kwok": "sigs.k8s.io/kwok/cmd/kwok", "kwokctl": "sigs.k8s.io/kwok/cmd/kwokctl"}),
    Program("registry", "v3.1.1", {"registry": "github.com/distribution/distribution/v3/cmd/registry"}),
    # the real kind CLI, for tests on a real node (tests/lab/kindnode); tests/lab/bin/kind stays the fast stand-in
    Program("kind", "v0.33.0", {"kind": "sigs.k8s.io/kind"}),
    # source-watcher (ArtifactGenerator) is not served by the module proxy; its API module is, and its CRD is
    # generated from those types with controller-gen, as upstream's `make manifests` does.
    Program("source-watcher-crds", "v2.2.4", {"controller-gen": "sigs.k8s.io/controller-tools/cmd/controller-gen"},
            generate=("{bin}/controller-gen", "crd", "paths=github.com/fluxcd/source-watcher/api/v2/v1beta1",
                      "output:crd:dir={bin}/crds")),
]
BY_NAME = {p.name: p for p in PROGRAMS}

# CRDs, each from the module of the controller that serves it (the module cache holds them after a build).
CRD_SOURCES = {
    "source-controller": "github.com/fluxcd/source-controller@v1.9.5/config/crd/bases",
    "kustomize-controller": "github.com/fluxcd/kustomize-controller@v1.9.5/config/crd/bases",
    "helm-controller": "github.com/fluxcd/helm-controller@v1.6.4/config/crd/bases",
}
GENERATED_CRDS = BY_NAME["source-watcher-crds"].bin_dir / "crds"


def say(message: str) -> None:
    print(f"lab: {message}", file=sys.stderr, flush=True)


class LabError(Exception):
    pass


# ---------------------------------------------------------------- build


def go_env() -> dict[str, str]:
    return {**os.environ, "GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly"}


def gomodcache() -> Path:
    out = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def build_log(program: Program) -> Path:
    return CACHE / "logs" / f"{program.name}-{program.version}.log"


def build(program: Program) -> float:
    """Build one program's binaries into its cache folder; returns the seconds it took."""
    started = time.monotonic()
    staging = program.bin_dir.with_name(program.bin_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    log = build_log(program)
    log.parent.mkdir(parents=True, exist_ok=True)
    workdir = program.module
    args = ["go", "build", "-trimpath", "-ldflags", f"-s -w {program.ldflags}".strip(), "-o", f"{staging}/"]
    if program.overlay:
        # go build -overlay may not replace files in the module cache, and `go mod vendor` stops at the
        # missing embed: build against a copy of the upstream module (outside the repository) named by a
        # replace directive in a copy of the wrapper, and replace the one file there.
        module_path, _, rest = program.overlay.partition("@")
        version, _, inner = rest.partition("/")
        workdir = CACHE / "work" / program.name
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        for name in ("go.mod", "go.sum"):
            shutil.copy2(program.module / name, workdir / name)
        subprocess.run(["go", "mod", "download", f"{module_path}@{version}"], cwd=workdir, env=go_env(),
                       check=True, capture_output=True)
        upstream = workdir / "upstream"
        shutil.copytree(gomodcache() / f"{module_path}@{version}", upstream)
        upstream.chmod(0o755)
        for path in upstream.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        subprocess.run(["go", "mod", "edit", f"-replace={module_path}={upstream}"], cwd=workdir, env=go_env(),
                       check=True)
        overlay = workdir / "overlay.json"
        overlay.write_text(json.dumps({"Replace": {str(upstream / inner): str(program.module / "_overlay" / Path(inner).name)}}))
        args += ["-mod=mod", "-overlay", str(overlay)]
    with log.open("w") as out:
        done = subprocess.run([*args, *program.binaries.values()], cwd=workdir,
                              env={**go_env(), "GOFLAGS": ""} if program.overlay else go_env(),
                              stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise LabError(f"building {program.name} {program.version} failed; see {log}:\n"
                       + "\n".join(log.read_text().splitlines()[-15:]))
    built = {p.name for p in staging.iterdir()}
    for binary, package in program.binaries.items():
        produced = package.rstrip("/").split("/")[-1]
        if produced == "v3":  # go.etcd.io/etcd/server/v3 builds a binary named "server" (major version dropped)
            produced = "server"
        if produced != binary and produced in built:
            (staging / produced).rename(staging / binary)
    if program.generate:
        done = subprocess.run([a.format(bin=staging) for a in program.generate], cwd=program.module, env=go_env(),
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise LabError(f"{program.name}: {' '.join(program.generate)} failed:\n{done.stderr[-2000:]}")
    (staging / ".fingerprint").write_text(program.fingerprint())
    shutil.rmtree(program.bin_dir, ignore_errors=True)
    staging.rename(program.bin_dir)
    return time.monotonic() - started


def build_missing(jobs: int = 2) -> None:
    if shutil.which("go") is None:
        raise LabError("go is not on PATH: the lab is built from Go modules (Go >= 1.26)")
    missing = [p for p in PROGRAMS if not p.is_built()]
    for program in PROGRAMS:
        if program not in missing:
            say(f"{program.name} {program.version}: cached in {program.bin_dir}")
    if not missing:
        return
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {}
        for program in missing:
            say(f"{program.name} {program.version}: building (log: {build_log(program)})")
            futures[pool.submit(build, program)] = program
        failures = []
        for future in concurrent.futures.as_completed(futures):
            program = futures[future]
            try:
                say(f"{program.name} {program.version}: built in {future.result():.0f} s")
            except LabError as err:
                failures.append(str(err))
    if failures:
        raise LabError("\n\n".join(failures))
    say(f"built {len(missing)} program(s) in {time.monotonic() - started:.0f} s")


def binary(name: str) -> Path:
    for program in PROGRAMS:
        if name in program.binaries:
            return program.bin_dir / name
    raise KeyError(name)


# ---------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def start(name: str, args: list[str], env: dict[str, str]) -> int:
    """Start one long-running process of the lab, detached, its output in .lab/logs/<name>.log."""
    log = (STATE / "logs" / f"{name}.log").open("ab")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env={**os.environ, **env}, start_new_session=True, cwd=STATE)
    return proc.pid


def stop(pid: int, name: str, grace: float = 10) -> None:
    if not alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(pid):
        say(f"{name} (pid {pid}) ignored SIGTERM for {grace:.0f} s; killing it")
        os.kill(pid, signal.SIGKILL)


def wait_http(url: str, what: str, pid: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not alive(pid):
            log = STATE / "logs" / f"{what}.log"
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-5:]) if log.exists() else ""
            raise LabError(f"{what} (pid {pid}) exited while starting; last lines of {log}:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError) as err:
            last = str(err)
        time.sleep(0.5)
    raise LabError(f"{what} did not answer {url} within {timeout:.0f} s ({last}); see {STATE / 'logs'}")


# ---------------------------------------------------------------- the lab


def kubectl(*args: str, check: bool = True, context: str = CONTEXT, kubeconfig: Path | None = None,
            **kw) -> subprocess.CompletedProcess:
    done = subprocess.run([str(binary("kubectl")), "--kubeconfig", str(kubeconfig or STATE / "kubeconfig"),
                           "--context", context, *args], capture_output=True, text=True, **kw)
    if check and done.returncode != 0:
        raise LabError(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
    return done


def kwokctl(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "KWOK_WORKDIR": str(STATE / "kwok")}
    done = subprocess.run([str(binary("kwokctl")), *args], capture_output=True, text=True, env=env)
    if check and done.returncode != 0:
        raise LabError(f"kwokctl {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done


def kwok_config() -> str:
    options = {
        "runtime": "binary",
        "bindAddress": "127.0.0.1",
        "kubeVersion": KUBE_VERSION,
        "kubeAuthorization": True,
        "kubeAdmission": True,
        "kubeApiserverBinary": str(binary("kube-apiserver")),
        "kubeControllerManagerBinary": str(binary("kube-controller-manager")),
        "kubeSchedulerBinary": str(binary("kube-scheduler")),
        "kubectlBinary": str(binary("kubectl")),
        "kwokControllerBinary": str(binary("kwok")),
        "etcdBinary": str(binary("etcd")),
    }
    return json.dumps({"kind": "KwokctlConfiguration", "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
                       "options": options}, indent=2)


def read_state() -> dict:
    try:
        return json.loads((STATE / "state.json").read_text())
    except (OSError, ValueError):
        return {}


def write_state(state: dict) -> None:
    (STATE / "state.json").write_text(json.dumps(state, indent=2))


def kwok_pids() -> dict[str, int]:
    """The control-plane processes kwokctl started for both clusters, from the PID files it records."""
    pids = {}
    for cluster in (CLUSTER, SHARED):
        for pidfile in (STATE / "kwok" / "clusters" / cluster / "pids").glob("*.pid"):
            try:
                pids[f"{cluster}/{pidfile.stem}"] = int(pidfile.read_text().strip())
            except ValueError:
                continue
    return pids


def is_up() -> bool:
    state = read_state()
    if not state.get("ready"):
        return False
    pids = {**state.get("pids", {}), **kwok_pids()}
    if not pids or not all(alive(pid) for pid in pids.values()):
        return False
    return all(kubectl("get", "--raw", "/readyz", check=False, timeout=10, context=c).returncode == 0
               for c in (CONTEXT, SHARED_CONTEXT))


def apply_crds(context: str = CONTEXT) -> None:
    root = gomodcache()
    files = [f for rel in CRD_SOURCES.values() for f in sorted((root / rel).glob("*.yaml"))]
    files += sorted(GENERATED_CRDS.glob("*.yaml"))
    args = ["apply", "--server-side", "--field-manager=devenv-lab"]
    for f in files:
        args += ["-f", str(f)]
    kubectl(*args, context=context)
    # A CRD the API server has not given its conditions yet makes `kubectl wait` fail at once (".status.conditions
    # accessor error: <nil> is of the type <nil>") instead of waiting for it: ask again until the deadline.
    deadline = time.monotonic() + 60
    while True:
        done = kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all", check=False,
                       context=context)
        if done.returncode == 0:
            break
        if "accessor error" not in done.stderr or time.monotonic() > deadline:
            raise LabError(f"kubectl wait --for=condition=Established crd --all failed: {done.stderr.strip()}")
        time.sleep(0.2)
    say(f"{len(files)} Flux CRDs applied and established")


def start_flux(state: dict, *, context: str = CONTEXT, kubeconfig: Path | None = None, prefix: str = "",
               lockdown: tuple[str, ...] = ()) -> None:
    """Flux's three controllers as processes against one cluster (`prefix` names them in the state), each
    recorded in the cluster as a Deployment carrying the same flags; `lockdown` flags go to kustomize- and
    helm-controller."""
    kubeconfig = kubeconfig or STATE / "kubeconfig"
    home = STATE / f"{prefix}home"
    env = {"KUBECONFIG": str(kubeconfig), "RUNTIME_NAMESPACE": "flux-system",
           "TUF_ROOT": str(STATE / f"{prefix}sigstore"), "HOME": str(home)}
    for folder in ("home", "artifacts", "sigstore"):
        (STATE / f"{prefix}{folder}").mkdir(exist_ok=True)
    storage = free_port()
    state[f"{prefix}storage"] = f"127.0.0.1:{storage}"
    controllers = {
        "source-controller": [f"--storage-path={STATE / (prefix + 'artifacts')}",
                              f"--storage-addr=127.0.0.1:{storage}", f"--storage-adv-addr=127.0.0.1:{storage}"],
        "kustomize-controller": ["--no-remote-bases=true", "--feature-gates=ExternalArtifact=true", *lockdown],
        "helm-controller": ["--feature-gates=ExternalArtifact=true", *lockdown],
    }
    for name, extra in controllers.items():
        metrics, health = free_port(), free_port()
        flags = [f"--metrics-addr=127.0.0.1:{metrics}", f"--health-addr=127.0.0.1:{health}",
                 "--enable-leader-election=false", "--log-encoding=console", *extra]
        state["pids"][prefix + name] = start(prefix + name, [str(binary(name)), *flags], env)
        state["health"][prefix + name] = f"http://127.0.0.1:{health}/readyz"
        record_controller(context, kubeconfig, name, flags)
    write_state(state)


def record_controller(context: str, kubeconfig: Path, name: str, flags: list[str]) -> None:
    """The controller as `flux install` would have it in the cluster: Deployment flux-system/<name>, container
    `manager` with the process's flags (replicas 0: the process is the controller)."""
    labels = {"app": name, "app.kubernetes.io/component": name, "app.kubernetes.io/part-of": "flux"}
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "flux-system", "labels": labels,
                     "annotations": {"devenv.io/lab": "the controller runs as a process of the lab, with these args"}},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
                     "name": "manager", "image": f"ghcr.io/fluxcd/{name}:{FLUX_CONTROLLERS[name]}",
                     "args": flags}]}}}}
    kubectl("apply", "--server-side", "--field-manager=devenv-lab", "-f", "-", input=json.dumps(deployment),
            context=context, kubeconfig=kubeconfig)


def start_shared_cluster(state: dict) -> None:
    """The locked-down shared cluster: its own control plane and Flux (LOCKDOWN flags), its context merged
    into .lab/kubeconfig (the lab's own context stays the current one)."""
    own = STATE / "shared.kubeconfig"
    say(f"starting the locked-down shared cluster {SHARED}")
    kwokctl("--config", str(STATE / "kwok.yaml"), "create", "cluster", "--name", SHARED, "--kubeconfig", str(own),
            "--wait", "180s")
    own.chmod(0o600)
    kwokctl("scale", "node", "--name", SHARED, "--replicas", "1")
    kubectl("wait", "--for=condition=Ready", "node", "--all", "--timeout=120s", context=SHARED_CONTEXT,
            kubeconfig=own)
    merged = subprocess.run([str(binary("kubectl")), "config", "view", "--flatten", "--raw"], capture_output=True,
                            text=True, check=True,
                            env={**os.environ, "KUBECONFIG": os.pathsep.join([str(STATE / "kubeconfig"), str(own)])})
    (STATE / "kubeconfig").write_text(merged.stdout)
    (STATE / "kubeconfig").chmod(0o600)
    apply_crds(SHARED_CONTEXT)
    kubectl("create", "namespace", "flux-system", context=SHARED_CONTEXT)
    start_flux(state, context=SHARED_CONTEXT, kubeconfig=own, prefix="shared-", lockdown=LOCKDOWN)


def start_registry(state: dict) -> None:
    port = free_port()
    config = STATE / "registry.yml"
    config.write_text("version: 0.1\n"
                      "log: {level: info}\n"
                      f"storage: {{filesystem: {{rootdirectory: {STATE / 'registry'}}}, delete: {{enabled: true}}}}\n"
                      f"http: {{addr: 127.0.0.1:{port}}}\n")
    state["pids"]["registry"] = start("registry", [str(binary("registry")), "serve", str(config)],
                                      {"OTEL_TRACES_EXPORTER": "none"})
    state["registry"] = f"127.0.0.1:{port}"
    state["health"]["registry"] = f"http://127.0.0.1:{port}/v2/"
    write_state(state)


def write_env(state: dict) -> None:
    bins = os.pathsep.join(str(BY_NAME[p].bin_dir) for p in ("kubernetes", "flux", "kwok"))
    lines = {
        "KUBECONFIG": str(STATE / "kubeconfig"),
        "DEVENV_LAB_KUBECONTEXT": CONTEXT,
        "DEVENV_LAB_SHARED_KUBECONTEXT": SHARED_CONTEXT,
        "DEVENV_LAB_REGISTRY": state["registry"],
        "DEVENV_LAB_KUBE_VERSION": KUBE_VERSION,
        "DEVENV_LAB_FLUX_VERSION": FLUX_VERSION,
        "DEVENV_KIND": str(binary("kind")),  # the real kind (not on PATH, where the stand-in is)
    }
    text = "".join(f"export {k}='{v}'\n" for k, v in lines.items())
    text += f"export PATH='{bins}':\"$PATH\"\n"
    (STATE / "env").write_text(text)


def up() -> None:
    started = time.monotonic()
    if STATE.exists() and is_up():
        say(f"already up ({CONTEXT}); `. {STATE / 'env'}` to use it")
        return
    if STATE.exists():
        say("a previous lab is not healthy; removing it first")
        down()
    build_missing()
    STATE.mkdir(parents=True, exist_ok=True)
    (STATE / "logs").mkdir(exist_ok=True)
    state = {"ready": False, "pids": {}, "health": {}}
    write_state(state)
    try:
        (STATE / "kwok.yaml").write_text(kwok_config())
        say("starting the control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok)")
        kubeconfig = STATE / "kubeconfig"
        kwokctl("--config", str(STATE / "kwok.yaml"), "create", "cluster", "--name", CLUSTER,
                "--kubeconfig", str(kubeconfig), "--wait", "180s")
        kubeconfig.chmod(0o600)
        kwokctl("scale", "node", "--name", CLUSTER, "--replicas", str(NODES))
        kubectl("wait", "--for=condition=Ready", "node", "--all", "--timeout=120s")
        say(f"API server {server_version()} ready, {NODES} fake nodes Ready")
        apply_crds()
        kubectl("create", "namespace", "flux-system")
        start_registry(state)
        start_flux(state)
        start_shared_cluster(state)
        for name, url in state["health"].items():
            wait_http(url, name, state["pids"][name])
            say(f"{name} healthy")
        write_env(state)
        state["ready"] = True
        write_state(state)
    except BaseException:
        say("start failed; stopping what was started (logs kept in a copy: see below)")
        keep = STATE.with_name(STATE.name + "-failed-logs")
        shutil.rmtree(keep, ignore_errors=True)
        if (STATE / "logs").exists():
            shutil.copytree(STATE / "logs", keep)
            say(f"logs of the failed start: {keep}")
        down()
        raise
    say(f"up in {time.monotonic() - started:.0f} s: `. {STATE / 'env'}` (KUBECONFIG, context {CONTEXT}, "
        f"registry {state['registry']})")


def server_version() -> str:
    info = json.loads(kubectl("version", "-o", "json").stdout)
    return info.get("serverVersion", {}).get("gitVersion", "?")


def down() -> None:
    state = read_state()
    for name, pid in state.get("pids", {}).items():
        stop(pid, name)
    recorded = kwok_pids()
    if (STATE / "kwok").exists() and binary("kwokctl").is_file():
        for cluster in (CLUSTER, SHARED):
            kwokctl("delete", "cluster", "--name", cluster, check=False)
    for name, pid in recorded.items():  # kwokctl stops its own; make sure, by the PIDs it recorded
        stop(pid, name)
    shutil.rmtree(STATE, ignore_errors=True)
    say("down: every recorded process stopped, state removed")


def status() -> int:
    state = read_state()
    if not state:
        print("lab: not up")
        return 1
    for name, pid in {**kwok_pids(), **state.get("pids", {})}.items():
        print(f"{name:24} pid {pid:<8} {'running' if alive(pid) else 'STOPPED'}")
    print(f"registry {state.get('registry')}  contexts {CONTEXT}, {SHARED_CONTEXT} (locked down)  "
          f"kubeconfig {STATE / 'kubeconfig'}")
    return 0 if is_up() else 1


def main(argv: list[str]) -> int:
    commands = {"build": build_missing, "up": up, "down": down, "status": status}
    if len(argv) != 1 or argv[0] not in commands:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        return commands[argv[0]]() or 0
    except LabError as err:
        say(str(err))
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
