"""Unix sockets no engine answers on, for the suites' fault tests: one that is bound and never listens
(connections refused), and one that accepts and hangs up at once. They harm nothing: each is the test's
own socket in /tmp or the test's folder, closed and removed at the end."""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def dead_socket(path: Path, *, hangs_up: bool) -> Iterator[str]:
    """A DOCKER_HOST (unix://path) whose socket refuses connections, or accepts and closes each at once."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    if hangs_up:
        server.listen(16)

        def hang_up() -> None:
            while True:
                try:
                    connection, _ = server.accept()
                except OSError:
                    return
                connection.close()

        threading.Thread(target=hang_up, daemon=True).start()
    try:
        yield f"unix://{path}"
    finally:
        server.close()
        path.unlink(missing_ok=True)
