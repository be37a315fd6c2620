"""The devenv pytest plugin, run in pytester subprocesses against real Docker and MariaDB: options,
facts, per-test databases, markers, reuse, xdist, skips, and a census after every run."""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest
from plugin_helpers import leftovers, query, root_password

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 240

# The inner sessions' conftest: each test records what it saw, for the outer test to check.
RECORDER = """
import json, os, pathlib, re
import pytest

@pytest.fixture
def record(request):
    out = pathlib.Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    def write(**data):
        data["worker"] = os.environ.get("PYTEST_XDIST_WORKER", "main")
        (out / (re.sub(r"\\W+", "_", request.node.name) + ".json")).write_text(json.dumps(data))
    return write
"""


def results(pytester: pytest.Pytester) -> dict[str, dict]:
    out = pytester.path / "out"
    return {p.stem: json.loads(p.read_text()) for p in sorted(out.glob("*.json"))} if out.is_dir() else {}


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs", *args, timeout=RUN_TIMEOUT)


# -- no Docker needed ----------------------------------------------------------------------------------


def test_plugin_is_inert_when_its_fixtures_are_unused(pytester):
    pytester.makepyfile("""
        import sys

        def test_plain(pytestconfig):
            assert pytestconfig.pluginmanager.has_plugin("devenv")
            heavy = [m for m in ("docker", "testcontainers", "pymysql", "devenv.lifecycle.environments") if m in sys.modules]
            assert heavy == []
    """)
    result = run(pytester)
    result.assert_outcomes(passed=1)


def test_options_and_marker_are_registered(pytester):
    pytester.makepyfile("""
        import pytest

        def test_options(pytestconfig):
            assert pytestconfig.getoption("devenv_profile") == "local"
            assert pytestconfig.getoption("devenv_name") == "ci-42"
            assert pytestconfig.getoption("devenv_keep") is True
            assert pytestconfig.getoption("devenv_reuse") is True

        @pytest.mark.devenv(profile="test")
        def test_marker_known_to_strict_markers():
            pass
    """)
    result = run(pytester, "--strict-markers", "--devenv-profile", "local", "--devenv-name", "ci-42",
                 "--devenv-keep", "--devenv-reuse")
    result.assert_outcomes(passed=2)
    help_text = run(pytester, "--help").stdout.str()
    for option in ("--devenv-profile", "--devenv-name", "--devenv-reuse", "--devenv-keep"):
        assert option in help_text
    assert "@pytest.mark.devenv(profile)" in run(pytester, "--markers").stdout.str()


def test_misused_marker_is_a_collection_error(pytester):
    pytester.makepyfile("""
        import pytest

        @pytest.mark.devenv(image="mariadb:11")
        def test_it(devenv_services):
            pass
    """)
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*test_it: use @pytest.mark.devenv(profile=NAME_OR_PATH)"])
    assert "Traceback" not in result.stdout.str() and "pytest_plugin.py" not in result.stdout.str()


def test_unreachable_docker_skips_with_the_reason(pytester, monkeypatch):
    socket = f"/tmp/nobody-{uuid.uuid4().hex}.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{socket}")
    pytester.makepyfile("""
        def test_services(devenv_services):
            raise AssertionError("unreachable Docker must skip")

        def test_database(devenv_database):
            raise AssertionError("unreachable Docker must skip")

        def test_plain():
            pass
    """)
    result = run(pytester)
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines([f"SKIPPED*devenv_services: cannot reach the Docker engine*{socket}*"])


@pytest.mark.parametrize("profile, reason", [
    # no allowed kubeconfig context here: a namespace environment has no shared cluster to go to
    ("branch", "no kubeconfig context to make the namespace environment in"),
    # no tools at all here: the platform is rendered before anything is created, so kustomize is missed first
    ("local", "neither kustomize nor kubectl is installed"),
])
def test_environment_skips_when_the_profile_target_is_unavailable(pytester, monkeypatch, profile, reason):
    monkeypatch.setenv("PATH", str(pytester.path))  # no kind here, even on a machine that has it
    monkeypatch.setenv("KUBECONFIG", str(pytester.path / "no-kubeconfig"))  # and no current context
    monkeypatch.setenv("XDG_CONFIG_HOME", str(pytester.path / "config"))
    monkeypatch.delenv("DEVENV_CONTEXTS", raising=False)
    pytester.makepyfile(f"""
        import pytest

        @pytest.mark.devenv(profile="{profile}")
        def test_cluster(devenv_environment):
            raise AssertionError("an unavailable target must skip")
    """)
    result = run(pytester)
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines([f"SKIPPED*devenv_environment: {reason}*"])


def test_unknown_profile_errors_clearly_and_creates_nothing(pytester, new_env):
    name = new_env()
    pytester.makepyfile("""
        def test_one(devenv_services):
            pass

        def test_two(devenv_services):
            pass
    """)
    result = run(pytester, "--devenv-profile", "no-such-profile", "--devenv-name", name)
    result.assert_outcomes(errors=2)
    output = result.stdout.str()
    assert "devenv_services: no profile named 'no-such-profile'" in output
    assert "hint: known profiles:" in output
    assert "Traceback" not in output and "pytest_plugin.py" not in output


# -- real Docker and MariaDB ---------------------------------------------------------------------------


@pytest.mark.mariadb_image
def test_services_give_facts_and_environment_values_then_teardown_removes_everything(pytester):
    pytester.makeconftest(RECORDER)
    pytester.makepyfile("""
        import pymysql
        from devenv.lifecycle import environments

        def test_facts(devenv_services, record):
            db = devenv_services["db"]
            assert (db.type, db.host, db.user, db.database) == ("mariadb", "127.0.0.1", "orders", "orders")
            assert db.url == f"mysql://orders@127.0.0.1:{db.port}/orders"
            assert devenv_services.values["RDS_ENDPOINT"] == db.host
            assert devenv_services.values["RDS_PORT"] == str(db.port)
            assert devenv_services.env["RDS_PASSWORD"] == db.password
            assert "password" not in repr(devenv_services) and db.password not in repr(devenv_services)
            connection = pymysql.connect(host=db.host, port=db.port, user=db.user, password=db.password,
                                         database=db.database)
            with connection.cursor() as cursor:
                cursor.execute("SELECT customer FROM orders ORDER BY id")
                assert [r[0] for r in cursor.fetchall()] == ["ada", "grace", "linus"]
            connection.close()
            assert environments.status(devenv_services.name).state == "ready"
            record(name=devenv_services.name)

        def test_environment_of_a_docker_profile_is_the_same_environment(devenv_environment, devenv_services):
            assert devenv_environment.name == devenv_services.name
            assert devenv_environment.target == "docker"

        def test_index_prefix_needs_an_opensearch_service(devenv_index_prefix):
            raise AssertionError("the test profile has no opensearch service: must skip")
    """)
    result = run(pytester)
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED*devenv_index_prefix: profile test has no opensearch service*"])
    name = results(pytester)["test_facts"]["name"]
    assert name.startswith("pytest-")
    assert leftovers(name) == []


@pytest.mark.mariadb_image
def test_each_test_gets_its_own_database_dropped_afterwards(pytester, new_env):
    name = new_env()
    pytester.makeconftest(RECORDER)
    pytester.makepyfile("""
        def test_writer(devenv_database, devenv_services, record):
            assert devenv_database.name != devenv_services["db"].database
            assert devenv_database.env["RDS_DATABASE"] == devenv_database.name
            assert devenv_database.env["RDS_PORT"] == str(devenv_services["db"].port)
            connection = devenv_database.connect(autocommit=True)
            with connection.cursor() as cursor:
                cursor.execute("CREATE TABLE notes (body TEXT)")
                cursor.execute("INSERT INTO notes VALUES ('from the writer')")
            connection.close()
            record(database=devenv_database.name)

        def test_reader(devenv_database, record):
            connection = devenv_database.connect()
            with connection.cursor() as cursor:
                cursor.execute("SHOW TABLES")
                assert cursor.fetchall() == ()
            connection.close()
            record(database=devenv_database.name)

        def test_load(devenv_database, record):
            devenv_database.load(%r)
            connection = devenv_database.connect()
            with connection.cursor() as cursor:
                cursor.execute("SELECT SUM(total_cents) FROM orders")
                assert cursor.fetchone()[0] == 1250 + 4200 + 999
            connection.close()
            record(database=devenv_database.name)
    """ % str(REPO / "profiles" / "seed" / "orders.sql"))
    result = run(pytester, "--devenv-name", name, "--devenv-keep")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines([f"*kept environment {name} (--devenv-keep)*devenv down {name}*"])
    made = {r["database"] for r in results(pytester).values()}
    assert len(made) == 3
    from devenv.lifecycle import environments

    port = int(environments.attach(name).services["db"]["port"])
    databases = {row[0] for row in query(port, "root", root_password(name), "SHOW DATABASES")}
    assert "orders" in databases and not made & databases
    grants = query(port, "root", root_password(name), "SHOW GRANTS FOR 'orders'@'%'")
    assert not [g for g in grants if any(db in g[0] for db in made)]
    environments.down(name)


@pytest.mark.mariadb_image
def test_marker_profile_gets_its_own_environment(pytester, new_env):
    name = new_env()
    (pytester.path / "profiles").mkdir()
    (pytester.path / "profiles" / "inventory.yaml").write_text(
        "version: 1\nname: inventory\ntarget: docker\nmirror: clusters/production\n"
        "services:\n  db:\n    type: mariadb\n    database: inventory\n    user: stock\n"
        "environment:\n  data:\n    RDS_DATABASE: \"{services.db.database}\"\n"
    )
    pytester.makeconftest(RECORDER)
    pytester.makepyfile("""
        import pytest

        def test_default(devenv_services, record):
            record(name=devenv_services.name, database=devenv_services["db"].database)

        @pytest.mark.devenv(profile="profiles/inventory.yaml")
        def test_marked(devenv_services, devenv_database, record):
            assert devenv_database.env == {"RDS_DATABASE": devenv_database.name}
            assert devenv_database.user == "stock"
            record(name=devenv_services.name, database=devenv_services["db"].database)

        @pytest.mark.devenv(profile="profiles/inventory.yaml")
        def test_marked_again(devenv_services, record):
            record(name=devenv_services.name, database=devenv_services["db"].database)
    """)
    result = run(pytester, "--devenv-name", name, "-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*test_marked?devenv=inventory? PASSED*"])
    seen = results(pytester)
    assert seen["test_default"] == {"name": name, "database": "orders", "worker": "main"}
    other = seen["test_marked_devenv_inventory_"]
    assert other["database"] == "inventory" and other["name"] != name and other["name"].startswith(name)
    assert seen["test_marked_again_devenv_inventory_"]["name"] == other["name"]
    assert leftovers(other["name"]) == []


@pytest.mark.mariadb_image
def test_reuse_leaves_the_environment_up_and_the_next_run_attaches(pytester, env_names):
    pytester.makeconftest(RECORDER)
    pytester.makepyfile("""
        import os
        import pymysql

        def test_visit(devenv_services, record):
            db = devenv_services["db"]
            connection = pymysql.connect(host=db.host, port=db.port, user=db.user, password=db.password,
                                         database=db.database, autocommit=True)
            with connection.cursor() as cursor:
                cursor.execute("SELECT COUNT(*) FROM orders WHERE customer = 'reuse-marker'")
                visits = cursor.fetchone()[0]
                cursor.execute("INSERT INTO orders (customer, total_cents) VALUES ('reuse-marker', 1)")
            connection.close()
            record(name=devenv_services.name, visits=visits, password=db.password,
                   changes=list(devenv_services.environment.changes))
    """)
    first = run(pytester, "--devenv-reuse")
    first.assert_outcomes(passed=1)
    before = results(pytester)["test_visit"]
    name = before["name"]
    env_names.append(name)
    first.stdout.fnmatch_lines([f"*kept environment {name} (--devenv-reuse*"])
    assert before["visits"] == 0 and before["changes"] == ["db: created"]
    assert [item.split()[0] for item in leftovers(name)] == ["container", "volume", "network"]

    second = run(pytester, "--devenv-reuse")
    second.assert_outcomes(passed=1)
    after = results(pytester)["test_visit"]
    assert after["name"] == name  # the stable name for this checkout and profile
    assert after["visits"] == 1 and after["password"] == before["password"]
    assert after["changes"] == ["db: unchanged"]
    from devenv.lifecycle import environments

    environments.down(name)


@pytest.mark.mariadb_image
def test_xdist_workers_share_one_environment_created_once(pytester):
    pytester.makeconftest(RECORDER)
    pytester.makepyfile(**{f"test_share_{i}": f"""
        import time

        def test_share_{i}(devenv_services, devenv_database, record):
            time.sleep(0.3)  # keeps both workers busy, so that each runs some tests
            record(name=devenv_services.name, port=devenv_services["db"].port, database=devenv_database.name,
                   changes=list(devenv_services.environment.changes))
    """ for i in range(6)})
    result = run(pytester, "-n", "2")
    result.assert_outcomes(passed=6)
    seen = list(results(pytester).values())
    assert len(seen) == 6 and {r["worker"] for r in seen} == {"gw0", "gw1"}
    assert len({r["name"] for r in seen}) == 1 and len({r["port"] for r in seen}) == 1
    assert len({r["database"] for r in seen}) == 6
    by_worker = {r["worker"]: r["changes"] for r in seen}
    assert sorted(by_worker.values()) == [["db: created"], ["db: unchanged"]]
    assert leftovers(seen[0]["name"]) == []


@pytest.mark.mariadb_image
def test_a_service_that_fails_to_start_fails_the_tests_and_leaves_nothing(pytester, new_env):
    name = new_env()
    (pytester.path / "broken.sql").write_text("CREATE TABLE orders (id INT;\n")
    (pytester.path / "broken.yaml").write_text(
        "version: 1\nname: broken\ntarget: docker\nmirror: clusters/production\n"
        "services:\n  db:\n    type: mariadb\n    seed: [broken.sql]\n"
    )
    pytester.makepyfile("""
        def test_one(devenv_services):
            pass

        def test_two(devenv_database):
            pass
    """)
    result = run(pytester, "--devenv-profile", "broken.yaml", "--devenv-name", name)
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*devenv_services: db (mariadb) exited with code * before it was ready*"])
    assert "Traceback" not in result.stdout.str()
    assert leftovers(name) == []


@pytest.mark.opensearch_image
def test_index_prefixes_isolate_tests_under_xdist(pytester, new_env):
    name = new_env()
    (pytester.path / "search.yaml").write_text(
        "version: 1\nname: search\ntarget: docker\nmirror: clusters/production\n"
        "services:\n  search:\n    type: opensearch\n"
    )
    pytester.makeconftest(RECORDER)
    pytester.makepyfile(**{f"test_prefix_{i}": f"""
        import json, time, urllib.request

        def call(method, url, body=None):
            request = urllib.request.Request(url, method=method, data=body,
                                             headers={{"Content-Type": "application/x-ndjson"}})
            with urllib.request.urlopen(request, timeout=30) as answer:
                return json.loads(answer.read())

        def test_prefix_{i}(devenv_services, devenv_index_prefix, record):
            url = devenv_services["search"].url
            docs = "".join('{{"index": {{}}}}\\n{{"n": %d}}\\n' % n for n in range({i + 1}))
            assert not call("POST", f"{{url}}/{{devenv_index_prefix}}orders/_bulk?refresh=true", docs.encode())["errors"]
            time.sleep(0.3)  # keeps both workers busy, so that each runs some tests while the other writes
            record(prefix=devenv_index_prefix, url=url, name=devenv_services.name,
                   count=call("GET", f"{{url}}/{{devenv_index_prefix}}*/_count")["count"])
    """ for i in range(4)})
    result = run(pytester, "-n", "2", "--devenv-profile", "search.yaml", "--devenv-name", name, "--devenv-keep")
    result.assert_outcomes(passed=4)
    seen = results(pytester)
    assert {r["worker"] for r in seen.values()} == {"gw0", "gw1"} and {r["name"] for r in seen.values()} == {name}
    assert len({r["prefix"] for r in seen.values()}) == 4 and all(r["prefix"].startswith("t-") for r in seen.values())
    assert {test: r["count"] for test, r in seen.items()} == {f"test_prefix_{i}": i + 1 for i in range(4)}
    url = next(iter(seen.values()))["url"]
    with urllib.request.urlopen(f"{url}/_cat/indices?format=json&expand_wildcards=all", timeout=30) as answer:
        left = [index["index"] for index in json.loads(answer.read())]
    assert not [index for index in left if any(index.startswith(r["prefix"]) for r in seen.values())], left
    from devenv.lifecycle import environments

    environments.down(name)


@pytest.mark.mariadb_image
def test_example_orders_service_passes_under_xdist_and_leaves_nothing(new_env):
    name = new_env("ex")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "examples/orders-service", "-n", "2", "-p", "no:cacheprovider",
         "--devenv-name", name],
        cwd=REPO, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=os.environ.copy(),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "skipped" not in proc.stdout
    assert leftovers(name) == []


# -- --devenv-require / DEVENV_REQUIRE: CI fails instead of skipping -------------------------------------

UNREACHABLE_SERVICES = """
    def test_services(devenv_services):
        raise AssertionError("unreachable Docker never gets here")

    def test_plain():
        pass
"""


@pytest.mark.parametrize("how", ["--devenv-require", "DEVENV_REQUIRE=docker,mariadb_image", "DEVENV_REQUIRE=all",
                                 "DEVENV_REQUIRE=1"])
def test_required_docker_that_is_unreachable_is_an_error_not_a_skip(pytester, monkeypatch, how):
    socket = f"/tmp/nobody-{uuid.uuid4().hex}.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{socket}")
    args = [how] if how.startswith("--") else []
    if not args:
        monkeypatch.setenv(*how.split("=", 1))
    pytester.makepyfile(UNREACHABLE_SERVICES)
    result = run(pytester, *args)
    result.assert_outcomes(passed=1, errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([f"*devenv_services: cannot reach the Docker engine*{socket}*(required: *"])


def test_require_naming_other_prerequisites_still_skips_without_docker(pytester, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix:///tmp/nobody-{uuid.uuid4().hex}.sock")
    monkeypatch.setenv("DEVENV_REQUIRE", "cluster,flux")
    pytester.makepyfile(UNREACHABLE_SERVICES)
    result = run(pytester)
    result.assert_outcomes(passed=1, skipped=1)
    assert result.ret == pytest.ExitCode.OK


@pytest.mark.docker
def test_required_image_that_cannot_be_had_is_an_error(pytester, monkeypatch, new_env):
    monkeypatch.setenv("DEVENV_MARIADB_IMAGE", "127.0.0.1:9/devenv-no-such-image:0")  # refused at once, never pulled
    monkeypatch.setenv("DEVENV_REQUIRE", "docker")
    pytester.makepyfile(UNREACHABLE_SERVICES)
    result = run(pytester, "--devenv-name", new_env())
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*image 127.0.0.1:9/devenv-no-such-image:0 is not present locally and could not be "
                                 "pulled*(required: *"])


def test_fixture_facts_answer_to_testcontainers_accessors():
    from devenv.pytest_plugin import ServiceFacts

    db = ServiceFacts(name="db", type="mariadb", host="127.0.0.1", port=33061, url="mysql://app@127.0.0.1:33061/app",
                      user="app", password="p@ss/word", database="app")
    assert (db.get_container_host_ip(), db.get_exposed_port(3306)) == ("127.0.0.1", 33061)
    assert db.get_connection_url() == "mysql+pymysql://app:p%40ss%2Fword@127.0.0.1:33061/app"
    search = ServiceFacts(name="search", type="opensearch", host="127.0.0.1", port=9201, url="http://127.0.0.1:9201")
    assert search.get_connection_url() == "http://127.0.0.1:9201"


@pytest.mark.docker
@pytest.mark.mariadb_image
def test_the_readme_example_for_another_project_runs_as_copied(pytester, new_env):
    """The README's `<!-- another-project: PATH -->` blocks, written as a new project would, pass."""
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"<!-- another-project: (\S+) -->\n```\w*\n(.*?)```", readme, flags=re.S)
    assert {path for path, _ in blocks} == {"profiles/test.yaml", "tests/test_app.py"}
    for path, text in blocks:
        (pytester.path / path).parent.mkdir(parents=True, exist_ok=True)
        (pytester.path / path).write_text(text)
    result = run(pytester, "--devenv-name", new_env())
    result.assert_outcomes(passed=2)


def test_a_rewritten_devenv_name_is_reported(pytester):
    pytester.makepyfile("def test_plain():\n    pass\n")
    result = run(pytester, "--devenv-name", "My Branch")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*--devenv-name: using environment name 'my-branch' for 'My Branch'*"])
