"""Per-environment lock: an fcntl lock on a file under $XDG_RUNTIME_DIR/devenv/locks (or
~/.cache/devenv/locks), so two devenv processes never change one environment at once."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import Callable, Iterator

from devenv.errors import EnvironmentBusy
from devenv.wait import NotYet, until

DEFAULT_TIMEOUT = 300.0  # an `up` with OpenSearch on a cold laptop takes minutes
POLL_INTERVAL = 0.1


def lock_dir() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        return Path(runtime) / "devenv" / "locks"
    return Path.home() / ".cache" / "devenv" / "locks"


def lock_path(environment: str) -> Path:
    return lock_dir() / f"{environment}.lock"


def default_timeout() -> float:
    """How long to wait for another devenv process: DEVENV_LOCK_TIMEOUT seconds, else DEFAULT_TIMEOUT."""
    try:
        return float(os.environ["DEVENV_LOCK_TIMEOUT"])
    except (KeyError, ValueError):
        return DEFAULT_TIMEOUT


@contextlib.contextmanager
def environment_lock(environment: str, *, purpose: str, timeout: float | None = None,
                     on_wait: Callable[[str], None] | None = None, remove_file: bool = False) -> Iterator[None]:
    """Hold the environment's lock for the block. When another process holds it, call `on_wait` once
    with who holds it, poll until `timeout` (0: do not wait), then raise EnvironmentBusy.
    `remove_file`: delete the lock file on the way out (after `down`), so names do not pile up."""
    timeout = default_timeout() if timeout is None else timeout
    path = lock_path(environment)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    deadline = time.monotonic() + timeout
    waited = []

    def say_waiting(seen: NotYet) -> None:
        if not waited and timeout > 0 and on_wait:
            on_wait(f"environment {environment} is busy ({seen.state}); waiting up to {timeout:g}s")
        waited.append(True)

    def busy(seen: NotYet) -> EnvironmentBusy:
        return EnvironmentBusy(f"environment {environment} is busy: {seen.state}", context=[f"lock file: {path}"],
                               hint="wait for that command to finish, or stop it; raise DEVENV_LOCK_TIMEOUT (seconds) "
                                    "to wait longer")

    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            until(lambda: True if _try(fd) else NotYet(_holder(fd)), what=f"the lock of environment {environment}",
                  timeout=max(0.0, deadline - time.monotonic()), poll=POLL_INTERVAL, between=say_waiting,
                  give_up=busy)
        except BaseException:  # busy, Ctrl-C while waiting, or on_wait failing: never leak the descriptor
            os.close(fd)
            raise
        if _still_at(fd, path):
            break
        os.close(fd)  # the holder removed the file as it let go: lock the one at the path now
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} runs `devenv {purpose}`".encode(), 0)
        try:
            yield
        finally:
            if remove_file:
                path.unlink(missing_ok=True)  # before unlocking: a waiter then sees its file is gone, and retries
            else:
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _still_at(fd: int, path: Path) -> bool:
    """True when the locked file is still the one at `path` (not unlinked by the previous holder)."""
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def _try(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode(errors="replace").strip() or "another devenv process holds its lock"
    except OSError:
        return "another devenv process holds its lock"
