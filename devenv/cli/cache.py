"""`devenv cache list|prune`: the snapshots of initialised, seeded data that new environments start from."""

from __future__ import annotations

from typing import List

import typer

from devenv.cli import output

Format = output.TableOrJson


def list_command(fmt: Format = typer.Option(Format.table, "--output", "-o", help="table or json.")) -> None:
    """List the snapshots (one per service type, image, version, database, user and seed content), with
    their size, age and when `devenv gc` removes them (DEVENV_CACHE_TTL, 7d by default).

    Example: devenv cache list -o json
    """
    from devenv.services import cache

    ttl = cache.ttl_seconds()
    store = cache.Cache()
    found = store.snapshots()
    rows = []
    for snap in found:
        stale = store.stale(snap)
        rows.append((snap, stale, None if not ttl else snap.created + ttl))
    if fmt is Format.json:
        output.emit_json([{**snap.to_dict(), "state": "stale" if stale else "ready", "problem": stale,
                           "expires": expires} for snap, stale, expires in rows])
        return
    if not found:
        output.note("no snapshots: the first `devenv up` of a profile makes one")
    output.emit_table(
        ["snapshot", "type", "image", "seed", "size", "age", "removed", "state"],
        [[snap.name, snap.type, snap.base_image, snap.seed.replace(",", ", ") or "-", f"{snap.size / 1e6:.0f} MB",
          output.age(snap.created), output.until(expires), f"stale: {stale}" if stale else "ready"]
         for snap, stale, expires in rows],
    )


def prune_command(
    everything: bool = typer.Option(False, "--all", help="Remove every snapshot, not only expired and stale ones."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what would be removed; remove nothing."),
    all_owners: bool = typer.Option(False, "--all-owners", help="Prune every owner's snapshots, not only yours."),
    owner: List[str] = typer.Option([], "--owner", metavar="OWNER",
                                    help="Prune this owner's too (a devenv.owner value; repeatable)."),
    fmt: str = output.choice(Format, Format.table, "--output", "-o", help="table or json."),
) -> None:
    """Remove snapshots older than DEVENV_CACHE_TTL, those whose image has changed or gone (they can never
    be used again), and what a killed snapshot build left; with --all, every snapshot. Environments'
    data volumes (kept by `down --keep-data` too) are never touched: they are copies, not snapshots.
    A snapshot another devenv is making or copying is skipped. Only your snapshots (the devenv.owner label)
    are pruned, --all included; another owner's are listed as skipped unless --owner or --all-owners names them.

    Example: devenv cache prune --all
    """
    from devenv.services import cache
    from devenv.domain import labels

    ttl = cache.ttl_seconds()
    owners = labels.Owners.chosen(all_owners, owner)
    if all_owners or owner:
        output.note(f"acting on {owners.describe()} snapshots" + (" (--all-owners)" if all_owners else " (--owner)"))
    pruned = cache.Cache().prune(everything=everything, dry_run=dry_run, ttl=ttl, owners=owners)
    verb = "would remove" if dry_run else "removed"
    for item in pruned:
        if item.skipped:
            output.note(f"skipped {item.name}: {item.skipped}")
    if fmt is Format.json:
        output.emit_json([{"snapshot": p.name, "reason": p.reason, "owner": p.owner,
                           "action": "skipped" if p.skipped else verb, "skipped": p.skipped,
                           "resources": list(p.resources)} for p in pruned])
        return
    if not pruned:
        output.note("nothing to prune")
        return
    rows = []
    for item in pruned:
        if item.skipped:
            continue
        rows += [[item.name, item.reason, f"{verb} {r}", item.owner or "-"] for r in item.resources] or \
            [[item.name, item.reason, "gone", item.owner or "-"]]
    output.emit_table(["snapshot", "reason", "action", "owner"], rows)


COMMANDS = {"list": list_command, "prune": prune_command}
