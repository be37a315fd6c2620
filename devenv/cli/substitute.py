"""`devenv substitute`: Flux post-build variable substitution on manifests, offline, as kustomize-controller does it."""

from __future__ import annotations

import enum
import sys
from pathlib import Path

import typer

from devenv.cli import output
from devenv.errors import InvalidInput


class Format(str, enum.Enum):
    yaml = "yaml"
    json = "json"


def command(
    files: list[str] = typer.Argument(..., metavar="FILE", help="Manifests: YAML streams (or JSON); - reads stdin."),
    vars_files: list[Path] | None = typer.Option(
        None, "--vars", metavar="FILE",
        help="Variables: a flat NAME: value mapping (YAML or JSON), or ConfigMap/Secret manifests as "
             "substituteFrom reads them. Repeatable; later files win.",
    ),
    sets: list[str] | None = typer.Option(
        None, "--set", metavar="NAME=VALUE", help="One variable, like postBuild.substitute; wins over --vars. Repeatable.",
    ),
    strict: bool = typer.Option(
        True, "--strict/--no-strict",
        help="Fail on a variable that is not set and has no default (Flux 2.9's default); "
             "--no-strict substitutes an empty string.",
    ),
    fmt: str = output.choice(Format, Format.yaml, "--output", "-o", help="yaml (a stream) or json (an array)."),
) -> None:
    """Substitute ${VAR} in manifests exactly as a Flux Kustomization's postBuild would.

    Each resource goes through the controller's round trip: written as go-yaml v2 YAML, ${...}
    substituted in that text (bash-style defaults and string operators included), read back with
    YAML 1.1 rules, so a value can change type (yes -> true, 010 -> 8). Resources labelled or
    annotated kustomize.toolkit.fluxcd.io/substitute: disabled are left alone, and so is everything
    when no variables are given.

    Example: devenv substitute apps/orders.yaml --vars cluster-vars.yaml --set CLUSTER_NAME=dev -o json
    """
    from devenv.flux import substitution

    variables: dict[str, str] = {}
    for path in vars_files or []:
        variables.update(substitution.load_variables_file(path))
    for item in sets or []:
        name, equals, value = item.partition("=")
        if not equals:
            raise InvalidInput(f"--set {item!r} is not NAME=VALUE", hint="for example --set CLUSTER_NAME=dev")
        variables[name] = value
    resources = []
    for name in files:
        if name == "-":
            resources.extend(substitution.load_resources(sys.stdin.read(), source="<stdin>"))
        else:
            resources.extend(substitution.load_resources_file(name))
    if not variables:
        output.note("no variables given: nothing is substituted (Flux skips substitution when the variable map is empty)")
    results = substitution.substitute_resources(resources, variables, strict=strict)
    if fmt is Format.json:
        output.emit_json(results)
    else:
        output.emit_yaml_stream(results)

