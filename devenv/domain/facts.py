"""Connection facts of the swapped data services, as seen from where a client runs, and the
`environment` ConfigMap / Secret devenv writes from them in place of Terraform's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Protocol

from devenv.domain.profiles import Profile, ServiceSpec, render_template
from devenv.domain.target_rules import RULES

# The local AWS stand-in (an `aws` service, moto): its region, and the access key an AWS SDK needs to sign a
# request at all. moto checks no signature, so these are placeholders, not credentials: they open nothing.
AWS_REGION = "us-east-1"
LOCAL_ACCESS_KEY_ID = "devenv-local"
LOCAL_SECRET_ACCESS_KEY = "devenv-local-secret"
# Shown where a value only exists once `devenv up` has generated it (offline render).
GENERATED_PLACEHOLDER = "generated-by-devenv-up"


class Swap(Protocol):
    """What the facts need of a data-service swap (devenv.services): the port its server listens on."""

    container_port: int


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int


def container_name(environment: str, service: str) -> str:
    return f"devenv-{environment}-{service}"


def cluster_endpoint(profile: Profile, environment: str, svc: ServiceSpec, namespace: str | None = None, *,
                     swaps: Mapping[str, Swap]) -> Endpoint:
    """Where an in-cluster workload reaches a service: the container on the kind network, or the
    StatefulSet's Service in the environment's namespace; on the port of its swap (devenv.services.SWAPS)."""
    port = swaps[svc.type].container_port
    if RULES[profile.target].shared_cluster:
        ns = namespace or f"{profile.namespace.prefix}-{environment}"
        return Endpoint(f"{svc.name}.{ns}.svc.cluster.local", port)
    return Endpoint(container_name(environment, svc.name), port)


def service_facts(svc: ServiceSpec, endpoint: Endpoint, password: str | None) -> dict[str, str]:
    """host, port, url (and user, password, database for MariaDB). URLs never carry the password."""
    facts = {"host": endpoint.host, "port": str(endpoint.port)}
    if svc.type == "mariadb":
        facts.update(
            user=svc.user,
            password=password if password is not None else GENERATED_PLACEHOLDER,
            database=svc.database,
            url=f"mysql://{svc.user}@{endpoint.host}:{endpoint.port}/{svc.database}",
        )
    elif svc.type == "aws":
        facts.update(url=f"http://{endpoint.host}:{endpoint.port}", region=AWS_REGION,
                     access_key_id=LOCAL_ACCESS_KEY_ID, secret_access_key=LOCAL_SECRET_ACCESS_KEY)
    else:
        facts["url"] = f"http://{endpoint.host}:{endpoint.port}"
    return facts


def aws_values(profile: Profile, facts: Mapping[str, Mapping[str, str]]) -> tuple[dict[str, str], dict[str, str]]:
    """What an AWS SDK reads to reach the profile's `aws` stand-in instead of AWS, as (ConfigMap, Secret) values:
    the endpoint (AWS_ENDPOINT_URL, and AWS_ENDPOINT_URL_SECRETS_MANAGER, which SDKs prefer for that service),
    the region (AWS_REGION for most SDKs, AWS_DEFAULT_REGION for boto3) and the local access key. Empty without
    an aws service (or before its facts exist); with several, the first one's."""
    svc = next((s for s in profile.services if s.type == "aws" and s.name in facts), None)
    if svc is None:
        return {}, {}
    aws = facts[svc.name]
    data = {"AWS_ENDPOINT_URL": aws["url"], "AWS_ENDPOINT_URL_SECRETS_MANAGER": aws["url"],
            "AWS_REGION": aws["region"], "AWS_DEFAULT_REGION": aws["region"], "AWS_ACCESS_KEY_ID": aws["access_key_id"]}
    return data, {"AWS_SECRET_ACCESS_KEY": aws["secret_access_key"]}


def environment_values(profile: Profile, environment: str, facts: Mapping[str, Mapping[str, str]],
                       namespace: str | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """The profile's environment templates filled in: (ConfigMap data, Secret data), after the variables of the
    `aws` stand-in when the profile has one (a template of the profile's own with the same key wins)."""
    env = {"name": environment, "namespace": namespace or profile.environment.namespace}
    data, secret = aws_values(profile, facts)
    data.update({k: render_template(t, facts, env) for k, t in profile.environment.data.items()})
    secret.update({k: render_template(t, facts, env) for k, t in profile.environment.secret_data.items()})
    for key in profile.environment.data:
        secret.pop(key, None)
    for key in profile.environment.secret_data:
        data.pop(key, None)
    return data, secret


def environment_objects(profile: Profile, environment: str, facts: Mapping[str, Mapping[str, str]],
                        labels: Mapping[str, str], namespace: str | None = None) -> list[dict]:
    """The `environment` ConfigMap, its Secret when the profile has secret values, then the
    profile's other substituteFrom objects (each in its own namespace, unless `namespace` is given)."""
    data, secret = environment_values(profile, environment, facts, namespace)
    ns = namespace or profile.environment.namespace
    meta = lambda name, ns: {"name": name, "namespace": ns, "labels": dict(labels)}  # noqa: E731
    objects = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(profile.environment.name, ns), "data": data}]
    if secret:
        objects.append({"apiVersion": "v1", "kind": "Secret", "metadata": meta(profile.environment.secret_name, ns),
                        "type": "Opaque", "stringData": secret})
    env = {"name": environment, "namespace": ns}
    for extra in profile.substitute_from:
        values = {k: render_template(t, facts, env) for k, t in extra.data.items()}
        obj = {"apiVersion": "v1", "kind": extra.kind, "metadata": meta(extra.name, namespace or extra.namespace)}
        if extra.kind == "Secret":
            obj.update(type="Opaque", stringData=values)
        else:
            obj["data"] = values
        objects.append(obj)
    return objects


def cluster_facts(profile: Profile, environment: str, namespace: str | None = None,
                  passwords: Mapping[str, str] | None = None, *,
                  swaps: Mapping[str, Swap]) -> dict[str, dict[str, str]]:
    """Facts of every service as in-cluster workloads see them (passwords as placeholders unless given), on the
    ports of their swaps (`swaps`: devenv.services.SWAPS)."""
    passwords = passwords or {}
    return {
        svc.name: service_facts(svc, cluster_endpoint(profile, environment, svc, namespace, swaps=swaps),
                                passwords.get(svc.name))
        for svc in profile.services
    }
