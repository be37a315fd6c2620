"""A data service as Kubernetes objects in a namespace environment: a Secret with its generated credentials,
its seed files in a ConfigMap (where the image loads them at first start), a Service named after it, and a
StatefulSet with one replica, a PersistentVolumeClaim for its data and a readiness probe that runs a real
query in the pod (MariaDB: the image's healthcheck.sh connects and checks InnoDB; OpenSearch: cluster
health at least yellow). The `aws` stand-in, whose state lives in memory, is a Deployment instead: its
Secrets Manager seed in a Secret, the script that starts moto and seeds it in a ConfigMap, a readiness probe
that calls ListSecrets, and the seed's checksum on its pod template, so a changed seed rolls it."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from devenv.domain import labels as keys
from devenv.errors import ProfileError
from devenv.domain.profiles import NamespaceSpec, ServiceSpec
from devenv.services import swap_for

CONFIGMAP_LIMIT = 1024 * 1024  # the API server's limit on a ConfigMap (etcd's request size)
MEMORY = {"mariadb": "1Gi", "opensearch": "2Gi", "aws": "512Mi"}  # a limit when the profile sets none: the defaults do not fit


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

    def controller(self, service_type: str) -> dict:
        """What runs the service's pod: a Deployment for the `aws` stand-in, a StatefulSet for the others."""
        if service_type == "aws":
            return {"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": self.service, "namespace": self.namespace}}
        return self.statefulset

    @property
    def start(self) -> str:
        return f"{self.service}-start"


def credentials_secret(spec: ServiceSpec, namespace: str, tags: Mapping[str, str],
                       credentials: Mapping[str, str]) -> dict:
    names = Workload(spec.name, namespace)
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": names.secret, "namespace": namespace, "labels": _tags(tags, spec)},
            "stringData": dict(credentials)}


def objects(spec: ServiceSpec, namespace: str, tags: Mapping[str, str], image: str,
            settings: NamespaceSpec, seed: Mapping[str, str] | None = None) -> list[dict]:
    """The seed ConfigMap (when the image loads seeds itself), the Service and the StatefulSet; the
    credentials Secret is made apart (its values are kept across `up`s). For an `aws` service, its
    objects (`aws_objects`) with `seed`, the SecretStrings of its Secrets Manager (name -> value)."""
    if spec.type == "aws":
        return aws_objects(spec, namespace, tags, image, seed or {})
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


AWS_SCRIPT = Path(__file__).with_name("aws_pod.py")  # the pod's start script and readiness probe
AWS_SCRIPT_DIR, AWS_SEED_DIR = "/opt/devenv-aws", "/etc/devenv-aws"
AWS_USER = 10001  # any uid: the image's Python and moto are readable by all


def aws_objects(spec: ServiceSpec, namespace: str, tags: Mapping[str, str], image: str,
                seed: Mapping[str, str]) -> list[dict]:
    """The `aws` stand-in: the seed Secret (`secrets.json`: name -> SecretString, the environment's real
    passwords in it), the start script's ConfigMap, the Service and a Deployment of one pod (Recreate: never
    two stand-ins at once) that runs the script, ready when ListSecrets holds every seeded secret. moto keeps
    its state in memory, so a new pod starts from the seed alone: a changed seed (its checksum on the pod
    template) rolls the pod, and the new one holds exactly the profile's secrets."""
    from devenv.domain.facts import AWS_REGION, LOCAL_ACCESS_KEY_ID, LOCAL_SECRET_ACCESS_KEY

    swap = swap_for(spec.type)
    names = Workload(spec.name, namespace)
    labelled = _tags(tags, spec)
    selector = {"app.kubernetes.io/name": spec.name, keys.ENVIRONMENT: tags[keys.ENVIRONMENT], keys.SERVICE: spec.name}
    meta = lambda name: {"name": name, "namespace": namespace, "labels": labelled}  # noqa: E731
    seed_json = json.dumps(dict(seed), sort_keys=True)
    script = AWS_SCRIPT.read_text()
    checksum = hashlib.sha256(f"{seed_json}\0{script}".encode()).hexdigest()[:32]
    probe = ["python3", f"{AWS_SCRIPT_DIR}/start.py", "ready"]
    env = {**swap.environment(spec), "AWS_DEFAULT_REGION": AWS_REGION, "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY_ID,
           "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_ACCESS_KEY, "DEVENV_AWS_PORT": str(swap.container_port),
           "DEVENV_AWS_SEED": f"{AWS_SEED_DIR}/secrets.json", "DEVENV_ENVIRONMENT": tags[keys.ENVIRONMENT],
           "PYTHONDONTWRITEBYTECODE": "1"}
    container = {
        "name": spec.type, "image": image, "command": ["python3", f"{AWS_SCRIPT_DIR}/start.py"],
        "env": [{"name": k, "value": v} for k, v in env.items()],
        "ports": [{"name": spec.type, "containerPort": swap.container_port}],
        "volumeMounts": [{"name": "start", "mountPath": AWS_SCRIPT_DIR, "readOnly": True},
                         {"name": "seed", "mountPath": AWS_SEED_DIR, "readOnly": True}],
        # boto3's import alone takes a second on a busy node: the probe's timeout leaves room for it
        "readinessProbe": {"exec": {"command": probe}, "periodSeconds": 5, "timeoutSeconds": 15,
                           "failureThreshold": 3},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                      "limits": {"memory": memory_quantity(spec.memory) or MEMORY[spec.type]}},
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    return [
        {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": meta(names.seed),
         "stringData": {"secrets.json": seed_json}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(names.start), "data": {"start.py": script}},
        {"apiVersion": "v1", "kind": "Service", "metadata": meta(spec.name),
         "spec": {"selector": selector, "ports": [{"name": spec.type, "port": swap.container_port,
                                                   "targetPort": swap.container_port}]}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(spec.name),
         "spec": {"replicas": 1, "strategy": {"type": "Recreate"}, "selector": {"matchLabels": selector},
                  "template": {"metadata": {"labels": {**labelled, **selector},
                                            "annotations": {keys.CONFIG_HASH: checksum}},
                               # what Pod Security's `restricted` asks: moto needs no root
                               "spec": {"securityContext": {"runAsNonRoot": True, "runAsUser": AWS_USER,
                                                            "seccompProfile": {"type": "RuntimeDefault"}},
                                        "containers": [container],
                                        "volumes": [{"name": "start", "configMap": {"name": names.start}},
                                                    {"name": "seed", "secret": {"secretName": names.seed}}],
                                        "automountServiceAccountToken": False}}}},
    ]


# A real query in the pod: the image's own health check (it logs in over a socket with the account the
# entry point makes for it), else (an image without healthcheck.sh, as the offline build) the service's own
# account logs in over TCP and runs SELECT 1; and OpenSearch's cluster health, answered 200 only at yellow or green.
_MARIADB_READY = ('if command -v healthcheck.sh >/dev/null 2>&1; then exec healthcheck.sh --connect --innodb_initialized; '
                  'fi; MYSQL_PWD="${MARIADB_PASSWORD:-$MARIADB_ROOT_PASSWORD}" exec mariadb --protocol=tcp -h127.0.0.1 '
                  '-u"${MARIADB_USER:-root}" -e "SELECT 1" "$MARIADB_DATABASE"')
READINESS = {
    "mariadb": {"exec": {"command": ["sh", "-c", _MARIADB_READY]}},
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
