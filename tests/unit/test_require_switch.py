"""DEVENV_REQUIRE turns every prerequisite's skip into a failure, including the ones that used to be decided at
collection time (the `kind` and `kustomize` tools, the reference files in ../shared): a suite run with the
switch cannot go green by skipping what it was told to run. Runs the suite's own tests/conftest.py in pytester."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFTEST = Path(__file__).parents[1] / "conftest.py"

MARKERS = """
[pytest]
markers =
    docker: x
    mariadb_image: x
    opensearch_image: x
    kind: x
    cluster: x
    flux: x
    kustomize: x
    shared: x
"""

TESTS = '''
import pytest

@pytest.mark.kustomize
def test_needs_kustomize():
    pass

@pytest.mark.kind
def test_needs_kind():
    pass

@pytest.fixture
def crd_dir():
    pytest.skip("no Flux CRDs here")

def test_reads_the_crds(crd_dir):
    pass

@pytest.mark.parametrize("case", [pytest.param("cases.jsonl not found", marks=pytest.mark.shared)])
def test_reference_case(case):
    pytest.skip(case)

@pytest.mark.docker
@pytest.mark.kind
def test_needs_docker_and_kind():
    pass

def test_needs_nothing():
    pass
'''


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST.read_text(encoding="utf-8"))
    pytester.makefile(".ini", pytest=MARKERS)
    pytester.makepyfile(test_needs=TESTS)
    empty = tmp_path / "no-tools"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no kind, kubectl or kustomize
    return pytester


def test_without_the_switch_each_missing_prerequisite_is_a_skip_with_its_reason(suite, monkeypatch) -> None:
    monkeypatch.delenv("DEVENV_REQUIRE", raising=False)
    result = suite.runpytest_inprocess("-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=5)
    result.stdout.fnmatch_lines(["*needs `kustomize` or `kubectl`*", "*needs kind and kubectl on PATH*",
                                 "*no Flux CRDs here*", "*cases.jsonl not found*"])


def test_with_the_switch_every_required_missing_prerequisite_fails_the_run(suite, monkeypatch) -> None:
    monkeypatch.setenv("DEVENV_REQUIRE", "kustomize,kind,shared")
    result = suite.runpytest_inprocess("-p", "no:cacheprovider")
    # a skip in set-up (a marker's tool, a fixture) becomes an error, one in the test a failure: either fails
    result.assert_outcomes(passed=1, failed=1, errors=4)
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*required prerequisite missing (DEVENV_REQUIRE names kustomize)*"])


def test_the_switch_fails_only_what_it_names(suite, monkeypatch) -> None:
    monkeypatch.setenv("DEVENV_REQUIRE", "shared")
    result = suite.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=3, failed=1, errors=1)


def test_only_the_missing_prerequisite_decides(suite, monkeypatch) -> None:
    """Docker is required and here, kind is not required and missing: a test marked with both stays a skip."""
    monkeypatch.setenv("DEVENV_REQUIRE", "docker")
    result = suite.runpytest_inprocess("-rs", "-p", "no:cacheprovider", "-k", "docker_and_kind")
    result.assert_outcomes(skipped=1)
