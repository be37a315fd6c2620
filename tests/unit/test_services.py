"""The swaps without Docker: container contracts, credentials, seed files, preflight, the readiness
loop, and OpenSearch's HTTP seeding against a small local HTTP server."""

from __future__ import annotations

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from devenv.errors import ReadinessTimeout
from devenv.domain.facts import Endpoint
from devenv.domain.profiles import ServiceSpec
from devenv.services import SWAPS, swap_for
from devenv.services.base import SeedFailed, Swap, wait_until_ready
from devenv.targets.docker import free_port

MARIADB = swap_for("mariadb")
OPENSEARCH = swap_for("opensearch")


def spec(kind: str = "mariadb", **fields) -> ServiceSpec:
    return ServiceSpec(name=fields.pop("name", "db"), type=kind, version=fields.pop("version", "10.11"), **fields)


def test_one_swap_per_service_type():
    assert set(SWAPS) == {"mariadb", "opensearch", "aws"}
    assert all(isinstance(swap, Swap) for swap in SWAPS.values())


def test_images_default_to_the_official_ones_and_the_variables_override_them(monkeypatch):
    monkeypatch.delenv("DEVENV_MARIADB_IMAGE", raising=False)
    monkeypatch.delenv("DEVENV_OPENSEARCH_IMAGE", raising=False)
    assert MARIADB.image(spec(version="11.4")) == "mariadb:11.4"
    assert OPENSEARCH.image(spec("opensearch", version="2.17.1")) == "opensearchproject/opensearch:2.17.1"
    monkeypatch.setenv("DEVENV_OPENSEARCH_IMAGE", "mirror/opensearch:2")
    assert OPENSEARCH.image(spec("opensearch", version="2.17.1")) == "mirror/opensearch:2"


def test_credentials_are_generated_fresh_each_time():
    first, second = MARIADB.new_credentials(), MARIADB.new_credentials()
    assert set(first) == {"password", "root_password"}
    assert first["password"] != second["password"] and first["password"] != first["root_password"]
    assert len(first["password"]) >= 24 and first["password"].replace("-", "").replace("_", "").isalnum()


def test_mariadb_follows_the_official_image_contract():
    svc = spec(database="orders", user="orders")
    creds = {"password": "p", "root_password": "r"}
    assert MARIADB.environment(svc) == {"MARIADB_DATABASE": "orders", "MARIADB_USER": "orders"}
    assert MARIADB.secret_environment(svc, creds) == {"MARIADB_PASSWORD": "p", "MARIADB_ROOT_PASSWORD": "r"}
    root = spec(user="root")
    assert "MARIADB_USER" not in MARIADB.environment(root)
    assert MARIADB.secret_environment(root, creds) == {"MARIADB_ROOT_PASSWORD": "p"}


def test_mariadb_seed_files_go_to_the_initdb_folder_in_profile_order(tmp_path):
    later = tmp_path / "b-schema.sql"
    later.write_text("CREATE TABLE t (i INT);")
    packed = tmp_path / "a-rows.sql.gz"
    packed.write_bytes(gzip.compress(b"INSERT INTO t VALUES (1);"))
    files = MARIADB.init_files(spec(seed=(later, packed)))
    assert list(files) == ["/docker-entrypoint-initdb.d/01-b-schema.sql", "/docker-entrypoint-initdb.d/02-a-rows.sql.gz"]
    assert gzip.decompress(files["/docker-entrypoint-initdb.d/02-a-rows.sql.gz"]) == b"INSERT INTO t VALUES (1);"
    assert MARIADB.seeds_at_init() and not OPENSEARCH.seeds_at_init()


def test_opensearch_runs_as_a_single_node_without_security_and_with_the_profile_heap():
    env = OPENSEARCH.environment(spec("opensearch", heap="768m"))
    assert env["discovery.type"] == "single-node"
    assert env["DISABLE_SECURITY_PLUGIN"] == "true"
    assert env["OPENSEARCH_JAVA_OPTS"] == "-Xms768m -Xmx768m"
    # both switches would hand OpenSearch -Eplugins.security.disabled twice, which it refuses at start-up
    assert "plugins.security.disabled" not in env


@pytest.mark.parametrize("value, docker_host, warned", [
    ("65530\n", "", True), ("65530\n", "unix:///var/run/docker.sock", True), ("262144\n", "", False),
    (None, "", False), ("65530\n", "tcp://build-box:2376", False), ("65530\n", "ssh://me@build-box", False)])
def test_opensearch_preflight_warns_about_a_low_max_map_count_of_the_kernel_that_runs_it(
        tmp_path, value, docker_host, warned):
    path = tmp_path / "max_map_count"
    if value is not None:
        path.write_text(value)
    warnings = OPENSEARCH.preflight(spec("opensearch", name="search"), map_count_file=path, docker_host=docker_host)
    assert bool(warnings) is warned
    if warned:
        assert "65530" in warnings[0] and "sysctl -w vm.max_map_count=262144" in warnings[0]
        assert "search starts" in warnings[0]  # not "may stop at start-up": a single node skips the check


class Flaky(Swap):
    """A swap whose probe succeeds after `failures` attempts: the readiness loop's only seam."""

    type = "flaky"
    poll_interval = 0.001

    def __init__(self, failures: int):
        self.failures = failures
        self.attempts = 0

    def ready_when(self, spec, endpoint):
        return f"an answer at {endpoint.host}:{endpoint.port}"

    def probe(self, spec, endpoint, credentials):
        self.attempts += 1
        if self.attempts <= self.failures:
            raise ConnectionRefusedError("not yet")


def test_readiness_polls_until_the_probe_succeeds():
    swap = Flaky(failures=5)
    wait_until_ready(swap, spec(), Endpoint("127.0.0.1", 1), {}, timeout=30)
    assert swap.attempts == 6


def test_readiness_timeout_says_what_was_awaited_and_shows_the_log():
    with pytest.raises(ReadinessTimeout) as caught:
        wait_until_ready(Flaky(failures=10**9), spec(), Endpoint("127.0.0.1", 1), {}, timeout=0.05,
                         logs=lambda: ["line one", "boom: out of disk"])
    err = caught.value
    assert "was not ready after 0.05s" in err.message
    assert "waited for: an answer at 127.0.0.1:1" in err.context
    assert "  boom: out of disk" in err.context and any("ConnectionRefusedError: not yet" in c for c in err.context)


def test_a_container_that_stopped_ends_the_wait_at_once():
    with pytest.raises(ReadinessTimeout, match="exited with code 1 before it was ready"):
        wait_until_ready(Flaky(failures=10**9), spec(), Endpoint("127.0.0.1", 1), {}, timeout=60,
                         stopped=lambda: "exited with code 1")


def test_cancelling_the_wait_raises_keyboard_interrupt():
    cancelled = threading.Event()
    cancelled.set()
    with pytest.raises(KeyboardInterrupt):
        wait_until_ready(Flaky(failures=10**9), spec(), Endpoint("127.0.0.1", 1), {}, timeout=60, cancelled=cancelled)


def test_the_mariadb_probe_fails_when_nothing_listens():
    with pytest.raises(Exception):
        MARIADB.probe(spec(), Endpoint("127.0.0.1", free_port()), {"password": "x"})


class FakeOpenSearch(BaseHTTPRequestHandler):
    """Records requests; answers health, template and bulk calls like OpenSearch does."""

    requests: list[tuple[str, str, bytes]] = []
    health = "yellow"
    bulk_errors = False
    indices: set[str] = set()

    def _answer(self, body: dict, code: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802
        self.requests.append(("GET", self.path, b""))
        self._answer({"status": self.health})

    def do_HEAD(self):  # noqa: N802
        self.requests.append(("HEAD", self.path, b""))
        self.send_response(200 if self.path.strip("/") in self.indices else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_PUT(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.requests.append(("PUT", self.path, body))
        if not self.path.startswith("/_"):
            self.indices.add(self.path.strip("/"))
        self._answer({"acknowledged": True})

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.requests.append(("POST", self.path, body))
        if self.bulk_errors:
            self._answer({"errors": True, "items": [{"index": {"error": {"type": "mapper_parsing_exception"}}}]})
        else:
            self._answer({"errors": False, "items": []})

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_opensearch():
    FakeOpenSearch.requests, FakeOpenSearch.indices = [], set()
    FakeOpenSearch.health, FakeOpenSearch.bulk_errors = "yellow", False
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenSearch)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield Endpoint("127.0.0.1", server.server_address[1])
    server.shutdown()
    server.server_close()


def test_opensearch_is_ready_at_yellow_and_not_at_red(fake_opensearch):
    OPENSEARCH.probe(spec("opensearch"), fake_opensearch, {})
    FakeOpenSearch.health = "red"
    with pytest.raises(RuntimeError, match="cluster health is 'red'"):
        OPENSEARCH.probe(spec("opensearch"), fake_opensearch, {})


def seeds() -> tuple[Path, Path]:
    root = Path(__file__).parents[2] / "profiles" / "seed"
    return root / "catalog.ndjson", root / "catalog.json"


def test_opensearch_seeding_puts_templates_first_then_bulk_files_then_its_marker(fake_opensearch):
    bulk, template = seeds()
    OPENSEARCH.seed(spec("opensearch", seed=(bulk, template)), fake_opensearch, {})
    calls = [(method, path) for method, path, _ in FakeOpenSearch.requests]
    assert calls == [("HEAD", "/devenv-seeded"), ("PUT", "/_index_template/catalog"),
                     ("POST", "/_bulk?refresh=true"), ("PUT", "/devenv-seeded")]
    assert FakeOpenSearch.requests[2][2] == bulk.read_bytes()
    assert json.loads(FakeOpenSearch.requests[3][2])["settings"]["index.hidden"] is True


def test_opensearch_data_that_was_seeded_is_not_seeded_again(fake_opensearch):
    OPENSEARCH.seed(spec("opensearch", seed=seeds()), fake_opensearch, {})
    FakeOpenSearch.requests = []
    OPENSEARCH.seed(spec("opensearch", seed=seeds()), fake_opensearch, {})
    assert [(method, path) for method, path, _ in FakeOpenSearch.requests] == [("HEAD", "/devenv-seeded")]


def test_refused_bulk_documents_fail_the_seed(fake_opensearch):
    FakeOpenSearch.bulk_errors = True
    with pytest.raises(SeedFailed, match="1 document\\(s\\) were refused"):
        OPENSEARCH.seed(spec("opensearch", seed=(seeds()[0],)), fake_opensearch, {})
