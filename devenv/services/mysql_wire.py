"""Just enough of the MySQL/MariaDB client protocol for MariaDB's readiness probe: log in, SELECT 1, quit.

Why: the probe used pymysql, and importing it costs ~55 ms of `devenv up` (pymysql._auth imports
`cryptography`, ~30 ms of it) for one login per 50 ms poll. This module needs only the standard library.

What it covers (https://mariadb.com/kb/en/connection/, https://mariadb.com/kb/en/com_query/): TCP with
timeouts; the Initial Handshake (protocol 10); a HandshakeResponse41 (PROTOCOL_41, SECURE_CONNECTION,
PLUGIN_AUTH, CONNECT_WITH_DB; no TLS, no compression, no connection attributes) answered with
mysql_native_password; an Auth Switch Request to mysql_native_password; OK/ERR; COM_QUERY and a text
result set (with EOF packets: DEPRECATE_EOF is not asked for); COM_QUIT.

What it does not: any other auth plugin (ed25519, caching_sha2_password, parsec, ...) raises
UnsupportedAuth, so the caller can fall back to a real driver. A server's ERR raises ServerError with the
server's code and message; a refused, reset or timed-out connection raises the OSError socket raised.
"""

from __future__ import annotations

import hashlib
import socket
import struct
from dataclasses import dataclass

NATIVE = "mysql_native_password"
CLIENT_CONNECT_WITH_DB = 0x8
CLIENT_PROTOCOL_41 = 0x200
CLIENT_SECURE_CONNECTION = 0x8000
CLIENT_PLUGIN_AUTH = 0x80000
CAPABILITIES = CLIENT_CONNECT_WITH_DB | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH
UTF8MB4_GENERAL_CI = 45
MAX_PACKET = 1 << 24
COM_QUIT, COM_QUERY = 0x01, 0x03


class ServerError(Exception):
    """An ERR packet: the server's error code (1045: access denied, 1049: unknown database), SQL state, message."""

    def __init__(self, code: int, message: str, sql_state: str = ""):
        super().__init__(code, message)
        self.code, self.message, self.sql_state = code, message, sql_state

    def __str__(self) -> str:
        return f"{self.code} ({self.sql_state}): {self.message}" if self.sql_state else f"{self.code}: {self.message}"


class UnsupportedAuth(Exception):
    """The server asked for an auth plugin other than mysql_native_password."""

    def __init__(self, plugin: str):
        super().__init__(f"auth plugin {plugin!r} is not supported here" if plugin
                         else "a server without PROTOCOL_41 and PLUGIN_AUTH")
        self.plugin = plugin


class ProtocolError(Exception):
    """The server sent something this probe did not expect."""


@dataclass(frozen=True)
class Greeting:
    protocol: int
    server_version: str
    connection_id: int
    capabilities: int
    salt: bytes  # the auth plugin data: 20 bytes for mysql_native_password
    plugin: str


def scramble(password: bytes, salt: bytes) -> bytes:
    """mysql_native_password: SHA1(password) XOR SHA1(salt + SHA1(SHA1(password))); empty for no password."""
    if not password:
        return b""
    stage1 = hashlib.sha1(password).digest()
    mask = hashlib.sha1(salt + hashlib.sha1(stage1).digest()).digest()
    return bytes(a ^ b for a, b in zip(stage1, mask))


def frame(sequence: int, payload: bytes) -> bytes:
    """One packet: 3-byte little-endian payload length, 1-byte sequence id, payload (under 16 MiB here)."""
    if len(payload) >= 0xFFFFFF:
        raise ValueError("a probe never sends a payload of 16 MiB")
    return struct.pack("<I", len(payload))[:3] + bytes([sequence & 0xFF]) + payload


def parse_error(payload: bytes) -> ServerError:
    """An ERR packet's payload: 0xFF, int<2> code, then '#' and a 5-character SQL state (PROTOCOL_41), message."""
    code = int.from_bytes(payload[1:3], "little")
    rest = payload[3:]
    if rest[:1] == b"#":
        return ServerError(code, rest[6:].decode("utf-8", "replace"), rest[1:6].decode("ascii", "replace"))
    return ServerError(code, rest.decode("utf-8", "replace"))


def parse_greeting(payload: bytes) -> Greeting:
    """The Initial Handshake packet (protocol 10), as https://mariadb.com/kb/en/connection/ lays it out."""
    if payload[:1] == b"\xff":
        raise parse_error(payload)
    if payload[:1] != b"\x0a":
        raise ProtocolError(f"a greeting of protocol {payload[:1].hex() or 'nothing'}, not 10")
    end = payload.find(b"\0", 1)
    if end < 0 or len(payload) < end + 32:  # after the version's \0: 31 bytes, up to the salt's second part
        raise ProtocolError(f"a greeting cut short ({len(payload)} bytes)")
    version = payload[1:end].decode("utf-8", "replace")
    pos = end + 1
    connection_id = int.from_bytes(payload[pos:pos + 4], "little")
    salt = payload[pos + 4:pos + 12]  # part 1, then a reserved byte
    pos += 13
    capabilities = int.from_bytes(payload[pos:pos + 2], "little")
    # collation (1 byte) and status flags (2) are of no use to a probe
    capabilities |= int.from_bytes(payload[pos + 5:pos + 7], "little") << 16
    data_length = payload[pos + 7]
    pos += 8 + 10  # 6 filler bytes, then 4 of MariaDB's extended capabilities (or filler, from MySQL)
    if capabilities & CLIENT_SECURE_CONNECTION:
        size = max(12, data_length - 9)
        salt += payload[pos:pos + size]
        pos += size + 1  # and a reserved byte
    plugin = ""
    if capabilities & CLIENT_PLUGIN_AUTH:
        plugin = payload[pos:].split(b"\0", 1)[0].decode("ascii", "replace")
    return Greeting(10, version, connection_id, capabilities, salt, plugin)


def handshake_response(user: str, password: str, database: str, salt: bytes) -> bytes:
    """HandshakeResponse41: capabilities, max packet size, collation, 23 zero bytes (MariaDB's extended
    capabilities among them: none), user, length-prefixed auth response, database, auth plugin name."""
    auth = scramble(password.encode(), salt)
    return (struct.pack("<IIB", CAPABILITIES, MAX_PACKET, UTF8MB4_GENERAL_CI) + bytes(23)
            + user.encode() + b"\0" + bytes([len(auth)]) + auth + database.encode() + b"\0" + NATIVE.encode() + b"\0")


def lenenc_int(data: bytes, pos: int) -> tuple[int | None, int]:
    """A length-encoded integer at pos: (value, next pos); None for 0xFB (NULL)."""
    first = data[pos]
    if first < 0xFB:
        return first, pos + 1
    if first == 0xFB:
        return None, pos + 1
    size = {0xFC: 2, 0xFD: 3, 0xFE: 8}.get(first)
    if size is None:
        raise ProtocolError(f"byte 0x{first:02x} starts no length-encoded integer")
    return int.from_bytes(data[pos + 1:pos + 1 + size], "little"), pos + 1 + size


def is_eof(payload: bytes) -> bool:
    return payload[:1] == b"\xfe" and len(payload) < 9


class Connection:
    """One socket and the packet sequence id."""

    def __init__(self, host: str, port: int, connect_timeout: float, timeout: float):
        self.sock = socket.create_connection((host, port), timeout=connect_timeout)
        self.sock.settimeout(timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sequence = 0

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionResetError("the server closed the connection")
            data += chunk
        return data

    def read(self) -> bytes:
        payload = b""
        while True:  # a payload of 0xFFFFFF bytes continues in the next packet
            header = self._read(4)
            length = int.from_bytes(header[:3], "little")
            self.sequence = header[3] + 1
            payload += self._read(length)
            if length < 0xFFFFFF:
                return payload

    def write(self, payload: bytes) -> None:
        self.sock.sendall(frame(self.sequence, payload))
        self.sequence += 1

    def command(self, payload: bytes) -> None:
        self.sequence = 0  # every command starts a new sequence
        self.write(payload)

    def close(self) -> None:
        self.sock.close()


def login(conn: Connection, user: str, password: str, database: str) -> Greeting:
    greeting = parse_greeting(conn.read())
    if not greeting.capabilities & CLIENT_PROTOCOL_41 or not greeting.capabilities & CLIENT_PLUGIN_AUTH:
        raise UnsupportedAuth("")
    conn.write(handshake_response(user, password, database, greeting.salt[:20]))
    authenticate(conn, password)
    return greeting


def authenticate(conn: Connection, password: str) -> None:
    """After the handshake response: OK, ERR, or an Auth Switch Request answered with a new scramble."""
    while True:
        reply = conn.read()
        if reply[:1] == b"\x00":
            return
        if reply[:1] == b"\xff":
            raise parse_error(reply)
        if reply[:1] != b"\xfe":
            raise ProtocolError(f"unexpected packet {reply[:1].hex() or '(empty)'} during authentication")
        # Auth Switch Request: 0xFE, plugin name NUL-terminated, its data (MariaDB ends it with a NUL too)
        name, _, data = reply[1:].partition(b"\0")
        plugin = name.decode("ascii", "replace")
        if plugin != NATIVE or len(data) < 20:
            raise UnsupportedAuth(plugin)
        conn.write(scramble(password.encode(), data[:20]))


def query(conn: Connection, sql: str) -> list[list[bytes | None]]:
    """COM_QUERY and its text result set: the rows, each a list of column values (None: NULL)."""
    conn.command(bytes([COM_QUERY]) + sql.encode())
    first = conn.read()
    if first[:1] == b"\xff":
        raise parse_error(first)
    if first[:1] == b"\x00":
        raise ProtocolError(f"{sql!r} returned no result set")
    columns, _ = lenenc_int(first, 0)
    for _ in range(columns or 0):  # column definitions: of no use here
        conn.read()
    if not is_eof(conn.read()):
        raise ProtocolError("no EOF after the column definitions")
    rows = []
    while True:
        packet = conn.read()
        if packet[:1] == b"\xff":
            raise parse_error(packet)
        if is_eof(packet):
            return rows
        row, pos = [], 0
        while pos < len(packet):
            length, pos = lenenc_int(packet, pos)
            row.append(None if length is None else packet[pos:pos + length])
            pos += length or 0
        rows.append(row)


def select_one(host: str, port: int, user: str, password: str, database: str, *,
               connect_timeout: float = 2, timeout: float = 5) -> None:
    """Log in as user to database and check that SELECT 1 answers 1; raise when not."""
    conn = Connection(host, port, connect_timeout, timeout)
    try:
        login(conn, user, password, database)
        rows = query(conn, "SELECT 1")
        if rows != [[b"1"]]:
            raise ProtocolError(f"SELECT 1 returned {rows!r}")
        conn.command(bytes([COM_QUIT]))
    finally:
        conn.close()
