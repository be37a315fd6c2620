"""Rendering the embedded platform (components/) with the `local` profile: what is left out and why,
what stays and how it is adapted, the values Flux would substitute, and the errors of a broken input.
Expectations follow tests/data/platforms/README.md (section components/)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import REPO, by_id, find, names, write_profile
from devenv.errors import CommandFailed, PlatformError, SubstitutionError
from devenv.domain.facts import GENERATED_PLACEHOLDER
from devenv.flux.render import render_environment
from devenv.domain.profiles import load_profile

pytestmark = pytest.mark.kustomize
COMPONENTS = REPO / "components"

KEPT = {
    "flux-system/infra-controllers": {
        "Namespace/cert-manager", "Namespace/ingress-nginx", "HelmRepository/cert-manager/jetstack",
        "HelmRelease/cert-manager/cert-manager", "HelmRepository/ingress-nginx/ingress-nginx",
        "HelmRelease/ingress-nginx/ingress-nginx"},
    "flux-system/infra-configs": {"ClusterIssuer/letsencrypt"},
    "flux-system/apps": {
        "Namespace/shop", "ServiceAccount/shop/orders", "ConfigMap/shop/catalog-config",
        "ConfigMap/shop/catalog-scripts", "ConfigMap/shop/orders-config", "Secret/shop/orders-db",
        "Service/shop/catalog", "Service/shop/orders", "Service/shop/web", "PersistentVolumeClaim/shop/orders-exports",
        "Deployment/shop/catalog", "Deployment/shop/orders", "Deployment/shop/web", "Ingress/shop/orders",
        "Ingress/shop/web", "NetworkPolicy/shop/orders",
        # ledger: reads its database credentials from Secrets Manager with its IRSA role
        "ServiceAccount/shop/ledger", "ConfigMap/shop/ledger-scripts", "Deployment/shop/ledger"},
}
EXCLUDED = {
    # (kind, namespace/name, Kustomization holding it)
    ("Kustomization", "flux-system/infra-aws", None),
    ("HelmRelease", "kube-system/aws-load-balancer-controller", "flux-system/infra-aws"),
    ("HelmRelease", "kube-system/aws-ebs-csi-driver", "flux-system/infra-aws"),
    ("HelmRelease", "kube-system/secrets-store-csi-driver-provider-aws", "flux-system/infra-aws"),
    ("HelmRelease", "external-dns/external-dns", "flux-system/infra-aws"),
    ("EC2NodeClass", "default", "flux-system/infra-aws"),
    ("NodePool", "default", "flux-system/infra-aws"),
    ("HelmRepository", "kube-system/eks-charts", "flux-system/infra-aws"),
    ("HelmRepository", "kube-system/aws-ebs-csi-driver", "flux-system/infra-aws"),
    ("HelmRepository", "kube-system/secrets-store-csi-driver-provider-aws", "flux-system/infra-aws"),
    ("HelmRepository", "external-dns/external-dns", "flux-system/infra-aws"),
    ("Namespace", "external-dns", "flux-system/infra-aws"),
    ("StorageClass", "gp3", "flux-system/infra-configs"),
    ("IngressClassParams", "alb", "flux-system/infra-configs"),
    ("IngressClass", "alb", "flux-system/infra-configs"),
    ("SecretProviderClass", "ingress-nginx/ingress-default-tls", "flux-system/infra-configs"),
    ("TargetGroupBinding", "shop/orders-partners", "flux-system/apps"),
}


def excluded(result) -> dict[tuple, str]:
    return {(x.kind, f"{x.namespace}/{x.name}" if x.namespace else x.name, x.kustomization): x.reason
            for x in result.excluded}


def test_aws_only_components_are_left_out_each_with_its_reason(components_render) -> None:
    found = excluded(components_render)
    assert set(found) == EXCLUDED
    assert all(reason for reason in found.values())
    assert "provider aws" in found[("HelmRelease", "external-dns/external-dns", "flux-system/infra-aws")]
    assert "ebs.csi.aws.com" in found[("StorageClass", "gp3", "flux-system/infra-configs")]
    assert "ingress.k8s.aws/alb" in found[("IngressClass", "alb", "flux-system/infra-configs")]
    assert "provider aws" in found[("SecretProviderClass", "ingress-nginx/ingress-default-tls", "flux-system/infra-configs")]
    assert "Load Balancer Controller" in found[("TargetGroupBinding", "shop/orders-partners", "flux-system/apps")]
    assert found[("Kustomization", "flux-system/infra-aws", None)].startswith("everything it applies is left out: ")
    assert found[("HelmRepository", "kube-system/eks-charts", "flux-system/infra-aws")] == \
        "only used by HelmRelease aws-load-balancer-controller, which is left out"


def test_what_stays_is_exactly_the_portable_rest_in_dependency_order(components_render) -> None:
    assert [k.id for k in components_render.kustomizations] == list(KEPT)
    for kid, expected in KEPT.items():
        assert names(by_id(components_render)[kid].resources) == expected, kid


def test_no_depends_on_names_a_left_out_kustomization(components_render) -> None:
    left_out = {f"{x.namespace}/{x.name}" for x in components_render.excluded if x.kind == "Kustomization"}
    assert left_out == {"flux-system/infra-aws"}
    for k in components_render.kustomizations:
        assert not set(k.depends_on) & left_out
        assert not {f"flux-system/{d['name']}" for d in k.object["spec"].get("dependsOn", [])} & left_out
    assert by_id(components_render)["flux-system/infra-configs"].depends_on == ["flux-system/infra-controllers"]
    assert by_id(components_render)["flux-system/apps"].depends_on == ["flux-system/infra-configs"]
    assert ("Kustomization", "infra-configs", "spec.dependsOn: removed flux-system/infra-aws (left out)") in {
        (a.kind, a.name, a.change) for a in components_render.adapted}


def test_only_escaped_or_opted_out_references_keep_a_dollar_brace(components_render) -> None:
    leftovers = []
    for k, resource in components_render.resources():
        text = json.dumps(resource)
        if "${" in text:
            leftovers.append(f"{resource['kind']}/{resource['metadata']['name']}")
    assert sorted(leftovers) == ["ConfigMap/catalog-config", "ConfigMap/catalog-scripts", "ConfigMap/ledger-scripts"]
    assert find(components_render, "ConfigMap", "catalog-config")["data"]["INDEX_NAME_TEMPLATE"] == "catalog-${LOCALE}"
    source = yaml.safe_load((COMPONENTS / "apps/base/catalog/scripts.yaml").read_text())
    assert find(components_render, "ConfigMap", "catalog-scripts")["data"] == source["data"]  # opted out
    source = yaml.safe_load((COMPONENTS / "apps/base/ledger/scripts.yaml").read_text())
    assert find(components_render, "ConfigMap", "ledger-scripts")["data"] == source["data"]


def test_every_resource_is_a_complete_object(components_render) -> None:
    for _, resource in components_render.resources():
        assert resource["apiVersion"] and resource["kind"] and resource["metadata"]["name"]


def test_environment_values_land_where_flux_would_put_them(components_render) -> None:
    orders = find(components_render, "ConfigMap", "orders-config", "shop")["data"]
    assert orders == {"APP_ENV": "demo", "LOG_LEVEL": "info", "PUBLIC_URL": "https://orders.demo.localtest.me",
                      "DB_HOST": "devenv-demo-db", "DB_NAME": "orders", "DB_USER": "orders",
                      "DATABASE_URL": "jdbc:mariadb://devenv-demo-db:3306/orders"}
    assert find(components_render, "Secret", "orders-db", "shop")["stringData"] == {
        "username": "orders", "password": GENERATED_PLACEHOLDER}
    assert find(components_render, "ConfigMap", "catalog-config")["data"]["OPENSEARCH_URL"] == "http://devenv-demo-search:9200"
    assert find(components_render, "ClusterIssuer", "letsencrypt")["spec"]["acme"]["email"] == \
        "platform-team@demo.localtest.me"
    hosts = [rule["host"] for rule in find(components_render, "Ingress", "web")["spec"]["rules"]]
    assert hosts == ["demo.localtest.me", "www.demo.localtest.me"]
    cidr = find(components_render, "NetworkPolicy", "orders")["spec"]["ingress"][0]["from"][0]["ipBlock"]["cidr"]
    assert cidr == "10.0.0.0/16"
    assert components_render.environment_configmap["data"]["RDS_ENDPOINT"] == "devenv-demo-db"
    assert components_render.warnings == []  # the port only appears inside a URL: no type change


def test_images_and_replicas_of_the_production_overlay(components_render) -> None:
    def images(name: str) -> list[str]:
        spec = find(components_render, "Deployment", name)["spec"]["template"]["spec"]
        return [c["image"] for c in spec.get("initContainers", []) + spec["containers"]]

    assert images("orders") == ["ghcr.io/stefanprodan/podinfo:6.7.1"]
    assert images("catalog") == ["curlimages/curl:8.11.1", "ghcr.io/stefanprodan/podinfo:6.7.1"]
    assert images("web") == ["ghcr.io/stefanprodan/podinfo:6.7.1"]
    assert {n: find(components_render, "Deployment", n)["spec"]["replicas"] for n in ("orders", "catalog", "web")} == \
        {"orders": 1, "catalog": 3, "web": 3}


def test_what_stays_is_adapted_off_aws_and_each_change_is_reported(components_render) -> None:
    sa = find(components_render, "ServiceAccount", "orders")
    assert "eks.amazonaws.com/role-arn" not in sa["metadata"].get("annotations", {})
    ingress = find(components_render, "Ingress", "orders")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert not [a for a in ingress["metadata"].get("annotations", {}) if a.startswith("alb.ingress.kubernetes.io/")]
    assert ingress["spec"]["rules"][0]["host"] == "orders.demo.localtest.me"
    assert find(components_render, "PersistentVolumeClaim", "orders-exports")["spec"]["storageClassName"] == "standard"
    changes = {(a.kind, a.namespace, a.name, a.change) for a in components_render.adapted if a.kind != "Ingress"}
    irsa = "metadata.annotations: removed eks.amazonaws.com/role-arn (IRSA: IAM roles exist only on EKS)"
    sdk = ("env: added AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SECRETS_MANAGER, AWS_REGION, AWS_DEFAULT_REGION, "
           "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (the local aws stand-in, in place of ServiceAccount {}'s IRSA role)")
    assert changes == {
        ("Kustomization", "flux-system", "infra-configs", "spec.dependsOn: removed flux-system/infra-aws (left out)"),
        ("ServiceAccount", "shop", "orders", irsa), ("ServiceAccount", "shop", "ledger", irsa),
        ("PersistentVolumeClaim", "shop", "orders-exports", "spec.storageClassName: gp3 -> standard (an AWS storage class)"),
        # the local profile's aws service: the IRSA workloads' SDKs pointed at it
        ("Deployment", "shop", "orders", "spec.template.spec.containers[0]." + sdk.format("orders")),
        ("Deployment", "shop", "ledger", "spec.template.spec.initContainers[0]." + sdk.format("ledger")),
        ("Deployment", "shop", "ledger", "spec.template.spec.containers[0]." + sdk.format("ledger")),
    }
    assert len([a for a in components_render.adapted if a.kind == "Ingress" and a.name == "orders"]) == 2
    # ingress-nginx's NLB annotations are inert off AWS: kept as they are
    values = find(components_render, "HelmRelease", "ingress-nginx")["spec"]["values"]
    assert "service.beta.kubernetes.io/aws-load-balancer-type" in values["controller"]["service"]["annotations"]


def test_json_document(components_render) -> None:
    doc = json.loads(json.dumps(components_render.to_dict()))
    assert list(doc) == ["environment", "profile", "platform", "mirror", "kustomizations", "excluded", "notRendered",
                         "adapted", "environmentConfigMap", "environmentObjects", "warnings"]
    assert doc["environment"] == "demo" and doc["profile"] == "local"
    apps = doc["kustomizations"][2]
    assert {k: apps[k] for k in ("name", "namespace", "path", "dependsOn")} == {
        "name": "apps", "namespace": "flux-system", "path": "./apps/production", "dependsOn": ["flux-system/infra-configs"]}
    assert len(apps["resources"]) == 19  # ledger's ServiceAccount, scripts and Deployment among them
    assert set(doc["excluded"][0]) == {"kind", "name", "namespace", "kustomization", "reason"}
    assert set(doc["adapted"][0]) == {"kind", "name", "namespace", "kustomization", "change"}
    assert doc["environmentConfigMap"]["metadata"]["name"] == "environment"


def test_flux_objects_validate_against_the_crds(components_render, crd_dir) -> None:
    from devenv.flux.crds import validate_all

    objects = components_render.flux_objects()
    assert {o["kind"] for o, _ in objects} == {"Kustomization", "HelmRelease", "HelmRepository"}
    assert validate_all(objects, crd_dir) == []


def test_builds_in_parallel_give_the_same_result_as_one_at_a_time(local_profile, components_render) -> None:
    serial = render_environment(local_profile, "demo", workers=1)
    assert serial.to_dict() == components_render.to_dict()


def test_staging_cluster_folder_has_no_kustomization_yaml_and_renders_the_same_way(tmp_path: Path) -> None:
    profile = load_profile(write_profile(tmp_path, _staging_profile_text()))
    result = render_environment(profile, "demo")
    assert [k.id for k in result.kustomizations] == list(KEPT)
    assert find(result, "ConfigMap", "orders-config")["data"]["LOG_LEVEL"] == "debug"
    assert find(result, "Deployment", "web")["spec"]["replicas"] == 2
    assert find(result, "PersistentVolumeClaim", "orders-exports")["spec"]["resources"]["requests"]["storage"] == "2Gi"


def _staging_profile_text() -> str:
    return """name: staging
target: kind
mirror: clusters/staging
services:
  db: {type: mariadb, database: orders, user: orders}
  search: {type: opensearch}
environment:
  data:
    CLUSTER_NAME: "devenv-{env.name}"
    ENVIRONMENT: "{env.name}"
    DOMAIN: "{env.name}.localtest.me"
    AWS_REGION: us-east-1
    ACCOUNT_ID: "000000000000"
    VPC_CIDR: 10.0.0.0/16
    RDS_ENDPOINT: "{services.db.host}"
    RDS_PORT: "{services.db.port}"
    RDS_DATABASE: "{services.db.database}"
    RDS_USERNAME: "{services.db.user}"
    OPENSEARCH_ENDPOINT: "{services.search.url}"
  secretData:
    RDS_PASSWORD: "{services.db.password}"
"""


def test_values_yaml_reads_as_non_strings_are_reported_where_the_api_server_needs_strings(tmp_path: Path) -> None:
    text = _staging_profile_text().replace("clusters/staging", "clusters/production") \
        .replace('ENVIRONMENT: "{env.name}"', 'ENVIRONMENT: "on"').replace('RDS_PASSWORD: "{services.db.password}"',
                                                                      'RDS_PASSWORD: "123456"')
    result = render_environment(load_profile(write_profile(tmp_path, text)), "demo")
    found = {(w.kind, w.name, w.field): w.value for w in result.warnings}
    assert found == {("ConfigMap", "orders-config", "data.APP_ENV"): True,
                     ("ConfigMap", "catalog-config", "data.APP_ENV"): True,
                     ("Secret", "orders-db", "stringData.password"): 123456}
    assert all("Flux would fail to apply it" in w.message for w in result.warnings)


def test_the_profile_can_exclude_kustomizations_and_helm_releases(tmp_path: Path) -> None:
    text = _staging_profile_text().replace("clusters/staging", "clusters/production") + \
        "exclude: [infra-configs, cert-manager]\n"
    result = render_environment(load_profile(write_profile(tmp_path, text)), "demo")
    found = excluded(result)
    reason = found[("Kustomization", "flux-system/infra-configs", None)]
    assert reason.startswith("listed in the profile's exclude (") and reason.endswith("profile.yaml)")
    assert found[("HelmRelease", "cert-manager/cert-manager", "flux-system/infra-controllers")].startswith(
        "listed in the profile's exclude")
    assert ("HelmRepository", "cert-manager/jetstack", "flux-system/infra-controllers") in found  # its orphan
    assert [k.id for k in result.kustomizations] == ["flux-system/infra-controllers", "flux-system/apps"]
    assert by_id(result)["flux-system/apps"].depends_on == []
    assert "dependsOn" not in by_id(result)["flux-system/apps"].object["spec"]


# -- errors --------------------------------------------------------------------------------------------


@pytest.fixture
def platform(tmp_path: Path) -> Path:
    """A private copy of components/ a test may break."""
    copy = tmp_path / "platform"
    shutil.copytree(COMPONENTS, copy)
    return copy


def test_a_substitute_from_that_does_not_exist_names_it(tmp_path: Path, local_profile) -> None:
    text = _staging_profile_text().replace("clusters/staging", "clusters/production").replace(
        "environment:\n", "environment:\n  name: cluster-vars\n")
    with pytest.raises(PlatformError) as err:
        render_environment(load_profile(write_profile(tmp_path, text)), "demo")
    assert str(err.value).startswith("post-build substitution cannot complete: 1 substituteFrom object missing")
    assert "ConfigMap flux-system/environment, read by Kustomization flux-system/infra-configs (" in str(err.value)
    assert "generates ConfigMap flux-system/cluster-vars" in str(err.value)


def test_an_undefined_variable_in_strict_mode_names_variable_and_resource(platform: Path, local_profile) -> None:
    path = platform / "apps/base/web/deployment.yaml"
    path.write_text(path.read_text().replace("value: https://${DOMAIN}", "value: https://${CDN_HOST}"))
    with pytest.raises(SubstitutionError) as err:
        render_environment(local_profile, "demo", platform=platform)
    assert "CDN_HOST: in Deployment/shop/web, Kustomization flux-system/apps" in str(err.value)
    relaxed = render_environment(local_profile, "demo", platform=platform, strict=False)
    assert any(w.message.startswith("variable CDN_HOST is not defined, so it became empty") for w in relaxed.warnings)
    env = find(relaxed, "Deployment", "web")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "PUBLIC_URL", "value": "https://"} in env


def test_an_invalid_variable_name_is_an_error(platform: Path, local_profile) -> None:
    path = platform / "clusters/production/apps.yaml"
    path.write_text(path.read_text().replace("LOG_LEVEL: info", "LOG_LEVEL: info\n      log-format: json"))
    with pytest.raises(SubstitutionError) as err:
        render_environment(local_profile, "demo", platform=platform)
    assert str(err.value).startswith("Kustomization flux-system/apps (")
    assert "variable name 'log-format' is invalid" in str(err.value)


def test_a_kustomize_failure_names_the_command_and_its_message(platform: Path, local_profile) -> None:
    path = platform / "apps/production/kustomization.yaml"
    path.write_text(path.read_text().replace("- namespace.yaml", "- namespace.yaml\n  - gone.yaml"))
    with pytest.raises(CommandFailed) as err:
        render_environment(local_profile, "demo", platform=platform)
    assert str(err.value).startswith("kustomize build failed for Kustomization flux-system/apps (")
    assert "kustomize" in err.value.command and "gone.yaml" in str(err.value)


def test_malformed_yaml_inside_a_path_names_the_file(platform: Path, local_profile) -> None:
    path = platform / "apps/base/web/service.yaml"
    path.write_text(path.read_text().replace("  selector:", " selector:"))
    with pytest.raises(PlatformError) as err:
        render_environment(local_profile, "demo", platform=platform)
    assert "apps/base/web/service.yaml:" in str(err.value) and "not valid YAML" in str(err.value)
    assert err.value.context[0].startswith("while building Kustomization flux-system/apps")


def test_a_missing_platform_folder(local_profile, tmp_path: Path) -> None:
    with pytest.raises(PlatformError, match="does not exist"):
        render_environment(local_profile, "demo", platform=tmp_path / "nope")


def test_a_second_render_sharing_a_build_cache_runs_no_kustomize_build_and_renders_the_same(
        local_profile, monkeypatch) -> None:
    from devenv.flux import kustomize
    from devenv.flux.kustomize import BuildCache
    from devenv.flux.render import render_environment

    builds = []
    real = kustomize.run_build
    monkeypatch.setattr(kustomize, "run_build", lambda directory, *, describe, original=None: builds.append(describe)
                        or real(directory, describe=describe, original=original))
    cache = BuildCache()
    first = render_environment(local_profile, "demo", build_cache=cache)
    built = len(builds)
    second = render_environment(local_profile, "demo", passwords={"db": "s3cret"}, build_cache=cache)
    assert built > 0 and len(builds) == built  # every build came from the cache
    uncached = render_environment(local_profile, "demo", passwords={"db": "s3cret"})
    assert [r for _, r in second.resources()] == [r for _, r in uncached.resources()]
    assert "s3cret" in str(second.to_dict(show_secrets=True))  # substituted anew, not taken from the cache
