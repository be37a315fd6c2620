"""The `aws` swap and Secrets Manager seeding against moto itself (its server in a thread, the code the
stand-in's container runs): readiness, create/update/delete convergence and the refusal of secrets devenv did
not make; RDS-style and generated values; the AWS variables of the environment ConfigMap/Secret; the
`secrets:` section's validation with file and line."""

from __future__ import annotations

import json
import socket
from dataclasses import replace
from pathlib import Path

import pytest

from devenv.domain.facts import Endpoint, environment_objects, environment_values, service_facts
from devenv.domain.profile_secrets import Generated, SecretSpec, parse_secrets
from devenv.domain.profiles import EnvironmentSpec, Profile, ServiceSpec, _parse, _Validator
from devenv.services import swap_for
from devenv.services.aws import (MANAGED_TAG, SeedingFailed, converge_secrets, generated_value, list_secrets,
                                 secret_strings, secretsmanager)

import moto.server as moto_server  # noqa: E402 - a test dependency (pyproject [test]): missing is an error

DB = ServiceSpec(name="db", type="mariadb", version="10.11", user="loans", database="loans")
AWS = ServiceSpec(name="aws", type="aws", version="")


@pytest.fixture(scope="module")
def endpoint():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield Endpoint("127.0.0.1", port)
    server.stop()


@pytest.fixture
def clean(endpoint):
    client = secretsmanager(endpoint)
    for entry in client.list_secrets()["SecretList"]:
        client.delete_secret(SecretId=entry["Name"], ForceDeleteWithoutRecovery=True)
    return endpoint


def _value(endpoint: Endpoint, name: str) -> str:
    return secretsmanager(endpoint).get_secret_value(SecretId=name)["SecretString"]


def test_probe_is_a_real_list_secrets_call(endpoint) -> None:
    swap = swap_for("aws")
    swap.probe(AWS, endpoint, {})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = Endpoint("127.0.0.1", s.getsockname()[1])
    with pytest.raises(Exception):
        swap.probe(AWS, closed, {})
    assert "ListSecrets" in swap.ready_when(AWS, endpoint)


def test_image_pinned_and_overridden(monkeypatch) -> None:
    swap = swap_for("aws")
    monkeypatch.delenv("DEVENV_AWS_IMAGE", raising=False)
    assert swap.image(AWS) == "motoserver/moto:5.2.3"
    monkeypatch.setenv("DEVENV_AWS_IMAGE", "devenv-offline/moto:5.2.3")
    assert swap.image(AWS) == "devenv-offline/moto:5.2.3"


def test_converge_creates_updates_and_deletes_only_its_own(clean) -> None:
    endpoint = clean
    assert converge_secrets(endpoint, {"a": "1", "b": "2"}, environment="e1") == ["secret a: created",
                                                                                 "secret b: created"]
    assert converge_secrets(endpoint, {"a": "1", "b": "2"}, environment="e1") == []  # nothing changed: nothing done
    assert converge_secrets(endpoint, {"a": "changed"}, environment="e1") == [
        "secret a: updated", "secret b: deleted (no longer in the profile)"]
    assert _value(endpoint, "a") == "changed"
    assert list_secrets(endpoint) == ["a"]
    tags = {t["Key"]: t["Value"] for t in secretsmanager(endpoint).describe_secret(SecretId="a")["Tags"]}
    assert tags == {MANAGED_TAG: "true", "devenv.environment": "e1"}
    # A secret devenv did not make is neither deleted when undeclared nor overwritten when declared.
    secretsmanager(endpoint).create_secret(Name="by-hand", SecretString="keep me")
    assert converge_secrets(endpoint, {"a": "changed"}, environment="e1") == []
    with pytest.raises(SeedingFailed, match="by-hand exists .* devenv did not create it"):
        converge_secrets(endpoint, {"by-hand": "mine"}, environment="e1")
    assert _value(endpoint, "by-hand") == "keep me"


def test_converge_names_the_endpoint_when_it_does_not_answer() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SeedingFailed, match=f"http://127.0.0.1:{port} failed"):
        converge_secrets(Endpoint("127.0.0.1", port), {"a": "1"}, environment="e1")


def test_rds_style_secret_holds_the_environments_own_password() -> None:
    facts = {"db": service_facts(DB, Endpoint("127.0.0.1", 33061), "s3cret-of-this-env")}
    declared = [SecretSpec(name="loans/db", from_service="db")]
    value = json.loads(secret_strings(declared, facts, {"name": "e1"}, seed="x")["loans/db"])
    assert value == {"username": "loans", "password": "s3cret-of-this-env", "host": "127.0.0.1", "port": 33061,
                     "dbname": "loans", "engine": "mariadb"}


def test_generated_values_are_stable_per_environment_and_differ_between_them() -> None:
    declared = [SecretSpec(name="api", generated=Generated(length=30)),
                SecretSpec(name="cfg", data={"user": "{env.name}", "token": Generated()})]
    one = secret_strings(declared, {}, {"name": "e1"}, seed="seed-of-e1")
    again = secret_strings(declared, {}, {"name": "e1"}, seed="seed-of-e1")
    other = secret_strings(declared, {}, {"name": "e2"}, seed="seed-of-e2")
    assert one == again
    assert len(one["api"]) == 30 and one["api"] != other["api"]
    cfg = json.loads(one["cfg"])
    assert cfg["user"] == "e1" and len(cfg["token"]) == 24 and cfg["token"] != json.loads(other["cfg"])["token"]
    assert cfg["token"] != one["api"][:24]  # each use its own value
    assert generated_value("s", "api", "", 24) != generated_value("s", "api2", "", 24)


def _profile(**environment) -> Profile:
    return Profile(name="p", description="", target="docker", mirror="", path=Path("p.yaml"), services=(DB, AWS),
                   environment=EnvironmentSpec(**environment))


def test_environment_values_carry_the_stand_in_for_aws_sdks() -> None:
    facts = {"db": service_facts(DB, Endpoint("127.0.0.1", 3306), "pw"),
             "aws": service_facts(AWS, Endpoint("127.0.0.1", 45123), None)}
    data, secret = environment_values(_profile(data={"DB_HOST": "{services.db.host}"}), "e1", facts)
    assert data == {"AWS_ENDPOINT_URL": "http://127.0.0.1:45123", "AWS_ENDPOINT_URL_SECRETS_MANAGER":
                    "http://127.0.0.1:45123", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
                    "AWS_ACCESS_KEY_ID": "devenv-local", "DB_HOST": "127.0.0.1"}
    assert secret == {"AWS_SECRET_ACCESS_KEY": "devenv-local-secret"}
    # The profile's own template wins, in the section it is written in.
    data, secret = environment_values(_profile(secret_data={"AWS_ACCESS_KEY_ID": "x"}), "e1", facts)
    assert "AWS_ACCESS_KEY_ID" not in data and secret["AWS_ACCESS_KEY_ID"] == "x"
    objects = environment_objects(_profile(), "e1", facts, labels={})
    assert [o["kind"] for o in objects] == ["ConfigMap", "Secret"]  # the Secret exists for the secret key alone
    assert objects[1]["stringData"] == {"AWS_SECRET_ACCESS_KEY": "devenv-local-secret"}
    without = Profile(name="p", description="", target="docker", mirror="", path=Path("p.yaml"), services=(DB,))
    assert environment_values(without, "e1", {"db": facts["db"]}) == ({}, {})


PROFILE = """\
version: 1
services:
  db: {type: mariadb}
  search: {type: opensearch}
  aws: {type: aws}
secrets:
  loans/db: {fromService: db}
  loans/api: {generate: password}
  loans/url: "mysql://{services.db.host}/{env.name}"
  loans/cfg:
    data: {user: "{services.db.user}", token: {generate: {length: 32}}}
"""


def _parse_secrets(text: str, tmp_path: Path):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    data, lines = _parse(text, path)
    validator = _Validator(path, lines)
    services = (DB, ServiceSpec(name="search", type="opensearch", version="2"), AWS)
    return parse_secrets(validator, data.get("secrets"), services), validator.problems, path


def test_secrets_section_parses_every_form(tmp_path) -> None:
    secrets, problems, _ = _parse_secrets(PROFILE, tmp_path)
    assert problems == []
    assert secrets == (
        SecretSpec(name="loans/db", from_service="db"),
        SecretSpec(name="loans/api", generated=Generated()),
        SecretSpec(name="loans/url", value="mysql://{services.db.host}/{env.name}"),
        SecretSpec(name="loans/cfg", data={"user": "{services.db.user}", "token": Generated(length=32)}),
    )


def test_secrets_section_errors_name_file_line_and_field(tmp_path) -> None:
    text = PROFILE.split("secrets:")[0] + """\
secrets:
  a: {fromService: nope}
  b: {fromService: search}
  c: "{services.nope.host}"
  d: "{services.db.colour}"
  e: {value: x, generate: password}
  f: {generate: {length: 4}}
"""
    secrets, problems, path = _parse_secrets(text, tmp_path)
    assert problems == [
        f"{path}:7: secrets.a.fromService: no service named 'nope' in services",
        f"{path}:8: secrets.b.fromService: service 'search' is opensearch: an RDS-style secret is made for a "
        "mariadb service",
        f"{path}:9: secrets.c: {{services.nope.host}}: no service named 'nope' in services",
        f"{path}:10: secrets.d: {{services.db.colour}}: service 'db' (mariadb) has no fact 'colour' "
        "(it has: host, port, url, user, password, database)",
        f"{path}:11: secrets.e: needs exactly one of fromService, value, generate, data (it has value, generate)",
        f"{path}:12: secrets.f.generate.length: 4 is not a length from 12 to 128",
    ]
    assert "a" not in [s.name for s in secrets]  # (the loader raises on any problem: nothing is created)


def test_secrets_need_an_aws_service(tmp_path) -> None:
    path = tmp_path / "p.yaml"
    text = "version: 1\nsecrets:\n  a: x\n"
    path.write_text(text)
    data, lines = _parse(text, path)
    validator = _Validator(path, lines)
    parse_secrets(validator, data["secrets"], (DB,))
    assert validator.problems == [f"{path}:2: secrets: secrets are seeded into an `aws` service: add one under "
                                  "services (e.g. `aws: {type: aws}`)"]


def test_secrets_hold_the_facts_their_readers_see() -> None:
    """On the docker target the secrets name this machine's ports; on kind the pods' view: the containers on the
    kind network, at their container ports, with the same generated password."""
    from devenv.domain.plan import make_plan
    from devenv.targets import ServiceState
    from devenv.targets.docker import readers_facts

    profile = _profile()
    states = [ServiceState(name="db", type="mariadb", container="c", container_id=None, state="running",
                           health="ready", facts=service_facts(DB, Endpoint("127.0.0.1", 33061), "pw-of-e1"))]
    docker_plan = make_plan("e1", profile)
    rds = json.loads(secret_strings([SecretSpec(name="s", from_service="db")], readers_facts(docker_plan, states),
                                    {"name": "e1"}, seed="x")["s"])
    assert (rds["host"], rds["port"], rds["password"]) == ("127.0.0.1", 33061, "pw-of-e1")
    kind_plan = replace(docker_plan, target="kind")  # (a kind plan needs a platform folder; only its target counts)
    rds = json.loads(secret_strings([SecretSpec(name="s", from_service="db")], readers_facts(kind_plan, states),
                                    {"name": "e1"}, seed="x")["s"])
    assert (rds["host"], rds["port"], rds["password"]) == ("devenv-e1-db", 3306, "pw-of-e1")


def test_a_session_from_the_facts_reaches_the_stand_in(clean) -> None:
    from devenv.services.aws import boto3_session

    facts = service_facts(AWS, clean, None)
    converge_secrets(clean, {"s": "v"}, environment="e1")
    client = boto3_session(facts).client("secretsmanager", endpoint_url=facts["url"])
    assert client.get_secret_value(SecretId="s")["SecretString"] == "v"


def test_env_of_an_existing_environment_carries_the_stand_in() -> None:
    """`devenv env` (environments.attach) computes the values as `up` does: the stand-in's variables too, the
    profile's own template winning where it writes the same key."""
    from devenv.lifecycle.environments import _values_present

    facts = {"db": service_facts(DB, Endpoint("127.0.0.1", 3306), "pw"),
             "aws": service_facts(AWS, Endpoint("127.0.0.1", 45123), None)}
    profile = _profile(data={"DB_HOST": "{services.db.host}"}, secret_data={"AWS_ACCESS_KEY_ID": "mine"})
    assert _values_present(profile, "e1", facts) == environment_values(profile, "e1", facts)
    data, secret = _values_present(profile, "e1", facts)
    assert data["AWS_ENDPOINT_URL_SECRETS_MANAGER"] == "http://127.0.0.1:45123" and "AWS_ACCESS_KEY_ID" not in data
    assert secret == {"AWS_SECRET_ACCESS_KEY": "devenv-local-secret", "AWS_ACCESS_KEY_ID": "mine"}
    assert _values_present(profile, "e1", {"db": facts["db"]}) == ({"DB_HOST": "127.0.0.1"}, {"AWS_ACCESS_KEY_ID": "mine"})


def test_the_plugins_devenv_aws_reaches_the_stand_in(clean) -> None:
    """devenv_aws's value, from an environment as `up` returns it: a client that reads what devenv seeded."""
    from devenv.lifecycle.environments import Environment
    from devenv.pytest_plugin import DevenvServices, _service_facts, aws_stand_in

    facts = {"db": service_facts(DB, Endpoint("127.0.0.1", 3306), "pw"), "aws": service_facts(AWS, clean, None)}
    values, secrets = environment_values(_profile(), "e1", facts)
    env = Environment(name="e1", profile="p", services=facts, values=values, secrets=secrets)
    services = DevenvServices(name="e1", profile="p", target="docker", values=values, secrets=secrets,
                              services={"db": _service_facts("db", "mariadb", facts["db"]),
                                        "aws": _service_facts("aws", "aws", facts["aws"])},
                              environment=env, profile_spec=_profile())
    stand_in = aws_stand_in(services)
    assert (stand_in.endpoint_url, stand_in.region) == (f"http://127.0.0.1:{clean.port}", "us-east-1")
    assert stand_in.env["AWS_ENDPOINT_URL"] == stand_in.endpoint_url and "AWS_SECRET_ACCESS_KEY" in stand_in.env
    converge_secrets(clean, {"loans/db": "x"}, environment="e1")
    assert stand_in.client("secretsmanager").get_secret_value(SecretId="loans/db")["SecretString"] == "x"
    no_aws = DevenvServices(name="e1", profile="p", target="docker", values={}, secrets={},
                            services={"db": services["db"]}, environment=env, profile_spec=_profile())
    assert aws_stand_in(no_aws) is None
