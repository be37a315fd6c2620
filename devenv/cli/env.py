"""`devenv env`: an environment's connection facts and environment values, as seen from this machine."""

from __future__ import annotations

import re
import shlex
from enum import Enum
from typing import Mapping, Optional

import typer

from devenv.cli import output
from devenv.naming import resolve_name


class Format(str, Enum):
    dotenv = "dotenv"
    json = "json"
    shell = "shell"


def command(
    name: Optional[str] = typer.Argument(None, help="Environment name; default: the current git branch."),
    fmt: Format = typer.Option(Format.dotenv, "--format", "-f", help="dotenv, json or shell."),
    show_secrets: bool = typer.Option(False, "--show-secrets", help="Print passwords instead of ********."),
) -> None:
    """Print the `environment` ConfigMap and Secret values (host endpoints) and each service's connection
    facts (as DEVENV_<SERVICE>_<FACT>). Passwords are masked unless --show-secrets.

    Examples:

      devenv env demo > .env

      eval "$(devenv env demo --format shell --show-secrets)"

      devenv env demo --format json --show-secrets | jq .services.db
    """
    from devenv import environments

    env = environments.attach(resolve_name(name))
    for warning in env.warnings:
        output.warn(warning)
    if fmt is Format.json:
        output.emit_json(env.to_dict(show_secrets))
    elif fmt is Format.shell:
        print(shell(env.variables(show_secrets)), end="")
    else:
        print(dotenv(env.variables(show_secrets)), end="")


_PLAIN = re.compile(r"^[A-Za-z0-9_./:@%+,=-]*$")


def dotenv(variables: Mapping[str, str]) -> str:
    """KEY=value lines; values with other characters double-quoted with \\, " and $ escaped."""
    lines = []
    for key, value in variables.items():
        if not _PLAIN.match(value):
            escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("\n", "\\n")
            value = f'"{escaped}"'
        lines.append(f"{key}={value}\n")
    return "".join(lines)


def shell(variables: Mapping[str, str]) -> str:
    """`export KEY=value` lines, quoted for POSIX shells."""
    return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in variables.items())
