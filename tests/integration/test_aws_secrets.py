"""The `aws` service on real Docker: moto's server as a container beside a real MariaDB, its Secrets Manager
seeded from the profile on `up` and converged on re-`up`; an AWS SDK (boto3) given only the environment's
values reads the RDS-style secret and logs in to that environment's MariaDB with it; two environments hold
different passwords; `down` leaves nothing (the suite's census)."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from devenv.lifecycle import environments
from devenv.domain.profile_secrets import Generated, SecretSpec
from devenv.domain.profiles import EnvironmentSpec, Profile, ServiceSpec

pytestmark = [pytest.mark.docker, pytest.mark.mariadb_image]

import boto3  # noqa: E402 - a dependency of devenv: missing is an error, not a skip
import pymysql  # noqa: E402 - a dependency of devenv


def aws_image() -> str:
    return os.environ.get("DEVENV_AWS_IMAGE") or "motoserver/moto:5.2.3"


@pytest.fixture(autouse=True)
def _aws_image_present():
    from docker_env import engine

    from devenv.clients import docker

    client, why = engine()
    if client is None:
        pytest.skip(why)
    if not docker.image_present(client, aws_image()):
        pytest.skip(f"image {aws_image()} is not present locally and tests never pull: build it with "
                    "`export DEVENV_AWS_IMAGE=$(make -s moto-image)`")


def _profile(tmp_path: Path, *secrets: SecretSpec) -> Profile:
    path = tmp_path / "aws.yaml"
    path.write_text("# made by the test\n")
    return Profile(
        name="aws-test", description="", target="docker", mirror="", path=path, ttl="1h", ttl_seconds=3600,
        services=(ServiceSpec(name="db", type="mariadb", version="10.11", user="loans", database="loans"),
                  ServiceSpec(name="aws", type="aws", version="")),
        environment=EnvironmentSpec(data={"DB_HOST": "{services.db.host}"}),
        secrets=secrets,
    )


SECRETS = (SecretSpec(name="loans/db", from_service="db"), SecretSpec(name="loans/api", generated=Generated()),
           SecretSpec(name="loans/url", value="mysql://{services.db.host}:{services.db.port}/{env.name}"))


def _sdk(values: dict[str, str]):
    """A boto3 Secrets Manager client configured by nothing but those variables, as a service's SDK is."""
    saved = dict(os.environ)
    try:
        for key in [k for k in os.environ if k.startswith("AWS_")]:
            del os.environ[key]
        os.environ.update(values)
        os.environ["AWS_CONFIG_FILE"] = os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
        return boto3.session.Session().client("secretsmanager")
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _aws_variables(env) -> dict[str, str]:
    return {k: v for k, v in {**env.values, **env.secrets}.items() if k.startswith("AWS_")}


def test_an_sdk_reads_the_rds_secret_and_logs_in(tmp_path, new_env, monkeypatch) -> None:
    monkeypatch.setenv("DEVENV_AWS_IMAGE", aws_image())
    profile = _profile(tmp_path, *SECRETS)
    one, two = new_env("aws"), new_env("aws")
    first = environments.up(one, profile, cache=False)
    second = environments.up(two, profile, cache=False)
    try:
        assert set(_aws_variables(first)) == {"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_REGION",
                                              "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
        assert f"aws: secret loans/db: created" in first.changes
        passwords = []
        for env in (first, second):
            sdk = _sdk(_aws_variables(env))
            rds = json.loads(sdk.get_secret_value(SecretId="loans/db")["SecretString"])
            assert {k: rds[k] for k in ("username", "dbname", "engine", "host")} == {
                "username": "loans", "dbname": "loans", "engine": "mariadb", "host": "127.0.0.1"}
            connection = pymysql.connect(host=rds["host"], port=rds["port"], user=rds["username"],
                                         password=rds["password"], database=rds["dbname"], connect_timeout=5)
            with connection, connection.cursor() as cursor:
                cursor.execute("SELECT DATABASE()")
                assert cursor.fetchone() == ("loans",)
            assert rds["password"] == env.services["db"]["password"]
            url = sdk.get_secret_value(SecretId="loans/url")["SecretString"]
            assert url == f"mysql://127.0.0.1:{env.services['db']['port']}/{env.name}"
            passwords.append((rds["password"], sdk.get_secret_value(SecretId="loans/api")["SecretString"]))
        assert passwords[0][0] != passwords[1][0] and passwords[0][1] != passwords[1][1]
        from devenv.cli.status import aws_secrets

        assert aws_secrets(environments.status(one)) == ["aws secrets: loans/api, loans/db, loans/url"]

        # Re-up, unchanged: nothing is written. Changed: updated; removed: deleted; the generated value stays.
        again = environments.up(one, profile, cache=False)
        assert not [c for c in again.changes if "secret" in c]
        changed = replace(profile, secrets=(SecretSpec(name="loans/db", from_service="db"),
                                            SecretSpec(name="loans/url", value="changed {env.name}")))
        third = environments.up(one, changed, cache=False)
        assert [c for c in third.changes if "secret" in c] == [
            "aws: secret loans/url: updated", "aws: secret loans/api: deleted (no longer in the profile)"]
        sdk = _sdk(_aws_variables(third))
        assert sdk.get_secret_value(SecretId="loans/url")["SecretString"] == f"changed {one}"
        assert sorted(s["Name"] for s in sdk.list_secrets()["SecretList"]) == ["loans/db", "loans/url"]
    finally:
        environments.down(one)
        environments.down(two)


def test_a_stand_in_that_does_not_answer_is_named_with_its_logs(tmp_path, new_env, monkeypatch) -> None:
    """An image that is no moto server (MariaDB's, which exits without its root password): `up` stops naming the
    aws service, what it waited for and the container's last log lines, and removes what it created."""
    from docker_env import leftovers

    from devenv.errors import ReadinessTimeout

    monkeypatch.setenv("DEVENV_AWS_IMAGE", os.environ.get("DEVENV_MARIADB_IMAGE") or "mariadb:10.11")
    monkeypatch.setenv("DEVENV_READY_TIMEOUT", "60")
    name = new_env("aws")
    profile = replace(_profile(tmp_path), services=(ServiceSpec(name="aws", type="aws", version=""),))
    with pytest.raises(ReadinessTimeout) as failure:
        environments.up(name, profile, cache=False)
    err = failure.value
    assert err.message.startswith("aws (aws) ")
    assert any("Secrets Manager ListSecrets" in line for line in err.context)
    logs = err.context[err.context.index("last log lines:") + 1:]
    assert logs and any("MARIADB" in line or "password" in line.lower() for line in logs), err.context
    assert leftovers(name) == []
