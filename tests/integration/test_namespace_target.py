"""The namespace target on the lab, for real: `devenv up X --profile branch --context <lab>` makes a locked-down
namespace in the lab's shared cluster (its API server enforces RBAC and quotas; its Flux runs locked down for
tenants, `--no-cross-namespace-refs` and `--default-service-account`, as a shared EKS cluster's does), the data
services as StatefulSets there, and the lab's real Flux controllers reconcile the environment's Kustomizations
as its ServiceAccount. Then the guard rails are shown to hold (another namespace's objects cannot be read or
written by it, nor by a Kustomization without serviceAccountName or one reaching into another namespace; a
quota breach is named), two branches stay apart, `gc`/`extend`/`down` never touch a namespace devenv did not
make, `--dry-run` output (an scp-style Git origin's too) is accepted by the server's own dry run, and `down`
leaves nothing. On the lab's other cluster, whose Flux is not locked down, `up` warns naming the flags.

KWOK's nodes run no containers, so the pods are Ready when scheduled (their readiness probes, real queries
on a real node, are not run here); the lab has no volume provisioner, so each test offers static
PersistentVolumes of a class of its own, which the PersistentVolume controller binds for real."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml
from lab_env import cluster, shared_cluster

pytestmark = [pytest.mark.cluster, pytest.mark.flux, pytest.mark.kustomize, pytest.mark.timeout(900)]
REPO = Path(__file__).resolve().parents[2]
SA = "devenv-flux"


class Lab:
    """The lab cluster, and what one test made in it (removed and counted at the end)."""

    def __init__(self, tmp_path: Path, find=shared_cluster):
        found, why = find()
        if found is None or not found.registry:
            pytest.skip(why or "the namespace target's lab tests need the lab (its registry and Flux controllers)")
        self.cluster = found
        # a letter first: a hex id such as 57e102 is a number to kubectl's YAML, and refused as a label value
        self.run = "r" + uuid.uuid4().hex[:6]
        self.storage_class = f"devenv-test-{self.run}"
        self.tmp = tmp_path
        self.env = {**os.environ, "PATH": found.path, "KUBECONFIG": found.kubeconfig,
                    "DEVENV_REGISTRY": found.registry, "XDG_STATE_HOME": str(tmp_path / "state"),
                    "XDG_CONFIG_HOME": str(tmp_path / "config"), "DEVENV_CONTEXTS": ""}
        self.names: list[str] = []

    def name(self, base: str) -> str:
        name = f"{base}-{self.run}"
        self.names.append(name)
        return name

    def kubectl(self, *args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
        return self.cluster.kubectl(*args, check=check, stdin=stdin)

    def get(self, *args: str) -> dict:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def devenv(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "devenv", *args], capture_output=True, text=True, env=self.env,
                              timeout=timeout, cwd=REPO)

    def profile(self, edit=lambda text: text) -> Path:
        """profiles/branch.yaml, allowed in the lab's context, its volumes of this test's storage class."""
        text = (REPO / "profiles" / "branch.yaml").read_text()
        text = text.replace("contexts: []", f"contexts: [{self.cluster.context}]")
        text = text.replace("storageClass: gp3\n", f"storageClass: {self.storage_class}\n")
        text = text.replace("  volumeSize: 1Gi", f"  storageClass: {self.storage_class}\n  volumeSize: 1Gi")
        folder = self.tmp / "profiles"
        folder.mkdir(exist_ok=True)
        if not (folder / "seed").exists():
            (folder / "seed").symlink_to(REPO / "profiles" / "seed")
        path = folder / f"branch-{len(list(folder.glob('*.yaml')))}.yaml"
        path.write_text(edit(text))
        return path

    def volumes(self, count: int, size: str = "10Gi") -> None:
        """Static PersistentVolumes of this test's class for the claims to bind (the lab provisions none)."""
        docs = [{"apiVersion": "v1", "kind": "PersistentVolume",
                 "metadata": {"name": f"{self.storage_class}-{i}", "labels": {"devenv.test/run": self.run}},
                 "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
                          "storageClassName": self.storage_class, "persistentVolumeReclaimPolicy": "Retain",
                          "hostPath": {"path": f"/tmp/{self.storage_class}-{i}"}}}
                for i in range(len(self.kubectl("get", "pv", "-l", f"devenv.test/run={self.run}", "-o", "name",
                                                check=False).stdout.split()), count)]
        if docs:
            self.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(docs))

    def left(self) -> list[str]:
        """What this test's environments left in the cluster: namespaces carrying their labels."""
        out = []
        for name in self.names:
            found = self.get("namespaces", "-l", f"devenv.managed=true,devenv.environment={name}")["items"]
            out += [f"namespace {n['metadata']['name']} ({n['status'].get('phase')})" for n in found]
        return out

    def clean(self) -> None:
        for name in self.names:
            self.devenv("down", name, timeout=300)
        self.kubectl("delete", "pv", "-l", f"devenv.test/run={self.run}", "--wait=false", check=False)


@pytest.fixture
def lab(tmp_path):
    found = Lab(tmp_path)
    try:
        yield found
    finally:
        found.clean()


LOCKDOWN_WARNING = "the cluster's Flux is not locked down for tenants"


def up(lab: Lab, name: str, profile: Path, *extra: str) -> dict:
    done = lab.devenv("up", name, "--profile", str(profile), "--context", lab.cluster.context, "-o", "json", *extra)
    assert done.returncode == 0, done.stderr
    assert LOCKDOWN_WARNING not in done.stderr, done.stderr  # the shared cluster's Flux is locked down
    return json.loads(done.stdout)


def wait_gone(lab: Lab, *what: str, timeout: float = 200) -> None:
    deadline = time.monotonic() + timeout
    while lab.kubectl("get", *what, check=False).returncode == 0:
        assert time.monotonic() < deadline, f"{' '.join(what)} still exists"
        time.sleep(1)


def test_a_branch_environment_on_the_lab_runs_as_its_locked_down_service_account_then_down_leaves_nothing(lab):
    lab.volumes(3)
    name = lab.name("feature-x")
    ns = f"devenv-{name}"
    result = up(lab, name, lab.profile())

    # the namespace, its owner, branch, commit, expiry and devenv version, and its guard rails
    namespace = lab.get("namespace", ns)
    tags = namespace["metadata"]["labels"]
    assert tags["devenv.environment"] == name and tags["devenv.target"] == "namespace"
    assert {"devenv.owner", "devenv.created", "devenv.expires", "devenv.version"} <= set(tags)
    assert int(tags["devenv.expires"]) - int(tags["devenv.created"]) == 3 * 86400  # the profile's ttl: 3d
    assert tags["pod-security.kubernetes.io/enforce"] == "baseline"  # the API server's PodSecurity admission reads it
    privileged = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "privileged", "namespace": ns},
                  "spec": {"containers": [{"name": "c", "image": "example.invalid/c:1",
                                           "securityContext": {"privileged": True}}]}}
    refused = lab.kubectl("apply", "--dry-run=server", "-f", "-", stdin=json.dumps(privileged), check=False)
    assert refused.returncode != 0 and "violates PodSecurity" in refused.stderr, refused.stderr
    for kind, obj in (("resourcequota", "devenv-quota"), ("limitrange", "devenv-limits"),
                      ("networkpolicy", "devenv-isolation"), ("serviceaccount", SA), ("rolebinding", SA)):
        lab.get(kind, obj, "-n", ns)
    policy = lab.get("networkpolicy", "devenv-isolation", "-n", ns)["spec"]
    assert policy["ingress"][0]["from"][1]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "ingress-nginx"}

    # Flux reconciled the kept Kustomization as the environment's ServiceAccount; the shared ones are left out
    kustomizations = lab.get("kustomizations", "-n", ns)["items"]
    assert [k["metadata"]["name"] for k in kustomizations] == ["apps"]
    apps = kustomizations[0]
    assert apps["spec"]["serviceAccountName"] == SA and apps["spec"]["targetNamespace"] == ns
    assert {c["type"]: c["status"] for c in apps["status"]["conditions"]}["Ready"] == "True"
    for deployment in ("orders", "catalog", "web"):
        status = lab.get("deployment", deployment, "-n", ns)["status"]
        assert {c["type"]: c["status"] for c in status["conditions"]}["Available"] == "True", deployment
    for service in ("db", "search"):
        assert lab.get("statefulset", service, "-n", ns)["status"].get("readyReplicas") == 1, service
        claim = lab.get("pvc", f"data-{service}-0", "-n", ns)
        assert claim["status"]["phase"] == "Bound" and claim["spec"]["storageClassName"] == lab.storage_class
    # the workloads' values point at the services in the environment's own namespace
    config = lab.get("configmap", "orders-config", "-n", ns)["data"]
    assert config["DB_HOST"] == f"db.{ns}.svc.cluster.local"
    assert config["DATABASE_URL"] == f"jdbc:mariadb://db.{ns}.svc.cluster.local:3306/orders"
    assert result["services"]["db"]["host"] == f"db.{ns}.svc.cluster.local"
    secret = lab.get("secret", "db-credentials", "-n", ns)
    assert set(secret["data"]) == {"password", "root_password"}

    # the lockdown holds, by the API server's own authorization
    account = f"system:serviceaccount:{ns}:{SA}"
    for verb, what, where in (("create", "configmaps", ns), ("create", "configmaps", "default"),
                              ("get", "secrets", "flux-system"), ("create", "clusterroles", None),
                              ("update", "resourcequotas", ns), ("patch", "namespaces", None)):
        answer = lab.kubectl("auth", "can-i", verb, what, "--as", account,
                             *(["-n", where] if where else []), check=False).stdout.strip()
        assert answer == ("yes" if (verb, where) == ("create", ns) else "no"), (verb, what, where, answer)

    # list, status and extend see it
    listed = json.loads(lab.devenv("list", "-o", "json").stdout)
    mine = [e for e in listed if e["name"] == name]
    assert mine and mine[0]["target"] == "namespace" and mine[0]["namespace"] == ns and mine[0]["state"] == "ready"
    status = json.loads(lab.devenv("status", name, "--context", lab.cluster.context, "-o", "json").stdout)
    assert status["kustomizations"] == [{"name": "apps", "ready": "True", "reason": "ReconciliationSucceeded",
                                         "message": status["kustomizations"][0]["message"]}]
    assert {s["name"]: s["health"] for s in status["services"]} == {"db": "ready", "search": "ready", "aws": "ready"}
    extended = lab.devenv("extend", name, "--ttl", "1h", "-o", "json")
    assert extended.returncode == 0, extended.stderr
    expires = int(lab.get("namespace", ns)["metadata"]["labels"]["devenv.expires"])
    assert abs(expires - (time.time() + 3600)) < 120 and json.loads(extended.stdout)["expires"] == expires

    # an unchanged re-up changes nothing and keeps the data services' credentials
    up(lab, name, lab.profile())
    assert lab.get("secret", "db-credentials", "-n", ns)["data"] == secret["data"]
    assert int(lab.get("namespace", ns)["metadata"]["labels"]["devenv.expires"]) == expires  # up keeps extend's

    down = lab.devenv("down", name, timeout=300)
    assert down.returncode == 0, down.stderr
    assert f"Namespace {ns}" in down.stdout
    wait_gone(lab, "namespace", ns)
    assert lab.left() == []


def test_a_kustomization_writing_outside_the_namespace_fails_with_flux_permission_error_and_status_names_it(lab):
    lab.volumes(3)
    name = lab.name("lockdown")
    ns = f"devenv-{name}"
    platform = lab.tmp / "platform"
    shutil.copytree(REPO / "components", platform)
    up(lab, name, lab.profile(), "--platform", str(platform))

    # the inner loop: one line changed in the copy, `devenv sync`, and Flux has applied it
    configmap = platform / "apps/base/catalog/configmap.yaml"
    configmap.write_text(configmap.read_text().replace("\ndata:\n", "\ndata:\n  SYNCED: \"yes\"\n", 1))
    synced = lab.devenv("sync", name, "-o", "json")
    assert synced.returncode == 0, synced.stderr
    assert f"ConfigMap {ns}/catalog-config: changed" in json.loads(synced.stdout)["changes"], synced.stdout
    assert lab.get("configmap", "catalog-config", "-n", ns)["data"]["SYNCED"] == "yes"

    # a Kustomization of the environment (its labels, its ServiceAccount, its source) whose output lands in
    # another namespace and cluster-wide: kustomize-controller applies it impersonating the ServiceAccount
    source = lab.get("ocirepository", "devenv-platform", "-n", ns)
    assert source["metadata"]["labels"]["devenv.environment"] == name
    escape = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
              "metadata": {"name": "escape", "namespace": ns,
                           "labels": {"devenv.managed": "true", "devenv.environment": name}},
              "spec": {"interval": "1m", "path": "./infrastructure/controllers", "prune": True,
                       "serviceAccountName": SA, "timeout": "30s",
                       "sourceRef": {"kind": "OCIRepository", "name": "devenv-platform"}}}
    lab.kubectl("apply", "-f", "-", stdin=json.dumps(escape))
    deadline = time.monotonic() + 120
    while True:
        status = json.loads(lab.devenv("status", name, "-o", "json").stdout)
        failing = [k for k in status["kustomizations"] if k["name"] == "escape" and k["ready"] == "False"
                   and "forbidden" in k["message"]]
        if failing:
            break
        assert time.monotonic() < deadline, status["kustomizations"]
        time.sleep(2)
    assert status["state"] == "degraded"
    assert any("Kustomization escape" in p and "forbidden" in p for p in status["problems"])
    assert lab.kubectl("get", "namespace", "cert-manager", check=False).returncode != 0  # nothing escaped
    text = lab.devenv("status", name)
    assert "escape" in text.stdout and "forbidden" in text.stdout

    # the cluster's lockdown: a Kustomization without serviceAccountName runs as the namespace's `default`
    # ServiceAccount (--default-service-account), which may write nothing, and one whose source is in another
    # namespace is refused (--no-cross-namespace-refs)
    bare = json.loads(json.dumps(escape))
    bare["metadata"]["name"] = "escape-bare"
    del bare["spec"]["serviceAccountName"]
    bare["spec"]["path"] = "./apps/base/web"  # namespaced objects only: stopped by RBAC, not by the render's scope
    bare["spec"]["targetNamespace"] = "default"
    across = json.loads(json.dumps(escape))
    across["metadata"]["name"] = "escape-across"
    across["spec"]["sourceRef"]["namespace"] = "flux-system"
    lab.kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": [bare, across]}))
    wanted = {"escape-bare": f"system:serviceaccount:{ns}:default", "escape-across": "cross-namespace"}
    deadline = time.monotonic() + 120
    while True:
        found = {k["metadata"]["name"]: k for k in lab.get("kustomizations", "-n", ns)["items"]}
        messages = {name_: next((c.get("message", "") for c in (found[name_].get("status") or {}).get("conditions", [])
                                 if c["type"] == "Ready" and c["status"] == "False"), "") for name_ in wanted}
        if all(wanted[k] in messages[k] for k in wanted):
            break
        assert time.monotonic() < deadline, messages
        time.sleep(2)
    assert "forbidden" in messages["escape-bare"]
    assert lab.kubectl("get", "deployment", "web", "-n", "default", check=False).returncode != 0  # nothing escaped

    down = lab.devenv("down", name, timeout=300)
    assert down.returncode == 0, down.stderr
    wait_gone(lab, "namespace", ns)
    assert lab.left() == []


def test_a_quota_breach_is_named_and_the_first_up_leaves_nothing(lab):
    lab.volumes(3)
    name = lab.name("quota")
    profile = lab.profile(lambda t: t.replace('    pods: "50"', '    pods: "3"'))
    done = lab.devenv("up", name, "--profile", str(profile), "--context", lab.cluster.context, timeout=600)
    assert done.returncode != 0
    assert "ResourceQuota refuses the pods" in done.stderr and "exceeded quota" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    wait_gone(lab, "namespace", f"devenv-{name}")
    assert lab.left() == []


def test_branches_stay_apart_and_gc_extend_down_never_touch_a_namespace_devenv_did_not_make(lab):
    lab.volumes(6)
    a, b = lab.name("branch-a"), lab.name("branch-b")
    foreign = lab.name("foreign")  # a namespace named as devenv would name it, made by someone else
    lab.kubectl("create", "namespace", f"devenv-{foreign}")
    lab.kubectl("label", "namespace", f"devenv-{foreign}", f"devenv.environment={foreign}", "team=payments")
    try:
        profile = lab.profile()
        up(lab, a, profile)
        up(lab, b, profile, "--ttl", "5s")
        ns_a, ns_b = f"devenv-{a}", f"devenv-{b}"
        # each sees only its own services, and its ServiceAccount cannot read the other's namespace
        assert lab.get("configmap", "environment", "-n", ns_a)["data"]["RDS_ENDPOINT"] == f"db.{ns_a}.svc.cluster.local"
        assert lab.get("configmap", "environment", "-n", ns_b)["data"]["RDS_ENDPOINT"] == f"db.{ns_b}.svc.cluster.local"
        for me, other in ((ns_a, ns_b), (ns_b, ns_a)):
            answer = lab.kubectl("auth", "can-i", "list", "pods", "-n", other, "--as",
                                 f"system:serviceaccount:{me}:{SA}", check=False).stdout.strip()
            assert answer == "no"

        # the foreign namespace: up refuses it, down/extend do not find it, gc does not collect it
        refused = lab.devenv("up", foreign, "--profile", str(profile), "--context", lab.cluster.context)
        assert refused.returncode != 0 and "devenv did not make it" in refused.stderr, refused.stderr
        assert lab.devenv("down", foreign).returncode == 0  # nothing to remove
        assert lab.devenv("extend", foreign, "--ttl", "1h").returncode != 0

        # b expires; a dry run lists it, gc collects it and leaves a alone; devenv.keep is honoured
        time.sleep(6)
        lab.kubectl("label", "namespace", ns_a, "devenv.keep=true")
        assert lab.devenv("extend", a, "--ttl", "1s").returncode == 0
        time.sleep(2)
        dry = json.loads(lab.devenv("gc", "--dry-run", "-o", "json").stdout)
        mine = {item["name"]: item for item in dry if item["name"] in (a, b, foreign)}
        assert mine[b]["action"] == "would remove" and any(f"Namespace {ns_b}" in r for r in mine[b]["resources"])
        assert any("StatefulSet" in r for r in mine[b]["resources"])  # every object it would delete
        assert mine[a]["action"] == "kept" and foreign not in mine
        lab.get("namespace", ns_b)  # the dry run removed nothing
        collected = lab.devenv("gc", "-o", "json", timeout=300)
        assert collected.returncode == 0, collected.stderr
        wait_gone(lab, "namespace", ns_b)
        assert lab.get("kustomization", "apps", "-n", ns_a)["metadata"]["labels"]["devenv.environment"] == a
        assert lab.devenv("down", a, "--context", "not-allowed").returncode != 0  # refused, nothing sent
        down = lab.devenv("down", a, "--context", lab.cluster.context, timeout=300)
        assert down.returncode == 0, down.stderr
        wait_gone(lab, "namespace", ns_a)
        foreign_ns = lab.get("namespace", f"devenv-{foreign}")
        assert foreign_ns["metadata"]["labels"]["team"] == "payments" and "deletionTimestamp" not in foreign_ns["metadata"]
    finally:
        lab.kubectl("delete", "namespace", f"devenv-{foreign}", "--wait=false", check=False)
        lab.names.remove(foreign)
    assert lab.left() == []


ORIGINS = {"git": "https://git.example.com/p.git", "git-scp": "git@git.example.com:platform/p.git"}


@pytest.mark.parametrize("source", ["artifact", "git", "git-scp"])
def test_dry_run_prints_valid_objects_only_the_namespace_cluster_scoped(lab, source):
    name = lab.name(f"dry-{source}")
    ns = f"devenv-{name}"
    extra = []
    profile = lab.profile()
    if source in ORIGINS:  # a checkout of the platform on a branch, with a remote the cluster's Flux would pull
        repo = lab.tmp / "repo"
        shutil.copytree(REPO / "components", repo / "platform")
        for args in (("init", "-q", "-b", "feature/dry"), ("remote", "add", "origin", ORIGINS[source]),
                     ("add", "-A"), ("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "p")):
            subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)
        extra = ["--from-git", "--platform", str(repo / "platform")]
        if source == "git-scp":  # a private Git host: the SSH key is a Secret the shared cluster holds
            profile = lab.profile(lambda t: t.replace("  prefix: devenv", "  git: {secretRef: flux-git-ssh}\n"
                                                                          "  prefix: devenv", 1))
    done = lab.devenv("up", name, "--profile", str(profile), "--context", lab.cluster.context, "--dry-run",
                      "-o", "json", *extra)
    assert done.returncode == 0, done.stderr
    objects = json.loads(done.stdout)["objects"]
    assert {"git": "GitRepository", "git-scp": "GitRepository", "artifact": "OCIRepository"}[source] in {
        o["kind"] for o in objects}
    if source == "git-scp":
        (git,) = [o for o in objects if o["kind"] == "GitRepository"]
        assert git["spec"]["url"] == "ssh://git@git.example.com/platform/p.git"
        assert git["spec"]["secretRef"] == {"name": "flux-git-ssh"}
    assert lab.kubectl("get", "namespace", ns, check=False).returncode != 0  # nothing was created
    cluster_scoped = {line.split()[-1] for line in
                      lab.kubectl("api-resources", "--namespaced=false", "--no-headers").stdout.splitlines()}
    assert [o["metadata"]["name"] for o in objects if o["kind"] in cluster_scoped] == [ns]
    assert {o["kind"] for o in objects} >= {"Namespace", "ResourceQuota", "NetworkPolicy", "StatefulSet",
                                           "Kustomization"}
    namespace = [o for o in objects if o["kind"] == "Namespace"]
    rest = [o for o in objects if o["kind"] != "Namespace"]
    lab.kubectl("apply", "--server-side", "--dry-run=server", "-f", "-", stdin=json.dumps(namespace[0]))
    # the rest needs its namespace to exist: made for this check only, then removed
    lab.kubectl("apply", "-f", "-", stdin=json.dumps(namespace[0]))
    try:
        checked = lab.kubectl("apply", "--server-side", "--dry-run=server", "-f", "-",
                              stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": rest}), check=False)
        assert checked.returncode == 0, checked.stderr
        assert lab.get("statefulsets", "-n", ns)["items"] == []  # a dry run made nothing
        if source == "git-scp":  # the origin as git has it is what the CRD's URL pattern refuses
            verbatim = json.loads(json.dumps(git))
            verbatim["spec"]["url"] = ORIGINS[source]
            refused = lab.kubectl("apply", "--server-side", "--dry-run=server", "-f", "-",
                                  stdin=json.dumps(verbatim), check=False)
            assert refused.returncode != 0 and "spec.url" in refused.stderr, refused.stderr
    finally:
        lab.kubectl("delete", "namespace", ns, "--wait=false")
    wait_gone(lab, "namespace", ns)
    assert lab.left() == []


def test_on_a_cluster_whose_flux_is_not_locked_down_up_warns_naming_the_flags(tmp_path):
    lab = Lab(tmp_path, find=cluster)  # the lab's other cluster: Flux as `flux install` runs it
    name = lab.name("open")
    ns = f"devenv-{name}"
    # a namespace of that name devenv did not make: `up` checks the cluster, warns, then refuses and makes nothing
    lab.kubectl("create", "namespace", ns)
    try:
        done = lab.devenv("up", name, "--profile", str(lab.profile()), "--context", lab.cluster.context)
        assert done.returncode != 0 and "devenv did not make it" in done.stderr, done.stderr
        assert LOCKDOWN_WARNING in done.stderr
        for flag in ("kustomize-controller: --no-cross-namespace-refs=true, --default-service-account",
                     "helm-controller: --no-cross-namespace-refs=true, --default-service-account"):
            assert flag in done.stderr, done.stderr
        assert lab.get("namespace", ns)["metadata"].get("labels", {}).get("devenv.managed") is None
    finally:
        lab.kubectl("delete", "namespace", ns, "--wait=false")
    wait_gone(lab, "namespace", ns)
    assert lab.left() == []
