"""`devenv status`: one environment's services (container state, probed health, endpoint), age and expiry."""

from __future__ import annotations

from typing import Optional

import typer

from devenv.cli import output


Format = output.TableOrJson


def command(
    name: Optional[str] = typer.Argument(None, help="Environment name; default: the current git branch."),
    context: Optional[str] = typer.Option(None, "--context", metavar="CTX",
                                          help="A namespace environment: look only in this kubeconfig context "
                                               "(it must be allowed); default: every known one."),
    fmt: str = output.choice(Format, Format.table, "--output", "-o", help="table or json."),
) -> None:
    """Show how the environment is. Health is a real request (a login and SELECT 1; cluster health); a
    stopped container shows how it ended (killed, exited (N), out of memory). A namespace environment
    shows its Kustomizations' Ready condition and its StatefulSets' readiness, with failing conditions.

    Example: devenv status demo -o json | jq '.services[].health'
    """
    from devenv.lifecycle import environments

    env = environments.status(output.environment_name(name), context=context)
    if fmt is Format.json:
        output.emit_json(env.to_dict())
        return
    print(f"environment {env.name}: {env.state} (profile {env.profile}, target {env.target}, "
          f"created {output.timestamp(env.created)}, expires {output.until(env.expires, absolute=True)})")
    if env.namespace:
        print(f"  namespace {env.namespace} in context {env.context}; owner {env.owner or '-'}, branch {env.branch or '-'}")
    for problem in env.problems:
        print(f"  {problem}")
    if env.kustomizations:
        output.emit_table(["kustomization", "ready", "reason", "message"],
                          [[k["name"], k["ready"], k["reason"], k["message"][:120]] for k in env.kustomizations])
    output.emit_table(
        ["service", "type", "state", "health", "endpoint", "container"],
        [[s.name, s.type, s.state, s.health, f"{s.endpoint.host}:{s.endpoint.port}" if s.endpoint else "-",
          s.container] for s in env.services],
    )
    for line in aws_secrets(env):
        print(line)


def aws_secrets(env) -> list[str]:
    """The secrets devenv seeded in each ready aws stand-in this machine reaches (its values are never shown)."""
    lines = []
    for svc in env.services:
        if svc.type != "aws" or svc.health != "ready" or svc.endpoint is None or env.target == "namespace":
            continue
        from devenv.services.aws import list_secrets

        try:
            names = list_secrets(svc.endpoint)
        except Exception:  # noqa: BLE001 - a listing beside the table: the health column already says how it is
            continue
        lines.append(f"{svc.name} secrets: {', '.join(names) if names else '(none)'}")
    return lines

