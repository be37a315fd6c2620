"""Time the pytest fixture's session start side by side with testcontainers, and the --devenv-reuse attach.

Each tool is a real `pytest` subprocess on a one-test file whose test body reads the seed rows
(profiles/seed/orders.sql) from MariaDB. Measured inside that process: from pytest's session start
(a `pytest_sessionstart` hook) to the test body holding the connection facts and the rows.

    devenv_services (cold)       the plugin's session fixture, profile `test`: a fresh environment
    testcontainers MySqlContainer a session fixture starting MySqlContainer on the same image, seeded from
                                 the same file (it sets MYSQL_* variables, which MariaDB images accept, and
                                 waits for the second "ready for connections" log line)
    devenv_services --devenv-reuse (attach)   the same as cold, with the environment already up
    attach (lib)                 in this process: `environments.up` of that running environment, the call
                                 the fixture makes (and `environments.attach`, read-only, for comparison)

Tools run interleaved, one of each per round in a fresh random order, with a pause between tools; one
warm-up round is not counted. Reported: medians, min, max, and ratios to devenv's cold start.

usage: python bench/fixture_bench.py [--runs 5] [--seed 1]   (image: DEVENV_MARIADB_IMAGE, else mariadb:10.11; never pulled)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")  # the reaper image cannot be assumed present

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devenv.clients import docker  # noqa: E402
from devenv.lifecycle import environments
from devenv.errors import DevenvError  # noqa: E402

IMAGE = os.environ.get("DEVENV_MARIADB_IMAGE") or "mariadb:10.11"
SEED = ROOT / "profiles" / "seed" / "orders.sql"
SETTLE = 1.0
TIMEOUT = 300
RESULTS = ROOT / "bench" / "results" / "fixture.json"
COLD, TC, REUSE, LIB, LIB_ATTACH = ("devenv_services (cold)", "testcontainers MySqlContainer",
                                    "devenv_services --devenv-reuse (attach)", "attach (lib: environments.up)",
                                    "attach (lib: environments.attach)")
TARGETS = {REUSE: 0.5, LIB: 0.5}

CONFTEST = '''
import os, time
import pytest

def pytest_sessionstart(session):
    session.config.bench_started = time.perf_counter()

@pytest.fixture
def report(request):
    def done():
        elapsed = time.perf_counter() - request.config.bench_started
        with open(os.environ["BENCH_OUT"], "w") as out:
            out.write(str(elapsed))
    return done
'''

DEVENV_TEST = '''
import pymysql

def test_seed_rows(devenv_services, report):
    db = devenv_services["db"]
    connection = pymysql.connect(host=db.host, port=db.port, user=db.user, password=db.password, database=db.database)
    with connection.cursor() as cursor:
        cursor.execute("SELECT customer FROM orders")
        assert len(cursor.fetchall()) == 3
    connection.close()
    report()
'''

TESTCONTAINERS_TEST = '''
import os
import pymysql
import pytest
from testcontainers.community.mysql import MySqlContainer

@pytest.fixture(scope="session")
def mysql():
    with MySqlContainer(os.environ["BENCH_IMAGE"], username="orders", password="bench-password-1", dbname="orders",
                        seed=os.environ["BENCH_SEED_DIR"]) as container:
        yield {"host": container.get_container_host_ip(), "port": int(container.get_exposed_port(3306)),
               "user": "orders", "password": "bench-password-1", "database": "orders"}

def test_seed_rows(mysql, report):
    connection = pymysql.connect(**mysql)
    with connection.cursor() as cursor:
        cursor.execute("SELECT customer FROM orders")
        assert len(cursor.fetchall()) == 3
    connection.close()
    report()
'''


def run_pytest(folder: Path, test_file: str, *args: str) -> tuple[float, float]:
    """(session start -> first test body with facts and rows, whole subprocess) in seconds."""
    out = folder / f"out-{uuid.uuid4().hex}"
    env = {**os.environ, "BENCH_OUT": str(out), "BENCH_IMAGE": IMAGE, "BENCH_SEED_DIR": str(folder / "seed")}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test_file, *args],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    whole = time.perf_counter() - started
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"pytest {test_file} {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return float(out.read_text()), whole


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="counted rounds (default 5; at least 5 for the README)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the per-round order (default 1)")
    args = parser.parse_args()
    try:
        client = docker.connect(timeout=10)
    except DevenvError as err:
        print(f"Docker is not reachable: {err}", file=sys.stderr)
        return 2
    if not docker.image_present(client, IMAGE):
        print(f"image {IMAGE} is not present locally (the bench never pulls); set DEVENV_MARIADB_IMAGE", file=sys.stderr)
        return 2

    tag = uuid.uuid4().hex[:6]
    reuse_name = f"bench-reuse-{tag}"
    cold_names: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "seed").mkdir()
        (folder / "seed" / "orders.sql").write_bytes(SEED.read_bytes())
        (folder / "conftest.py").write_text(CONFTEST)
        (folder / "test_devenv.py").write_text(DEVENV_TEST)
        (folder / "test_testcontainers.py").write_text(TESTCONTAINERS_TEST)

        def cold(samples):
            cold_names.append(f"bench-cold-{tag}-{len(cold_names)}")
            first, whole = run_pytest(folder, "test_devenv.py", "--devenv-name", cold_names[-1])
            samples[COLD].append(first)
            samples[COLD + " whole run"].append(whole)

        def testcontainers(samples):
            first, whole = run_pytest(folder, "test_testcontainers.py")
            samples[TC].append(first)
            samples[TC + " whole run"].append(whole)

        def reuse(samples):
            first, whole = run_pytest(folder, "test_devenv.py", "--devenv-reuse", "--devenv-name", reuse_name)
            samples[REUSE].append(first)
            samples[REUSE + " whole run"].append(whole)
            started = time.perf_counter()
            environments.up(reuse_name, "test")
            samples[LIB].append(time.perf_counter() - started)
            started = time.perf_counter()
            environments.attach(reuse_name, "test")
            samples[LIB_ATTACH].append(time.perf_counter() - started)

        tools = {COLD: cold, TC: testcontainers, REUSE: reuse}
        samples: dict[str, list[float]] = defaultdict(list)
        shuffle = random.Random(args.seed)
        try:
            run_pytest(folder, "test_devenv.py", "--devenv-reuse", "--devenv-name", reuse_name)  # creates it
            for round_ in range(args.runs + 1):
                if round_ == 1:
                    samples = defaultdict(list)  # round 0 warmed caches up: not counted
                order = shuffle.sample(list(tools), len(tools))
                for name in order:
                    time.sleep(SETTLE)
                    tools[name](samples)
                print(f"round {round_}{' (warm-up)' if round_ == 0 else ''}: {', '.join(order)}", file=sys.stderr)
        finally:
            environments.down(reuse_name)
        left = [name for name in [reuse_name, *cold_names] if docker.managed(client, name)]
        if left:
            print(f"left behind by the bench: {', '.join(left)}", file=sys.stderr)
            return 1

    report = _report(samples, args.runs)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    _print(report)
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}", file=sys.stderr)
    return 0


def _report(samples: dict[str, list[float]], runs: int) -> dict:
    base = statistics.median(samples[COLD])
    order = [COLD, TC, REUSE, LIB, LIB_ATTACH, COLD + " whole run", TC + " whole run", REUSE + " whole run"]
    rows = {}
    for name in order:
        values = samples[name]
        median = statistics.median(values)
        row = {"median_s": round(median, 3), "min_s": round(min(values), 3), "max_s": round(max(values), 3),
               "runs": len(values), "ratio_to_devenv_cold": round(median / base, 3),
               "samples_s": [round(v, 3) for v in values]}
        if name in TARGETS:
            row["target"] = f"<= {TARGETS[name]} s"
            row["meets_target"] = median <= TARGETS[name]
        rows[name] = row
    tc = rows[TC]["median_s"] / rows[COLD]["median_s"]
    return {
        "image": IMAGE, "runs": runs, "settle_s": SETTLE, "order": "random per round",
        "measured": "pytest session start -> first test body holding facts and the seed rows (in the pytest process)",
        "testcontainers_over_devenv_cold": round(tc, 3),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "docker": docker.engine_version()},
        "results": rows,
    }


def _print(report: dict) -> None:
    print(f"image {report['image']}, {report['runs']} runs each (medians; ratio to devenv's cold session start)\n")
    print(f"{'session start -> first test body':<52} {'median':>8} {'min':>8} {'max':>8} {'ratio':>7}  target")
    for name, row in report["results"].items():
        verdict = "" if "target" not in row else f"{row['target']}: {'met' if row['meets_target'] else 'MISSED'}"
        print(f"{name:<52} {row['median_s']:>7.3f}s {row['min_s']:>7.3f}s {row['max_s']:>7.3f}s "
              f"{row['ratio_to_devenv_cold']:>6.2f}x  {verdict}")
    print(f"\ntestcontainers / devenv cold: {report['testcontainers_over_devenv_cold']:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
