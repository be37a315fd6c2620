"""devenv.domain.aws: which objects only work on AWS, and the reason given for each."""

from __future__ import annotations

import pytest

from devenv.domain import aws


def release(chart: str, values: dict | None = None, *, source: str = "charts", **spec) -> dict:
    return {
        "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {"name": chart, "namespace": "kube-system"},
        "spec": {"chart": {"spec": {"chart": chart, "sourceRef": {"kind": "HelmRepository", "name": source}}},
                 "values": values or {}, **spec},
    }


def obj(api_version: str, kind: str, name: str = "x", **fields) -> dict:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}, **fields}


@pytest.mark.parametrize("chart", [
    "aws-load-balancer-controller", "aws-ebs-csi-driver", "aws-efs-csi-driver",
    "secrets-store-csi-driver-provider-aws", "karpenter", "aws-node-termination-handler",
])
def test_aws_only_charts_are_recognised_with_their_reason(chart: str) -> None:
    reason = aws.aws_only_reason(release(chart))
    assert reason is not None and reason.startswith(f"chart {chart}: ")
    assert len(reason) > len(f"chart {chart}: ") + 10


@pytest.mark.parametrize("chart", ["cert-manager", "ingress-nginx", "secrets-store-csi-driver", "podinfo"])
def test_portable_charts_are_kept(chart: str) -> None:
    assert aws.aws_only_reason(release(chart)) is None


@pytest.mark.parametrize("values, aws_only", [
    ({"provider": "aws"}, True),
    ({"provider": {"name": "aws"}}, True),
    ({"provider": "aws-sd"}, True),
    ({}, True),  # both external-dns charts default to provider aws
    ({"provider": "google"}, False),
    ({"provider": {"name": "rfc2136"}}, False),
])
def test_external_dns_is_aws_only_with_provider_aws(values: dict, aws_only: bool) -> None:
    reason = aws.aws_only_reason(release("external-dns", values))
    assert (reason is not None) is aws_only
    if aws_only:
        assert "Route 53" in reason


@pytest.mark.parametrize("values, aws_only", [
    ({"cloudProvider": "aws"}, True),
    ({}, True),  # the chart's default cloudProvider is aws
    ({"cloudProvider": "clusterapi"}, False),
])
def test_cluster_autoscaler_is_aws_only_with_cloud_provider_aws(values: dict, aws_only: bool) -> None:
    reason = aws.aws_only_reason(release("cluster-autoscaler", values))
    assert (reason is not None) is aws_only
    if aws_only:
        assert "EC2 Auto Scaling" in reason


def test_chart_ref_to_an_oci_repository_is_recognised_by_its_url() -> None:
    karpenter = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                 "metadata": {"name": "nodes", "namespace": "kube-system"},
                 "spec": {"chartRef": {"kind": "OCIRepository", "name": "nodes"}}}
    oci = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
           "metadata": {"name": "nodes", "namespace": "kube-system"},
           "spec": {"url": "oci://public.ecr.aws/karpenter/karpenter"}}
    assert aws.chart_name(karpenter, {("OCIRepository", "kube-system", "nodes"): oci}) == "karpenter"
    assert "EC2" in aws.aws_only_reason(karpenter, {("OCIRepository", "kube-system", "nodes"): oci})
    assert aws.aws_only_reason(karpenter) is None  # without its source, the name `nodes` says nothing


def test_any_chart_of_the_eks_charts_repository_is_aws_only() -> None:
    repo = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
            "metadata": {"name": "eks", "namespace": "kube-system"},
            "spec": {"url": "https://aws.github.io/eks-charts"}}
    reason = aws.aws_only_reason(release("appmesh-gateway", source="eks"), {("HelmRepository", "kube-system", "eks"): repo})
    assert reason is not None and "AWS EKS charts repository" in reason


@pytest.mark.parametrize("api_version, kind", [
    ("elbv2.k8s.aws/v1beta1", "TargetGroupBinding"),
    ("elbv2.k8s.aws/v1beta1", "IngressClassParams"),
    ("karpenter.k8s.aws/v1", "EC2NodeClass"),
    ("karpenter.sh/v1", "NodePool"),
    ("services.k8s.aws/v1alpha1", "AdoptedResource"),
    ("s3.services.k8s.aws/v1alpha1", "Bucket"),
    ("rds.services.k8s.aws/v1alpha1", "DBInstance"),
    ("vpcresources.k8s.aws/v1beta1", "SecurityGroupPolicy"),
    ("crd.k8s.amazonaws.com/v1alpha1", "ENIConfig"),
])
def test_kinds_of_aws_api_groups_are_aws_only(api_version: str, kind: str) -> None:
    reason = aws.aws_only_reason(obj(api_version, kind))
    assert reason is not None and reason.startswith(f"{kind} of ")


@pytest.mark.parametrize("api_version, kind", [
    ("networking.k8s.io/v1", "Ingress"), ("apps/v1", "Deployment"), ("cert-manager.io/v1", "ClusterIssuer"),
    ("v1", "ServiceAccount"), ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"),
])
def test_ordinary_kinds_are_not_aws_only(api_version: str, kind: str) -> None:
    assert aws.aws_only_reason(obj(api_version, kind)) is None


@pytest.mark.parametrize("provisioner, aws_only", [
    ("ebs.csi.aws.com", True), ("efs.csi.aws.com", True), ("kubernetes.io/aws-ebs", True),
    ("rancher.io/local-path", False), ("kubernetes.io/no-provisioner", False),
])
def test_storage_classes_with_aws_provisioners(provisioner: str, aws_only: bool) -> None:
    reason = aws.aws_only_reason(obj("storage.k8s.io/v1", "StorageClass", "gp3", provisioner=provisioner))
    assert (reason is not None) is aws_only
    if aws_only:
        assert provisioner in reason


def test_secret_provider_class_with_provider_aws_only() -> None:
    spc = lambda provider: obj("secrets-store.csi.x-k8s.io/v1", "SecretProviderClass",  # noqa: E731
                               spec={"provider": provider})
    assert "Secrets Manager" in aws.aws_only_reason(spc("aws"))
    assert aws.aws_only_reason(spc("azure")) is None
    assert aws.aws_only_reason(spc("vault")) is None


def test_alb_ingress_class_and_aws_secret_stores_and_crds() -> None:
    alb = obj("networking.k8s.io/v1", "IngressClass", "alb", spec={"controller": "ingress.k8s.aws/alb"})
    nginx = obj("networking.k8s.io/v1", "IngressClass", "nginx", spec={"controller": "k8s.io/ingress-nginx"})
    assert "AWS Load Balancer Controller" in aws.aws_only_reason(alb)
    assert aws.aws_only_reason(nginx) is None
    store = obj("external-secrets.io/v1beta1", "ClusterSecretStore", spec={"provider": {"aws": {"service": "SecretsManager"}}})
    vault = obj("external-secrets.io/v1beta1", "ClusterSecretStore", spec={"provider": {"vault": {}}})
    assert aws.aws_only_reason(store) and aws.aws_only_reason(vault) is None
    crd = obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "targetgroupbindings.elbv2.k8s.aws",
              spec={"group": "elbv2.k8s.aws"})
    assert aws.aws_only_reason(crd).startswith("defines kinds of ")
    assert aws.aws_only_reason(obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", spec={"group": "cert-manager.io"})) is None


def test_irsa_annotations() -> None:
    assert aws.is_irsa_annotation("eks.amazonaws.com/role-arn")
    assert aws.is_irsa_annotation("eks.amazonaws.com/sts-regional-endpoints")
    assert not aws.is_irsa_annotation("iam.gke.io/gcp-service-account")


# -- issue 21: AWS-only by what an object does ----------------------------------------------------

def _release(chart: str, values: dict | None = None) -> dict:
    return {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "metadata": {"name": chart, "namespace": "x"},
            "spec": {"chart": {"spec": {"chart": chart}}, **({"values": values} if values is not None else {})}}


def test_cilium_is_aws_only_when_chained_on_the_vpc_cni_or_in_eni_mode() -> None:
    from devenv.domain.aws import aws_only_reason

    assert "aws-cni" in aws_only_reason(_release("cilium", {"cni": {"chainingMode": "aws-cni"}}))
    assert "ENI" in aws_only_reason(_release("cilium", {"ipam": {"mode": "eni"}}))
    assert aws_only_reason(_release("cilium", {"cni": {"chainingMode": "none"}, "ipam": {"mode": "kubernetes"}})) is None


def test_terraform_objects_are_judged_by_their_module_source_and_backend() -> None:
    from devenv.domain.aws import aws_only_reason

    def tf(**spec) -> dict:
        return {"apiVersion": "infra.contrib.fluxcd.io/v1alpha2", "kind": "Terraform",
                "metadata": {"name": "t", "namespace": "flux-system"}, "spec": spec}

    sources = {("GitRepository", "flux-system", "mods"): {"spec": {"url": "https://github.com/acme/terraform-aws-rds"}},
               ("GitRepository", "flux-system", "local"): {"spec": {"url": "https://github.com/acme/tf-kind"}}}
    assert "AWS module" in aws_only_reason(tf(sourceRef={"kind": "GitRepository", "name": "mods"}), sources)
    assert "AWS module" in aws_only_reason(tf(sourceRef={"kind": "GitRepository", "name": "local"}, path="./aws/vpc"), sources)
    assert "s3" in aws_only_reason(tf(sourceRef={"kind": "GitRepository", "name": "local"},
                                      backendConfig={"customConfiguration": 'backend "s3" {\n bucket = "b"\n}'}), sources)
    assert aws_only_reason(tf(sourceRef={"kind": "GitRepository", "name": "local"}, path="./kind"), sources) is None
    assert aws_only_reason(tf(sourceRef={"kind": "GitRepository", "name": "local"}, path="./laws"), sources) is None


def test_cluster_api_aws_provider_objects_and_what_is_built_on_them() -> None:
    from devenv.domain.aws import aws_only_reason

    assert "CAPA" in aws_only_reason({"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2", "kind": "AWSClusterStaticIdentity",
                                      "metadata": {"name": "i"}})
    assert "CAPA" in aws_only_reason({"apiVersion": "bootstrap.cluster.x-k8s.io/v1beta2", "kind": "EKSConfigTemplate",
                                      "metadata": {"name": "e"}})
    deployment = {"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "MachineDeployment", "metadata": {"name": "md"},
                  "spec": {"template": {"spec": {"infrastructureRef": {
                      "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2", "kind": "AWSMachineTemplate", "name": "m"}}}}}
    assert "AWSMachineTemplate" in aws_only_reason(deployment)
    docker = {"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster", "metadata": {"name": "c"},
              "spec": {"infrastructureRef": {"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1", "kind": "DockerCluster"}}}
    assert aws_only_reason(docker) is None


def test_a_crossplane_configuration_of_an_aws_package_is_aws_only() -> None:
    from devenv.domain.aws import aws_only_reason

    def conf(package: str) -> dict:
        return {"apiVersion": "pkg.crossplane.io/v1", "kind": "Configuration", "metadata": {"name": "c"},
                "spec": {"package": package}}

    assert "AWS provider" in aws_only_reason(conf("xpkg.upbound.io/upbound/configuration-aws-network:v0.7.0"))
    assert aws_only_reason(conf("xpkg.upbound.io/upbound/configuration-gcp-network:v0.7.0")) is None
    assert aws_only_reason(conf("xpkg.upbound.io/lawson/configuration-app:v1")) is None


def test_the_deciding_value_of_external_dns_is_known_or_not() -> None:
    from devenv.domain.aws import assumes_default

    assert assumes_default(_release("external-dns", {}), None, {}) == ("external-dns", "provider", "aws")
    assert assumes_default(_release("external-dns"), None, {"provider": "cloudflare"}) is None
    assert assumes_default(_release("podinfo"), None, {}) is None
