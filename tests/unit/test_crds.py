"""devenv.flux.crds: Flux objects checked against the CRDs' structural schemas, offline."""

from __future__ import annotations

import copy

import pytest

from devenv.flux.crds import evaluate_cel, to_json_schema, validate

KUSTOMIZATION = {
    "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
    "metadata": {"name": "apps", "namespace": "flux-system"},
    "spec": {"interval": "10m", "path": "./apps", "prune": True,
             "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
             "dependsOn": [{"name": "infra"}], "postBuild": {"substitute": {"A": "1"}}},
}
RELEASE = {
    "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
    "metadata": {"name": "web", "namespace": "shop"},
    "spec": {"interval": "30m", "chart": {"spec": {"chart": "web", "sourceRef": {"kind": "HelmRepository", "name": "r"}}},
             "values": {"anything": {"goes": [1, "two"]}}},
}


def changed(obj: dict, path: str, value) -> dict:
    out = copy.deepcopy(obj)
    node = out
    *parents, last = path.split(".")
    for part in parents:
        node = node[part]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return out


_DELETE = object()


def test_valid_objects_have_no_problems(crd_dir) -> None:
    assert validate(KUSTOMIZATION, crd_dir) == []
    assert validate(RELEASE, crd_dir) == []  # values preserve unknown fields


@pytest.mark.parametrize("path, value, problem", [
    ("spec.prunne", True, "spec: unknown field 'prunne'"),
    ("spec.sourceRef.kind", "Helm", "spec.sourceRef.kind: 'Helm' is not one of"),
    ("spec.sourceRef", _DELETE, "spec: 'sourceRef' is a required property"),
    ("spec.postBuild.substitute", {"A": 1}, "spec.postBuild.substitute.A: 1 is not of type 'string'"),
    ("spec.interval", "ten minutes", "spec.interval: 'ten minutes' does not match"),
])
def test_schema_violations_name_the_object_and_field(crd_dir, path: str, value, problem: str) -> None:
    [message] = validate(changed(KUSTOMIZATION, path, value), crd_dir)
    assert message.startswith(f"Kustomization flux-system/apps: {problem}")


def test_cel_rules_of_the_crd_are_checked(crd_dir) -> None:
    both = changed(RELEASE, "spec.chartRef", {"kind": "OCIRepository", "name": "web"})
    [message] = validate(both, crd_dir)
    assert message.startswith("HelmRelease shop/web: spec: ")
    neither = changed(RELEASE, "spec.chart", _DELETE)
    assert len(validate(neither, crd_dir)) == 1


def test_unserved_versions_and_unknown_kinds(crd_dir) -> None:
    [message] = validate(changed(KUSTOMIZATION, "apiVersion", "kustomize.toolkit.fluxcd.io/v9"), crd_dir)
    assert message == ("Kustomization flux-system/apps: apiVersion kustomize.toolkit.fluxcd.io/v9 is not served "
                       "by the CRD (served: kustomize.toolkit.fluxcd.io/v1)")
    assert validate({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}, crd_dir) == []


def test_structural_schema_extensions() -> None:
    schema = to_json_schema({"type": "object", "properties": {
        "port": {"x-kubernetes-int-or-string": True},
        "maybe": {"type": "string", "nullable": True},
        "open": {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "properties": {"a": {"type": "string"}}},
        "embedded": {"type": "object", "x-kubernetes-embedded-resource": True, "properties": {"spec": {"type": "object"}}},
    }})
    import jsonschema

    validator = jsonschema.Draft4Validator(schema)
    ok = {"port": "http", "maybe": None, "open": {"a": "x", "b": 1},
          "embedded": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "spec": {}}}
    assert list(validator.iter_errors(ok)) == []
    assert list(validator.iter_errors({"port": 8080})) == []
    assert [e.message for e in validator.iter_errors({"port": 1.5})]
    assert [e.message for e in validator.iter_errors({"extra": 1})]  # closed object
    assert [e.message for e in validator.iter_errors({"embedded": {"other": 1}})]


@pytest.mark.parametrize("rule, value, verdict", [
    ("has(self.a) || has(self.b)", {}, False),
    ("has(self.a) || has(self.b)", {"b": 1}, True),
    ("!has(self.a) || !has(self.b)", {"a": 1, "b": 2}, False),
    ("(has(self.chart) && !has(self.chartRef)) || (!has(self.chart) && has(self.chartRef))", {"chart": {}}, True),
    ("self.provider != 'aws' || !has(self.sts)", {"provider": "aws", "sts": {}}, False),
    ("self.provider != 'aws' || !has(self.sts)", {}, True),  # a missing field does not decide when the other side does
    ("self.x.size() > 1", {"x": []}, None),  # outside the subset: no verdict
])
def test_the_cel_subset(rule: str, value: dict, verdict) -> None:
    assert evaluate_cel(rule, value) is verdict


def test_objects_devenv_rewrites_stay_valid(crd_dir) -> None:
    from devenv.flux.adapt import Adapter

    release = copy.deepcopy(RELEASE)
    release["spec"]["dependsOn"] = [{"name": "aws-load-balancer-controller", "namespace": "kube-system"}]
    release["spec"]["values"] = {"serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn"}},
                                 "persistence": {"storageClass": "gp3"}, "ingress": {"className": "alb"}}
    kustomization = copy.deepcopy(KUSTOMIZATION)
    kustomization["spec"]["dependsOn"] = [{"name": "infra-aws"}]
    adapter = Adapter(ingress_class="nginx", storage_class="standard", aws_storage={"gp3"},
                      excluded_kustomizations={"flux-system/infra-aws"},
                      excluded_objects={("HelmRelease", "kube-system", "aws-load-balancer-controller")})
    assert len(adapter.adapt(release)) == 4 and len(adapter.adapt(kustomization)) == 1
    assert "dependsOn" not in release["spec"] and "dependsOn" not in kustomization["spec"]
    assert validate(release, crd_dir) == [] and validate(kustomization, crd_dir) == []
