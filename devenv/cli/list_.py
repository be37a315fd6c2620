"""`devenv list`: every environment found by its labels, with its state, age and expiry."""

from __future__ import annotations


import typer

from devenv.cli import output
from devenv.cli.status import age, until


Format = output.TableOrJson


def command(fmt: str = output.choice(Format, Format.table, "--output", "-o", help="table or json.")) -> None:
    """List the environments that exist (states: ready, degraded, incomplete, data only).

    Example: devenv list -o json
    """
    from devenv import environments

    found = environments.list_environments()
    if fmt is Format.json:
        output.emit_json([env.to_dict() for env in found])
        return
    if not found:
        output.note("no environments")
    output.emit_table(
        ["name", "profile", "state", "services", "age", "expires"],
        [[env.name, env.profile, env.state, ", ".join(f"{s.name}:{s.health}" for s in env.services) or "-",
          age(env.created), until(env.expires)] for env in found],
    )
