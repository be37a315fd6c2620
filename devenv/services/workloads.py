"""A data service as Kubernetes objects in a namespace environment: a Secret with its generated credentials,
its seed files in a ConfigMap (where the image loads them at first start), a Service named after it, and a
StatefulSet with one replica, a PersistentVolumeClaim for its data and a readiness probe that runs a real
query in the pod (MariaDB: the image's healthcheck.sh connects and checks InnoDB; OpenSearch: cluster
health at least yellow)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Mapping

from devenv.domain import labels as keys
from devenv.errors import ProfileError
from devenv.domain.profiles import NamespaceSpec, ServiceSpec
from devenv.services import swap_for

CONFIGMAP_LIMIT = 1024 * 1024  # the API server's limit on a ConfigMap (etcd's request size)
MEMORY = {"mariadb": "1Gi", "opensearch": "2Gi"}  # a limit when the profile sets none: the defaults do not fit


@dataclass(frozen=True)
class Workload:
    """The names of one service's objects in its namespace."""

    service: str
    namespace: str

    @property
    def secret(self) -> str:
        return f"{self.service}-credentials"

    @property
    def seed(self) -> str:
        return f"{self.service}-seed"

    @property
    def statefulset(self) -> dict:
        return {"apiVersion": "apps/v1", "kind": "StatefulSet",
                "metadata": {"name": self.service, "namespace": self.namespace}}


def credentials_secret(spec: ServiceSpec, namespace: str, tags: Mapping[str, str],
                       credentials: Mapping[str, str]) -> dict:
    names = Workload(spec.name, namespace)
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": names.secret, "namespace": namespace, "labels": _tags(tags, spec)},
            "stringData": dict(credentials)}


def objects(spec: ServiceSpec, namespace: str, tags: Mapping[str, str], image: str,
            settings: NamespaceSpec) -> list[dict]:
    """The seed ConfigMap (when the image loads seeds itself), the Service and the StatefulSet; the
    credentials Secret is made apart (its values are kept across `up`s)."""
    swap = swap_for(spec.type)
    names = Workload(spec.name, namespace)
    labelled = _tags(tags, spec)
    selector = {"app.kubernetes.io/name": spec.name, keys.ENVIRONMENT: tags[keys.ENVIRONMENT], keys.SERVICE: spec.name}
    meta = lambda name: {"name": name, "namespace": namespace, "labels": labelled}  # noqa: E731
    out: list[dict] = []
    mounts, volumes = [{"name": "data", "mountPath": swap.data_path}], []
    if swap.seeds_at_init() and spec.seed:
        out.append(_seed_configmap(spec, meta(names.seed)))
        folder = next(iter(swap.init_files(spec))).rsplit("/", 1)[0]
        mounts.append({"name": "seed", "mountPath": folder, "readOnly": True})
        volumes.append({"name": "seed", "configMap": {"name": names.seed}})
    # secret_environment maps each variable to a credential's value; given the keys as values, it says which key
    secret_keys = swap.secret_environment(spec, {key: key for key in swap.credential_keys})
    env = [{"name": k, "value": v} for k, v in swap.environment(spec).items()]
    env += [{"name": k, "valueFrom": {"secretKeyRef": {"name": names.secret, "key": key}}}
            for k, key in secret_keys.items()]
    env += [{"name": k, "value": v} for k, v in READINESS_ENV.get(spec.type, {}).items()]
    container = {
        "name": spec.type, "image": image, "env": env, "volumeMounts": mounts,
        "ports": [{"name": spec.type, "containerPort": swap.container_port}],
        "readinessProbe": {**READINESS[spec.type], "periodSeconds": 5, "timeoutSeconds": 5, "failureThreshold": 3},
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"},
                      "limits": {"memory": memory_quantity(spec.memory) or MEMORY[spec.type]}},
    }
    claim = {"metadata": {"name": "data", "labels": labelled},
             "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": settings.volume_size}},
                      **({"storageClassName": settings.storage_class} if settings.storage_class else {})}}
    out.append({"apiVersion": "v1", "kind": "Service", "metadata": meta(spec.name),
                "spec": {"selector": selector, "ports": [{"name": spec.type, "port": swap.container_port,
                                                          "targetPort": swap.container_port}]}})
    out.append({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta(spec.name),
                "spec": {"replicas": 1, "serviceName": spec.name, "selector": {"matchLabels": selector},
                         "template": {"metadata": {"labels": {**labelled, **selector}},
                                      "spec": {"containers": [container], "volumes": volumes,
                                               "automountServiceAccountToken": False}},
                         "volumeClaimTemplates": [claim]}})
    return out


# A real query in the pod: the image's own health check (it logs in over a socket with the account the
# entry point makes for it) and OpenSearch's cluster health, answered 200 only at yellow or green.
READINESS = {
    "mariadb": {"exec": {"command": ["healthcheck.sh", "--connect", "--innodb_initialized"]}},
    "opensearch": {"httpGet": {"path": "/_cluster/health?wait_for_status=yellow&timeout=1s", "port": 9200}},
}
READINESS_ENV = {"mariadb": {"MARIADB_MYSQL_LOCALHOST_USER": "1"}}  # makes healthcheck.sh's account


def _seed_configmap(spec: ServiceSpec, meta: dict) -> dict:
    files = swap_for(spec.type).init_files(spec)
    size = sum(len(content) for content in files.values())
    if size > CONFIGMAP_LIMIT * 0.9:
        raise ProfileError(f"service {spec.name}: its seed files ({', '.join(str(p) for p in spec.seed)}) hold "
                           f"{size // 1024} KiB, more than a ConfigMap carries into a namespace environment (1 MiB)",
                           hint="seed a namespace environment with a smaller dump (the schema and a sample), or "
                                "compress it as .sql.gz")
    data, binary = {}, {}
    for path, content in files.items():
        name = path.rsplit("/", 1)[1]
        try:
            data[name] = content.decode("utf-8")
        except UnicodeDecodeError:
            binary[name] = base64.b64encode(content).decode()
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data,
            **({"binaryData": binary} if binary else {})}


def memory_quantity(size: str | None) -> str | None:
    """A profile's memory size (Docker's: 512m, 1g) as a Kubernetes quantity (512Mi, 1Gi): in Kubernetes,
    `512m` would be half a byte."""
    if not size:
        return None
    unit = size[-1].lower()
    return size[:-1] + {"k": "Ki", "m": "Mi", "g": "Gi"}[unit] if unit in "kmg" else size


def _tags(tags: Mapping[str, str], spec: ServiceSpec) -> dict[str, str]:
    return {**tags, keys.SERVICE: spec.name, keys.SERVICE_TYPE: spec.type}
