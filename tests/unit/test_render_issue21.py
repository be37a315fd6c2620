"""Issue 21: what public Flux repositories showed render to get wrong. Each test builds a tiny Flux
repository of its own (cluster folder clusters/dev, a profile beside it), the way
../shared/render-cases/make-cases.sh writes its cases, and pins what devenv must say or do."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from devenv.cli import app
from devenv.errors import DevenvError, PlatformError, SubstitutionError
from devenv.flux.render import render_environment
from devenv.profiles import load_profile

PROFILE = """\
version: 1
name: repro
target: kind
mirror: clusters/dev
environment:
  name: environment
  namespace: flux-system
  data:
    ENVIRONMENT: "{env.name}"
"""


def ks(name: str, path: str, extra: str = "", source: str = "{kind: GitRepository, name: flux-system}") -> str:
    """A Flux Kustomization of the cluster folder (as make-cases.sh's `ks`)."""
    return (f"apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
            f"metadata: {{name: {name}, namespace: flux-system}}\n"
            f"spec:\n  interval: 10m\n  path: {path}\n  prune: true\n  sourceRef: {source}\n"
            + textwrap.indent(textwrap.dedent(extra), "  "))


def cm(name: str, data: str = "{k: v}", namespace: str = "default") -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {namespace}}}\ndata: {data}\n"


def repo(root: Path, files: dict[str, str], profile_extra: str = "", profile: str = PROFILE) -> Path:
    """Write a tiny Flux repository (and its profile.yaml) under root."""
    for path, text in {**files, "profile.yaml": profile + profile_extra}.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


def render(root: Path, **options):
    return render_environment(load_profile(root / "profile.yaml"), "x", platform=root, **options)


def cli(root: Path, *args: str):
    return CliRunner().invoke(app, ["render", "x", "--platform", str(root), "--profile",
                                    str(root / "profile.yaml"), *args])


def kept(result) -> set[str]:
    return {f"{r['kind']}/{r['metadata']['name']}" for _, r in result.resources()}


def excluded(result) -> dict[str, str]:
    return {f"{x.kind}/{x.name}": x.reason for x in result.excluded}


# -- 8: crashes and gaps -------------------------------------------------------------------------

def test_8_a_duplicate_anchor_with_a_merge_key_renders(tmp_path: Path) -> None:
    root = repo(tmp_path, {
        "clusters/dev/apps.yaml": ks("apps", "./apps"),
        "apps/svc.yaml": textwrap.dedent("""\
            apiVersion: v1
            kind: Service
            metadata:
              name: web
              namespace: default
              labels: &labels {app: old}
              annotations: &labels {app: web}
            spec:
              selector:
                <<: *labels
                tier: front
              ports: [{port: 80}]
            """)})
    result = cli(tmp_path, "--format", "json")
    assert result.exit_code == 0, result.stderr
    (service,) = [r for k in json.loads(result.stdout)["kustomizations"] for r in k["resources"]]
    assert service["spec"]["selector"] == {"app": "web", "tier": "front"}  # the later anchor, merged


def test_8_skip_unbuildable_skips_a_kustomization_whose_path_does_not_exist(tmp_path: Path) -> None:
    root = repo(tmp_path, {
        "clusters/dev/apps.yaml": ks("apps", "./apps"),
        "clusters/dev/extra.yaml": ks("extra", "./clusters/${CLUSTER_NAME}/extra"),
        "apps/cm.yaml": cm("keep-me")})
    with pytest.raises(PlatformError, match="does not exist"):
        render(root)
    result = render(root, skip_unbuildable=True)
    assert kept(result) == {"ConfigMap/keep-me"}
    assert [(x.name, "does not exist" in x.reason) for x in result.not_rendered] == [("extra", True)]
    out = cli(root, "--skip-unbuildable")
    assert out.exit_code == 0, out.stderr
    assert "Kustomization flux-system/extra is not rendered" in out.stderr
