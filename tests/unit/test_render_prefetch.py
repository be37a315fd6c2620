"""devenv.flux.prefetch: `devenv render` starts the cluster folder's kustomize builds before the render
pipeline is loaded; the render uses them (one build per folder) and renders exactly what it renders without."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import REPO
from devenv.cli import app
from devenv.flux import kustomize, prefetch
from devenv.flux.buildcache import BuildCache

pytestmark = pytest.mark.kustomize


def test_the_embedded_platforms_kustomize_build_starts_ahead_and_is_used_once(monkeypatch) -> None:
    builds: list[str] = []
    real = kustomize.run_build

    def counting(directory, *, describe, original=None):
        builds.append(str(directory))
        return real(directory, describe=describe, original=original)

    monkeypatch.setattr(kustomize, "run_build", counting)
    started = []
    real_start = prefetch.start
    monkeypatch.setattr(prefetch, "start", lambda *a, **k: started.extend(real_start(*a, **k)) or started)
    with_head_start = CliRunner().invoke(app, ["render", "demo"])
    assert with_head_start.exit_code == 0, with_head_start.stderr
    assert [t.name for t in started] == ["devenv-prefetch"] and not any(t.is_alive() for t in started)
    assert builds == [str(REPO / "components" / "apps" / "production")]  # started ahead, not built again
    monkeypatch.setattr(prefetch, "start", lambda *a, **k: [])
    without = CliRunner().invoke(app, ["render", "demo"])
    assert without.stdout == with_head_start.stdout


def test_only_builds_the_render_hands_to_kustomize_as_they_are_start_ahead(tmp_path: Path) -> None:
    def ks(name: str, path: str, extra: str = "") -> str:
        return (f"apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {{name: {name}, "
                f"namespace: flux-system}}\nspec:\n  interval: 1m\n  path: {path}\n  prune: true\n"
                f"  sourceRef: {{kind: GitRepository, name: flux-system}}\n{extra}")

    files = {
        "clusters/dev/kustomization.yaml": "resources: [apps.yaml, more]\n",
        "clusters/dev/apps.yaml": ks("apps", "./apps/dev") + "---\n" + ks("plain", "./plain")
        + "---\n" + ks("spec", "./apps/dev", "  targetNamespace: team\n") + "---\n" + ks("var", "./${X}/apps")
        + "---\n" + ks("gone", "./apps/dev", "  suspend: true\n"),
        "clusters/dev/more/other.yaml": ks("other", "./other"),
        "clusters/dev/unlisted.yaml": ks("unlisted", "./other"),  # not in the cluster folder's kustomization
        "apps/base/kustomization.yaml": "resources: [cm.yaml]\ncommonLabels: {a: b}\n",
        "apps/base/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
        "apps/dev/kustomization.yaml": "resources: [../base]\n",
        "plain/kustomization.yaml": "resources: [cm.yaml]\n",
        "plain/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n",
        "other/kustomization.yaml": "resources: [https://example.com/remote.yaml]\nnamePrefix: x-\n",
    }
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    assert prefetch._candidates(tmp_path.resolve(), "clusters/dev", set()) == [tmp_path.resolve() / "apps/dev",
                                                                             tmp_path.resolve() / "other"]
    assert prefetch._candidates(tmp_path.resolve(), "clusters/dev", {"apps"}) == [tmp_path.resolve() / "other"]
    cache = BuildCache()
    for thread in prefetch.start(tmp_path, "clusters/dev", cache):
        thread.join()
    assert cache.has(tmp_path.resolve() / "apps/dev", "")  # the overlay, built
    assert not cache.has(tmp_path.resolve() / "other", "")  # a remote resource is never fetched ahead


def test_a_failed_build_ahead_is_built_again_by_the_render_which_reports_it(tmp_path: Path) -> None:
    platform = tmp_path / "platform"
    shutil.copytree(REPO / "components", platform)
    (platform / "apps/production/kustomization.yaml").write_text("resources: [namespace.yaml, missing.yaml]\n"
                                                                 "commonLabels: {a: b}\n")
    result = CliRunner().invoke(app, ["render", "demo", "--platform", str(platform)])
    assert result.exit_code not in (0, 70) and "kustomize build failed for Kustomization flux-system/apps" in result.stderr
    assert "missing.yaml" in result.stderr and "Traceback" not in result.stderr
