"""The shortcuts of the substitution round trip and of manifest YAML: each must give exactly what the
general code gives (the emitter's text runs, envsubst's bare `${NAME}` texts, the one-pass loaders,
the dumper's inlined representer), checked against that general code on awkward inputs."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
import yaml

from devenv.flux import envsubst, goyaml, kustomize

VARIABLES = {"A": "va", "B_1": "x$y", "_": "u", "1x": "one", "EMPTY": ""}


def _general_evaluate(text: str, strict: bool) -> str:
    """envsubst.evaluate without its shortcut: the ported parser, every time."""
    def lookup(name: str) -> tuple[str, bool]:
        value = VARIABLES.get(name)
        return (("", False) if value is None else (value, True)) if strict else (VARIABLES.get(name, ""), True)
    out: list[str] = []
    for node in envsubst.parse(text):
        envsubst._evaluate(node, lookup, out)
    return "".join(out)


def _outcome(fn, *args) -> Any:
    try:
        return ("ok", fn(*args))
    except Exception as err:  # noqa: BLE001 - the same error is part of the same outcome
        return ("error", type(err).__name__, str(err))


@pytest.mark.parametrize("text", [
    "${A}", "a ${A} b ${B_1}${_}", "${1x}", "$", "a$b", "$ {A}", "${A}$", "cost: 5$", "${UNSET}",
    "${A} then ${UNSET}", "$${A}", "a $$ b", "${A:-d}", "${A", "${}", "${ A}", "${A }", "${é}", "${Aé}",
    "x\x00${A}", "${A}}", "{${A}}", "${#A}", "${A/x/y} ${B_1}", "\\${A}", "${EMPTY}", "line\n${A}\n",
])
@pytest.mark.parametrize("strict", [True, False])
def test_bare_references_are_evaluated_as_the_parser_does(text: str, strict: bool) -> None:
    evaluate = lambda text: envsubst.evaluate(text, VARIABLES, strict=strict)  # noqa: E731
    assert _outcome(evaluate, text) == _outcome(_general_evaluate, text, strict)


@pytest.mark.parametrize("document, text", [
    ({"a": {"b": {"c": "word " * 20 + "end"}}},
     "a:\n  b:\n    c: word word word word word word word word word word word word word word word\n"
     "      word word word word word end\n"),
    ({"key": "x" * 70 + " tail  two  spaces here and more words to pass column eighty"},
     "key: " + "x" * 70 + " tail  two  spaces\n  here and more words to pass column eighty\n"),
    ({"q": " leading space and a long sentence that goes on and on past the eightieth column of the line"},
     "q: ' leading space and a long sentence that goes on and on past the eightieth column\n  of the line'\n"),
    ({"d": "tab\there and a quote \" and a backslash \\ and words enough to pass the eightieth column x"},
     'd: "tab\\there and a quote \\" and a backslash \\\\ and words enough to pass the eightieth\n  column x"\n'),
    ({"l": "line one\r\nline two\u2028line three\n\n  indented\n"},
     'l: "line one\\r\\nline two\\Lline three\\n\\n  indented\\n"\n'),
    ({"l": "line one\nline two\u2028three\n\n  indented\n"},
     "l: |\n  line one\n  line two\u2028  three\n\n    indented\n"),
    ({"l": "  x\ny"}, "l: |2-\n    x\n  y\n"),
    ({"k" * 130: "long key"}, "? " + "k" * 130 + "\n: long key\n"),
    ({"multi\nline key": "v"}, "? |-\n  multi\n  line key\n: v\n"),
    ({"s": [{"k": "v " * 45}]},
     "s:\n- k: 'v v v v v v v v v v v v v v v v v v v v v v v v v v v v v v v v v v v v v v\n    v v v v v v v '\n"),
    ({"list": ["it's a 'quoted' value with spaces, long enough to fold past column eighty"]},
     "list:\n- it's a 'quoted' value with spaces, long enough to fold past column eighty\n"),
    ({"k": "x" * 78 + " ab"}, "k: " + "x" * 78 + "\n  ab\n"),  # the one space just past column 80
    ({"k": "x" * 76 + ' "q ab'}, "k: " + "x" * 76 + ' "q\n  ab\n'),
    ({"k": " " + "x" * 76 + " ab"}, "k: ' " + "x" * 76 + "\n  ab'\n"),
], ids=lambda value: None if isinstance(value, str) else next(iter(value))[:12])
def test_the_emitter_folds_quotes_and_breaks_as_go_yaml(document: dict, text: str) -> None:
    # Texts from the character-by-character emitter these runs replace (go-yaml v2's emitterc.go).
    assert goyaml.dump(document) == text


@pytest.mark.parametrize("depth, folded", [(33, False), (34, True)])
def test_a_double_quoted_value_folds_past_column_80(depth: int, folded: bool) -> None:
    document: dict = {"k": "2024-01-01 10:00:00"}  # a timestamp: quoted, so that it stays a string
    for _ in range(depth):
        document = {"a": document}
    indent = " " * (2 * depth)
    tail = f'{indent}k: "2024-01-01\n{indent}  10:00:00"\n' if folded else f'{indent}k: "2024-01-01 10:00:00"\n'
    assert goyaml.dump(document).endswith(tail)


LOAD_TEXTS = [
    "a: 1\nb: yes\nc: '1'\nd: 1.0\ne: ~\nf: 2024-01-01\ng: 0x1F\nh: 010\ni: 1e400\nj: .inf\n",
    "1: a\ntrue: b\n1.0: c\nnull: d\n",
    "a: &x {b: 1}\nc: *x\n", "- &l [1]\n- *l\n", "a:\n  <<: {b: 1}\n  c: 2\n", "<<: 1\n",
    "a: !!int 5\nb: !!str 5\nc: !!binary aGk=\n", "a: !!set {x, y}\n", "a: !foo bar\n", "a: !!int x\n",
    "? [a]\n: 1\n", "a: 1\na: 2\n", "--- 1\n--- a\n", "", "plain\n", "[1, {a: b}, .nan]\n", "a: .NaN\n",
    "x: 1:30\ny: +12\nz: 1_000\n",
]


@pytest.mark.parametrize("text", LOAD_TEXTS)
def test_go_yaml_load_is_pyyamls_constructor_then_json(text: str) -> None:
    def general(text: str) -> Any:
        documents = goyaml._documents(goyaml._V2Loader, text)
        first = next(documents, None)
        documents.close()
        return None if first is None else goyaml._jsonable(first[1])
    as_json = lambda outcome: (outcome[0], json.dumps(outcome[1])) if outcome[0] == "ok" else outcome  # noqa: E731
    assert as_json(_outcome(goyaml.load, text)) == as_json(_outcome(general, text))


@pytest.mark.parametrize("text", LOAD_TEXTS + ["a: yes\nb: 0o17\nc: 1:30\n", "= : 1\n", "a: !!value =\n"])
def test_manifests_load_as_pyyamls_constructor_makes_them(text: str) -> None:
    def general(text: str) -> list:
        loader = kustomize.ManifestLoader(text)
        loader.document_lines = []
        try:
            docs = []
            while loader.check_data():
                data = loader.get_data()
                if data is not None:
                    docs.append((loader.document_lines[-1], repr(data)))
            return docs
        finally:
            loader.dispose()

    def loaded(text: str) -> list:
        return [(doc.line, repr(doc.data)) for doc in kustomize.load_documents(text, "t")]
    fast, slow = _outcome(loaded, text), _outcome(general, text)
    if slow[0] == "error":  # load_documents wraps YAML errors in a PlatformError
        assert fast[0] == "error"
    else:
        assert fast == slow


def test_the_dumper_writes_what_pyyaml_writes() -> None:
    shared = {"x": [1, 2]}
    documents = [
        {"a": "yes", "b": "1", "c": 1, "d": True, "e": None, "f": 1.5, "g": "multi\nline", "h": " lead", "i": "",
         "j": "long text " * 12, "k": "é😀", "l": "\x07", "m": [], "n": {}, "o": (1, 2), "p": datetime.date(2024, 1, 1),
         1: "int key", None: "null key", "shared": shared, "again": shared},
        [shared, shared, "=", "<<", "0x10", "1e3", "~", "null", 10**20],
        "just text",
    ]
    base = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    assert kustomize.dump_yaml_all(documents) == yaml.dump_all(
        documents, Dumper=base, sort_keys=False, default_flow_style=False, allow_unicode=True, explicit_start=True)
    assert kustomize.dump_yaml(documents[0]) == yaml.dump(
        documents[0], Dumper=base, sort_keys=False, default_flow_style=False, allow_unicode=True)
