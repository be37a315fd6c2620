"""Which shared clusters devenv may make namespace environments in: a kubeconfig context must be allowed
before devenv makes a single call to it.

A context is allowed when the profile lists it under `contexts:`, or the user's own configuration does:
`$DEVENV_CONTEXTS` (comma-separated) or `contexts:` in `$XDG_CONFIG_HOME/devenv/config.yaml` (default
`~/.config/devenv/config.yaml`). In a pod without a kubeconfig (a CI job), the context is `in-cluster`: the
pod's own service account, allowed like any other. `list`, `status`, `gc`, `down` and `extend` look for namespace
environments in every context the user's configuration and devenv's namespace profiles allow, and in each
context this machine has made one in (remembered in `$XDG_STATE_HOME/devenv/contexts`: where to look, not
what exists; the namespaces' labels say that).
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from devenv.errors import InvalidInput, ProfileError

ENV = "DEVENV_CONTEXTS"


class ContextNotAllowed(InvalidInput):
    """No allowed kubeconfig context for a namespace environment: nothing was sent to any cluster."""


def config_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "devenv" / "config.yaml"


def user_contexts() -> tuple[str, ...]:
    """The contexts the user allows: $DEVENV_CONTEXTS, then config.yaml's `contexts:`."""
    found = [c.strip() for c in os.environ.get(ENV, "").split(",") if c.strip()]
    path = config_file()
    if path.is_file():
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise ProfileError(f"devenv's configuration {path} cannot be read: {err}") from None
        listed = data.get("contexts", []) if isinstance(data, dict) else None
        if not isinstance(listed, list) or not all(isinstance(c, str) for c in listed):
            raise ProfileError(f"{path}: `contexts` must be a list of kubeconfig context names")
        found += listed
    return tuple(dict.fromkeys(found))


def current_context(kubeconfig: str | None = None) -> str | None:
    """The kubeconfig's current-context (the first file of $KUBECONFIG, else ~/.kube/config), read from the
    file: no call to any cluster. In a pod with no kubeconfig at all: `in-cluster` (its service account)."""
    from devenv.clients.kube import IN_CLUSTER, in_cluster

    if in_cluster(kubeconfig):
        return IN_CLUSTER
    paths = [kubeconfig] if kubeconfig else (os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
                                             ).split(os.pathsep)
    for path in paths:
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(data, dict) and data.get("current-context"):
            return str(data["current-context"])
    return None


def allowed(profile_contexts: tuple[str, ...] = ()) -> tuple[str, ...]:
    return tuple(dict.fromkeys(tuple(profile_contexts) + user_contexts()))


def choose(context: str | None, profile_contexts: tuple[str, ...], profile_path: Path | str) -> str:
    """The context to use (the one given, else the kubeconfig's current one), refused unless allowed."""
    name = context or current_context()
    permitted = allowed(profile_contexts)
    if name is None:
        raise ContextNotAllowed("no kubeconfig context to make the namespace environment in: pass --context",
                           hint=f"allowed contexts: {', '.join(permitted) or 'none yet'}")
    if name not in permitted:
        raise ContextNotAllowed(
            f"context {name!r} is not allowed for namespace environments; nothing was sent to it",
            context=[f"allowed: {', '.join(permitted) or 'none'} (profile {profile_path} `contexts:`, "
                     f"${ENV}, or `contexts:` in {config_file()})"],
            hint=f"add it to the profile's `contexts:` or to {config_file()}, or pass --context with an allowed one",
        )
    return name


def remembered_file() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "devenv" / "contexts"


def remember(context: str) -> None:
    """Note that this machine made a namespace environment in `context` (so `list` looks there)."""
    path = remembered_file()
    try:
        lines = path.read_text().splitlines() if path.is_file() else []
        if context not in lines:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(f"{line}\n" for line in lines + [context]))
    except OSError:
        pass  # only a search path: `--context` or the configuration still finds it


def check_known(context: str) -> str:
    """A context named on the command line to look for namespace environments in: refused unless known."""
    found = known()
    if context not in found:
        raise ContextNotAllowed(
            f"context {context!r} is not allowed for namespace environments; nothing was sent to it",
            context=[f"allowed: {', '.join(found) or 'none'} (namespace profiles' `contexts:`, ${ENV}, `contexts:` "
                     f"in {config_file()}, or one this machine made an environment in)"],
            hint=f"add it to `contexts:` in {config_file()}")
    return context


def known() -> tuple[str, ...]:
    """Every context where namespace environments may exist: the user's, those of devenv's namespace profiles,
    and those this machine has made one in."""
    from devenv.domain.profiles import list_profiles, load_profile

    found = list(user_contexts())
    path = remembered_file()
    if path.is_file():
        found += [line.strip() for line in path.read_text().splitlines() if line.strip()]
    for path in list_profiles():
        try:
            profile = load_profile(path)
        except ProfileError:
            continue
        if profile.target == "namespace":
            found += profile.contexts
    return tuple(dict.fromkeys(found))
