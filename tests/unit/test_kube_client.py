"""devenv.clients.kube against a small local HTTP server standing in for an API server at the wire: bounded retries of
429 and 5xx honouring Retry-After, the version warning only for a real skew, and the in-cluster configuration
(the pod's service account) when KUBERNETES_SERVICE_HOST is set."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path

import pytest
import yaml

from devenv.domain import contexts
from devenv.clients import kube as kube_module
from devenv.errors import KubeError
from devenv.clients.kube import IN_CLUSTER, RETRIES, Kube, retry_after


class Server:
    """Answers each request from a script of (status, headers, body); the last entry repeats. Records paths."""

    def __init__(self, script: list[tuple[int, dict, dict]]):
        self.script = list(script)
        self.seen: list[tuple[str, str, str]] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                owner.seen.append((self.command, self.path, self.headers.get("Authorization", "")))
                status, headers, body = owner.script.pop(0) if len(owner.script) > 1 else owner.script[0]
                data = json.dumps(body).encode()
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PATCH = do_DELETE = answer

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve(tmp_path):
    servers = []

    def start(script) -> tuple[Server, Path]:
        server = Server(script)
        servers.append(server)
        config = tmp_path / f"kubeconfig-{len(servers)}"
        config.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "test",
            "clusters": [{"name": "test", "cluster": {"server": server.url}}],
            "users": [{"name": "test", "user": {"token": "t0ken"}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}]}))
        return server, config

    yield start
    for server in servers:
        server.close()


OK = (200, {}, {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "x", "namespace": "default"}})
THROTTLED = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "TooManyRequests",
             "message": "Too many requests, please try again later.", "code": 429}


def test_429_and_5xx_are_asked_again_after_retry_after_or_a_doubling_pause(serve):
    server, config = serve([(429, {"Retry-After": "2"}, THROTTLED), (503, {}, {"message": "unavailable"}),
                            (500, {}, {"message": "etcd leader changed"}), OK])
    pauses: list[float] = []
    with Kube(config, sleep=pauses.append) as kube:
        answer = kube.request("GET", "/api/v1/namespaces/default/configmaps/x", what="get ConfigMap default/x")
    assert answer["metadata"]["name"] == "x"
    assert pauses == [2.0, 1.0, 2.0]  # Retry-After said 2; then the doubling pause (0.5 was used up by the first)
    assert len(server.seen) == 4 and all(auth == "Bearer t0ken" for _, _, auth in server.seen)


def test_retries_are_bounded_and_the_last_refusal_is_the_error(serve):
    server, config = serve([(429, {"Retry-After": "1"}, THROTTLED)])
    pauses: list[float] = []
    with Kube(config, sleep=pauses.append) as kube, pytest.raises(KubeError) as caught:
        kube.request("PATCH", "/api/v1/namespaces/default/configmaps/x", what="apply ConfigMap default/x", body={})
    assert len(server.seen) == RETRIES + 1 and pauses == [1.0] * RETRIES
    assert caught.value.status == 429 and "apply ConfigMap default/x" in caught.value.message
    assert "Too many requests" in caught.value.message and "retries" in caught.value.hint


def test_a_refusal_that_waiting_does_not_fix_is_not_asked_again(serve):
    server, config = serve([(403, {}, {"message": "forbidden", "reason": "Forbidden", "code": 403}), OK])
    with Kube(config, sleep=lambda s: pytest.fail("slept")) as kube, pytest.raises(KubeError) as caught:
        kube.request("GET", "/api/v1/namespaces", what="list Namespace")
    assert caught.value.status == 403 and len(server.seen) == 1


def test_retry_after_reads_seconds_and_dates_and_is_capped():
    assert retry_after("3", 0.5) == 3.0
    assert retry_after(None, 0.5) == 0.5 and retry_after("soon", 1.0) == 1.0
    assert retry_after("3600", 0.5) == kube_module.RETRY_CAP
    assert retry_after("Thu, 01 Jan 1970 00:00:00 GMT", 0.5) == 0.0  # a date in the past: now


@pytest.mark.parametrize("server, warned", [("32", False), ("26", False), ("37", False), ("38", False),
                                            ("39", True)])
def test_the_version_warning_only_for_a_server_newer_than_the_client_bridges(serve, server, warned):
    _, config = serve([(200, {}, {"major": "1", "minor": server, "gitVersion": f"v1.{server}.0"})])
    with Kube(config) as kube:
        warning = kube.check_version(client=37)
    assert bool(warning) is warned, warning
    if warned:
        assert "v1.39.0" in warning and "1.37" in warning


def test_the_client_version_is_read_from_the_installed_package():
    from importlib.metadata import version

    assert kube_module.client_minor() == int(version("kubernetes").split(".")[0])


def test_a_server_older_than_devenv_supports_is_refused(serve):
    _, config = serve([(200, {}, {"major": "1", "minor": "25+", "gitVersion": "v1.25.9-eks"})])
    with Kube(config) as kube, pytest.raises(KubeError, match="1.26 or newer"):
        kube.check_version()


@pytest.fixture
def pod(tmp_path, monkeypatch):
    """A pod's environment: the service account's token and CA where the client's in-cluster loader reads
    them, KUBERNETES_SERVICE_HOST/PORT set, and no kubeconfig anywhere."""
    from kubernetes.config import incluster_config

    token, ca = tmp_path / "token", tmp_path / "ca.crt"
    token.write_text("pod-token")
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(token))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(ca))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    return ca


def test_in_a_pod_without_a_kubeconfig_the_service_account_is_used(pod):
    assert contexts.current_context() == IN_CLUSTER  # what the namespace target's context check sees
    for kube in (Kube(), Kube(None, IN_CLUSTER)):
        with kube:
            assert kube.server == "https://10.96.0.1:443" and kube.context == IN_CLUSTER
            configuration = kube.api.configuration
            assert configuration.ssl_ca_cert == str(pod)
            assert configuration.get_api_key_with_prefix("BearerToken").lower() == "bearer pod-token"


def test_without_kubernetes_service_host_there_is_no_in_cluster_configuration(pod, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST")
    assert contexts.current_context() is None
    with pytest.raises(KubeError, match="cannot load kubeconfig"):
        Kube()


def test_a_kubeconfig_wins_over_the_pod_unless_in_cluster_is_named(pod, serve, monkeypatch):
    _, config = serve([OK])
    monkeypatch.setenv("KUBECONFIG", str(config))
    assert contexts.current_context() == "test"
    with Kube() as kube:
        assert kube.server.startswith("http://127.0.0.1:")
    with Kube(None, IN_CLUSTER) as kube:
        assert kube.server == "https://10.96.0.1:443"
