#!/usr/bin/env python3
"""A throttling API server for tests: a small HTTP proxy in front of one of the lab's API servers that refuses
the first call of each kind (method and resource) as a busy EKS does under API Priority and Fairness (429
Too Many Requests) or an API server between etcd leaders does (503), both with Retry-After, and forwards
every other call over TLS as the kubeconfig's user.

    throttle_proxy.py KUBECONFIG CONTEXT REFUSALS_LOG [RETRY_AFTER_SECONDS]

Prints the port it listens on (127.0.0.1) as its first line; appends `<status> <method> <kind>` to
REFUSALS_LOG for each refusal. Runs until killed (the test kills it by its PID). Standard library and PyYAML.
"""

from __future__ import annotations

import base64
import http.client
import http.server
import json
import re
import ssl
import sys
import tempfile
import threading
from pathlib import Path

import yaml

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection",
              "host", "content-length"}


def upstream(kubeconfig: Path, context: str) -> tuple[str, int, ssl.SSLContext, str | None]:
    """The context's server, a TLS context with its CA and client certificate, and its bearer token."""
    config = yaml.safe_load(kubeconfig.read_text())
    entry = next(c["context"] for c in config["contexts"] if c["name"] == context)
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == entry["cluster"])
    user = next((u["user"] for u in config["users"] if u["name"] == entry.get("user")), {}) or {}
    match = re.match(r"^https://([^:/]+):(\d+)", cluster["server"])
    tls = ssl.create_default_context()
    if cluster.get("certificate-authority-data"):
        tls.load_verify_locations(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    elif cluster.get("certificate-authority"):
        tls.load_verify_locations(cluster["certificate-authority"])
    if cluster.get("insecure-skip-tls-verify"):
        tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
    folder = Path(tempfile.mkdtemp(prefix="throttle-proxy-"))
    cert, key = user.get("client-certificate"), user.get("client-key")
    if user.get("client-certificate-data"):
        cert = folder / "client.crt"
        cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
    if user.get("client-key-data"):
        key = folder / "client.key"
        key.write_bytes(base64.b64decode(user["client-key-data"]))
        key.chmod(0o600)
    if cert:
        tls.load_cert_chain(str(cert), str(key) if key else None)
    return match.group(1), int(match.group(2)), tls, user.get("token")


def kind_of(path: str) -> str:
    """The resource a path addresses (`namespaces`, `kustomizations`, `discovery` for /apis/g/v, ...)."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    if parts[:1] == ["api"]:
        rest = parts[2:]
    elif parts[:1] == ["apis"]:
        rest = parts[3:]
    else:
        return "/" + "/".join(parts[:1])
    if rest[:1] == ["namespaces"] and len(rest) >= 3:
        rest = rest[2:]
    return rest[0] if rest else "discovery"


def main(argv: list[str]) -> int:
    kubeconfig, context, log_path = Path(argv[0]), argv[1], Path(argv[2])
    retry_after = argv[3] if len(argv) > 3 else "1"
    host, port, tls, token = upstream(kubeconfig, context)
    seen: set[tuple[str, str]] = set()
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def handle_any(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            key = (self.command, kind_of(self.path))
            with lock:
                first = key not in seen
                seen.add(key)
                index = len(seen)
            if first:
                status = 429 if index % 2 else 503
                reason = "TooManyRequests" if status == 429 else "ServiceUnavailable"
                data = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": status,
                                   "reason": reason, "message": "the throttling proxy refuses the first call of "
                                                                "each kind; try again later"}).encode()
                with lock, log_path.open("a") as log:
                    log.write(f"{status} {key[0]} {key[1]}\n")
                self.send_response(status)
                self.send_header("Retry-After", retry_after)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            connection = http.client.HTTPSConnection(host, port, context=tls, timeout=60)
            try:
                connection.request(self.command, self.path, body=body or None, headers=headers)
                answer = connection.getresponse()
                data = answer.read()
            finally:
                connection.close()
            self.send_response(answer.status)
            for key_, value in answer.getheaders():
                if key_.lower() not in HOP_BY_HOP:
                    self.send_header(key_, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
