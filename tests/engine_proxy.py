"""A unix-socket proxy in front of the real Docker engine that counts the HTTP requests crossing it and hangs
up after a set number of them: the engine "goes away" part-way through a command (the reliability suite), or
stands at another socket path for a docker context (tests/integration/test_docker_context.py), without
touching the real engine. Shared by the suites, as tests/dead_sockets.py is."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from pathlib import Path

DEFAULT_SOCKET = "/var/run/docker.sock"


class EngineProxy:
    def __init__(self, requests_allowed: int, engine: str | None = None):
        host = engine or os.environ.get("DOCKER_HOST") or f"unix://{DEFAULT_SOCKET}"
        if not host.startswith("unix://"):
            raise ValueError(f"the proxy needs a unix socket engine, not {host}")
        self.engine = host[len("unix://"):]
        self.allowed = requests_allowed
        self.seen = 0
        self.path = Path(f"/tmp/devenv-proxy-{uuid.uuid4().hex[:12]}.sock")
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(self.path))
        self.server.listen(64)
        self.thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def docker_host(self) -> str:
        return f"unix://{self.path}"

    def __enter__(self) -> "EngineProxy":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.close()
        with self.lock:
            for s in self.sockets:
                _close(s)
        self.path.unlink(missing_ok=True)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.engine)
            with self.lock:
                self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        try:
            while data := source.recv(65536):
                if from_client:
                    with self.lock:
                        self.seen += data.count(b" HTTP/1.1\r\n")
                        over = self.seen > self.allowed
                    if over:  # the engine vanishes: this request is never answered
                        break
                sink.sendall(data)
        except OSError:
            pass
        _close(source)
        _close(sink)


def _close(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()
