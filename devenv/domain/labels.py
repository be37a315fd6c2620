"""Label keys devenv puts on everything it creates, and the label sets for an environment.

The labels are the state: `list`, `status`, `down` and `gc` find resources by them,
and devenv never touches a resource without `devenv.managed=true`.
"""

from __future__ import annotations

import getpass
import os
import re
import socket
import time
from dataclasses import dataclass

MANAGED = "devenv.managed"
ENVIRONMENT = "devenv.environment"
PROFILE = "devenv.profile"
TARGET = "devenv.target"
OWNER = "devenv.owner"
CREATED = "devenv.created"  # unix seconds: a valid label value everywhere, sortable
EXPIRES = "devenv.expires"  # unix seconds; absent or 0 means never
SERVICE = "devenv.service"
SERVICE_TYPE = "devenv.service-type"
HOST_PORT = "devenv.host-port"
CONFIG_HASH = "devenv.config-hash"  # what the resource was created from; a change means re-create
RUN = "devenv.run"  # the `up` run that created the resource: gc tells a crashed run's leftovers by it
PROFILE_PATH = "devenv.profile-path"  # the profile file, so `devenv env` can fill the environment values
USER = "devenv.user"  # on containers: the facts a client needs, as the container was created
DATABASE = "devenv.database"
SECRET_PREFIX = "devenv.secret."  # on data volumes: the generated credentials that volume was initialised with
# the cache of initialised, seeded data (devenv.services.cache): snapshots, and the containers and volumes that make them
CACHE_KEY = "devenv.cache-key"  # what determines the data; on a service container: the snapshot it started from
CACHE_ROLE = "devenv.cache-role"  # snapshot (an image), build (a container and volume making one)
CACHE_IMAGE = "devenv.cache-image"  # the service image the snapshot was made with, as the profile named it
CACHE_IMAGE_ID = "devenv.cache-image-id"  # and its ID: a snapshot of an image that has changed never hits again
CACHE_ROOT = "devenv.cache-root"  # the snapshot image's one folder: the data directory
CACHE_SEED = "devenv.cache-seed"  # the seed files' names, for `devenv cache list`
# a namespace environment's namespace: where it came from, and whether gc may collect it
BRANCH = "devenv.branch"  # the platform checkout's branch, as a label value (the exact name: BRANCH_ANNOTATION)
COMMIT = "devenv.commit"  # its commit
VERSION = "devenv.version"  # the devenv that made it
KEEP = "devenv.keep"  # "true": gc leaves it alone even when expired
BRANCH_ANNOTATION = "devenv.io/branch"
# liveness that every owner can read off the resources (lock files live in one user's home):
HOST = "devenv.host"  # the machine of the processes below
RUN_PROCESS = "devenv.run-process"  # the `up` that created the resource, as a process token (below)
SESSION = "devenv.session"  # a test session's id: its environments go when the session does
SESSION_PROCESS = "devenv.session-process"  # that session's process token
SESSION_VARIABLE = "DEVENV_SESSION"  # "<id>:<process token>", set by the pytest plugin for its session
OWNER_VARIABLE = "DEVENV_OWNER"  # who owns what this process creates (default: user.machine)


def owner() -> str:
    """Who owns what this process creates, as a valid label value: DEVENV_OWNER, else `user.machine`
    (several users and machines share one engine on CI runners and build hosts)."""
    chosen = os.environ.get(OWNER_VARIABLE, "").strip()
    if not chosen:
        try:
            user = getpass.getuser()
        except Exception:  # no passwd entry in some containers
            user = "unknown"
        chosen = f"{_clean(user) or 'unknown'}.{host()}"
    return _clean(chosen) or "unknown"


def host() -> str:
    """This machine's short name, as a valid label value."""
    return _clean(socket.gethostname().split(".")[0]) or "localhost"


def _clean(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", text)[:63].strip("-_.")


def process_token(pid: int | None = None) -> str:
    """A process as `<pid>-<start time>` (the kernel's boot-relative start, where /proc has it): a PID the
    kernel hands out again later names another process, whose start time differs."""
    pid = os.getpid() if pid is None else pid
    start = _start_time(pid)
    return f"{pid}-{start}" if start is not None else str(pid)


def process_alive(token: str) -> bool | None:
    """Whether the process of a token from this machine still runs: True, False, or None (not a token)."""
    pid_text, _, start = token.partition("-")
    if not pid_text.isdigit() or int(pid_text) <= 0:
        return None
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        pass
    if start:
        now = _start_time(pid)
        if now is not None and str(now) != start:
            return False  # the PID now names another process
    return True


def _start_time(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as file:
            stat = file.read()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # the command name may hold spaces and parentheses
    return int(fields[19]) if len(fields) > 19 and fields[19].isdigit() else None


def session() -> tuple[str, str] | None:
    """(session id, process token) of the test session this process works for (DEVENV_SESSION), or None."""
    text = os.environ.get(SESSION_VARIABLE, "")
    ident, _, token = text.partition(":")
    if not ident or not token or not is_valid_label_value(ident) or process_alive(token) is None:
        return None
    return ident, token


def liveness(tags: dict[str, str], *, here: str | None = None) -> str | None:
    """Why a resource's creator is known to be alive, from its labels (what every owner can read):
    "session" (its test session still runs), "run" (its `up` still runs), or None. Only for processes
    of this machine; another machine's are never judged alive or dead here."""
    if tags.get(HOST) != (here or host()):
        return None
    if tags.get(SESSION_PROCESS) and process_alive(tags[SESSION_PROCESS]):
        return "session"
    if tags.get(RUN_PROCESS) and process_alive(tags[RUN_PROCESS]):
        return "run"
    return None


def session_ended(tags: dict[str, str], *, here: str | None = None) -> bool:
    """True when the resource belongs to a test session of this machine whose process is gone."""
    return (bool(tags.get(SESSION)) and tags.get(HOST) == (here or host())
            and process_alive(tags.get(SESSION_PROCESS, "")) is False)


def for_environment(environment: str, *, profile: str, target: str, ttl_seconds: int | None,
                    now: float | None = None) -> dict[str, str]:
    """The labels every resource of an environment carries."""
    created = int(now if now is not None else time.time())
    labels = {
        MANAGED: "true",
        ENVIRONMENT: environment,
        PROFILE: profile,
        TARGET: target,
        OWNER: owner(),
        CREATED: str(created),
        HOST: host(),
        RUN_PROCESS: process_token(),
    }
    test_session = session()
    if test_session:
        labels[SESSION], labels[SESSION_PROCESS] = test_session
    if ttl_seconds:
        labels[EXPIRES] = str(created + ttl_seconds)
    return labels


def as_label_value(text: str) -> str:
    """Any text as a valid label value (a branch `feature/ABC-1` -> `feature-ABC-1`), at most 63 characters."""
    value = re.sub(r"[^A-Za-z0-9_.-]", "-", text)[:63]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", value)


_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
# Docker labels take any string; Kubernetes label values do not (63 characters of [A-Za-z0-9_.-]).
# These keys hold values such as a file path, so on Kubernetes objects they go into annotations.
ANNOTATION_ONLY = (PROFILE_PATH, BRANCH_ANNOTATION)


def is_valid_label_value(value: str) -> bool:
    """What the API server accepts as a label value."""
    return len(value) <= 63 and bool(_LABEL_VALUE.match(value))


# Which process made a resource, and for which test session: read on this machine's Docker resources only.
# On Kubernetes objects they would change with every run (a StatefulSet's pods would restart on each `up`).
PER_PROCESS = (RUN_PROCESS, SESSION, SESSION_PROCESS)


def for_kubernetes(tags: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """An environment's labels split for a Kubernetes object: (labels, annotations). Values a label cannot
    hold (the profile's path) become annotations, so every object devenv writes passes validation; the
    per-process labels are left out."""
    tags = {k: v for k, v in tags.items() if k not in PER_PROCESS}
    kept = {k: v for k, v in tags.items() if k not in ANNOTATION_ONLY and is_valid_label_value(v)}
    return kept, {k: v for k, v in tags.items() if k not in kept}


@dataclass(frozen=True)
class Owners:
    """Whose resources a destructive command (gc, cache prune, down) acts on: the current owner's, unless
    told to act on some others too (`--owner`) or on everyone's (`--all-owners`)."""

    names: frozenset[str] | None  # None: every owner

    @classmethod
    def chosen(cls, all_owners: bool = False, others: tuple[str, ...] | list[str] = ()) -> "Owners":
        if all_owners:
            return cls(None)
        mine = {owner()}
        if not os.environ.get(OWNER_VARIABLE, "").strip():  # what devenv made before owners named the machine
            mine.add(owner().rsplit(".", 1)[0])
        return cls(frozenset(mine | {_clean(o) for o in others}))

    def covers(self, who: str | None) -> bool:
        # Every devenv writes devenv.owner: a labelled resource without one was made by hand on this engine
        # (tests and scripts imitating a crashed run do so), and is nobody's to protect.
        return self.names is None or who is None or who in self.names

    def why_not(self, who: str | None) -> str:
        """Why a resource of `who` is left alone (one line, with what would take it)."""
        return f"owned by {who}, not by {owner()} (--owner {who} or --all-owners takes it)"

    def describe(self) -> str:
        return "every owner's" if self.names is None else ", ".join(sorted(self.names)) + "'s"


def selector(environment: str | None = None) -> dict[str, str]:
    """Label filter for devenv's resources, optionally of one environment."""
    found = {MANAGED: "true"}
    if environment:
        found[ENVIRONMENT] = environment
    return found


def is_expired(labels: dict[str, str], now: float | None = None) -> bool:
    expires = labels.get(EXPIRES)
    if not expires or not expires.isdigit() or int(expires) == 0:
        return False
    return int(expires) <= (now if now is not None else time.time())
