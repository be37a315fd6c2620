"""Start the kustomize builds of a cluster folder's Kustomizations before the render pipeline is loaded.

`devenv render` spends its first tenths of a second importing Python modules, and a platform's slowest
kustomize build then starts only after that. This module is light (yaml and the standard library) and
starts, in background threads, exactly the builds the render would run first (a Kustomization of the
cluster folder, from this repository, whose folder kustomize has work in and to which its Flux spec adds
nothing), into the BuildCache the render then uses: the same command, the same output, only sooner. A
prefetched build that fails is built again by the render, which reports it as usual.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path, PurePosixPath
from typing import Any, Iterable

import yaml

_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_PLAIN_KEYS = {"apiVersion", "kind", "resources"}
_SPEC_FIELDS = ("targetNamespace", "namePrefix", "nameSuffix", "patches", "images", "components", "buildMetadata")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def start(platform: Path, mirror: str, cache: Any, *, exclude: Iterable[str] = ()) -> list[threading.Thread]:
    """Start the builds (see the module's docstring); returns their threads (daemons). Never raises."""
    try:
        folders = _candidates(platform.resolve(), "/".join(p for p in PurePosixPath(mirror).parts if p != "."),
                              set(exclude))
    except Exception:  # noqa: BLE001 - only a head start: the render reads everything again and reports
        return []
    threads = []
    for folder in folders:
        if cache.reserve(folder, ""):
            thread = threading.Thread(target=_build, args=(folder, cache), daemon=True, name="devenv-prefetch")
            thread.start()
            threads.append(thread)
    return threads


def _build(folder: Path, cache: Any) -> None:
    output = None
    try:
        from devenv.flux.kustomize import find_remote_resource, run_build

        if find_remote_resource(folder) is None:  # never fetch from the network ahead of the render
            output = run_build(folder, describe=str(folder))
    except Exception:  # noqa: BLE001 - the render builds it again and reports it
        output = None
    finally:
        cache.fulfil(folder, "", output)


def _candidates(platform: Path, mirror: str, exclude: set[str]) -> list[Path]:
    out: list[Path] = []
    for file in _listed_files(platform / mirror, set()) or ():
        try:
            docs = list(yaml.load_all(file.read_text(), Loader=_Loader))
        except (yaml.YAMLError, OSError, UnicodeDecodeError):
            continue
        for doc in docs:
            folder = _folder(platform, mirror, doc, exclude)
            if folder is not None and folder not in out:
                out.append(folder)
    return out


def _listed_files(folder: Path, seen: set[Path]) -> list[Path] | None:
    """The manifest files the bootstrap applies from the cluster folder: what its plain kustomization
    lists (folders followed), or every .yaml below it without one; None when kustomize transforms it."""
    if folder in seen or not folder.is_dir():
        return []
    seen.add(folder)
    kfile = _kustomization(folder)
    if kfile is None:
        found = []
        for base, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            found += [Path(base) / name for name in sorted(files) if name.endswith((".yaml", ".yml"))]
        return found
    try:
        data = yaml.load(kfile.read_text(), Loader=_Loader)
    except (yaml.YAMLError, OSError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or set(data) - _PLAIN_KEYS:
        return None
    out: list[Path] = []
    for entry in data.get("resources") or ():
        if not isinstance(entry, str):
            continue
        path = folder / entry
        if path.is_dir():
            sub = _listed_files(path, seen)
            if sub is None:
                return None
            out += sub
        elif path.is_file():
            out.append(path)
    return out


def _folder(platform: Path, mirror: str, doc: Any, exclude: set[str]) -> Path | None:
    """The folder of a Flux Kustomization that the render will hand to kustomize as it is, or None."""
    if not isinstance(doc, dict) or doc.get("kind") != "Kustomization" \
            or not str(doc.get("apiVersion", "")).startswith("kustomize.toolkit.fluxcd.io/"):
        return None
    spec, meta = doc.get("spec"), doc.get("metadata") or {}
    if not isinstance(spec, dict) or not isinstance(meta, dict):
        return None
    name = str(meta.get("name"))
    if name in exclude or f"{meta.get('namespace')}/{name}" in exclude or spec.get("suspend") or spec.get("kubeConfig"):
        return None
    source = spec.get("sourceRef") or {}
    if not isinstance(source, dict) or source.get("kind") != "GitRepository" or source.get("name") != "flux-system":
        return None
    path = spec.get("path")
    if not isinstance(path, str) or "$" in path or any(spec.get(f) for f in _SPEC_FIELDS):
        return None
    parts = [p for p in PurePosixPath(path.lstrip("/")).parts if p != "."]
    if ".." in parts or "/".join(parts) == mirror:
        return None
    folder = platform.joinpath(*parts)  # as devenv.flux.kustomize.resolve_path joins it (the cache's key)
    if not folder.is_dir() or not folder.resolve().is_relative_to(platform) or not _needs_kustomize(folder, set()):
        return None
    return folder


def _kustomization(folder: Path) -> Path | None:
    for name in _FILES:
        if (folder / name).is_file():
            return folder / name
    return None


def _needs_kustomize(folder: Path, seen: set[Path]) -> bool:
    """Whether the render gives this folder to kustomize: a kustomization with resources and more than
    plain resources somewhere in its tree (a folder of plain manifests is read in Python)."""
    if folder in seen:
        return False
    seen.add(folder)
    kfile = _kustomization(folder)
    if kfile is None:
        return False
    try:
        data = yaml.load(kfile.read_text(), Loader=_Loader)
    except (yaml.YAMLError, OSError, UnicodeDecodeError):
        return False
    if not isinstance(data, dict) or not data.get("resources"):
        return False
    if set(data) - _PLAIN_KEYS:
        return True
    for entry in data.get("resources") or ():
        if isinstance(entry, str) and (folder / entry).is_dir() and _needs_kustomize((folder / entry).resolve(), seen):
            return True
    return False
