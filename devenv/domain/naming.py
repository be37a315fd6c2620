"""Environment names: from what the user typed or the git branch, as DNS-1123 labels short enough everywhere.

The longest place a name goes is the kind node container `<name>-control-plane` and the
namespace `devenv-<name>`; 40 characters keeps both (and Docker names) well inside 63.
"""

from __future__ import annotations

import hashlib
import re

from devenv.clients import process
from devenv.errors import DevenvError, InvalidName

MAX_LENGTH = 40
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_HASH_LENGTH = 6
_RULES = (f"names are lowercase letters, digits and '-', other characters become '-', and names longer than "
          f"{MAX_LENGTH} are cut and given a hash suffix")


def environment_name(raw: str) -> str:
    """Turn user input or a branch name into a DNS-1123 label: `feature/ABC-123_x` -> `feature-abc-123-x`.

    Names longer than MAX_LENGTH are cut and given a stable hash suffix of the original,
    so two long branches that share a prefix stay distinct.
    """
    if raw is None or not str(raw).strip():
        raise InvalidName("the environment name is empty", hint="pass a NAME, or run inside a git checkout on a branch")
    original = str(raw).strip()
    name = re.sub(r"[^a-z0-9]+", "-", original.lower()).strip("-")
    if not name:
        raise InvalidName(
            f"{original!r} cannot be turned into an environment name: it has no letters or digits",
            hint="use letters, digits and dashes, e.g. feature-x",
        )
    if len(name) > MAX_LENGTH:
        digest = hashlib.sha256(original.encode()).hexdigest()[:_HASH_LENGTH]
        name = name[: MAX_LENGTH - _HASH_LENGTH - 1].rstrip("-") + "-" + digest
    assert _LABEL.match(name), name
    return name


def validate_name(name: str) -> str:
    """Accept only an already-canonical name (used for names read back from labels or given with --exact)."""
    if not _LABEL.match(name or "") or len(name) > MAX_LENGTH:
        raise InvalidName(f"{name!r} is not a valid environment name (lowercase letters, digits, '-', at most {MAX_LENGTH})")
    return name


def current_branch(cwd: str | None = None) -> str | None:
    """The checked-out git branch, or None outside a checkout or on a detached HEAD."""
    try:
        proc = process.run(["git", "symbolic-ref", "--short", "-q", "HEAD"], cwd=cwd, timeout=5, check=False)
    except DevenvError:
        return None
    branch = proc.stdout.strip()
    if proc.returncode != 0 or not branch:
        return None
    return branch


def resolve(raw: str | None) -> tuple[str, str | None]:
    """NAME if given, else the current git branch, as an environment name; with a sentence saying which
    name is used whenever it is not exactly what the user typed (None when it is)."""
    if raw:
        name = environment_name(raw)
        if name == raw:
            return name, None
        return name, f"using environment name {name!r} for {raw.strip()!r} ({_RULES})"
    branch = current_branch()
    if branch is None:
        raise InvalidName(
            "no environment NAME given and no git branch to derive it from",
            hint="pass a NAME (e.g. `devenv up demo`) or run inside a git checkout",
        )
    name = environment_name(branch)
    return name, f"using environment name {name!r} (from the git branch {branch!r})"


def resolve_name(raw: str | None) -> str:
    """NAME if given, else the current git branch, as an environment name."""
    return resolve(raw)[0]
