"""`devenv gc`: remove environments past their expiry and the leftovers of `up`s that were killed."""

from __future__ import annotations

import typer

from devenv.cli import output

Format = output.TableOrJson


def command(
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what would be removed; remove nothing."),
    grace: str = typer.Option("60s", "--grace", metavar="DURATION",
                              help="Leave an incomplete environment alone until nothing has changed in it for "
                                   "this long (an `up` may still be creating it); 0: collect it now."),
    fmt: str = output.choice(Format, Format.table, "--output", "-o", help="table or json."),
) -> None:
    """Remove expired environments (label devenv.expires) and what crashed runs left: containers never
    started, networks without containers, once nothing has changed in them for the grace period
    (--grace, default 60s). Data kept by `down --keep-data` stays until it expires. Environments busy with
    another devenv command, or within the grace period, are kept and listed with the reason. Namespace
    environments past their expiry are collected in every known context (their Kustomizations, then their
    namespace), unless the namespace is labelled devenv.keep=true; a namespace devenv did not make is
    never touched.

    Example: devenv gc --dry-run
    """
    from devenv import environments
    from devenv.profiles import parse_duration

    grace_seconds = parse_duration(grace)
    if grace_seconds is None:
        from devenv.errors import InvalidInput

        raise InvalidInput(f"--grace {grace!r} is not a duration", hint="e.g. --grace 60s, 5m; 0 to collect at once")
    collected = environments.gc(dry_run=dry_run, grace=grace_seconds)
    if fmt is Format.json:
        output.emit_json([item.to_dict(dry_run) for item in collected])
        return
    if not collected:
        output.note("nothing to collect: no environment is expired or left incomplete by a crashed run")
        return
    verb = "would remove" if dry_run else "removed"
    rows = []
    for item in collected:
        if item.kept:
            rows.append([item.environment, item.reason, f"kept: {item.kept}"])
            continue
        rows += [[item.environment, item.reason, f"{verb} {r}"] for r in item.resources] or \
                [[item.environment, item.reason, "nothing left"]]
    output.emit_table(["environment", "reason", "action"], rows)
