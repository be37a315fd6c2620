"""`devenv kubeconfig`: where a kind environment's kubeconfig is (mode 0600, one per environment), or its content."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Optional

import typer

from devenv.cli import output
from devenv.errors import InvalidInput


class Format(str, Enum):
    text = "text"
    json = "json"


def command(
    name: Optional[str] = typer.Argument(None, help="Environment name; default: the current git branch."),
    raw: bool = typer.Option(False, "--raw", help="Print the kubeconfig itself instead of its path."),
    fmt: str = output.choice(Format, Format.text, "--output", "-o",
                             help="text (the path alone) or json ({environment, path})."),
) -> None:
    """Print the path of the environment's kubeconfig: its kind cluster's, written by `devenv up` with mode
    0600 under ~/.local/state/devenv/kubeconfig/ (your ~/.kube/config is left alone unless `up
    --merge-kubeconfig`). An environment without a kind cluster is an error (exit code 8).

    Examples:

      kubectl --kubeconfig "$(devenv kubeconfig feature-x)" get pods -A

      export KUBECONFIG="$(devenv kubeconfig feature-x)"

      devenv kubeconfig feature-x --raw > /tmp/feature-x.yaml

      devenv kubeconfig feature-x -o json | jq -r .path
    """
    from devenv.lifecycle import environments

    if raw and fmt is Format.json:
        raise InvalidInput("--raw prints the kubeconfig itself, -o json its path: pick one",
                           hint="`devenv kubeconfig NAME --raw`, or `devenv kubeconfig NAME -o json`")
    env_name = output.environment_name(name)
    path = environments.kubeconfig(env_name)
    if raw:
        sys.stdout.write(path.read_text())
    elif fmt is Format.json:
        output.emit_json({"environment": env_name, "path": str(path)})
    else:
        sys.stdout.write(f"{path}\n")
