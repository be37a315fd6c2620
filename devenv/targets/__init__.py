"""Where an environment runs, behind one protocol that says what differs between targets: converge it to a
plan, preview that, take it down, say how it is, and the operations only some targets have (objects in a
shared cluster, a kubeconfig of its own, sync, extend), which the others decline with an error that says why.
Targets: docker (the data services alone), kind (a cluster per environment) and namespace (a namespace per
environment in a shared cluster that runs Flux); `target_for` is their registry by name.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Protocol

from devenv.delivery import Progress, Quiet as Silent  # noqa: F401 - where a long operation reports to
from devenv.errors import DevenvError, EnvironmentNotFound, InvalidInput
from devenv.domain.facts import Endpoint
from devenv.domain.plan import Plan
from devenv.domain.target_rules import RULES, TargetRules

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
    rules: TargetRules  # what make_plan checks and fills in for it (devenv.domain.target_rules.RULES)

    def preview(self, plan: Plan) -> list[dict]:
        """`up --dry-run`: what `up` would do to each service (service, action, port, note), after the checks
        `up` makes before it creates anything (tools, platform render, Docker or the cluster). Changes nothing."""

    def objects(self, plan: Plan) -> list[dict]:
        """Every object `up` would create in a shared cluster, secrets masked; declined by targets that make
        containers and clusters instead."""

    def up(self, plan: Plan, progress: Progress, *, retain: bool = False, merge_kubeconfig: bool = False) -> UpResult:
        """Converge the environment to the plan (create, start or re-create only what differs); `retain`: on
        failure keep what this run created instead of removing it; `merge_kubeconfig`: merge its cluster's
        context into the user's kubeconfig (declined, before anything is created, without a cluster of its own)."""

    def converged(self, plan: Plan) -> EnvironmentState | None:
        """The environment right after `up` of the plan (its expiry, kept resources included)."""

    def has_cluster(self, environment: str) -> bool:
        """True when the environment has a cluster of its own (even with its containers gone)."""

    def kubeconfig(self, environment: str, *, check: bool = False) -> Path | None:
        """The environment's own kubeconfig file (mode 0600); None when the target makes no cluster of its
        own. `check`: make sure the cluster is there and devenv's (EnvironmentNotFound when not)."""

    def sync_source(self, environment: str, platform: Path | str | None) -> Path | str | None:
        """Where `devenv sync` pushes from: `platform` when given, else the folder the environment was last
        delivered from; declined by a target without Flux delivery."""

    def sync(self, plan: Plan, passwords: Mapping[str, str], progress: Progress) -> list[str]:
        """`devenv sync`: push the platform's working tree again and have Flux reconcile now; what changed."""

    def with_facts(self, state: EnvironmentState) -> EnvironmentState:
        """The state with its services' facts (passwords) read where the target keeps them."""

    def extend(self, environment: str, ttl_seconds: int, *, dry_run: bool = False,
               now: float | None = None) -> tuple[int | None, int | None]:
        """Make the environment expire `ttl_seconds` from now (0: never): (expiry before, after); declined
        where the expiry is fixed at creation."""

    def left_after_interrupt(self, plan: Plan) -> list[str]:
        """What exists of the environment after an interrupted `up` rolled back: one line per service."""

    def down(self, environment: str, *, keep_data: bool = False, dry_run: bool = False,
             progress: Progress = Silent()) -> list[str]:
        """Remove the environment's resources (volumes unless keep_data); return what was (or would be) removed."""

    def status(self, environment: str, *, probe: bool = True) -> EnvironmentState | None:
        """The environment as it is, or None when nothing carries its labels."""

    def environments(self) -> list[EnvironmentState]:
        """Every environment of this target, found by label (not probed: cheap)."""

    def remove_leftovers(self, environment: str, *, dry_run: bool = False) -> list[str]:
        """Remove what a crashed `up` left behind, keeping data a completed run may have written."""

    def credentials(self, environment: str, service: str) -> dict[str, str]:
        """The credentials generated for a service; empty when it has none."""


class Declining:
    """The protocol's operations some targets do not have, each declined with an error naming the target
    and what to do instead, and the defaults most targets share; a target overrides what it does."""

    name = "?"

    def objects(self, plan: Plan) -> list[dict]:
        raise InvalidInput(f"target {self.name} creates containers and clusters, not objects in a shared cluster")

    def refuse_merge_kubeconfig(self, plan: Plan) -> None:
        raise InvalidInput(f"--merge-kubeconfig: profile {plan.profile.name!r} has target {plan.target}, "
                           "which makes no cluster to merge",
                           hint="use a kind profile (e.g. `--profile local`), or leave out --merge-kubeconfig")

    def converged(self, plan: Plan) -> EnvironmentState | None:
        return self.status(plan.environment, probe=False)

    def has_cluster(self, environment: str) -> bool:
        return False

    def kubeconfig(self, environment: str, *, check: bool = False) -> Path | None:
        if check:
            raise EnvironmentNotFound(f"environment {environment} has no kind cluster, so no kubeconfig",
                                      hint=f"`devenv list` shows the environments; `devenv up {environment} "
                                           "--profile local` makes one with a cluster")
        return None

    def sync_source(self, environment: str, platform: Path | str | None) -> Path | str | None:
        raise self._no_sync(environment)

    def sync(self, plan: Plan, passwords: Mapping[str, str], progress: Progress = Silent()) -> list[str]:
        raise self._no_sync(plan.environment)

    def _no_sync(self, environment: str) -> InvalidInput:
        return InvalidInput(f"environment {environment} is a {self.name} environment: `devenv sync` needs a cluster "
                            "with Flux (profile target kind or namespace)")

    def with_facts(self, state: EnvironmentState) -> EnvironmentState:
        return state  # on the labels of what status read

    def extend(self, environment: str, ttl_seconds: int, *, dry_run: bool = False,
               now: float | None = None) -> tuple[int | None, int | None]:
        raise InvalidInput(f"environment {environment} runs on this machine (Docker or kind), whose containers keep "
                           "the expiry they were created with",
                           hint=f"`devenv down {environment}` and `devenv up {environment} --ttl DURATION` makes it "
                                "again with a new one")

    def status(self, environment: str, *, probe: bool = True) -> EnvironmentState | None:
        raise NotImplementedError


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


# The registry: each target's implementation by name, imported when asked for (kind's and the namespace
# target's pull in kustomize, Flux and the kubernetes client). The roles name the targets environments are
# looked for in: this machine's engine holds every docker and kind environment's containers; shared clusters
# hold namespace environments; kind environments have a cluster (and a kubeconfig) of their own.
_TARGETS = {"docker": "devenv.targets.docker:DockerTarget", "kind": "devenv.targets.kind:KindTarget",
            "namespace": "devenv.targets.namespace:NamespaceTarget"}
MACHINE, SHARED, OWN_CLUSTER = "docker", "namespace", "kind"
assert set(_TARGETS) == set(RULES), "every target planned has an implementation"


def target_for(name: str) -> Target:
    """The target of that name (a plan's, or an environment's `devenv.target` label)."""
    if name not in _TARGETS:
        raise NotImplementedError(f"the {name} target is not available in this build")
    module, _, cls = _TARGETS[name].partition(":")
    return getattr(importlib.import_module(module), cls)()


def on_this_machine() -> Target:
    """The target that finds every environment whose containers run on this machine's engine (kind ones too)."""
    return target_for(MACHINE)


def in_shared_clusters(context: str | None = None) -> Target:
    """The target of shared-cluster environments, looking in every known context, or only in `context`
    (refused unless known)."""
    shared = target_for(SHARED)
    if context is None:
        return shared
    from devenv.domain import contexts

    contexts.check_known(context)
    return type(shared)(known_contexts=lambda: (context,))  # the same implementation, looking in that one only


def with_own_cluster() -> Target:
    """The target whose environments each have a cluster, and a kubeconfig file, of their own."""
    return target_for(OWN_CLUSTER)


def target_of(environment: str, context: str | None = None) -> Target:
    """The target that made an existing environment: the one its containers' labels name (kind also when only
    its cluster is left), a shared cluster's when a known one (or the one of `context`) holds its namespace,
    else this machine's."""
    if context is not None:
        return in_shared_clusters(context)
    machine = on_this_machine()
    state = machine.status(environment, probe=False)
    if state is not None and state.target != MACHINE:
        return target_for(state.target)
    own = with_own_cluster()
    if own.has_cluster(environment):  # a cluster whose containers are gone
        return own
    if state is None and in_shared_clusters().status(environment, probe=False) is not None:
        return in_shared_clusters()
    return machine

