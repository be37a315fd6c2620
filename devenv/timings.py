"""Phase timings of one run (`devenv up --timings`): when each slow step started and how long it took.

Off unless a command turns it on (`recording()`); `phase(name)` costs nothing then. Phases may overlap
(the cluster and the data services start side by side), so they are reported with their start offsets."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator


@dataclass(frozen=True)
class Phase:
    name: str
    start: float  # seconds after recording began
    seconds: float


_lock = threading.Lock()
_origin: float | None = None
_phases: list[Phase] = []


@contextmanager
def recording() -> Iterator[list[Phase]]:
    """Record the phases run inside the block (every thread); the list fills as they end."""
    global _origin
    with _lock:
        _origin = time.monotonic()
        _phases.clear()
    try:
        yield _phases
    finally:
        with _lock:
            _origin = None


@contextmanager
def phase(name: str) -> Iterator[None]:
    origin = _origin
    if origin is None:
        yield
        return
    started = time.monotonic()
    try:
        yield
    finally:
        ended = time.monotonic()
        with _lock:
            if _origin is origin:
                _phases.append(Phase(name, started - origin, ended - started))


def timed(name: str, function):
    """`function` run as phase `name` (for work handed to a thread pool)."""
    def run(*args, **kwargs):
        with phase(name):
            return function(*args, **kwargs)
    return run
