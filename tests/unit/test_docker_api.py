"""devenv.docker_api's own parts, without an engine: DOCKER_HOST as the docker CLI reads it, HTTP/1.1 answers
framed every way the engine frames them (and cut off), errors as the engine words them, query encoding.
The endpoints themselves are proven on the real engine (tests/integration/test_docker_engine_api.py)."""

from __future__ import annotations

import socket
import ssl
import threading

import pytest

from devenv import docker_api
from devenv.docker_api import APIError, Endpoint, NotFound, Unreachable


def test_docker_host_forms():
    assert Endpoint.from_environment({}) == Endpoint(socket.AF_UNIX, "/var/run/docker.sock")
    assert Endpoint.from_environment({"DOCKER_HOST": "unix:///run/user/1000/docker.sock"}).address == \
        "/run/user/1000/docker.sock"
    assert Endpoint.from_environment({"DOCKER_HOST": "tcp://10.0.0.5:2375"}) == \
        Endpoint(socket.AF_INET, ("10.0.0.5", 2375))
    assert Endpoint.from_environment({"DOCKER_HOST": "tcp://docker.internal"}).address == ("docker.internal", 2375)


def test_tls_from_the_environment(tmp_path):
    found = Endpoint.from_environment({"DOCKER_HOST": "tcp://10.0.0.5", "DOCKER_CERT_PATH": str(tmp_path)})
    assert found.address == ("10.0.0.5", 2376) and found.tls is not None  # TLS: the default port is 2376
    assert found.tls.verify_mode == ssl.CERT_NONE  # DOCKER_CERT_PATH alone: encrypted, unverified (`docker --tls`)
    # verifying needs the CA: no silent fallback to an unverified link, and an error naming what is missing
    with pytest.raises(Unreachable, match="No such file"):
        Endpoint.from_environment({"DOCKER_HOST": "tcp://10.0.0.5", "DOCKER_TLS_VERIFY": "1",
                                   "DOCKER_CERT_PATH": str(tmp_path)})
    (tmp_path / "cert.pem").write_text("not a certificate")
    with pytest.raises(Unreachable, match="DOCKER_HOST=tcp://10.0.0.5"):
        Endpoint.from_environment({"DOCKER_HOST": "tcp://10.0.0.5", "DOCKER_CERT_PATH": str(tmp_path)})


def test_an_https_host_is_verified_against_the_system_cas(tmp_path):
    found = Endpoint.from_environment({"DOCKER_HOST": "https://docker.example.com", "DOCKER_CERT_PATH": str(tmp_path)})
    assert found.tls.verify_mode == ssl.CERT_REQUIRED and found.tls.check_hostname


@pytest.mark.parametrize("host, says", [
    ("ssh://me@build-box", "forward its socket"),
    ("npipe:////./pipe/docker_engine", "unix:// and tcp:// only"),
    ("tcp://", "names no host"),
    ("tcp://10.0.0.5:docker", "Port could not be cast"),
])
def test_docker_hosts_devenv_cannot_use_say_what_to_do(host, says):
    with pytest.raises(Unreachable, match=says):
        Endpoint.from_environment({"DOCKER_HOST": host})


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def with_length(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


def answer(raw: bytes, method: str = "GET") -> docker_api.Response:
    """A Response read from a socket the test writes `raw` into, then closes."""
    ours, theirs = socket.socketpair()
    ours.settimeout(2)

    def write() -> None:
        theirs.sendall(raw)
        theirs.close()

    threading.Thread(target=write, daemon=True).start()
    return docker_api.Response(ours, method, 2)


def test_bodies_by_content_length_chunks_and_until_close():
    assert answer(b"HTTP/1.1 200 OK\r\n" + with_length(b'{"Id": "a"}')).json() == {"Id": "a"}
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n"
    assert list(answer(chunked).chunks()) == [b"hello", b" world"]
    assert answer(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the engine closes").read() == \
        b"until the engine closes"
    no_content = answer(b"HTTP/1.1 204 No Content\r\n\r\n", "POST")
    assert no_content.status == 204 and no_content.json() is None


@pytest.mark.parametrize("raw", [
    b"",  # hung up before answering
    b"HTTP/1.1 200 OK\r\nContent-Le",  # mid-headers
    b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"short\"",  # mid-body
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc",  # mid-chunk
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n\r\n",  # an empty chunk size
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",  # not hex
])
def test_an_answer_cut_off_is_unreachable_not_a_short_body(raw):
    with pytest.raises(Unreachable):
        answer(raw).read()


def test_no_answer_in_time_is_unreachable():
    ours, theirs = socket.socketpair()
    ours.settimeout(0.05)
    with pytest.raises(Unreachable, match="did not answer within 0.05 s"):
        docker_api.Response(ours, "GET", 0.05)
    theirs.close()


def test_errors_carry_the_engines_message():
    missing = answer(b"HTTP/1.1 404 Not Found\r\n" + with_length(b'{"message":"No such container: devenv-x-db"}'))
    err = docker_api._error(missing)
    assert isinstance(err, NotFound) and err.status_code == 404
    assert err.explanation == "No such container: devenv-x-db"
    conflict = docker_api._error(answer(b"HTTP/1.1 409 Conflict\r\nContent-Length: 0\r\n\r\n"))
    assert type(conflict) is APIError and conflict.explanation == "HTTP 409"


def test_a_progress_stream_raises_its_error():
    stream = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(
        b'{"status":"Pulling from x"}\n', b'{"error":"manifest unknown"}\n')
    with pytest.raises(APIError, match="manifest unknown"):
        docker_api._stream_errors(answer(stream))
    garbled = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(b'{"status":"Pull\n')
    with pytest.raises(APIError, match="not JSON"):
        docker_api._stream_errors(answer(garbled))


def test_an_image_pinned_by_digest_is_pulled_by_its_whole_reference():
    from devenv import docker

    asked = []

    class Images:
        def pull(self, repository, tag="latest"):
            asked.append((repository, tag))

    client = type("Client", (), {"images": Images()})()
    digest = "sha256:" + "a" * 64
    docker.pull(client, f"registry.local:5000/team/mariadb@{digest}")
    docker.pull(client, "registry.local:5000/team/mariadb:10.11")
    docker.pull(client, "mariadb")
    assert asked == [(f"registry.local:5000/team/mariadb@{digest}", None),
                     ("registry.local:5000/team/mariadb", "10.11"), ("mariadb", "latest")]


def test_query_encoding():
    assert docker_api._query({"all": True, "force": False, "name": None, "filters": {"label": ["a=b"]},
                              "changes": ["CMD [\"x\"]", "LABEL a=b"]}) == [
        ("all", "1"), ("force", "0"), ("filters", '{"label": ["a=b"]}'), ("changes", 'CMD ["x"]'),
        ("changes", "LABEL a=b")]
    assert docker_api._filters({"label": "a=b"}) == {"label": ["a=b"]} and docker_api._filters(None) is None


def test_memory_sizes_as_the_docker_cli_reads_them():
    assert docker_api.parse_bytes("512m") == 512 * 1024 * 1024
    assert docker_api.parse_bytes("1G") == 1 << 30 and docker_api.parse_bytes("64k") == 65536
    assert docker_api.parse_bytes("1000") == 1000 and docker_api.parse_bytes(2048) == 2048
