"""Wires the commands (one module each) into one typer app and renders DevenvErrors.

Only wiring lives here: each command's module imports what it needs, heavy packages
(the kubernetes client, the render pipeline) inside the command body, so `--help` stays fast;
`devenv up` wires (and imports) only the `up` command's module.
"""

from __future__ import annotations

import functools
import logging
import sys
from typing import Callable

import typer

from devenv import __version__
from devenv.errors import DevenvError, Interrupted, Unexpected

HELP = (
    "Short-lived copies of a Flux-deployed platform: a kind cluster per branch, a namespace "
    "in a shared cluster, or just the data services on Docker for tests and IDEs.\n\n"
    "Examples:\n\n"
    "  devenv render demo --explain          what Flux would apply locally, and what is left out\n\n"
    "  devenv up demo --profile test         MariaDB (and OpenSearch) on Docker, seeded\n\n"
    "  devenv env demo --format dotenv       connection facts for your IDE\n\n"
    "  devenv down demo                      remove everything the environment created"
)

state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"devenv {__version__}")
        raise typer.Exit()


def root(
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More log lines on stderr (-vv for debug)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors on stderr; results still go to stdout."),
    debug: bool = typer.Option(False, "--debug", help="Debug logging, and a traceback with errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    state["debug"] = debug
    level = logging.ERROR if quiet else logging.DEBUG if (debug or verbose > 1) else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr, force=True)
    # urllib3 warns of each retry (an API server that went away: three "Retrying ... Connection refused" lines)
    # before devenv's own error says what failed: detail that -v shows
    logging.getLogger("urllib3").setLevel(level if verbose or debug else max(level, logging.ERROR))
    from devenv.cli import output

    output.configure(quiet=quiet)


def handle_errors(command: Callable) -> Callable:
    """Render a DevenvError as one paragraph on stderr and exit with its code (traceback only with --debug)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except DevenvError as err:
            _report(err)
        except KeyboardInterrupt:
            _report(Interrupted("interrupted", hint="run `devenv list` to see what exists; `devenv down NAME` or `devenv gc` removes it"))
        except (typer.Exit, typer.Abort, typer.TyperException):  # typer's own: usage errors, exits
            raise
        except Exception as exc:  # a bug, not a user error: still one paragraph, the traceback with --debug
            _report(Unexpected(f"unexpected error: {type(exc).__name__}: {exc}",
                               hint="rerun with --debug for the traceback, and report it"))

    return wrapper


def _report(err: DevenvError) -> None:
    if state["debug"]:
        import traceback

        traceback.print_exc(file=sys.stderr)
    typer.echo(f"error: {err}", err=True)
    raise typer.Exit(err.exit_code)


# command name -> its module in devenv.cli (a module's `command`); GROUPS: a module's COMMANDS, `devenv cache list`
COMMANDS = {
    "up": "up", "sync": "sync", "down": "down", "list": "list_", "status": "status", "env": "env",
    "kubeconfig": "kubeconfig", "gc": "gc", "extend": "extend", "render": "render", "substitute": "substitute",
    "components": "components", "init": "init", "profiles": "profiles", "doctor": "doctor",
}
GROUPS = {"cache": "cache"}


def make_app(only: str | None = None) -> typer.Typer:
    """The app with every command, or with only the command `only` (then no other command's module is imported)."""
    app = _typer("devenv", HELP)
    app.callback()(root)
    for name, module in COMMANDS.items():
        if only in (None, name):
            mod = __import__(f"devenv.cli.{module}", fromlist=["command"])
            app.command(name)(handle_errors(mod.command))
    for name, module in GROUPS.items():
        if only in (None, name):
            app.add_typer(_group(name, module), name=name)
    return app


def _typer(name: str, help: str) -> typer.Typer:  # noqa: A002 - typer's name
    """The app or a command group: usage on a bare call, -h as well as --help, plain errors and help text."""
    return typer.Typer(name=name, help=help, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                       rich_markup_mode=None, context_settings={"help_option_names": ["-h", "--help"]})


def _group(name: str, module: str) -> typer.Typer:
    mod = __import__(f"devenv.cli.{module}", fromlist=["COMMANDS"])
    group = _typer(name, mod.__doc__)
    for sub, command in mod.COMMANDS.items():
        group.command(sub)(handle_errors(command))
    return group


def command_in(args: list[str]) -> str | None:
    """The command that `args` run, when it is one of ours: the first word after the root options (no root
    option takes a value). None for `devenv --help`, no command, or a typo (then every command is wired, so
    that the usage error can list them)."""
    for arg in args:
        if arg == "--":
            return None
        if not arg.startswith("-"):
            return arg if arg in COMMANDS or arg in GROUPS else None
    return None


def main() -> None:
    # wire only the command being run: importing and building all sixteen costs ~10 ms of every command's start
    make_app(only=command_in(sys.argv[1:]))(prog_name="devenv")


def __getattr__(name: str):
    """`devenv.cli.app`: the app with every command, built on first use (tests and embedders run it)."""
    if name == "app":
        globals()["app"] = make_app()
        return globals()["app"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
