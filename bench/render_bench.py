"""Render bench: `devenv render` of a generated 60-service platform against raw kustomize builds of
the same Flux Kustomization paths, side by side in one run, interleaved, medians of several runs.

    python bench/render_bench.py [--services 60] [--runs 7]

Compared (each a whole command, as a user runs it, Python start-up included for devenv):
  raw-sequential  `kubectl kustomize <path>` (or `kustomize build`) for every path, one after another:
                  what a shell loop over the cluster's Kustomizations does (no substitution, no exclusion)
  raw-parallel    the same builds, all at once (the floor for any tool that shells out to kustomize)
  devenv          `devenv render NAME --platform DIR -o -` : every build, plus the Flux spec on top,
                  AWS exclusions and adaptations, and strict post-build substitution
devenv's modules are compiled to bytecode first (python -m compileall), as a regular `pip install` has them;
the raw builds are Go binaries and are timed as they are. Load averages at the start and the end are recorded.
Writes a table to stdout and bench/results/render.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MIRROR = "clusters/production"


def kustomize_argv(path: Path) -> list[str]:
    if shutil.which("kustomize"):
        return ["kustomize", "build", "--load-restrictor", "LoadRestrictionsNone", str(path)]
    return ["kubectl", "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(path)]


def kustomization_paths(platform: Path) -> list[Path]:
    """The spec.path of every Flux Kustomization in the mirrored cluster folder, but the bootstrap one."""
    paths = []
    for file in sorted((platform / MIRROR).rglob("*.yaml")):
        for doc in yaml.safe_load_all(file.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "Kustomization" and "spec" in doc:
                path = doc["spec"]["path"].removeprefix("./")
                if path != MIRROR:
                    paths.append(platform / path)
    return paths


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", type=int, default=60)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="devenv-render-bench-"))
    try:
        platform = work / "platform"
        subprocess.run([sys.executable, str(HERE / "gen_platform.py"), str(platform), "--services", str(args.services)],
                       check=True, capture_output=True)
        paths = kustomization_paths(platform)
        # what a user's install has: pip compiles .pyc for a regular install (an editable one writes them on its
        # first run, unless PYTHONDONTWRITEBYTECODE is set, as in this sandbox)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "devenv")], check=True,
                       capture_output=True)
        load_at_start = [round(x, 2) for x in os.getloadavg()]
        devenv = [sys.executable, "-m", "devenv", "render", "bench", "--profile", "local",
                  "--platform", str(platform), "-o", "-"]

        def raw_sequential() -> None:
            for path in paths:
                subprocess.run(kustomize_argv(path), check=True, capture_output=True)

        def raw_parallel() -> None:
            with ThreadPoolExecutor(max_workers=len(paths)) as pool:
                list(pool.map(lambda p: subprocess.run(kustomize_argv(p), check=True, capture_output=True), paths))

        def render() -> None:
            subprocess.run(devenv, check=True, capture_output=True)

        tools = {"raw-sequential": raw_sequential, "raw-parallel": raw_parallel, "devenv": render}
        render()  # warm the file system cache for every tool alike
        raw_sequential()
        samples: dict[str, list[float]] = {name: [] for name in tools}
        for _ in range(args.runs):  # interleaved, so every tool shares the machine's noise
            for name, fn in tools.items():
                samples[name].append(timed(fn))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    medians = {name: statistics.median(values) for name, values in samples.items()}
    floor = medians["raw-sequential"]
    result = {
        "services": args.services, "kustomizations": len(paths), "runs": args.runs,
        "kustomize": " ".join(kustomize_argv(Path("PATH"))[:-1]),
        "median_seconds": medians, "ratio_to_raw_sequential": {n: m / floor for n, m in medians.items()},
        "ratio_to_raw_parallel": {n: m / medians["raw-parallel"] for n, m in medians.items()},
        "samples": samples,
        "bytecode": "devenv's modules compiled beforehand (python -m compileall), as a regular pip install has them",
        "load_average": {"start": load_at_start, "end": [round(x, 2) for x in os.getloadavg()]},
    }
    print(f"render bench: {args.services} services, {len(paths)} Flux Kustomizations, median of {args.runs} runs; "
          f"load average {result['load_average']['start']} at the start, {result['load_average']['end']} at the end")
    print(f"{'tool':<16}{'median s':>10}{'x raw-seq':>11}{'x raw-par':>11}")
    for name, median in medians.items():
        print(f"{name:<16}{median:>10.3f}{median / floor:>11.2f}{median / medians['raw-parallel']:>11.2f}")
    out = HERE / "results" / "render.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
