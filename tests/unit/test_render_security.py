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
