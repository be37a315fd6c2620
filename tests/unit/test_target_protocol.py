"""The Target protocol says what differs: the registry gives each target's implementation with its planning
rules; what a target does not do it declines with an error that says why, before anything is created; the
lifecycle (environments.py) and the plan (plan.py) decide nothing by a target's name; and `up --dry-run` of a
namespace environment references what `up` would push, not a digest it cannot know yet."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from devenv import targets
from devenv.domain.plan import AVAILABLE_TARGETS, RULES, make_plan
from devenv.domain.profiles import EMBEDDED_PLATFORM, load_profile
from devenv.errors import EnvironmentNotFound, InvalidInput
from devenv.targets.docker import DockerTarget
from devenv.targets.kind import KindTarget
from devenv.targets.namespace import NamespaceTarget

DEVENV = Path(__file__).resolve().parents[2] / "devenv"


class Untouchable:
    """A Docker client (or kind seam) that fails the test when anything is asked of it."""

    def __getattr__(self, name):
        raise AssertionError(f"asked the engine for {name!r}: a decline must come before any call")


@pytest.fixture
def shared_context(tmp_path, monkeypatch):
    monkeypatch.setenv("DEVENV_CONTEXTS", "dev-eks")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("DEVENV_REGISTRY", raising=False)
    return "dev-eks"


def _compared_target_names(path: Path) -> list[str]:
    """Every comparison in the module with a target's name (`x == "kind"`, `x in ("kind", ...)`), as source."""
    names = set(AVAILABLE_TARGETS)
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Compare):
            continue
        for operand in [node.left, *node.comparators]:
            values = operand.elts if isinstance(operand, (ast.Tuple, ast.List, ast.Set)) else [operand]
            if any(isinstance(v, ast.Constant) and v.value in names for v in values):
                found.append(ast.unparse(node))
    return found


@pytest.mark.parametrize("module", ["lifecycle/environments.py", "domain/plan.py"])
def test_the_lifecycle_and_the_plan_compare_no_target_name(module):
    assert _compared_target_names(DEVENV / module) == []


def test_the_lifecycle_names_no_target_at_all():
    tree = ast.parse((DEVENV / "lifecycle" / "environments.py").read_text())
    keys = {id(k) for n in ast.walk(tree) if isinstance(n, ast.Dict) for k in n.keys}  # {"namespace": ...} values
    literals = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and id(n) not in keys}
    assert literals.isdisjoint(AVAILABLE_TARGETS)


def test_the_comparison_finder_finds_what_the_code_used_to_do(tmp_path):
    old = tmp_path / "old.py"
    old.write_text('if plan.target == "namespace" or state.target not in ("kind", "namespace"):\n    pass\n')
    assert len(_compared_target_names(old)) == 2


@pytest.mark.parametrize("name", AVAILABLE_TARGETS)
def test_the_registry_gives_each_target_with_its_planning_rules(name):
    target = targets.target_for(name)
    assert target.name == name and target.rules is RULES[name]


def test_an_unknown_target_is_not_available():
    with pytest.raises(NotImplementedError, match="the swarm target is not available"):
        targets.target_for("swarm")


def test_the_docker_target_declines_what_needs_a_cluster_before_touching_docker():
    plan = make_plan("feat-x", load_profile("test"))
    target = DockerTarget(client=Untouchable())
    with pytest.raises(InvalidInput, match="creates containers and clusters, not objects in a shared cluster"):
        target.objects(plan)
    with pytest.raises(InvalidInput, match="--merge-kubeconfig: profile 'test' has target docker, which makes no "
                                           "cluster to merge"):
        target.up(plan, merge_kubeconfig=True)
    with pytest.raises(InvalidInput, match="`devenv sync` needs a cluster with Flux"):
        target.sync_source("feat-x", None)
    with pytest.raises(InvalidInput, match="environment feat-x is a docker environment: `devenv sync` needs"):
        target.sync(plan, {})
    with pytest.raises(InvalidInput, match="keep the expiry they were created with"):
        target.extend("feat-x", 3600)
    assert target.kubeconfig("feat-x") is None and not target.has_cluster("feat-x")
    with pytest.raises(EnvironmentNotFound, match="has no kind cluster, so no kubeconfig"):
        target.kubeconfig("feat-x", check=True)


def test_the_kind_target_has_a_kubeconfig_and_sync_but_declines_extend(tmp_path):
    kind = KindTarget(services=DockerTarget(client=Untouchable()))
    kind.clusters.home = tmp_path
    assert kind.kubeconfig("feat-x") == tmp_path / "kubeconfig" / "feat-x"
    assert kind.sync_source("feat-x", "/srv/platform") == "/srv/platform"  # given: no cluster asked
    with pytest.raises(InvalidInput, match="keep the expiry they were created with"):
        kind.extend("feat-x", 3600)
    with pytest.raises(InvalidInput, match="not objects in a shared cluster"):
        kind.objects(make_plan("feat-x", load_profile("local")))


def test_the_namespace_target_declines_a_merge_and_has_no_kubeconfig_of_its_own(shared_context):
    plan = make_plan("x", load_profile("branch"), platform=EMBEDDED_PLATFORM, context=shared_context)

    def never(*args, **kwargs):
        raise AssertionError("connected to a cluster: the decline must come first")

    target = NamespaceTarget(connect=never)
    with pytest.raises(InvalidInput, match="--merge-kubeconfig: profile 'branch' has target namespace"):
        target.up(plan, merge_kubeconfig=True)
    assert target.kubeconfig("x") is None and not target.has_cluster("x")
    assert target.left_after_interrupt(plan) == [
        f"namespace {plan.namespace}: removed if this run had created it (`devenv list` shows what exists)"]


def test_plan_rules_refuse_shared_cluster_options_for_the_other_targets(shared_context):
    with pytest.raises(InvalidInput, match="--from-git: profile 'test' has target docker; it delivers no platform"):
        make_plan("x", load_profile("test"), from_git=True)
    with pytest.raises(InvalidInput, match="--from-git: profile 'local' has target kind; a kind environment's Flux"):
        make_plan("x", load_profile("local"), from_git=True)
    with pytest.raises(InvalidInput, match="--context: profile 'local' has target kind"):
        make_plan("x", load_profile("local"), context=shared_context)
    assert make_plan("x", load_profile("local")).to_dict()["kind"] is not None
    assert make_plan("x", load_profile("test")).to_dict()["kind"] is None


@pytest.mark.kustomize
def test_the_dry_run_source_references_the_push_to_come_not_the_trees_fingerprint(shared_context, tmp_path):
    from devenv.delivery.flux import FINGERPRINT, fingerprint, working_tree

    from test_tenancy import _branch_profile

    profile = load_profile(_branch_profile(tmp_path, "  registry: registry.corp.example/devenv\n"))
    plan = make_plan("x", profile, platform=EMBEDDED_PLATFORM, context=shared_context)
    (source,) = [o for o in NamespaceTarget().objects(plan) if o["kind"] == "OCIRepository"]
    tree = fingerprint(EMBEDDED_PLATFORM, working_tree(EMBEDDED_PLATFORM))
    assert source["spec"]["ref"] == {"tag": "latest"}  # the tag `up` pushes under; its digest is the push's
    assert source["metadata"]["annotations"][FINGERPRINT] == tree  # the files `up` would push, as `up` marks them
    assert tree not in str(source["spec"])


def test_a_profile_without_data_services_runs_no_pool_of_none():
    from devenv.targets.docker import _Run

    assert _Run.run_parallel(None, []) == []  # ThreadPoolExecutor(max_workers=0) would raise ValueError


def test_every_target_a_profile_may_name_has_planning_rules_and_an_implementation():
    from devenv.domain.profiles import TARGETS

    assert set(TARGETS) == set(AVAILABLE_TARGETS) == set(RULES)
