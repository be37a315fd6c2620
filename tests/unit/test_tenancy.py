"""The namespace target's pure parts: the render for a namespace environment (targetNamespace, shared
infrastructure left out, the app's own Namespace dropped, HelmReleases run as the environment's
ServiceAccount), the guard rails and data-service objects, and the profile's `namespace:` section. The target
itself is proven against the lab's API server (tests/integration/test_namespace_target.py)."""

from __future__ import annotations

import pytest

from devenv.domain import labels, tenancy
from devenv.errors import ProfileError
from devenv.flux.render import render_environment
from devenv.domain.profiles import BUILTIN_PROFILES as EMBEDDED_PROFILES, load_profile
from devenv.services.workloads import memory_quantity, objects as workload_objects

pytestmark = pytest.mark.kustomize


def _scoped(obj):
    return (tenancy.group_of(obj), obj.get("kind")) in tenancy.CLUSTER_SCOPED


def test_an_app_namespace_is_its_own_but_infrastructure_spread_over_namespaces_is_shared():
    ns = lambda name: {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}  # noqa: E731
    cm = lambda where: {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": where}}  # noqa: E731
    assert tenancy.cluster_scope_reason([ns("shop"), cm("shop")], _scoped) is None
    assert tenancy.cluster_scope_reason([cm("shop")], _scoped) is None
    assert "cert-manager, ingress-nginx" in tenancy.cluster_scope_reason(
        [ns("cert-manager"), ns("ingress-nginx"), cm("cert-manager")], _scoped)
    assert "infrastructure spread" in tenancy.cluster_scope_reason([ns("shop"), cm("payments")], _scoped)
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"}}
    assert "ClusterRole r" in tenancy.cluster_scope_reason([ns("shop"), cm("shop"), role], _scoped)


def test_a_crd_in_the_render_declaring_cluster_scope_counts():
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "x"},
           "spec": {"group": "example.com", "scope": "Cluster", "names": {"kind": "Widget"}}}
    assert tenancy.crd_scopes([crd]) == {("example.com", "Widget")}


@pytest.fixture
def branch_render(monkeypatch):
    monkeypatch.delenv("DEVENV_MARIADB_IMAGE", raising=False)
    return render_environment(load_profile("branch"), "feature-x", baselines=True)


def test_a_namespace_render_keeps_the_apps_in_the_environments_namespace(branch_render):
    ns = "devenv-feature-x"
    kept = {k.id: k for k in branch_render.kustomizations}
    assert list(kept) == [f"{ns}/apps"]
    apps = kept[f"{ns}/apps"]
    assert apps.object["spec"]["targetNamespace"] == ns and "dependsOn" not in apps.object["spec"]
    assert apps.object["spec"]["sourceRef"]["namespace"] == "flux-system"  # where the source was
    assert {r["metadata"].get("namespace") for r in apps.resources} == {ns}
    assert "Namespace" not in {r["kind"] for r in apps.resources}
    left_out = {(x.kind, x.name): x.reason for x in branch_render.excluded}
    assert "the Kustomization's own namespace" in left_out[("Namespace", ns)]
    assert "infrastructure spread over several namespaces" in left_out[("Kustomization", "infra-controllers")]
    assert "ClusterIssuer letsencrypt" in left_out[("Kustomization", "infra-configs")]
    # the environment objects are in its namespace, pointing at the services there
    env = branch_render.environment_configmap
    assert env["metadata"]["namespace"] == ns and env["data"]["RDS_ENDPOINT"] == f"db.{ns}.svc.cluster.local"


def test_the_flux_patch_of_the_dropped_namespace_selects_it_by_the_name_the_platform_gave_it(branch_render):
    from devenv.delivery.flux import kustomization_objects

    (apps,) = kustomization_objects(branch_render, source={"kind": "OCIRepository", "name": "p", "namespace": "n"},
                                    namespace="devenv-feature-x", target_namespace="devenv-feature-x",
                                    service_account=tenancy.SERVICE_ACCOUNT, labels={})
    assert apps["spec"]["serviceAccountName"] == tenancy.SERVICE_ACCOUNT
    deleted = {(p["target"]["kind"], p["target"]["name"]) for p in apps["spec"]["patches"]
               if "$patch: delete" in p["patch"]}
    assert ("Namespace", "shop") in deleted  # patches run before targetNamespace renames it
    assert ("Namespace", "devenv-feature-x") not in deleted


def test_a_helmrelease_of_a_namespace_environment_is_installed_as_its_service_account(tmp_path):
    root = _platform_with_web_resource(
        tmp_path,
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: cache}\n"
        "spec:\n  interval: 1h\n  chart: {spec: {chart: redis, sourceRef: {kind: HelmRepository, name: charts}}}\n"
        "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata: {name: charts}\n"
        "spec: {url: 'https://charts.example.com', interval: 1h}\n")
    result = render_environment(load_profile("branch"), "x", platform=root)
    (release,) = [r for _, r in result.resources() if r["kind"] == "HelmRelease"]
    assert release["spec"]["serviceAccountName"] == tenancy.SERVICE_ACCOUNT
    assert release["metadata"]["namespace"] == "devenv-x"


def test_guard_rails_and_data_services_carry_only_valid_labels(monkeypatch):
    monkeypatch.delenv("DEVENV_MARIADB_IMAGE", raising=False)
    profile = load_profile("branch")
    tags, annotations = labels.for_kubernetes({**labels.for_environment("x", profile="branch", target="namespace",
                                                                        ttl_seconds=3600),
                                               labels.BRANCH_ANNOTATION: "feature/ABC-1_x",
                                               labels.BRANCH: labels.as_label_value("feature/ABC-1_x")})
    assert annotations[labels.BRANCH_ANNOTATION] == "feature/ABC-1_x" and tags[labels.BRANCH] == "feature-ABC-1_x"
    made = tenancy.guard_rails("devenv-x", profile.namespace, tags, annotations)
    for svc in profile.services:
        made += workload_objects(svc, "devenv-x", tags, "mariadb:10.11", profile.namespace)
    assert [o["kind"] for o in made[:6]] == ["Namespace", "ResourceQuota", "LimitRange", "NetworkPolicy",
                                             "ServiceAccount", "RoleBinding"]
    for obj in made:
        for key, value in (obj["metadata"].get("labels") or {}).items():
            assert labels.is_valid_label_value(value), (obj["kind"], key, value)
        assert obj["kind"] == "Namespace" or obj["metadata"]["namespace"] == "devenv-x"
    statefulset = next(o for o in made if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "db")
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    secret_env = {e["name"]: e["valueFrom"]["secretKeyRef"]["key"] for e in container["env"] if "valueFrom" in e}
    assert secret_env == {"MARIADB_PASSWORD": "password", "MARIADB_ROOT_PASSWORD": "root_password"}
    probe = container["readinessProbe"]["exec"]["command"]
    assert probe[:2] == ["sh", "-c"] and "healthcheck.sh --connect" in probe[2] and 'SELECT 1' in probe[2]
    assert "storageClassName" not in statefulset["spec"]["volumeClaimTemplates"][0]["spec"]  # the cluster's default


def test_memory_sizes_become_kubernetes_quantities():
    assert [memory_quantity(s) for s in ("512m", "1g", "2G", "100k", None)] == ["512Mi", "1Gi", "2Gi", "100Ki", None]


def test_the_namespace_section_is_validated_with_file_and_line(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("version: 1\nname: p\ntarget: namespace\nmirror: clusters/production\nnamespace:\n"
                    "  prefix: Bad_Prefix\n  quota: {pods: lots}\n  registry: 'not a registry'\n  colour: blue\n")
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    problems = "\n".join(caught.value.context)
    assert f"{path}:6: namespace.prefix" in problems
    assert f"{path}:7: namespace.quota.pods: 'lots' is not a Kubernetes quantity" in problems
    assert "namespace.registry" in problems and "namespace.colour: unknown field" in problems
    path.write_text("version: 1\nname: p\ntarget: kind\nmirror: clusters/production\nnamespace: {prefix: x}\n")
    with pytest.raises(ProfileError, match="invalid"):
        load_profile(path)


def test_from_git_delivers_the_branch_from_its_remote_with_paths_inside_the_repository(tmp_path, monkeypatch):
    import shutil
    import subprocess

    from devenv.domain.plan import make_plan
    from devenv.domain.profiles import EMBEDDED_PLATFORM
    from devenv.targets.namespace import NamespaceTarget

    repo = tmp_path / "repo"
    shutil.copytree(EMBEDDED_PLATFORM, repo / "platform")
    git = lambda *args: subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)  # noqa: E731
    git("init", "-q", "-b", "feature/ABC-1")
    git("remote", "add", "origin", "https://git.example.com/platform.git")
    git("add", "-A")
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "platform")
    monkeypatch.setenv("DEVENV_CONTEXTS", "dev-eks")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    plan = make_plan("x", load_profile("branch"), platform=repo / "platform", context="dev-eks", from_git=True)
    assert plan.labels[labels.BRANCH] == "feature-ABC-1" and plan.labels[labels.BRANCH_ANNOTATION] == "feature/ABC-1"
    made = NamespaceTarget().objects(plan)
    (source,) = [o for o in made if o["kind"] in ("GitRepository", "OCIRepository")]
    assert source["kind"] == "GitRepository"
    assert source["spec"]["url"] == "https://git.example.com/platform.git"
    assert source["spec"]["ref"] == {"branch": "feature/ABC-1"}
    (apps,) = [o for o in made if o["kind"] == "Kustomization"]
    assert apps["spec"]["path"] == "./platform/apps/production"
    assert apps["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "devenv-platform", "namespace": "devenv-x"}


def _branch_profile(tmp_path, namespace_yaml: str):
    text = (EMBEDDED_PROFILES / "branch.yaml").read_text()
    text = text.replace("namespace:\n  prefix: devenv", "namespace:\n" + namespace_yaml + "  prefix: devenv", 1)
    path = tmp_path / "branch.yaml"
    path.write_text(text)
    if not (tmp_path / "seed").exists():
        (tmp_path / "seed").symlink_to(EMBEDDED_PROFILES / "seed")
    return path


def _git_checkout(tmp_path, origin: str):
    import shutil
    import subprocess

    from devenv.domain.profiles import EMBEDDED_PLATFORM

    repo = tmp_path / "repo"
    shutil.copytree(EMBEDDED_PLATFORM, repo / "platform")
    for args in (("init", "-q", "-b", "feature/scp"), ("remote", "add", "origin", origin), ("add", "-A"),
                 ("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "p")):
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)
    return repo / "platform"


def test_from_git_converts_an_scp_style_origin_and_writes_the_profiles_git_secret(tmp_path, monkeypatch):
    from devenv.domain.plan import make_plan
    from devenv.targets.namespace import NamespaceTarget

    platform = _git_checkout(tmp_path, "git@git.example.com:platform/flux.git")
    monkeypatch.setenv("DEVENV_CONTEXTS", "dev-eks")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    profile = load_profile(_branch_profile(tmp_path, "  git: {secretRef: flux-git-ssh}\n"))
    plan = make_plan("x", profile, platform=platform, context="dev-eks", from_git=True)
    (source,) = [o for o in NamespaceTarget().objects(plan) if o["kind"] == "GitRepository"]
    assert source["spec"]["url"] == "ssh://git@git.example.com/platform/flux.git"
    assert source["spec"]["secretRef"] == {"name": "flux-git-ssh"}
    told = NamespaceTarget().git(plan).describe()
    assert "ssh://git@git.example.com/platform/flux.git" in told and "git@git.example.com:platform/flux.git" in told
    assert "Secret flux-git-ssh" in told


def test_a_local_origin_is_refused_before_anything_is_sent(tmp_path):
    from devenv.delivery.flux import flux_git_url
    from devenv.errors import InvalidInput

    for origin in ("/srv/git/platform.git", "file:///srv/git/platform.git", "../platform"):
        with pytest.raises(InvalidInput, match="not an address the cluster's Flux can pull"):
            flux_git_url(origin)
    assert flux_git_url("git.example.com:org/p") == "ssh://git.example.com/org/p"
    assert flux_git_url("https://git.example.com/org/p.git") == "https://git.example.com/org/p.git"


@pytest.mark.parametrize("registry, expected", [
    ("{host: 1.dkr.ecr.eu-west-2.amazonaws.com/devenv, provider: aws}", {"provider": "aws"}),
    ("{host: registry.corp.example/devenv, secretRef: pull, certSecretRef: corp-ca}",
     {"secretRef": {"name": "pull"}, "certSecretRef": {"name": "corp-ca"}}),
    ("registry.corp.example/devenv", {}),
])
def test_the_oci_repository_logs_in_as_the_profile_says(tmp_path, monkeypatch, registry, expected):
    from devenv.domain.plan import make_plan
    from devenv.domain.profiles import EMBEDDED_PLATFORM
    from devenv.targets.namespace import NamespaceTarget

    monkeypatch.setenv("DEVENV_CONTEXTS", "dev-eks")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("DEVENV_REGISTRY", raising=False)
    profile = load_profile(_branch_profile(tmp_path, f"  registry: {registry}\n"))
    plan = make_plan("x", profile, platform=EMBEDDED_PLATFORM, context="dev-eks")
    (source,) = [o for o in NamespaceTarget().objects(plan) if o["kind"] == "OCIRepository"]
    assert {k: v for k, v in source["spec"].items() if k in ("provider", "secretRef", "certSecretRef")} == expected
    assert source["spec"]["url"].startswith(f"oci://{profile.namespace.registry}/")


def test_the_namespace_carries_its_pod_security_level_and_restricted_egress_lets_out_only_what_is_listed(tmp_path):
    path = _branch_profile(tmp_path, "")
    text = path.read_text().replace("  podSecurity: baseline", "  podSecurity: restricted", 1)
    path.write_text(text.replace("  egress: open", "  egressCIDRs: [10.20.0.0/16]\n  egress: restricted", 1))
    spec = load_profile(path).namespace
    made = {o["kind"]: o for o in tenancy.guard_rails("devenv-x", spec, {"devenv.managed": "true"}, {})}
    assert made["Namespace"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    policy = made["NetworkPolicy"]["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy["egress"][0] == {"to": [{"podSelector": {}}]}  # the namespace: its data services are there
    assert policy["egress"][1]["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    assert {p["port"] for p in policy["egress"][1]["ports"]} == {53}
    assert policy["egress"][2] == {"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}]}

    default = load_profile(EMBEDDED_PROFILES / "branch.yaml").namespace
    made = {o["kind"]: o for o in tenancy.guard_rails("devenv-x", default, {}, {})}
    assert made["Namespace"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
    assert made["NetworkPolicy"]["spec"]["policyTypes"] == ["Ingress"] and "egress" not in made["NetworkPolicy"]["spec"]


def _controller(*args: str) -> dict:
    return {"spec": {"template": {"spec": {"containers": [{"name": "manager", "args": list(args)}]}}}}


def test_the_flux_lockdown_check_names_each_controller_and_the_flags_it_lacks():
    locked = _controller("--watch-all-namespaces=true", "--no-cross-namespace-refs=true",
                         "--default-service-account=default")
    warning, seen = tenancy.flux_lockdown_warning(lambda name: locked)
    assert warning is None and "checked" in seen
    deployments = {"kustomize-controller": _controller("--no-cross-namespace-refs"),  # a bare flag is true
                   "helm-controller": _controller("--no-cross-namespace-refs=false", "--log-level=info")}
    warning, _ = tenancy.flux_lockdown_warning(deployments.get)
    assert "kustomize-controller: --default-service-account" in warning
    assert "helm-controller: --no-cross-namespace-refs=true, --default-service-account" in warning
    warning, seen = tenancy.flux_lockdown_warning(lambda name: None)  # a tenant cannot read flux-system
    assert warning is None and "not checked" in seen and "kustomize-controller, helm-controller" in seen


def test_a_chart_source_in_another_namespace_becomes_a_copy_in_the_environments_or_is_reported():
    repo = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
            "metadata": {"name": "charts", "namespace": "flux-system", "resourceVersion": "7"},
            "spec": {"url": "oci://registry.example/charts", "type": "oci"}}
    release = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
               "metadata": {"name": "podinfo", "namespace": "devenv-x"},
               "spec": {"chart": {"spec": {"chart": "podinfo", "sourceRef": {
                   "kind": "HelmRepository", "name": "charts", "namespace": "flux-system"}}}}}
    changes, copies, problem = tenancy.chart_source_in_tenant(
        release, "devenv-x", {("HelmRepository", "flux-system", "charts"): repo})
    assert problem is None and "HelmRepository flux-system/charts -> HelmRepository devenv-x/charts" in changes[0]
    assert release["spec"]["chart"]["spec"]["sourceRef"] == {"kind": "HelmRepository", "name": "charts"}
    assert copies[0]["metadata"] == {"name": "charts", "namespace": "devenv-x"}
    assert copies[0]["spec"] == repo["spec"] and repo["metadata"]["namespace"] == "flux-system"

    unknown = {"spec": {"chartRef": {"kind": "OCIRepository", "name": "podinfo", "namespace": "shared"}}}
    changes, copies, problem = tenancy.chart_source_in_tenant(unknown, "devenv-x", {})
    assert (changes, copies) == ([], []) and "OCIRepository shared/podinfo" in problem
    assert unknown["spec"]["chartRef"]["namespace"] == "shared"  # left as it is, and reported
    same = {"spec": {"chart": {"spec": {"sourceRef": {"kind": "HelmRepository", "name": "c"}}}}}
    assert tenancy.chart_source_in_tenant(same, "devenv-x", {}) == ([], [], None)


class _Said:
    def __init__(self):
        self.warnings: list[str] = []

    def note(self, text):
        pass

    def warn(self, text):
        self.warnings.append(text)


class _Reads:
    """The kube seam's `get` over a few objects, refusing (403) reads in flux-system when `forbidden`."""

    def __init__(self, objects, forbidden=False):
        self.objects = {(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects}
        self.forbidden = forbidden

    def get(self, ref, missing_ok=True):
        from devenv.errors import KubeError

        meta = ref["metadata"]
        if self.forbidden and meta["namespace"] == "flux-system":
            raise KubeError(f"cannot get {ref['kind']} flux-system/{meta['name']}: forbidden (Forbidden 403)")
        return self.objects.get((ref["kind"], meta["namespace"], meta["name"]))


def test_up_warns_of_a_profile_secret_the_namespace_lacks_and_of_an_unlocked_flux(tmp_path, monkeypatch, caplog):
    import logging

    from devenv.domain.plan import make_plan
    from devenv.domain.profiles import EMBEDDED_PLATFORM
    from devenv.targets.namespace import NamespaceTarget

    monkeypatch.setenv("DEVENV_CONTEXTS", "dev-eks")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("DEVENV_REGISTRY", raising=False)
    profile = load_profile(_branch_profile(tmp_path, "  registry: {host: r.example/devenv, secretRef: pull, "
                                                     "certSecretRef: corp-ca}\n"))
    plan = make_plan("x", profile, platform=EMBEDDED_PLATFORM, context="dev-eks")
    held = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "corp-ca", "namespace": plan.namespace}}
    said = _Said()
    NamespaceTarget().check_secrets(_Reads([held]), plan, said)
    assert len(said.warnings) == 1 and f"Secret {plan.namespace}/pull (namespace.registry.secretRef" in said.warnings[0]

    open_flux = [{"kind": "Deployment", "metadata": {"name": c, "namespace": "flux-system"}, **_controller()}
                 for c in ("kustomize-controller", "helm-controller")]
    said = _Said()
    NamespaceTarget().check_lockdown(_Reads(open_flux), said)
    assert len(said.warnings) == 1 and "--no-cross-namespace-refs=true" in said.warnings[0]
    said = _Said()
    with caplog.at_level(logging.INFO, logger="devenv.targets.namespace"):
        NamespaceTarget().check_lockdown(_Reads(open_flux, forbidden=True), said)
    assert said.warnings == [] and "not checked" in caplog.text  # silent, but -v says why


def test_a_chart_source_the_render_moves_into_the_namespace_too_is_referenced_there_without_a_copy():
    release = {"spec": {"chart": {"spec": {"chart": "podinfo", "sourceRef": {
        "kind": "HelmRepository", "name": "charts", "namespace": "flux-system"}}}}}
    moved = {("HelmRepository", "devenv-x", "charts"): {"kind": "HelmRepository"}}
    changes, copies, problem = tenancy.chart_source_in_tenant(release, "devenv-x", moved)
    assert copies == [] and problem is None and "the environment's own" in changes[0]
    assert release["spec"]["chart"]["spec"]["sourceRef"] == {"kind": "HelmRepository", "name": "charts"}


def test_a_helmreleases_chart_source_in_flux_system_becomes_the_environments_copy_in_the_render(tmp_path):
    """The render of a namespace environment rewrites a HelmRelease's chart sourceRef into flux-system (which a
    locked-down Flux refuses) to a copy of that HelmRepository in the environment's namespace, and hands the
    copy to the target to apply; a source defined nowhere is reported, not rewritten."""
    root = _platform_with_web_resource(
        tmp_path,
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: cache}\n"
        "spec:\n  interval: 1h\n  chart: {spec: {chart: redis, sourceRef: "
        "{kind: HelmRepository, name: charts, namespace: flux-system}}}\n"
        "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: queue}\n"
        "spec:\n  interval: 1h\n  chart: {spec: {chart: rabbitmq, sourceRef: "
        "{kind: HelmRepository, name: nowhere, namespace: flux-system}}}\n")
    (root / "clusters/production/charts.yaml").write_text(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\n"
        "metadata: {name: charts, namespace: flux-system}\nspec: {url: 'https://charts.example.com', interval: 1h}\n")
    cluster = root / "clusters/production/kustomization.yaml"
    cluster.write_text(cluster.read_text() + "  - charts.yaml\n")
    result = render_environment(load_profile("branch"), "x", platform=root)
    releases = {r["metadata"]["name"]: r for _, r in result.resources() if r["kind"] == "HelmRelease"}
    assert releases["cache"]["spec"]["chart"]["spec"]["sourceRef"] == {"kind": "HelmRepository", "name": "charts"}
    (copy,) = result.tenant_sources
    assert (copy["kind"], copy["metadata"]["namespace"], copy["spec"]["url"]) == \
        ("HelmRepository", "devenv-x", "https://charts.example.com")
    assert releases["queue"]["spec"]["chart"]["spec"]["sourceRef"]["namespace"] == "flux-system"
    assert any("HelmRepository flux-system/nowhere" in w.message and "cross-namespace" in w.message
               for w in result.warnings)


def _platform_with_web_resource(tmp_path, manifest: str):
    """A copy of the embedded platform whose web app also holds `manifest` (release.yaml)."""
    import shutil

    from devenv.domain.profiles import EMBEDDED_PLATFORM

    root = tmp_path / "platform"
    shutil.copytree(EMBEDDED_PLATFORM, root)
    (root / "apps/base/web/release.yaml").write_text(manifest)
    kustomization = root / "apps/base/web/kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace("resources:\n", "resources:\n  - release.yaml\n"))
    return root
