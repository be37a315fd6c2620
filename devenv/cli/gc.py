"""`devenv gc`: remove environments past their expiry and the leftovers of `up`s that were killed."""

from __future__ import annotations

import typer

from devenv.cli import output


def command(
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what would be removed; remove nothing."),
) -> None:
    """Remove expired environments (label devenv.expires) and what crashed runs left: containers never
    started, networks without containers. Data kept by `down --keep-data` stays until it expires.
    Environments busy with another devenv command are skipped.

    Example: devenv gc --dry-run
    """
    from devenv import environments

    collected = environments.gc(dry_run=dry_run)
    if not collected:
        output.note("nothing to collect")
        return
    verb = "would remove" if dry_run else "removed"
    rows = []
    for item in collected:
        if item.skipped:
            output.note(f"skipped {item.environment}: {item.skipped}")
            continue
        rows += [[item.environment, item.reason, f"{verb} {r}"] for r in item.resources] or \
                [[item.environment, item.reason, "nothing left"]]
    output.emit_table(["environment", "reason", "action"], rows)
