"""What an environment will be, as pure data: computed and validated from a name, a profile and a
TTL before anything is created, by the planning rules of its target (RULES); `devenv up --dry-run` prints it."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from devenv.domain import labels, tenancy
from devenv.errors import InvalidInput, PlatformError, ProfileError
from devenv.domain.facts import Endpoint, container_name
from devenv.domain.naming import validate_name
from devenv.domain.profiles import EMBEDDED_PLATFORM, Profile, ServiceSpec, parse_duration
from devenv.domain.target_rules import RULES, TargetRules
from devenv.services import swap_for


MAX_TTL_SECONDS = 366 * 86400  # an environment is short-lived; a year keeps every expiry a sane date


AVAILABLE_TARGETS = tuple(RULES)


@dataclass(frozen=True)
class ServicePlan:
    """One data service: its container, volume, port and everything its config hash covers."""

    spec: ServiceSpec
    image: str
    container: str
    volume: str
    container_port: int
    port: int | None  # preferred host port on 127.0.0.1; a free one is used when it is taken
    environment: Mapping[str, str]  # the container's environment without the generated secrets
    init_files: tuple[str, ...]  # paths copied into the container before its first start
    ready_when: str
    config_hash: str  # a running container with this hash needs nothing done

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def type(self) -> str:
        return self.spec.type


@dataclass(frozen=True)
class Plan:
    environment: str
    profile: Profile
    target: str
    network: str
    ttl_seconds: int  # 0: never expires
    labels: Mapping[str, str]  # on every resource this run creates
    services: tuple[ServicePlan, ...]
    warnings: tuple[str, ...] = ()
    platform: Path | None = None  # the Flux repository a cluster target renders (None: no cluster)
    allow_other_port: bool = False  # a port pinned in the profile may be replaced by a free one when taken
    cache: bool = True  # new data volumes start from the snapshot of their seeded data (devenv.services.cache)
    context: str | None = None  # namespace target: the kubeconfig context (allowed) of the shared cluster
    namespace: str | None = None  # namespace target: <prefix>-<environment>
    from_git: bool = False  # namespace target: Flux pulls the platform's branch from its remote (a GitRepository)

    def service(self, name: str) -> ServicePlan:
        return next(s for s in self.services if s.name == name)

    @property
    def rules(self) -> TargetRules:
        return RULES[self.target]

    def to_dict(self) -> dict[str, Any]:
        """The plan as printed by `up --dry-run -o json` (no secrets: they are generated at creation)."""
        return {
            "environment": self.environment,
            "profile": self.profile.name,
            "profilePath": str(self.profile.path),
            "target": self.target,
            "network": self.network,
            "platform": str(self.platform) if self.platform else None,
            "ttlSeconds": self.ttl_seconds,
            "cache": self.cache,
            "expires": int(self.labels[labels.EXPIRES]) if labels.EXPIRES in self.labels else None,
            "services": [
                {
                    "name": s.name, "type": s.type, "version": s.spec.version, "image": s.image,
                    "container": s.container, "volume": s.volume, "containerPort": s.container_port,
                    "hostPort": s.port, "portPinned": s.spec.port_pinned, "bind": "127.0.0.1", "memory": s.spec.memory,
                    "environment": dict(s.environment), "seed": [str(p) for p in s.spec.seed],
                    "readyWhen": s.ready_when, "configHash": s.config_hash,
                }
                for s in self.services
            ],
            "kind": {"nodeImage": self.profile.kind.node_image,
                     "ingress": {"http": self.profile.kind.http_port, "https": self.profile.kind.https_port,
                                 "bind": "127.0.0.1"}} if self.rules.own_cluster else None,
            "context": self.context,
            "namespace": self.namespace,
            "fromGit": self.from_git,
            "warnings": list(self.warnings),
        }


def make_plan(environment: str, profile: Profile, *, ttl: str | int | None = None, now: float | None = None,
              run: str | None = None, platform: str | os.PathLike | None = None,
              allow_other_port: bool = False, cache: bool = True, context: str | None = None,
              from_git: bool = False) -> Plan:
    """Validate the inputs and compute the plan; raise InvalidInput (nothing is created) when they do not fit.
    `context` (namespace target): the kubeconfig context, refused unless allowed (devenv.domain.contexts)."""
    validate_name(environment)
    rules = RULES.get(profile.target)
    if rules is None:
        raise InvalidInput(f"profile {profile.name!r} uses the {profile.target} target, which is not available",
                           hint=f"targets: {', '.join(AVAILABLE_TARGETS)}")
    if from_git and not rules.shared_cluster:
        raise InvalidInput(f"--from-git: profile {profile.name!r} has target {profile.target}; "
                           + ("a kind environment's Flux is handed the working tree itself" if rules.cluster else
                              "it delivers no platform"),
                           hint="use a namespace profile, or leave out --from-git")
    if context is not None and not rules.shared_cluster:
        raise InvalidInput(f"--context: profile {profile.name!r} has target {profile.target}, which makes its own "
                           "cluster or none", hint="use a namespace profile (e.g. `--profile branch`), or leave out --context")
    root = _platform(profile, platform) if rules.cluster else None
    namespace = None
    if rules.shared_cluster:
        from devenv.domain import contexts

        context = contexts.choose(context, profile.contexts, profile.path)
        namespace = tenancy.namespace_name(profile, environment)
    ttl_seconds = _ttl(ttl, profile)
    problems = [f"{svc.name}: seed file {path} not found" for svc in profile.services
                for path in svc.seed if not path.is_file()]
    if problems:
        raise ProfileError(f"profile {profile.path} refers to missing files", context=problems)
    base = labels.for_environment(environment, profile=profile.name, target=profile.target,
                                  ttl_seconds=ttl_seconds, now=now if now is not None else time.time())
    base[labels.RUN] = run or secrets.token_hex(4)
    base[labels.PROFILE_PATH] = str(profile.path)
    if rules.shared_cluster:
        base.update(_origin(root))
    network = f"devenv-{environment}"
    services = tuple(_service_plan(environment, svc, network) for svc in profile.services)
    warnings = tuple(w for svc in profile.services for w in swap_for(svc.type).preflight(svc)) \
        if rules.machine_services else ()  # this machine's limits: for its own containers
    return Plan(environment=environment, profile=profile, target=profile.target, network=network,
                ttl_seconds=ttl_seconds, labels=base, services=services, warnings=warnings, platform=root,
                allow_other_port=allow_other_port, cache=cache, context=context, namespace=namespace, from_git=from_git)


def _origin(root: Path | None) -> dict[str, str]:
    """Where a namespace environment comes from, on its namespace: the platform checkout's branch and commit
    (labels, so `list` can show and select them) and devenv's version."""
    from devenv import __version__
    from devenv.clients import process
    from devenv.errors import DevenvError

    def git(*args: str) -> str:
        try:
            done = process.run(["git", "-C", str(root), *args], timeout=10, check=False)
        except DevenvError:
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""

    branch = git("symbolic-ref", "--short", "-q", "HEAD") if root else ""
    commit = git("rev-parse", "HEAD") if root else ""
    out = {labels.VERSION: labels.as_label_value(__version__)}
    if branch:
        out[labels.BRANCH] = labels.as_label_value(branch)
        out[labels.BRANCH_ANNOTATION] = branch
    if len(commit) == 40:
        out[labels.COMMIT] = commit
    return out


def _platform(profile: Profile, platform: str | os.PathLike | None) -> Path:
    """The Flux repository to render, checked before anything is created."""
    root = Path(platform).resolve() if platform is not None else EMBEDDED_PLATFORM
    if not root.is_dir():
        raise PlatformError(f"platform folder {root} does not exist", hint="pass --platform DIR (a Flux repository)")
    if not (root / profile.mirror).is_dir():
        raise PlatformError(f"the profile's mirror folder {profile.mirror} does not exist in {root}",
                            hint=f"fix `mirror:` in {profile.path}, or pass the right --platform")
    return root


def _service_plan(environment: str, svc: ServiceSpec, network: str) -> ServicePlan:
    swap = swap_for(svc.type)
    container = container_name(environment, svc.name)
    image = swap.image(svc)
    env = swap.environment(svc)
    init_files = tuple(swap.init_files(svc))
    hashed = {
        "image": image, "environment": env, "containerPort": swap.container_port, "port": svc.port,
        "memory": svc.memory, "dataPath": swap.data_path, "network": network,
    }
    digest = hashlib.sha256(json.dumps(hashed, sort_keys=True).encode()).hexdigest()[:16]
    return ServicePlan(
        spec=svc, image=image, container=container, volume=f"{container}-data",
        container_port=swap.container_port, port=svc.port, environment=env, init_files=init_files,
        ready_when=swap.ready_when(svc, Endpoint("127.0.0.1", svc.port or swap.container_port)),
        config_hash=digest,
    )


def _ttl(ttl: str | int | None, profile: Profile) -> int:
    if ttl is None:
        if profile.ttl_seconds > MAX_TTL_SECONDS:
            raise ProfileError(f"profile {profile.path}: ttl {profile.ttl!r} is longer than the longest TTL, "
                               f"{MAX_TTL_SECONDS // 86400}d", hint="use at most 366d, or 0 for never")
        return profile.ttl_seconds
    seconds = ttl if isinstance(ttl, int) and not isinstance(ttl, bool) else parse_duration(str(ttl))
    if seconds is None or seconds < 0:
        raise InvalidInput(f"--ttl {ttl!r} is not a duration", hint="e.g. --ttl 8h, 30m, 2d, 90s; 0 for never")
    if seconds > MAX_TTL_SECONDS:
        raise InvalidInput(f"--ttl {ttl!r} is longer than the longest TTL, {MAX_TTL_SECONDS // 86400}d",
                           hint="use at most 366d, or 0 for an environment that never expires")
    return seconds
