"""Post-build substitution done in each build's thread, right after the build (while other builds
still run): rendering, in dependency order, uses it only when it loads the same variables, so a
variable that comes from a Kustomization rendered in between is still substituted as Flux would."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from conftest import find, write_profile
from test_render_pipeline import kustomization, write
from devenv.flux import postbuild, render as render_module
from devenv.flux.render import render_environment
from devenv.domain.profiles import load_profile

PROFILE = """name: small
target: kind
mirror: clusters/dev
environment:
  data:
    DOMAIN: dev.test
"""


@pytest.fixture
def platform(tmp_path: Path) -> Path:
    """`vars` renders a ConfigMap that `app` (which depends on it) reads variables from."""
    root = tmp_path / "platform"
    write(root, "clusters/dev/flux-system/gotk-sync.yaml",
           {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": "flux-system", "namespace": "flux-system"},
            "spec": {"interval": "1m", "url": "https://git.example.com/fleet.git", "ref": {"branch": "main"}}},
           kustomization("flux-system", "./clusters/dev"))
    write(root, "clusters/dev/ks.yaml",
           kustomization("vars", "./vars"),
           kustomization("app", "./app", dependsOn=[{"name": "vars"}], postBuild={"substituteFrom": [
               {"kind": "ConfigMap", "name": "environment"},
               {"kind": "ConfigMap", "name": "team-vars", "optional": True}]}))
    write(root, "vars/cm.yaml", {"apiVersion": "v1", "kind": "ConfigMap",
                                  "metadata": {"name": "team-vars", "namespace": "flux-system"},
                                  "data": {"TEAM": "payments"}})
    write(root, "app/cm.yaml", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app", "namespace": "x"},
                                 "data": {"team": "${TEAM:=nobody}", "host": "app.${DOMAIN}"}})
    return root


@pytest.fixture
def profile(tmp_path: Path):
    return load_profile(write_profile(tmp_path, PROFILE))


def _ordered(monkeypatch, first: str, then: str) -> dict[str, int]:
    """Make `first` (`app` presubstituting or `vars` rendering) happen before `then`; count the
    substitutions rendering itself does, per Kustomization."""
    done = threading.Event()
    counts: dict[str, int] = {}
    presubstitute, render, substitute = (postbuild.Substitution.presubstitute, render_module._Renderer._render,
                                         postbuild.Substitution.substitute)

    def wrapped_presubstitute(self, k, objects):
        if k.name == "app" and then == "app presubstitutes":
            assert done.wait(10)
        result = presubstitute(self, k, objects)
        if k.name == "app" and first == "app presubstitutes":
            done.set()
        return result

    def wrapped_render(self, entry, raw):
        if entry.k.name == "vars" and then == "vars renders":
            assert done.wait(10)
        result = render(self, entry, raw)
        if entry.k.name == "vars" and first == "vars renders":
            done.set()
        return result

    def counted_substitute(self, k, resource, variables, always):
        counts[k.name] = counts.get(k.name, 0) + 1
        return substitute(self, k, resource, variables, always)

    monkeypatch.setattr(postbuild.Substitution, "presubstitute", wrapped_presubstitute)
    monkeypatch.setattr(render_module._Renderer, "_render", wrapped_render)
    monkeypatch.setattr(postbuild.Substitution, "substitute", counted_substitute)
    return counts


def test_variables_from_a_kustomization_rendered_after_the_build_are_used(platform, profile, monkeypatch) -> None:
    # app's output is substituted in its thread before `vars` is rendered, without TEAM: rendering redoes it
    counts = _ordered(monkeypatch, "app presubstitutes", "vars renders")
    result = render_environment(profile, "demo", platform=platform, workers=4)
    assert find(result, "ConfigMap", "app")["data"] == {"team": "payments", "host": "app.dev.test"}
    assert counts == {"app": 1}


def test_a_presubstitution_with_the_same_variables_is_used_as_it_is(platform, profile, monkeypatch) -> None:
    counts = _ordered(monkeypatch, "vars renders", "app presubstitutes")
    result = render_environment(profile, "demo", platform=platform, workers=4)
    assert find(result, "ConfigMap", "app")["data"] == {"team": "payments", "host": "app.dev.test"}
    assert counts == {}  # nothing left to substitute when rendering


@pytest.mark.parametrize("workers", [1, 2, None])
def test_any_number_of_build_threads_renders_the_same(platform, profile, workers) -> None:
    result = render_environment(profile, "demo", platform=platform, workers=workers)
    assert find(result, "ConfigMap", "app")["data"] == {"team": "payments", "host": "app.dev.test"}
