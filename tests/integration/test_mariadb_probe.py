"""The MariaDB readiness probe (pymysql: a login as the app user and SELECT 1) against the real server: one
MariaDB container (DEVENV_MARIADB_IMAGE, port on 127.0.0.1, labelled as devenv labels an environment) for the
module, waited for by the real readiness loop; the probe passes only when the app user can log in to its
database, and says why it did not otherwise (the server's error code)."""

from __future__ import annotations

import uuid

import pymysql
import pytest
from it_helpers import mariadb_image

from devenv.clients import docker
from devenv.domain import labels
from devenv.domain.facts import Endpoint
from devenv.domain.profiles import ServiceSpec
from devenv.services import mariadb
from devenv.services.base import wait_until_ready

pytestmark = [pytest.mark.docker, pytest.mark.mariadb_image]

HOST = "127.0.0.1"
USER, PASSWORD, ROOT_PASSWORD, DATABASE = "orders", "app-s3cret", "root-s3cret", "orders"
MARIADB = mariadb.MariaDB()


@pytest.fixture(scope="module")
def server():
    """A started MariaDB as the app user sees it: (port, spec); removed at the end, and nothing labelled left."""
    client = docker.connect()
    name = f"wir-{uuid.uuid4().hex[:8]}"
    port = docker.free_port(HOST)
    spec = ServiceSpec(name="db", type="mariadb", version="10.11", user=USER, database=DATABASE)
    credentials = {"password": PASSWORD, "root_password": ROOT_PASSWORD}
    container = client.containers.create(
        mariadb_image(), name=f"devenv-{name}-db", labels=labels.selector(name),
        environment={**MARIADB.environment(spec), **MARIADB.secret_environment(spec, credentials)},
        ports={"3306/tcp": (HOST, port)})
    try:
        container.start()
        wait_until_ready(MARIADB, spec, Endpoint(HOST, port), credentials, timeout=120,
                         stopped=lambda: docker.stopped(container), logs=lambda: docker.logs_tail(container))
        yield port, spec
    finally:
        container.remove(force=True, v=True)
        assert not docker.managed(client, name), "a labelled resource was left behind"


def probe_outcome(port: int, user: str, password: str, database: str):
    """None when the probe passes, else the server's (or the client's) error code."""
    spec = ServiceSpec(name="db", type="mariadb", version="10.11", user=user, database=database)
    try:
        MARIADB.probe(spec, Endpoint(HOST, port), {"password": password})
    except pymysql.err.OperationalError as err:
        return err.args[0]
    return None


def test_the_right_password_logs_in_and_select_1_answers(server):
    port, _ = server
    assert probe_outcome(port, USER, PASSWORD, DATABASE) is None
    assert probe_outcome(port, "root", ROOT_PASSWORD, DATABASE) is None


def test_a_wrong_password_is_1045(server):
    port, _ = server
    assert probe_outcome(port, USER, "wrong", DATABASE) == 1045
    assert probe_outcome(port, USER, "", DATABASE) == 1045  # no password
    assert probe_outcome(port, "nobody", "x", DATABASE) == 1045


def test_an_unknown_database_is_1049_and_one_the_user_may_not_see_1044(server):
    port, _ = server
    assert probe_outcome(port, "root", ROOT_PASSWORD, "nope") == 1049
    assert probe_outcome(port, USER, PASSWORD, "nope") == 1044


def test_a_port_nobody_listens_on_is_2003_and_the_wait_reports_it(server):
    port = docker.free_port(HOST)
    assert probe_outcome(port, USER, PASSWORD, DATABASE) == 2003  # pymysql's "Can't connect"
    spec = ServiceSpec(name="db", type="mariadb", version="10.11", user=USER, database=DATABASE)
    from devenv.errors import ReadinessTimeout

    with pytest.raises(ReadinessTimeout) as raised:
        wait_until_ready(MARIADB, spec, Endpoint(HOST, port), {"password": PASSWORD}, timeout=1)
    assert "2003" in str(raised.value) or "Can't connect" in str(raised.value)


def test_an_account_on_another_auth_plugin_fares_as_pymysql_does(server):
    """ed25519 (MariaDB's own plugin): pymysql does it with PyNaCl; the probe is pymysql, so it passes when
    PyNaCl is installed and fails with pymysql's error when it is not."""
    port, _ = server
    with pymysql.connect(host=HOST, port=port, user="root", password=ROOT_PASSWORD, ssl_disabled=True) as root:
        with root.cursor() as cursor:
            cursor.execute("INSTALL SONAME 'auth_ed25519'")
            cursor.execute("CREATE USER IF NOT EXISTS ed@'%' IDENTIFIED VIA ed25519 USING PASSWORD('ed-s3cret')")
            cursor.execute("GRANT ALL ON orders.* TO ed@'%'")
    spec = ServiceSpec(name="db", type="mariadb", version="10.11", user="ed", database=DATABASE)
    try:
        import nacl  # noqa: F401
    except ImportError:
        with pytest.raises(Exception, match="nacl|PyNaCl|ed25519"):
            MARIADB.probe(spec, Endpoint(HOST, port), {"password": "ed-s3cret"})
    else:
        MARIADB.probe(spec, Endpoint(HOST, port), {"password": "ed-s3cret"})
