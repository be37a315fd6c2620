"""`devenv render`: what Flux would apply for an environment, computed offline, AWS-only parts left out."""

from __future__ import annotations

import json
import re
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from devenv.cli import output
from devenv.errors import InvalidInput


class Format(str, Enum):
    yaml = "yaml"
    json = "json"


def command(
    name: Optional[str] = typer.Argument(None, help="Environment name; default: the current git branch."),
    profile: str = typer.Option("local", "--profile", "-p",
                                help="A profile name (./profiles, then devenv's own) or a path to a profile file."),
    platform: Optional[Path] = typer.Option(None, "--platform",
                                            help="Root of the Flux repository; default: devenv's embedded platform."),
    out: str = typer.Option("-", "--output", "-o", help="'-' for stdout, or a folder: one file per Kustomization."),
    fmt: str = output.choice(Format, Format.yaml, "--format", help="yaml (a stream of documents) or json (everything)."),
    explain: bool = typer.Option(False, "--explain", help="Also print every exclusion and adaptation, with why, "
                                                          "to stderr."),
    validate_crds: Optional[Path] = typer.Option(None, "--validate-crds", metavar="DIR",
                                                 help="Fail when a Flux object of the output does not validate "
                                                      "against the CRDs in DIR."),
    strict: bool = typer.Option(True, "--strict/--no-strict",
                                help="Strict post-build substitution (Flux 2.9's default): every undefined "
                                     "variable is an error, all named at once. --no-strict: they become empty, "
                                     "with a warning each."),
    skip_unbuildable: bool = typer.Option(False, "--skip-unbuildable",
                                          help="Leave out a Kustomization that cannot be built offline (a remote "
                                               "resource, a failing kustomize build) instead of failing; each is "
                                               "listed as not rendered, with the reason."),
    show_secrets: bool = typer.Option(False, "--show-secrets",
                                      help="Show the generated Secrets' values instead of a mask (YAML, JSON "
                                           "and -o DIR alike)."),
) -> None:
    """Render the profile's cluster folder as Flux would apply it, offline: every Flux Kustomization
    built with kustomize and its Flux spec, post-build variables substituted (the environment's
    ConfigMap as devenv generates it), AWS-only components left out and the rest adapted.

    YAML output: the environment ConfigMap/Secret devenv writes, then each Kustomization's objects in
    dependency order; a comment `# devenv.io/kustomization: <namespace>/<name>` opens each document
    (comments only: the objects are exactly what would be applied). JSON output: {environment,
    profile, kustomizations: [{name, namespace, path, dependsOn, source, parent, resources}],
    excluded: [{kind, name, namespace, kustomization, reason}], adapted: [{kind, name, namespace,
    kustomization, change}], notRendered: [{kind, name, namespace, kustomization, reason}],
    environmentConfigMap, environmentObjects: [the ConfigMap, the Secret (values masked unless
    --show-secrets), the profile's substituteFrom objects], warnings: [{message, kustomization, ...}]}.
    Kustomizations devenv cannot see or build are "not rendered": listed apart from what is left out
    as AWS-only, and named on stderr.
    With -o DIR: 00-environment.yaml and NN-<namespace>-<name>.yaml per Kustomization (.json with --format json).

    Examples:

      devenv render demo --explain > demo.yaml

      devenv render --platform ../fleet --profile ./profiles/dev-eu.yaml --format json | jq '.excluded'
    """
    from devenv.domain.naming import resolve_name
    from devenv.domain.profiles import EMBEDDED_PLATFORM, load_profile

    if out in ("json", "yaml", "table") and not Path(out).exists():
        raise InvalidInput(f"-o {out}: for `devenv render`, -o names a folder to write (one file per "
                           "Kustomization) or '-' for stdout, not a format",
                           hint=f"--format {out if out != 'table' else 'json'} prints it; -o ./{out} writes a "
                                "folder of that name")
    env_name = resolve_name(name)
    prof = load_profile(profile)
    if validate_crds is not None:
        _check_crd_dir(validate_crds)
    cache, started = _head_start(prof, platform if platform is not None else EMBEDDED_PLATFORM)
    from devenv.flux import render as flux_render  # the pipeline loads while the first builds run

    try:
        with output.step(f"rendering {prof.mirror} for {env_name} (profile {prof.name})"):
            result = flux_render.render_environment(prof, env_name, platform=platform, strict=strict,
                                                    skip_unbuildable=skip_unbuildable, build_cache=cache)
    finally:
        for thread in started:  # no build started ahead runs on after the command
            thread.join()
    if validate_crds is not None:
        _validate(result, validate_crds)
    if explain:
        explain_result(result)
    for warning in result.warnings:
        output.warn(warning.message)
    for x in result.not_rendered:
        output.warn(f"Kustomization {x.namespace}/{x.name} is not rendered: {x.reason.removeprefix('not rendered: ')}")
    if out == "-":
        if fmt is Format.json:
            output.emit_json(result.to_dict(show_secrets=show_secrets))
        else:
            sys.stdout.write(yaml_stream(result, show_secrets=show_secrets))
        return
    written = write_folder(result, Path(out), fmt, show_secrets=show_secrets)
    output.note(f"wrote {len(written)} files to {out}")


def _environment_objects(result, show_secrets: bool) -> list[dict]:
    """The objects devenv generates, its Secrets' values masked unless asked for."""
    from devenv.flux.render import mask_secret

    return [obj if show_secrets else mask_secret(obj) for obj in result.environment_objects]


def _head_start(prof, platform: Path) -> tuple[object | None, list]:
    """A BuildCache into which the cluster folder's first kustomize builds are already running
    (devenv.flux.prefetch), and their threads; (None, []) when there is nothing to start ahead."""
    from devenv.flux.buildcache import BuildCache
    from devenv.flux.prefetch import start

    if not prof.mirror or prof.target == "namespace" or not Path(platform).is_dir() \
            or "GitRepository/flux-system/flux-system" in prof.sources:  # the builds would be of another tree
        return None, []
    cache = BuildCache()
    return cache, start(Path(platform), prof.mirror, cache, exclude=prof.exclude)


def yaml_stream(result, *, show_secrets: bool = False) -> str:
    from devenv.flux.kustomize import dump_yaml_all
    from devenv.flux.render import SOURCE_ANNOTATION

    parts = [f"# devenv render: environment {result.environment}, profile {result.profile.name}, "
             f"cluster folder {result.profile.mirror}\n"]
    labels = ["(environment, written by devenv)" for _ in result.environment_objects]
    docs = _environment_objects(result, show_secrets)
    for rendered, resource in result.resources():
        labels.append(rendered.id)
        docs.append(resource)
    # One dump for speed; each document (a mapping) starts with a `---` line of its own.
    texts = re.split(r"(?m)^---\n", dump_yaml_all(docs))[1:]
    for label, text in zip(labels, texts):
        parts.append(f"---\n# {SOURCE_ANNOTATION}: {label}\n{text}")
    return "".join(parts)


def write_folder(result, folder: Path, fmt: Format, *, show_secrets: bool = False) -> list[Path]:
    from devenv.flux.kustomize import dump_yaml

    folder.mkdir(parents=True, exist_ok=True)
    ext = "json" if fmt is Format.json else "yaml"

    def dump(objects: list[dict]) -> str:
        if fmt is Format.json:
            return json.dumps(objects, indent=2, default=str) + "\n"
        return "".join(f"---\n{dump_yaml(obj)}" for obj in objects)

    written = [folder / f"00-environment.{ext}"]
    written[0].write_text(dump(_environment_objects(result, show_secrets)))
    for i, rendered in enumerate(result.kustomizations, start=1):
        path = folder / f"{i:02d}-{rendered.namespace}-{rendered.name}.{ext}"
        path.write_text(dump(rendered.resources))
        written.append(path)
    return written


def explain_result(result) -> None:
    """A human table of every exclusion and adaptation, on stderr."""
    def table(title: str, headers: list[str], rows: list[list[str]]) -> None:
        output.note(f"\n{title}")
        if not rows:
            output.note("  (none)")
            return
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers[:-1])]
        line = lambda cells: "  " + "  ".join([c.ljust(w) for c, w in zip(cells, widths)] + [cells[-1]])  # noqa: E731
        output.note(line([h.upper() for h in headers]))
        for row in rows:
            output.note(line(row))

    def obj(kind: str, namespace: str | None, name: str) -> str:
        return f"{kind}/{namespace + '/' if namespace else ''}{name}"

    table("Left out", ["object", "kustomization", "reason"],
          [[obj(x.kind, x.namespace, x.name), x.kustomization or "-", x.reason] for x in result.excluded])
    if result.not_rendered:
        table("Not rendered", ["object", "kustomization", "reason"],
              [[obj(x.kind, x.namespace, x.name), x.kustomization or "-", x.reason] for x in result.not_rendered])
    table("Adapted", ["object", "kustomization", "change"],
          [[obj(a.kind, a.namespace, a.name), a.kustomization or "-", a.change] for a in result.adapted])
    output.note("")


def _check_crd_dir(crd_dir: Path) -> None:
    from devenv.flux.crds import load_crds

    if not crd_dir.is_dir() or not load_crds(str(crd_dir.resolve())):
        raise InvalidInput(f"--validate-crds {crd_dir}: no CustomResourceDefinitions found there",
                           hint="pass the folder holding Flux's CRD files (e.g. ../shared/flux-crds)")


def _validate(result, crd_dir: Path) -> None:
    from devenv.errors import PlatformError
    from devenv.flux.crds import validate_all

    problems = validate_all(result.flux_objects(), crd_dir)
    if problems:
        raise PlatformError(f"{len(problems)} Flux object field{'s' if len(problems) > 1 else ''} of the render "
                            f"do not validate against the CRDs in {crd_dir}", context=problems)
    output.note(f"every Flux object validates against the CRDs in {crd_dir}")
