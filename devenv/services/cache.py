"""The cache of initialised, seeded data: one snapshot per cache key (what determines a service's data:
its type, image ID, version, database and user, every seed file's content), kept as a labelled image that
holds only the data directory. A new environment's empty volume becomes a copy of it, made by the engine."""

# Why an image: creating (never starting) a container with an empty named volume mounted where an image has
# content makes Docker copy that content into the volume, natively; measured against a template volume
# copied by a helper container and against a tar streamed in, it is the fastest clone (bench/README.md,
# "the snapshot mechanism"). A snapshot is made by a build container with throwaway credentials, never
# stored, shut down cleanly before its data is read: it holds no secret an environment relies on. One lock
# per key: the first `up` of a key builds, another waits and then copies; `prune` skips a busy key.

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from devenv.clients import docker
from devenv.domain import labels
from devenv.errors import DevenvError, EnvironmentBusy, InvalidInput
from devenv.domain.facts import Endpoint
from devenv.lock import environment_lock
from devenv.domain.profiles import FACTS, ServiceSpec, parse_duration
from devenv.services import swap_for
from devenv.services.base import Swap, read_seed, wait_until_ready

FORMAT = 1  # part of every key: a change in how snapshots are made misses every older one
REPOSITORY = "devenv-cache/{type}"
HOST = "127.0.0.1"
DEFAULT_TTL = "7d"
STOP_TIMEOUT = 120  # seconds a build's server gets to shut down cleanly: its data is only consistent after that
BUILD_GRACE = 60  # `prune` leaves a build's container this long: its `up` may hold the key's lock elsewhere
SNAPSHOT_COMMAND = ["/devenv-snapshot-is-never-run"]  # an image needs a command to make a container from it


class CacheError(DevenvError):
    """A snapshot could not be made or copied."""


@dataclass(frozen=True)
class Snapshot:
    """One snapshot, read from its image's labels."""

    key: str
    type: str
    name: str  # devenv-cache/<type>:<key prefix>
    id: str
    base_image: str
    base_image_id: str
    root: str  # the data directory's folder name in the image
    created: int
    size: int  # bytes
    seed: str
    database: str
    user: str
    owner: str | None = None  # who made it (devenv.owner)

    @classmethod
    def of(cls, image) -> "Snapshot":
        tags = docker.labels_of(image)
        created = tags.get(labels.CREATED, "0")
        return cls(key=tags.get(labels.CACHE_KEY, ""), type=tags.get(labels.SERVICE_TYPE, "?"),
                   name=docker.name_of(image), id=image.id, base_image=tags.get(labels.CACHE_IMAGE, ""),
                   base_image_id=tags.get(labels.CACHE_IMAGE_ID, ""), root=tags.get(labels.CACHE_ROOT, "data"),
                   created=int(created) if created.isdigit() else 0, size=int(image.attrs.get("Size") or 0),
                   seed=tags.get(labels.CACHE_SEED, ""), database=tags.get(labels.DATABASE, ""),
                   user=tags.get(labels.USER, ""), owner=tags.get(labels.OWNER))

    def to_dict(self) -> dict[str, Any]:
        return {"snapshot": self.name, "key": self.key, "type": self.type, "image": self.base_image,
                "imageId": self.base_image_id, "created": self.created, "sizeBytes": self.size,
                "seed": self.seed.split(",") if self.seed else [], "database": self.database, "user": self.user,
                "owner": self.owner}


@dataclass(frozen=True)
class Pruned:
    """What `prune` removed (or would remove, or skipped because its key is busy)."""

    name: str
    reason: str
    resources: tuple[str, ...] = ()
    skipped: str | None = None
    owner: str | None = None  # its devenv.owner label


def enabled(requested: bool | None = None) -> bool:
    """Whether `up` uses the cache: as requested (--no-cache), else DEVENV_CACHE (off, 0, false, no), else on."""
    if requested is not None:
        return requested
    return os.environ.get("DEVENV_CACHE", "on").strip().lower() not in ("off", "0", "false", "no")


def ttl_seconds() -> int:
    """How long a snapshot is kept before `gc`/`prune` remove it: DEVENV_CACHE_TTL (7d by default; 0: forever)."""
    text = os.environ.get("DEVENV_CACHE_TTL") or DEFAULT_TTL
    seconds = parse_duration(text)
    if seconds is None:
        raise InvalidInput(f"DEVENV_CACHE_TTL={text!r} is not a duration",
                           hint="e.g. DEVENV_CACHE_TTL=7d, 12h, 30m; 0 keeps snapshots until `devenv cache prune --all`")
    return seconds


def cache_key(swap: Swap, spec: ServiceSpec, image_id: str) -> str:
    """What determines the data a service starts with, as one digest: a change to any of it misses the cache.
    Ports, memory, a JVM's heap and the environment's name do not change the data, so they are not part of it."""
    material = {
        "format": FORMAT, "type": spec.type, "imageId": image_id, "version": spec.version,
        "environment": swap.key_environment(spec), "database": spec.database, "user": spec.user,
        "dataPath": swap.data_path, "snapshotArgs": swap.snapshot_args(spec),
        "seed": [hashlib.sha256(read_seed(path)).hexdigest() for path in spec.seed],  # in order: order matters
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


class Cache:
    """The snapshots on one engine (the given client's, else DOCKER_HOST's)."""

    def __init__(self, client=None):
        self.client = client or docker.connect()

    # -- reading ---------------------------------------------------------------------------

    def snapshots(self) -> list[Snapshot]:
        images = docker.labelled_images(self.client, {labels.MANAGED: "true", labels.CACHE_ROLE: "snapshot"})
        return sorted((Snapshot.of(i) for i in images), key=lambda s: (s.type, -s.created, s.name))

    def find(self, key: str) -> Snapshot | None:
        images = docker.labelled_images(self.client, {labels.MANAGED: "true", labels.CACHE_ROLE: "snapshot",
                                                      labels.CACHE_KEY: key})
        return Snapshot.of(images[0]) if images else None

    def stale(self, snapshot: Snapshot) -> str | None:
        """Why a snapshot can never be used again (its image is gone or now means another one), else None."""
        current = docker.image_id(self.client, snapshot.base_image)
        if current is None:
            return f"its image {snapshot.base_image} is no longer present"
        if current != snapshot.base_image_id:
            return f"{snapshot.base_image} is now another image"
        return None

    # -- an environment's volume from a snapshot --------------------------------------------

    def ensure(self, spec: ServiceSpec, image: str, *, run: str, note: Callable[[str], None],
               cancelled: threading.Event | None = None) -> Snapshot:
        """The snapshot of this service's data, made now when there is none (under the key's lock)."""
        return self._locked(spec, image, run=run, note=note, cancelled=cancelled)[0]

    def fill(self, volume: str, spec: ServiceSpec, image: str, *, run: str, note: Callable[[str], None],
             cancelled: threading.Event | None = None) -> Snapshot:
        """Copy the snapshot of this service's data into the (new, empty) volume, making the snapshot first
        when there is none (`ensure` beforehand keeps that out of an environment's `up`). Under the key's lock
        throughout, so `prune` never removes it halfway."""
        return self._locked(spec, image, run=run, note=note, cancelled=cancelled, volume=volume)[0]

    def _locked(self, spec: ServiceSpec, image: str, *, run: str, note: Callable[[str], None],
                cancelled: threading.Event | None, volume: str | None = None) -> tuple[Snapshot, bool]:
        swap = swap_for(spec.type)
        image_id = docker.image_id(self.client, image)
        if image_id is None:
            raise CacheError(f"image {image} is not present, so its data cannot be cached")
        key = cache_key(swap, spec, image_id)
        with environment_lock(_lock_name(key), purpose=f"up ({spec.name}: its data snapshot)",
                              on_wait=lambda _: note(f"• {spec.name}: another devenv is making or copying the "
                                                     f"snapshot of this data; waiting for it")):
            snapshot = self.find(key)
            built = snapshot is None
            if built:
                note(f"• {spec.name}: no snapshot of this data yet: initialising and seeding one "
                     f"(later environments start from it)")
                snapshot = self.build(key, swap, spec, image, image_id, run=run, cancelled=cancelled)
            if volume is not None:
                started = time.monotonic()
                docker.fill_volume(self.client, image=snapshot.name, volume=volume, mount=f"/{snapshot.root}",
                                   labels={labels.MANAGED: "true", labels.CACHE_KEY: key, labels.RUN: run})
                note(f"• {spec.name}: data copied from snapshot {snapshot.name} ({time.monotonic() - started:.2f}s)")
        return snapshot, built

    def build(self, key: str, swap: Swap, spec: ServiceSpec, image: str, image_id: str, *, run: str,
              cancelled: threading.Event | None = None) -> Snapshot:
        """Initialise and seed the data in a build container, shut it down cleanly, keep its data directory
        as the snapshot image; the build container and volume are removed whatever happens."""
        name = f"devenv-cache-build-{key[:16]}"
        now = int(time.time())
        build_labels = {labels.MANAGED: "true", labels.CACHE_ROLE: "build", labels.CACHE_KEY: key,
                        labels.SERVICE_TYPE: spec.type, labels.OWNER: labels.owner(), labels.CREATED: str(now),
                        labels.RUN: run}
        self._remove_build(key)  # a killed build's leftovers: we hold the key's lock, so nobody uses them
        throwaway = swap.new_credentials()  # the build's only: never stored, so the snapshot's accounts are dead
        made: list = []
        try:
            with docker.translate(f"create volume {name}"):
                made.append(self.client.volumes.create(name, labels=build_labels))
            port = docker.free_port(HOST)
            container = docker.create_container(
                self.client, name=name, image=image, labels=build_labels, network=None, volume=name,
                environment={**swap.environment(spec), **swap.secret_environment(spec, throwaway)},
                data_path=swap.data_path, container_port=swap.container_port, host=HOST, host_port=port,
                memory=spec.memory, command=docker.image_command(self.client, image) + swap.snapshot_args(spec))
            made.insert(0, container)
            docker.put_paths(container, swap.init_files(spec))
            with docker.translate(f"start {name}"):
                container.start()
            endpoint = Endpoint(HOST, port)
            wait_until_ready(swap, spec, endpoint, throwaway, stopped=lambda: docker.stopped(container),
                             logs=lambda: docker.logs_tail(container), cancelled=cancelled)
            if spec.seed and not swap.seeds_at_init():
                swap.seed(spec, endpoint, throwaway)
            swap.before_snapshot(spec, endpoint, throwaway)
            code = docker.stop(container, timeout=STOP_TIMEOUT)
            if code not in swap.clean_exit_codes:
                raise CacheError(f"{spec.name} ({spec.type}) did not shut down cleanly (exit code {code}) after "
                                 f"its data was seeded, so that data is not kept as a snapshot",
                                 context=["last log lines:", *(f"  {line}" for line in docker.logs_tail(container))],
                                 hint="run `devenv up --no-cache` to start without the cache")
            snapshot_labels = {
                labels.MANAGED: "true", labels.CACHE_ROLE: "snapshot", labels.CACHE_KEY: key,
                labels.SERVICE_TYPE: spec.type, labels.CACHE_IMAGE: image, labels.CACHE_IMAGE_ID: image_id,
                labels.CACHE_ROOT: swap.data_path.rstrip("/").rsplit("/", 1)[-1], labels.CREATED: str(now),
                labels.OWNER: labels.owner(), labels.CACHE_SEED: ",".join(p.name for p in spec.seed),
            }
            if "user" in FACTS[spec.type]:  # (OpenSearch's data is made for no database or user)
                snapshot_labels.update({labels.DATABASE: spec.database, labels.USER: spec.user})
            image_made = docker.image_from_directory(
                self.client, container, swap.data_path, repository=REPOSITORY.format(type=spec.type), tag=key[:24],
                labels=snapshot_labels, command=SNAPSHOT_COMMAND)
            return Snapshot.of(image_made)
        finally:
            for resource in made:
                try:
                    docker.remove(resource)
                except Exception:  # noqa: BLE001 - best effort: labelled, so `devenv cache prune` removes it
                    pass

    # -- removing ----------------------------------------------------------------------------

    def prune(self, *, everything: bool = False, dry_run: bool = False, now: float | None = None,
              ttl: int | None = None, owners: labels.Owners | None = None) -> list[Pruned]:
        """Remove snapshots past the TTL (DEVENV_CACHE_TTL), those that can never be used again, and what
        killed builds left; with `everything`, every snapshot. Only the given owners' (default: the current
        one's): another owner's is skipped, saying whose it is. A key whose lock is held is skipped."""
        now = time.time() if now is None else now
        ttl = ttl_seconds() if ttl is None else ttl
        owners = owners or labels.Owners.chosen()
        pruned: list[Pruned] = []
        for snapshot in self.snapshots():
            reason = "--all" if everything else _expired(snapshot, now, ttl) or self.stale(snapshot)
            if not reason:
                continue
            if not owners.covers(snapshot.owner):
                pruned.append(Pruned(snapshot.name, reason, skipped=owners.why_not(snapshot.owner),
                                     owner=snapshot.owner))
                continue
            pruned.append(self._remove(snapshot.key, snapshot.name, reason, dry_run, images=True, owner=snapshot.owner))
        leftovers = docker.labelled(self.client, {labels.MANAGED: "true", labels.CACHE_ROLE: "build"})
        every = leftovers.containers + leftovers.volumes
        keys = {docker.label_of(r, labels.CACHE_KEY) for r in every}
        for key in sorted(k for k in keys if k):
            mine = [r for r in every if docker.label_of(r, labels.CACHE_KEY) == key]
            made = [int(docker.label_of(r, labels.CREATED) or 0) for r in mine]
            if not (everything or max(made, default=0) <= now - BUILD_GRACE):
                continue
            who = docker.label_of(mine[0], labels.OWNER)
            name, reason = f"build {key[:16]}", "left by a build that did not finish"
            if not owners.covers(who):
                pruned.append(Pruned(name, reason, skipped=owners.why_not(who), owner=who))
                continue
            pruned.append(self._remove(key, name, reason, dry_run, images=False, owner=who))
        return pruned

    def remove(self, key: str) -> Pruned:
        """Remove one key's snapshot and build leftovers (skipped while its lock is held)."""
        return self._remove(key, f"snapshot {key[:16]}", "asked", False, images=True)

    def _remove(self, key: str, name: str, reason: str, dry_run: bool, *, images: bool,
                owner: str | None = None) -> Pruned:
        try:
            with environment_lock(_lock_name(key), purpose="cache prune", timeout=0, remove_file=not dry_run):
                doomed = self._remove_build(key, dry_run=dry_run)
                if images:
                    found = docker.labelled_images(self.client, {labels.MANAGED: "true",
                                                                 labels.CACHE_ROLE: "snapshot", labels.CACHE_KEY: key})
                    for image in found:
                        if owner is not None and docker.label_of(image, labels.OWNER) != owner:
                            continue  # the same data, snapshotted by another owner too: theirs stays
                        if dry_run or docker.remove(image):
                            doomed.append(f"image {docker.name_of(image)}")
                return Pruned(name, reason, tuple(doomed), owner=owner)
        except EnvironmentBusy as busy:
            return Pruned(name, reason, skipped=f"in use: {busy.message.split(': ', 1)[-1]}", owner=owner)

    def _remove_build(self, key: str, dry_run: bool = False) -> list[str]:
        found = docker.labelled(self.client, {labels.MANAGED: "true", labels.CACHE_ROLE: "build",
                                              labels.CACHE_KEY: key})
        doomed = found.containers + found.volumes
        described = [f"{'container' if hasattr(r, 'stop') else 'volume'} {r.name}" for r in doomed]
        if not dry_run:
            for resource in doomed:
                docker.remove(resource)
        return described


def _lock_name(key: str) -> str:
    return f"cache-{key[:16]}"


def _expired(snapshot: Snapshot, now: float, ttl: int) -> str | None:
    if ttl and snapshot.created + ttl <= now:
        return f"older than {_duration(ttl)} (DEVENV_CACHE_TTL)"
    return None


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
