"""Render never reads outside the platform: a spec.path through a symbolic link out of the source is refused."""

from __future__ import annotations

import pytest

from devenv.errors import PlatformError
from devenv.flux.kustomize import resolve_path


def test_spec_path_through_a_symlink_out_of_the_source_is_refused(tmp_path) -> None:
    root, outside = tmp_path / "platform", tmp_path / "outside"
    (root / "apps").mkdir(parents=True)
    outside.mkdir()
    (root / "apps" / "escape").symlink_to(outside)
    (root / "apps" / "inside").mkdir()
    assert resolve_path(root, "./apps/inside", "Kustomization flux-system/apps") == root / "apps" / "inside"
    with pytest.raises(PlatformError, match="leads outside its source through a symbolic link"):
        resolve_path(root, "./apps/escape", "Kustomization flux-system/apps")


def test_dot_dot_cannot_leave_the_source(tmp_path) -> None:
    root = tmp_path / "platform"
    (root / "apps").mkdir(parents=True)
    assert resolve_path(root, "../../apps", "Kustomization flux-system/apps") == root / "apps"


def _race_platform(root) -> None:
    """Overlays reading ../base while other Kustomizations build folders inside base (each with a Flux
    spec, so each builds in the workspace mirror): the shape that raced when builds shared one mirror."""
    base = root / "apps" / "base"
    base.mkdir(parents=True)
    names = [f"cm{i:03d}.yaml" for i in range(150)]
    for name in names:
        (base / name).write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name[:-5]}}}\n")
    (base / "kustomization.yaml").write_text("resources:\n" + "".join(f"- {n}\n" for n in names))
    docs = []
    for i in range(1, 13):
        (root / "apps" / f"o{i}").mkdir()
        (root / "apps" / f"o{i}" / "kustomization.yaml").write_text(f"resources:\n- ../base\nnamePrefix: o{i}-\n")
        inner = base / f"s{i}" / "x"
        inner.mkdir(parents=True)
        (inner / "cm.yaml").write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: s{i}}}\n")
        (inner / "kustomization.yaml").write_text("resources:\n- cm.yaml\n")
        for name, path in ((f"o{i}", f"./apps/o{i}"), (f"s{i}", f"./apps/base/s{i}/x")):
            docs.append(f"apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
                        f"metadata: {{name: {name}, namespace: flux-system}}\n"
                        f"spec: {{sourceRef: {{kind: GitRepository, name: flux-system}}, path: {path}, "
                        f"targetNamespace: n{i}, interval: 10m, prune: true}}\n")
    (root / "clusters" / "c").mkdir(parents=True)
    (root / "clusters" / "c" / "k.yaml").write_text("---\n".join(docs))


@pytest.mark.kustomize
def test_parallel_builds_do_not_disturb_each_other(tmp_path) -> None:
    from devenv.flux.render import render_environment
    from devenv.domain.profiles import load_profile

    _race_platform(tmp_path / "platform")
    profile = tmp_path / "p.yaml"
    profile.write_text("version: 1\nname: race\ntarget: kind\nmirror: clusters/c\n")
    for _ in range(2):
        result = render_environment(load_profile(profile), "race", platform=tmp_path / "platform")
        assert len(result.kustomizations) == 24
        assert sum(len(k.resources) for k in result.kustomizations) == 12 * 150 + 12


def test_artifact_copy_rules_cannot_reach_outside_their_source(tmp_path) -> None:
    from devenv.flux.sources import copy_artifact

    root, outside, dest = tmp_path / "repo", tmp_path / "outside", tmp_path / "artifact"
    (root / "apps").mkdir(parents=True)
    outside.mkdir()
    dest.mkdir()
    (outside / "secret.yaml").write_text("kind: Secret\n")
    (root / "apps" / "ok.yaml").write_text("kind: ConfigMap\n")
    copy_artifact([{"from": "@repo/apps/ok.yaml", "to": "@artifact/"}], {"repo": root}, dest, "ArtifactGenerator x")
    assert (dest / "ok.yaml").is_file()
    for rule in ({"from": "@repo/../outside/secret.yaml", "to": "@artifact/"},
                 {"from": "@repo/../outside/*.yaml", "to": "@artifact/"}):
        with pytest.raises(PlatformError, match="outside its source"):
            copy_artifact([rule], {"repo": root}, dest, "ArtifactGenerator x")
    assert not (dest / "secret.yaml").exists()
