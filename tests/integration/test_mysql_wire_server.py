"""The MariaDB probe's own wire protocol (devenv.services.mysql_wire) against the real server: one MariaDB
container (DEVENV_MARIADB_IMAGE, port on 127.0.0.1, labelled as devenv labels an environment) for the
module, waited for by the real readiness loop; in every case the probe agrees with pymysql."""

from __future__ import annotations

import uuid

import pymysql
import pytest
from it_helpers import mariadb_image

from devenv import docker, labels
from devenv.facts import Endpoint
from devenv.profiles import ServiceSpec
from devenv.services import mariadb, mysql_wire
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


def pymysql_outcome(port: int, user: str, password: str, database: str):
    """None when pymysql logs in and SELECT 1 answers 1, else the server's (or client's) error code."""
    try:
        connection = pymysql.connect(host=HOST, port=port, user=user, password=password, database=database,
                                     connect_timeout=2, ssl_disabled=True)
    except pymysql.err.OperationalError as err:
        return err.args[0]
    with connection, connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    return None


def wire_outcome(port: int, user: str, password: str, database: str):
    """The same for the probe's protocol: None, a server's error code, or the OSError's type."""
    try:
        mysql_wire.select_one(HOST, port, user, password, database)
    except mysql_wire.ServerError as err:
        return err.code
    except OSError as err:
        return type(err)
    return None


def test_the_right_password_logs_in_and_select_1_answers(server):
    port, spec = server
    assert wire_outcome(port, USER, PASSWORD, DATABASE) is None
    assert pymysql_outcome(port, USER, PASSWORD, DATABASE) is None
    MARIADB.probe(spec, Endpoint(HOST, port), {"password": PASSWORD})
    assert wire_outcome(port, "root", ROOT_PASSWORD, DATABASE) is None


def test_a_wrong_password_is_1045(server):
    port, spec = server
    with pytest.raises(mysql_wire.ServerError) as raised:
        MARIADB.probe(spec, Endpoint(HOST, port), {"password": "wrong"})
    assert raised.value.code == 1045 and "Access denied" in raised.value.message
    assert wire_outcome(port, USER, "", DATABASE) == pymysql_outcome(port, USER, "", DATABASE) == 1045  # no password
    assert wire_outcome(port, "nobody", "x", DATABASE) == pymysql_outcome(port, "nobody", "x", DATABASE) == 1045


def test_an_unknown_database_is_1049_and_one_the_user_may_not_see_1044(server):
    port, _ = server
    assert wire_outcome(port, "root", ROOT_PASSWORD, "nope") == pymysql_outcome(port, "root", ROOT_PASSWORD, "nope") \
        == 1049
    assert wire_outcome(port, USER, PASSWORD, "nope") == pymysql_outcome(port, USER, PASSWORD, "nope") == 1044


def test_a_port_nobody_listens_on_is_refused(server):
    port = docker.free_port(HOST)
    assert wire_outcome(port, USER, PASSWORD, DATABASE) is ConnectionRefusedError
    assert pymysql_outcome(port, USER, PASSWORD, DATABASE) == 2003  # pymysql's "Can't connect"
    spec = ServiceSpec(name="db", type="mariadb", version="10.11", user=USER, database=DATABASE)
    with pytest.raises(ConnectionRefusedError):
        MARIADB.probe(spec, Endpoint(HOST, port), {"password": PASSWORD})


def test_an_auth_switch_to_mysql_native_password_is_answered(server):
    """A client that offers another plugin is switched to the account's mysql_native_password."""
    port, _ = server
    conn = mysql_wire.Connection(HOST, port, 2, 5)
    try:
        greeting = mysql_wire.parse_greeting(conn.read())
        offer = mysql_wire.handshake_response(USER, PASSWORD, DATABASE, greeting.salt)
        conn.write(offer.replace(b"mysql_native_password\0", b"client_ed25519\0"))
        mysql_wire.authenticate(conn, PASSWORD)
        assert mysql_wire.query(conn, "SELECT 1") == [[b"1"]]
    finally:
        conn.close()


def test_another_auth_plugin_falls_back_to_pymysql_and_fares_as_pymysql_does(server, monkeypatch):
    port, _ = server
    with pymysql.connect(host=HOST, port=port, user="root", password=ROOT_PASSWORD, ssl_disabled=True) as root:
        with root.cursor() as cursor:
            cursor.execute("INSTALL SONAME 'auth_ed25519'")
            cursor.execute("CREATE USER IF NOT EXISTS ed@'%' IDENTIFIED VIA ed25519 USING PASSWORD('ed-s3cret')")
            cursor.execute("GRANT ALL ON orders.* TO ed@'%'")
    with pytest.raises(mysql_wire.UnsupportedAuth) as raised:
        mysql_wire.select_one(HOST, port, "ed", "ed-s3cret", DATABASE)
    assert raised.value.plugin == "client_ed25519"

    spec = ServiceSpec(name="db", type="mariadb", version="10.11", user="ed", database=DATABASE)
    endpoint, credentials = Endpoint(HOST, port), {"password": "ed-s3cret"}

    def outcome(probe):
        try:
            probe(spec, endpoint, credentials)
        except Exception as exc:  # noqa: BLE001 - compared, not handled
            return type(exc)
        return None

    calls = []
    real = mariadb._pymysql_probe
    monkeypatch.setattr(mariadb, "_pymysql_probe", lambda *args: (calls.append(args), real(*args)))
    # pymysql does ed25519 with PyNaCl, and fails without it: the probe does exactly what pymysql does
    assert outcome(MARIADB.probe) == outcome(real) and len(calls) == 1
