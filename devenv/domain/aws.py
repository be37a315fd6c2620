"""Recognising AWS-only components and resources, each with the reason it cannot work off AWS.

Pure functions over Kubernetes objects (dicts): no I/O. `devenv.flux.adapt` decides what to do
with the verdicts (leave a resource out, or a whole Flux Kustomization); this module only knows AWS.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

# The ServiceAccount annotation of IAM Roles for Service Accounts; the other eks.amazonaws.com/
# ServiceAccount annotations (audience, sts-regional-endpoints, token-expiration) only tune it.
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
IRSA_PREFIX = "eks.amazonaws.com/"
ALB_CLASS = "alb"
ALB_CONTROLLER = "ingress.k8s.aws/alb"
ALB_ANNOTATION_PREFIX = "alb.ingress.kubernetes.io/"
INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"

# Helm charts that only make sense inside AWS, by chart name.
AWS_ONLY_CHARTS: dict[str, str] = {
    "aws-load-balancer-controller": "provisions AWS Application/Network Load Balancers through the AWS API; "
                                    "locally Ingresses are served by the profile's ingress class",
    "aws-ebs-csi-driver": "attaches Amazon EBS volumes, which exist only in AWS; "
                          "locally the profile's storage class provisions volumes",
    "aws-efs-csi-driver": "mounts Amazon EFS file systems, which exist only in AWS",
    "aws-fsx-csi-driver": "mounts Amazon FSx file systems, which exist only in AWS",
    "aws-mountpoint-s3-csi-driver": "mounts Amazon S3 buckets through the AWS API",
    "secrets-store-csi-driver-provider-aws": "serves secrets from AWS Secrets Manager / SSM Parameter Store, "
                                             "which a local cluster cannot reach",
    "karpenter": "launches EC2 instances as nodes; a local cluster has a fixed set of nodes",
    "karpenter-crd": "defines Karpenter's EC2 node APIs, only used with Karpenter on AWS",
    "aws-node-termination-handler": "drains nodes on EC2 Spot interruptions and maintenance events",
    "aws-vpc-cni": "the Amazon VPC CNI gives pods VPC addresses; a local cluster has its own CNI",
    "aws-cloudwatch-metrics": "ships metrics to Amazon CloudWatch",
    "aws-for-fluent-bit": "ships logs to Amazon CloudWatch / Kinesis / S3",
    "amazon-cloudwatch-observability": "ships metrics and logs to Amazon CloudWatch",
    "aws-privateca-issuer": "issues certificates from AWS Private CA",
    "appmesh-controller": "manages AWS App Mesh",
    "aws-gateway-controller-chart": "programs Amazon VPC Lattice through the AWS API",
    "eks-pod-identity-agent": "serves EKS Pod Identity credentials, which exist only on EKS",
}

# Chart repositories whose every chart is AWS-specific.
AWS_CHART_REPOSITORIES: dict[str, str] = {
    "aws.github.io/eks-charts": "the AWS EKS charts repository",
    "public.ecr.aws/eks-charts": "the AWS EKS charts repository",
    "public.ecr.aws/aws-controllers-k8s": "AWS Controllers for Kubernetes (ACK), which manage AWS resources",
    "public.ecr.aws/karpenter": "Karpenter, which launches EC2 instances",
}

AWS_API_GROUPS: dict[str, str] = {
    "elbv2.k8s.aws": "an AWS Load Balancer Controller API: binds Services to ALB/NLB target groups in AWS",
    "karpenter.k8s.aws": "Karpenter's AWS API: describes the EC2 instances Karpenter launches",
    "karpenter.sh": "Karpenter's API: provisions cloud nodes, and nothing serves it in a local cluster",
    "services.k8s.aws": "AWS Controllers for Kubernetes (ACK): manages AWS resources through the AWS API",
    "vpcresources.k8s.aws": "the VPC resource controller's API: attaches EC2 security groups to pods",
    "networking.k8s.aws": "the Amazon VPC CNI network policy API",
    "crd.k8s.amazonaws.com": "the Amazon VPC CNI custom networking API (ENIConfig)",
    "appmesh.k8s.aws": "the AWS App Mesh API",
    "application-networking.k8s.aws": "the Amazon VPC Lattice (AWS Gateway API controller) API",
    "sagemaker.aws.amazon.com": "the Amazon SageMaker operator API",
    "awspca.cert-manager.io": "the AWS Private CA issuer API for cert-manager",
}

AWS_PROVISIONERS: dict[str, str] = {
    "ebs.csi.aws.com": "Amazon EBS",
    "kubernetes.io/aws-ebs": "Amazon EBS (in-tree)",
    "efs.csi.aws.com": "Amazon EFS",
    "fsx.csi.aws.com": "Amazon FSx",
    "s3.csi.aws.com": "Amazon S3 (Mountpoint)",
}

# Crossplane: the API groups of its AWS providers' managed resources (s3.aws.upbound.io,
# s3.aws.m.upbound.io for namespaced ones, and the older community provider's *.aws.crossplane.io).
CROSSPLANE_AWS_GROUPS = ("aws.upbound.io", "aws.m.upbound.io", "aws.crossplane.io")
CROSSPLANE_PKG_GROUP = "pkg.crossplane.io"
CROSSPLANE_RUNTIME_KINDS = ("ControllerConfig", "DeploymentRuntimeConfig")
_CROSSPLANE_AWS_PACKAGE = re.compile(r"(^|/)provider-(family-)?aws([-:@]|$)")

# Storage class names that EKS clusters (or their Terraform) usually provide: a PVC naming one of
# these would never bind in a local cluster unless the platform defines it with another provisioner.
EKS_STORAGE_CLASSES = ("gp2", "gp3", "io1", "io2", "st1", "sc1", "efs-sc", "ebs-sc")


def api_group(resource: Mapping[str, Any]) -> str:
    api_version = str(resource.get("apiVersion") or "")
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def aws_api_group_reason(group: str) -> str | None:
    """Why a kind of this API group only exists on AWS, or None."""
    if group in AWS_API_GROUPS:
        return AWS_API_GROUPS[group]
    if group.endswith(".services.k8s.aws"):
        return f"AWS Controllers for Kubernetes (ACK, {group}): manages AWS resources through the AWS API"
    if group.endswith(".k8s.aws") or group.endswith(".amazonaws.com") or group.endswith(".aws.amazon.com"):
        return f"{group} is an AWS API group, served only by AWS controllers"
    if any(group == g or group.endswith("." + g) for g in CROSSPLANE_AWS_GROUPS):
        return f"a Crossplane AWS provider ({group}): manages AWS resources through the AWS API"
    return None


def is_crossplane_aws_provider(resource: Mapping[str, Any]) -> bool:
    spec = resource.get("spec") or {}
    package = spec.get("package") if isinstance(spec, dict) else None
    return (resource.get("kind") == "Provider" and api_group(resource) == CROSSPLANE_PKG_GROUP
            and isinstance(package, str) and bool(_CROSSPLANE_AWS_PACKAGE.search(package)))


def crossplane_runtime_refs(provider: Mapping[str, Any]) -> set[tuple[str, str]]:
    """(kind, name) of the ControllerConfig / DeploymentRuntimeConfig a Crossplane Provider uses."""
    spec = provider.get("spec") or {}
    out = set()
    for field, kind in (("controllerConfigRef", "ControllerConfig"), ("runtimeConfigRef", "DeploymentRuntimeConfig")):
        ref = spec.get(field) if isinstance(spec, dict) else None
        if isinstance(ref, dict) and ref.get("name"):
            out.add((kind, str(ref["name"])))
    return out


def aws_provisioner_reason(provisioner: str | None) -> str | None:
    if provisioner in AWS_PROVISIONERS:
        return f"provisioner {provisioner} creates {AWS_PROVISIONERS[provisioner]} volumes, which exist only in AWS"
    return None


def chart_name(release: Mapping[str, Any], sources: Mapping[tuple[str, str, str], Mapping] | None = None) -> str | None:
    """The chart a HelmRelease installs: spec.chart.spec.chart, or the last path segment of the
    OCIRepository a spec.chartRef names (when it is known), else the chartRef's name."""
    spec = release.get("spec") or {}
    chart = ((spec.get("chart") or {}).get("spec") or {}).get("chart")
    if isinstance(chart, str) and chart:
        return chart.rstrip("/").rsplit("/", 1)[-1]
    ref = spec.get("chartRef") or {}
    if isinstance(ref, dict) and ref.get("name"):
        namespace = ref.get("namespace") or (release.get("metadata") or {}).get("namespace") or ""
        source = (sources or {}).get((str(ref.get("kind")), namespace, str(ref["name"])))
        url = ((source or {}).get("spec") or {}).get("url")
        if isinstance(url, str) and url:
            return url.rstrip("/").rsplit("/", 1)[-1].split(":", 1)[0]
        return str(ref["name"])
    return None


def chart_repository_url(release: Mapping[str, Any], sources: Mapping[tuple[str, str, str], Mapping] | None) -> str | None:
    spec = release.get("spec") or {}
    namespace = (release.get("metadata") or {}).get("namespace") or ""
    ref = ((spec.get("chart") or {}).get("spec") or {}).get("sourceRef") or spec.get("chartRef") or {}
    if not isinstance(ref, dict) or not ref.get("name"):
        return None
    source = (sources or {}).get((str(ref.get("kind")), ref.get("namespace") or namespace, str(ref["name"])))
    url = ((source or {}).get("spec") or {}).get("url")
    return url if isinstance(url, str) else None


def helm_release_reason(release: Mapping[str, Any],
                        sources: Mapping[tuple[str, str, str], Mapping] | None = None,
                        values: Mapping[str, Any] | None = None) -> str | None:
    """Why a HelmRelease only works on AWS (by its chart, its values, or its chart repository), or None.
    `values` are the release's merged values (valuesFrom, then spec.values) when known."""
    chart = chart_name(release, sources)
    if values is None:
        values = (release.get("spec") or {}).get("values") or {}
    if not isinstance(values, dict):
        values = {}
    if chart in AWS_ONLY_CHARTS:
        return f"chart {chart}: {AWS_ONLY_CHARTS[chart]}"
    if chart == "external-dns":
        provider = values.get("provider", None)
        if isinstance(provider, dict):
            provider = provider.get("name")
        if provider is None:
            return "chart external-dns with the chart's default provider aws: writes Route 53 records through the AWS API"
        if provider in ("aws", "aws-sd"):
            return f"chart external-dns with provider {provider}: writes Route 53 / Cloud Map records through the AWS API"
    if chart == "cilium":
        why = cilium_reason(values)
        if why:
            return f"chart cilium {why}"
    if chart == "cluster-autoscaler":
        provider = values.get("cloudProvider")
        if provider is None or provider == "aws":
            why = "cloudProvider aws" if provider else "the chart's default cloudProvider aws"
            return f"chart cluster-autoscaler with {why}: resizes EC2 Auto Scaling groups"
    url = chart_repository_url(release, sources)
    if url:
        for marker, what in AWS_CHART_REPOSITORIES.items():
            if marker in url:
                return f"chart {chart or '?'} comes from {what} ({url})"
    return None


# Charts whose AWS verdict rests on one value, and the chart's default when it is not set.
DECIDING_VALUES: dict[str, tuple[str, str]] = {"external-dns": ("provider", "aws"),
                                               "cluster-autoscaler": ("cloudProvider", "aws")}


def assumes_default(release: Mapping[str, Any], sources: Mapping[tuple[str, str, str], Mapping] | None,
                    values: Mapping[str, Any] | None) -> tuple[str, str, str] | None:
    """(chart, key, default) when the release's AWS verdict would rest on the chart's default for `key`
    because its values do not set it; None otherwise."""
    chart = chart_name(release, sources)
    if chart not in DECIDING_VALUES:
        return None
    key, default = DECIDING_VALUES[chart]
    if isinstance(values, dict) and values.get(key) is not None:
        return None
    return chart, key, default


def cilium_reason(values: Mapping[str, Any]) -> str | None:
    """Why Cilium's values only work on AWS: chained onto the Amazon VPC CNI, or giving pods ENI addresses."""
    def at(*path: str) -> Any:
        node: Any = values
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        return node

    if at("cni", "chainingMode") == "aws-cni":
        return ("with cni.chainingMode aws-cni: chains onto the Amazon VPC CNI, which a local cluster does not run "
                "(pod networking would break on kind)")
    if at("ipam", "mode") == "eni" or at("eni", "enabled") is True:
        return "in ENI mode (ipam.mode eni / eni.enabled): gives pods EC2 network interfaces through the AWS API"
    return None


TERRAFORM_GROUP = "infra.contrib.fluxcd.io"  # tofu-controller (Weave's tf-controller)
_AWS_TOKEN = re.compile(r"(^|[^a-z0-9])aws([^a-z0-9]|$)", re.I)
_S3_BACKEND = re.compile(r"backend\s+\"?s3\"?\s*\{")


def terraform_reason(resource: Mapping[str, Any], sources: Mapping[tuple[str, str, str], Mapping] | None) -> str | None:
    """Why a tofu-controller Terraform object only works on AWS: its module comes from an AWS module source
    (terraform-aws-*, a path or URL naming aws), it keeps its state in S3, or it runs with AWS credentials."""
    spec = resource.get("spec") or {}
    if not isinstance(spec, dict):
        return None
    ref = spec.get("sourceRef") or {}
    namespace = (resource.get("metadata") or {}).get("namespace") or "default"
    source = (sources or {}).get((str(ref.get("kind")), ref.get("namespace") or namespace, str(ref.get("name"))))
    url = ((source or {}).get("spec") or {}).get("url") if isinstance(ref, dict) else None
    for what, text in (("source", url), ("source", ref.get("name") if isinstance(ref, dict) else None),
                       ("path", spec.get("path"))):
        if isinstance(text, str) and _AWS_TOKEN.search(text):
            return f"Terraform (tofu-controller) running an AWS module ({what} {text}): creates AWS resources"
    backend = spec.get("backendConfig") or {}
    custom = backend.get("customConfiguration") if isinstance(backend, dict) else None
    if isinstance(custom, str) and _S3_BACKEND.search(custom):
        return "Terraform (tofu-controller) with an s3 backend: keeps its state in Amazon S3"
    if IRSA_ANNOTATION in str(((spec.get("runnerPodTemplate") or {}).get("metadata") or {}).get("annotations")):
        return "Terraform (tofu-controller) whose runner assumes an IAM role (IRSA)"
    return None


_CAPI_AWS_KIND = re.compile(r"^(AWS|EKS|ROSA)")


def cluster_api_reason(resource: Mapping[str, Any]) -> str | None:
    """Why a Cluster API object only works on AWS: a kind of the AWS provider (CAPA: AWSCluster,
    AWSManagedControlPlane, identities, EKSConfig, ROSA...), a Cluster or machine set built on one, or the
    AWS infrastructure provider itself (cluster-api-operator)."""
    group, kind = api_group(resource), str(resource.get("kind") or "")
    if not group.endswith("cluster.x-k8s.io"):
        return None
    if _CAPI_AWS_KIND.match(kind):
        return f"{kind} of Cluster API's AWS provider (CAPA): creates EC2/EKS infrastructure through the AWS API"
    if group == "operator.cluster.x-k8s.io" and (resource.get("metadata") or {}).get("name") in ("aws", "capa"):
        return f"{kind} installing Cluster API's AWS provider (CAPA), which creates EC2/EKS infrastructure"

    def refs(node: Any) -> Any:
        if isinstance(node, dict):
            if isinstance(node.get("kind"), str) and _CAPI_AWS_KIND.match(node["kind"]) \
                    and "cluster.x-k8s.io" in str(node.get("apiVersion") or "cluster.x-k8s.io"):
                return node["kind"]
            for value in node.values():
                found = refs(value)
                if found:
                    return found
        elif isinstance(node, list):
            for value in node:
                found = refs(value)
                if found:
                    return found
        return None

    found = refs(resource.get("spec"))
    if found:
        return f"{kind} built on Cluster API's AWS provider ({found}): provisions EC2/EKS infrastructure"
    return None


def crossplane_configuration_reason(resource: Mapping[str, Any]) -> str | None:
    """A Crossplane Configuration whose package is an AWS one: its dependencies install Crossplane's AWS
    providers again (the ones devenv leaves out)."""
    spec = resource.get("spec") or {}
    package = spec.get("package") if isinstance(spec, dict) else None
    if resource.get("kind") != "Configuration" or api_group(resource) != CROSSPLANE_PKG_GROUP or not isinstance(package, str):
        return None
    name = package.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
    if _AWS_TOKEN.search(name):
        return (f"Crossplane Configuration {package}: its dependencies install Crossplane's AWS provider "
                f"packages again, which manage AWS resources through the AWS API")
    return None


def aws_only_reason(resource: Mapping[str, Any],
                    sources: Mapping[tuple[str, str, str], Mapping] | None = None,
                    values: Mapping[str, Any] | None = None) -> str | None:
    """Why this object only works on AWS, or None when it can run anywhere.

    `sources` maps (kind, namespace, name) to known Flux source objects, so a HelmRelease's chart
    can be recognised by its HelmRepository / OCIRepository URL; `values` are a HelmRelease's
    merged values (with valuesFrom) when known.
    """
    kind = resource.get("kind")
    group = api_group(resource)
    spec = resource.get("spec") or {}
    if not isinstance(spec, dict):
        spec = {}
    reason = aws_api_group_reason(group)
    if reason:
        return f"{kind} of {reason}"
    if kind == "HelmRelease" and group == "helm.toolkit.fluxcd.io":
        return helm_release_reason(resource, sources, values)
    if kind == "Terraform" and group == TERRAFORM_GROUP:
        return terraform_reason(resource, sources)
    why = cluster_api_reason(resource) or crossplane_configuration_reason(resource)
    if why:
        return why
    if is_crossplane_aws_provider(resource):
        return f"Crossplane provider {spec.get('package')}: manages AWS resources through the AWS API"
    if kind == "StorageClass":
        return aws_provisioner_reason(resource.get("provisioner"))
    if kind == "VolumeSnapshotClass":
        return aws_provisioner_reason(resource.get("driver"))
    if kind == "CSIDriver":
        return aws_provisioner_reason((resource.get("metadata") or {}).get("name"))
    if kind == "IngressClass" and spec.get("controller") == ALB_CONTROLLER:
        return f"IngressClass served by the AWS Load Balancer Controller ({ALB_CONTROLLER})"
    if kind == "SecretProviderClass" and spec.get("provider") == "aws":
        return "SecretProviderClass with provider aws: reads AWS Secrets Manager / SSM Parameter Store"
    if kind in ("SecretStore", "ClusterSecretStore") and group == "external-secrets.io":
        if isinstance(spec.get("provider"), dict) and "aws" in spec["provider"]:
            return f"{kind} with provider aws: reads AWS Secrets Manager / SSM Parameter Store"
    if kind == "CustomResourceDefinition":
        crd_group = spec.get("group") or ""
        why = aws_api_group_reason(crd_group)
        if why:
            return f"defines kinds of {why}"
    return None


def is_irsa_annotation(key: str) -> bool:
    return key.startswith(IRSA_PREFIX)
