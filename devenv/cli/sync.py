"""`devenv sync`: push the platform's working tree to a running environment and have Flux reconcile it now."""

from __future__ import annotations

import time
from typing import Optional

import typer

from devenv.cli import output
from devenv.errors import Interrupted
from devenv.timings import recording


Format = output.TableOrJson


def command(
    name: Optional[str] = typer.Argument(None, help="Environment name; default: the current git branch."),
    platform: Optional[str] = typer.Option(None, "--platform", metavar="DIR",
                                           help="The Flux repository to push; default: the folder the environment "
                                                "was last delivered from."),
    timings: bool = typer.Option(False, "--timings", help="Also print when each phase started and how long it "
                                                           "took (stderr; under \"timings\" with -o json)."),
    fmt: str = output.choice(Format, Format.table, "--output", "-o", help="table or json."),
) -> None:
    """The inner loop of delivery `flux`: push the working tree (uncommitted changes included) as a new
    OCI artifact, ask Flux to reconcile now (annotation reconcile.fluxcd.io/requestedAt), wait until every
    Kustomization is Ready at the new revision, and print what changed in the cluster.

    Nothing is pushed when no file changed since the last push. A Kustomization that fails is named with
    Flux's message (exit 10).

    Examples:

      devenv sync feature-x

      devenv sync feature-x --platform ~/src/platform-flux -o json
    """
    from devenv.lifecycle import environments

    env_name = output.environment_name(name)
    started = time.monotonic()
    try:
        with recording() as phases:
            changes = environments.sync(env_name, platform=platform, progress=output)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted: `devenv sync {env_name}` stopped waiting; Flux goes on reconciling",
                          hint=f"`devenv status {env_name}` shows where it stands") from None
    if timings and fmt is not Format.json:
        output.phase_table(phases)
    if fmt is Format.json:
        output.emit_json({"environment": env_name, "changes": changes,
                          **({"timings": output.phase_rows(phases)} if timings else {})})
    else:
        for change in changes:
            typer.echo(change)
    output.note(f"environment {env_name} synced ({time.monotonic() - started:.1f}s)")
