"""kustomize build outputs shared within one command, and builds started ahead of the render (devenv.flux.prefetch)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

WAIT_TIMEOUT = 180.0  # a build started ahead is waited for at most as long as a build may run (kustomize's BUILD_TIMEOUT)


class BuildCache:
    """`kustomize build` outputs shared by the renders of one command (`up` renders before it creates anything,
    then again with the generated passwords), keyed by the folder and the kustomization written for it. Only
    for renders of an unchanged tree moments apart: it does not look at the files."""

    def __init__(self) -> None:
        self._outputs: dict[tuple[str, str], str] = {}
        self._pending: dict[tuple[str, str], threading.Event] = {}  # builds started ahead (devenv.flux.prefetch)
        self._lock = threading.Lock()

    def has(self, directory: Path, kustomization: str) -> bool:
        with self._lock:
            return (str(directory), kustomization) in self._outputs

    def reserve(self, directory: Path, kustomization: str) -> bool:
        """Claim a build to run ahead of the render; False when it is done or claimed already."""
        key = (str(directory), kustomization)
        with self._lock:
            if key in self._outputs or key in self._pending:
                return False
            self._pending[key] = threading.Event()
            return True

    def fulfil(self, directory: Path, kustomization: str, output: str | None) -> None:
        """The result of a reserved build (None: it failed, and the render builds it again to report it)."""
        key = (str(directory), kustomization)
        with self._lock:
            if output is not None:
                self._outputs[key] = output
            done = self._pending.pop(key, None)
        if done is not None:
            done.set()

    def build(self, directory: Path, kustomization: str, build: Callable[[], str]) -> str:
        key = (str(directory), kustomization)
        with self._lock:
            if key in self._outputs:
                return self._outputs[key]
            pending = self._pending.get(key)
        if pending is not None:  # started ahead: wait for it rather than build it twice
            pending.wait(WAIT_TIMEOUT)
            with self._lock:
                if key in self._outputs:
                    return self._outputs[key]
        output = build()
        with self._lock:
            self._outputs[key] = output
        return output
