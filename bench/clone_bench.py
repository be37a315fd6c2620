"""How to clone a snapshot of MariaDB's data into a new named volume, measured: the mechanism devenv.services.cache uses
against the alternatives, side by side, interleaved, medians (the choice the README's "Warm starts" explains).

    image + copy-up   the data directory kept as an image of its own (`docker import`); creating, never
                      starting, a container with the empty volume mounted there makes the engine copy it in
    template volume   the data kept in a labelled volume; a helper container runs `cp -a` into the new one
    tar into volume   the data kept as a tar on the host; `put_archive` streams it into the new container

Each sample: clone, then start MariaDB on the clone with a new password from --init-file, until that login
answers SELECT 1 (so a clone that MariaDB cannot start from would fail here). One build, then the rounds.

usage: python bench/clone_bench.py [--runs 7] [--full-redo-log]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

import docker as sdk
import pymysql

ROOT = Path(__file__).resolve().parents[1]
IMAGE = os.environ.get("DEVENV_MARIADB_IMAGE") or "mariadb:10.11"
LABELS = {"devenv.bench": "clone"}
ENV = {"MARIADB_ROOT_PASSWORD": "bench-root", "MARIADB_DATABASE": "app", "MARIADB_USER": "app",
       "MARIADB_PASSWORD": "bench-build"}
INIT = b"ALTER USER 'app'@'%' IDENTIFIED BY 'bench-new';\n"
RESULTS = ROOT / "bench" / "results" / "clone.json"


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait(port: int, password: str) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            pymysql.connect(host="127.0.0.1", port=port, user="app", password=password, database="app",
                            connect_timeout=2, ssl_disabled=True).close()
            return
        except pymysql.err.MySQLError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def tar_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(content), 0o444
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def start_on(client, volume: str, before_start=None) -> None:
    """Start MariaDB on a cloned volume with a new password, until that login answers; then remove it."""
    port = free_port()
    command = list(client.images.get(IMAGE).attrs["Config"].get("Cmd") or []) + ["--init-file=/tmp/bench-init.sql"]
    container = client.containers.create(IMAGE, command=command, environment=ENV, labels=LABELS,
                                         ports={"3306/tcp": ("127.0.0.1", port)},
                                         volumes={volume: {"bind": "/var/lib/mysql", "mode": "rw"}})
    try:
        if before_start:
            before_start(container)
        container.put_archive("/tmp", tar_of({"bench-init.sql": INIT}))
        container.start()
        wait(port, "bench-new")
    finally:
        container.remove(force=True, v=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--full-redo-log", action="store_true",
                        help="keep MariaDB's default 96 MiB redo log in the snapshot (devenv makes it 4 MiB)")
    args = parser.parse_args()
    client = sdk.from_env()
    tag = f"bench-clone/{uuid.uuid4().hex[:8]}:snapshot"
    template = f"bench-clone-template-{uuid.uuid4().hex[:8]}"
    work = Path(tempfile.mkdtemp())
    made_volumes = [template]
    try:
        client.volumes.create(template, labels=LABELS)
        port = free_port()
        extra = [] if args.full_redo_log else ["--innodb-log-file-size=4M"]
        command = list(client.images.get(IMAGE).attrs["Config"].get("Cmd") or []) + extra
        builder = client.containers.create(IMAGE, command=command, environment=ENV, labels=LABELS,
                                           ports={"3306/tcp": ("127.0.0.1", port)},
                                           volumes={template: {"bind": "/var/lib/mysql", "mode": "rw"}})
        builder.start()
        wait(port, "bench-build")
        builder.stop(timeout=60)
        chunks, _ = builder.get_archive("/var/lib/mysql")
        (work / "data.tar").write_bytes(b"".join(chunks))
        client.api.import_image_from_data((work / "data.tar").read_bytes(), repository=tag.split(":")[0],
                                          tag="snapshot", changes=['CMD ["/never-run"]', 'LABEL devenv.bench=clone'])
        builder.remove(force=True)
        size = (work / "data.tar").stat().st_size

        def image_copy_up(volume: str) -> None:
            helper = client.containers.create(tag, labels=LABELS, network_mode="none",
                                              volumes={volume: {"bind": "/mysql", "mode": "rw"}})
            helper.remove(force=True)

        def template_volume(volume: str) -> None:
            helper = client.containers.run(IMAGE, entrypoint=["cp", "-a", "/from/.", "/to/"], labels=LABELS,
                                           detach=True, volumes={template: {"bind": "/from", "mode": "ro"},
                                                                 volume: {"bind": "/to", "mode": "rw"}})
            helper.wait()
            helper.remove(force=True)

        mechanisms = {"image + copy-up": image_copy_up, "template volume": template_volume, "tar into volume": None}
        clone: dict[str, list[float]] = {m: [] for m in mechanisms}
        total: dict[str, list[float]] = {m: [] for m in mechanisms}
        shuffle = random.Random(1)
        for round_ in range(args.runs + 1):
            for name in shuffle.sample(list(mechanisms), len(mechanisms)):
                volume = f"bench-clone-{uuid.uuid4().hex[:8]}"
                made_volumes.append(volume)
                time.sleep(0.5)
                started = time.monotonic()
                client.volumes.create(volume, labels=LABELS)
                if mechanisms[name]:
                    mechanisms[name](volume)
                    cloned = time.monotonic() - started
                    start_on(client, volume)
                else:
                    cloned_at = []

                    def put(container):
                        with (work / "data.tar").open("rb") as data:
                            container.put_archive("/var/lib", data)
                        cloned_at.append(time.monotonic() - started)

                    start_on(client, volume, before_start=put)
                    cloned = cloned_at[0]
                if round_:
                    clone[name].append(cloned)
                    total[name].append(time.monotonic() - started)
                client.volumes.get(volume).remove()
                made_volumes.remove(volume)
        report = {"image": IMAGE, "runs": args.runs, "snapshot_tar_bytes": size,
                  "redo_log": "default" if args.full_redo_log else "4 MiB",
                  "results": {m: {"clone_median_s": round(statistics.median(clone[m]), 3),
                                  "clone_then_ready_median_s": round(statistics.median(total[m]), 3),
                                  "clone_samples_s": [round(v, 3) for v in clone[m]]} for m in mechanisms}}
    finally:
        for volume in made_volumes:
            try:
                client.volumes.get(volume).remove(force=True)
            except sdk.errors.NotFound:
                pass
        try:
            client.images.remove(tag)
        except sdk.errors.ImageNotFound:
            pass
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"image {IMAGE}, snapshot {size / 1e6:.0f} MB as tar (redo log: {report['redo_log']}), {args.runs} runs\n")
    print(f"{'mechanism':<18} {'clone':>8} {'clone + ready':>14}")
    for name, row in report["results"].items():
        print(f"{name:<18} {row['clone_median_s']:>7.3f}s {row['clone_then_ready_median_s']:>13.3f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
