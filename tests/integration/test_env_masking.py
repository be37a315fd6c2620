"""`devenv env NAME > .env` of a profile without `environment:` values, through the real CLI on real Docker:
the password fact is masked and stderr says so (and which variable), besides the "no environment values" note."""

from __future__ import annotations

import pytest
from it_helpers import db_service, devenv

pytestmark = [pytest.mark.docker, pytest.mark.mariadb_image]


def test_env_in_a_pipe_says_it_masks_the_password_of_a_profile_without_values(new_env, tmp_path, profile_file):
    name = new_env()
    bare = tmp_path / "bare.yaml"
    profile_file()  # writes the seed next to it
    bare.write_text(f"version: 1\nname: bare\ntarget: docker\nmirror: clusters/production\nservices:\n{db_service()}\n")
    up = devenv("up", name, "--profile", str(bare))
    assert up.returncode == 0, up.stderr
    try:
        result = devenv("env", name)  # stdout is a pipe, as in `devenv env NAME > .env`
        assert result.returncode == 0, result.stderr
        assert "DEVENV_DB_PASSWORD='********'" in result.stdout
        assert "has no environment values" in result.stderr
        assert "passwords are masked (********) in DEVENV_DB_PASSWORD" in result.stderr
        shown = devenv("env", name, "--show-secrets")
        assert "DEVENV_DB_PASSWORD='********'" not in shown.stdout and "masked" not in shown.stderr
    finally:
        assert devenv("down", name).returncode == 0
