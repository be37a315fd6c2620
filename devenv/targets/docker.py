"""The docker target: an environment's data services as containers on Docker, one network per
environment, one named data volume per service, ports on 127.0.0.1; everything found by its labels.

An `up` creates the network, then the volumes (holding the generated credentials in their labels),
then the containers, all labelled with the run that created them. With the cache (devenv.services.cache) a new
volume starts as a copy of the snapshot of its initialised, seeded data, and its container starts with
this environment's credentials instead of initialising and seeding. A container Docker reports as
`created` was never started: its `up` did not complete. If an `up` fails or is interrupted, it
removes what it created itself before the error reaches the caller.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Callable

from devenv.clients import docker
from devenv.domain import labels
from devenv.services.cache import Cache
from devenv.errors import DevenvError, ImageUnavailable, InvalidInput, PortTaken
from devenv.domain.facts import Endpoint, cluster_facts
from devenv.domain.plan import RULES, Plan, ServicePlan
from devenv.domain.profiles import FACTS
from devenv.services import SWAPS, swap_for
from devenv.services.base import wait_until_ready
from devenv.targets import Declining, EnvironmentState, Progress, ServiceState, Silent, UpResult, say_retained
from devenv.targets.docker_state import HOST, environment_state, volume_credentials
from devenv.timings import phase

PORT_ATTEMPTS = 3
KEEP_DATA_STOP_TIMEOUT = 10  # seconds a database gets to shut down cleanly when its data is kept


class DockerTarget(Declining):
    name = "docker"
    rules = RULES["docker"]

    def __init__(self, client=None):
        self._client = client

    @property
    def client(self):
        if self._client is None:
            self._client = docker.connect()
        return self._client

    # -- up ----------------------------------------------------------------------------------

    def up(self, plan: Plan, progress: Progress = Silent(), *, retain: bool = False,
           merge_kubeconfig: bool = False) -> UpResult:
        """`retain`: when it fails, keep this run's containers for debugging instead of removing them."""
        if merge_kubeconfig:
            self.refuse_merge_kubeconfig(plan)  # before Docker is asked for anything
        found = docker.managed(self.client, plan.environment)
        run = _Run(self, plan, progress, found)
        try:
            return run.converge()
        except BaseException as failure:
            if not retain:
                run.rollback()
            else:
                say_retained(failure, plan.environment, "this run's containers",
                             f"`docker ps -a --filter label={labels.ENVIRONMENT}={plan.environment}`")
            raise

    def preview(self, plan: Plan) -> list[dict]:
        """What `up` would do to each service, compared with what exists, and on which port (for `up --dry-run`;
        changes nothing): one {service, action, port, note} per service, then services no longer in the profile."""
        found = docker.managed(self.client, plan.environment)
        run = _Run(self, plan, Silent(), found)
        rows = []
        for svc in plan.services:
            action = run.action(svc)
            current = _host_port(run.containers.get(svc.container))
            note = ""
            if action == "keep":
                port = current
            else:
                port = next((p for p in (current, svc.port) if p and (p == current or port_free(p))), None)
                if port is None and svc.spec.port_pinned and not plan.allow_other_port:
                    raise run.pinned_port_taken(svc)  # as `up` would stop
                if action != "start" and not docker.image_present(self.client, svc.image):
                    note = f"image {svc.image} is not present locally: up pulls it"
            rows.append({"service": svc.name, "action": _CHANGE[action], "port": port, "note": note})
        for name, container in run.containers.items():
            if name not in {svc.container for svc in plan.services}:
                rows.append({"service": docker.label_of(container, labels.SERVICE), "port": _host_port(container),
                             "action": "removed (no longer in the profile; its data volume stays)", "note": ""})
        return rows

    # -- down --------------------------------------------------------------------------------

    def down(self, environment: str, *, keep_data: bool = False, dry_run: bool = False,
             progress: Progress = Silent()) -> list[str]:
        found = docker.managed(self.client, environment)
        doomed = list(found.containers) + list(found.networks) + ([] if keep_data else list(found.volumes))
        if dry_run:
            return [_describe(r) for r in doomed]
        stop = KEEP_DATA_STOP_TIMEOUT if keep_data else None
        removed = _parallel([lambda c=c: docker.remove(c, stop_timeout=stop) and _describe(c)
                             for c in found.containers])
        for resource in doomed[len(found.containers):]:
            if docker.remove(resource):
                removed.append(_describe(resource))
        return [r for r in removed if r]

    # -- status, list ------------------------------------------------------------------------

    def status(self, environment: str, *, probe: bool = True) -> EnvironmentState | None:
        found = docker.managed(self.client, environment)
        return environment_state(environment, found, probe=probe) if found else None

    def environments(self) -> list[EnvironmentState]:
        found = docker.managed(self.client)
        return [environment_state(name, res, probe=False) for name, res in sorted(found.by_environment().items())]

    def left_after_interrupt(self, plan: Plan) -> list[str]:
        """After an interrupted `up` rolled back what it had created: per service of the plan, its container's
        state, or its kept data volume (an existing container being re-created is gone, its volume stays)."""
        state = self.status(plan.environment, probe=False)
        if state is None:
            return ["nothing of it exists (everything this run had created was removed)"]
        containers = {s.name: s for s in state.services}
        lines = []
        for svc in plan.services:
            found = containers.get(svc.name)
            if found is not None:
                lines.append(f"{svc.name}: container {found.container} is {found.state}")
            elif svc.volume in state.volumes:
                lines.append(f"{svc.name}: no container (an existing one is removed when it is re-created); "
                             f"its data volume {svc.volume} is kept")
            else:
                lines.append(f"{svc.name}: nothing")
        return lines

    def remove_run(self, environment: str, run: str) -> list[str]:
        """Remove what one `up` run created (its `devenv.run` label), containers first; older resources stay."""
        found = docker.managed(self.client, environment)
        doomed = [r for r in found.containers + found.networks + found.volumes if docker.label_of(r, labels.RUN) == run]
        return [_describe(r) for r in doomed if docker.remove(r)]

    def credentials(self, environment: str, service: str) -> dict[str, str]:
        """The credentials generated for a service (kept on its data volume); empty when it has none."""
        found = docker.managed(self.client, environment)
        volume = next((v for v in found.volumes if docker.label_of(v, labels.SERVICE) == service), None)
        return volume_credentials(volume) if volume is not None else {}

    # -- gc ----------------------------------------------------------------------------------

    def remove_leftovers(self, environment: str, *, dry_run: bool = False) -> list[str]:
        """Remove the containers and network of an incomplete environment, and the volumes its never-started
        containers were created with in the same run (so they never held data). Older volumes stay: they
        may hold data a completed run wrote, and they go when the environment expires or with `down`."""
        found = docker.managed(self.client, environment)
        unused = {(docker.label_of(c, labels.SERVICE), docker.label_of(c, labels.RUN))
                  for c in found.containers if docker.state(c).get("Status") == "created"}
        volumes = [v for v in found.volumes
                   if (docker.label_of(v, labels.SERVICE), docker.label_of(v, labels.RUN)) in unused]
        doomed = list(found.containers) + list(found.networks) + volumes
        if dry_run:
            return [_describe(r) for r in doomed]
        return [_describe(r) for r in doomed if docker.remove(r)]


class _Run:
    """One `up`: what it found, what it created (for rollback), and the per-service work."""

    def __init__(self, target: DockerTarget, plan: Plan, progress: Progress, found: docker.Resources):
        self.target = target
        self.client = target.client
        self.plan = plan
        self.progress = progress
        self.containers = {c.name: c for c in found.containers}
        self.volumes = {v.name: v for v in found.volumes}
        self.networks = {n.name: n for n in found.networks}
        self.created: list = []  # containers, volumes, network this run made, in creation order
        self.new_volumes: set[str] = set()  # made empty by this run: the cache may fill them
        self.cancelled = threading.Event()
        self.lock = threading.Lock()
        self.claimed_ports: set[int] = set()

    def converge(self) -> UpResult:
        plan = self.plan
        actions = {svc.name: self.action(svc) for svc in plan.services}
        wanted = {svc.container for svc in plan.services}
        extra = [c for name, c in self.containers.items() if name not in wanted]
        building = [svc for svc in plan.services if actions[svc.name] in ("create", "recreate", "renew")]
        for svc in building:
            self.ensure_image(svc.image)
        # Snapshots first, before this environment has anything: a build takes as long as seeding does, and
        # an environment with a network but no container for that long would look like a crashed `up`'s.
        snapshots = [lambda svc=svc: self.ensure_snapshot(svc) for svc in plan.services
                     if actions[svc.name] == "create" and self.uses_cache(svc)]
        if snapshots:
            self.run_parallel(snapshots)
        if plan.network not in self.networks:
            self.networks[plan.network] = self.create_network()
        credentials = {svc.name: self.ensure_volume(svc) for svc in plan.services}
        jobs = [lambda svc=svc: self.bring_up(svc, actions[svc.name], credentials[svc.name]) for svc in plan.services]
        states = self.run_parallel(jobs)
        changes = [f"{svc.name}: {_CHANGE[actions[svc.name]]}" for svc in plan.services]
        changes += self.seed_secrets(states, credentials)
        for container in extra:
            docker.remove(container)
            service = docker.label_of(container, labels.SERVICE)
            changes.append(f"{service}: removed (no longer in the profile; its data volume stays until `devenv down`)")
        return UpResult(services=tuple(states), changes=tuple(changes))

    def action(self, svc: ServicePlan) -> str:
        container = self.containers.get(svc.container)
        if container is None:
            return "create"
        if docker.label_of(container, labels.CONFIG_HASH) != svc.config_hash or container.status == "created":
            return "recreate"  # (a never-started container is a killed run's: its seed files may be missing)
        if labels.is_expired(docker.labels_of(container)):
            return "renew"  # labels cannot change: a new container carries the new expiry (gc would take it)
        return "keep" if container.status == "running" else "start"

    def run_parallel(self, jobs: list[Callable[[], ServiceState]]) -> list[ServiceState]:
        if len(jobs) <= 1:  # none (a profile without data services) or one: no pool
            return [job() for job in jobs]
        pool = ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="devenv-up")
        futures = [pool.submit(job) for job in jobs]
        try:
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for future in done:
                if future.exception() is not None:
                    raise future.exception()
            return [f.result() for f in futures]
        except BaseException:
            self.cancelled.set()  # the other services stop at their next step; rollback follows
            raise
        finally:
            pool.shutdown(wait=True)

    # -- resources ---------------------------------------------------------------------------

    def ensure_image(self, image: str) -> None:
        if docker.image_present(self.client, image):
            return
        self.progress.note(f"• pulling {image} (not present locally)")
        try:
            docker.pull(self.client, image)
        except docker.CredentialsMissing as err:  # its own context and hint name `docker login` and the helper
            raise ImageUnavailable(f"image {image} is not present locally and could not be pulled",
                                   context=[err.message, *err.context], hint=err.hint) from None
        except DevenvError as err:
            raise ImageUnavailable(
                f"image {image} is not present locally and could not be pulled",
                context=[err.message],
                hint="check the registry is reachable, or point " + " / ".join(s.image_variable for s in SWAPS.values())
                     + " at an image that is present (`docker image ls`)",
            ) from None

    def create_network(self):
        self.refuse_foreign(self.client.networks, self.plan.network, "network")
        with docker.translate(f"create network {self.plan.network}"):
            network = self.client.networks.create(self.plan.network, driver="bridge", labels=dict(self.plan.labels))
        self.created.append(network)
        return network

    def ensure_volume(self, svc: ServicePlan) -> dict[str, str]:
        """The service's data volume, created with fresh credentials when absent; returns its credentials."""
        volume = self.volumes.get(svc.volume)
        if volume is not None:
            self.refuse_changed_identity(svc, volume)
            return self.credentials_of(svc)
        self.refuse_foreign(self.client.volumes, svc.volume, "volume")
        credentials = swap_for(svc.type).new_credentials()
        volume_labels = {**self.plan.labels, labels.SERVICE: svc.name, labels.SERVICE_TYPE: svc.type,
                         **_identity(svc), **{labels.SECRET_PREFIX + k: v for k, v in credentials.items()}}
        with docker.translate(f"create volume {svc.volume}"):
            volume = self.client.volumes.create(svc.volume, labels=volume_labels)
        self.created.append(volume)
        self.volumes[svc.volume] = volume
        self.new_volumes.add(svc.volume)
        return credentials

    def credentials_of(self, svc: ServicePlan) -> dict[str, str]:
        volume = self.volumes.get(svc.volume)
        found = volume_credentials(volume) if volume is not None else {}
        missing = [k for k in swap_for(svc.type).credential_keys if k not in found]
        if missing:
            raise DevenvError(
                f"the data volume of {svc.name} ({svc.volume}) has lost its credentials ({', '.join(missing)})",
                hint=f"remove the environment with `devenv down {self.plan.environment}` and run `devenv up` again",
            )
        return found

    def refuse_changed_identity(self, svc: ServicePlan, volume) -> None:
        """A data volume is initialised once: a new user or database in the profile would never be created in it."""
        found = docker.labels_of(volume)
        changed = [f"{k.removeprefix('devenv.')} {found[k]!r} -> {v!r}" for k, v in _identity(svc).items()
                   if k in found and found[k] != v]
        if changed:
            raise InvalidInput(
                f"the data of {svc.name} ({svc.volume}) was initialised for another {', '.join(changed)}",
                hint=f"keep the old values in the profile, or start from empty data: "
                     f"`devenv down {self.plan.environment}` (removes the data) and `devenv up` again",
            )

    def refuse_foreign(self, collection, name: str, kind: str) -> None:
        existing = docker.get(collection, name)
        if existing is not None and not docker.is_managed(existing):
            raise DevenvError(
                f"a {kind} named {name} exists but devenv did not create it, so devenv will not touch it",
                hint=f"remove or rename that {kind}, or pick another environment name",
            )

    # -- one service -------------------------------------------------------------------------

    def bring_up(self, svc: ServicePlan, action: str, credentials: dict[str, str]) -> ServiceState:
        swap = swap_for(svc.type)
        container = self.containers.get(svc.container)
        previous_port = _host_port(container)  # kept across a re-create while it is free
        if action in ("recreate", "renew"):
            docker.remove(container, stop_timeout=KEEP_DATA_STOP_TIMEOUT)
        if action in ("create", "recreate", "renew"):
            self.check_cancelled()
            if action == "create":
                self.refuse_foreign(self.client.containers, svc.container, "container")
            with phase(f"{svc.name}: volume"):
                snapshot = self.fill_from_cache(svc) if action == "create" else None
            with phase(f"{svc.name}: container"):
                container = self.create_and_start(svc, credentials, previous_port, snapshot)
        elif action == "start":
            self.progress.note(f"• {svc.name}: starting its stopped container {svc.container}")
            container = self.start_existing(svc, container, credentials)
        endpoint = Endpoint(HOST, int(docker.label_of(container, labels.HOST_PORT)))
        started = time.monotonic()
        with phase(f"{svc.name}: ready"):
            wait_until_ready(swap, svc.spec, endpoint, credentials, stopped=lambda: docker.stopped(container),
                             logs=lambda: docker.logs_tail(container), cancelled=self.cancelled)
        if action != "keep" and svc.spec.seed and not swap.seeds_at_init():
            self.check_cancelled()
            with phase(f"{svc.name}: seed"):
                swap.seed(svc.spec, endpoint, credentials)  # once per data volume: the swap records it in the data
        if action != "keep":
            self.progress.note(f"  {svc.name} ready at {endpoint.host}:{endpoint.port} "
                               f"({time.monotonic() - started:.1f}s after start)")
        return ServiceState(
            name=svc.name, type=svc.type, container=svc.container, container_id=container.id, state="running",
            health="ready", image=svc.image, endpoint=endpoint,
            facts=swap.facts(svc.spec, endpoint, credentials),
        )

    def seed_secrets(self, states: list[ServiceState], credentials: dict[str, dict[str, str]]) -> list[str]:
        """The profile's `secrets:` written to its aws stand-in, from the facts as the secrets' readers see them:
        this machine's on the docker target, the kind network's on a kind cluster (its pods read them)."""
        from devenv.services.aws import SeedingFailed, converge_secrets, secret_strings

        declared = self.plan.profile.secrets
        stand_ins = [s for s in states if s.type == "aws"]
        if not stand_ins:
            return []
        facts = readers_facts(self.plan, states)
        env = {"name": self.plan.environment, "namespace": self.plan.profile.environment.namespace}
        changes = []
        for aws in stand_ins:
            mine = [d for d in declared if d.service in (None, aws.name)]
            wanted = secret_strings(mine, facts, env, credentials[aws.name]["seed"])
            try:
                with phase(f"{aws.name}: secrets"):
                    changes += [f"{aws.name}: {line}" for line in
                                converge_secrets(aws.endpoint, wanted, environment=self.plan.environment)]
            except SeedingFailed as err:
                container = self.containers.get(aws.container) or docker.get(self.client.containers, aws.container)
                err.context = [*(err.context or []), f"last log lines of {aws.container}:",
                               *(f"  {line}" for line in (docker.logs_tail(container) if container else []))]
                err.hint = err.hint or f"`docker logs {aws.container}` shows the stand-in's whole log"
                raise
        return changes

    def uses_cache(self, svc: ServicePlan) -> bool:
        """A new data volume starts from the snapshot of its data, unless the cache is off, the swap has no
        snapshots, or the volume exists already (its data, kept by `down --keep-data`, is never replaced)."""
        fresh = svc.volume in self.new_volumes or svc.volume not in self.volumes
        return self.plan.cache and swap_for(svc.type).snapshots and fresh

    def ensure_snapshot(self, svc: ServicePlan) -> None:
        with phase(f"{svc.name}: snapshot"):
            Cache(self.client).ensure(svc.spec, svc.image, run=self.plan.labels[labels.RUN],
                                      note=self.progress.note, cancelled=self.cancelled)

    def fill_from_cache(self, svc: ServicePlan) -> str | None:
        """The cache key whose snapshot now fills the service's new volume; None when the cache is not used."""
        if not self.uses_cache(svc):
            return None
        return Cache(self.client).fill(svc.volume, svc.spec, svc.image, run=self.plan.labels[labels.RUN],
                                       note=self.progress.note, cancelled=self.cancelled).key

    def create_and_start(self, svc: ServicePlan, credentials: dict[str, str], previous_port: int | None = None,
                         snapshot: str | None = None):
        port = self.claim_port(svc, previous_port)
        for attempt in range(1, PORT_ATTEMPTS + 1):
            container = self.create_container(svc, credentials, port, snapshot)
            try:
                with docker.translate(f"start {svc.container}"):
                    container.start()
                return container
            except DevenvError as err:
                if not docker.is_port_conflict(err) or attempt == PORT_ATTEMPTS:
                    raise
                docker.remove(container)
                port = self.claim_port(svc, None, taken=port)
        raise AssertionError("unreachable")

    def create_container(self, svc: ServicePlan, credentials: dict[str, str], port: int, snapshot: str | None):
        """The service's container: initialising its empty volume (seed files copied in), or, when `snapshot`
        filled the volume, starting on that data with this environment's credentials."""
        swap = swap_for(svc.type)
        container_labels = {**self.plan.labels, labels.SERVICE: svc.name, labels.SERVICE_TYPE: svc.type,
                            labels.HOST_PORT: str(port), labels.CONFIG_HASH: svc.config_hash, **_identity(svc)}
        command = None
        if snapshot:
            container_labels[labels.CACHE_KEY] = snapshot
            files, arguments = swap.warm_start(svc.spec, credentials)
            command = docker.image_command(self.client, svc.image) + arguments
        else:
            files = swap.init_files(svc.spec)
        self.progress.note(f"• {svc.name}: {svc.type} {svc.image} on {HOST}:{port}")
        container = docker.create_container(
            self.client, name=svc.container, image=svc.image,
            environment={**svc.environment, **swap.secret_environment(svc.spec, credentials)},
            labels=container_labels, network=self.plan.network, volume=svc.volume, data_path=swap.data_path,
            container_port=svc.container_port, host=HOST, host_port=port, memory=svc.spec.memory, command=command,
        )
        with self.lock:
            self.created.append(container)
        docker.put_paths(container, files, mode=0o444 if snapshot else 0o644)
        self.check_cancelled()
        return container

    def start_existing(self, svc: ServicePlan, container, credentials: dict[str, str]):
        try:
            with docker.translate(f"start {svc.container}"):
                container.start()
        except DevenvError as err:
            if not docker.is_port_conflict(err):
                raise
            docker.remove(container)  # its port was taken meanwhile: re-create it on another
            return self.create_and_start(svc, credentials)
        docker.reload(container)
        return container

    def claim_port(self, svc: ServicePlan, previous: int | None, taken: int | None = None) -> int:
        """The port the service had before (a re-create keeps it), else the profile's, whichever is free; else
        a free one, saying so, unless the profile pins its port (then PortTaken names who holds it). Never one
        this run already uses."""
        with self.lock:
            wanted = [p for p in (previous, svc.port) if p and p != taken]
            port = next((p for p in wanted if p not in self.claimed_ports and port_free(p)), None)
            if port is None:
                was = taken or next(iter(wanted), None)
                if svc.spec.port_pinned and not self.plan.allow_other_port:
                    raise self.pinned_port_taken(svc)
                port = free_port(exclude=self.claimed_ports)
                if was:
                    self.progress.warn(f"port {was} on {HOST} is taken; {svc.name} uses {HOST}:{port} instead")
            self.claimed_ports.add(port)
            return port

    def pinned_port_taken(self, svc: ServicePlan) -> PortTaken:
        return PortTaken(
            f"port {svc.port} on {HOST}, pinned for {svc.name} by profile {self.plan.profile.path}, is taken by "
            f"{self.port_holder(svc.port)}",
            hint="stop that, change or remove `port:` in the profile, or pass --allow-other-port to use a free "
                 "port this time",
        )

    def port_holder(self, port: int) -> str:
        """Who listens on HOST:port: a container (and its devenv environment), a local process, or unknown."""
        try:
            for container in self.client.containers.list():
                bindings = (container.attrs.get("HostConfig") or {}).get("PortBindings") or {}
                if any(b.get("HostPort") == str(port) for bs in bindings.values() for b in bs or ()):
                    env = docker.label_of(container, labels.ENVIRONMENT)
                    return f"container {container.name}" + (f" (devenv environment {env})" if env else "")
        except Exception:  # noqa: BLE001 - naming the holder is a courtesy: never the error itself
            pass
        return _process_listening(port) or "another process (not one this user can see)"

    def check_cancelled(self) -> None:
        if self.cancelled.is_set():
            raise KeyboardInterrupt

    # -- rollback ----------------------------------------------------------------------------

    def rollback(self) -> None:
        """Remove what this run created: what it recorded, and whatever carries its run label (an interrupt
        can land after Docker created something but before this run recorded it). Containers first, then
        the network and volumes; what cannot be removed stays labelled for down/gc."""
        self.cancelled.set()
        mine = {r.id: r for r in self.created}
        try:
            found = docker.managed(self.client, self.plan.environment)
            run = self.plan.labels[labels.RUN]
            mine.update({r.id: r for r in found.containers + found.networks + found.volumes
                         if docker.label_of(r, labels.RUN) == run})
        except Exception:  # noqa: BLE001 - the engine may be what failed: remove what was recorded
            pass
        for resource in sorted(mine.values(), key=lambda r: not hasattr(r, "stop")):
            try:
                docker.remove(resource)
            except Exception:  # noqa: BLE001 - best effort: the error that stopped `up` is the one to report
                pass


_CHANGE = {"keep": "unchanged", "create": "created", "recreate": "re-created (its configuration changed; data kept)",
           "renew": "re-created with a new expiry (it had expired; data kept)", "start": "started (it had stopped)"}


def readers_facts(plan: Plan, states: list[ServiceState]) -> dict[str, dict[str, str]]:
    """The services' facts as the readers of the stand-in's secrets see them: programs on this machine for the
    docker target (the states' own facts), the cluster's pods for kind (container names on the kind network),
    with the environment's real passwords either way."""
    if not plan.rules.own_cluster:
        return {s.name: dict(s.facts) for s in states}
    passwords = {s.name: s.facts["password"] for s in states if "password" in s.facts}
    return cluster_facts(plan.profile, plan.environment, passwords=passwords, swaps=SWAPS)


def port_free(port: int) -> bool:
    return docker.port_free(HOST, port)


def _host_port(container) -> int | None:
    value = docker.label_of(container, labels.HOST_PORT) if container is not None else None
    return int(value) if value and value.isdigit() else None


def _process_listening(port: int) -> str | None:
    """`process <pid> (<command>)` listening on the port, read from /proc (Linux; processes this user can see)."""
    import glob
    import os

    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    for fd in glob.glob("/proc/[0-9]*/fd/*") if inodes else ():
        try:
            if os.readlink(fd) in inodes:
                pid = fd.split("/")[2]
                command = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
                return f"process {pid} ({command.strip()[:80]})"
        except OSError:
            continue
    return None


def free_port(exclude: set[int] = frozenset()) -> int:
    return docker.free_port(HOST, exclude)


def _parallel(jobs: list[Callable]) -> list:
    if len(jobs) <= 1:
        return [job() for job in jobs]
    with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="devenv-down") as pool:
        return list(pool.map(lambda job: job(), jobs))


def _identity(svc: ServicePlan) -> dict[str, str]:
    """The user and database a service's data is made for (labels on its volume and container)."""
    if "user" not in FACTS.get(svc.type, ()):
        return {}
    return {labels.USER: svc.spec.user, labels.DATABASE: svc.spec.database}


def _describe(resource) -> str:
    kind = "container" if hasattr(resource, "stop") else "network" if hasattr(resource, "connect") else "volume"
    return f"{kind} {resource.name}"
