"""What the docker target reads back from Docker: an environment's state (ready, degraded, incomplete, data
only; created, expires) and each service's (container state, health, facts) from its containers', volumes' and
network's labels, the generated credentials from their volume's labels."""

from __future__ import annotations

from devenv.clients import docker
from devenv.domain import labels
from devenv.domain.facts import Endpoint
from devenv.domain.profiles import ServiceSpec
from devenv.services import SWAPS, swap_for
from devenv.targets import EnvironmentState, ServiceState

HOST = "127.0.0.1"


def volume_credentials(volume) -> dict[str, str]:
    return {k[len(labels.SECRET_PREFIX):]: v for k, v in docker.labels_of(volume).items()
            if k.startswith(labels.SECRET_PREFIX)}


def _health(state: dict) -> str:
    status = state.get("Status", "unknown")
    if status == "exited" or status == "dead":
        if state.get("OOMKilled"):
            return "out of memory"
        code = state.get("ExitCode")
        return "killed" if code == 137 else f"exited ({code})"
    if status == "created":
        return "never started"
    return status


def _service_state(container, volume, probe: bool) -> ServiceState:
    tags = docker.labels_of(container)
    name, kind = tags.get(labels.SERVICE, "?"), tags.get(labels.SERVICE_TYPE, "?")
    state = docker.state(container)
    port = tags.get(labels.HOST_PORT)
    endpoint = Endpoint(HOST, int(port)) if port and port.isdigit() else None
    credentials = volume_credentials(volume) if volume is not None else {}
    facts: dict[str, str] = {}
    health = _health(state)
    if kind in SWAPS and endpoint is not None:
        swap = swap_for(kind)
        spec = ServiceSpec(name=name, type=kind, version="", user=tags.get(labels.USER, "app"),
                           database=tags.get(labels.DATABASE, "app"))
        facts = swap.facts(spec, endpoint, credentials)
        if probe and state.get("Status") == "running":
            try:
                swap.probe(spec, endpoint, credentials)
                health = "ready"
            except Exception:  # noqa: BLE001 - any failure means "not ready"
                health = "not ready"
    return ServiceState(
        name=name, type=kind, container=container.name, container_id=container.id,
        state=state.get("Status", "unknown"), health=health, image=(container.attrs.get("Config") or {}).get("Image", ""),
        endpoint=endpoint, facts=facts, exit_code=state.get("ExitCode") if state.get("Status") == "exited" else None,
    )


def environment_state(name: str, found: docker.Resources, probe: bool) -> EnvironmentState:
    volumes = {docker.label_of(v, labels.SERVICE): v for v in found.volumes}
    services = tuple(sorted((_service_state(c, volumes.get(docker.label_of(c, labels.SERVICE)), probe)
                             for c in found.containers), key=lambda s: s.name))
    every = found.containers + found.volumes + found.networks
    tags = [docker.labels_of(r) for r in every]
    newest = max(every, key=lambda r: int(docker.label_of(r, labels.CREATED) or 0))
    problems = []
    if found.networks and not found.containers:
        problems.append("a network without containers")
    if found.containers and not found.networks:
        problems.append("containers without their network")
    problems += [f"{s.name}: its container was never started" for s in services if s.state == "created"]
    if problems:
        state = "incomplete"
    elif not found.containers:
        state = "data only"
    elif all(s.health in ("ready", "running") for s in services):
        state = "ready"
    else:
        state = "degraded"
        problems = [f"{s.name}: {s.health}" for s in services if s.health not in ("ready", "running")]
    created = [int(t[labels.CREATED]) for t in tags if t.get(labels.CREATED, "").isdigit()]
    return EnvironmentState(
        name=name, profile=docker.label_of(newest, labels.PROFILE) or "",
        profile_path=docker.label_of(newest, labels.PROFILE_PATH),
        target=docker.label_of(newest, labels.TARGET) or "docker", state=state,
        created=min(created) if created else None, changed=max(created) if created else None,
        expires=expires(tags), services=services,
        network=found.networks[0].name if found.networks else None,
        volumes=tuple(sorted(v.name for v in found.volumes)), problems=tuple(problems),
        owner=docker.label_of(newest, labels.OWNER),
    )


def expires(tags: list[dict[str, str]]) -> int | None:
    """The latest expiry among the resources; None (never) when any of them never expires."""
    values = []
    for t in tags:
        value = t.get(labels.EXPIRES, "")
        if not value.isdigit() or int(value) == 0:
            return None
        values.append(int(value))
    return max(values) if values else None
