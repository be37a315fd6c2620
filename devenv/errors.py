"""The errors users see: one base type, a few named failures, each with an exit code.

Library code raises these and never prints; the CLI renders them (what failed,
why, what to do next) and exits with the code the class names.
"""

from __future__ import annotations


class DevenvError(Exception):
    """A failure the user can act on: a message, optional context lines and a hint."""

    exit_code = 1

    def __init__(self, message: str, *, context: list[str] | str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        if isinstance(context, str):
            context = [context]
        self.context: list[str] = list(context or [])
        self.hint = hint

    def __str__(self) -> str:  # what the CLI prints
        lines = [self.message]
        lines += [f"  {line}" for line in self.context]
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)


class InvalidInput(DevenvError):
    """Bad input on the command line or in a file: nothing was created."""

    exit_code = 2


class ProfileError(InvalidInput):
    """A profile failed validation; `context` lists every problem as `file:line: field: why`."""


class InvalidName(InvalidInput):
    """An environment name that cannot become a DNS-1123 label."""


class PlatformError(InvalidInput):
    """The Flux repository (platform) is missing, malformed or inconsistent."""


class ToolMissing(DevenvError):
    """A required executable is not on PATH."""

    exit_code = 3


class CommandFailed(DevenvError):
    """A subprocess exited non-zero; carries the pasteable command and its output tail."""

    exit_code = 4

    def __init__(self, message: str, *, command: str = "", returncode: int | None = None,
                 output: str = "", context=None, hint=None):
        super().__init__(message, context=context, hint=hint)
        self.command = command
        self.returncode = returncode
        self.output = output


class DockerUnavailable(DevenvError):
    """The Docker engine cannot be reached."""

    exit_code = 5


class ReadinessTimeout(DevenvError):
    """A service did not become ready in time; context holds its last log lines."""

    exit_code = 6


class SubstitutionError(DevenvError):
    """Flux post-build substitution failed for a resource (names the variable and the resource)."""

    exit_code = 7


class EnvironmentNotFound(DevenvError):
    """No resources carry the labels of the named environment."""

    exit_code = 8


class EnvironmentBusy(DevenvError):
    """Another devenv process holds the environment's lock."""

    exit_code = 9


class KubeError(DevenvError):
    """The Kubernetes API refused or failed a request."""

    exit_code = 10


class DeliveryFailed(KubeError):
    """Flux did not reconcile what devenv delivered: the Kustomization (or HelmRelease) and Flux's message."""


class ImageUnavailable(DevenvError):
    """A service's image is not present locally and could not be pulled."""

    exit_code = 11


class PortTaken(DevenvError):
    """A host port pinned in the profile is in use by something else."""

    exit_code = 12


class Unexpected(DevenvError):
    """Anything that is not one of the above: a bug in devenv (the traceback comes with --debug)."""

    exit_code = 70


class Interrupted(DevenvError):
    """Ctrl-C or SIGTERM stopped a command; what was created is labelled for `down`/`gc`."""

    exit_code = 130
