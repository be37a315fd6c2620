"""Flux post-build substitution: Flux's own reference cases, then what they leave out (operators,
go-yaml v2 emitting and resolving, opt-outs, where variables come from, and their errors).
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest

from devenv.errors import InvalidInput, SubstitutionError
from devenv.flux import envsubst, goyaml
from devenv.flux.substitution import (
    load_resources,
    load_variables_file,
    substitute_resource,
    substitute_resources,
    variables_from_objects,
)

CASES = Path(os.environ.get("DEVENV_FLUX_CASES") or Path(__file__).parents[3] / "shared/flux-substitution/cases.jsonl")


def _reference_cases() -> list:
    if not CASES.is_file():
        reason = f"Flux reference cases not found at {CASES} (set DEVENV_FLUX_CASES to cases.jsonl)"
        return [pytest.param(reason, id="reference-cases", marks=pytest.mark.shared)]
    cases = [json.loads(line) for line in CASES.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [pytest.param(case, id=case["id"]) for case in cases]


def _as_json(data: Any) -> str:
    # Compared as JSON text, so true is not 1 and 8 is not 8.0 (Python's == says they are).
    return json.dumps(data, sort_keys=True)


@pytest.mark.parametrize("case", _reference_cases())
def test_flux_reference_case(case: dict | str) -> None:
    if isinstance(case, str):  # the cases file is missing: the reason (a `shared` skip DEVENV_REQUIRE can fail)
        pytest.skip(case)
    expected = case["expected"]
    if expected["ok"]:
        out = substitute_resource(case["resource"], case["vars"], strict=case["strict"])
        assert _as_json(out) == _as_json(expected["out"])
    else:
        with pytest.raises(SubstitutionError):
            substitute_resource(case["resource"], case["vars"], strict=case["strict"])


def configmap(value: Any, *, namespace: str | None = "apps", **metadata: Any) -> dict:
    meta = {"name": "orders-config", **({"namespace": namespace} if namespace else {}), **metadata}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"v": value}}


# ---- the controller's steps -----------------------------------------------------------------

def test_unset_variable_error_names_variable_and_resource() -> None:
    with pytest.raises(SubstitutionError) as caught:
        substitute_resource(configmap("${RDS_ENDPOINT}"), {"REGION": "eu-west-1"})
    assert caught.value.message == 'variable "RDS_ENDPOINT" is not set (strict mode) in ConfigMap/apps/orders-config'


def test_cluster_scoped_resource_is_named_kind_slash_name() -> None:
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-${TEAM}"}}
    with pytest.raises(SubstitutionError) as caught:
        substitute_resource(namespace, {"OTHER": "x"})
    assert caught.value.message == 'variable "TEAM" is not set (strict mode) in Namespace/team-${TEAM}'


@pytest.mark.parametrize("field", ["labels", "annotations"])
def test_opt_out_leaves_resource_untouched_even_in_strict_mode(field: str) -> None:
    resource = configmap("${missing} yes", **{field: {"kustomize.toolkit.fluxcd.io/substitute": "disabled"}})
    out = substitute_resource(resource, {"a": "1"}, strict=True)
    assert out == resource
    assert out is not resource and out["data"] is not resource["data"]


def test_empty_variable_map_substitutes_nothing_unless_strategy_always() -> None:
    resource = configmap("${missing}")
    assert substitute_resource(resource, {}, strict=True) == resource
    assert substitute_resource(resource, {}, strict=False, always=True)["data"]["v"] is None
    with pytest.raises(SubstitutionError, match='"missing" is not set'):
        substitute_resource(resource, {}, strict=True, always=True)


@pytest.mark.parametrize("name", ["my-var", "1abc", "héllo", "a b", ""])
def test_every_variable_name_is_validated_even_unused(name: str) -> None:
    with pytest.raises(SubstitutionError) as caught:
        substitute_resource(configmap("${a}"), {"a": "1", name: "x"})
    assert f'variable name "{name}" is invalid in ConfigMap/apps/orders-config' == caught.value.message
    assert "^[_[:alpha:]][_[:alpha:][:digit:]]*$" in caught.value.hint


def test_newlines_are_removed_from_values() -> None:
    out = substitute_resource(configmap("${cert}"), {"cert": "line one\nline two\n"})
    assert out["data"]["v"] == "line oneline two"


def test_input_resource_is_not_modified() -> None:
    resource = configmap("${a}")
    substitute_resource(resource, {"a": "yes"})
    assert resource["data"]["v"] == "${a}"


@pytest.mark.parametrize(("template", "value", "expected"), [
    ("${n}", "123", 123),          # quotes in the source manifest do not survive: the emitter writes ${n} plain
    ("${v}", "010", 8),            # YAML 1.1 octal
    ("${v}", "on", True),
    ("${v}", "", None),
    ("${v}", "1.50", 1.5),
    ("${v}", "12:30", "12:30"),    # go-yaml v2 has no base-60
    ("${v}", "2024-01-01", "2024-01-01"),
    ("${v}", "=", "="),            # PyYAML would call this a `value` tag
    ("x: ${v}", "1", "x: 1"),      # quoted by the emitter because of ": ", so it stays a string
    ("${v} #", "1", "1 #"),
    ("yes", "1", "yes"),           # a string "yes" is double-quoted on the way out and stays a string
])
def test_round_trip_types(template: str, value: str, expected: Any) -> None:
    out = substitute_resource(configmap(template), {"v": value, "n": value})
    assert _as_json(out["data"]["v"]) == _as_json(expected)


def test_manifest_strings_read_as_kustomize_reads_them_stay_strings() -> None:
    [resource] = load_resources("kind: ConfigMap\nmetadata: {name: x}\ndata:\n  a: yes\n  b: on\n  c: ${v}\n", source="t")
    assert resource["data"] == {"a": "yes", "b": "on", "c": "${v}"}
    assert substitute_resource(resource, {"v": "yes"})["data"] == {"a": "yes", "b": "on", "c": True}


def test_yaml_broken_by_a_value_names_resource_and_line() -> None:
    with pytest.raises(SubstitutionError) as caught:
        substitute_resource(configmap("${v}"), {"v": "@x"})
    assert "ConfigMap/apps/orders-config is not valid YAML after substitution" in caught.value.message
    assert caught.value.context == ["line 3: v: @x"]


def test_parse_error_names_resource_and_shows_the_expression() -> None:
    with pytest.raises(SubstitutionError) as caught:
        substitute_resource(configmap("${a.b}"), {"a": "1"})
    assert caught.value.message == "bad variable reference in ConfigMap/apps/orders-config: missing closing brace"
    assert caught.value.context == ["v: ${a.b}"]


def test_substitute_resources_keeps_order_and_applies_to_each() -> None:
    out = substitute_resources([configmap("${a}"), configmap("${b}", namespace=None)], {"a": "1", "b": "two"})
    assert [r["data"]["v"] for r in out] == [1, "two"]


# ---- envsubst ------------------------------------------------------------------------------

VARS = {"a": "Hello", "e": "", "u": "héllo", "p": "foo/bar.baz", "path": "/usr/local/bin", "file": "archive.tar.gz"}


@pytest.mark.parametrize(("template", "expected"), [
    ("${#u}", "6"),                      # bytes, not characters
    ("${u:1:2}", "é"),
    ("${a:1:-1}", "ell"),
    ("${a:-3}", "Hello"),                # `:-` is a default, not a negative offset
    ("${a:10}", ""),
    ("${a^^}", "HELLO"),
    ("${a,}", "hello"),
    ("${u^}", "Héllo"),
    ("${file%.*}", "archive.tar"),
    ("${file%%.*}", "archive"),
    ("${file##*.}", "gz"),
    ("${path##*/}", "bin"),              # drone's glob lets * cross /
    ("${path#/*/}", "local/bin"),
    ("${file#[a-c]*}", "rchive.tar.gz"),
    ("${p//o/0}", "f00/bar.baz"),
    ("${p/o/0}", "f0o/bar.baz"),
    ("${p/%baz/qux}", "foo/bar.qux"),
    ("${p/#/pre-}", "pre-foo/bar.baz"),
    ("${p/\\//-}", "foo-bar.baz"),       # \/ escapes the delimiter
    ("${p//./}", "foo/barbaz"),
    ("${e:-dflt}", "dflt"),
    ("${e=dflt}", "dflt"),               # Flux treats empty as unset for = too
    ("${a:+alt}", "Hello"),              # and :+ as another default
    ("${missing:=x${a}y}", "xHelloy"),
    ("$${a}", "${a}"),
    ("$$${a}", "$Hello"),
    ("$$", "$"),
    ("cost $5 and $a", "cost $5 and $a"),
    ("\\${a}", "\\Hello"),
])
def test_envsubst_operators(template: str, expected: str) -> None:
    assert envsubst.evaluate(template, VARS, strict=False) == expected


@pytest.mark.parametrize("template", ["${a-b}", "${a.b}", "${}", "${a", "${a#}", "${a+b}", "${a:}", "${#}"])
def test_envsubst_parse_errors(template: str) -> None:
    with pytest.raises(envsubst.ParseError):
        envsubst.evaluate(template, VARS, strict=False)


@pytest.mark.parametrize(("template", "missing"), [
    ("${missing}", "missing"),
    ("${a:-${missing}}", "missing"),     # defaults are evaluated eagerly
    ("${missing^^}", "missing"),
    ("${#missing}", "missing"),
    ("${missing:0:2}", "missing"),
    ("${missing/a/b}", "missing"),
])
def test_strict_mode_unset_variables(template: str, missing: str) -> None:
    with pytest.raises(envsubst.VariableNotSet) as caught:
        envsubst.evaluate(template, VARS, strict=True)
    assert caught.value.name == missing
    assert envsubst.evaluate(template, VARS, strict=False) in ("", "Hello", "0")


@pytest.mark.parametrize(("template", "expected"), [("${missing:-x}", "x"), ("${missing=x}", "x"), ("${e}", "")])
def test_strict_mode_accepts_defaults_and_empty_values(template: str, expected: str) -> None:
    assert envsubst.evaluate(template, VARS, strict=True) == expected


# ---- go-yaml v2 ------------------------------------------------------------------------------

def test_dump_writes_what_go_yaml_v2_writes() -> None:
    document = {
        "kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "x", "labels": {}},
        "data": {"bool": "yes", "time": "12:30", "date": "2024-01-01", "comment": "a #b", "colon": "a: b",
                 "empty": "", "octal": "010", "multi": "one\ntwo\n", "emoji": "\U0001F600", "star": "*x",
                 "y": "plain ${x}"},
        "list": [1, 2.5, None, True, 3.0, {"b": 1, "a": 2}, [], [1, 2]], "k10": 1, "k9": 1,
    }
    assert goyaml.dump(document) == (
        "apiVersion: v1\n"
        "data:\n"
        '  bool: "yes"\n'
        "  colon: 'a: b'\n"
        "  comment: 'a #b'\n"
        '  date: "2024-01-01"\n'
        '  emoji: "\\U0001F600"\n'
        '  empty: ""\n'
        "  multi: |\n"
        "    one\n"
        "    two\n"
        '  octal: "010"\n'
        "  star: '*x'\n"
        '  time: "12:30"\n'
        '  "y": plain ${x}\n'
        "k9: 1\n"
        "k10: 1\n"
        "kind: ConfigMap\n"
        "list:\n"
        "- 1\n"
        "- 2.5\n"
        "- null\n"
        "- true\n"
        "- 3\n"
        "- a: 2\n"
        "  b: 1\n"
        "- []\n"
        "- - 1\n"
        "  - 2\n"
        "metadata:\n"
        "  labels: {}\n"
        "  name: x\n"
    )


def test_dump_folds_long_plain_strings_past_column_80() -> None:
    text = " ".join(["word"] * 30)
    out = goyaml.dump({"v": text})
    assert out == "v: " + "word " * 15 + "word\n  " + "word " * 13 + "word\n"
    assert goyaml.load(out) == {"v": text}


def test_dump_chooses_literal_block_indicators() -> None:
    assert goyaml.dump({"v": "a\nb"}) == "v: |-\n  a\n  b\n"
    assert goyaml.dump({"v": "a\n\n"}) == "v: |+\n  a\n\n"
    assert goyaml.dump({"v": " a\nb"}) == "v: |2-\n   a\n  b\n"
    assert goyaml.dump({"v": "a \nb"}) == 'v: "a \\nb"\n'   # a space before a break rules out a block


@pytest.mark.parametrize(("text", "expected"), [
    ("yes", True), ("Yes", True), ("YES", True), ("y", True), ("on", True), ("OFF", False), ("n", False),
    ("yEs", "yEs"), ("~", None), ("", None), ("Null", None),
    ("010", 8), ("0o17", 15), ("0x1F", 31), ("0b101", 5), ("1_000", 1000), ("+12", 12), ("-0x10", -16),
    ("08", 8), ("1.5", 1.5), (".5", 0.5), ("1e3", 1000), ("1e400", "1e400"),
    ("12:30", "12:30"), ("2024-01-01", "2024-01-01"), ("2024-01-01T10:00:00Z", "2024-01-01T10:00:00Z"),
    ("=", "="), ("<<", "<<"),
])
def test_load_resolves_plain_scalars_as_go_yaml_v2(text: str, expected: Any) -> None:
    assert _as_json(goyaml.load(f"v: {text}\n")["v"]) == _as_json(expected)


def test_load_turns_keys_into_strings_as_sigs_k8s_io_yaml() -> None:
    assert goyaml.load("1.5: a\ntrue: b\n010: c\n") == {"1.5": "a", "true": "b", "8": "c"}


def test_resolve_tags_what_the_emitter_must_quote() -> None:
    assert goyaml.resolve("2024-1-2 3:04:05")[0] == goyaml.TIMESTAMP
    assert goyaml.resolve("2024-02-30")[0] == goyaml.STR
    assert goyaml.resolve("yes", goyaml.V3_WORDS)[0] == goyaml.STR
    assert goyaml.is_base60_float("1:30") and not goyaml.is_base60_float("1:60")


# ---- where variables come from --------------------------------------------------------------

def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "flux-system"},
          "data": {"DB_PASSWORD": _b64("s3cr3t\n"), "REGION": _b64("eu-central-1")},
          "stringData": {"REGION": "us-east-1"}}
CONFIG = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cluster-vars"},
          "data": {"REGION": "eu-west-1", "CLUSTER": "dev\n"}}


def test_variables_from_configmap_and_secret_later_wins_and_base64_decoded() -> None:
    assert variables_from_objects([CONFIG, SECRET], source="vars.yaml") == {
        "REGION": "us-east-1", "CLUSTER": "dev", "DB_PASSWORD": "s3cr3t"}
    assert variables_from_objects([SECRET, CONFIG], source="vars.yaml")["REGION"] == "eu-west-1"


def test_secret_with_bad_base64_names_source_and_key() -> None:
    secret = {**SECRET, "data": {"TOKEN": "not base64!"}}
    with pytest.raises(InvalidInput, match=r"^vars\.yaml: Secret/flux-system/db: data\.TOKEN is not valid base64"):
        variables_from_objects([secret], source="vars.yaml")


def test_binary_secret_value_only_fails_where_used() -> None:
    keystore = base64.b64encode(b"\xfe\xed\xfe\xed").decode()
    variables = variables_from_objects([{**SECRET, "data": {"KEYSTORE": keystore}}], source="s")
    assert substitute_resource(configmap("${REGION}"), {**variables, "REGION": "x"})["data"]["v"] == "x"
    with pytest.raises(SubstitutionError, match="not valid YAML after substitution"):
        substitute_resource(configmap("${KEYSTORE}"), variables)


def test_variables_only_come_from_configmaps_and_secrets() -> None:
    with pytest.raises(InvalidInput, match="Deployment/web is not a ConfigMap or a Secret"):
        variables_from_objects([{"kind": "Deployment", "metadata": {"name": "web"}}], source="s")


def test_load_variables_file_flat_yaml_keeps_written_text(tmp_path: Path) -> None:
    path = tmp_path / "vars.yaml"
    path.write_text("CLUSTER: dev\nPORT: 5432\nDEBUG: yes\nRATIO: 1.50\nEMPTY: ''\n")
    assert load_variables_file(path) == {"CLUSTER": "dev", "PORT": "5432", "DEBUG": "yes", "RATIO": "1.50", "EMPTY": ""}


def test_load_variables_file_manifests_multi_document(tmp_path: Path) -> None:
    path = tmp_path / "vars.yaml"
    path.write_text(json.dumps(CONFIG) + "\n---\n" + json.dumps(SECRET) + "\n")
    assert load_variables_file(path) == {"REGION": "us-east-1", "CLUSTER": "dev", "DB_PASSWORD": "s3cr3t"}


def test_load_variables_file_json_mapping_and_list(tmp_path: Path) -> None:
    flat, listed = tmp_path / "vars.json", tmp_path / "objects.json"
    flat.write_text('{"A": "x", "N": 5, "ON": true}')
    listed.write_text(json.dumps([CONFIG, SECRET]))
    assert load_variables_file(flat) == {"A": "x", "N": "5", "ON": "true"}
    assert load_variables_file(listed)["REGION"] == "us-east-1"


@pytest.mark.parametrize(("content", "message"), [
    ("A: x\nB: [unclosed\nC: y\n", ":3: while parsing a flow sequence"),
    ("A: x\nDB:\n  host: h\n", ":3: DB: a variable's value must be a scalar, not a mapping"),
    ("A: x\nB:\n", ":2: B has no value"),
    ("- a\n- b\n", ": expected ConfigMap or Secret manifests, not a str"),
])
def test_load_variables_file_errors_name_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "vars.yaml"
    path.write_text(content)
    with pytest.raises(InvalidInput) as caught:
        load_variables_file(path)
    assert caught.value.message.startswith(f"{path}{message}")


def test_load_variables_file_missing_and_bad_json(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as missing:
        load_variables_file(tmp_path / "nope.yaml")
    assert missing.value.message == f"variables file {tmp_path / 'nope.yaml'} does not exist"
    bad = tmp_path / "vars.json"
    bad.write_text('{\n  "A": "x",\n}\n')
    with pytest.raises(InvalidInput) as malformed:
        load_variables_file(bad)
    assert malformed.value.message.startswith(f"{bad}:3: ")


def test_load_resources_expands_lists_and_reports_lines() -> None:
    listed = load_resources('{"kind": "List", "items": [{"kind": "A"}, {"kind": "B"}]}\n---\nkind: C\n', source="in")
    assert [r["kind"] for r in listed] == ["A", "B", "C"]
    with pytest.raises(InvalidInput, match=r"^in:3: .*found character .*that cannot start any token"):
        load_resources("kind: A\ndata:\n  v: @x\n", source="in")
    with pytest.raises(InvalidInput, match=r"^in:1: expected a Kubernetes resource \(a mapping\), not a str"):
        load_resources("just text\n", source="in")
