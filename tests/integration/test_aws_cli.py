"""The `aws` service through the real CLI: `devenv up` of a profile file with MariaDB, aws and `secrets:`, then an
AWS SDK configured by nothing but `devenv env --format json --show-secrets` reads the RDS-style secret and logs
in with it; `down` leaves nothing (the suite's census)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_aws_secrets import _aws_image_present, _sdk, aws_image  # noqa: F401 - the image check is an autouse fixture

pytestmark = [pytest.mark.docker, pytest.mark.mariadb_image]

import pymysql  # noqa: E402 - a dependency of devenv


def test_the_cli_env_json_is_all_an_sdk_needs(new_env, monkeypatch) -> None:
    """`devenv up` of a profile file with MariaDB, aws and `secrets:`; boto3 given only the values and secrets of
    `devenv env --format json --show-secrets` reads the RDS-style secret, and its password logs in; `down`."""
    from docker_env import devenv

    monkeypatch.setenv("DEVENV_AWS_IMAGE", aws_image())
    profile = Path(__file__).resolve().parents[1] / "data" / "aws" / "loans.yaml"
    name = new_env("aws")
    up = devenv("up", name, "--profile", str(profile), "--no-cache")
    assert up.returncode == 0, up.stderr
    try:
        shown = devenv("env", name, "--format", "json", "--show-secrets")
        assert shown.returncode == 0, shown.stderr
        env = json.loads(shown.stdout)
        variables = {k: v for k, v in {**env["values"], **env["secrets"]}.items() if k.startswith("AWS_")}
        assert variables["AWS_SECRET_ACCESS_KEY"] != "********"
        rds = json.loads(_sdk(variables).get_secret_value(SecretId="loans/db")["SecretString"])
        connection = pymysql.connect(host=rds["host"], port=rds["port"], user=rds["username"],
                                     password=rds["password"], database=rds["dbname"], connect_timeout=5)
        with connection, connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            assert cursor.fetchone() == (1,)
        masked = json.loads(devenv("env", name, "--format", "json").stdout)
        assert masked["secrets"]["AWS_SECRET_ACCESS_KEY"] == "********"
    finally:
        down = devenv("down", name)
        assert down.returncode == 0, down.stderr
