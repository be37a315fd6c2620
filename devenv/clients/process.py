"""The only place that runs subprocesses: argument lists, timeouts, redacted logging, clear errors; the
`docker` and `kind` processes get the engine devenv itself uses (devenv.clients.engine: DOCKER_HOST, else the docker
context), whatever their own reading of the docker context would be."""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Mapping, Sequence

from devenv.clients import engine
from devenv.errors import CommandFailed, ToolMissing

log = logging.getLogger(__name__)

INSTALL_HINTS = {
    "kind": "install kind: https://kind.sigs.k8s.io/docs/user/quick-start/#installation",
    "kubectl": "install kubectl: https://kubernetes.io/docs/tasks/tools/ (it includes `kubectl kustomize`)",
    "kustomize": "install kustomize (https://kubectl.docs.kubernetes.io/installation/kustomize/) or kubectl",
    "flux": "install the Flux CLI: https://fluxcd.io/flux/installation/#install-the-flux-cli",
    "docker": "install Docker: https://docs.docker.com/engine/install/",
    "git": "install git",
}
# the tools that talk to the Docker engine (kind through the docker CLI)
ENGINE_TOOLS = ("docker", "kind")


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def pasteable(argv: Sequence[str], redact: Sequence[str] = ()) -> str:
    text = shlex.join(argv)
    for secret in redact:
        if secret:
            text = text.replace(secret, "***")
    return text


def run(
    argv: Sequence[str],
    *,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike | None = None,
    timeout: float,
    redact: Sequence[str] = (),
    check: bool = True,
) -> Result:
    """Run argv (never through a shell); raise CommandFailed on a non-zero exit when `check`."""
    argv = [str(a) for a in argv]
    if shutil.which(argv[0]) is None:
        raise ToolMissing(f"{argv[0]} is not installed (not found on PATH)", hint=INSTALL_HINTS.get(argv[0]))
    command = pasteable(argv, redact)
    log.debug("run: %s", command)
    full_env = {**os.environ, **env} if env else None
    if os.path.basename(argv[0]) in ENGINE_TOOLS:
        full_env = engine.subprocess_environment(full_env if full_env is not None else os.environ)
    try:
        proc = subprocess.run(
            argv, input=stdin, env=full_env, cwd=cwd, timeout=timeout,
            capture_output=True, text=True, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise CommandFailed(f"`{command}` did not finish within {timeout:g}s", command=command,
                            output=_tail(exc.stderr or exc.stdout, redact)) from None
    result = Result(tuple(argv), proc.returncode, proc.stdout, proc.stderr)
    if check and proc.returncode != 0:
        tail = _tail(proc.stderr or proc.stdout, redact)
        raise CommandFailed(
            f"`{command}` failed with exit code {proc.returncode}",
            command=command, returncode=proc.returncode, output=tail,
            context=tail.splitlines(),
        )
    return result


# Starts the command in a session of its own and exits at once, so the command is nobody's child here: no
# Popen object is left running in the caller (its __del__ warns, an error under a test suite's
# `filterwarnings = error`), no zombie is left when it ends, and init reaps it.
_LAUNCHER = ("import subprocess, sys\n"
             "with open(sys.argv[1], 'ab') as out:\n"
             "    child = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=out, stderr=out,\n"
             "                             start_new_session=True, close_fds=True, cwd='/')\n"
             "print(child.pid)\n")


def detach(argv: Sequence[str], *, log_file: str | os.PathLike) -> int:
    """Start `argv` detached from this process (its own session, stdin closed, stdout and stderr appended to
    `log_file`, cwd /), so that it outlives its caller and a signal to the caller's process group; returns
    its PID. For devenv's own watchers only: everything else runs to completion through `run`."""
    log.debug("detached: %s", pasteable(argv))
    launched = subprocess.run([sys.executable, "-W", "ignore::ResourceWarning", "-c", _LAUNCHER, str(log_file),
                               *argv], capture_output=True, text=True, timeout=60, check=False)
    if launched.returncode != 0:
        raise CommandFailed(f"could not start {argv[0]} in the background", context=[_tail(launched.stderr, ())])
    return int(launched.stdout)


def _tail(text: str | bytes | None, redact: Sequence[str], lines: int = 15) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    tail = "\n".join((text or "").strip().splitlines()[-lines:])
    for secret in redact:
        if secret:
            tail = tail.replace(secret, "***")
    return tail


def which(name: str) -> str | None:
    return shutil.which(name)
