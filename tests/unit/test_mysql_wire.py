"""The MariaDB probe's wire protocol without a server: the scramble against a vector computed with
`openssl sha1`, packet framing, a greeting and an ERR packet captured from MariaDB 10.11, and a whole
probe (with an Auth Switch Request) against a scripted server on a local socket."""

from __future__ import annotations

import socket
import threading

import pytest

from devenv.facts import Endpoint
from devenv.profiles import ServiceSpec
from devenv.services import mariadb
from devenv.services.mysql_wire import (
    CLIENT_CONNECT_WITH_DB, CLIENT_PLUGIN_AUTH, CLIENT_PROTOCOL_41, CLIENT_SECURE_CONNECTION, ProtocolError, ServerError,
    UnsupportedAuth, frame, handshake_response, parse_error, parse_greeting, scramble, select_one,
)

# What devenv-offline/mariadb:10.11 (10.11.18-MariaDB-0+deb12u1) sent first on a new connection.
GREETING = bytes.fromhex(
    "0a352e352e352d31302e31312e31382d4d6172696144422d302b6465623132753100030000006b7a462e512e314b00fef72d0200ff"
    "81150000000000001d0000006334747053313a6e3e29513e006d7973716c5f6e61746976655f70617373776f726400")
# And its answer to a wrong password.
ACCESS_DENIED = bytes.fromhex(
    "ff15042332383030304163636573732064656e69656420666f72207573657220276f72646572732740273137322e31372e302e3127"
    "20287573696e672070617373776f72643a2059455329")
# Its text result set for SELECT 1: column count, column definition, EOF, row, EOF.
SELECT_1 = [bytes.fromhex(h) for h in (
    "01", "036465660000000131000c3f0001000000038100000000", "fe00000200", "0131", "fe00000200")]
OK = bytes.fromhex("000000020000")


def test_scramble_matches_a_vector_computed_with_openssl():
    # s1 = sha1("s3cret"), s2 = sha1(s1), mask = sha1(salt + s2), answer = s1 XOR mask (each step `openssl sha1`)
    salt = b"abcdefghijklmnopqrst"
    assert scramble(b"s3cret", salt).hex() == "8510605a5ec0d3d958058636e0a2ebdfcf34be4c"
    assert scramble(b"", salt) == b""  # no password: an empty auth response


def test_a_packet_is_a_three_byte_little_endian_length_a_sequence_id_and_the_payload():
    assert frame(0, b"\x03SELECT 1") == b"\x09\x00\x00\x00\x03SELECT 1"
    assert frame(257, b"x" * 300) == b"\x2c\x01\x00\x01" + b"x" * 300  # the sequence id wraps at 256
    with pytest.raises(ValueError):
        frame(0, bytes(0xFFFFFF))


def test_a_real_mariadb_greeting_parses():
    greeting = parse_greeting(GREETING)
    assert greeting.protocol == 10
    assert greeting.server_version == "5.5.5-10.11.18-MariaDB-0+deb12u1"
    assert greeting.connection_id == 3
    assert greeting.salt == b"kzF.Q.1Kc4tpS1:n>)Q>" and len(greeting.salt) == 20
    assert greeting.plugin == "mysql_native_password"
    wanted = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH | CLIENT_CONNECT_WITH_DB
    assert greeting.capabilities & wanted == wanted


def test_an_err_packet_carries_the_code_the_sql_state_and_the_message():
    err = parse_error(ACCESS_DENIED)
    assert (err.code, err.sql_state) == (1045, "28000")
    assert err.message == "Access denied for user 'orders'@'172.17.0.1' (using password: YES)"
    assert str(err) == "1045 (28000): Access denied for user 'orders'@'172.17.0.1' (using password: YES)"
    assert parse_error(b"\xff\x10\x04Too many connections").code == 1040  # no SQL state: message only
    with pytest.raises(ServerError) as raised:
        parse_greeting(b"\xff\x10\x04Too many connections")  # an ERR instead of a greeting
    assert raised.value.code == 1040
    for cut in (b"", b"\x0a5.5.5-10.11", GREETING[:40]):  # a server still starting may hang up mid-greeting
        with pytest.raises(ProtocolError):
            parse_greeting(cut)


def test_the_handshake_response_is_a_handshake_response41():
    salt = b"abcdefghijklmnopqrst"
    packet = handshake_response("orders", "s3cret", "orders", salt)
    capabilities = int.from_bytes(packet[:4], "little")
    assert capabilities == CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH | CLIENT_CONNECT_WITH_DB
    assert packet[8] == 45 and packet[9:32] == bytes(23)  # utf8mb4_general_ci, then zeros
    assert packet[32:] == (b"orders\0" + b"\x14" + scramble(b"s3cret", salt) + b"orders\0"
                           + b"mysql_native_password\0")


class ScriptedServer:
    """A TCP server on 127.0.0.1 that plays one connection: it sends `greeting`, then for each step reads a
    packet (recorded) and sends that step's packets; sequence ids follow the protocol's rules."""

    def __init__(self, greeting: bytes, steps: list[list[bytes]]):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.received: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, args=(greeting, steps), daemon=True)
        self.thread.start()

    def _serve(self, greeting, steps):
        conn, _ = self.listener.accept()
        with conn, conn.makefile("rb") as reader:
            conn.sendall(frame(0, greeting))
            for replies in steps:
                header = reader.read(4)
                if len(header) < 4:
                    return
                self.received.append(reader.read(int.from_bytes(header[:3], "little")))
                for number, payload in enumerate(replies, start=header[3] + 1):
                    conn.sendall(frame(number, payload))
        self.listener.close()

    def join(self):
        self.thread.join(5)
        return self.received


def test_a_probe_answers_an_auth_switch_with_the_new_salt_and_checks_select_1():
    new_salt = b"ABCDEFGHIJKLMNOPQRST"
    switch = b"\xfemysql_native_password\0" + new_salt + b"\0"
    server = ScriptedServer(GREETING, [[switch], [OK], SELECT_1, []])
    select_one("127.0.0.1", server.port, "orders", "s3cret", "orders")
    response, switched, query, quit_ = server.join()
    assert response == handshake_response("orders", "s3cret", "orders", b"kzF.Q.1Kc4tpS1:n>)Q>")
    assert switched == scramble(b"s3cret", new_salt)
    assert query == b"\x03SELECT 1" and quit_ == b"\x01"


def test_a_server_error_at_login_raises_with_its_code():
    server = ScriptedServer(GREETING, [[ACCESS_DENIED]])
    with pytest.raises(ServerError) as raised:
        select_one("127.0.0.1", server.port, "orders", "wrong", "orders")
    assert raised.value.code == 1045
    server.join()


def test_a_select_that_does_not_answer_1_fails():
    rows = [SELECT_1[0], SELECT_1[1], SELECT_1[2], bytes.fromhex("0132"), SELECT_1[4]]  # '2'
    server = ScriptedServer(GREETING, [[OK], rows])
    with pytest.raises(ProtocolError, match="SELECT 1 returned"):
        select_one("127.0.0.1", server.port, "orders", "s3cret", "orders")
    server.join()


def test_a_connection_the_server_closes_raises_an_oserror():
    server = ScriptedServer(GREETING, [[]])  # reads the response, answers nothing, closes
    with pytest.raises(ConnectionResetError):
        select_one("127.0.0.1", server.port, "orders", "s3cret", "orders")
    server.join()


def test_nothing_listening_raises_connection_refused():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
    with pytest.raises(ConnectionRefusedError):
        select_one("127.0.0.1", port, "orders", "s3cret", "orders")


@pytest.mark.parametrize("plugin", ["client_ed25519", "caching_sha2_password", "parsec"])
def test_another_auth_plugin_falls_back_to_pymysql(monkeypatch, plugin):
    server = ScriptedServer(GREETING, [[b"\xfe" + plugin.encode() + b"\0" + bytes(32)]])
    with pytest.raises(UnsupportedAuth):
        select_one("127.0.0.1", server.port, "orders", "s3cret", "orders")
    server.join()

    calls = []
    monkeypatch.setattr(mariadb, "_pymysql_probe", lambda *args: calls.append(args))
    server = ScriptedServer(GREETING, [[b"\xfe" + plugin.encode() + b"\0" + bytes(32)]])
    service = ServiceSpec(name="db", type="mariadb", version="10.11", user="orders", database="orders")
    mariadb.MariaDB().probe(service, Endpoint("127.0.0.1", server.port), {"password": "s3cret"})
    server.join()
    assert len(calls) == 1


def test_a_probe_imports_no_driver():
    """Neither importing the swap nor a probe attempt (here refused) loads pymysql or cryptography."""
    import subprocess
    import sys

    code = ("import socket, sys\n"
            "from devenv.facts import Endpoint\n"
            "from devenv.profiles import ServiceSpec\n"
            "from devenv.services.mariadb import MariaDB\n"
            "with socket.create_server(('127.0.0.1', 0)) as s: port = s.getsockname()[1]\n"
            "try: MariaDB().probe(ServiceSpec(name='db', type='mariadb', version=''), Endpoint('127.0.0.1', port),"
            " {'password': 'x'})\n"
            "except ConnectionRefusedError: pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pymysql', 'cryptography')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
