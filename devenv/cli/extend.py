"""`devenv extend`: give a namespace environment more time before `gc` collects it."""

from __future__ import annotations

from typing import Optional

import typer

from devenv.cli import output

Format = output.TableOrJson


def command(
    name: Optional[str] = typer.Argument(None, help="Environment name; default: the current git branch."),
    ttl: str = typer.Option(..., "--ttl", metavar="DURATION", help="Expire this long from now (4h, 30m, 2d; 0: never)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the new expiry; change nothing."),
    context: Optional[str] = typer.Option(None, "--context", metavar="CTX",
                                          help="A namespace environment: look only in this kubeconfig context "
                                               "(it must be allowed); default: every known one."),
    fmt: str = output.choice(Format, Format.table, "--output", "-o", help="table or json."),
) -> None:
    """Set when a namespace environment expires: DURATION from now. `devenv gc` removes environments past
    their expiry (unless their namespace is labelled devenv.keep=true). Docker and kind environments keep
    the expiry they were created with (`devenv up NAME --ttl` when they are made).

    Examples:

      devenv extend feature-x --ttl 4h

      devenv extend feature-x --ttl 0          never expires
    """
    from devenv.lifecycle import environments

    env_name = output.environment_name(name)
    before, after = environments.extend(env_name, ttl, dry_run=dry_run, context=context)
    if fmt is Format.json:
        output.emit_json({"name": env_name, "expiresBefore": before, "expires": after, "dryRun": dry_run})
        return
    verb = "would expire" if dry_run else "expires"
    output.emit_table(["environment", "expired", verb],
                      [[env_name, output.until(before), output.until(after)]])
    if dry_run:
        output.note("nothing was changed")
