"""Time an OpenSearch cold start (a new container on an empty data volume until cluster health is yellow or
green) for several images side by side, with whether the node saw `discovery.type=single-node`.

Every image gets the settings devenv's OpenSearch swap gives (single node, 512 MB heap, security off), its
HTTP port on 127.0.0.1, and is polled every 100 ms as devenv polls. Interleaved rounds in a fresh random
order, one warm-up round not counted, medians and the ratio to the first image's median.

usage: python bench/opensearch_cold_bench.py [--runs 5] IMAGE [IMAGE ...]   (images are never pulled)
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import statistics
import subprocess
import time
import urllib.request
import uuid

SETTINGS = {"discovery.type": "single-node", "OPENSEARCH_JAVA_OPTS": "-Xms512m -Xmx512m",
            "DISABLE_SECURITY_PLUGIN": "true"}
POLL = 0.1
TIMEOUT = 180


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.loads(response.read())
    except (OSError, ValueError):
        return None


BOOTSTRAP_WAIT = "best-effort cluster bootstrapping"  # what a node without single-node discovery logs, then waits 3 s


def cold_start(image: str) -> tuple[float, str, bool]:
    """Seconds from `docker run` to yellow/green, the discovery.type the node reports ("-": none), and
    whether it waited for a cluster bootstrap (its log says so)."""
    name, port = f"devenv-bench-os-{uuid.uuid4().hex[:8]}", free_port()
    argv = ["docker", "run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:9200"]
    argv += [arg for key, value in SETTINGS.items() for arg in ("-e", f"{key}={value}")]
    started = time.monotonic()
    subprocess.run([*argv, image], check=True, capture_output=True, timeout=60)
    try:
        while time.monotonic() - started < TIMEOUT:
            health = get(f"http://127.0.0.1:{port}/_cluster/health")
            if health and health.get("status") in ("yellow", "green"):
                elapsed = time.monotonic() - started
                nodes = (get(f"http://127.0.0.1:{port}/_nodes/settings") or {}).get("nodes", {})
                kinds = {((n.get("settings") or {}).get("discovery") or {}).get("type", "-") for n in nodes.values()}
                logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True, timeout=60)
                return elapsed, ",".join(sorted(kinds)) or "-", BOOTSTRAP_WAIT in logs.stdout + logs.stderr
            time.sleep(POLL)
        raise RuntimeError(f"{image} was not yellow within {TIMEOUT}s")
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True, timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("images", nargs="+")
    args = parser.parse_args()
    times: dict[str, list[float]] = {image: [] for image in args.images}
    seen: dict[str, set[str]] = {image: set() for image in args.images}
    waited: dict[str, int] = {image: 0 for image in args.images}
    for round_ in range(args.runs + 1):
        order = random.sample(args.images, len(args.images))
        for image in order:
            elapsed, discovery, bootstrap = cold_start(image)
            seen[image].add(discovery)
            waited[image] += bootstrap
            if round_:  # the first round warms the page cache and is not counted
                times[image].append(elapsed)
    first = statistics.median(times[args.images[0]])
    print(f"OpenSearch cold start to yellow, median of {args.runs} (after 1 warm-up), 127.0.0.1, 512 MB heap")
    print(f"{'image':<56} {'median s':>9} {'min s':>7} {'max s':>7} {'ratio':>6}  discovery.type seen, "
          "starts that waited for a bootstrap")
    for image in args.images:
        found = times[image]
        median = statistics.median(found)
        print(f"{image:<56} {median:>9.2f} {min(found):>7.2f} {max(found):>7.2f} {median / first:>6.2f}  "
              f"{', '.join(sorted(seen[image]))}, {waited[image]}/{args.runs + 1}")


if __name__ == "__main__":
    main()
