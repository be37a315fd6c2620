"""The reaper of a test session: a small detached process that watches the session's process and, when it is
gone without having removed its environments (SIGKILL, a cancelled CI job), removes what is labelled for it.

It never signals or kills a process: it only reads whether one runs (by PID and start time, see
devenv.domain.labels.process_token). It ends as soon as its session finished on its own (the session removes its
record folder last) or once it has reaped; before it watches, it also reaps this owner's sessions of this
machine that died earlier (their labels say so), so nothing of a killed session waits for its TTL.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import time
from pathlib import Path

from devenv.domain import labels
from devenv.clients import process

POLL_INTERVAL = 0.25  # seconds between looks at the session's process
REAP_DEADLINE = 600  # seconds a reap may take (an engine that hangs must not keep the watcher forever)
SETTLE = 5  # seconds the watcher looks again after reaping (what the session's workers were still creating)


def start(session: str, token: str, records: str | os.PathLike) -> int | None:
    """Start the watcher of a session (at most one: the first caller wins); returns its PID, or None when
    one already watches. Detached (its own session), so a Ctrl-C or a kill of the test run's process group
    does not take it with the run; its output goes to reaper.log in the record folder."""
    folder = Path(records)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        marker = os.open(folder / "reaper.pid", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return None
    pid = process.detach([sys.executable, "-m", "devenv.lifecycle.reaper", "--session", session, "--process", token,
                          "--records", str(folder)], log_file=folder / "reaper.log")
    os.write(marker, str(pid).encode())
    os.close(marker)
    return pid


def watch(session: str, token: str, records: Path, *, poll: float = POLL_INTERVAL) -> list[str]:
    """Wait until the session ends. When its record folder went first, it cleaned up itself: nothing to do.
    When its process went first, remove what is labelled for it; returns what was removed."""
    _say(f"watching test session {session} (process {token})")
    while True:
        if not records.exists():
            _say(f"session {session} finished and cleaned up itself")
            return []
        if labels.process_alive(token) is False:
            break
        time.sleep(poll)
    _say(f"session {session}'s process {token} is gone without cleaning up: reaping its environments")
    signal.alarm(REAP_DEADLINE)
    removed = reap(session)
    # An xdist worker of the session may still be finishing an `up` it had started: look again a few times
    settle = time.monotonic() + SETTLE
    while time.monotonic() < settle:
        time.sleep(1)
        removed += reap(session)
    shutil.rmtree(records, ignore_errors=True)
    return removed


def reap(session: str) -> list[str]:
    """Remove everything labelled for the session: an environment all of whose resources carry the label
    through devenv's own `down` (its kind cluster too); of any other, only the labelled resources."""
    from devenv.clients import docker
    from devenv.lifecycle import environments

    client = docker.connect(timeout=30)
    removed = []
    for name, found in sorted(docker.managed(client).by_environment().items()):
        every = found.containers + found.networks + found.volumes
        ours = [r for r in every if docker.label_of(r, labels.SESSION) == session]
        if not ours:
            continue
        if len(ours) == len(every):
            removed += environments.down(name, owners=labels.Owners(None))  # the session's own, whoever runs this
        else:  # a name the session shared with resources not of it: only what it labelled goes
            for resource in ours:  # containers first: a network or volume in use cannot go
                if docker.remove(resource):
                    removed.append(f"{type(resource).__name__.lower()} {resource.name}")
    for line in removed:
        _say(f"removed {line}")
    return removed


def dead_sessions(owner: str | None = None) -> set[str]:
    """This owner's test sessions of this machine whose process is gone while resources labelled for them
    remain (a watcher that could not run, or a machine that rebooted)."""
    from devenv.clients import docker

    owner = owner or labels.owner()
    client = docker.connect(timeout=30)
    found = docker.managed(client)
    return {docker.label_of(r, labels.SESSION) for r in found.containers + found.networks + found.volumes
            if labels.session_ended(docker.labels_of(r)) and docker.label_of(r, labels.OWNER) == owner}


def _say(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} devenv reaper [{os.getpid()}]: {line}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devenv.lifecycle.reaper", description=__doc__.splitlines()[0])
    parser.add_argument("--session", required=True, help="the session's id (label devenv.session)")
    parser.add_argument("--process", required=True, help="the session's process token (pid-starttime)")
    parser.add_argument("--records", required=True, help="the session's record folder; gone when it finished")
    args = parser.parse_args(argv)
    if not labels.is_valid_label_value(args.session) or labels.process_alive(args.process) is None:
        print(f"devenv reaper: not a session id and process token: {args.session!r} {args.process!r}", file=sys.stderr)
        return 2
    from devenv.errors import DevenvError

    try:
        for earlier in sorted(dead_sessions() - {args.session}):
            _say(f"an earlier session {earlier} of this machine died without cleaning up: reaping it")
            reap(earlier)
    except DevenvError as err:
        _say(f"could not look for earlier sessions: {err.message}")
    try:
        watch(args.session, args.process, Path(args.records))
    except DevenvError as err:
        _say(f"could not reap session {args.session}: {err.message}; `devenv gc` removes its environments")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
