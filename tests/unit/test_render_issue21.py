"""Issue 21: what public Flux repositories showed render to get wrong. Each test builds a tiny Flux
repository of its own (cluster folder clusters/dev, a profile beside it), the way
../shared/render-cases/make-cases.sh writes its cases, and pins what devenv must say or do."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from devenv.cli import app
from devenv.errors import DevenvError, PlatformError, SubstitutionError
from devenv.flux.render import render_environment
from devenv.domain.profiles import load_profile

PROFILE = """\
version: 1
name: repro
target: kind
mirror: clusters/dev
environment:
  name: environment
  namespace: flux-system
  data:
    ENVIRONMENT: "{env.name}"
"""


def ks(name: str, path: str, extra: str = "", source: str = "{kind: GitRepository, name: flux-system}") -> str:
    """A Flux Kustomization of the cluster folder (as make-cases.sh's `ks`)."""
    return (f"apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
            f"metadata: {{name: {name}, namespace: flux-system}}\n"
            f"spec:\n  interval: 10m\n  path: {path}\n  prune: true\n  sourceRef: {source}\n"
            + textwrap.indent(textwrap.dedent(extra), "  "))


def cm(name: str, data: str = "{k: v}", namespace: str = "default") -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {namespace}}}\ndata: {data}\n"


def repo(root: Path, files: dict[str, str], profile_extra: str = "", profile: str = PROFILE) -> Path:
    """Write a tiny Flux repository (and its profile.yaml) under root."""
    for path, text in {**files, "profile.yaml": profile + profile_extra}.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


def render(root: Path, **options):
    return render_environment(load_profile(root / "profile.yaml"), "x", platform=root, **options)


def cli(root: Path, *args: str):
    return CliRunner().invoke(app, ["render", "x", "--platform", str(root), "--profile",
                                    str(root / "profile.yaml"), *args])


def kept(result) -> set[str]:
    return {f"{r['kind']}/{r['metadata']['name']}" for _, r in result.resources()}


def excluded(result) -> dict[str, str]:
    return {f"{x.kind}/{x.name}": x.reason for x in result.excluded}


# -- 8: crashes and gaps -------------------------------------------------------------------------

def test_8_a_duplicate_anchor_with_a_merge_key_renders(tmp_path: Path) -> None:
    root = repo(tmp_path, {
        "clusters/dev/apps.yaml": ks("apps", "./apps"),
        "apps/svc.yaml": textwrap.dedent("""\
            apiVersion: v1
            kind: Service
            metadata:
              name: web
              namespace: default
              labels: &labels {app: old}
              annotations: &labels {app: web}
            spec:
              selector:
                <<: *labels
                tier: front
              ports: [{port: 80}]
            """)})
    result = cli(tmp_path, "--format", "json")
    assert result.exit_code == 0, result.stderr
    (service,) = [r for k in json.loads(result.stdout)["kustomizations"] for r in k["resources"]]
    assert service["spec"]["selector"] == {"app": "web", "tier": "front"}  # the later anchor, merged


def test_8_skip_unbuildable_skips_a_kustomization_whose_path_does_not_exist(tmp_path: Path) -> None:
    root = repo(tmp_path, {
        "clusters/dev/apps.yaml": ks("apps", "./apps"),
        "clusters/dev/extra.yaml": ks("extra", "./clusters/${CLUSTER_NAME}/extra"),
        "apps/cm.yaml": cm("keep-me")})
    with pytest.raises(PlatformError, match="does not exist"):
        render(root)
    result = render(root, skip_unbuildable=True)
    assert kept(result) == {"ConfigMap/keep-me"}
    assert [(x.name, "does not exist" in x.reason) for x in result.not_rendered] == [("extra", True)]
    out = cli(root, "--skip-unbuildable")
    assert out.exit_code == 0, out.stderr
    assert "Kustomization flux-system/extra is not rendered" in out.stderr


# -- 7: wrong or stale messages ------------------------------------------------------------------

def test_7_a_dependson_on_the_bootstrap_kustomization_is_not_called_waiting_forever(tmp_path: Path) -> None:
    root = repo(tmp_path, {
        "clusters/dev/apps.yaml": ks("apps", "./apps", "dependsOn: [{name: flux-system}, {name: nowhere}]\n"),
        "apps/cm.yaml": cm("app")})
    messages = [w.message for w in render(root).warnings]
    assert not any("dependsOn flux-system/flux-system" in m for m in messages), messages
    assert any("dependsOn flux-system/nowhere, which no Kustomization defines" in m for m in messages)


def test_7_a_source_defined_nowhere_is_not_called_another_git_repository(tmp_path: Path) -> None:
    root = repo(tmp_path, {
        "clusters/dev/apps.yaml": ks("apps", "./apps"),
        "clusters/dev/other.yaml": ks("other", "./", source="{kind: GitRepository, name: platform-repo}"),
        "clusters/dev/remote.yaml": ks("remote", "./", source="{kind: GitRepository, name: remote}"),
        "clusters/dev/remote-source.yaml": ("apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\n"
                                            "metadata: {name: remote, namespace: flux-system}\n"
                                            "spec: {interval: 1m, url: 'https://example.com/other.git'}\n"),
        "apps/cm.yaml": cm("app")})
    reasons = {x.name: x.reason for x in render(root).not_rendered}
    assert "defined nowhere devenv reads" in reasons["other"] and "another Git repository" not in reasons["other"]
    assert "another Git repository" in reasons["remote"] and "https://example.com/other.git" in reasons["remote"]


def test_7_a_sops_warning_lists_the_keys_of_string_data(tmp_path: Path) -> None:
    root = repo(tmp_path, {
        "clusters/dev/apps.yaml": ks("apps", "./apps", "decryption: {provider: sops}\n"),
        "apps/secret.yaml": ("apiVersion: v1\nkind: Secret\nmetadata: {name: creds, namespace: default}\n"
                             "stringData: {API_TOKEN: 'ENC[AES256_GCM,data:xx,type:str]', DB_PASS: 'ENC[x]'}\n"
                             "sops: {version: 3.8.1, mac: 'ENC[x]'}\n")})
    (message,) = [w.message for w in render(root).warnings if "SOPS" in w.message]
    assert "(API_TOKEN, DB_PASS)" in message and "none" not in message


@pytest.mark.kustomize
def test_7_a_failed_build_does_not_point_at_the_deleted_temporary_copy(tmp_path: Path) -> None:
    root = repo(tmp_path, {
        "clusters/dev/apps.yaml": ks("apps", "./apps", "targetNamespace: team\n"),
        "apps/kustomization.yaml": "resources: [cm.yaml, missing.yaml]\n",
        "apps/cm.yaml": cm("app")})
    result = cli(root)
    assert result.exit_code != 0 and result.exit_code != 70, result.stderr
    assert "Traceback" not in result.stderr
    commands = [line for line in result.stderr.splitlines() if "kustomize" in line and "command:" in line]
    assert commands and "devenv-render-" not in result.stderr, result.stderr  # nothing names the deleted copy
    assert f"{root / 'apps'}/missing.yaml" in result.stderr  # kustomize's own message, on the user's path
    assert "devenv has deleted it" in result.stderr


@pytest.mark.kustomize
def test_7_a_failed_build_through_a_base_names_the_base_file_of_the_repository(tmp_path: Path) -> None:
    root = repo(tmp_path, {
        "clusters/dev/apps.yaml": ks("apps", "./apps/overlay", "targetNamespace: team\n"),
        "apps/overlay/kustomization.yaml": "resources: [../base]\n",
        "apps/base/kustomization.yaml": "resources: [gone.yaml]\n"})
    result = cli(root)
    assert result.exit_code not in (0, 70) and "Traceback" not in result.stderr
    assert "devenv-render-" not in result.stderr, result.stderr
    assert f"{root / 'apps/base'}" in result.stderr


# -- 3: no silent loss ---------------------------------------------------------------------------

def census(root: Path, result) -> tuple[int, int]:
    """(objects the cluster folder and the builds of its Kustomizations hold, objects the render accounts
    for: rendered + excluded + not rendered). Plain folders only (no kustomization.yaml, no nesting), so
    the test counts the documents itself."""
    def docs(folder: Path) -> int:
        return sum(1 for f in folder.rglob("*.yaml") for d in yaml.safe_load_all(f.read_text()) if d)

    held = docs(root / "clusters/dev")
    built = {k.id for k in result.kustomizations if not k.mirror}
    built |= {f"{x.kustomization}" for x in result.excluded if x.kustomization and x.kustomization != "flux-system/flux-system"}
    for k in result.kustomizations:
        if not k.mirror and k.id in built:
            held += docs(root / k.path)
    for k_id in built - {k.id for k in result.kustomizations}:  # left out whole: its objects are listed one by one
        (entry,) = [c for c in result.components if f"{c['namespace']}/{c['name']}" == k_id]
        held += docs(root / entry["path"])
    accounted = (sum(len(k.resources) for k in result.kustomizations)
                 + sum(1 for k in result.kustomizations if not k.mirror)  # the Kustomization objects themselves
                 + len(result.excluded) + len(result.not_rendered))
    return held, accounted


def test_3_the_cluster_folders_objects_stay_when_no_kustomization_of_it_renders(tmp_path: Path) -> None:
    root = repo(tmp_path, {
        "clusters/dev/vars.yaml": cm("cluster-vars", "{CLUSTER: dev}", namespace="flux-system"),
        "clusters/dev/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n",
        "clusters/dev/source.yaml": ("apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\n"
                                     "metadata: {name: apps-repo, namespace: flux-system}\n"
                                     "spec: {interval: 1m, url: 'https://example.com/apps.git'}\n"),
        "clusters/dev/apps.yaml": ks("apps", "./", source="{kind: GitRepository, name: apps-repo}"),
        "clusters/dev/infra.yaml": ks("infra", "./", source="{kind: OCIRepository, name: infra}")})
    result = render(root)
    assert kept(result) == {"ConfigMap/cluster-vars", "Namespace/team"}
    assert {x.name for x in result.not_rendered} == {"apps", "infra"}
    assert "only serves flux-system/apps, which is not rendered" in excluded(result)["GitRepository/apps-repo"]
    assert census(root, result) == (5, 5)
    out = cli(root, "--format", "json")
    assert out.exit_code == 0, out.stderr
    assert [k["source"] for k in json.loads(out.stdout)["kustomizations"]] == ["the cluster folder itself"]


def test_3_every_object_read_is_rendered_excluded_or_not_rendered(tmp_path: Path) -> None:
    root = repo(tmp_path, {
        "clusters/dev/vars.yaml": cm("cluster-vars", "{CLUSTER: dev}", namespace="flux-system"),
        "clusters/dev/apps.yaml": ks("apps", "./apps"),
        "clusters/dev/aws.yaml": ks("aws", "./aws"),
        "clusters/dev/remote.yaml": ks("remote", "./", source="{kind: OCIRepository, name: nowhere}"),
        "clusters/dev/other.yaml": ks("other", "./", source="{kind: GitRepository, name: other-repo}"),
        "clusters/dev/other-source.yaml": ("apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\n"
                                           "metadata: {name: other-repo, namespace: flux-system}\n"
                                           "spec: {interval: 1m, url: 'https://example.com/other.git'}\n"),
        "clusters/dev/suspended.yaml": ks("old", "./apps", "suspend: true\n"),
        "apps/cm.yaml": cm("app"),
        "apps/sc.yaml": ("apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: gp3}\n"
                         "provisioner: ebs.csi.aws.com\n"),
        "aws/nodepool.yaml": ("apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: default}\n"
                              "spec: {template: {spec: {nodeClassRef: {name: default}}}}\n"),
        "aws/class.yaml": ("apiVersion: karpenter.k8s.aws/v1\nkind: EC2NodeClass\nmetadata: {name: default}\n"
                           "spec: {role: KarpenterNodeRole}\n")})
    result = render(root)
    assert kept(result) == {"ConfigMap/cluster-vars", "ConfigMap/app"}
    held, accounted = census(root, result)
    assert held == 1 + 6 + 2 + 2 and accounted == held


# -- 4: a profile's ConfigMap beside the repository's own ----------------------------------------

VARS_PROFILE = """\
substituteFrom:
  - kind: ConfigMap
    name: cluster-vars
    namespace: flux-system
    data:
      CLUSTER_NAME: "{env.name}"
"""


def test_4_the_profiles_configmap_replaces_the_one_the_cluster_folder_commits(tmp_path: Path) -> None:
    root = repo(tmp_path, {
        "clusters/dev/vars.yaml": cm("cluster-vars", "{CLUSTER_NAME: prod, REGION: eu-west-1}", namespace="flux-system"),
        "clusters/dev/apps.yaml": ks("apps", "./apps", "postBuild:\n  substituteFrom: [{kind: ConfigMap, name: cluster-vars}]\n"),
        "apps/cm.yaml": cm("app", "{cluster: '${CLUSTER_NAME}'}")}, VARS_PROFILE)
    result = render(root)
    copies = [o for o in result.environment_objects + [r for _, r in result.resources()]
              if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "cluster-vars"]
    assert [c["data"] for c in copies] == [{"CLUSTER_NAME": "x"}]  # one copy: the profile's
    reason = excluded(result)["ConfigMap/cluster-vars"]
    assert "replaced by the ConfigMap cluster-vars the profile" in reason and "REGION" in reason
    assert [r["data"] for _, r in result.resources() if r["metadata"]["name"] == "app"] == [{"cluster": "x"}]


# -- 5: unfilled profiles are said ---------------------------------------------------------------

def init(root: Path) -> Path:
    """`devenv init` on the repository; the profile it writes."""
    out = root / "profiles" / "local.yaml"
    result = CliRunner().invoke(app, ["init", "--platform", str(root)])
    assert result.exit_code == 0, result.stderr
    return out


def test_5_strict_render_with_an_empty_variable_set_names_the_kustomization_and_the_variables_left(
        tmp_path: Path) -> None:
    root = repo(tmp_path, {
        "clusters/dev/apps.yaml": ks("apps", "./apps",
                                     "postBuild:\n  substituteFrom: [{kind: ConfigMap, name: environment}]\n"),
        "apps/cm.yaml": cm("app", "{url: 'https://${APP_DOMAIN}/', escaped: '$${NOT_ME}', team: '${TEAM}'}")})
    profile = init(root)
    assert "# APP_DOMAIN" in profile.read_text() and "TODO" in profile.read_text()
    result = render_environment(load_profile(profile), "x", platform=root)  # strict, as the profile is written
    assert [r["data"]["url"] for _, r in result.resources()] == ["https://${APP_DOMAIN}/"]  # Flux's rule
    (warning,) = [w for w in result.warnings if "substitutes nothing" in w.message]
    assert warning.kustomization == "flux-system/apps"
    assert "${APP_DOMAIN}, ${TEAM} stay as written" in warning.message and "NOT_ME" not in warning.message
    assert "ConfigMap flux-system/environment" in warning.message and "fill in its TODOs" in warning.message
    out = CliRunner().invoke(app, ["render", "x", "--platform", str(root), "--profile", str(profile)])
    assert out.exit_code == 0 and "substitutes nothing" in out.stderr


# -- 1 and 2: hints that lead to the fix, files of the Kustomization's own build -----------------

def overlay_repo(root: Path) -> Path:
    """The usual layout: clusters/dev/apps.yaml builds apps/dev (an overlay of ../base) with the
    cluster's own ConfigMap of variables; another app elsewhere uses the same variable name."""
    return repo(root, {
        "clusters/dev/vars.yaml": cm("cluster-vars", "{CLUSTER_NAME: dev}", namespace="flux-system"),
        "clusters/dev/apps.yaml": ks("apps", "./apps/dev",
                                     "postBuild:\n  substituteFrom: [{kind: ConfigMap, name: cluster-vars}]\n"),
        "apps/base/kustomization.yaml": "resources: [cm.yaml]\n",
        "apps/base/cm.yaml": cm("app", "{domain: '${APP_DOMAIN}', cluster: '${CLUSTER_NAME}'}"),
        "apps/dev/kustomization.yaml": "resources: [../base]\n",
        "aaa-unrelated/cm.yaml": cm("other", "{domain: '${APP_DOMAIN}'}")})


@pytest.mark.kustomize
def test_1_the_hint_names_the_object_the_variable_is_read_from_and_the_profile_lines(tmp_path: Path) -> None:
    root = overlay_repo(tmp_path)
    with pytest.raises(SubstitutionError) as caught:
        render(root)
    text = "\n".join(caught.value.context)
    assert "ConfigMap flux-system/cluster-vars, read by Kustomization flux-system/apps" in text
    lines = text[text.index("profile lines"):]
    block = lines[lines.index("  substituteFrom:"):]
    snippet = yaml.safe_load("\n".join(line[2:] for line in block.splitlines()))
    assert snippet == {"substituteFrom": [{"kind": "ConfigMap", "name": "cluster-vars", "namespace": "flux-system",
                                           "data": {"CLUSTER_NAME": "dev", "APP_DOMAIN": "..."}}]}
    assert "environment.data" not in caught.value.hint
    # following the hint: the profile generates it (replacing the repository's) and the render passes
    (root / "profile.yaml").write_text(PROFILE + "substituteFrom:\n  - kind: ConfigMap\n    name: cluster-vars\n"
                                       "    namespace: flux-system\n    data:\n      CLUSTER_NAME: dev\n"
                                       "      APP_DOMAIN: app.local\n")
    result = render(root)
    assert [r["data"] for _, r in result.resources() if r["metadata"]["name"] == "app"] == \
        [{"domain": "app.local", "cluster": "dev"}]


@pytest.mark.kustomize
def test_2_undefined_variables_name_the_files_of_the_kustomizations_own_build(tmp_path: Path) -> None:
    root = overlay_repo(tmp_path)
    with pytest.raises(SubstitutionError) as caught:
        render(root)
    (line,) = [c for c in caught.value.context if c.strip().startswith("APP_DOMAIN: in ")]
    assert "apps/base/cm.yaml" in line and "aaa-unrelated" not in line
    profile = init(root)
    todo = [t for t in profile.read_text().splitlines() if "APP_DOMAIN" in t]
    assert todo and all("apps/base/cm.yaml" in t and "aaa-unrelated" not in t for t in todo), todo


@pytest.mark.kustomize
def test_1_init_puts_the_variable_in_the_object_it_is_read_from_and_filled_in_it_renders(tmp_path: Path) -> None:
    root = overlay_repo(tmp_path)
    profile = init(root)
    text = profile.read_text()
    (todo,) = [line for line in text.splitlines() if "# APP_DOMAIN" in line]
    assert "read from ConfigMap flux-system/cluster-vars by Kustomization flux-system/apps" in todo
    doc = yaml.safe_load(text)
    assert doc["substituteFrom"] == [{"kind": "ConfigMap", "name": "cluster-vars", "namespace": "flux-system",
                                      "data": {"CLUSTER_NAME": "dev"}}]  # the repository's keys kept
    profile.write_text(text.replace(todo, todo.split("#")[0] + 'APP_DOMAIN: "app.local"'))
    result = render_environment(load_profile(profile), "x", platform=root)
    assert [r["data"] for _, r in result.resources() if r["metadata"]["name"] == "app"] == \
        [{"domain": "app.local", "cluster": "dev"}]
    assert "ConfigMap/cluster-vars" in excluded(result)  # the profile's copy replaced the repository's


# -- 6: AWS-only pieces judged by what they do ---------------------------------------------------

HELM_SOURCE = ("apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\n"
               "metadata: {{name: {name}, namespace: {ns}}}\nspec: {{interval: 1h, url: '{url}'}}\n")


def release(name: str, chart: str, values: str = "", ns: str = "kube-system", extra: str = "") -> str:
    return (f"apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {{name: {name}, namespace: {ns}}}\n"
            f"spec:\n  interval: 1h\n  chart: {{spec: {{chart: {chart}, sourceRef: {{kind: HelmRepository, name: {chart}}}}}}}\n"
            + (f"  values: {values}\n" if values else "") + extra)


ISSUERS = """\
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: letsencrypt}
spec:
  acme:
    server: https://acme-v02.api.letsencrypt.org/directory
    privateKeySecretRef: {name: letsencrypt-key}
    solvers:
      - dns01: {route53: {region: eu-west-1, hostedZoneID: Z123}}
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: mixed}
spec:
  acme:
    server: https://acme-v02.api.letsencrypt.org/directory
    privateKeySecretRef: {name: mixed-key}
    solvers:
      - dns01: {route53: {region: eu-west-1}}
        selector: {dnsZones: [example.com]}
      - http01: {ingress: {ingressClassName: alb}}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web, namespace: default}
spec: {secretName: web-tls, dnsNames: [web.example.com], issuerRef: {kind: ClusterIssuer, name: letsencrypt}}
"""


def test_6_a_route53_cluster_issuer_becomes_self_signed_and_mixed_solvers_lose_route53(tmp_path: Path) -> None:
    root = repo(tmp_path, {"clusters/dev/certs.yaml": ks("certs", "./certs"), "certs/issuers.yaml": ISSUERS})
    result = render(root)
    objects = {r["metadata"]["name"]: r for _, r in result.resources()}
    assert objects["letsencrypt"]["spec"] == {"selfSigned": {}}
    assert [s.get("http01") for s in objects["mixed"]["spec"]["acme"]["solvers"]] == \
        [{"ingress": {"ingressClassName": "nginx"}}]
    changes = {(a.name, a.change) for a in result.adapted if a.kind == "ClusterIssuer"}
    assert any(n == "letsencrypt" and "Route 53" in c and "selfSigned" in c for n, c in changes), changes
    assert any(n == "mixed" and "Route 53" in c for n, c in changes), changes
    assert objects["web"]["spec"]["issuerRef"]["name"] == "letsencrypt"  # still issued, locally


def test_6_cilium_chained_on_the_aws_vpc_cni_is_left_out(tmp_path: Path) -> None:
    root = repo(tmp_path, {
        "clusters/dev/net.yaml": ks("net", "./net"),
        "net/cilium.yaml": (HELM_SOURCE.format(name="cilium", ns="kube-system", url="https://helm.cilium.io")
                            + "---\n" + release("cilium", "cilium", "{cni: {chainingMode: aws-cni, exclusive: false}}")
                            + "---\n" + release("hubble-ui", "cilium", "{ipam: {mode: cluster-pool}}")
                            .replace("name: hubble-ui", "name: cilium-plain"))})
    result = render(root)
    assert "aws-cni" in excluded(result)["HelmRelease/cilium"]
    assert "HelmRelease/cilium-plain" in kept(result)


TERRAFORM = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: terraform-aws-vpc, namespace: flux-system}
spec: {interval: 1h, url: 'https://github.com/terraform-aws-modules/terraform-aws-vpc', ref: {tag: v5.0.0}}
---
apiVersion: infra.contrib.fluxcd.io/v1alpha2
kind: Terraform
metadata: {name: vpc, namespace: flux-system}
spec:
  interval: 1h
  path: ./
  approvePlan: auto
  sourceRef: {kind: GitRepository, name: terraform-aws-vpc}
  vars: [{name: cidr, value: 10.0.0.0/16}]
---
apiVersion: infra.contrib.fluxcd.io/v1alpha2
kind: Terraform
metadata: {name: buckets, namespace: flux-system}
spec:
  interval: 1h
  path: ./terraform/buckets
  sourceRef: {kind: GitRepository, name: flux-system}
  backendConfig: {customConfiguration: 'backend "s3" { bucket = "tf-state" }'}
---
apiVersion: infra.contrib.fluxcd.io/v1alpha2
kind: Terraform
metadata: {name: local-thing, namespace: flux-system}
spec: {interval: 1h, path: ./terraform/local, sourceRef: {kind: GitRepository, name: flux-system}}
"""

CAPA = """\
apiVersion: cluster.x-k8s.io/v1beta1
kind: Cluster
metadata: {name: workload, namespace: default}
spec:
  infrastructureRef: {apiVersion: infrastructure.cluster.x-k8s.io/v1beta2, kind: AWSManagedCluster, name: workload}
  controlPlaneRef: {apiVersion: controlplane.cluster.x-k8s.io/v1beta2, kind: AWSManagedControlPlane, name: workload-cp}
---
apiVersion: infrastructure.cluster.x-k8s.io/v1beta2
kind: AWSManagedCluster
metadata: {name: workload, namespace: default}
spec: {}
---
apiVersion: controlplane.cluster.x-k8s.io/v1beta2
kind: AWSManagedControlPlane
metadata: {name: workload-cp, namespace: default}
spec: {region: eu-west-1, identityRef: {kind: AWSClusterRoleIdentity, name: workload}}
---
apiVersion: infrastructure.cluster.x-k8s.io/v1beta2
kind: AWSClusterRoleIdentity
metadata: {name: workload}
spec: {roleARN: 'arn:aws:iam::123456789012:role/capa', sourceIdentityRef: {kind: AWSClusterControllerIdentity, name: default}}
---
apiVersion: infrastructure.cluster.x-k8s.io/v1beta2
kind: AWSClusterControllerIdentity
metadata: {name: default}
spec: {allowedNamespaces: {}}
"""

CROSSPLANE = """\
apiVersion: pkg.crossplane.io/v1
kind: Configuration
metadata: {name: platform-ref-aws}
spec: {package: 'xpkg.upbound.io/upbound/platform-ref-aws:v0.9.0'}
---
apiVersion: pkg.crossplane.io/v1
kind: Configuration
metadata: {name: app-config}
spec: {package: 'xpkg.upbound.io/acme/configuration-app:v1.0.0'}
---
apiVersion: iam.aws.crossplane.io/v1beta1
kind: Role
metadata: {name: karpenter-node}
spec: {forProvider: {assumeRolePolicyDocument: '{}'}}
"""


def test_6_terraform_capa_and_crossplane_aws_objects_are_left_out(tmp_path: Path) -> None:
    root = repo(tmp_path, {
        "clusters/dev/infra.yaml": ks("infra", "./infra"),
        "infra/terraform.yaml": TERRAFORM, "infra/capa.yaml": CAPA, "infra/crossplane.yaml": CROSSPLANE,
        "infra/keep.yaml": cm("keep-me")})
    result = render(root)
    out = excluded(result)
    for name in ("Terraform/vpc", "Terraform/buckets", "GitRepository/terraform-aws-vpc", "Cluster/workload",
                 "AWSManagedCluster/workload", "AWSManagedControlPlane/workload-cp",
                 "AWSClusterRoleIdentity/workload", "AWSClusterControllerIdentity/default",
                 "Configuration/platform-ref-aws", "Role/karpenter-node"):
        assert name in out, (name, sorted(out))
    assert "AWS" in out["Terraform/vpc"] and "s3" in out["Terraform/buckets"]
    assert "AWS provider" in out["Configuration/platform-ref-aws"]
    assert kept(result) == {"ConfigMap/keep-me", "Terraform/local-thing", "Configuration/app-config"}


def test_6_a_wholly_aws_kustomization_is_left_out_without_demanding_its_substitute_from(tmp_path: Path) -> None:
    root = repo(tmp_path, {
        "clusters/dev/karpenter.yaml": ks("karpenter", "./karpenter",
                                          "postBuild:\n  substituteFrom: [{kind: ConfigMap, name: terraform-outputs}]\n"),
        "karpenter/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: karpenter}\n",
        "karpenter/release.yaml": (HELM_SOURCE.format(name="karpenter", ns="karpenter", url="oci://public.ecr.aws/karpenter")
                                   + "---\n" + release("karpenter", "karpenter",
                                                       "{settings: {clusterName: '${CLUSTER_NAME}'}}", ns="karpenter",
                                                       extra="  valuesFrom: [{kind: ConfigMap, name: karpenter-values}]\n")
                                   + "---\n" + cm("karpenter-values", "{values.yaml: 'replicas: ${KARPENTER_REPLICAS}'}",
                                                   namespace="karpenter")),
        "karpenter/role.yaml": ("apiVersion: iam.aws.crossplane.io/v1beta1\nkind: Role\n"
                                "metadata: {name: 'karpenter-${CLUSTER_NAME}'}\nspec: {forProvider: {}}\n"),
        "clusters/dev/apps.yaml": ks("apps", "./apps"), "apps/cm.yaml": cm("app")})
    result = render(root)  # strict: terraform-outputs is not demanded, nothing of it is applied
    assert "Kustomization/karpenter" in excluded(result)
    assert result.missing_objects == [] and kept(result) == {"ConfigMap/app"}
    profile = init(root)  # nothing to fill in for it, and the profile renders as written
    assert "terraform-outputs" not in profile.read_text() and "TODO:" not in profile.read_text()
    assert kept(render_environment(load_profile(profile), "x", platform=root)) == {"ConfigMap/app"}


def test_6_external_dns_with_its_provider_in_an_unseen_values_from_is_said_not_assumed(tmp_path: Path) -> None:
    root = repo(tmp_path, {
        "clusters/dev/dns.yaml": ks("dns", "./dns"),
        "dns/release.yaml": (HELM_SOURCE.format(name="external-dns", ns="default",
                                                url="https://kubernetes-sigs.github.io/external-dns/")
                             + "---\n" + release("external-dns", "external-dns", ns="default",
                                                 extra="  valuesFrom: [{kind: ConfigMap, name: dns-values}]\n"))})
    result = render(root)
    assert "HelmRelease/external-dns" in kept(result)  # not assumed to be aws
    (warning,) = [w.message for w in result.warnings if "external-dns" in w.message]
    assert "ConfigMap default/dns-values" in warning and "devenv cannot see" in warning
    assert "profile" in warning and "exclude" in warning
    # following the warning: the profile leaves it out
    (root / "profile.yaml").write_text(PROFILE + "exclude: [default/external-dns]\n")
    result = render(root)
    assert "listed in the profile's exclude" in excluded(result)["HelmRelease/external-dns"]
    assert not [w for w in result.warnings if "external-dns" in w.message]
    # the values in the repository decide it as before
    (root / "profile.yaml").write_text(PROFILE)
    (root / "dns/values.yaml").write_text(cm("dns-values", "{values.yaml: 'provider: {name: aws}'}"))
    assert "chart external-dns with provider aws" in excluded(render(root))["HelmRelease/external-dns"]


# -- devenv init on each case --------------------------------------------------------------------

INIT_CASES = {
    "8-anchor-merge": {"clusters/dev/apps.yaml": ks("apps", "./apps"),
                       "apps/cm.yaml": ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: default, "
                                        "labels: &l {x: '1'}, annotations: &l {x: '2'}}\ndata:\n  <<: *l\n")},
    "8-variable-path": {"clusters/dev/apps.yaml": ks("apps", "./clusters/${CLUSTER_NAME}/apps")},
    "7-sops-string-data": {"clusters/dev/apps.yaml": ks("apps", "./apps", "decryption: {provider: sops}\n"),
                           "apps/s.yaml": ("apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: default}\n"
                                           "stringData: {TOKEN: 'ENC[x]'}\nsops: {version: 3.8.1}\n")},
    "3-nothing-renders": {"clusters/dev/vars.yaml": cm("cluster-vars", "{A: b}", namespace="flux-system"),
                          "clusters/dev/apps.yaml": ks("apps", "./", source="{kind: OCIRepository, name: gone}")},
    "6-aws-pieces": {"clusters/dev/infra.yaml": ks("infra", "./infra"), "infra/issuers.yaml": ISSUERS,
                     "infra/terraform.yaml": TERRAFORM, "infra/capa.yaml": CAPA, "infra/crossplane.yaml": CROSSPLANE},
    "4-committed-vars": {
        "clusters/dev/vars.yaml": cm("cluster-vars", "{CLUSTER_NAME: prod}", namespace="flux-system"),
        "clusters/dev/apps.yaml": ks("apps", "./apps", "postBuild:\n  substituteFrom: [{kind: ConfigMap, name: cluster-vars}]\n"),
        "apps/cm.yaml": cm("app", "{c: '${CLUSTER_NAME}', d: '${APP_DOMAIN}'}")},
}


@pytest.mark.parametrize("case", sorted(INIT_CASES))
def test_init_writes_a_profile_that_renders_or_says_per_todo_what_to_fill_in(tmp_path: Path, case: str) -> None:
    root = repo(tmp_path, INIT_CASES[case])
    profile = init(root)
    text = profile.read_text()
    todos = [line for line in text.splitlines() if "# TODO" in line]
    for todo in todos:  # what to fill in, and where the variable is read
        assert "used in" in todo and "Kustomization" in todo, todo
    out = CliRunner().invoke(app, ["render", "x", "--platform", str(root), "--profile", str(profile),
                                   "--skip-unbuildable"])
    assert out.exit_code != 70 and "Traceback" not in out.stderr, out.stderr
    if todos:
        names = [t.split("#")[1].split(":")[0].strip() for t in todos]
        assert all(n in out.stderr for n in names), (names, out.stderr)  # the render names each one left
    else:
        assert out.exit_code == 0, out.stderr


def test_1_the_lines_for_an_object_the_profile_generates_are_valid_profile_yaml(tmp_path: Path) -> None:
    root = repo(tmp_path, {
        "clusters/dev/apps.yaml": ks("apps", "./apps", "postBuild:\n  substituteFrom: [{kind: ConfigMap, name: cluster-vars}]\n"),
        "apps/cm.yaml": cm("app", "{c: '${CLUSTER_NAME}', d: '${APP_DOMAIN}'}")}, VARS_PROFILE)
    with pytest.raises(SubstitutionError) as caught:
        render(root)
    text = "\n".join(caught.value.context)
    assert "in the profile's substituteFrom entry for it" in text
    block = text[text.index("  substituteFrom:"):]
    assert yaml.safe_load("\n".join(line[2:] for line in block.splitlines())) == {"substituteFrom": [
        {"kind": "ConfigMap", "name": "cluster-vars", "namespace": "flux-system", "data": {"APP_DOMAIN": "..."}}]}
