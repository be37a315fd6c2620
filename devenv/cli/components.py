"""`devenv components`: every Flux Kustomization and HelmRelease of the mirrored cluster, kept or left out, and why."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from devenv.cli import output


Format = output.TableOrJson


def command(
    profile: str = typer.Option("local", "--profile", "-p",
                                help="A profile name (./profiles, then devenv's own) or a path to a profile file."),
    platform: Optional[Path] = typer.Option(None, "--platform",
                                            help="Root of the Flux repository; default: devenv's embedded platform."),
    fmt: str = output.choice(Format, Format.table, "--output", "-o", help="table or json."),
) -> None:
    """List the Flux Kustomizations and HelmReleases of the profile's cluster folder (nested ones
    included) with what render does with each: kept, left out and why, or not rendered and why.
    It works where `devenv render` stops (an undefined variable, a missing substituteFrom object, a
    Kustomization that does not build): each problem is shown against its Kustomization, so you
    can decide what to exclude.

    JSON: [{kind, namespace, name, kustomization, status: kept|excluded|not-rendered, reason, path, source}].

    Examples:

      devenv components

      devenv components --platform ../fleet --profile ./profiles/dev-eu.yaml -o json
    """
    from devenv.flux.render import render_environment
    from devenv.domain.profiles import load_profile

    prof = load_profile(profile)
    with output.step(f"reading {prof.mirror} (profile {prof.name})"):
        result = render_environment(prof, prof.name, platform=platform, keep_going=True)
    for warning in result.warnings:
        output.warn(warning.message)
    if fmt is Format.json:
        output.emit_json(result.components)
        return
    output.emit_table(
        ["kind", "name", "kustomization", "status", "reason"],
        [[row["kind"], f"{row['namespace']}/{row['name']}" if row["namespace"] else row["name"],
          row["kustomization"] or "-", row["status"], row["reason"] or row.get("source") or ""]
         for row in result.components],
    )
