"""`devenv doctor`: the prerequisites, found or not, with their versions and how to fix each."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import typer

from devenv.clients import process
from devenv.cli import output
from devenv.errors import DevenvError


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    needed_for: str
    fix: str = ""
    level: str = ""  # ok, missing, or warning (works, with a limit worth fixing): the status column

    def __post_init__(self) -> None:
        self.level = self.level or ("ok" if self.ok else "missing")


def _version(argv: list[str], pick=lambda out: out.strip().splitlines()[0] if out.strip() else "") -> tuple[bool, str]:
    try:
        result = process.run(argv, timeout=20)
    except DevenvError as err:
        return False, err.message
    return True, pick(result.stdout or result.stderr)


def _docker() -> Check:
    """The engine, and which one and why (DOCKER_HOST, DOCKER_CONTEXT or the docker config's current context):
    the same engine every docker and kind process devenv runs is given."""
    from devenv.clients import docker  # only doctor and the lifecycle commands talk to the engine

    try:
        endpoint, reason = docker.engine_origin()
        version = docker.engine_version()
    except DevenvError as err:
        return Check("docker engine", False, "; ".join([err.message, *err.context]), "up/down/status (all targets)",
                     err.hint or "")
    return Check("docker engine", True, f"server {version} at {endpoint} ({reason})", "up/down/status (all targets)")


MAX_MAP_COUNT = Path("/proc/sys/vm/max_map_count")
OPENSEARCH_MAP_COUNT = 262144  # what OpenSearch's bootstrap check asks for (its docs: "Important settings")


def _max_map_count(path: Path | None = None) -> Check:
    """vm.max_map_count as a warning with its explanation: OpenSearch maps its index files into memory and
    asks for 262144 areas; devenv runs it as a single node, where that is not enforced at start, but a
    low limit makes a node with many shards fail with out-of-memory errors later."""
    try:
        value = int((path or MAX_MAP_COUNT).read_text())
    except (OSError, ValueError):
        return Check("vm.max_map_count", True, "not readable here (not Linux: Docker Desktop's and Colima's VM "
                     f"set it; OpenSearch needs at least {OPENSEARCH_MAP_COUNT})", "opensearch", level="ok")
    if value >= OPENSEARCH_MAP_COUNT:
        return Check("vm.max_map_count", True, str(value), "opensearch", level="ok")
    return Check(
        "vm.max_map_count", True,
        f"{value}, below the {OPENSEARCH_MAP_COUNT} OpenSearch asks for: it maps index files into memory, one area "
        "per segment, and a node with many indices then fails with out-of-memory errors (devenv's single-node "
        "OpenSearch starts anyway; a production-mode node refuses to)",
        "opensearch",
        f"for now: sudo sysctl -w vm.max_map_count={OPENSEARCH_MAP_COUNT}; for good: echo "
        f"'vm.max_map_count={OPENSEARCH_MAP_COUNT}' | sudo tee /etc/sysctl.d/99-opensearch.conf && sudo sysctl "
        "--system. Docker Desktop: wsl -d docker-desktop sysctl -w vm.max_map_count=262144 (Windows), or in "
        "its VM on macOS; Colima: colima ssh -- sudo sysctl -w vm.max_map_count=262144 (add it to "
        "provision: in colima.yaml to keep it)",
        level="warning")


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
    A warning (a low vm.max_map_count for OpenSearch) says what is needed and how to set it, and exits 0.
    """
    found = checks()
    if fmt is output.TableOrJson.json:
        output.emit_json([asdict(c) for c in found])
    else:
        output.emit_table(["check", "status", "detail", "needed for", "fix"],
                          [[c.name, {"ok": "ok", "warning": "WARNING"}.get(c.level, "MISSING"), c.detail,
                            c.needed_for, c.fix] for c in found])
    for check in found:
        if check.level == "warning":
            output.warn(f"{check.name}: {check.detail}. Fix: {check.fix}")
    if not all(c.ok for c in found):
        raise typer.Exit(1)
