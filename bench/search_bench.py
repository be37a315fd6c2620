"""Time `devenv up` of MariaDB + OpenSearch (docker target, no seed) side by side with the floor and testcontainers.

Every tool starts the same two images with the same settings (MariaDB: database, user, password; OpenSearch:
single node, security off, 512 MB heap), and counts as ready at the same moment: MariaDB answers SELECT 1 as
the app user (polled every 50 ms) and OpenSearch's cluster health is yellow or green (polled every 100 ms),
which is what devenv polls. Interleaved rounds in a fresh random order, one warm-up round not counted,
medians and ratios to the floor, as in up_bench.py.

    floor            `docker run -d` of both images at once, then both polls in parallel
    devenv (lib)     devenv.lifecycle.environments.up() in this process (both services start in parallel)
    devenv (cli)     the `devenv up` command (includes Python's start-up)
    testcontainers   MySqlContainer and OpenSearchContainer (it waits for green through opensearch-py),
                     started in parallel threads, then the same polls
    re-up (lib)      `up` of the running environment with nothing changed
    down (lib)       `devenv down`; the floor's is `docker rm -f -v` of both

usage: python bench/search_bench.py [--runs 5]   (images: DEVENV_MARIADB_IMAGE, DEVENV_OPENSEARCH_IMAGE; never pulled)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# testcontainers thinks it runs inside a container here and connects through the bridge's gateway, which ports
# bound to 127.0.0.1 do not answer: tell it the engine is this machine
os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")
os.environ.setdefault("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")

import up_bench  # noqa: E402 - puts the repository on sys.path; its polls, helpers and report are shared
from up_bench import DATABASE, PASSWORD, SETTLE, TIMEOUT, USER, docker_cli, wait_for_query

from devenv.lifecycle import environments  # noqa: E402
from devenv.targets.docker import free_port  # noqa: E402

ROOT = up_bench.ROOT
MARIADB = up_bench.IMAGE
OPENSEARCH = os.environ.get("DEVENV_OPENSEARCH_IMAGE") or "opensearchproject/opensearch:2"
HEAP = "512m"
OPENSEARCH_POLL = 0.1  # devenv's poll interval for OpenSearch
RESULTS = ROOT / "bench" / "results" / "search.json"
up_bench.RESULTS = RESULTS
up_bench.IMAGE = f"{MARIADB} + {OPENSEARCH}"
up_bench.ORDER = ["floor", "devenv (lib)", "devenv (cli)", "testcontainers", "re-up (lib)",
                  "down (floor: docker rm -f -v)", "down (lib)"]
up_bench.TARGETS = {"devenv (lib)": ("ratio", 1.15), "devenv (cli)": ("ratio", 1.15),
                    "re-up (lib)": ("seconds", 0.5), "down (lib)": ("seconds", 3.0)}


def wait_for_health(port: int, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/_cluster/health", timeout=2) as answer:
                if json.loads(answer.read()).get("status") in ("yellow", "green"):
                    return
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"no health on port {port} after {TIMEOUT}s")
        time.sleep(OPENSEARCH_POLL)


def both(first, second) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(first), pool.submit(second)]:
            future.result()


def floor(samples: dict) -> None:
    suffix = uuid.uuid4().hex[:6]
    db, search = f"bench-floor-db-{suffix}", f"bench-floor-search-{suffix}"
    db_port, search_port = free_port(), free_port()
    started = time.monotonic()
    try:
        both(lambda: docker_cli("run", "-d", "--name", db, "-p", f"127.0.0.1:{db_port}:3306",
                                "-e", f"MARIADB_ROOT_PASSWORD={PASSWORD}-root", "-e", f"MARIADB_DATABASE={DATABASE}",
                                "-e", f"MARIADB_USER={USER}", "-e", f"MARIADB_PASSWORD={PASSWORD}", MARIADB),
             lambda: docker_cli("run", "-d", "--name", search, "-p", f"127.0.0.1:{search_port}:9200",
                                "-e", "discovery.type=single-node", "-e", "DISABLE_SECURITY_PLUGIN=true",
                                "-e", f"OPENSEARCH_JAVA_OPTS=-Xms{HEAP} -Xmx{HEAP}", OPENSEARCH))
        both(lambda: wait_for_query(db_port), lambda: wait_for_health(search_port))
        samples["floor"].append(time.monotonic() - started)
    finally:
        started = time.monotonic()
        subprocess.run(["docker", "rm", "-f", "-v", db, search], capture_output=True)
        samples["down (floor: docker rm -f -v)"].append(time.monotonic() - started)


def check_both(env) -> None:
    wait_for_health(int(env.services["search"]["port"]))
    wait_for_query(int(env.services["db"]["port"]), env.services["db"]["password"])


def devenv_cli(samples: dict, profile: Path) -> None:
    name = f"bench-cli-{uuid.uuid4().hex[:6]}"
    devenv = [sys.executable, "-m", "devenv", "-q"]
    try:
        started = time.monotonic()
        subprocess.run([*devenv, "up", name, "--profile", str(profile)], check=True, capture_output=True, cwd=ROOT)
        samples["devenv (cli)"].append(time.monotonic() - started)
    finally:
        subprocess.run([*devenv, "down", name], check=True, capture_output=True, cwd=ROOT)


def testcontainers(samples: dict) -> None:
    from testcontainers.community.mysql import MySqlContainer
    from testcontainers.community.opensearch import OpenSearchContainer

    db = MySqlContainer(MARIADB, username=USER, password=PASSWORD, dbname=DATABASE, root_password=f"{PASSWORD}-root")
    search = OpenSearchContainer(OPENSEARCH).with_env("OPENSEARCH_JAVA_OPTS", f"-Xms{HEAP} -Xmx{HEAP}")
    for container, port in ((db, 3306), (search, 9200)):
        # as the others, on 127.0.0.1 (with_bind_ports takes no address; `ports` goes to the Docker SDK as is)
        container.ports[str(port)] = ("127.0.0.1", free_port())
    started = time.monotonic()
    try:
        both(db.start, search.start)
        both(lambda: wait_for_query(int(db.get_exposed_port(3306)), host=db.get_container_host_ip()),
             lambda: wait_for_health(int(search.get_exposed_port(9200)), host=search.get_container_host_ip()))
        samples["testcontainers"].append(time.monotonic() - started)
    finally:
        for container in (db, search):
            try:
                container.stop()
            except Exception:  # noqa: BLE001 - a container that failed to start has nothing to stop
                pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="counted rounds (default 5)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the per-round order (default 1)")
    args = parser.parse_args()
    for image, variable in ((MARIADB, "DEVENV_MARIADB_IMAGE"), (OPENSEARCH, "DEVENV_OPENSEARCH_IMAGE")):
        if subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode != 0:
            print(f"image {image} is not present locally (the bench never pulls); set {variable}", file=sys.stderr)
            return 2
    bytecode, load_at_start = up_bench.compile_devenv(), up_bench.load_average()
    tools = {"floor": floor, "devenv (lib)": None, "devenv (cli)": None, "testcontainers": testcontainers}
    unavailable = {}
    try:
        import opensearchpy  # noqa: F401 - testcontainers' OpenSearchContainer needs it
    except ImportError:
        del tools["testcontainers"]
        unavailable["testcontainers"] = "needs opensearch-py (pip install -e '.[bench]')"

    with tempfile.TemporaryDirectory() as folder:
        profile = Path(folder) / "bench.yaml"
        profile.write_text(
            "version: 1\nname: bench\ntarget: docker\nmirror: clusters/production\nservices:\n"
            f"  db:\n    type: mariadb\n    database: {DATABASE}\n    user: {USER}\n    port: {free_port()}\n"
            f"  search:\n    type: opensearch\n    heap: {HEAP}\n    port: {free_port()}\n"
        )
        tools["devenv (lib)"] = lambda s: up_bench.devenv_lib(s, profile, check=check_both)
        tools["devenv (cli)"] = lambda s: devenv_cli(s, profile)
        names = list(tools)
        samples = up_bench._empty()
        shuffle = random.Random(args.seed)
        for round_ in range(args.runs + 1):
            if round_ == 1:
                samples = up_bench._empty()  # round 0 warmed caches up: not counted
            order = shuffle.sample(names, len(names))
            for name in order:
                time.sleep(SETTLE)
                tools[name](samples)
            print(f"round {round_}{' (warm-up)' if round_ == 0 else ''}: {', '.join(order)}", file=sys.stderr)

    report = up_bench._report(samples, args.runs, compose_argv=["not compared here"])
    report["bytecode"] = bytecode
    report["machine"]["load_average_start"] = load_at_start
    report["results"].update({name: {"unavailable": why} for name, why in unavailable.items()})
    report["heap"] = HEAP
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    up_bench._print(report)
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
