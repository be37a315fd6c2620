"""What real Flux repositories hit beyond the render cases: adaptation before substitution,
problems reported all at once, bad files named, remote resources, left-out parts across outputs,
secrets in the JSON output, objects applied twice."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from conftest import by_id, find, names, write_profile
from devenv.cli import app
from devenv.errors import PlatformError, SubstitutionError
from devenv.flux.render import render_environment
from devenv.domain.profiles import load_profile
from test_render_pipeline import PROFILE, configmap, kustomization, platform, profile, write  # noqa: F401 - fixtures


def release(name: str, chart: str, source: str, namespace: str = "infra", **spec) -> dict:
    return {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"interval": "1h", "chart": {"spec": {"chart": chart, "sourceRef": {
                "kind": "HelmRepository", "name": source}}}, **spec}}


def repository(name: str, url: str, namespace: str = "infra") -> dict:
    return {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
            "metadata": {"name": name, "namespace": namespace}, "spec": {"interval": "1h", "url": url}}


def substituting(name: str, path: str, **spec) -> dict:
    return kustomization(name, path, postBuild={"substituteFrom": [{"kind": "ConfigMap", "name": "environment"}]},
                         **spec)


def test_a_variable_used_only_in_what_devenv_removes_needs_no_value(platform: Path, profile) -> None:
    write(platform, "clusters/dev/apps.yaml", substituting("apps", "./apps"))
    write(platform, "apps/sa.yaml", {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {
        "name": "loans-api", "namespace": "loans",
        "annotations": {"eks.amazonaws.com/role-arn": "${LOANS_API_ROLE_ARN}", "team": "${DOMAIN}"}}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {
            "name": "web", "namespace": "loans",
            "annotations": {"alb.ingress.kubernetes.io/certificate-arn": "${CERT_ARN}"}},
         "spec": {"ingressClassName": "alb"}})
    result = render_environment(profile, "demo", platform=platform)
    assert find(result, "ServiceAccount", "loans-api")["metadata"]["annotations"] == {"team": "dev.test"}
    assert "annotations" not in find(result, "Ingress", "web")["metadata"]
    assert [a.change for a in result.adapted if a.name == "loans-api"] == [
        "metadata.annotations: removed eks.amazonaws.com/role-arn (IRSA: IAM roles exist only on EKS)"]


def test_every_missing_substitute_from_object_is_named_at_once(platform: Path, profile) -> None:
    for name, source in (("a", "vars-a"), ("b", "vars-b")):
        write(platform, f"clusters/dev/{name}.yaml", kustomization(name, f"./{name}", postBuild={
            "substituteFrom": [{"kind": "ConfigMap", "name": source}]}))
        write(platform, f"{name}/cm.yaml", configmap(name, "x", value="${" + name.upper() + "_VALUE}"))
    with pytest.raises(PlatformError) as err:
        render_environment(profile, "demo", platform=platform)
    text = str(err.value)
    assert text.startswith("post-build substitution cannot complete: 2 substituteFrom objects missing")
    assert "ConfigMap flux-system/vars-a, read by Kustomization flux-system/a (" in text
    assert "ConfigMap flux-system/vars-b, read by Kustomization flux-system/b (" in text
    assert "keys it would hold: A_VALUE" in text and "keys it would hold: B_VALUE" in text


def test_a_file_that_is_not_utf8_is_named(platform: Path, profile) -> None:
    write(platform, "clusters/dev/apps.yaml", kustomization("apps", "./apps"))
    (platform / "apps").mkdir()
    (platform / "apps/cm.yaml").write_bytes(b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: caf\xe9}\n")
    with pytest.raises(PlatformError) as err:
        render_environment(profile, "demo", platform=platform)
    assert "apps/cm.yaml: not UTF-8 text (byte 51" in str(err.value)


def test_a_post_build_substitute_that_is_not_a_mapping_is_named(platform: Path, profile) -> None:
    write(platform, "clusters/dev/apps.yaml", kustomization("apps", "./apps", postBuild={"substitute": ["A=1"]}))
    write(platform, "apps/cm.yaml", configmap("a", "x"))
    result = CliRunner().invoke(app, ["render", "x", "--platform", str(platform), "--profile", str(profile.path)])
    assert result.exit_code == 2
    assert "Kustomization flux-system/apps (" in result.stderr
    assert "postBuild.substitute must be a mapping of NAME: value, not a list" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_remote_resource_is_named_and_can_be_skipped(platform: Path, profile) -> None:
    write(platform, "clusters/dev/remote.yaml", kustomization("remote", "./remote"))
    write(platform, "clusters/dev/local.yaml", kustomization("local", "./local"))
    write(platform, "local/cm.yaml", configmap("local", "x"))
    (platform / "remote/base").mkdir(parents=True)
    (platform / "remote/kustomization.yaml").write_text("resources: [base]\n")
    (platform / "remote/base/kustomization.yaml").write_text(
        "resources:\n- https://github.com/example/manifests/deploy?ref=v1\n")
    with pytest.raises(PlatformError) as err:
        render_environment(profile, "demo", platform=platform)
    assert "Kustomization flux-system/remote (" in str(err.value)
    assert "remote/base/kustomization.yaml names the remote resource https://github.com/example/manifests/deploy?ref=v1" \
        in str(err.value)
    assert "--skip-unbuildable" in err.value.hint
    result = render_environment(profile, "demo", platform=platform, skip_unbuildable=True)
    assert names(by_id(result)["flux-system/local"].resources) == {"ConfigMap/x/local"}
    [skipped] = result.not_rendered
    assert skipped.name == "remote" and "remote resource https://github.com/example/" in skipped.reason


def test_a_chart_source_only_left_out_charts_use_goes_wherever_it_is(platform: Path, profile) -> None:
    write(platform, "clusters/dev/sources.yaml", kustomization("sources", "./sources"))
    write(platform, "clusters/dev/controllers.yaml", kustomization("controllers", "./controllers"))
    write(platform, "sources/repos.yaml", repository("eks", "https://aws.github.io/eks-charts"),
          repository("jetstack", "https://charts.jetstack.io"))
    write(platform, "controllers/releases.yaml", release("aws-load-balancer-controller", "aws-load-balancer-controller",
                                                         "eks"), release("cert-manager", "cert-manager", "jetstack"))
    result = render_environment(profile, "demo", platform=platform)
    assert names(by_id(result)["flux-system/sources"].resources) == {"HelmRepository/infra/jetstack"}
    assert [x.reason for x in result.excluded if x.name == "eks"] == [
        "only used by HelmRelease aws-load-balancer-controller, which is left out"]


def test_values_from_a_config_map_are_adapted(platform: Path, profile) -> None:
    values = {"serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/velero"}},
              "persistence": {"storageClass": "gp3"}}
    write(platform, "clusters/dev/backup.yaml", kustomization("backup", "./backup"))
    write(platform, "backup/velero.yaml", repository("vmware", "https://vmware-tanzu.github.io/helm-charts"),
          release("velero", "velero", "vmware", valuesFrom=[{"kind": "ConfigMap", "name": "velero-values",
                                                             "valuesKey": "custom.yaml"}]),
          {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "velero-values", "namespace": "infra"},
           "data": {"custom.yaml": yaml.safe_dump(values)}})
    result = render_environment(profile, "demo", platform=platform)
    adapted = yaml.safe_load(find(result, "ConfigMap", "velero-values")["data"]["custom.yaml"])
    assert adapted == {"serviceAccount": {"annotations": {}}, "persistence": {"storageClass": "standard"}}


def test_a_pod_mounting_a_left_out_secret_provider_class_is_warned(platform: Path, profile) -> None:
    write(platform, "clusters/dev/apps.yaml", kustomization("apps", "./apps"))
    write(platform, "apps/spc.yaml", {
        "apiVersion": "secrets-store.csi.x-k8s.io/v1", "kind": "SecretProviderClass",
        "metadata": {"name": "db", "namespace": "loans"}, "spec": {"provider": "aws"}}, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": "loans"},
        "spec": {"selector": {"matchLabels": {"app": "api"}}, "template": {
            "metadata": {"labels": {"app": "api"}},
            "spec": {"containers": [{"name": "api", "image": "api"}], "volumes": [{"name": "secrets", "csi": {
                "driver": "secrets-store.csi.k8s.io", "volumeAttributes": {"secretProviderClass": "db"}}}]}}}})
    result = render_environment(profile, "demo", platform=platform)
    assert any(w.message.startswith("Deployment loans/api mounts SecretProviderClass db, which is left out")
               for w in result.warnings)


def test_an_object_applied_by_two_kustomizations_is_warned(platform: Path, profile) -> None:
    for name in ("one", "two"):
        write(platform, f"clusters/dev/{name}.yaml", kustomization(name, f"./{name}"))
        write(platform, f"{name}/cm.yaml", configmap("shared", "x"))
    result = render_environment(profile, "demo", platform=platform)
    assert [w.message for w in result.warnings if "applied by" in w.message] == [
        "ConfigMap x/shared is applied by 2 Kustomizations (flux-system/one, flux-system/two): Flux would have them "
        "fight over it (each applies its own version, and pruning one deletes it from the other)"]


def test_json_carries_the_secret_masked_unless_asked(platform: Path, tmp_path: Path) -> None:
    profile = write_profile(tmp_path, PROFILE + "  secretData:\n    TOKEN: s3cret\n", name="secret.yaml")
    write(platform, "clusters/dev/apps.yaml", kustomization("apps", "./apps"))
    write(platform, "apps/cm.yaml", configmap("a", "x"))
    args = ["render", "x", "--platform", str(platform), "--profile", str(profile), "--format", "json"]
    masked = json.loads(CliRunner().invoke(app, args).stdout)
    secret = [o for o in masked["environmentObjects"] if o["kind"] == "Secret"]
    assert [s["stringData"] for s in secret] == [{"TOKEN": "********"}]
    shown = json.loads(CliRunner().invoke(app, args + ["--show-secrets"]).stdout)
    assert [o["stringData"] for o in shown["environmentObjects"] if o["kind"] == "Secret"] == [{"TOKEN": "s3cret"}]
    assert "s3cret" not in json.dumps(masked)


def test_secret_values_from_values_from_secrets_stay_base64(platform: Path, profile) -> None:
    values = yaml.safe_dump({"serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn"}}})
    write(platform, "clusters/dev/x.yaml", kustomization("x", "./x"))
    write(platform, "x/r.yaml", repository("bitnami", "https://charts.bitnami.com/bitnami"),
          release("redis", "redis", "bitnami", valuesFrom=[{"kind": "Secret", "name": "redis-values"}]),
          {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "redis-values", "namespace": "infra"},
           "data": {"values.yaml": base64.b64encode(values.encode()).decode()}})
    result = render_environment(profile, "demo", platform=platform)
    stored = find(result, "Secret", "redis-values")["data"]["values.yaml"]
    assert yaml.safe_load(base64.b64decode(stored)) == {"serviceAccount": {"annotations": {}}}


def test_undefined_variables_of_every_kustomization_are_named_at_once(platform: Path, profile) -> None:
    for name in ("a", "b"):
        write(platform, f"clusters/dev/{name}.yaml", substituting(name, f"./{name}"))
        write(platform, f"{name}/cm.yaml", configmap(name, "x", value="${" + name.upper() + "_MISSING}"))
    with pytest.raises(SubstitutionError) as err:
        render_environment(profile, "demo", platform=platform)
    assert "2 variables undefined" in str(err.value)
    assert "A_MISSING: in ConfigMap/x/a, Kustomization flux-system/a" in str(err.value)
    assert "B_MISSING: in ConfigMap/x/b, Kustomization flux-system/b" in str(err.value)
    relaxed = render_environment(profile, "demo", platform=platform, strict=False)
    assert find(relaxed, "ConfigMap", "a")["data"] == {"value": None}  # empty, then YAML 1.1 null, as Flux
