"""devenv.flux.adapt without kustomize: what is left out as a whole, and how kept objects are adapted."""

from __future__ import annotations

import copy

from devenv.flux import adapt

AWS_RELEASE = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
               "metadata": {"name": "aws-load-balancer-controller", "namespace": "kube-system"},
               "spec": {"chart": {"spec": {"chart": "aws-load-balancer-controller",
                                           "sourceRef": {"kind": "HelmRepository", "name": "eks-charts"}}}}}
EKS_CHARTS = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
              "metadata": {"name": "eks-charts", "namespace": "kube-system"}, "spec": {"url": "https://aws.github.io/eks-charts"}}
JETSTACK = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
            "metadata": {"name": "jetstack", "namespace": "kube-system"}, "spec": {"url": "https://charts.jetstack.io"}}
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "lb"}}
DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}}


def adapter(**overrides) -> adapt.Adapter:
    settings = dict(ingress_class="nginx", storage_class="standard", aws_storage={"gp3", "gp2"},
                    excluded_kustomizations={"flux-system/infra-aws"},
                    excluded_objects={("HelmRelease", "kube-system", "aws-load-balancer-controller")})
    settings.update(overrides)
    return adapt.Adapter(**settings)


# -- exclusion ---------------------------------------------------------------------------------------


def test_a_kustomization_of_aws_only_objects_and_their_sources_is_left_out_as_a_whole() -> None:
    resources = [NAMESPACE, EKS_CHARTS, AWS_RELEASE]
    reasons = [None, None, "chart aws-load-balancer-controller: ALB"]
    reason = adapt.whole_exclusion_reason(resources, reasons)
    assert reason == ("everything it applies is left out: HelmRelease aws-load-balancer-controller: "
                      "chart aws-load-balancer-controller: ALB")


def test_a_kustomization_with_anything_portable_is_kept() -> None:
    assert adapt.whole_exclusion_reason([DEPLOYMENT, AWS_RELEASE], [None, "aws"]) is None
    assert adapt.whole_exclusion_reason([NAMESPACE, EKS_CHARTS], [None, None]) is None  # nothing AWS-only
    assert adapt.whole_exclusion_reason([], []) is None


def test_sources_only_used_by_left_out_releases_are_orphans() -> None:
    cert_manager = copy.deepcopy(AWS_RELEASE)
    cert_manager["metadata"]["name"] = "cert-manager"
    cert_manager["spec"]["chart"]["spec"]["sourceRef"]["name"] = "jetstack"
    kept = [EKS_CHARTS, JETSTACK, cert_manager]
    orphans = adapt.unused_supporting_objects(kept, [AWS_RELEASE])
    assert orphans == {0: "only used by HelmRelease aws-load-balancer-controller, which is left out"}
    # a source that a kept release still uses stays
    still_used = copy.deepcopy(cert_manager)
    still_used["spec"]["chart"]["spec"]["sourceRef"]["name"] = "eks-charts"
    assert adapt.unused_supporting_objects([EKS_CHARTS, still_used], [AWS_RELEASE]) == {}


def test_the_profile_excludes_helm_releases_and_kustomizations_by_name() -> None:
    assert adapt.profile_exclusion_reason(AWS_RELEASE, ["aws-load-balancer-controller"], "p.yaml") == \
        "listed in the profile's exclude (p.yaml)"
    assert adapt.profile_exclusion_reason(AWS_RELEASE, ["kube-system/aws-load-balancer-controller"], "p.yaml")
    assert adapt.profile_exclusion_reason(DEPLOYMENT, ["web"], "p.yaml") is None  # only Flux objects, by name


def test_aws_storage_class_names() -> None:
    gp3 = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "gp3"},
           "provisioner": "ebs.csi.aws.com"}
    fast = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "fast"},
            "provisioner": "ebs.csi.aws.com"}
    local_gp2 = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "gp2"},
                 "provisioner": "rancher.io/local-path"}
    names = adapt.aws_storage_classes([gp3, fast, local_gp2], kept=[local_gp2])
    assert {"gp3", "fast", "io2"} <= names
    assert "gp2" not in names  # the platform defines gp2 itself, off AWS


# -- adaptation --------------------------------------------------------------------------------------


def test_irsa_annotations_are_removed_from_service_accounts() -> None:
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "orders", "annotations": {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/orders", "team": "shop"}}}
    changes = adapter().adapt(sa)
    assert sa["metadata"]["annotations"] == {"team": "shop"}
    assert changes == ["metadata.annotations: removed eks.amazonaws.com/role-arn (IRSA: IAM roles exist only on EKS)"]
    only_irsa = {"apiVersion": "v1", "kind": "ServiceAccount",
                 "metadata": {"name": "x", "annotations": {"eks.amazonaws.com/role-arn": "arn"}}}
    adapter().adapt(only_irsa)
    assert "annotations" not in only_irsa["metadata"]


def test_alb_ingress_moves_to_the_profile_ingress_class() -> None:
    ingress = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "orders", "annotations": {
        "alb.ingress.kubernetes.io/target-type": "ip", "alb.ingress.kubernetes.io/scheme": "internal",
        "cert-manager.io/cluster-issuer": "letsencrypt"}}, "spec": {"ingressClassName": "alb", "rules": []}}
    changes = adapter(ingress_class="traefik").adapt(ingress)
    assert ingress["spec"]["ingressClassName"] == "traefik"
    assert ingress["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "letsencrypt"}
    assert changes[0].startswith("spec.ingressClassName: alb -> traefik")
    assert changes[1].startswith("metadata.annotations: removed 2 alb.ingress.kubernetes.io/* annotations")


def test_legacy_alb_ingress_annotation_becomes_the_class_field() -> None:
    ingress = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
               "metadata": {"name": "old", "annotations": {"kubernetes.io/ingress.class": "alb"}}, "spec": {}}
    changes = adapter().adapt(ingress)
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert "annotations" not in ingress["metadata"]  # both set would be rejected by the API server
    assert len(changes) == 2


def test_other_ingresses_are_untouched() -> None:
    ingress = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
               "metadata": {"name": "web", "annotations": {"nginx.ingress.kubernetes.io/rewrite-target": "/"}},
               "spec": {"ingressClassName": "nginx"}}
    before = copy.deepcopy(ingress)
    assert adapter().adapt(ingress) == []
    assert ingress == before


def test_aws_storage_classes_of_claims_and_claim_templates_are_replaced() -> None:
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
           "spec": {"storageClassName": "gp3"}}
    other = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "fast"},
             "spec": {"storageClassName": "local-nvme"}}
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
           "spec": {"volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"storageClassName": "gp2"}}]}}
    assert adapter().adapt(pvc) == ["spec.storageClassName: gp3 -> standard (an AWS storage class)"]
    assert pvc["spec"]["storageClassName"] == "standard"
    assert adapter().adapt(other) == [] and other["spec"]["storageClassName"] == "local-nvme"
    assert adapter().adapt(sts) == [
        "spec.volumeClaimTemplates[0].spec.storageClassName: gp2 -> standard (an AWS storage class)"]
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "standard"


def test_helm_release_values_are_adapted_wherever_the_chart_puts_them() -> None:
    hr = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "metadata": {"name": "app", "namespace": "shop"},
          "spec": {"dependsOn": [{"name": "aws-load-balancer-controller", "namespace": "kube-system"}, {"name": "db"}],
                   "values": {"serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn"}},
                              "persistence": {"storageClass": "gp3", "size": "1Gi"},
                              "ingress": {"className": "alb", "annotations": {"alb.ingress.kubernetes.io/scheme": "internal"}},
                              "workers": [{"volume": {"storageClassName": "gp2"}}],
                              "class": "alb"}}}
    changes = adapter().adapt(hr)
    values = hr["spec"]["values"]
    assert values["serviceAccount"]["annotations"] == {}
    assert values["persistence"] == {"storageClass": "standard", "size": "1Gi"}
    assert values["ingress"] == {"className": "nginx", "annotations": {}}
    assert values["workers"][0]["volume"]["storageClassName"] == "standard"
    assert values["class"] == "alb"  # not under an ingress key: not an ingress class
    assert hr["spec"]["dependsOn"] == [{"name": "db"}]
    assert "spec.dependsOn: removed kube-system/aws-load-balancer-controller (left out)" in changes
    assert len(changes) == 6


def test_kustomization_depends_on_and_health_checks_are_rewired() -> None:
    k = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
         "metadata": {"name": "infra-configs", "namespace": "flux-system"},
         "spec": {"dependsOn": [{"name": "infra-controllers"}, {"name": "infra-aws"}],
                  "healthChecks": [{"kind": "HelmRelease", "name": "aws-load-balancer-controller", "namespace": "kube-system"}]}}
    changes = adapter().adapt(k)
    assert k["spec"]["dependsOn"] == [{"name": "infra-controllers"}]
    assert "healthChecks" not in k["spec"]
    assert changes == ["spec.dependsOn: removed flux-system/infra-aws (left out)",
                       "spec.healthChecks: removed HelmRelease kube-system/aws-load-balancer-controller (left out)"]
    only_aws = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                "metadata": {"name": "a", "namespace": "flux-system"}, "spec": {"dependsOn": [{"name": "infra-aws"}]}}
    adapter().adapt(only_aws)
    assert "dependsOn" not in only_aws["spec"]
    other_ns = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                "metadata": {"name": "b", "namespace": "team"}, "spec": {"dependsOn": [{"name": "infra-aws"}]}}
    assert adapter().adapt(other_ns) == []  # team/infra-aws is another Kustomization


# -- fields that must stay strings ---------------------------------------------------------------------


def test_non_string_values_where_the_api_server_needs_strings() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"on": True}},
          "data": {"PORT": 3306, "HOST": "db", "EMPTY": None}}
    assert adapt.non_string_fields(cm) == [("metadata.labels.on", True), ("data.PORT", 3306)]
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                  "spec": {"template": {"metadata": {"annotations": {"replicas": 2}},
                                        "spec": {"containers": [{"name": "a", "env": [
                                            {"name": "A", "value": "x"}, {"name": "B", "value": 1.5},
                                            {"name": "C", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}]}}}}
    assert adapt.non_string_fields(deployment) == [("spec.template.metadata.annotations.replicas", 2),
                                                   ("spec.template.spec.containers[0].env[1].value", 1.5)]
    cron = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "j"},
            "spec": {"jobTemplate": {"spec": {"template": {"spec": {"initContainers": [
                {"name": "i", "env": [{"name": "X", "value": False}]}], "containers": []}}}}}}
    assert adapt.non_string_fields(cron) == [
        ("spec.jobTemplate.spec.template.spec.initContainers[0].env[0].value", False)]
    assert adapt.non_string_fields({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                                    "spec": {"ports": [{"port": 80}]}}) == []


def test_common_metadata_goes_on_each_objects_own_metadata_only() -> None:
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "labels": {"a": "1", "b": "2"}},
                  "spec": {"selector": {"matchLabels": {"a": "1"}}, "template": {"metadata": {"labels": {"a": "1"}}}}}
    adapt.apply_common_metadata(deployment, {"labels": {"b": "override", "team": "x"}, "annotations": {"owner": "y"}})
    assert deployment["metadata"]["labels"] == {"a": "1", "b": "override", "team": "x"}
    assert deployment["metadata"]["annotations"] == {"owner": "y"}
    assert deployment["spec"]["selector"]["matchLabels"] == {"a": "1"}
    assert deployment["spec"]["template"]["metadata"]["labels"] == {"a": "1"}


def test_substitution_opt_out_by_label_or_annotation() -> None:
    key = "kustomize.toolkit.fluxcd.io/substitute"
    assert adapt.substitution_disabled({"metadata": {"annotations": {key: "disabled"}}})
    assert adapt.substitution_disabled({"metadata": {"labels": {key: "disabled"}}})
    assert not adapt.substitution_disabled({"metadata": {"labels": {key: "enabled"}}})
