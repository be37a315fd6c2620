"""`devenv env`: an environment's connection facts and environment values, as seen from this machine, as a
dotenv file, `export` lines for a shell, or JSON; each quoted so that its reader takes every value literally."""

from __future__ import annotations

import re
import shlex
import sys
from enum import Enum
from typing import Mapping, Optional

import typer

from devenv.cli import output
from devenv.errors import InvalidInput


class Format(str, Enum):
    dotenv = "dotenv"
    json = "json"
    shell = "shell"


def command(
    name: Optional[str] = typer.Argument(None, help="Environment name; default: the current git branch."),
    fmt: str = output.choice(Format, Format.dotenv, "--format", "-f", help="dotenv, json or shell."),
    show_secrets: bool = typer.Option(False, "--show-secrets", help="Print passwords instead of ********."),
) -> None:
    """Print the `environment` ConfigMap and Secret values (host endpoints) and each service's connection
    facts (as DEVENV_<SERVICE>_<FACT>); for a kind environment, KUBECONFIG (its cluster's own kubeconfig) first.
    Passwords are masked unless --show-secrets.

    Examples:

      devenv env demo --show-secrets > .env        a file an IDE or `docker compose --env-file` loads

      eval "$(devenv env demo --format shell --show-secrets)"

      devenv env demo --format json --show-secrets | jq .services.db

      eval "$(devenv env feature-x --format shell)"; kubectl get pods -A
    """
    from devenv.lifecycle import environments

    env_name = output.environment_name(name)
    env = environments.attach(env_name)
    notes = list(env.warnings)
    if not env.values and not env.secrets:
        notes.append(f"environment {env_name} has no environment values (its profile {env.profile!r} defines "
                     "none under `environment:`): only the connection facts DEVENV_<SERVICE>_<FACT> follow")
    if fmt is Format.json:
        text = output.json_text({**env.to_dict(show_secrets), "warnings": notes})
    else:
        render = shell if fmt is Format.shell else dotenv
        text = "".join(f"# {line}\n" for note in notes for line in note.splitlines()) + \
            render(env.variables(show_secrets))
    for note in notes:
        output.warn(note)
    masked = masked_keys(env) if not show_secrets else []
    if masked and not sys.stdout.isatty():
        shown = ", ".join(masked[:4]) + (f" and {len(masked) - 4} more" if len(masked) > 4 else "")
        output.warn(f"passwords are masked (********) in {shown}: a program reading this output cannot log in "
                    "with them; add --show-secrets to write the real ones")
    sys.stdout.write(text)


def masked_keys(env) -> list[str]:
    """The variables whose values are masked unless --show-secrets: Secret values and every password fact,
    whatever the profile holds (a profile without `environment:` still has DEVENV_<SERVICE>_PASSWORD)."""
    shown = env.variables(show_secrets=True)
    return [key for key, value in env.variables(show_secrets=False).items() if value != shown.get(key)]


# Characters no reader treats specially, left unquoted.
_PLAIN = re.compile(r"^[A-Za-z0-9_./:@%+,=-]*$")


def dotenv(variables: Mapping[str, str]) -> str:
    """KEY=value lines that docker compose, python-dotenv and a POSIX shell (`set -a; . ./.env`) all read
    as the same literal values: nothing is expanded or executed.

    The three agree on only two quotings: single quotes are literal for all of them except that
    python-dotenv expands `${VAR}` and unescapes \\\\ and \\' inside them; double quotes with \\\\ and \\"
    escaped are literal for all of them as long as the value holds no `$` or backtick (a shell expands
    those, and an escape for them is one python-dotenv does not undo). A value that fits neither is refused.
    """
    return "".join(f"{key}={_dotenv_value(key, value)}\n" for key, value in variables.items())


def _dotenv_value(key: str, value: str) -> str:
    if _PLAIN.match(value):
        return value
    if "\r" in value:  # python-dotenv reads a carriage return as a newline, whatever the quoting
        raise InvalidInput(f"the value of {key} holds a carriage return, which python-dotenv would read as a "
                           "newline", hint="use `--format shell` for a shell, `--format json` for programs")
    if "'" not in value and "\\" not in value and "${" not in value:
        return f"'{value}'"
    if "$" not in value and "`" not in value:
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    raise InvalidInput(
        f"the value of {key} cannot be written in dotenv format so that docker compose, python-dotenv and a "
        "shell all read it as it is: it holds a single quote or a backslash (or `${`) together with `$` or a "
        "backtick",
        hint="use `--format shell` for a shell, `--format json` for programs",
    )


def shell(variables: Mapping[str, str]) -> str:
    """`export KEY=value` lines, quoted for POSIX shells (single quotes: nothing inside is expanded)."""
    return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in variables.items())
