"""Two owners (two HOMEs, two DEVENV_OWNER values) on one engine, each with a complete, an incomplete and an
expired environment and a snapshot: `gc` and `cache prune --all` run by one leave every resource of the
other and say what they skipped; `--all-owners` (and `--owner`) act on both and say so; `down` of the other's
environment is refused unless asked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest
from docker_env import REPO, SEED, engine, leftovers, managed

pytestmark = [pytest.mark.docker, pytest.mark.mariadb_image]


class Owner:
    """One owner: its HOME (lock files, caches) and DEVENV_OWNER, its profile (a seed of its own, so its
    snapshot is its own), and the real CLI run as it."""

    def __init__(self, tmp_path, who: str):
        self.name = f"{who}-{uuid.uuid4().hex[:6]}"
        self.home = tmp_path / who
        (self.home / "seed").mkdir(parents=True)
        (self.home / "seed" / "orders.sql").write_text(f"-- the data of {self.name}\n" + SEED.read_text())
        self.profile = self.home / "owner.yaml"
        image = os.environ.get("DEVENV_MARIADB_IMAGE") or "mariadb:10.11"
        self.profile.write_text(
            "version: 1\nname: owner\ntarget: docker\nmirror: clusters/production\nservices:\n  db:\n"
            f"    type: mariadb\n    version: \"10.11\"\n    image: {image}\n"
            "    database: orders\n    user: orders\n    seed: [seed/orders.sql]\n")

    def env(self) -> dict[str, str]:
        out = {k: v for k, v in os.environ.items() if k not in ("DEVENV_SESSION", "XDG_RUNTIME_DIR")}
        # the suite turns the cache off for speed; these owners need their snapshots
        return {**out, "HOME": str(self.home), "DEVENV_OWNER": self.name, "DEVENV_CACHE": "on"}

    def devenv(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "devenv", *args], capture_output=True, text=True,
                              env=self.env(), timeout=300, cwd=REPO)

    def json(self, *args: str):
        result = self.devenv(*args, "-o", "json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout), result.stderr

    def up(self, env: str, *extra: str) -> None:
        result = self.devenv("up", env, "--profile", str(self.profile), *extra)
        assert result.returncode == 0, result.stderr

    def crashed_up(self, env: str) -> None:
        """What an `up` killed right after its first step leaves, two minutes ago: a network, no containers."""
        made = int(time.time()) - 120
        tags = {"devenv.managed": "true", "devenv.environment": env, "devenv.profile": "owner",
                "devenv.target": "docker", "devenv.owner": self.name, "devenv.created": str(made),
                "devenv.expires": str(made + 3600), "devenv.run": "crashed"}
        subprocess.run(["docker", "network", "create", *[a for k, v in tags.items() for a in ("--label", f"{k}={v}")],
                        f"devenv-{env}"], check=True, capture_output=True, timeout=60)


def snapshots_of(owner: Owner) -> list[str]:
    from devenv.clients import docker
    from devenv.domain import labels

    images = docker.labelled_images(engine()[0], {labels.MANAGED: "true", labels.CACHE_ROLE: "snapshot",
                                                  labels.OWNER: owner.name})
    return [docker.name_of(i) for i in images]


def ids(name: str) -> set[str]:
    found = managed(name)
    return {r.id for r in found.containers + found.volumes + found.networks}


def by_name(entries: list[dict]) -> dict[str, dict]:
    return {e["name"]: e for e in entries}


def test_gc_and_cache_prune_of_one_owner_leave_every_resource_of_the_other(tmp_path, new_env):
    alice, bob = Owner(tmp_path, "alice"), Owner(tmp_path, "bob")
    envs = {o.name: {kind: new_env(f"{o.name[:3]}{kind}") for kind in ("ok", "half", "old", "half2")}
            for o in (alice, bob)}
    try:
        for owner in (alice, bob):
            mine = envs[owner.name]
            owner.up(mine["ok"])
            owner.up(mine["old"], "--ttl", "1s")
            owner.crashed_up(mine["half"])
            assert snapshots_of(owner), f"{owner.name}'s up made no snapshot of its own"
        time.sleep(2)  # both `old` environments have expired
        bobs = {kind: ids(name) for kind, name in envs[bob.name].items()}
        bob_snapshots = snapshots_of(bob)

        # alice's gc: her expired and incomplete environments go, bob's (as collectable) are listed as skipped
        collected, stderr = alice.json("gc")
        found = by_name(collected)
        assert found[envs[alice.name]["old"]]["action"] == "removed"
        assert found[envs[alice.name]["half"]]["action"] == "removed"
        assert envs[alice.name]["ok"] not in found
        for kind in ("old", "half"):
            entry = found[envs[bob.name][kind]]
            assert entry["action"] == "kept" and entry["owner"] == bob.name
            assert f"owned by {bob.name}, not by {alice.name}" in entry["kept"]
            assert f"skipped {envs[bob.name][kind]}: owned by {bob.name}" in stderr
        assert leftovers(envs[alice.name]["old"]) == [] and leftovers(envs[alice.name]["half"]) == []
        assert {kind: ids(name) for kind, name in envs[bob.name].items()} == bobs  # every resource of bob's

        # alice's `cache prune --all`: her snapshot goes, bob's stays and is named as skipped
        pruned, stderr = alice.json("cache", "prune", "--all")
        assert snapshots_of(alice) == [] and snapshots_of(bob) == bob_snapshots
        skipped = [p for p in pruned if p["owner"] == bob.name]
        assert skipped and all(p["action"] == "skipped" and "owned by" in p["skipped"] for p in skipped)
        assert f"owned by {bob.name}" in stderr
        assert {kind: ids(name) for kind, name in envs[bob.name].items()} == bobs

        # down of bob's environment by alice: refused, nothing removed
        refused = alice.devenv("down", envs[bob.name]["ok"])
        assert refused.returncode != 0 and f"owned by {bob.name}" in refused.stderr
        assert "Traceback" not in refused.stderr and ids(envs[bob.name]["ok"]) == bobs["ok"]

        # --all-owners: gc acts on both owners' (alice has a fresh crashed run again) and says so
        alice.crashed_up(envs[alice.name]["half2"])
        collected, stderr = alice.json("gc", "--all-owners")
        assert "acting on every owner's environments and snapshots (--all-owners)" in stderr
        found = by_name(collected)
        for name, owner in ((envs[alice.name]["half2"], alice), (envs[bob.name]["old"], bob),
                            (envs[bob.name]["half"], bob)):
            assert (found[name]["action"], found[name]["owner"]) == ("removed", owner.name)
            assert leftovers(name) == []
        assert ids(envs[bob.name]["ok"]) == bobs["ok"]  # complete and not expired: not gc's

        # cache prune --all --all-owners would take bob's snapshot too (a dry run: other users of this shared
        # engine keep theirs); --owner takes it for real
        pruned, stderr = alice.json("cache", "prune", "--all", "--all-owners", "--dry-run")
        assert "acting on every owner's snapshots (--all-owners)" in stderr
        assert {p["action"] for p in pruned if p["owner"] == bob.name} == {"would remove"}
        pruned, stderr = alice.json("cache", "prune", "--all", "--owner", bob.name)
        assert snapshots_of(bob) == [] and {p["action"] for p in pruned if p["owner"] == bob.name} == {"removed"}

        assert alice.devenv("down", envs[bob.name]["ok"], "--all-owners").returncode == 0
        assert alice.devenv("down", envs[alice.name]["ok"]).returncode == 0
    finally:
        for owner in (alice, bob):
            for name in envs[owner.name].values():
                if leftovers(name):
                    owner.devenv("down", name, "--all-owners")
            owner.devenv("cache", "prune", "--all")
    assert snapshots_of(alice) == [] and snapshots_of(bob) == []
