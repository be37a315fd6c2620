"""Time `devenv up` of the embedded platform on the lab (the kind stand-in: a fresh API server per
environment, the lab's Flux controllers), for delivery `apply` and delivery `flux`, each phase from
`up --timings`; then a re-`up` with nothing changed, and for `flux` the inner loop: `devenv sync` after a
one-line change to a ConfigMap, until Flux has applied it, side by side with what a Flux user does by hand
for the same change (`flux push artifact`, point the OCIRepository at the new digest, `flux reconcile
kustomization apps --with-source`).

Needs the lab (`make lab`), Docker and the offline images (DEVENV_MARIADB_IMAGE, DEVENV_OPENSEARCH_IMAGE).
Each round makes one environment per delivery and removes it; medians over the rounds, ratios to the manual
loop. Writes bench/results/cluster.json.

usage: python bench/cluster_bench.py [--runs 3]
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
from test_kind_standin import platform_with_local_charts, standin_env  # noqa: E402

CONFIGMAP = "apps/base/catalog/configmap.yaml"


def devenv(*args: str, env: dict[str, str]) -> tuple[float, dict]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "devenv", *args, "-o", "json"], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=900)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"devenv {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds, json.loads(done.stdout)


def run(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(list(args), capture_output=True, text=True, env=env, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def profile(folder: Path, delivery: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "seed").exists():
        (folder / "seed").symlink_to(ROOT / "profiles" / "seed")
    text = (ROOT / "profiles" / "local.yaml").read_text()
    text = text.replace("delivery: apply\n", f"delivery: {delivery}\n").replace("delivery: flux\n",
                                                                                f"delivery: {delivery}\n")
    path = folder / f"{delivery}.yaml"
    path.write_text(text)
    return path


def edit(platform_root: Path, value: str) -> None:
    path = platform_root / CONFIGMAP
    lines = [line for line in path.read_text().splitlines() if not line.startswith("  BENCH:")]
    at = lines.index("data:") + 1
    path.write_text("\n".join(lines[:at] + [f"  BENCH: \"{value}\""] + lines[at:]) + "\n")


def manual_loop(lab, env, kubeconfig: Path, name: str, platform_root: Path, value: str) -> float:
    """What a Flux user runs by hand for the same change: push, point the source at it, reconcile."""
    edit(platform_root, value)
    started = time.monotonic()
    pushed = json.loads(run("flux", "push", "artifact", f"oci://{lab.registry}/devenv/{name}/platform:latest",
                            f"--path={platform_root}", "--source=bench", f"--revision=bench-{value}",
                            "--insecure-registry", "-o", "json", env=env))
    patch = json.dumps({"spec": {"ref": {"digest": pushed["digest"]}}})
    run("kubectl", "--kubeconfig", str(kubeconfig), "-n", "flux-system", "patch", "ocirepository",
        "devenv-platform", "--type", "merge", "-p", patch, env=env)
    run("flux", "--kubeconfig", str(kubeconfig), "reconcile", "kustomization", "apps", "-n", "flux-system",
        "--with-source", "--timeout", "5m", env=env)
    seconds = time.monotonic() - started
    live = json.loads(run("kubectl", "--kubeconfig", str(kubeconfig), "-n", "shop", "get", "configmap",
                          "catalog-config", "-o", "json", env=env))
    assert live["data"]["BENCH"] == value, live["data"]
    return seconds


def one_round(lab, work: Path, delivery: str, index: int) -> dict:
    name = f"bench-{delivery[:2]}-{uuid.uuid4().hex[:5]}"
    root = platform_with_local_charts(work / f"{name}-tree", lab.registry)
    prof = profile(work / "profiles", delivery)
    env = {**standin_env(lab, work / "state"), "DEVENV_CACHE": os.environ.get("DEVENV_CACHE", "on")}
    if delivery == "flux":
        env["DEVENV_REGISTRY"] = lab.registry
    kubeconfig = work / "state" / "devenv" / "kubeconfig" / name
    out: dict = {"delivery": delivery}
    try:
        out["up"], first = devenv("up", name, "--profile", str(prof), "--platform", str(root), "--timings", env=env)
        out["phases"] = first.get("timings", [])
        out["re-up"], _ = devenv("up", name, "--profile", str(prof), "--platform", str(root), env=env)
        if delivery == "flux":
            edit(root, f"sync-{index}")
            out["sync"], synced = devenv("sync", name, env=env)
            assert any(c == "ConfigMap shop/catalog-config: changed" for c in synced["changes"]), synced
            out["manual"] = manual_loop(lab, env, kubeconfig, name, root, f"manual-{index}")
    finally:
        subprocess.run([sys.executable, "-m", "devenv", "down", name], capture_output=True, env=env, cwd=ROOT)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    lab, why = cluster()
    if lab is None or not lab.is_lab or not lab.registry:
        raise SystemExit(f"cluster_bench needs the lab: {why or 'not the lab, or no registry'}")
    rounds = []
    with tempfile.TemporaryDirectory(prefix="devenv-cluster-bench-") as tmp:
        for index in range(args.runs):
            for delivery in ("apply", "flux"):
                rounds.append(one_round(lab, Path(tmp), delivery, index))
                print(f"round {index + 1}/{args.runs} {delivery}: " + ", ".join(
                    f"{k} {v:.1f}s" for k, v in rounds[-1].items() if isinstance(v, float)), file=sys.stderr)

    def median(delivery: str, key: str) -> float | None:
        values = [r[key] for r in rounds if r["delivery"] == delivery and key in r]
        return statistics.median(values) if values else None

    print(f"{'':28}{'median':>9}")
    for delivery in ("apply", "flux"):
        print(f"up, delivery {delivery:<15}{median(delivery, 'up'):8.1f}s")
        phases: dict[str, list[float]] = {}
        for r in (r for r in rounds if r["delivery"] == delivery):
            for p in r["phases"]:
                phases.setdefault(p["phase"], []).append(p["seconds"])
        for name, values in phases.items():
            print(f"  {name:<26}{statistics.median(values):8.2f}s")
        print(f"re-up, delivery {delivery:<12}{median(delivery, 're-up'):8.2f}s   target < 2 s")
    sync, manual = median("flux", "sync"), median("flux", "manual")
    print(f"{'sync (one-line change)':<28}{sync:8.2f}s   target < 5 s; {sync / manual:.2f}x the manual loop")
    print(f"{'manual push+patch+reconcile':<28}{manual:8.2f}s   1.00x")
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "cluster.json").write_text(json.dumps(
        {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()}, "rounds": rounds}, indent=2))


if __name__ == "__main__":
    main()
