"""The user's own kubeconfig (`$KUBECONFIG`'s first file, else ~/.kube/config): devenv merges one environment's
cluster, context and user into it (`up --merge-kubeconfig`) and removes exactly those again (`down`); every
other entry is kept as it is. Written atomically with mode 0600, under kubectl's own `<file>.lock`."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import yaml

from devenv.errors import DevenvError, InvalidInput
from devenv.wait import NotYet, until

SECTIONS = ("clusters", "contexts", "users")
LOCK_TIMEOUT = 10.0


def default_path() -> Path:
    """Where kubectl writes: the first file of $KUBECONFIG, else ~/.kube/config."""
    first = next((p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p), None)
    return Path(first).expanduser() if first else Path.home() / ".kube" / "config"


def merge(source: Path, target: Path) -> list[str]:
    """Put the source's clusters, contexts and users into target, replacing entries of the same name and
    keeping all others; the target's current-context is kept (set to the source's only when it has none).
    Returns the names merged."""
    ours = _read(source)
    if not ours.get("contexts"):
        raise DevenvError(f"kubeconfig {source} has no context to merge", hint="`devenv up` writes it again")
    names: list[str] = []
    with _locked(target):
        config = _read(target)
        for section in SECTIONS:
            entries = list(config.get(section) or [])
            for entry in ours.get(section) or []:
                name = entry.get("name")
                at = next((i for i, e in enumerate(entries) if isinstance(e, dict) and e.get("name") == name), None)
                if at is None:
                    entries.append(entry)
                else:
                    entries[at] = entry
                if name not in names:
                    names.append(name)
            config[section] = entries
        if not config.get("current-context") and ours.get("current-context"):
            config["current-context"] = ours["current-context"]
        _write(target, config)
    return names


def remove(target: Path, name: str) -> bool:
    """Remove the cluster, context and user called `name` (and current-context when it is that context);
    True when the file held any of them. A missing file holds none."""
    if not target.is_file():
        return False
    with _locked(target):
        config = _read(target)
        changed = False
        for section in SECTIONS:
            entries = config.get(section) or []
            kept = [e for e in entries if not (isinstance(e, dict) and e.get("name") == name)]
            changed |= len(kept) != len(entries)
            config[section] = kept
        if config.get("current-context") == name:
            config["current-context"] = ""
            changed = True
        if changed:
            _write(target, config)
    return changed


def holds(target: Path, name: str) -> bool:
    """Whether the file has a cluster, context or user called `name`."""
    if not target.is_file():
        return False
    config = _read(target)
    return any(isinstance(e, dict) and e.get("name") == name for s in SECTIONS for e in config.get(s) or [])


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"apiVersion": "v1", "kind": "Config", "preferences": {}, "clusters": [], "contexts": [],
                "users": [], "current-context": ""}
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise DevenvError(f"cannot read kubeconfig {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"kubeconfig {path} is not valid YAML: devenv leaves it as it is",
                           context=[str(exc).splitlines()[0]],
                           hint="fix it (or move it away), then run the command again") from None
    if data is None:
        data = {}
    if not isinstance(data, dict) or any(not isinstance(data.get(s) or [], list) for s in SECTIONS):
        raise InvalidInput(f"kubeconfig {path} is not a kubeconfig (a mapping with lists of clusters, contexts "
                           "and users): devenv leaves it as it is")
    return data


def _write(path: Path, config: dict[str, Any]) -> None:
    """Atomically (a file beside it, then rename), mode 0600; through a symlink to the file it points at."""
    real = Path(os.path.realpath(path))
    real.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=real.parent, prefix=f".{real.name}.devenv-")
    try:
        with os.fdopen(fd, "w") as out:
            os.fchmod(out.fileno(), 0o600)
            yaml.safe_dump(config, out, sort_keys=False, default_flow_style=False)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, real)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """kubectl's (client-go's) lock: `<file>.lock` created exclusively, so a concurrent kubectl or devenv
    waits instead of losing an update."""
    real = Path(os.path.realpath(path))
    real.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = real.with_name(real.name + ".lock")

    def take() -> bool | NotYet:
        try:
            os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            return True
        except FileExistsError:
            return NotYet(f"{lock} exists")

    until(take, what=f"the lock of kubeconfig {real}", timeout=LOCK_TIMEOUT, poll=0.1,
          give_up=lambda _: DevenvError(f"kubeconfig {real} is locked ({lock} exists) and stayed locked for "
                                        f"{LOCK_TIMEOUT:.0f}s", hint=f"if no kubectl or devenv is running, remove {lock}"))
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)
