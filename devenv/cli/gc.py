"""`devenv gc`: remove expired environments, dead test sessions' ones, and what killed `up`s left."""

from __future__ import annotations

from typing import List

import typer

from devenv.cli import output

Format = output.TableOrJson


def command(
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what would be removed; remove nothing."),
    grace: str = typer.Option("60s", "--grace", metavar="DURATION",
                              help="Leave an incomplete environment alone until nothing has changed in it for "
                                   "this long (an `up` may still be creating it); 0: collect it now."),
    fmt: str = output.choice(Format, Format.table, "--output", "-o", help="table or json."),
    all_owners: bool = typer.Option(False, "--all-owners",
                                    help="Collect every owner's environments and snapshots, not only yours."),
    owner: List[str] = typer.Option([], "--owner", metavar="OWNER",
                                    help="Collect this owner's too (a devenv.owner value; repeatable)."),
) -> None:
    """Remove expired environments (label devenv.expires) and what crashed runs left: containers never
    started, networks without containers, once nothing has changed in them for the grace period
    (--grace, default 60s). Data kept by `down --keep-data` stays until it expires. Environments busy with
    another devenv command, or within the grace period, are kept and listed with the reason. Namespace
    environments past their expiry are collected in every known context (their Kustomizations, then their
    namespace), unless the namespace is labelled devenv.keep=true; a namespace devenv did not make is
    never touched.

    Only what you made (the devenv.owner label: DEVENV_OWNER, else user.machine) is collected; another
    owner's environments and snapshots that would be are listed as kept, with whose they are, unless
    --owner or --all-owners names them. An incomplete environment whose `up` or test session (named in its
    labels) still runs on this machine is kept whoever owns it; an environment of a pytest session of this
machine whose process is gone (devenv.session labels; the plugin's reaper normally gets there first) is
collected at once.

    Example: devenv gc --dry-run
    """
    from devenv.lifecycle import environments
    from devenv.domain.profiles import parse_duration

    grace_seconds = parse_duration(grace)
    if grace_seconds is None:
        from devenv.errors import InvalidInput

        raise InvalidInput(f"--grace {grace!r} is not a duration", hint="e.g. --grace 60s, 5m; 0 to collect at once")
    from devenv.domain import labels

    owners = labels.Owners.chosen(all_owners, owner)
    if all_owners or owner:
        output.note(f"acting on {owners.describe()} environments and snapshots"
                    + (" (--all-owners)" if all_owners else " (--owner)"))
    collected = environments.gc(dry_run=dry_run, grace=grace_seconds, owners=owners)
    for item in collected:
        if item.kept and not owners.covers(item.owner):
            output.note(f"skipped {item.environment}: {item.kept}")
    if fmt is Format.json:
        output.emit_json([item.to_dict(dry_run) for item in collected])
        return
    if not collected:
        output.note("nothing to collect: no environment is expired or left incomplete by a crashed run")
        return
    verb = "would remove" if dry_run else "removed"
    rows = []
    for item in collected:
        who = item.owner or "-"
        if item.kept:
            rows.append([item.environment, item.reason, f"kept: {item.kept}", who])
            continue
        rows += [[item.environment, item.reason, f"{verb} {r}", who] for r in item.resources] or \
                [[item.environment, item.reason, "nothing left", who]]
    output.emit_table(["environment", "reason", "action", "owner"], rows)
