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

OpenSearch, with the sample catalog seed (profiles/seed/catalog.json, an index template, and catalog.ndjson,
a bulk file) and a 512 MB heap everywhere; every tool is done when the seeded index answers
`GET /catalog/_count` with all its documents (polled every 100 ms, devenv's interval; part of every time):

    floor                 `docker run -d` (single-node, security off, the heap), a health poll, the template
                          and the bulk file loaded over the REST API (refresh=true), then the count
    floor (single-node in opensearch.yml)
                          the same, with discovery.type in a mounted opensearch.yml: the offline image's
                          /bin/sh drops variables with a dot, so in every other row the node starts as a zen
                          cluster and bootstraps after a 3 s wait (a warm start, with a voting configuration
                          in its data, does not wait); shown to separate that from the seed's cost
    devenv cold (lib)     environments.up() with no snapshot of this seed (it makes one), then the count
    devenv warm (lib)     environments.up() with the snapshot present, then the count
    devenv warm (cli)     `devenv up -o json` with the snapshot present, then the count

usage: python bench/warm_bench.py [--runs 7] [--large-mb 50] [--only small|large|search]
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
import urllib.request
import uuid
from pathlib import Path

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")  # the reaper image cannot be assumed present

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from up_bench import (  # noqa: E402
    DATABASE, IMAGE, PASSWORD, TESTCONTAINERS_MISSING, USER, compile_devenv, docker_cli, floor,
    has_testcontainers, load_average, testcontainers, wait_for_query,
)

from devenv.clients import docker  # noqa: E402
from devenv.lifecycle import environments
from devenv.services.cache import Cache, cache_key  # noqa: E402
from devenv.domain.profiles import load_profile  # noqa: E402
from devenv.services import swap_for  # noqa: E402
from devenv.targets.docker import free_port  # noqa: E402

SETTLE = 1.0
RESULTS = ROOT / "bench" / "results" / "warm.json"
SINGLE_NODE_FLOOR = "floor (single-node in opensearch.yml)"
ORDER = ["floor", SINGLE_NODE_FLOOR, "testcontainers", "devenv --no-cache (lib)", "devenv cold (lib)",
         "devenv warm (lib)", "devenv warm (cli)"]
SEARCH_IMAGE = os.environ.get("DEVENV_OPENSEARCH_IMAGE") or "opensearchproject/opensearch:2"
SEARCH_HEAP = "512m"
SEARCH_POLL = 0.1  # devenv's poll interval for OpenSearch
SEARCH_TIMEOUT = 300
SEARCH_SEED = ("catalog.json", "catalog.ndjson")
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
            **({"testcontainers": lambda s: testcontainers(s, seed_dir)} if has_testcontainers() else {}),
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
        rows = _rows(samples)
        if "testcontainers" not in tools:
            rows["testcontainers"] = {"unavailable": TESTCONTAINERS_MISSING}
        return {"seed_bytes": seed.stat().st_size, "results": rows}


# -- OpenSearch ---------------------------------------------------------------------------------------


def _search(url: str, method: str = "GET", body: bytes | None = None, content_type: str = "application/json"):
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read() or b"{}")


def _poll(what: str, attempt) -> None:
    deadline = time.monotonic() + SEARCH_TIMEOUT
    while True:
        try:
            if attempt():
                return
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} after {SEARCH_TIMEOUT}s")
        time.sleep(SEARCH_POLL)


def wait_for_count(url: str, documents: int) -> None:
    """Poll until `GET /catalog/_count` answers with every seeded document."""
    _poll(f"{url}/catalog/_count did not answer {documents}",
          lambda: _search(f"{url}/catalog/_count").get("count") == documents)


def search_floor(samples: dict, seed_dir: Path, documents: int, label: str = "floor",
                 config: Path | None = None) -> None:
    """`docker run -d`, a health poll, the seed over the REST API as a user would load it, the count."""
    name, port = f"bench-floor-search-{uuid.uuid4().hex[:6]}", free_port()
    url = f"http://127.0.0.1:{port}"
    mount = ["-v", f"{config}:/usr/share/opensearch/config/opensearch.yml:ro"] if config else []
    started = time.monotonic()
    docker_cli("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:9200", *mount,
               "-e", "discovery.type=single-node", "-e", "DISABLE_SECURITY_PLUGIN=true",
               "-e", f"OPENSEARCH_JAVA_OPTS=-Xms{SEARCH_HEAP} -Xmx{SEARCH_HEAP}", SEARCH_IMAGE)
    try:
        _poll(f"no health at {url}",
              lambda: _search(f"{url}/_cluster/health").get("status") in ("yellow", "green"))
        _search(f"{url}/_index_template/catalog", "PUT", (seed_dir / "catalog.json").read_bytes())
        answer = _search(f"{url}/_bulk?refresh=true", "POST", (seed_dir / "catalog.ndjson").read_bytes(),
                         "application/x-ndjson")
        if answer.get("errors"):
            raise RuntimeError(f"the floor's bulk load was refused: {json.dumps(answer)[:300]}")
        wait_for_count(url, documents)
        samples[label].append(time.monotonic() - started)
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True)


def search_lib(samples: dict, profile: Path, label: str, documents: int) -> None:
    name = f"bench-search-{uuid.uuid4().hex[:6]}"
    try:
        started = time.monotonic()
        env = environments.up(name, profile, cache=True)
        wait_for_count(env.services["search"]["url"], documents)
        samples[label].append(time.monotonic() - started)
    finally:
        environments.down(name)


def search_cold(samples: dict, profile: Path, documents: int) -> None:
    Cache().remove(snapshot_key(profile))  # not timed: the cache starts empty for this key
    search_lib(samples, profile, "devenv cold (lib)", documents)


def search_warm(samples: dict, profile: Path, documents: int) -> None:
    if Cache().find(snapshot_key(profile)) is None:  # not timed: the snapshot exists before a warm start
        search_lib(_empty(), profile, "ignored", documents)
    search_lib(samples, profile, "devenv warm (lib)", documents)


def search_warm_cli(samples: dict, profile: Path, documents: int) -> None:
    if Cache().find(snapshot_key(profile)) is None:
        search_lib(_empty(), profile, "ignored", documents)
    name = f"bench-search-cli-{uuid.uuid4().hex[:6]}"
    devenv = [shutil.which("devenv", path=str(Path(sys.executable).parent)) or sys.executable]
    if devenv[0] == sys.executable:
        devenv += ["-m", "devenv"]
    try:
        started = time.monotonic()
        up = subprocess.run([*devenv, "-q", "up", name, "--profile", str(profile), "-o", "json"], check=True,
                            capture_output=True, text=True)
        wait_for_count(json.loads(up.stdout)["services"]["search"]["url"], documents)
        samples["devenv warm (cli)"].append(time.monotonic() - started)
    finally:
        subprocess.run([*devenv, "-q", "down", name], check=True, capture_output=True)


def run_search(runs: int, shuffle: random.Random) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        seed_dir = Path(folder) / "seed"
        seed_dir.mkdir()
        for name in SEARCH_SEED:
            shutil.copy(ROOT / "profiles" / "seed" / name, seed_dir / name)
        documents = sum(1 for line in (seed_dir / "catalog.ndjson").read_text().splitlines() if line.strip()) // 2
        single_node = Path(folder) / "opensearch.yml"  # the image's own opensearch.yml, plus discovery.type
        single_node.write_text("cluster.name: docker-cluster\nnetwork.host: 0.0.0.0\ndiscovery.type: single-node\n")
        os.chmod(folder, 0o755)
        single_node.chmod(0o644)
        profile = Path(folder) / "bench.yaml"
        profile.write_text(
            "version: 1\nname: bench-search\ntarget: docker\nmirror: clusters/production\nservices:\n"
            f"  search:\n    type: opensearch\n    heap: {SEARCH_HEAP}\n"
            f"    seed: [{', '.join(f'seed/{n}' for n in SEARCH_SEED)}]\n")
        tools = {
            "floor": lambda s: search_floor(s, seed_dir, documents),
            SINGLE_NODE_FLOOR: lambda s: search_floor(s, seed_dir, documents, SINGLE_NODE_FLOOR, single_node),
            "devenv cold (lib)": lambda s: search_cold(s, profile, documents),
            "devenv warm (lib)": lambda s: search_warm(s, profile, documents),
            "devenv warm (cli)": lambda s: search_warm_cli(s, profile, documents),
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
                print(f"search round {round_}{' (warm-up)' if round_ == 0 else ''}: {', '.join(order)} "
                      f"(load {load_average()[0]})", file=sys.stderr, flush=True)
        finally:
            Cache().remove(snapshot_key(profile))
        return {"service": "opensearch", "image": SEARCH_IMAGE, "documents": documents,
                "seed_bytes": sum((seed_dir / n).stat().st_size for n in SEARCH_SEED),
                "results": _rows(samples, target=None)}


def _rows(samples: dict[str, list[float]], target: float | None = TARGET) -> dict:
    floor_median = statistics.median(samples["floor"])
    rows = {}
    for name in sorted((n for n in samples if n in ORDER), key=ORDER.index):
        values = samples[name]
        median = statistics.median(values)
        row = {"median_s": round(median, 3), "min_s": round(min(values), 3), "max_s": round(max(values), 3),
               "runs": len(values), "ratio_to_floor": round(median / floor_median, 3),
               "samples_s": [round(v, 3) for v in values]}
        if name.startswith("devenv warm") and target is not None:
            row["target"] = f"<= {target}x"
            row["meets_target"] = row["ratio_to_floor"] <= target
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
    parser.add_argument("--only", choices=["small", "large", "search"],
                        help="one seed only (small, large: MariaDB's; search: OpenSearch's catalog)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the per-round order (default 1)")
    args = parser.parse_args()
    wanted = {"small", "large", "search"} if args.only is None else {args.only}
    for image, variable, needed in ((IMAGE, "DEVENV_MARIADB_IMAGE", wanted & {"small", "large"}),
                                    (SEARCH_IMAGE, "DEVENV_OPENSEARCH_IMAGE", wanted & {"search"})):
        if needed and subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode != 0:
            print(f"image {image} is not present locally (the bench never pulls); set {variable}", file=sys.stderr)
            return 2
    shuffle = random.Random(args.seed)
    seeds = [("small", 0.0), ("large", args.large_mb)]
    bytecode, load_at_start = compile_devenv(), load_average()
    report = {
        "image": IMAGE, "runs": args.runs, "settle_s": SETTLE, "order": "random per round", "bytecode": bytecode,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "docker": docker_cli("version", "--format", "{{.Server.Version}}"),
                    "load_average_start": load_at_start},
        "seeds": {label: run_seed(label, mb, args.runs, shuffle) for label, mb in seeds if label in wanted},
    }
    if "search" in wanted:
        report["seeds"]["search"] = run_search(args.runs, shuffle)
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
        if seed.get("service") == "opensearch":
            print(f"\nOpenSearch {seed['image']}, catalog seed ({seed['seed_bytes']} bytes, {seed['documents']} "
                  "documents; done when the index answers a count)")
        else:
            print(f"\n{label} seed ({seed['seed_bytes'] / 1e6:.1f} MB of SQL)")
        print(f"{'tool':<38} {'median':>8} {'min':>8} {'max':>8} {'ratio':>7}  target")
        for name, row in seed["results"].items():
            if "unavailable" in row:
                print(f"{name:<38} unavailable: {row['unavailable']}")
                continue
            verdict = "" if "target" not in row else f"{row['target']}: {'met' if row['meets_target'] else 'MISSED'}"
            if "ratio_to_lib" in row:
                verdict += f"  ({row['ratio_to_lib']:.2f}x the lib)"
            print(f"{name:<38} {row['median_s']:>7.3f}s {row['min_s']:>7.3f}s {row['max_s']:>7.3f}s "
                  f"{row['ratio_to_floor']:>6.2f}x  {verdict}")


if __name__ == "__main__":
    sys.exit(main())
