"""A regular install (`pip install /path/to/devenv`, the README's way for the pytest plugin) holds everything a
checkout has: every module, the built-in profiles and the embedded platform. The wheel is built with the build
backend (offline, from a copy of the sources, so the checkout gets no build/ or egg-info) and run from where it
was unpacked, with no checkout in sight."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = {"devenv": "devenv", "profiles": "devenv/builtin_profiles", "components": "devenv/embedded_platform"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    sources, out = tmp_path_factory.mktemp("sources"), tmp_path_factory.mktemp("wheel")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, sources / name)
    for folder in SHIPPED:
        shutil.copytree(ROOT / folder, sources / folder, ignore=shutil.ignore_patterns("__pycache__"))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(out), str(sources)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stdout + build.stderr
    (found,) = out.glob("devenv-*.whl")
    return found


def test_the_wheel_holds_every_module_profile_and_platform_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = set()
    for folder, installed in SHIPPED.items():
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and (folder != "devenv" or path.suffix == ".py"):
                expected.add(f"{installed}/{path.relative_to(ROOT / folder).as_posix()}")
    assert "devenv/builtin_profiles/test.yaml" in expected and "devenv/cli/up.py" in expected
    assert sorted(expected - names) == []


def test_an_installed_devenv_finds_its_profiles_and_platform_without_a_checkout(wheel, tmp_path):
    site, elsewhere = tmp_path / "site", tmp_path / "project"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run(
        [sys.executable, "-c", "import json, devenv, devenv.domain.profiles as p; print(json.dumps([devenv.__file__, "
                               "str(p.BUILTIN_PROFILES), str(p.EMBEDDED_PLATFORM)]))"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=60)
    assert where.returncode == 0, where.stderr
    module, profiles, platform = json.loads(where.stdout)
    assert Path(module).is_relative_to(site), module  # the unpacked wheel, not the checkout
    assert Path(profiles) == site / "devenv" / "builtin_profiles"
    assert (Path(platform) / "clusters" / "production" / "kustomization.yaml").is_file()
    listed = subprocess.run([sys.executable, "-m", "devenv", "profiles", "-o", "json"], cwd=elsewhere, env=env,
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert sorted((p["name"], p["valid"]) for p in json.loads(listed.stdout)) == [
        ("branch", True), ("local", True), ("test", True)]
