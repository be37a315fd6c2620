"""How a rendered platform reaches a cluster: apply.py (devenv applies in dependsOn order, with an inventory
and prune, as kustomize-controller does) and flux.py (the working tree pushed as an OCI artifact, Flux's own
controllers apply it)."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Where a long operation reports to (the CLI prints to stderr; the library default is silent)."""

    def note(self, message: str) -> None: ...

    def warn(self, message: str) -> None: ...


class Quiet:
    """Progress that says nothing."""

    def note(self, message: str) -> None:
        pass

    def warn(self, message: str) -> None:
        pass
