"""Shared fixtures of the unit tests: profiles and renders of the
test platforms (computed once per session: they are read-only), the Flux CRDs folder."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
PLATFORMS = DATA / "platforms"
ACME = PLATFORMS / "acme"
BROKEN = PLATFORMS / "broken"
ACME_PROFILE = DATA / "profiles" / "valid-acme.yaml"


@pytest.fixture(autouse=True, scope="session")
def kustomize_resolved_before_any_fake() -> None:
    """devenv resolves its kustomize command once per process (devenv.flux.kustomize); resolve it for real
    before a test fakes `which`, or the first render under a fake would remember a kustomize that is not there."""
    from devenv.flux.kustomize import kustomize_available

    kustomize_available()


@pytest.fixture(scope="session")
def local_profile():
    from devenv.domain.profiles import load_profile

    return load_profile("local")


@pytest.fixture(scope="session")
def acme_profile():
    from devenv.domain.profiles import load_profile

    return load_profile(ACME_PROFILE)


@pytest.fixture(scope="session")
def components_render(local_profile):
    """The embedded platform rendered for environment `demo` with the `local` profile."""
    from devenv.flux.render import render_environment

    return render_environment(local_profile, "demo")


@pytest.fixture(scope="session")
def acme_render(acme_profile):
    from devenv.flux.render import render_environment

    return render_environment(acme_profile, "demo", platform=ACME)


@pytest.fixture(scope="session")
def crd_dir() -> Path:
    from devenv.flux.crds import find_crd_dir

    found = find_crd_dir(REPO)
    if found is None:
        pytest.skip("no Flux CRDs: set DEVENV_FLUX_CRDS or provide ../shared/flux-crds next to the repository")
    return found


def write_profile(folder: Path, text: str, name: str = "profile.yaml") -> Path:
    """A profile file for one test (profiles are validated on load, like any user's)."""
    path = folder / name
    path.write_text("version: 1\n" + text)
    return path


def by_id(result) -> dict:
    """Rendered Kustomizations by `namespace/name`."""
    return {k.id: k for k in result.kustomizations}


def find(result, kind: str, name: str, namespace: str | None = None) -> dict:
    """The one rendered object of that kind and name (and namespace)."""
    found = [r for _, r in result.resources() if r["kind"] == kind and r["metadata"]["name"] == name
             and (namespace is None or r["metadata"].get("namespace") == namespace)]
    assert len(found) == 1, f"{kind} {namespace}/{name}: found {len(found)}"
    return found[0]


def names(resources) -> set[str]:
    """Objects as `Kind/namespace/name` (or `Kind/name` when cluster-scoped), as the platforms' README writes them."""
    out = set()
    for r in resources:
        ns = r["metadata"].get("namespace")
        out.add(f"{r['kind']}/{ns}/{r['metadata']['name']}" if ns else f"{r['kind']}/{r['metadata']['name']}")
    return out
