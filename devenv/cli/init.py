"""`devenv init`: write a starting profile for a Flux repository."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from devenv.cli import output
from devenv.errors import InvalidInput


def command(
    platform: Path = typer.Option(Path("."), "--platform", help="Root of the Flux repository; default: here."),
    mirror: Optional[str] = typer.Option(None, "--mirror",
                                         help="The cluster folder to mirror; default: the first under clusters/."),
    out: Optional[Path] = typer.Option(None, "--output", "-o",
                                       help="Where to write it ('-' for stdout); default: profiles/<name>.yaml "
                                            "in the platform."),
    name: str = typer.Option("local", "--name", help="The profile's name."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing profile file."),
) -> None:
    """Write a starting profile: the cluster folder to mirror, the data services the variables
    name, and every variable the Kustomizations read through postBuild.substituteFrom, each mapped
    to a service fact where its name says so (RDS_ENDPOINT -> {services.db.host}), else left as a
    commented placeholder naming where it is used. Fill those in, then `devenv render`.

    Examples:

      devenv init --platform ~/src/fleet

      devenv init --platform ~/src/fleet --mirror clusters/staging -o -
    """
    from devenv.flux.starter import starter_profile
    from devenv.domain.profiles import _NAME

    if not _NAME.match(name):
        raise InvalidInput(f"--name {name!r} must be lowercase letters, digits and '-'")
    if not platform.is_dir():
        raise InvalidInput(f"--platform {platform}: no such folder")
    target = out if out is not None else platform / "profiles" / f"{name}.yaml"
    if str(target) != "-" and target.exists() and not force:
        raise InvalidInput(f"{target} already exists", hint="pass --force to overwrite it, or -o another file")
    with output.step(f"reading {platform.resolve()}"):
        text = starter_profile(platform.resolve(), name, mirror)
    if str(target) == "-":
        typer.echo(text, nl=False)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    todo = text.count("# TODO")
    output.note(f"wrote {target}" + (f": {todo} placeholder{'s' if todo != 1 else ''} to fill in" if todo else ""))
