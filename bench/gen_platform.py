"""Generate a large Flux repository, shaped like components/, for the render benchmark.

    python bench/gen_platform.py OUT_DIR --services 60 [--group-size 10] [--verify]

The infrastructure and cluster folders are copied from components/; the apps are N
generated microservices (apps/base/svc-NNN), grouped into overlays of --group-size
services (apps/<env>/group-NN), each reconciled by its own Flux Kustomization
(apps-NN, dependsOn infra-configs, the same postBuild as components' `apps`), so a
renderer that builds independent Kustomizations in parallel has work to spread.

Every service has a Deployment, Service, ConfigMap and Ingress that read the
`environment` variables; every 4th also has an IRSA ServiceAccount and a Secret
with RDS_PASSWORD, every 10th an AWS-only TargetGroupBinding, so the AWS
exclusion and strict substitution run at scale too. Output is deterministic.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

COMPONENTS = Path(__file__).resolve().parents[1] / "components"

# The overlays that each cluster folder's `apps` Kustomization points at.
REPLICAS = {"production": 2, "staging": 1}

KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
"""

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}-config
  labels:
    app.kubernetes.io/name: {name}
data:
  SERVICE_NAME: {name}
  APP_ENV: ${{ENVIRONMENT}}
  LOG_LEVEL: ${{LOG_LEVEL}}
  PUBLIC_URL: https://{name}.${{DOMAIN}}
  AWS_REGION: ${{AWS_REGION}}
  DB_HOST: ${{RDS_ENDPOINT}}
  DB_NAME: ${{RDS_DATABASE}}
  DB_USER: ${{RDS_USERNAME}}
  DATABASE_URL: jdbc:mariadb://${{RDS_ENDPOINT}}:${{RDS_PORT}}/${{RDS_DATABASE}}
  SEARCH_URL: ${{OPENSEARCH_ENDPOINT}}
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels:
    app.kubernetes.io/name: {name}
spec:
  replicas: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: {name}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {name}
    spec:{service_account}
      containers:
        - name: {name}
          image: ghcr.io/example/{name}:{version}
          ports:
            - name: http
              containerPort: 8080
          envFrom:
            - configMapRef:
                name: {name}-config{secret_env}
          readinessProbe:
            httpGet:
              path: /healthz
              port: http
          resources:
            requests:
              cpu: 50m
              memory: 128Mi
            limits:
              memory: 256Mi
"""

SECRET_ENV = """
          env:
            - name: DB_PASSWORD
              valueFrom:
                secretKeyRef:
                  name: {name}-db
                  key: password"""

SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: {name}
  labels:
    app.kubernetes.io/name: {name}
spec:
  selector:
    app.kubernetes.io/name: {name}
  ports:
    - name: http
      port: 80
      targetPort: http
"""

INGRESS = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {name}
  labels:
    app.kubernetes.io/name: {name}
  annotations:
    cert-manager.io/cluster-issuer: letsencrypt
spec:
  ingressClassName: nginx
  tls:
    - hosts:
        - {name}.${{DOMAIN}}
      secretName: {name}-tls
  rules:
    - host: {name}.${{DOMAIN}}
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: {name}
                port:
                  name: http
"""

SERVICE_ACCOUNT = """\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {name}
  labels:
    app.kubernetes.io/name: {name}
  annotations:
    eks.amazonaws.com/role-arn: arn:aws:iam::${{ACCOUNT_ID}}:role/${{CLUSTER_NAME}}-{name}
"""

SECRET = """\
apiVersion: v1
kind: Secret
metadata:
  name: {name}-db
  labels:
    app.kubernetes.io/name: {name}
type: Opaque
stringData:
  username: ${{RDS_USERNAME}}
  password: ${{RDS_PASSWORD}}
"""

TARGET_GROUP_BINDING = """\
apiVersion: elbv2.k8s.aws/v1beta1
kind: TargetGroupBinding
metadata:
  name: {name}
  labels:
    app.kubernetes.io/name: {name}
spec:
  serviceRef:
    name: {name}
    port: 80
  targetType: ip
  targetGroupARN: arn:aws:elasticloadbalancing:${{AWS_REGION}}:${{ACCOUNT_ID}}:targetgroup/${{CLUSTER_NAME}}-{name}/{tg_id}
"""

NAMESPACE = """\
apiVersion: v1
kind: Namespace
metadata:
  name: {namespace}
"""


def service_name(index: int) -> str:
    return f"svc-{index:03d}"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def resource_list(names: list[str]) -> str:
    return "resources:\n" + "".join(f"  - {n}\n" for n in names)


def generate_service(apps: Path, index: int) -> None:
    name = service_name(index)
    base = apps / "base" / name
    with_secret = index % 4 == 0
    with_binding = index % 10 == 0
    files = {
        "configmap.yaml": CONFIGMAP.format(name=name),
        "deployment.yaml": DEPLOYMENT.format(
            name=name,
            version=f"1.{index % 7}.{index % 5}",
            service_account=f"\n      serviceAccountName: {name}" if with_secret else "",
            secret_env=SECRET_ENV.format(name=name) if with_secret else "",
        ),
        "service.yaml": SERVICE.format(name=name),
        "ingress.yaml": INGRESS.format(name=name),
    }
    if with_secret:
        files["serviceaccount.yaml"] = SERVICE_ACCOUNT.format(name=name)
        files["secret.yaml"] = SECRET.format(name=name)
    if with_binding:
        files["targetgroupbinding.yaml"] = TARGET_GROUP_BINDING.format(
            name=name, tg_id=f"{index * 2654435761 % 16**16:016x}"
        )
    for filename, text in files.items():
        write(base / filename, text)
    write(base / "kustomization.yaml", KUSTOMIZATION + resource_list(sorted(files)))


def generate_group(apps: Path, env: str, group: int, services: list[str]) -> None:
    namespace = f"shop-{group:02d}"
    folder = apps / env / f"group-{group:02d}"
    write(folder / "namespace.yaml", NAMESPACE.format(namespace=namespace))
    text = KUSTOMIZATION + f"namespace: {namespace}\n"
    text += resource_list(["namespace.yaml"] + [f"../../base/{s}" for s in services])
    text += (
        "replicas:\n"
        + "".join(f"  - name: {s}\n    count: {REPLICAS.get(env, 1)}\n" for s in services)
    )
    write(folder / "kustomization.yaml", text)


class _IndentedDumper(yaml.SafeDumper):
    """Indents block sequences under their key, as kubectl and Flux users write them."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def group_kustomizations(template: dict, env: str, groups: int) -> str:
    """The cluster's `apps` Kustomization, split into one per group."""
    docs = []
    for group in range(groups):
        ks = copy.deepcopy(template)
        ks["metadata"]["name"] = f"apps-{group:02d}"
        ks["spec"]["path"] = f"./apps/{env}/group-{group:02d}"
        docs.append(yaml.dump(ks, Dumper=_IndentedDumper, sort_keys=False))
    return "---\n".join(docs)


def generate(out: Path, services: int, group_size: int) -> list[Path]:
    shutil.copytree(COMPONENTS / "infrastructure", out / "infrastructure")
    shutil.copytree(COMPONENTS / "clusters", out / "clusters")
    apps = out / "apps"
    for index in range(services):
        generate_service(apps, index)
    names = [service_name(i) for i in range(services)]
    groups = [names[i : i + group_size] for i in range(0, services, group_size)]

    for cluster in sorted((out / "clusters").iterdir()):
        apps_file = cluster / "apps.yaml"
        template = yaml.safe_load(apps_file.read_text())
        env = Path(template["spec"]["path"]).name
        for group, members in enumerate(groups):
            generate_group(apps, env, group, members)
        apps_file.write_text(group_kustomizations(template, env, len(groups)))
    return sorted(p.parent for p in out.rglob("kustomization.yaml"))


def kustomize_build(folder: Path) -> tuple[Path, str | None]:
    result = subprocess.run(
        ["kubectl", "kustomize", str(folder)], capture_output=True, text=True, timeout=120
    )
    return folder, (result.stderr.strip() or "failed") if result.returncode else None


def verify(folders: list[Path]) -> list[tuple[Path, str]]:
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 4) as pool:
        return [(f, err) for f, err in pool.map(kustomize_build, folders) if err]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="where to write the repository (must not exist or be empty)")
    parser.add_argument("--services", type=int, default=60, help="number of microservices (default 60)")
    parser.add_argument("--group-size", type=int, default=10, help="services per Flux Kustomization (default 10)")
    parser.add_argument("--verify", action="store_true", help="build every kustomization.yaml with `kubectl kustomize`")
    args = parser.parse_args(argv)

    if args.services < 1 or args.group_size < 1:
        parser.error("--services and --group-size must be at least 1")
    if args.out_dir.exists() and any(args.out_dir.iterdir()):
        parser.error(f"{args.out_dir} is not empty; choose a new folder")
    args.out_dir.mkdir(parents=True, exist_ok=True)

    folders = generate(args.out_dir, args.services, args.group_size)
    groups = -(-args.services // args.group_size)
    print(f"{args.out_dir}: {args.services} services in {groups} Flux Kustomizations per cluster, "
          f"{len(folders)} kustomization.yaml", file=sys.stderr)
    if args.verify:
        failures = verify(folders)
        for folder, error in failures:
            print(f"kubectl kustomize {folder}: {error}", file=sys.stderr)
        if failures:
            return 1
        print(f"all {len(folders)} build with kubectl kustomize", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
