"""Rendering a user's own platform (tests/data/platforms/acme, cluster folder clusters/dev-eu) with
tests/data/profiles/valid-acme.yaml: nested Kustomizations, a remote source, Flux's kustomize
overlay, commonMetadata, substituteFrom a Secret and an optional ConfigMap.
Expectations follow tests/data/platforms/README.md (section acme/), except where noted."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ACME, ACME_PROFILE, by_id, find, names, write_profile
from devenv.errors import PlatformError
from devenv.flux.render import render_environment
from devenv.domain.profiles import load_profile

pytestmark = pytest.mark.kustomize

KEPT = {
    "flux-system/controllers": {
        "Namespace/ingress-nginx", "HelmRepository/ingress-nginx/ingress-nginx", "HelmRelease/ingress-nginx/ingress-nginx",
        "HelmRepository/kube-system/secrets-store-csi-driver", "HelmRelease/kube-system/secrets-store-csi-driver"},
    "flux-system/cluster-config": {"PriorityClass/acme-critical", "PriorityClass/acme-batch", "ClusterRole/acme-readonly"},
    "flux-system/apps": {
        "Namespace/storefront", "ConfigMap/storefront/dev-api-config", "Secret/storefront/dev-api-db",
        "Service/storefront/dev-api", "Deployment/storefront/dev-api", "Ingress/storefront/dev-api"},
    "flux-system/indexer": {"ConfigMap/storefront/indexer-config", "Secret/storefront/indexer-db",
                            "CronJob/storefront/indexer"},
    "flux-system/tenants": {
        "Namespace/team-a", "Namespace/team-b", "ServiceAccount/team-a/flux", "ServiceAccount/team-b/flux",
        "RoleBinding/team-a/flux", "RoleBinding/team-b/flux", "Kustomization/team-a/team-a", "Kustomization/team-b/team-b"},
    "team-a/team-a": {"Deployment/team-a/reports"},
    "team-b/team-b": {"Deployment/team-b/recommendations", "Service/team-b/recommendations",
                      "Ingress/team-b/recommendations"},
}


def test_kept_kustomizations_and_their_objects(acme_render) -> None:
    rendered = by_id(acme_render)
    assert set(rendered) == set(KEPT)
    for kid, expected in KEPT.items():
        assert names(rendered[kid].resources) == expected, kid
    assert rendered["team-a/team-a"].parent == "flux-system/tenants"
    assert rendered["team-b/team-b"].depends_on == ["flux-system/apps"]


def test_order_respects_depends_on_and_nesting(acme_render) -> None:
    order = [k.id for k in acme_render.kustomizations]
    before = lambda a, b: order.index(a) < order.index(b)  # noqa: E731
    assert before("flux-system/controllers", "flux-system/cluster-config")
    assert before("flux-system/cluster-config", "flux-system/apps")
    assert before("flux-system/apps", "flux-system/indexer")
    assert before("flux-system/tenants", "team-a/team-a") and before("flux-system/tenants", "team-b/team-b")
    assert before("flux-system/apps", "team-b/team-b")


def test_exclusions_with_reasons(acme_render) -> None:
    found = {(x.kind, f"{x.namespace}/{x.name}" if x.namespace else x.name, x.kustomization): x.reason
             for x in acme_render.excluded}
    assert set(found) == {
        ("Kustomization", "flux-system/karpenter", None),
        ("HelmRelease", "kube-system/karpenter", "flux-system/karpenter"),
        ("OCIRepository", "kube-system/karpenter", "flux-system/karpenter"),
        ("HelmRelease", "kube-system/cluster-autoscaler", "flux-system/controllers"),
        ("HelmRelease", "kube-system/secrets-store-csi-driver-provider-aws", "flux-system/controllers"),
        ("HelmRepository", "kube-system/autoscaler", "flux-system/controllers"),
        ("HelmRepository", "kube-system/aws-secrets-manager", "flux-system/controllers"),
        ("EC2NodeClass", "general", "flux-system/cluster-config"),
        ("NodePool", "general", "flux-system/cluster-config"),
        ("SecretProviderClass", "ingress-nginx/wildcard-tls", "flux-system/cluster-config"),
        # the cluster folder's own source of the not-rendered observability: listed, not silently dropped
        ("OCIRepository", "flux-system/platform-observability", None),
    }
    assert "only serves flux-system/observability, which is not rendered" in \
        found[("OCIRepository", "flux-system/platform-observability", None)]
    assert "cloudProvider aws" in found[("HelmRelease", "kube-system/cluster-autoscaler", "flux-system/controllers")]
    assert "EC2" in found[("HelmRelease", "kube-system/karpenter", "flux-system/karpenter")]
    [observability] = [x.reason for x in acme_render.not_rendered if x.name == "observability"]
    assert observability.startswith("not rendered: its source OCIRepository/flux-system/platform-observability")
    assert by_id(acme_render).keys().isdisjoint({"flux-system/karpenter", "flux-system/observability"})
    assert by_id(acme_render)["flux-system/cluster-config"].depends_on == ["flux-system/controllers"]


def test_flux_overlay_on_the_apps_kustomization(acme_render) -> None:
    namespace = find(acme_render, "Namespace", "storefront")  # `shop` in the base: renamed, not prefixed
    assert namespace["metadata"]["labels"]["acme.io/team"] == "storefront"
    api = find(acme_render, "Deployment", "dev-api", "storefront")
    container = api["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.acme.io/storefront/api:2.4.0-dev.17"  # Flux's images replace the overlay's
    assert api["spec"]["replicas"] == 1
    assert {"name": "FEATURE_NEW_CHECKOUT", "value": "true"} in container["env"]
    assert container["resources"]["limits"]["memory"] == "256Mi"
    assert container["envFrom"] == [{"configMapRef": {"name": "dev-api-config"}}]
    [password] = [e for e in container["env"] if e["name"] == "DB_PASSWORD"]
    assert password["valueFrom"]["secretKeyRef"]["name"] == "dev-api-db"
    ingress = find(acme_render, "Ingress", "dev-api")
    assert ingress["spec"]["rules"][0]["host"] == "shop-dev.dev.acme.test"
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/whitelist-source-range"] == "10.20.0.0/16"
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "dev-api"


def test_common_metadata_is_set_after_substitution_on_each_objects_own_metadata(acme_render) -> None:
    """kustomize-controller sets commonMetadata when it applies, after post-build substitution
    (kustomization_controller.go: build() substitutes, apply() calls SetCommonMetadata), so a
    `${CLUSTER_NAME}` written in commonMetadata reaches the cluster literally. The platforms README
    expects `dev-eu` there; that contradicts the controller, which this follows."""
    for resource in by_id(acme_render)["flux-system/apps"].resources:
        meta = resource["metadata"]
        assert {k: meta["labels"][k] for k in ("acme.io/team", "acme.io/environment")} == \
            {"acme.io/team": "storefront", "acme.io/environment": "dev"}
        assert meta["annotations"]["acme.io/owner"] == "storefront@acme.io"
        assert meta["annotations"]["acme.io/cluster"] == "${CLUSTER_NAME}"
    api = find(acme_render, "Deployment", "dev-api")
    assert api["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "api"}
    assert api["spec"]["template"]["metadata"]["labels"] == {"app.kubernetes.io/name": "api"}


def test_substituted_values_and_the_one_type_change(acme_render) -> None:
    config = find(acme_render, "ConfigMap", "dev-api-config")["data"]
    assert config["LOG_FORMAT"] == "json"  # ${LOG_FORMAT:=json}, in no source: strict mode accepts the default
    assert config["PUBLIC_HOST"] == "shop.dev.acme.test"
    assert config["DB_HOST"] == "devenv-demo-db" and config["DB_NAME"] == "products"
    assert config["DB_PORT"] == 3306
    [warning] = acme_render.warnings
    assert (warning.kind, warning.namespace, warning.name, warning.field, warning.value) == \
        ("ConfigMap", "storefront", "dev-api-config", "data.DB_PORT", 3306)
    assert warning.kustomization == "flux-system/apps"


def test_components_and_the_indexer(acme_render) -> None:
    cron = find(acme_render, "CronJob", "indexer")
    template = cron["spec"]["jobTemplate"]["spec"]["template"]
    assert {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://otel-agent.observability:4317"} in \
        template["spec"]["containers"][0]["env"]
    assert template["metadata"]["annotations"] == {"acme.io/tracing": "otlp"}
    assert find(acme_render, "ConfigMap", "indexer-config")["data"]["INDEX_ALIAS"] == "products-dev-eu"


def test_nested_kustomizations_get_values_from_the_outer_one(acme_render) -> None:
    team_a = by_id(acme_render)["team-a/team-a"].object
    assert team_a["spec"]["postBuild"]["substitute"] == {"TENANT": "team-a", "CLUSTER_NAME": "dev-eu",
                                                         "DOMAIN": "dev.acme.test"}
    env = find(acme_render, "Deployment", "reports")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "TENANT", "value": "team-a"} in env and {"name": "CLUSTER", "value": "dev-eu"} in env
    assert find(acme_render, "Ingress", "recommendations")["spec"]["rules"][0]["host"] == "recs.team-b.dev.acme.test"


def test_flux_objects_validate_against_the_crds(acme_render, crd_dir) -> None:
    from devenv.flux.crds import validate_all

    objects = acme_render.flux_objects()
    assert sum(o["kind"] == "Kustomization" for o, _ in objects) == 7  # 5 rewritten + 2 nested in tenants' output
    assert validate_all(objects, crd_dir) == []


def test_without_the_required_secret_apps_cannot_be_rendered(tmp_path: Path) -> None:
    text = ACME_PROFILE.read_text().replace("version: 1\n", "").replace("secretName: cluster-secrets", "secretName: other")
    with pytest.raises(PlatformError) as err:
        render_environment(load_profile(write_profile(tmp_path, text)), "demo", platform=ACME)
    assert "Secret flux-system/cluster-secrets, read by Kustomization flux-system/apps (" in str(err.value)
    assert str(err.value).startswith("post-build substitution cannot complete: 1 substituteFrom object missing")


def test_the_profile_maps_a_remote_source_to_a_local_folder(tmp_path: Path) -> None:
    checkout = tmp_path / "observability"
    checkout.mkdir()
    (checkout / "agent.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: otel-agent\n"
                                         "  namespace: observability\ndata:\n  endpoint: otlp\n")
    text = ACME_PROFILE.read_text().replace("version: 1\n", "") + \
        f"sources:\n  OCIRepository/flux-system/platform-observability: {checkout}\n"
    result = render_environment(load_profile(write_profile(tmp_path, text)), "demo", platform=ACME)
    observability = by_id(result)["flux-system/observability"]
    assert names(observability.resources) == {"ConfigMap/observability/otel-agent"}
    assert "mapped by the profile" in observability.source
