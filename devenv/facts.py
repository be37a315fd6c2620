"""Connection facts of the swapped data services, as seen from where a client runs, and the
`environment` ConfigMap / Secret devenv writes from them in place of Terraform's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from devenv.profiles import Profile, ServiceSpec, render_template

CONTAINER_PORTS = {"mariadb": 3306, "opensearch": 9200}
# Shown where a value only exists once `devenv up` has generated it (offline render).
GENERATED_PLACEHOLDER = "generated-by-devenv-up"


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int


def container_name(environment: str, service: str) -> str:
    return f"devenv-{environment}-{service}"


def cluster_endpoint(profile: Profile, environment: str, svc: ServiceSpec, namespace: str | None = None) -> Endpoint:
    """Where an in-cluster workload reaches a service: the container on the kind network, or the
    StatefulSet's Service in the environment's namespace."""
    port = CONTAINER_PORTS[svc.type]
    if profile.target == "namespace":
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
    else:
        facts["url"] = f"http://{endpoint.host}:{endpoint.port}"
    return facts


def environment_values(profile: Profile, environment: str, facts: Mapping[str, Mapping[str, str]],
                       namespace: str | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """The profile's environment templates filled in: (ConfigMap data, Secret data)."""
    env = {"name": environment, "namespace": namespace or profile.environment.namespace}
    data = {k: render_template(t, facts, env) for k, t in profile.environment.data.items()}
    secret = {k: render_template(t, facts, env) for k, t in profile.environment.secret_data.items()}
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
                  passwords: Mapping[str, str] | None = None) -> dict[str, dict[str, str]]:
    """Facts of every service as in-cluster workloads see them (passwords as placeholders unless given)."""
    passwords = passwords or {}
    return {
        svc.name: service_facts(svc, cluster_endpoint(profile, environment, svc, namespace), passwords.get(svc.name))
        for svc in profile.services
    }
