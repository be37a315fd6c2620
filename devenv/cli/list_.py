"""`devenv list`: every environment found by its labels, with its state, age and expiry."""

from __future__ import annotations


from typing import Optional

import typer

from devenv.cli import output


Format = output.TableOrJson


def command(
    context: Optional[str] = typer.Option(None, "--context", metavar="CTX",
                                          help="Namespace environments: look only in this kubeconfig context (it "
                                               "must be allowed); default: every known one."),
    fmt: str = output.choice(Format, Format.table, "--output", "-o", help="table or json."),
) -> None:
    """List the environments that exist, on this machine and as namespaces in every known shared cluster
    (contexts of namespace profiles, $DEVENV_CONTEXTS, ~/.config/devenv/config.yaml), with owner, branch,
    age, expiry and readiness (states: ready, degraded, incomplete, data only, deleting).

    Example: devenv list -o json
    """
    from devenv.lifecycle import environments

    found = environments.list_environments(context)
    if fmt is Format.json:
        output.emit_json([env.to_dict() for env in found])
        return
    if not found:
        output.note("no environments")
    output.emit_table(
        ["name", "target", "where", "owner", "branch", "state", "services", "age", "expires"],
        [[env.name, env.target, f"{env.context}/{env.namespace}" if env.namespace else "this machine",
          env.owner or "-", env.branch or "-", env.state,
          ", ".join(f"{s.name}:{s.health}" for s in env.services) or "-", output.age(env.created), output.until(env.expires)]
         for env in found],
    )
