"""Time warm starts: `devenv up` from the cache of seeded data, side by side with a fresh start of the same
seed, in one run, for a small seed and a large one (~50 MB of SQL by default).

Every tool starts the same image with the same database and user, loads the same seed, and counts as ready
at the same moment: the first successful login as that user answering SELECT 1, polled every 50 ms (the
entry point opens the network only after the seed is loaded, so that login means "seeded"). Tools run
interleaved, one of each per round in a fresh random order (seeded), with a pause between tools; one
warm-up round is not counted. Reported: medians, and ratios to the floor of the same seed.

    floor                 `docker run -d` with the seed in /docker-entrypoint-initdb.d, then the poll
    testcontainers        MySqlContainer(seed=<the seed folder>) on the same image, then the poll
    devenv cold (lib)     environments.up() with the cache on and no snapshot of this seed (it makes one)
    devenv warm (lib)     environments.up() with the snapshot present
    devenv warm (cli)     the `devenv up` command with the snapshot present (Python's start-up included)
    devenv --no-cache     environments.up(cache=False): today's start, from empty data

usage: python bench/warm_bench.py [--runs 7] [--large-mb 50] [--only small|large]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")  # the reaper image cannot be assumed present

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from up_bench import (  # noqa: E402
    CLI_TO_LIB, DATABASE, IMAGE, PASSWORD, USER, compile_devenv, docker_cli, floor, load_average, testcontainers,
    wait_for_query,
)

from devenv import docker, environments  # noqa: E402
from devenv.cache import Cache, cache_key  # noqa: E402
from devenv.profiles import load_profile  # noqa: E402
from devenv.services import swap_for  # noqa: E402
from devenv.targets.docker import free_port  # noqa: E402

SETTLE = 1.0
RESULTS = ROOT / "bench" / "results" / "warm.json"
ORDER = ["floor", "testcontainers", "devenv --no-cache (lib)", "devenv cold (lib)", "devenv warm (lib)",
         "devenv warm (cli)"]
TARGET = 0.35  # warm `up` at most this fraction of the floor of the same seed


def write_seed(folder: Path, megabytes: float) -> Path:
    """A schema and rows, `megabytes` of SQL (0: the sample orders seed); deterministic content."""
    path = folder / "seed.sql"
    if not megabytes:
        shutil.copy(ROOT / "profiles" / "seed" / "orders.sql", path)
        return path
    rows = random.Random(7)
    with path.open("w") as out:
        out.write("CREATE TABLE events (id INT PRIMARY KEY, kind VARCHAR(20), payload TEXT) ENGINE=InnoDB;\n")
        written, next_id = 0, 0
        while written < megabytes * 1_000_000:
            values = []
            for _ in range(500):
                payload = "".join(rows.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(180))
                values.append(f"({next_id},'kind-{next_id % 17}','{payload}')")
                next_id += 1
            line = f"INSERT INTO events VALUES {','.join(values)};\n"
            out.write(line)
            written += len(line)
    return path


def snapshot_key(profile: Path) -> str:
    spec = load_profile(profile).services[0]
    swap = swap_for(spec.type)
    return cache_key(swap, spec, docker.image_id(docker.connect(), swap.image(spec)))


def devenv_lib(samples: dict, profile: Path, label: str, *, cache: bool) -> None:
    name = f"bench-{uuid.uuid4().hex[:6]}"
    try:
        started = time.monotonic()
        env = environments.up(name, profile, cache=cache)
        samples[label].append(time.monotonic() - started)
        wait_for_query(int(env.services["db"]["port"]), env.services["db"]["password"])  # a check, not timed
    finally:
        environments.down(name)


def devenv_cold(samples: dict, profile: Path) -> None:
    Cache().remove(snapshot_key(profile))  # not timed: the cache starts empty for this key
    devenv_lib(samples, profile, "devenv cold (lib)", cache=True)


def devenv_warm(samples: dict, profile: Path) -> None:
    if Cache().find(snapshot_key(profile)) is None:  # not timed: the snapshot exists before a warm start
        devenv_lib(_empty(), profile, "ignored", cache=True)
    devenv_lib(samples, profile, "devenv warm (lib)", cache=True)


def devenv_warm_cli(samples: dict, profile: Path) -> None:
    if Cache().find(snapshot_key(profile)) is None:
        devenv_lib(_empty(), profile, "ignored", cache=True)
    name = f"bench-cli-{uuid.uuid4().hex[:6]}"
    devenv = [shutil.which("devenv", path=str(Path(sys.executable).parent)) or sys.executable]
    if devenv[0] == sys.executable:
        devenv += ["-m", "devenv"]
    try:
        started = time.monotonic()
        subprocess.run([*devenv, "-q", "up", name, "--profile", str(profile)], check=True, capture_output=True)
        samples["devenv warm (cli)"].append(time.monotonic() - started)
    finally:
        subprocess.run([*devenv, "-q", "down", name], check=True, capture_output=True)


def run_seed(label: str, megabytes: float, runs: int, shuffle: random.Random) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        seed_dir = Path(folder) / "seed"
        seed_dir.mkdir()
        seed = write_seed(seed_dir, megabytes)
        os.chmod(folder, 0o755)
        os.chmod(seed_dir, 0o755)
        os.chmod(seed, 0o644)
        profile = Path(folder) / "bench.yaml"
        profile.write_text(
            "version: 1\nname: bench\ntarget: docker\nmirror: clusters/production\nservices:\n"
            f"  db:\n    type: mariadb\n    database: {DATABASE}\n    user: {USER}\n    seed: [seed/seed.sql]\n")
        tools = {
            "floor": lambda s: floor(s, seed_dir),
            "testcontainers": lambda s: testcontainers(s, seed_dir),
            "devenv --no-cache (lib)": lambda s: devenv_lib(s, profile, "devenv --no-cache (lib)", cache=False),
            "devenv cold (lib)": lambda s: devenv_cold(s, profile),
            "devenv warm (lib)": lambda s: devenv_warm(s, profile),
            "devenv warm (cli)": lambda s: devenv_warm_cli(s, profile),
        }
        samples = _empty()
        try:
            for round_ in range(runs + 1):
                if round_ == 1:
                    samples = _empty()
                order = shuffle.sample(list(tools), len(tools))
                for name in order:
                    time.sleep(SETTLE)
                    tools[name](samples)
                print(f"{label} round {round_}{' (warm-up)' if round_ == 0 else ''}: {', '.join(order)}",
                      file=sys.stderr, flush=True)
        finally:
            Cache().remove(snapshot_key(profile))
        return {"seed_bytes": seed.stat().st_size, "results": _rows(samples)}


def _rows(samples: dict[str, list[float]]) -> dict:
    floor_median = statistics.median(samples["floor"])
    rows = {}
    for name in sorted((n for n in samples if n in ORDER), key=ORDER.index):
        values = samples[name]
        median = statistics.median(values)
        row = {"median_s": round(median, 3), "min_s": round(min(values), 3), "max_s": round(max(values), 3),
               "runs": len(values), "ratio_to_floor": round(median / floor_median, 3),
               "samples_s": [round(v, 3) for v in values]}
        if name.startswith("devenv warm"):
            row["target"] = f"<= {TARGET}x"
            row["meets_target"] = row["ratio_to_floor"] <= TARGET
        rows[name] = row
    lib, cli = rows.get("devenv warm (lib)"), rows.get("devenv warm (cli)")
    if lib and cli:
        rows["devenv warm (cli)"]["ratio_to_lib"] = round(cli["median_s"] / lib["median_s"], 3)
    return rows


def _empty() -> dict[str, list[float]]:
    from collections import defaultdict

    return defaultdict(list)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="counted rounds per seed (default 7)")
    parser.add_argument("--large-mb", type=float, default=50, help="size of the large seed in MB of SQL (default 50)")
    parser.add_argument("--only", choices=["small", "large"], help="one seed only")
    parser.add_argument("--seed", type=int, default=1, help="seed of the per-round order (default 1)")
    args = parser.parse_args()
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode != 0:
        print(f"image {IMAGE} is not present locally (the bench never pulls); set DEVENV_MARIADB_IMAGE", file=sys.stderr)
        return 2
    shuffle = random.Random(args.seed)
    seeds = [("small", 0.0), ("large", args.large_mb)]
    bytecode, load_at_start = compile_devenv(), load_average()
    report = {
        "image": IMAGE, "runs": args.runs, "settle_s": SETTLE, "order": "random per round", "bytecode": bytecode,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "docker": docker_cli("version", "--format", "{{.Server.Version}}"),
                    "load_average_start": load_at_start},
        "seeds": {label: run_seed(label, mb, args.runs, shuffle) for label, mb in seeds
                  if args.only in (None, label)},
    }
    report["machine"]["load_average_end"] = load_average()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    _print(report)
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}", file=sys.stderr)
    return 0


def _print(report: dict) -> None:
    machine = report["machine"]
    print(f"image {report['image']}, {report['runs']} runs each (medians; ratio to the floor of the same seed); "
          f"load average {machine['load_average_start']} at the start, {machine['load_average_end']} at the end")
    for label, seed in report["seeds"].items():
        print(f"\n{label} seed ({seed['seed_bytes'] / 1e6:.1f} MB of SQL)")
        print(f"{'tool':<26} {'median':>8} {'min':>8} {'max':>8} {'ratio':>7}  target")
        for name, row in seed["results"].items():
            verdict = "" if "target" not in row else f"{row['target']}: {'met' if row['meets_target'] else 'MISSED'}"
            if "ratio_to_lib" in row:
                verdict += f"  ({row['ratio_to_lib']:.2f}x the lib; <= {CLI_TO_LIB}x: " \
                           f"{'met' if row['ratio_to_lib'] <= CLI_TO_LIB else 'MISSED'})"
            print(f"{name:<26} {row['median_s']:>7.3f}s {row['min_s']:>7.3f}s {row['max_s']:>7.3f}s "
                  f"{row['ratio_to_floor']:>6.2f}x  {verdict}")


if __name__ == "__main__":
    sys.exit(main())
