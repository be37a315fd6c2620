"""Render bench: `devenv render` against raw kustomize builds of the same Flux Kustomization paths, side by
side in one run, interleaved, medians of several runs, on three workloads:

  generated  a generated 60-service platform shaped like components/ (bench/gen_platform.py)
  embedded   the embedded platform (components/, cluster folder clusters/production, profile local)
  cases      the render cases of tests/data/render-cases/ (each a tiny repository with its own profile):
             one `devenv render` per case, all at once, against every raw build of every case at once

    python bench/render_bench.py [--services 60] [--runs 7] [--workloads generated,embedded,cases]

Compared (each a whole command, as a user runs it, Python start-up included for devenv):
  raw-sequential  `kubectl kustomize <path>` (or `kustomize build`) for every path, one after another:
                  what a shell loop over the cluster's Kustomizations does (no substitution, no exclusion)
  raw-parallel    the same builds, all at once (the floor for any tool that shells out to kustomize)
  devenv          `devenv render NAME --platform DIR -o -` : every build, plus the Flux spec on top,
                  AWS exclusions and adaptations, and strict post-build substitution
A path without a kustomization file is built by kustomize-controller from the files it lists, which raw
kustomize cannot do: it is left out of the raw builds (devenv reads such folders in Python).
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
CASES = ROOT / "tests" / "data" / "render-cases"
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def kustomize_argv(path: Path) -> list[str]:
    if shutil.which("kustomize"):
        return ["kustomize", "build", "--load-restrictor", "LoadRestrictionsNone", str(path)]
    return ["kubectl", "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(path)]


def kustomization_paths(platform: Path, mirror: str = MIRROR) -> list[Path]:
    """The spec.path of every Flux Kustomization in the mirrored cluster folder and in what those paths hold
    (nested ones), but the bootstrap one; only folders raw kustomize can build (with a kustomization file)."""
    paths: list[Path] = []
    pending = [platform / mirror]
    seen: set[Path] = set()
    while pending:
        folder = pending.pop(0)
        if folder in seen or not folder.is_dir():
            continue
        seen.add(folder)
        for file in sorted(folder.rglob("*.yaml")):
            try:
                docs = list(yaml.safe_load_all(file.read_text()))
            except yaml.YAMLError:
                continue
            for doc in docs:
                if isinstance(doc, dict) and doc.get("kind") == "Kustomization" and isinstance(doc.get("spec"), dict):
                    path = str(doc["spec"].get("path") or "./").removeprefix("./").rstrip("/")
                    if path == mirror or "$" in path:
                        continue
                    target = platform / path
                    if target.is_dir() and target != platform / mirror and target not in paths:
                        paths.append(target)
                        pending.append(target)
    return [p for p in paths if any((p / name).is_file() for name in KUSTOMIZATION_FILES)]


def run_all(argvs: list[list[str]], *, check: bool = True) -> None:
    with ThreadPoolExecutor(max_workers=max(1, len(argvs))) as pool:
        list(pool.map(lambda argv: subprocess.run(argv, check=check, capture_output=True), argvs))


def workload(name: str, work: Path, services: int) -> tuple[list[Path], list[list[str]]]:
    """(raw build paths, devenv commands) of a workload."""
    devenv = [sys.executable, "-m", "devenv", "render", "bench"]
    if name == "generated":
        platform = work / "platform"
        subprocess.run([sys.executable, str(HERE / "gen_platform.py"), str(platform), "--services", str(services)],
                       check=True, capture_output=True)
        return kustomization_paths(platform), [devenv + ["--profile", "local", "--platform", str(platform), "-o", "-"]]
    if name == "embedded":
        return (kustomization_paths(ROOT / "components"),
                [devenv + ["--profile", "local", "--platform", str(ROOT / "components"), "-o", "-"]])
    cases = sorted(p for p in CASES.iterdir() if (p / "profile.yaml").is_file())
    paths = [path for case in cases for path in kustomization_paths(case, "clusters/dev")]
    # a case folder raw kustomize refuses (an empty kustomization.yaml, which kustomize-controller builds
    # to nothing) is no build to time
    buildable = [p for p in paths if subprocess.run(kustomize_argv(p), capture_output=True).returncode == 0]
    return buildable, [devenv + ["--profile", str(case / "profile.yaml"), "--platform", str(case),
                                 "--skip-unbuildable", "-o", "-"] for case in cases]


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def breakdown(runs: int) -> dict:
    """Python's start-up, devenv's imports for a render, a whole `devenv render` of a case that runs no
    kustomize, and the one kustomize build the embedded platform needs (devenv reads its other folders in
    Python): interleaved, medians."""
    case = CASES / "r2-duplicate-anchor"
    parts = {
        "python start-up (python -c pass)": [sys.executable, "-c", "pass"],
        "python + devenv's imports for render": [sys.executable, "-c", "import devenv.cli, devenv.cli.render, "
                                                 "devenv.flux.render, devenv.domain.profiles, devenv.domain.naming"],
        "devenv render of a case without kustomize": [sys.executable, "-m", "devenv", "render", "bench", "--profile",
                                                      str(case / "profile.yaml"), "--platform", str(case), "-o", "-"],
        "kustomize build of components' apps": kustomize_argv(ROOT / "components" / "apps" / "production"),
        "devenv render of the embedded platform": [sys.executable, "-m", "devenv", "render", "bench", "--profile",
                                                   "local", "--platform", str(ROOT / "components"), "-o", "-"],
    }
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    samples: dict[str, list[float]] = {part: [] for part in parts}
    for _ in range(runs):
        for part, argv in parts.items():
            samples[part].append(timed(lambda: subprocess.run(argv, check=True, capture_output=True)))
    return {"median_seconds": {p: statistics.median(v) for p, v in samples.items()}, "samples": samples,
            "load_average": {"start": load_at_start, "end": [round(x, 2) for x in os.getloadavg()]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", type=int, default=60)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--workloads", default="generated,embedded,cases")
    parser.add_argument("--breakdown", action="store_true",
                        help="also time Python's start-up, devenv's imports, a render without kustomize and one "
                             "kustomize build of the embedded platform's apps")
    args = parser.parse_args()
    names = [n for n in args.workloads.split(",") if n and n != "breakdown"]

    work = Path(tempfile.mkdtemp(prefix="devenv-render-bench-"))
    results: dict[str, dict] = {}
    try:
        # what a user's install has: pip compiles .pyc for a regular install (an editable one writes them on its
        # first run, unless PYTHONDONTWRITEBYTECODE is set, as in this sandbox)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "devenv")], check=True,
                       capture_output=True)
        for name in names:
            paths, commands = workload(name, work, args.services)
            load_at_start = [round(x, 2) for x in os.getloadavg()]

            def raw_sequential() -> None:
                for path in paths:
                    subprocess.run(kustomize_argv(path), check=True, capture_output=True)

            def raw_parallel() -> None:
                run_all([kustomize_argv(p) for p in paths])

            def render() -> None:
                run_all(commands, check=name != "cases")  # a case may fail on purpose (it says why)

            tools = {"raw-sequential": raw_sequential, "raw-parallel": raw_parallel, "devenv": render}
            render()  # warm the file system cache for every tool alike
            raw_sequential()
            samples: dict[str, list[float]] = {tool: [] for tool in tools}
            for _ in range(args.runs):  # interleaved, so every tool shares the machine's noise
                for tool, fn in tools.items():
                    samples[tool].append(timed(fn))
            medians = {tool: statistics.median(values) for tool, values in samples.items()}
            results[name] = {
                "raw_builds": len(paths), "devenv_processes": len(commands), "runs": args.runs,
                "median_seconds": medians,
                "ratio_to_raw_sequential": {t: m / medians["raw-sequential"] for t, m in medians.items()},
                "ratio_to_raw_parallel": {t: m / medians["raw-parallel"] for t, m in medians.items()},
                "samples": samples,
                "load_average": {"start": load_at_start, "end": [round(x, 2) for x in os.getloadavg()]},
            }
    finally:
        shutil.rmtree(work, ignore_errors=True)

    if "breakdown" in args.workloads.split(",") or args.breakdown:
        results["breakdown"] = breakdown(args.runs)
    for name, result in results.items():
        if name == "breakdown":
            print(f"where a render's time goes (median of {args.runs} runs, load average "
                  f"{result['load_average']['start']} at the start, {result['load_average']['end']} at the end):")
            for part, median in result["median_seconds"].items():
                print(f"  {part:<44}{median:>8.3f} s")
            print()
            continue
        medians = result["median_seconds"]
        print(f"render bench, {name}: {result['raw_builds']} raw kustomize builds, {result['devenv_processes']} devenv "
              f"process(es), median of {args.runs} runs; load average {result['load_average']['start']} at the start, "
              f"{result['load_average']['end']} at the end")
        print(f"{'tool':<16}{'median s':>10}{'x raw-seq':>11}{'x raw-par':>11}")
        for tool, median in medians.items():
            print(f"{tool:<16}{median:>10.3f}{median / medians['raw-sequential']:>11.2f}"
                  f"{median / medians['raw-parallel']:>11.2f}")
        print()
    out = HERE / "results" / "render.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"services": args.services, "kustomize": " ".join(kustomize_argv(Path("PATH"))[:-1]),
                               "bytecode": "devenv's modules compiled beforehand (python -m compileall), as a regular "
                                           "pip install has them", "workloads": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
