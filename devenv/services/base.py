"""What a data-service swap is: its image, its container contract, its generated credentials,
its readiness check (a real request) and its seeding; and the wait until it answers (devenv.wait)."""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path
from typing import Callable, Mapping

from devenv.errors import DevenvError, ReadinessTimeout
from devenv.wait import SYSTEM, Clock, NotYet, until
from devenv.domain.facts import Endpoint, service_facts
from devenv.domain.profiles import ServiceSpec


STOPPED_LOOK_EVERY = 0.5  # seconds between looks at whether the container still runs, while waiting


class SeedFailed(DevenvError):
    """A seed file could not be loaded into a service."""


class Swap:
    """One kind of data service (mariadb, opensearch). Subclasses fill in the class attributes and
    `environment`/`probe`; the rest has defaults. Instances hold no state."""

    type: str
    repository: str  # the official image, tagged with the profile's version
    image_variable: str  # the environment variable that overrides the image (offline machines, CI)
    container_port: int
    data_path: str  # where the named data volume is mounted
    readiness_timeout: float = 120.0
    poll_interval: float = 0.05
    credential_keys: tuple[str, ...] = ()  # generated per environment, kept on the data volume
    # The data directory can be cached (devenv.services.cache): initialised and seeded once per cache key, then
    # copied into each new environment's volume, which starts with `warm_start` instead of `init_files`.
    snapshots: bool = False
    clean_exit_codes: tuple[int, ...] = (0,)  # how the server exits when stopped cleanly (a JVM: 143 on SIGTERM)

    def image(self, spec: ServiceSpec) -> str:
        """DEVENV_<TYPE>_IMAGE, else the profile's image, else the official image at the profile's version."""
        return os.environ.get(self.image_variable) or spec.image or f"{self.repository}:{spec.version}"

    def new_credentials(self) -> dict[str, str]:
        return {key: secrets.token_urlsafe(18) for key in self.credential_keys}

    def environment(self, spec: ServiceSpec) -> dict[str, str]:
        """The container's environment without secrets: safe to show, part of the config hash."""
        raise NotImplementedError

    def secret_environment(self, spec: ServiceSpec, credentials: Mapping[str, str]) -> dict[str, str]:
        """The container's environment that carries the generated credentials."""
        return {}

    def init_files(self, spec: ServiceSpec) -> dict[str, bytes]:
        """Files to copy into the container before its first start: {absolute path: content}."""
        return {}

    def preflight(self, spec: ServiceSpec) -> list[str]:
        """Warnings about this machine that would make the service fail."""
        return []

    def ready_when(self, spec: ServiceSpec, endpoint: Endpoint) -> str:
        raise NotImplementedError

    def probe(self, spec: ServiceSpec, endpoint: Endpoint, credentials: Mapping[str, str]) -> None:
        """One readiness attempt: return when ready, raise (anything) when not."""
        raise NotImplementedError

    def snapshot_args(self, spec: ServiceSpec) -> list[str]:
        """Arguments appended to the image's command when a snapshot's data is made (never at an environment's start)."""
        return []

    def key_environment(self, spec: ServiceSpec) -> dict[str, str]:
        """The part of `environment` that determines the data, for the cache key: all of it unless a swap
        leaves out what only tunes the running server (a JVM's heap)."""
        return self.environment(spec)

    def before_snapshot(self, spec: ServiceSpec, endpoint: Endpoint, credentials: Mapping[str, str]) -> None:
        """On a snapshot's seeded build container, just before it is stopped: make everything it holds durable
        on disk (a search engine's flush), so the snapshot never depends on replaying a log."""

    def warm_start(self, spec: ServiceSpec, credentials: Mapping[str, str]) -> tuple[dict[str, bytes], list[str]]:
        """For a container whose data was copied from a snapshot: files to copy in before it starts
        ({absolute path: content}) and arguments appended to the image's command, so that the service
        starts with this environment's credentials, never the snapshot's."""
        return {}, []

    def seeds_at_init(self) -> bool:
        """True when the image's entry point loads the seed itself on an empty volume (via init_files)."""
        return False

    def seed(self, spec: ServiceSpec, endpoint: Endpoint, credentials: Mapping[str, str]) -> None:
        """Load seed data after readiness, unless this service's data already has it: a swap that seeds
        this way records in the data itself that it did, so seeding happens once per data volume."""

    def facts(self, spec: ServiceSpec, endpoint: Endpoint, credentials: Mapping[str, str]) -> dict[str, str]:
        return service_facts(spec, endpoint, credentials.get("password"))


def wait_until_ready(swap: Swap, spec: ServiceSpec, endpoint: Endpoint, credentials: Mapping[str, str], *,
                     timeout: float | None = None, stopped: Callable[[], str | None] = lambda: None,
                     logs: Callable[[], list[str]] = lambda: [],
                     cancelled: threading.Event | None = None, clock: Clock = SYSTEM) -> float:
    """Probe until the service answers; return the seconds waited. `stopped` says why the container is
    no longer running (None while it runs), asked every STOPPED_LOOK_EVERY seconds: the wait then ends at
    once instead of at the timeout."""
    timeout = readiness_timeout(swap) if timeout is None else timeout
    started = clock.monotonic()
    next_look = [started + STOPPED_LOOK_EVERY]

    def probe() -> float | NotYet:
        if cancelled is not None and cancelled.is_set():
            raise KeyboardInterrupt
        try:
            swap.probe(spec, endpoint, credentials)
            return clock.monotonic() - started
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
            return NotYet(f"{type(exc).__name__}: {exc}")

    def still_running(_: NotYet) -> None:
        now = clock.monotonic()
        if now < next_look[0]:
            return
        next_look[0] = now + STOPPED_LOOK_EVERY
        why = stopped()
        if why:
            raise ReadinessTimeout(
                f"{spec.name} ({spec.type}) {why} before it was ready",
                context=[f"waited for: {swap.ready_when(spec, endpoint)}", "last log lines:",
                         *(f"  {line}" for line in logs())],
                hint="the log lines above say why; fix the profile (seed files, memory) and run `devenv up` again",
            )

    def not_ready(seen: NotYet) -> ReadinessTimeout:
        return ReadinessTimeout(
            f"{spec.name} ({spec.type}) was not ready after {timeout:g}s",
            context=[f"waited for: {swap.ready_when(spec, endpoint)}", f"last attempt: {seen.state}",
                     "last log lines:", *(f"  {line}" for line in logs())],
            hint="a slow machine may need longer (DEVENV_READY_TIMEOUT, seconds); the log lines may say what is wrong",
        )

    return until(probe, what=f"{spec.name} ({spec.type}) to be ready", timeout=timeout, poll=swap.poll_interval,
                 between=still_running, give_up=not_ready, clock=clock)


def readiness_timeout(swap: Swap) -> float:
    """DEVENV_READY_TIMEOUT seconds when set, else the swap's own."""
    try:
        return float(os.environ["DEVENV_READY_TIMEOUT"])
    except (KeyError, ValueError):
        return swap.readiness_timeout


def read_seed(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SeedFailed(f"cannot read seed file {path}: {exc.strerror}") from None
