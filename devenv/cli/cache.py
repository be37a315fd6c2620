"""`devenv cache list|prune`: the snapshots of initialised, seeded data that new environments start from."""

from __future__ import annotations

import typer

from devenv.cli import output

Format = output.TableOrJson


def list_command(fmt: Format = typer.Option(Format.table, "--output", "-o", help="table or json.")) -> None:
    """List the snapshots (one per service type, image, version, database, user and seed content), with
    their size, age and when `devenv gc` removes them (DEVENV_CACHE_TTL, 7d by default).

    Example: devenv cache list -o json
    """
    from devenv import cache

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
) -> None:
    """Remove snapshots older than DEVENV_CACHE_TTL, those whose image has changed or gone (they can never
    be used again), and what a killed snapshot build left; with --all, every snapshot. Environments'
    data volumes (kept by `down --keep-data` too) are never touched: they are copies, not snapshots.
    A snapshot another devenv is making or copying is skipped.

    Example: devenv cache prune --all
    """
    from devenv import cache

    ttl = cache.ttl_seconds()
    pruned = cache.Cache().prune(everything=everything, dry_run=dry_run, ttl=ttl)
    if not pruned:
        output.note("nothing to prune")
        return
    verb = "would remove" if dry_run else "removed"
    rows = []
    for item in pruned:
        if item.skipped:
            output.note(f"skipped {item.name}: {item.skipped}")
            continue
        rows += [[item.name, item.reason, f"{verb} {r}"] for r in item.resources] or [[item.name, item.reason, "gone"]]
    output.emit_table(["snapshot", "reason", "action"], rows)


COMMANDS = {"list": list_command, "prune": prune_command}
