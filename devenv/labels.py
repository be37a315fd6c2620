"""Label keys devenv puts on everything it creates, and the label sets for an environment.

The labels are the state: `list`, `status`, `down` and `gc` find resources by them,
and devenv never touches a resource without `devenv.managed=true`.
"""

from __future__ import annotations

import getpass
import re
import time

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
# the cache of initialised, seeded data (devenv.cache): snapshots, and the containers and volumes that make them
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


def owner() -> str:
    """The local user, as a valid label value."""
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = "unknown"
    return re.sub(r"[^A-Za-z0-9_.-]", "-", user)[:63].strip("-_.") or "unknown"


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
    }
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


def for_kubernetes(tags: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """An environment's labels split for a Kubernetes object: (labels, annotations). Values a label cannot
    hold (the profile's path) become annotations, so every object devenv writes passes validation."""
    kept = {k: v for k, v in tags.items() if k not in ANNOTATION_ONLY and is_valid_label_value(v)}
    return kept, {k: v for k, v in tags.items() if k not in kept}


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
