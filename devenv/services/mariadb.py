"""The MariaDB swap for Amazon RDS: the official image's contract (MARIADB_* variables; seed files
run by /docker-entrypoint-initdb.d once, on an empty volume); ready when the app user can SELECT 1.
From a snapshot, the server sets the environment's passwords from an --init-file as it starts."""

from __future__ import annotations

from typing import Mapping

from devenv.domain.facts import Endpoint
from devenv.domain.profiles import ServiceSpec
from devenv.services.base import Swap, read_seed

INITDB = "/docker-entrypoint-initdb.d"
CREDENTIALS_FILE = "/tmp/devenv-credentials.sql"
# A snapshot's redo log is made small: by default it is 96 MiB of the ~110 MiB of an empty data directory,
# copied into every environment. The server resizes it back to its configured size as it starts (measured:
# no slower), so the environment's server runs exactly as a freshly initialised one.
SNAPSHOT_REDO_LOG = "--innodb-log-file-size=4M"


class MariaDB(Swap):
    type = "mariadb"
    repository = "mariadb"
    image_variable = "DEVENV_MARIADB_IMAGE"
    container_port = 3306
    data_path = "/var/lib/mysql"
    credential_keys = ("password", "root_password")
    snapshots = True

    def environment(self, spec: ServiceSpec) -> dict[str, str]:
        env = {"MARIADB_DATABASE": spec.database}
        if spec.user != "root":  # the image creates root itself and refuses MARIADB_USER=root
            env["MARIADB_USER"] = spec.user
        return env

    def secret_environment(self, spec: ServiceSpec, credentials: Mapping[str, str]) -> dict[str, str]:
        if spec.user == "root":
            return {"MARIADB_ROOT_PASSWORD": credentials["password"]}
        return {"MARIADB_PASSWORD": credentials["password"], "MARIADB_ROOT_PASSWORD": credentials["root_password"]}

    def init_files(self, spec: ServiceSpec) -> dict[str, bytes]:
        # The entry point runs them in name order, in the profile's database: number them to keep the profile's order.
        return {f"{INITDB}/{i:02d}-{path.name}": read_seed(path) for i, path in enumerate(spec.seed, start=1)}

    def seeds_at_init(self) -> bool:
        return True

    def snapshot_args(self, spec: ServiceSpec) -> list[str]:
        return [SNAPSHOT_REDO_LOG]

    def warm_start(self, spec: ServiceSpec, credentials: Mapping[str, str]) -> tuple[dict[str, bytes], list[str]]:
        """The server runs the init file (as root, over no connection) before it accepts any: every account
        the image made gets this environment's password, so the snapshot's never log in."""
        root = credentials["password"] if spec.user == "root" else credentials["root_password"]
        accounts = [("root", "localhost", root), ("root", "%", root)]
        if spec.user != "root":
            accounts.append((spec.user, "%", credentials["password"]))
        sql = "".join(f"ALTER USER IF EXISTS {_quote(user)}@{_quote(host)} IDENTIFIED BY {_quote(password)};\n"
                      for user, host, password in accounts)
        return {CREDENTIALS_FILE: sql.encode()}, [f"--init-file={CREDENTIALS_FILE}"]

    def ready_when(self, spec: ServiceSpec, endpoint: Endpoint) -> str:
        return f"a login as {spec.user} to database {spec.database} at {endpoint.host}:{endpoint.port} answering SELECT 1"

    def probe(self, spec: ServiceSpec, endpoint: Endpoint, credentials: Mapping[str, str]) -> None:
        """A login as the app user and SELECT 1, through pymysql."""
        import pymysql

        connection = pymysql.connect(
            host=endpoint.host, port=endpoint.port, user=spec.user, password=credentials["password"],
            database=spec.database, connect_timeout=2, read_timeout=5, write_timeout=5,
            ssl_disabled=True,  # a loopback check: TLS would cost ~20 ms of CPU per attempt, next to a starting server
        )
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                if cursor.fetchone() != (1,):
                    raise RuntimeError("SELECT 1 did not return 1")
        finally:
            connection.close()


def _quote(value: str) -> str:
    """A MariaDB string literal (default sql_mode: backslash escapes)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
