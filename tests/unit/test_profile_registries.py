"""The profile's `registries:` field: the hosts it yields (Profile.registries, what Flux's adaptation and the kind
target read) and the errors the table files cannot hold (one `registries:` key per file)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_profile

from devenv.domain.profiles import load_profile
from devenv.errors import ProfileError

DATA = Path(__file__).parents[1] / "data" / "profiles"


def test_registries_are_host_strings_lower_cased_in_profile_order() -> None:
    profile = load_profile(DATA / "valid-registries.yaml")
    assert profile.registries == ("123456789012.dkr.ecr.eu-west-2.amazonaws.com", "registry.example.com:5000",
                                  "localhost:5001")


def test_a_profile_without_registries_has_none() -> None:
    assert load_profile(DATA / "valid-kind.yaml").registries == ()


@pytest.mark.parametrize("target,value,why", [
    ("kind", "{host: ghcr.io}",
     "registries: must be a list of {host: HOST} (e.g. [{host: 123456789012.dkr.ecr.eu-west-2.amazonaws.com}]), "
     "not a mapping"),
    ("namespace", "[ghcr.io]",
     "registries: only a `target: kind` profile lists registries (a shared cluster logs in by itself: use "
     "namespace.registry's provider or secretRef)"),
])
def test_registries_errors_name_file_line_and_field(tmp_path: Path, target: str, value: str, why: str) -> None:
    path = write_profile(tmp_path, f"name: p\ntarget: {target}\nmirror: m\nregistries: {value}\n")
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    assert caught.value.context == [f"{path}:5: {why}"]
