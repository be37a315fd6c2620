"""Fixtures every suite shares: unique environment names, registered for the suite's census."""

from __future__ import annotations

import os
import uuid

import pytest

# The suites test what `up` does from empty data (and its faults) independently of each other, so the cache
# of seeded data is off unless a test turns it on (tests/integration/test_warm_starts.py, tests/plugin/test_plugin_cache.py);
# those tests remove the snapshots they make, and a census proves it.
os.environ.setdefault("DEVENV_CACHE", "off")


@pytest.fixture
def env_names() -> list[str]:
    """The environments the current test made; the suite's census checks each of them."""
    return []


@pytest.fixture
def new_env(env_names, request):
    """Return a unique environment name (registered for the census) each call."""

    def make(prefix: str = request.path.parent.name[:3]) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        env_names.append(name)
        return name

    return make


# ---------------------------------------------------------------- prerequisites
# A test marked with what it needs skips, saying why, when that is absent; DEVENV_REQUIRE (a comma list of
# marker names, or `all`) turns those skips into failures, so CI cannot go green without running them.
PREREQUISITES = ("docker", "mariadb_image", "opensearch_image", "kind", "kind_node", "cluster", "flux", "kustomize",
                 "shared")

# Tests that read a fixture of these need the prerequisite, marked or not (the mark is added at collection).
FIXTURE_NEEDS = {"crd_dir": "shared"}


def required() -> set[str]:
    names = {n.strip() for n in os.environ.get("DEVENV_REQUIRE", "").split(",") if n.strip()}
    return set(PREREQUISITES) if names & {"all", "1", "true"} else names


def pytest_configure(config) -> None:
    unknown = required() - set(PREREQUISITES)
    if unknown:
        raise pytest.UsageError(f"DEVENV_REQUIRE: unknown prerequisite(s) {', '.join(sorted(unknown))}; "
                                f"known: {', '.join(PREREQUISITES)}, all")


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        for fixture, need in FIXTURE_NEEDS.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(need)


def missing_tool(needs: set[str]) -> tuple[str, str] | None:
    """The marker whose tool is absent and why, or None. Checked when the test runs (never by a collection-time
    skip mark), so DEVENV_REQUIRE can turn the skip into a failure."""
    import shutil

    if "kind" in needs and (absent := [t for t in ("kind", "kubectl") if shutil.which(t) is None]):
        return "kind", f"needs {' and '.join(absent)} on PATH to create a real kind cluster (not installed here)"
    if "kind_node" in needs and (why := missing_kind_node()):
        return "kind_node", why
    if "kustomize" in needs and not (shutil.which("kustomize") or shutil.which("kubectl")):
        return "kustomize", "needs `kustomize` or `kubectl` (for `kubectl kustomize`) on PATH; neither is"
    return None


def real_kind() -> str:
    """The real kind binary: DEVENV_KIND, else the one the lab builds (the `kind` on the lab's PATH is the
    stand-in)."""
    from pathlib import Path

    cache = Path(os.environ.get("DEVENV_LAB_CACHE") or Path.home() / ".cache" / "devenv-lab")
    return os.environ.get("DEVENV_KIND") or str(cache / "kind-v0.33.0" / "kind")


def kind_node_image() -> str:
    return os.environ.get("DEVENV_KIND_NODE_IMAGE") or "devenv-offline/kind-node:v1.36.3"


def missing_kind_node() -> str | None:
    """Why a real kind node cannot be made here, or None: the real kind, kubectl, and the node image in the engine."""
    import shutil
    import subprocess

    kind = real_kind()
    if not os.access(kind, os.X_OK):
        return f"needs the real kind at {kind} (DEVENV_KIND; `python3 tests/lab/lab.py build` builds it)"
    if shutil.which("kubectl") is None:
        return "needs kubectl on PATH"
    image = kind_node_image()
    try:
        found = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", image],
                               capture_output=True, text=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"needs a Docker engine to check the kind node image {image}: {exc}"
    if not found:
        return (f"needs the kind node image {image} in the Docker engine "
                f"(DEVENV_KIND_NODE_IMAGE; `make kind-node-image` builds it offline)")
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    needs = {mark.name for mark in item.iter_markers()}
    if missing := missing_tool(needs):
        skip_for(item, *missing)
    if needs & {"cluster", "flux"}:
        from lab_env import cluster, flux_ready

        found, why = cluster()
        if found is None:
            skip_for(item, "cluster", why)
        if "flux" in needs and (why := flux_ready(found)):
            skip_for(item, "flux", why)


SKIPPED_FOR = pytest.StashKey[str]()


def skip_for(item: pytest.Item, prerequisite: str, why: str) -> None:
    """Skip because `prerequisite` is missing: only that one decides whether DEVENV_REQUIRE fails the test (a test
    marked docker and kind, with Docker here and kind not, stays a skip unless kind is required)."""
    item.stash[SKIPPED_FOR] = prerequisite
    pytest.skip(why)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or call.excinfo is None:
        return
    cause = item.stash.get(SKIPPED_FOR, None)
    needs = ({cause} if cause else {mark.name for mark in item.iter_markers()}) & required()
    if needs and not item.get_closest_marker("skip"):
        reason = call.excinfo.value.msg if hasattr(call.excinfo.value, "msg") else str(call.excinfo.value)
        report.outcome = "failed"
        report.longrepr = (f"required prerequisite missing (DEVENV_REQUIRE names {', '.join(sorted(needs))}): "
                           f"{reason}")
