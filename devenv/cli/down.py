"""`devenv down`: remove an environment's containers and network, and its data unless --keep-data."""

from __future__ import annotations

from typing import List, Optional

import typer

from devenv.cli import output


def command(
    name: Optional[str] = typer.Argument(None, help="Environment name; default: the current git branch."),
    keep_data: bool = typer.Option(False, "--keep-data",
                                   help="Keep the data volumes (and their credentials): the next `up` finds the data."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print every resource `down` would remove; remove nothing."),
    context: Optional[str] = typer.Option(None, "--context", metavar="CTX",
                                          help="A namespace environment: look only in this kubeconfig context "
                                               "(it must be allowed); default: every known one."),
    all_owners: bool = typer.Option(False, "--all-owners", help="Remove it even when another owner made it."),
    owner: List[str] = typer.Option([], "--owner", metavar="OWNER",
                                    help="Remove it when this owner made it (a devenv.owner value; repeatable)."),
) -> None:
    """Remove everything the environment created (only resources labelled devenv.managed=true).
    Prints what was removed, one per line. An environment another owner made (its devenv.owner label)
    is refused unless --owner names that owner or --all-owners is given.

    Examples:

      devenv down demo

      devenv down demo --keep-data

      devenv down feature-x --dry-run
    """
    from devenv.lifecycle import environments
    from devenv.domain import labels

    env_name = output.environment_name(name)
    removed = environments.down(env_name, keep_data=keep_data, dry_run=dry_run, progress=output, context=context,
                                owners=labels.Owners.chosen(all_owners, owner))
    if not removed:
        output.note(f"nothing to remove for {env_name} (its data volumes, if any, stay: --keep-data)" if keep_data
                    else f"nothing to remove: nothing carries the labels of environment {env_name}")
        return
    for resource in removed:
        print(resource)
    if dry_run:
        output.note(f"`devenv down {env_name}` would remove the {len(removed)} resources above; nothing was removed")
        return
    output.note(f"environment {env_name} removed" + (" (data volumes kept)" if keep_data else ""))
