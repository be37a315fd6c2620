"""The `aws` swap: a local AWS API endpoint from moto's server mode (Secrets Manager and the rest moto serves),
ready when Secrets Manager answers ListSecrets; and the seeding of its Secrets Manager from the profile's
`secrets:`, converged on every `up` (created, updated, and deleted when devenv made them and they are gone)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from typing import Iterable, Mapping

from devenv.errors import DevenvError
from devenv.domain.facts import AWS_REGION, LOCAL_ACCESS_KEY_ID, LOCAL_SECRET_ACCESS_KEY, Endpoint
from devenv.domain.profile_secrets import Generated, SecretSpec
from devenv.domain.profiles import Profile, ServiceSpec, render_template
from devenv.services.base import Swap

MOTO_VERSION = "5.2.3"  # PyPI moto[server] and the upstream motoserver/moto tag; tests/lab/moto builds the same
MANAGED_TAG = "devenv.managed"  # on every secret devenv created: only those are ever updated or deleted


class SeedingFailed(DevenvError):
    """The profile's secrets could not be written to the local Secrets Manager."""


class AWS(Swap):
    type = "aws"
    repository = "motoserver/moto"
    image_variable = "DEVENV_AWS_IMAGE"
    container_port = 5000  # moto_server's default; both images run it with -H 0.0.0.0
    data_path = "/var/lib/devenv-aws"  # moto keeps its state in memory: the volume holds only the labels
    readiness_timeout = 60.0
    poll_interval = 0.1
    # The key generated values are derived from (HMAC): each environment its own, stable across its `up`s.
    credential_keys = ("seed",)

    def image(self, spec: ServiceSpec) -> str:
        return os.environ.get(self.image_variable) or spec.image or f"{self.repository}:{spec.version or MOTO_VERSION}"

    def environment(self, spec: ServiceSpec) -> dict[str, str]:
        return {"MOTO_DEFAULT_REGION": AWS_REGION}

    def ready_when(self, spec: ServiceSpec, endpoint: Endpoint) -> str:
        return f"Secrets Manager ListSecrets answering at http://{endpoint.host}:{endpoint.port}"

    def probe(self, spec: ServiceSpec, endpoint: Endpoint, credentials: Mapping[str, str]) -> None:
        secretsmanager(endpoint, timeout=2).list_secrets(MaxResults=1)


def secretsmanager(endpoint: Endpoint, *, timeout: float = 10):
    """A boto3 Secrets Manager client of the stand-in at `endpoint`, with its local credentials and no retries."""
    import boto3  # only an environment with an aws service pays for it
    from botocore.config import Config

    return boto3.session.Session().client(
        "secretsmanager", endpoint_url=f"http://{endpoint.host}:{endpoint.port}", region_name=AWS_REGION,
        aws_access_key_id=LOCAL_ACCESS_KEY_ID, aws_secret_access_key=LOCAL_SECRET_ACCESS_KEY,
        config=Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1}),
    )


def boto3_session(facts: Mapping[str, str]):
    """A boto3 Session for an `aws` service's facts (the pytest plugin's): its region and local access key; a
    client from it still needs `endpoint_url=facts["url"]` unless AWS_ENDPOINT_URL is set."""
    import boto3

    return boto3.session.Session(aws_access_key_id=facts["access_key_id"],
                                 aws_secret_access_key=facts["secret_access_key"], region_name=facts["region"])


def generated_value(seed: str, secret: str, key: str, length: int) -> str:
    """A password derived from the environment's seed and where it is used: the same on every `up` of one
    environment, another in every other environment."""
    digest = hmac.new(seed.encode(), f"{secret}\0{key}".encode(), hashlib.sha512).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:length]


def secret_strings(declared: Iterable[SecretSpec], facts: Mapping[str, Mapping[str, str]], env: Mapping[str, str],
                   seed: str) -> dict[str, str]:
    """Each declared secret's SecretString, from the services' facts (as the secret's readers see them)."""
    out = {}
    for secret in declared:
        if secret.from_service is not None:
            db = facts[secret.from_service]
            port = int(db["port"]) if str(db["port"]).isdigit() else db["port"]
            out[secret.name] = json.dumps({"username": db["user"], "password": db["password"], "host": db["host"],
                                           "port": port, "dbname": db["database"], "engine": "mariadb"})
        elif secret.value is not None:
            out[secret.name] = render_template(secret.value, facts, env)
        elif secret.generated is not None:
            out[secret.name] = generated_value(seed, secret.name, "", secret.generated.length)
        else:
            out[secret.name] = json.dumps({
                key: generated_value(seed, secret.name, key, item.length) if isinstance(item, Generated)
                else render_template(item, facts, env) for key, item in secret.data.items()})
    return out


def namespace_seed(profile: Profile, environment: str, namespace: str, service: str,
                   credentials: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """The SecretStrings the aws service `service` of a namespace environment is seeded with: from the facts as
    the namespace's pods see them (the Services' in-cluster names) and the environment's real passwords."""
    from devenv.domain.facts import cluster_facts
    from devenv.services import SWAPS  # the registry imports this module: asked at call time

    passwords = {name: c["password"] for name, c in credentials.items() if "password" in c}
    facts = cluster_facts(profile, environment, namespace, passwords, swaps=SWAPS)
    mine = [d for d in profile.secrets if d.service in (None, service)]
    return secret_strings(mine, facts, {"name": environment, "namespace": namespace}, credentials[service]["seed"])


def converge_secrets(endpoint: Endpoint, wanted: Mapping[str, str], *, environment: str) -> list[str]:
    """Make the stand-in's secrets what `wanted` says (name -> SecretString): create the missing, update the
    changed, delete those devenv made (its tag) that are no longer wanted; one line per change. A secret of the
    same name that devenv did not make is refused, never overwritten."""
    from botocore.exceptions import BotoCoreError, ClientError

    client = secretsmanager(endpoint)
    changes = []
    try:
        existing = {}
        for page in client.get_paginator("list_secrets").paginate():
            for entry in page["SecretList"]:
                existing[entry["Name"]] = {t["Key"]: t["Value"] for t in entry.get("Tags") or ()}
        for name, value in wanted.items():
            if name not in existing:
                client.create_secret(Name=name, SecretString=value,
                                     Tags=[{"Key": MANAGED_TAG, "Value": "true"},
                                           {"Key": "devenv.environment", "Value": environment}])
                changes.append(f"secret {name}: created")
                continue
            if existing[name].get(MANAGED_TAG) != "true":
                raise SeedingFailed(f"secret {name} exists in the local Secrets Manager but devenv did not create it, "
                                    "so devenv will not overwrite it",
                                    hint="delete it, or rename the secret in the profile's `secrets:`")
            if client.get_secret_value(SecretId=name).get("SecretString") != value:
                client.put_secret_value(SecretId=name, SecretString=value)
                changes.append(f"secret {name}: updated")
        for name, tags in existing.items():
            if name not in wanted and tags.get(MANAGED_TAG) == "true":
                client.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
                changes.append(f"secret {name}: deleted (no longer in the profile)")
    except (BotoCoreError, ClientError) as exc:
        raise SeedingFailed(f"seeding the local Secrets Manager at http://{endpoint.host}:{endpoint.port} failed: "
                            f"{exc}") from None
    return changes


def list_secrets(endpoint: Endpoint) -> list[str]:
    """The names of the secrets devenv made in the stand-in (for `status`)."""
    client = secretsmanager(endpoint, timeout=3)
    return sorted(entry["Name"] for page in client.get_paginator("list_secrets").paginate()
                  for entry in page["SecretList"]
                  if any(t["Key"] == MANAGED_TAG and t["Value"] == "true" for t in entry.get("Tags") or ()))
