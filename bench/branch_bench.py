"""Time a branch environment (the namespace target) on the lab: `devenv up X --profile branch --context <lab>`
until every kept Kustomization is Ready as the environment's ServiceAccount and the data services'
StatefulSets are Ready, each phase from `up --timings`; an unchanged re-`up`; and `devenv down` until the
namespace is gone. Side by side, in the same rounds, what a user does by hand with kubectl and flux for the
same environment: `kubectl apply` of the very objects devenv would create (from `up --dry-run -o json`,
written beforehand, not timed), `flux push artifact` of the platform, the OCIRepository pointed at the
pushed digest, `kubectl wait` for the Kustomization and `kubectl rollout status` of the StatefulSets; and
`kubectl delete namespace --wait`.

Needs the lab (`make lab`); no Docker. The lab has no volume provisioner: each round offers static
PersistentVolumes of a class of its own. Medians over the rounds, ratios to the manual path. Writes
bench/results/branch.json.

usage: python bench/branch_bench.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "integration")]

from lab_env import cluster  # noqa: E402


def timed(argv: list[str], env: dict[str, str], stdin: str | None = None) -> tuple[float, str]:
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, timeout=900, input=stdin)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds, done.stdout


def devenv(*args: str) -> list[str]:
    return [sys.executable, "-m", "devenv", *args]


class Round:
    def __init__(self, lab, work: Path):
        self.lab = lab
        self.run = uuid.uuid4().hex[:5]
        self.work = work / self.run
        self.work.mkdir(parents=True)
        self.storage = f"devenv-bench-{self.run}"
        self.env = {**os.environ, "PATH": lab.path, "KUBECONFIG": lab.kubeconfig, "DEVENV_REGISTRY": lab.registry,
                    "XDG_STATE_HOME": str(self.work / "state"), "XDG_CONFIG_HOME": str(self.work / "config")}
        (self.work / "seed").symlink_to(ROOT / "profiles" / "seed")
        text = (ROOT / "profiles" / "branch.yaml").read_text()
        text = text.replace("contexts: []", f"contexts: [{lab.context}]")
        text = text.replace("storageClass: gp3\n", f"storageClass: {self.storage}\n")
        text = text.replace("  volumeSize: 1Gi", f"  storageClass: {self.storage}\n  volumeSize: 1Gi")
        self.profile = self.work / "branch.yaml"
        self.profile.write_text(text)
        volumes = [{"apiVersion": "v1", "kind": "PersistentVolume",
                    "metadata": {"name": f"{self.storage}-{i}", "labels": {"devenv.bench/run": self.run}},
                    "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"],
                             "storageClassName": self.storage, "persistentVolumeReclaimPolicy": "Retain",
                             "hostPath": {"path": f"/tmp/{self.storage}-{i}"}}} for i in range(6)]
        self.kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": volumes}))

    def kubectl(self, *args: str, stdin: str | None = None) -> tuple[float, str]:
        return timed(["kubectl", "--context", self.lab.context, *args], self.env, stdin)

    def with_devenv(self) -> dict:
        name = f"bench-{self.run}"
        out: dict = {}
        ctx = ["--profile", str(self.profile), "--context", self.lab.context]
        out["up"], text = timed(devenv("up", name, *ctx, "--timings", "-o", "json"), self.env)
        out["phases"] = json.loads(text).get("timings", [])
        out["re-up"], _ = timed(devenv("up", name, *ctx, "-o", "json"), self.env)
        out["down"], _ = timed(devenv("down", name), self.env)
        self.gone(f"devenv-{name}")
        return out

    def by_hand(self) -> dict:
        name = f"hand-{self.run}"
        ns = f"devenv-{name}"
        _, text = timed(devenv("up", name, "--profile", str(self.profile), "--context", self.lab.context,
                               "--dry-run", "-o", "json"), self.env)
        objects = json.loads(text)["objects"]
        for obj in objects:  # real secrets, as a user would write them
            if obj["kind"] == "Secret":
                obj["stringData"] = {k: uuid.uuid4().hex for k in obj.get("stringData") or {}}
        source = next(o for o in objects if o["kind"] == "OCIRepository")
        first = [o for o in objects if o["kind"] not in ("OCIRepository", "Kustomization")]
        flux = [o for o in objects if o["kind"] == "Kustomization"]
        started = time.monotonic()
        self.kubectl("apply", "--server-side", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List",
                                                                            "items": first}))
        _, pushed = timed(["flux", "push", "artifact", f"{source['spec']['url']}:latest", f"--path={ROOT / 'components'}",
                           "--source=bench", "--revision=bench", "--insecure-registry", "-o", "json"], self.env)
        source["spec"]["ref"] = {"digest": json.loads(pushed)["digest"]}
        self.kubectl("apply", "--server-side", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List",
                                                                            "items": [source] + flux}))
        for k in flux:
            self.kubectl("-n", ns, "wait", "--for=condition=Ready", f"kustomization/{k['metadata']['name']}",
                         "--timeout=10m")
        for obj in (o for o in first if o["kind"] == "StatefulSet"):
            self.kubectl("-n", ns, "rollout", "status", f"statefulset/{obj['metadata']['name']}", "--timeout=10m")
        out = {"up": time.monotonic() - started}
        out["down"], _ = self.kubectl("delete", "namespace", ns, "--wait=true", "--timeout=5m")
        return out

    def gone(self, ns: str) -> None:
        deadline = time.monotonic() + 180
        while subprocess.run(["kubectl", "--context", self.lab.context, "get", "namespace", ns], env=self.env,
                             capture_output=True).returncode == 0:
            if time.monotonic() > deadline:
                raise SystemExit(f"namespace {ns} still there")
            time.sleep(0.5)

    def clean(self) -> None:
        subprocess.run(["kubectl", "--context", self.lab.context, "delete", "pv", "-l", f"devenv.bench/run={self.run}",
                        "--wait=false"], env=self.env, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    lab, why = cluster()
    if lab is None or not lab.is_lab or not lab.registry:
        raise SystemExit(f"branch_bench needs the lab: {why or 'not the lab, or no registry'}")
    rounds = []
    with tempfile.TemporaryDirectory(prefix="devenv-branch-bench-") as tmp:
        for index in range(args.runs):
            one = Round(lab, Path(tmp))
            try:
                order = [("devenv", one.with_devenv), ("by hand", one.by_hand)]
                if index % 2:
                    order.reverse()
                for tool, measure in order:
                    rounds.append({"tool": tool, **measure()})
                    print(f"round {index + 1}/{args.runs} {tool}: " + ", ".join(
                        f"{k} {v:.1f}s" for k, v in rounds[-1].items() if isinstance(v, float)), file=sys.stderr)
            finally:
                one.clean()

    def median(tool: str, key: str) -> float:
        return statistics.median(r[key] for r in rounds if r["tool"] == tool and key in r)

    hand_up, hand_down = median("by hand", "up"), median("by hand", "down")
    print(f"{'':34}{'median':>9}   ratio")
    print(f"{'up, devenv (until all Ready)':<34}{median('devenv', 'up'):8.1f}s   {median('devenv', 'up') / hand_up:.2f}x")
    phases: dict[str, list[float]] = {}
    for r in (r for r in rounds if r["tool"] == "devenv"):
        for p in r["phases"]:
            phases.setdefault(p["phase"], []).append(p["seconds"])
    for name, values in phases.items():
        print(f"  {name:<32}{statistics.median(values):8.2f}s")
    print(f"{'up, by hand (kubectl + flux)':<34}{hand_up:8.1f}s   1.00x")
    print(f"{'re-up, devenv (nothing changed)':<34}{median('devenv', 're-up'):8.2f}s")
    print(f"{'down, devenv (namespace gone)':<34}{median('devenv', 'down'):8.1f}s   "
          f"{median('devenv', 'down') / hand_down:.2f}x")
    print(f"{'down, kubectl delete ns --wait':<34}{hand_down:8.1f}s   1.00x")
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "branch.json").write_text(json.dumps(
        {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()}, "rounds": rounds}, indent=2))


if __name__ == "__main__":
    main()
