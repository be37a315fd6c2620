"""Where an environment runs, behind one small protocol: converge it to a plan, take it down, say how
it is. Targets: docker (the data services alone), kind (a cluster per environment) and namespace (a
namespace per environment in a shared cluster that runs Flux)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

from devenv.delivery import Progress, Quiet as Silent  # noqa: F401 - where a long operation reports to
from devenv.errors import DevenvError
from devenv.domain.facts import Endpoint
from devenv.domain.plan import Plan

MASK = "********"


@dataclass(frozen=True)
class ServiceState:
    """One data service as it is now, read from the real resources."""

    name: str
    type: str
    container: str
    container_id: str | None
    state: str  # Docker's: running, exited, created, restarting, ...; "missing" when there is no container
    health: str  # see HEALTH: ready, not ready, unknown (not probed), killed, exited (N), out of memory, never started, ...
    image: str = ""
    endpoint: Endpoint | None = None
    facts: Mapping[str, str] = field(default_factory=dict)  # as seen from this machine, with the real password
    exit_code: int | None = None

    def to_dict(self, show_secrets: bool = False) -> dict[str, Any]:
        return {
            "name": self.name, "type": self.type, "container": self.container, "containerId": self.container_id,
            "state": self.state, "health": self.health, "image": self.image, "exitCode": self.exit_code,
            "endpoint": {"host": self.endpoint.host, "port": self.endpoint.port} if self.endpoint else None,
            "facts": json_facts(mask(self.facts, show_secrets)),
        }


@dataclass(frozen=True)
class EnvironmentState:
    """One environment as it is now: what exists, how healthy, when it expires."""

    name: str
    profile: str
    profile_path: str | None
    target: str
    state: str  # ready, degraded, incomplete (a crashed run's leftovers), data only (after down --keep-data)
    created: int | None  # unix seconds, of its oldest resource
    expires: int | None  # None: never
    changed: int | None = None  # unix seconds, when its newest resource was created
    services: tuple[ServiceState, ...] = ()
    network: str | None = None
    volumes: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    owner: str | None = None
    branch: str | None = None
    context: str | None = None  # namespace target: the kubeconfig context of its cluster
    namespace: str | None = None  # and its namespace
    kustomizations: tuple[Mapping[str, str], ...] = ()  # namespace target: name, ready, reason, message
    kept: bool = False  # labelled devenv.keep=true: gc leaves it alone even when expired

    def service(self, name: str) -> ServiceState:
        return next(s for s in self.services if s.name == name)

    def to_dict(self, show_secrets: bool = False) -> dict[str, Any]:
        return {
            "name": self.name, "profile": self.profile, "target": self.target, "state": self.state,
            "created": self.created, "expires": self.expires, "network": self.network,
            "volumes": list(self.volumes), "problems": list(self.problems),
            "services": [s.to_dict(show_secrets) for s in self.services],
            "owner": self.owner, "branch": self.branch,
            **({"context": self.context, "namespace": self.namespace,
                "kustomizations": [dict(k) for k in self.kustomizations]} if self.namespace else {}),
        }


@dataclass(frozen=True)
class UpResult:
    services: tuple[ServiceState, ...]
    changes: tuple[str, ...]  # what this run did, one line per service ("db: unchanged", "db: created", ...)


class Target(Protocol):
    name: str

    def up(self, plan: Plan, progress: Progress, *, retain: bool = False) -> UpResult:
        """Converge the environment to the plan (create, start or re-create only what differs); `retain`: on
        failure keep what this run created instead of removing it."""

    def down(self, environment: str, *, keep_data: bool = False, dry_run: bool = False) -> list[str]:
        """Remove the environment's resources (volumes unless keep_data); return what was (or would be) removed."""

    def status(self, environment: str, *, probe: bool = True) -> EnvironmentState | None:
        """The environment as it is, or None when nothing carries its labels."""

    def environments(self) -> list[EnvironmentState]:
        """Every environment of this target, found by label (not probed: cheap)."""

    def remove_leftovers(self, environment: str, *, dry_run: bool = False) -> list[str]:
        """Remove what a crashed `up` left behind, keeping data a completed run may have written."""

    def credentials(self, environment: str, service: str) -> dict[str, str]:
        """The credentials generated for a service; empty when it has none."""


def json_facts(facts: Mapping[str, str]) -> dict[str, str | int]:
    """Facts as JSON carries them: `port` a number, like every port devenv reports (the fixtures' too)."""
    return {k: int(v) if k == "port" and str(v).isdigit() else v for k, v in facts.items()}


def mask(facts: Mapping[str, str], show_secrets: bool) -> dict[str, str]:
    return {k: (v if show_secrets or k != "password" else MASK) for k, v in facts.items()}


def annotated(obj: dict, annotations: Mapping[str, str]) -> dict:
    """A copy of a generated object with the environment's annotations added to its own."""
    meta = {**obj["metadata"], "annotations": {**(obj["metadata"].get("annotations") or {}), **annotations}}
    return {**obj, "metadata": meta}


def say_retained(failure: BaseException, environment: str, kept: str, look: str) -> None:
    """The hint of a failed `up --retain`: what was kept, how to look at it, how to remove it (the outermost
    target's word wins: a kind `up` says so once, for its containers and its cluster)."""
    if not isinstance(failure, DevenvError):
        return
    before = getattr(failure, "hint_before_retain", failure.hint)
    failure.hint_before_retain = before
    said = f"--retain kept {kept} for debugging ({look}); `devenv down {environment}` removes it all"
    failure.hint = f"{before}; {said}" if before else said


def target_for(name: str) -> Target:
    if name == "docker":
        from devenv.targets.docker import DockerTarget

        return DockerTarget()
    if name == "kind":
        from devenv.targets.kind import KindTarget

        return KindTarget()
    if name == "namespace":
        from devenv.targets.namespace import NamespaceTarget

        return NamespaceTarget()
    raise NotImplementedError(f"the {name} target is not available in this build")
