"""Environment lifecycle — plan, preview, up, sync, down, list, status, env values, kubeconfig, extend and gc —
working only from the labels on the real resources, with a per-environment lock around every change. What
differs between targets is asked of the Target protocol (devenv.targets: the registry by name, and the roles
this machine, shared clusters, a cluster of its own); nothing here decides by a target's name. The CLI and the
pytest plugin use this module's functions; nothing here prints.

"Complete" (for gc): an `up` is complete once every container it created has been started. A container
Docker still reports as `created`, a network with no containers, or containers without their network,
while no process holds the environment's lock and nothing changed for the grace period (LEFTOVER_GRACE
seconds unless `gc --grace` says otherwise), are the leftovers of an `up` that was killed; `gc` removes
them, and the volumes created in that same run for containers that never started. Volumes from earlier
runs (e.g. kept by `down --keep-data`) stay until the environment expires or `down` removes them.
"""

from __future__ import annotations

import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

from devenv.services import cache as data_cache
from devenv.domain import labels
from devenv.errors import EnvironmentBusy, EnvironmentNotFound, InvalidInput, InvalidName, ProfileError
from devenv.domain.facts import aws_values, environment_values
from devenv.lock import environment_lock, lock_dir
from devenv.domain.naming import validate_name
from devenv.domain.plan import Plan, make_plan
from devenv.domain.profiles import Profile, load_profile, parse_duration, render_template
from devenv import targets
from devenv.targets import MASK, EnvironmentState, Progress, Silent, json_facts, mask

# gc leaves an incomplete environment alone this long after its last change: an `up` of another user
# (whose lock file gc cannot see) may still be between creating a container and starting it.
LEFTOVER_GRACE = 60


@dataclass(frozen=True)
class Environment:
    """What a client of an environment needs: connection facts and environment values, as seen from this
    machine (host endpoints, real passwords). `changes` says what `up` did; empty for `attach`."""

    name: str
    profile: str
    services: Mapping[str, Mapping[str, str]]  # service -> host, port, url (user, password, database)
    values: Mapping[str, str]  # the `environment` ConfigMap data, filled with host endpoints
    secrets: Mapping[str, str]  # the Secret data (RDS_PASSWORD, ...)
    expires: int | None = None  # unix seconds; None: never
    state: str = "ready"
    changes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    kubeconfig: str | None = None  # a kind environment's own kubeconfig file (mode 0600)

    def variables(self, show_secrets: bool = False) -> dict[str, str]:
        """Flat KEY=value pairs: KUBECONFIG (a kind environment's), the ConfigMap and Secret values, then every
        fact as DEVENV_<SERVICE>_<FACT>."""
        flat = {"KUBECONFIG": self.kubeconfig} if self.kubeconfig else {}
        flat.update(self.values)
        flat.update({k: v if show_secrets else MASK for k, v in self.secrets.items()})
        for service, facts in self.services.items():
            prefix = "DEVENV_" + re.sub(r"[^A-Z0-9]", "_", service.upper())
            flat.update({f"{prefix}_{k.upper()}": v for k, v in mask(facts, show_secrets).items()})
        return flat

    def to_dict(self, show_secrets: bool = False) -> dict[str, Any]:
        """`devenv env -o json` (and `up -o json`): the names and types of `list` and `status` where they overlap."""
        return {
            "name": self.name, "profile": self.profile, "state": self.state, "expires": self.expires,
            "kubeconfig": self.kubeconfig,
            "services": {name: json_facts(mask(facts, show_secrets)) for name, facts in self.services.items()},
            "values": dict(self.values),
            "secrets": {k: v if show_secrets else MASK for k, v in self.secrets.items()},
        }


class UpInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) stopped an `up`; `left` says, per service, what the environment is now."""

    def __init__(self, environment: str, left: list[str], retained: bool = False):
        super().__init__(f"`devenv up {environment}` was interrupted")
        self.environment = environment
        self.left = left
        self.retained = retained  # --retain: what this run created was kept, not removed


@dataclass(frozen=True)
class Collected:
    """One environment `gc` removed (or would remove), or left alone and why (`kept`: busy, or still within
    the grace period)."""

    environment: str
    reason: str
    resources: tuple[str, ...] = ()
    kept: str | None = None
    owner: str | None = None  # its devenv.owner label

    def to_dict(self, dry_run: bool = False) -> dict[str, Any]:
        action = "kept" if self.kept else "would remove" if dry_run else "removed"
        return {"name": self.environment, "reason": self.reason, "action": action,
                "resources": list(self.resources), "kept": self.kept, "owner": self.owner}


def plan(name: str, profile: Profile | str | os.PathLike = "test", *, ttl: str | int | None = None,
         platform: str | os.PathLike | None = None, allow_other_port: bool = False,
         cache: bool | None = None, context: str | None = None, from_git: bool = False) -> Plan:
    """What `up` would create, validated; creates nothing and needs no Docker. `cache`: start new data
    volumes from snapshots of their seeded data (None: DEVENV_CACHE, on unless set to off); `context`: the
    kubeconfig context of a namespace environment's cluster (refused unless allowed)."""
    return make_plan(name, _load(profile), ttl=ttl, platform=platform, allow_other_port=allow_other_port,
                     cache=data_cache.enabled(cache), context=context, from_git=from_git)


def preview(the_plan: Plan) -> list[dict]:
    """What `up` of the plan would change, checked as `up` checks before it creates anything (the tools and
    the platform for a cluster target, Docker reachable), per service: action, port, note. Changes nothing."""
    return targets.target_for(the_plan.target).preview(the_plan)


def planned_objects(the_plan: Plan) -> list[dict]:
    """Every object `up` of a shared-cluster (namespace) environment would create, secrets masked (`up --dry-run`);
    refused by the targets that create containers and clusters."""
    return targets.target_for(the_plan.target).objects(the_plan)


def up(name: str, profile: Profile | str | os.PathLike = "test", *, ttl: str | int | None = None,
       platform: str | os.PathLike | None = None, progress: Progress | None = None,
       lock_timeout: float | None = None, allow_other_port: bool = False,
       cache: bool | None = None, retain: bool = False, merge_kubeconfig: bool = False,
       context: str | None = None, from_git: bool = False) -> Environment:
    """Create the environment, or converge an existing one to the profile (re-creating only what differs,
    keeping data volumes); wait until every service answers; return its facts and values.

    `retain`: when it fails, keep what this run created (kind cluster, containers) for debugging instead of
    removing it; `down` removes it. `merge_kubeconfig`: merge a kind environment's context into the user's
    kubeconfig ($KUBECONFIG's first file, else ~/.kube/config); `down` takes it out again. `context`: the
    kubeconfig context of a namespace environment's shared cluster (default: the current one, if allowed)."""
    progress = progress or Silent()
    the_plan = plan(name, profile, ttl=ttl, platform=platform, allow_other_port=allow_other_port, cache=cache,
                    context=context, from_git=from_git)
    target = targets.target_for(the_plan.target)
    for warning in the_plan.warnings:
        progress.warn(warning)
    # The lock file goes when the lock does: a file per name tried would otherwise pile up (waiters retry).
    with environment_lock(name, purpose="up", timeout=lock_timeout, on_wait=progress.note, remove_file=True):
        try:
            result = target.up(the_plan, progress, retain=retain, merge_kubeconfig=merge_kubeconfig)
        except KeyboardInterrupt:
            raise UpInterrupted(name, _left_after_interrupt(target, the_plan), retained=retain) from None
        own = target.kubeconfig(name)
        current = target.converged(the_plan)  # the expiry of what exists, kept resources included
    facts = {s.name: dict(s.facts) for s in result.services}
    values, secrets = environment_values(the_plan.profile, name, facts, the_plan.namespace)
    return Environment(name=name, profile=the_plan.profile.name, services=facts, values=values, secrets=secrets,
                       expires=current.expires if current else None, state=current.state if current else "ready",
                       changes=result.changes, kubeconfig=str(own) if own else None)


def sync(name: str, *, platform: str | os.PathLike | None = None, progress: Progress | None = None,
         lock_timeout: float | None = None) -> list[str]:
    """Push the platform's working tree to a running environment again and have Flux reconcile it now (the
    inner loop of delivery `flux`); returns what changed, in the cluster too. `platform`: default, the
    folder the environment was last delivered from."""
    progress = progress or Silent()
    state = status(name, probe=False)
    target = targets.target_for(state.target)
    root = target.sync_source(name, platform)  # declined by a target without Flux delivery
    warnings: list[str] = []
    profile = _recorded_profile(state, warnings)
    if profile is None:
        raise InvalidInput(warnings[0], hint=f"`devenv up {name} --profile P` delivers it again with a profile")
    the_plan = plan(name, profile, platform=root, context=state.context)
    state = target.with_facts(state)
    passwords = {s.name: s.facts["password"] for s in state.services if "password" in s.facts}
    with environment_lock(name, purpose="sync", timeout=lock_timeout, on_wait=progress.note, remove_file=True):
        return target.sync(the_plan, passwords, progress)


def attach(name: str, profile: Profile | str | os.PathLike | None = None) -> Environment:
    """An existing environment's facts and values (its profile: the one given, else the one it was made from)."""
    state = status(name)
    facts = {s.name: dict(s.facts) for s in state.services if s.facts}
    warnings: list[str] = []
    the_profile = _load(profile) if profile is not None else _recorded_profile(state, warnings)
    values: dict[str, str] = {}
    secrets: dict[str, str] = {}
    if the_profile is not None:
        missing = sorted({s.name for s in the_profile.services} - set(facts))
        if missing:
            warnings.append(f"no container for {', '.join(missing)}: environment values that refer to it are "
                            f"left out (run `devenv up {name}`)")
        values, secrets = _values_present(the_profile, name, facts)
    kubeconfig = None
    path = targets.target_for(state.target).kubeconfig(name)
    if path is not None and path.is_file():
        kubeconfig = str(path)
    elif path is not None:
        warnings.append(f"no kubeconfig for the cluster of {name} at {path}: KUBECONFIG is left out "
                        f"(`devenv kubeconfig {name}` finds the cluster's; `devenv up {name}` writes it)")
    return Environment(name=name, profile=state.profile, services=facts, values=values, secrets=secrets,
                       expires=state.expires, state=state.state, warnings=tuple(warnings), kubeconfig=kubeconfig)


def kubeconfig(name: str) -> Path:
    """The kubeconfig file (mode 0600) of the environment's own cluster; EnvironmentNotFound when it has none.
    A cluster of devenv's whose file is gone gets it written again from the cluster."""
    validate_name(name)
    return targets.with_own_cluster().kubeconfig(name, check=True)


def down(name: str, *, keep_data: bool = False, dry_run: bool = False, progress: Progress | None = None,
         lock_timeout: float | None = None, context: str | None = None,
         owners: labels.Owners | None = None) -> list[str]:
    """Remove the environment's containers and network, and its volumes unless keep_data; return what was
    removed (empty when nothing carried its labels). `context`: a namespace environment in that context.
    Another owner's environment (its devenv.owner label) is refused unless `owners` covers it."""
    validate_name(name)
    owners = owners or labels.Owners.chosen()
    with environment_lock(name, purpose="down", timeout=lock_timeout, on_wait=(progress or Silent()).note,
                          remove_file=not dry_run):
        target = targets.target_of(name, context)
        current = target.status(name, probe=False)
        if current is not None and current.owner is not None and not owners.covers(current.owner):
            raise InvalidInput(f"environment {name} is not yours: {owners.why_not(current.owner)}",
                               hint=f"`devenv down {name} --owner {current.owner}` (or --all-owners) removes "
                                    "it anyway; ask its owner first")
        return target.down(name, keep_data=keep_data, dry_run=dry_run, progress=progress or Silent())


def status(name: str, *, probe: bool = True, context: str | None = None) -> EnvironmentState:
    """How the environment is: each service's container state and (probed) health, endpoints, age, expiry.
    `context`: a namespace environment in that context."""
    validate_name(name)
    if context is not None:
        found = targets.in_shared_clusters(context).status(name, probe=probe)
    else:
        found = (targets.on_this_machine().status(name, probe=probe)
                 or targets.in_shared_clusters().status(name, probe=probe))
    if found is None:
        raise EnvironmentNotFound(f"no environment named {name}: nothing carries its labels",
                                  hint="`devenv list` shows the environments that exist; `devenv up NAME` makes one")
    return found


def credentials(name: str, service: str) -> dict[str, str]:
    """Every credential generated for a service (MariaDB: password and root_password), for tools that need
    admin access, such as the pytest plugin's fresh databases. Never printed by the CLI."""
    validate_name(name)
    return targets.on_this_machine().credentials(name, service)


def list_environments(context: str | None = None) -> list[EnvironmentState]:
    """Every environment — Docker and kind ones, and namespace ones in every known context (or only in
    `context`) — each probed as `status` probes it, so that both give the same answer."""
    target, namespaces = targets.on_this_machine(), targets.in_shared_clusters(context)
    work = [(target, env.name) for env in target.environments()]
    work += [(namespaces, env.name) for env in namespaces.environments()]
    if not work:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(work)), thread_name_prefix="devenv-list") as pool:
        found = list(pool.map(lambda item: item[0].status(item[1]), work))
    return [env for env in found if env is not None]


def extend(name: str, ttl: str | int, *, dry_run: bool = False, now: float | None = None,
           context: str | None = None) -> tuple[int | None, int | None]:
    """Make a namespace environment expire `ttl` from now (0: never); returns (expiry before, after)."""
    validate_name(name)
    seconds = ttl if isinstance(ttl, int) else parse_duration(str(ttl))
    if seconds is None or seconds < 0:
        raise InvalidInput(f"--ttl {ttl!r} is not a duration", hint="e.g. --ttl 4h, 30m, 2d; 0 for never")
    here = targets.on_this_machine().status(name, probe=False)
    target = targets.target_for(here.target) if here is not None else targets.in_shared_clusters(context)
    with environment_lock(name, purpose="extend", timeout=0 if dry_run else None, remove_file=not dry_run):
        return target.extend(name, seconds, dry_run=dry_run, now=now)  # declined where the expiry is fixed


def gc(*, dry_run: bool = False, now: float | None = None, grace: int = LEFTOVER_GRACE,
       owners: labels.Owners | None = None) -> list[Collected]:
    """Remove environments past their expiry, those of test sessions that ended without removing them, and
    the leftovers of `up`s that were killed once nothing has changed in them for `grace` seconds, of the
    given owners only (default: the current one). What is left alone is returned too, with why: another
    owner's, busy (another devenv command holds the lock, or the labels name a process of this machine
    that still runs) or still within the grace period. Lock files nobody holds go as well."""
    now = time.time() if now is None else now
    owners = owners or labels.Owners.chosen()
    if grace < 0:
        raise InvalidInput(f"--grace {grace} is negative", hint="e.g. --grace 60s, or 0 to collect at once")
    cache_ttl = data_cache.ttl_seconds()  # a bad DEVENV_CACHE_TTL fails before anything is removed
    target = targets.on_this_machine()
    collected = []
    found = target.environments()
    tags = _labels_by_environment(target) if found else {}
    for env in found:
        if not _trusted_name(env.name):
            continue
        env_tags = tags.get(env.name, [])
        reason = _why_collect(env, now, grace, env_tags)
        if reason is None:
            if env.state == "incomplete" and owners.covers(env.owner):  # a crashed run, or an `up` under way
                collected.append(Collected(env.name, _why_collect(env, now, 0, []) or "", owner=env.owner,
                                           kept=_alive(env_tags) or _within_grace(env, now, grace)))
            continue
        if not owners.covers(env.owner):
            collected.append(Collected(env.name, reason, kept=owners.why_not(env.owner), owner=env.owner))
            continue
        try:
            with environment_lock(env.name, purpose="gc", timeout=0, remove_file=not dry_run):
                current = target.status(env.name, probe=False)  # again, under the lock: an `up` may have finished
                reason = _why_collect(current, now, grace, _labels_of(target, env.name)) if current else None
                if reason is None:
                    continue
                if reason.startswith(("expired", "its test session")):  # through its target: a kind cluster too
                    removed = targets.target_of(env.name).down(env.name, keep_data=False, dry_run=dry_run)
                else:
                    removed = target.remove_leftovers(env.name, dry_run=dry_run)
                collected.append(Collected(env.name, reason, tuple(removed), owner=env.owner))
        except EnvironmentBusy as busy:
            collected.append(Collected(env.name, reason, kept=busy.message, owner=env.owner))
    collected += _collect_namespaces(now, dry_run, owners)  # after this machine's: an unreachable cluster only warns
    if not dry_run:
        _remove_unused_lock_files()
    # snapshots past DEVENV_CACHE_TTL, or of images that have changed, and what killed snapshot builds left
    collected += [Collected(f"(cache) {p.name}", p.reason, p.resources, p.skipped, owner=p.owner)
                  for p in data_cache.Cache().prune(dry_run=dry_run, now=now, ttl=cache_ttl, owners=owners)]
    return collected


def _collect_namespaces(now: float, dry_run: bool, owners: labels.Owners) -> list[Collected]:
    """Namespace environments past their expiry (unless labelled devenv.keep=true), in every known context."""
    target = targets.in_shared_clusters()
    collected = []
    for env in target.environments():
        if not _trusted_name(env.name) or env.expires is None or env.expires > now or env.state == "deleting":
            continue
        reason = f"expired at {timestamp(env.expires)}"
        if not owners.covers(env.owner):
            collected.append(Collected(env.name, reason, kept=owners.why_not(env.owner), owner=env.owner))
            continue
        if env.kept:
            kept = f"labelled {labels.KEEP}=true on namespace {env.namespace}"
            collected.append(Collected(env.name, reason, kept=kept, owner=env.owner))
            continue
        try:
            with environment_lock(env.name, purpose="gc", timeout=0, remove_file=not dry_run):
                removed = target.down(env.name, dry_run=dry_run)
            collected.append(Collected(env.name, reason, tuple(removed), owner=env.owner))
        except EnvironmentBusy as busy:
            collected.append(Collected(env.name, reason, kept=busy.message, owner=env.owner))
    return collected


def _labels_by_environment(target) -> dict[str, list[dict[str, str]]]:
    """The labels of every resource of every environment on the engine, by environment."""
    from devenv.clients import docker

    return {name: [docker.labels_of(r) for r in res.containers + res.volumes + res.networks]
            for name, res in docker.managed(target.client).by_environment().items()}


def _labels_of(target, name: str) -> list[dict[str, str]]:
    from devenv.clients import docker

    found = docker.managed(target.client, name)
    return [docker.labels_of(r) for r in found.containers + found.volumes + found.networks]


def _why_collect(env: EnvironmentState, now: float, grace: int, tags: list[dict[str, str]]) -> str | None:
    if env.expires is not None and env.expires <= now:
        return f"expired at {timestamp(env.expires)}"
    if _alive(tags):
        return None
    ended = [t for t in tags if labels.session_ended(t)]
    if ended and all(t.get(labels.KEEP) != "true" for t in tags):
        token = ended[0].get(labels.SESSION_PROCESS, "")
        return (f"its test session {ended[0][labels.SESSION]} (pid {token.partition('-')[0]} on this machine) "
                "ended without removing it")
    if env.state == "incomplete" and (env.changed or 0) <= now - grace:
        return "incomplete: " + "; ".join(env.problems)
    return None


def _alive(tags: list[dict[str, str]]) -> str | None:
    """Why an environment is in use, from its labels (what every owner sees): a process of this machine
    that created it, a test session or an `up`, still runs."""
    for tag in tags:
        why = labels.liveness(tag)
        if why is not None:
            token = tag[labels.SESSION_PROCESS if why == "session" else labels.RUN_PROCESS]
            what = f"its test session {tag.get(labels.SESSION)}" if why == "session" else "the `up` that creates it"
            return f"{what} (pid {token.partition('-')[0]} on this machine) is still running"
    return None


def _within_grace(env: EnvironmentState, now: float, grace: int) -> str:
    age = int(now - (env.changed or now))
    return (f"its last change was {age}s ago, within the grace period of {grace}s (an `up` elsewhere may "
            f"still be creating it); collected once the period is over, or now with `devenv gc --grace 0`")


def timestamp(seconds: int | float) -> str:
    """A point in time for people: local time with its UTC offset (2026-12-02 18:08:22+01:00)."""
    return datetime.fromtimestamp(seconds).astimezone().isoformat(sep=" ", timespec="seconds")


def _remove_unused_lock_files() -> None:
    """Lock files left by processes that were killed: removed unless someone holds them right now."""
    folder = lock_dir()
    if not folder.is_dir():
        return
    for path in folder.glob("*.lock"):
        if not _trusted_name(path.stem):
            continue
        try:
            with environment_lock(path.stem, purpose="gc", timeout=0, remove_file=True):
                pass
        except EnvironmentBusy:
            continue


def _left_after_interrupt(target, plan: Plan) -> list[str]:
    """What exists of the environment after an interrupted `up` rolled back what it had created (the target
    says, per service); what cannot be read says so."""
    try:
        return target.left_after_interrupt(plan)
    except Exception:  # noqa: BLE001 - the engine may be what failed: say that nothing is known
        return ["what exists could not be read: `devenv status` shows it"]


def _trusted_name(name: str) -> bool:
    """A name read from a label goes into lock paths: a hand-made label may not be a valid name."""
    try:
        validate_name(name)
    except InvalidName:
        return False
    return True


def _load(profile: Profile | str | os.PathLike) -> Profile:
    return profile if isinstance(profile, Profile) else load_profile(profile)


def _recorded_profile(state: EnvironmentState, warnings: list[str]) -> Profile | None:
    """The profile the environment was made from: its recorded file, else its name; None (with a warning) when gone."""
    recorded_file = [state.profile_path] if state.profile_path and Path(state.profile_path).is_file() else []
    for ref in recorded_file + [state.profile]:
        try:
            return load_profile(ref)
        except ProfileError:
            continue
    warnings.append(f"profile {state.profile!r} (from {state.profile_path}) cannot be loaded any more: "
                    "environment values are left out; connection facts are complete")
    return None


def _values_present(profile: Profile, name: str, facts: Mapping[str, Mapping[str, str]]):
    """The environment values (ConfigMap, Secret) whose templates refer only to services that exist, after the aws
    stand-in's (as facts.environment_values has them)."""
    env = {"name": name, "namespace": profile.environment.namespace}
    out: list[dict[str, str]] = list(aws_values(profile, facts))  # the aws stand-in's, when it has a container
    for i, templates in enumerate((profile.environment.data, profile.environment.secret_data)):
        for key, template in templates.items():
            try:
                out[i][key] = render_template(template, facts, env)
            except KeyError:
                continue
            out[1 - i].pop(key, None)  # the profile's own template wins over the stand-in's, where it is written
    return out[0], out[1]
