"""`devenv doctor`: the prerequisites, found or not, with their versions and how to fix each."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import typer

from devenv import process
from devenv.cli import output
from devenv.errors import DevenvError


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    needed_for: str
    fix: str = ""


def _version(argv: list[str], pick=lambda out: out.strip().splitlines()[0] if out.strip() else "") -> tuple[bool, str]:
    try:
        result = process.run(argv, timeout=20)
    except DevenvError as err:
        return False, err.message
    return True, pick(result.stdout or result.stderr)


def _docker() -> Check:
    from devenv import docker  # only doctor and the lifecycle commands talk to the engine

    try:
        version = docker.engine_version()
    except DevenvError as err:
        return Check("docker engine", False, "; ".join([err.message, *err.context]), "up/down/status (all targets)",
                     err.hint or "")
    return Check("docker engine", True, f"server {version}", "up/down/status (all targets)")


def _max_map_count() -> Check:
    try:
        value = int(Path("/proc/sys/vm/max_map_count").read_text())
    except (OSError, ValueError):
        return Check("vm.max_map_count", True, "not readable here (not Linux?)", "opensearch")
    ok = value >= 262144
    return Check("vm.max_map_count", ok, str(value), "opensearch",
                 "" if ok else "sudo sysctl -w vm.max_map_count=262144")


def checks() -> list[Check]:
    found = []
    found.append(_docker())
    ok, detail = _version(["kind", "version"])
    found.append(Check("kind", ok, detail, "target kind", "" if ok else process.INSTALL_HINTS["kind"]))
    ok, detail = _version(["kubectl", "version", "--client"])
    found.append(Check("kubectl", ok, detail, "targets kind and namespace; kustomize builds",
                       "" if ok else process.INSTALL_HINTS["kubectl"]))
    ok_k, detail_k = _version(["kustomize", "version"])
    found.append(Check("kustomize", ok_k or ok, detail_k if ok_k else ("using `kubectl kustomize`" if ok else detail_k),
                       "render", "" if (ok_k or ok) else process.INSTALL_HINTS["kustomize"]))
    ok, detail = _version(["flux", "version", "--client"])
    found.append(Check("flux", ok, detail, "HelmReleases on the kind target (flux install)", "" if ok else process.INSTALL_HINTS["flux"]))
    found.append(_max_map_count())
    return found


def command(
    fmt: str = output.choice(output.TableOrJson, output.TableOrJson.table, "--output", "-o", help="table or json."),
) -> None:
    """Check what devenv needs (Docker, kind, kubectl/kustomize, flux) and say how to fix what is missing.

    Exits 1 when something is missing; what each tool is needed for tells you whether it matters to you.
    """
    found = checks()
    if fmt is output.TableOrJson.json:
        output.emit_json([asdict(c) for c in found])
    else:
        output.emit_table(["check", "status", "detail", "needed for", "fix"],
                          [[c.name, "ok" if c.ok else "MISSING", c.detail, c.needed_for, c.fix] for c in found])
    if os.environ.get("DOCKER_HOST"):
        output.note(f"DOCKER_HOST={os.environ['DOCKER_HOST']}")
    if not all(c.ok for c in found):
        raise typer.Exit(1)
