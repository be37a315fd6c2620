"""`devenv up`: create an environment, or converge an existing one to its profile, and print its endpoints."""

from __future__ import annotations

import signal
import time
from typing import Optional

import typer

from devenv.cli import output
from devenv.errors import Interrupted
from devenv.timings import recording


Format = output.TableOrJson


def command(
    name: Optional[str] = typer.Argument(None, help="Environment name; default: the current git branch."),
    profile: str = typer.Option("local", "--profile", "-p",
                                help="A profile name (./profiles, then devenv's own) or a path to a profile file."),
    ttl: Optional[str] = typer.Option(None, "--ttl", help="Expire after this long (8h, 30m, 2d; 0: never). "
                                                          "Default: the profile's. Set when the environment is created."),
    platform: Optional[str] = typer.Option(None, "--platform", metavar="DIR",
                                           help="The Flux repository a kind environment renders; default: devenv's "
                                                "embedded platform (components/)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check as `up` does, and print what it would create or "
                                                          "change in what exists; change nothing."),
    allow_other_port: bool = typer.Option(False, "--allow-other-port",
                                          help="When a port pinned in the profile is taken, use a free one "
                                               "instead of stopping."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Initialise and seed new data volumes from scratch "
                                                            "instead of copying the cached snapshot of their data "
                                                            "(and make no snapshot). DEVENV_CACHE=off does the same."),
    timings: bool = typer.Option(False, "--timings", help="Also print when each phase started and how long it "
                                                           "took (stderr; under \"timings\" with -o json)."),
    retain: bool = typer.Option(False, "--retain", help="When `up` fails, keep what this run created (the kind "
                                                        "cluster, the containers) for debugging instead of removing "
                                                        "it; `devenv down NAME` removes it later."),
    merge_kubeconfig: bool = typer.Option(False, "--merge-kubeconfig",
                                          help="Also merge the kind cluster's context (kind-devenv-NAME) into "
                                               "$KUBECONFIG's first file, else ~/.kube/config; `devenv down` "
                                               "removes it again. Without it, that file is never touched."),
    context: Optional[str] = typer.Option(None, "--context", metavar="CTX",
                                          help="Namespace target: the kubeconfig context of the shared cluster "
                                               "(default: the current one). It must be allowed: the profile's "
                                               "`contexts:`, $DEVENV_CONTEXTS or ~/.config/devenv/config.yaml."),
    from_git: bool = typer.Option(False, "--from-git", help="Namespace target: the cluster's Flux pulls the platform's "
                                                            "checked-out branch from its Git remote (a GitRepository) "
                                                            "instead of a pushed copy of the working tree."),
    fmt: str = output.choice(Format, Format.table, "--output", "-o", help="table or json."),
) -> None:
    """Create the environment, or converge an existing one: re-create only what differs from the profile
    (keeping data volumes); a second `up` with nothing changed changes nothing.

    Endpoints go to stdout, progress to stderr. Targets: `kind` (profile `local`: a kind cluster, the
    data services as containers on its network, the rendered platform applied), `namespace` (profile
    `branch`: a locked-down namespace in a shared cluster that runs Flux, the data services as StatefulSets
    there, the platform delivered by that cluster's Flux) and `docker` (profile `test`: the data services
    alone). Ports are bound to 127.0.0.1. A kind cluster's kubeconfig is its
    own file (`devenv kubeconfig NAME`); --merge-kubeconfig adds its context to yours as well.

    Examples:

      devenv up demo --profile test

      devenv up feature-x --profile local --platform ~/src/platform-flux

      devenv up demo --profile test --dry-run -o json

      devenv up feature-x --merge-kubeconfig

      devenv up feature-x --retain                a failure keeps the cluster

      devenv up feature-x --profile branch --context dev-eks --dry-run -o json
    """
    from devenv.lifecycle import environments

    env_name = output.environment_name(name)
    cache = False if no_cache else None
    if dry_run:
        plan = environments.plan(env_name, profile, ttl=ttl, platform=platform, allow_other_port=allow_other_port,
                                 cache=cache, context=context, from_git=from_git)
        changes = environments.preview(plan)
        if plan.target == "namespace":
            _print_objects(plan, environments.planned_objects(plan), fmt)
            return
        _print_plan(plan, changes, fmt)
        return
    started = time.monotonic()
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        with recording() as phases:
            env = environments.up(env_name, profile, ttl=ttl, platform=platform, progress=output,
                                  allow_other_port=allow_other_port, cache=cache, retain=retain,
                                  merge_kubeconfig=merge_kubeconfig, context=context, from_git=from_git)
    except environments.UpInterrupted as stopped:
        if stopped.retained:
            raise Interrupted(
                f"interrupted: `devenv up {env_name}` stopped; --retain kept what this run had created; the "
                f"environment is now:", context=stopped.left,
                hint=f"`devenv up {env_name}` finishes it; `devenv down {env_name}` removes it",
            ) from None
        raise Interrupted(
            f"interrupted: `devenv up {env_name}` stopped and removed what this run had created; the "
            f"environment is now:", context=stopped.left,
            hint=f"`devenv up {env_name}` finishes it; `devenv down {env_name}` removes it",
        ) from None
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted: `devenv up {env_name}` stopped",
                          hint=f"`devenv status {env_name}` shows what exists") from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    for change in env.changes:
        output.note(f"  {change}")
    if timings and fmt is not Format.json:
        output.phase_table(phases)
    if fmt is Format.json:
        output.emit_json({**env.to_dict(), "changes": list(env.changes),
                          **({"timings": output.phase_rows(phases)} if timings else {})})
    else:
        output.emit_table(["service", "endpoint", "url"],
                          [[service, f"{f['host']}:{f['port']}", f["url"]] for service, f in env.services.items()])
    output.note(f"environment {env_name} is ready ({time.monotonic() - started:.1f}s); "
                f"connection facts: devenv env {env_name}")


def _raise_interrupt(signum, frame):  # SIGTERM gets the same clean-up as Ctrl-C
    raise KeyboardInterrupt


def _print_plan(plan, changes: list[dict], fmt: str) -> None:
    for warning in plan.warnings:
        output.warn(warning)
    for change in changes:
        if change["note"]:
            output.warn(f"{change['service']}: {change['note']}")
    if fmt is Format.json:
        output.emit_json({**plan.to_dict(), "changes": changes})
        return
    output.note(f"plan for environment {plan.environment}: profile {plan.profile.name}, target {plan.target}, "
                f"network {plan.network}, ttl {plan.ttl_seconds}s; nothing was changed")
    actions = {c["service"]: c for c in changes}
    output.emit_table(
        ["service", "type", "image", "port", "seed", "up would"],
        [[s.name, s.type, s.image, _port(actions[s.name]["port"]),
          ", ".join(p.name for p in s.spec.seed) or "-", actions[s.name]["action"]] for s in plan.services]
        + [[c["service"], "-", "-", _port(c["port"]), "-", c["action"]] for c in changes
           if c["service"] not in {s.name for s in plan.services}],
    )


def _print_objects(plan, objects: list[dict], fmt: str) -> None:
    """A namespace environment's dry run: every object `up` would create (secrets masked)."""
    for warning in plan.warnings:
        output.warn(warning)
    if fmt is Format.json:
        output.emit_json({**plan.to_dict(), "objects": objects})
        return
    output.note(f"plan for environment {plan.environment}: namespace {plan.namespace} in context {plan.context}, "
                f"profile {plan.profile.name}, ttl {plan.ttl_seconds}s; nothing was sent to the cluster")
    output.emit_table(["kind", "namespace", "name"],
                      [[o["kind"], o["metadata"].get("namespace") or "-", o["metadata"]["name"]] for o in objects])


def _port(port: int | None) -> str:
    return f"127.0.0.1:{port}" if port else "a free port on 127.0.0.1"
