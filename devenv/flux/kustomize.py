"""Running kustomize the way kustomize-controller does: the Kustomization's spec written into the
kustomization.yaml of its path (generated from all YAML below it when missing), then one build;
a folder that only lists manifests is read directly, in kustomize's output order.

The controller edits the kustomization.yaml inside its own copy of the source. devenv never writes
into the user's tree: a `Workspace` mirrors the source with symlinks and gives each build a real
sibling directory of `spec.path`, so `../base` style references resolve exactly as in the source.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Iterator, Mapping

from devenv.clients import process
from devenv.errors import CommandFailed, PlatformError, ToolMissing
from devenv.flux.buildcache import BuildCache  # noqa: F401 - where render, up and delivery import it from
from devenv.flux.manifests import (  # noqa: F401 - re-exported: where the render and the CLI import them from
    Document, ManifestLoader, display, dump_yaml, dump_yaml_all, load_documents, load_objects, read_manifest,
)

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
BUILD_TIMEOUT = 180.0
_LOAD_RESTRICTOR = "--load-restrictor=LoadRestrictionsNone"  # what kustomize-controller uses
# What fluxcd/pkg's IsLocalRelativePath calls remote (kustomize's repospec prefixes).
_REMOTE_PREFIXES = ("git::", "gh:", "ssh://", "https://", "http://", "git@", "github.com:", "github.com/")


class RemoteResource(PlatformError):
    """A kustomization names a remote resource, which cannot be built offline."""


# -- the kustomize binary ------------------------------------------------------------------------

_tool_lock = threading.Lock()
_tool: list[str] | None = None


def kustomize_command() -> list[str]:
    """argv prefix of a kustomize build: a standalone `kustomize build`, else `kubectl kustomize`."""
    global _tool
    with _tool_lock:
        if _tool is None:
            if process.which("kustomize"):
                _tool = ["kustomize", "build"]
            elif process.which("kubectl"):
                _tool = ["kubectl", "kustomize"]
            else:
                raise ToolMissing("neither kustomize nor kubectl is installed (render builds Flux "
                                  "Kustomizations with `kustomize build` or `kubectl kustomize`)",
                                  hint=process.INSTALL_HINTS["kustomize"])
        return list(_tool)


def kustomize_available() -> bool:
    try:
        kustomize_command()
    except ToolMissing:
        return False
    return True


def run_build(directory: Path, *, describe: str, original: Path | None = None) -> str:
    """`kustomize build` one directory; CommandFailed naming what was built and kustomize's stderr tail.
    `original`: the platform's folder when `directory` is devenv's temporary copy of it (the Flux spec
    written into its kustomization.yaml), which is gone by the time the user reads the error."""
    argv = kustomize_command() + [_LOAD_RESTRICTOR, str(directory)]
    try:
        return process.run(argv, timeout=BUILD_TIMEOUT).stdout
    except CommandFailed as exc:
        if original is not None and original != directory:
            command = " ".join(kustomize_command() + [_LOAD_RESTRICTOR, display(original)])
            where = [f"built from a temporary copy of {display(original)} with the Flux spec (targetNamespace, "
                     f"patches, images, components...) written into its kustomization.yaml; devenv has deleted it"]
            hint = (f"`{command}` builds the folder as written (without the Flux spec's additions); the message "
                    "names the file kustomize rejected")
            exc.output = exc.output.replace(str(directory), str(original))  # the paths as the user has them
        else:
            command, where = exc.command, []
            hint = "run the command above to see the whole error; the message names the file kustomize rejected"
        raise CommandFailed(
            f"kustomize build failed for {describe}",
            command=command, returncode=exc.returncode, output=exc.output,
            context=[f"command: {command}"] + where + _strip_log_prefix(exc.output).splitlines(),
            hint=hint,
        ) from None


def _strip_log_prefix(text: str) -> str:
    # kubectl prefixes its error with a klog header (`E1125 17:34:16.727903 16659 run.go:72] "command failed" err=`)
    return re.sub(r"^[EWI]\d{4} [\d:.]+\s+\d+ \S+\] ", "", text, flags=re.M)


# -- what kustomize-controller generates ---------------------------------------------------------


def kustomization_file(directory: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def scan_resources(directory: Path) -> list[str]:
    """The resources kustomize-controller lists in the kustomization.yaml it generates for a folder
    without one: every .yaml/.yml file below it, recursively, in lexical walk order, except that a
    sub-folder with its own kustomization file is listed as a folder and not entered. Each file
    must decode as Kubernetes YAML (PlatformError with file and line otherwise)."""
    found: list[str] = []

    def walk(current: Path) -> None:
        for entry in sorted(os.scandir(current), key=lambda e: e.name):
            path = Path(entry.path)
            if entry.is_dir():
                if kustomization_file(path):
                    found.append("./" + path.relative_to(directory).as_posix())
                else:
                    walk(path)
            elif entry.name.endswith((".yaml", ".yml")):
                for doc in load_documents(read_manifest(path), display(path)):
                    if not isinstance(doc.data, dict) or not doc.data.get("kind"):
                        raise PlatformError(
                            f"{display(path)}:{doc.line}: not a Kubernetes object (no kind), in a folder without a "
                            f"kustomization.yaml",
                            hint="Flux includes every .yaml file of such a folder: add a kustomization.yaml "
                                 "listing the manifests, or move this file elsewhere")
                found.append("./" + path.relative_to(directory).as_posix())

    walk(directory)
    return found


@dataclass(frozen=True)
class FluxSpec:
    """The parts of a Flux Kustomization's spec that kustomize-controller writes into kustomization.yaml."""

    target_namespace: str | None = None
    name_prefix: str | None = None
    name_suffix: str | None = None
    patches: tuple[Mapping[str, Any], ...] = ()
    images: tuple[Mapping[str, Any], ...] = ()
    components: tuple[str, ...] = ()
    ignore_missing_components: bool = False
    build_metadata: tuple[str, ...] = ()

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> "FluxSpec":
        return cls(
            target_namespace=spec.get("targetNamespace") or None,
            name_prefix=spec.get("namePrefix") or None,
            name_suffix=spec.get("nameSuffix") or None,
            patches=tuple(p for p in spec.get("patches") or () if isinstance(p, dict)),
            images=tuple(i for i in spec.get("images") or () if isinstance(i, dict)),
            components=tuple(str(c) for c in spec.get("components") or ()),
            ignore_missing_components=bool(spec.get("ignoreMissingComponents")),
            build_metadata=tuple(str(b) for b in spec.get("buildMetadata") or ()),
        )

    def is_empty(self) -> bool:
        return not (self.target_namespace or self.name_prefix or self.name_suffix or self.patches
                    or self.images or self.components or self.build_metadata)


def apply_flux_spec(kustomization: dict, spec: FluxSpec, directory: Path, describe: str) -> dict:
    """Merge the Flux spec into a kustomization the way kustomize-controller's generator does
    (fluxcd/pkg kustomize_generator.go): targetNamespace/namePrefix/nameSuffix override, patches and
    components are appended, images merge into an entry of the same name (newName when set; newTag
    and digest together, as one version) or are appended, buildMetadata overrides."""
    out = dict(kustomization)
    if spec.target_namespace:
        out["namespace"] = spec.target_namespace
    if spec.name_prefix:
        out["namePrefix"] = spec.name_prefix
    if spec.name_suffix:
        out["nameSuffix"] = spec.name_suffix
    if spec.patches:
        patches = list(out.get("patches") or [])
        for patch in spec.patches:
            entry: dict[str, Any] = {"patch": patch.get("patch", "")}
            if patch.get("target"):
                entry["target"] = dict(patch["target"])
            patches.append(entry)
        out["patches"] = patches
    if spec.images:
        images = list(out.get("images") or [])
        for image in spec.images:
            new = {k: image[k] for k in ("name", "newName", "newTag", "digest") if image.get(k)}
            for i, existing in enumerate(images):
                if isinstance(existing, dict) and existing.get("name") == image.get("name"):
                    merged = dict(existing)
                    if new.get("newName"):
                        merged["newName"] = new["newName"]
                    if new.get("newTag") or new.get("digest"):
                        for key in ("newTag", "digest"):
                            merged.pop(key, None)
                            if new.get(key):
                                merged[key] = new[key]
                    images[i] = merged
                    break
            else:
                images.append(new)
        out["images"] = images
    if spec.components:
        components = list(out.get("components") or [])
        for component in spec.components:
            if PurePosixPath(component).is_absolute() or component.lower().startswith(_REMOTE_PREFIXES):
                raise PlatformError(f"{describe}: spec.components: {component!r} must be a local path relative "
                                    f"to spec.path (Flux refuses remote components)")
            if spec.ignore_missing_components and not (directory / component).exists():
                continue
            components.append(component)
        out["components"] = components
    if spec.build_metadata:
        out["buildMetadata"] = list(spec.build_metadata)
    return out


def is_remote(entry: str) -> bool:
    """Whether a kustomization entry names something kustomize would fetch over the network."""
    return entry.lower().startswith(_REMOTE_PREFIXES) or "://" in entry


def build_files(directory: Path, limit: int = 5000) -> list[Path]:
    """The files a build of `directory` reads: its kustomization file and what that lists (resources,
    components, bases, patch and generator files, followed into local folders such as ../base), or, for
    a folder without one, every .yaml/.yml file below it as kustomize-controller lists them."""
    seen: set[Path] = set()
    out: list[Path] = []

    def add(path: Path) -> None:
        if path not in seen and len(out) < limit:
            seen.add(path)
            out.append(path)

    def visit(folder: Path) -> None:
        folder = folder.resolve()
        if folder in seen or len(out) >= limit:
            return
        seen.add(folder)
        kfile = kustomization_file(folder)
        if kfile is None:
            for entry in sorted(os.scandir(folder), key=lambda e: e.name):
                if entry.is_dir() and entry.name != ".git":
                    visit(Path(entry.path))
                elif entry.name.endswith((".yaml", ".yml")):
                    add(Path(entry.path))
            return
        add(kfile)
        try:
            docs = load_documents(read_manifest(kfile), display(kfile))
        except (PlatformError, OSError):
            return
        data = docs[0].data if docs else None
        if not isinstance(data, dict):
            return
        refs: list[str] = []
        for field in ("resources", "components", "bases", "crds", "patchesStrategicMerge"):
            refs += [e for e in data.get(field) or () if isinstance(e, str)] if isinstance(data.get(field), list) else []
        for field in ("patches", "patchesJson6902", "replacements"):
            for item in data.get(field) or () if isinstance(data.get(field), list) else ():
                if isinstance(item, dict) and isinstance(item.get("path"), str):
                    refs.append(item["path"])
        for field in ("configMapGenerator", "secretGenerator"):
            for gen in data.get(field) or () if isinstance(data.get(field), list) else ():
                if isinstance(gen, dict):
                    for key in ("files", "envs"):
                        refs += [str(f).split("=", 1)[-1] for f in gen.get(key) or () if isinstance(f, str)]
                    if isinstance(gen.get("env"), str):
                        refs.append(gen["env"])
        for ref in refs:
            if is_remote(ref):
                continue
            target = folder / ref
            if target.is_dir():
                visit(target)
            elif target.is_file():
                add(target.resolve())

    visit(directory)
    return out


def find_remote_resource(directory: Path) -> tuple[str, Path] | None:
    """The first remote entry (resources, components, bases) that building `directory` would fetch,
    with the kustomization file naming it, following local folders; None when all is local."""
    seen: set[Path] = set()
    pending = [directory]
    while pending:
        folder = pending.pop(0).resolve()
        if folder in seen:
            continue
        seen.add(folder)
        kfile = kustomization_file(folder)
        if kfile is None:
            continue
        try:
            docs = load_documents(read_manifest(kfile), display(kfile))
        except PlatformError:
            continue  # the build reports it, with its line
        data = docs[0].data if docs else None
        if not isinstance(data, dict):
            continue
        for field in ("resources", "components", "bases"):
            entries = data.get(field)
            for entry in entries if isinstance(entries, list) else ():
                if not isinstance(entry, str):
                    continue
                if is_remote(entry):
                    return entry, kfile
                if (folder / entry).is_dir():
                    pending.append(folder / entry)
    return None


# -- what kustomize would output unchanged -------------------------------------------------------

_PLAIN_KEYS = {"apiVersion", "kind", "resources"}


def read_plain(directory: Path) -> list[tuple[dict, str]] | None:
    """The objects of a folder whose kustomization only lists local manifests and folders of the
    same kind (or that has no kustomization: Flux generates one), each with `file:line`; None when
    kustomize has work to do there (transformers, generators, remote resources, anything unusual),
    so that kustomize builds it and reports its own errors."""
    kfile = kustomization_file(directory)
    if kfile is None:
        entries: Any = scan_resources(directory)
    else:
        docs = load_documents(read_manifest(kfile), display(kfile))
        data = docs[0].data if len(docs) == 1 else None
        if not isinstance(data, dict) or set(data) - _PLAIN_KEYS or data.get("kind", "Kustomization") != "Kustomization":
            return None
        entries = data.get("resources") or []
        if not isinstance(entries, list) or not entries:
            return None
    out: list[tuple[dict, str]] = []
    seen: set[tuple] = set()
    for entry in entries:
        if not isinstance(entry, str) or is_remote(entry):
            return None
        path = directory / entry
        if path.is_dir():
            if kustomization_file(path) is None:
                return None
            sub = read_plain(path)
            if sub is None:
                return None
            found = sub
        elif path.is_file():
            found = []
            for doc in load_documents(read_manifest(path), display(path)):
                obj = doc.data
                if (not isinstance(obj, dict) or not obj.get("apiVersion") or not obj.get("kind")
                        or not isinstance(obj.get("metadata"), dict) or not obj["metadata"].get("name")
                        or str(obj["kind"]).endswith("List")):
                    return None
                found.append((obj, f"{display(path)}:{doc.line}"))
        else:
            return None
        for obj, origin in found:
            key = _resid(obj)
            if key in seen:
                return None  # kustomize refuses duplicates: let it say so
            seen.add(key)
            out.append((obj, origin))
    return out


# kustomize's legacy output order (kyaml/resid/gvk.go, api/internal/builtins/SortOrderTransformer.go)
_ORDER_FIRST = ("Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition", "ServiceAccount",
                "PodSecurityPolicy", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ConfigMap",
                "Secret", "Endpoints", "Service", "LimitRange", "PriorityClass", "PersistentVolume",
                "PersistentVolumeClaim", "Deployment", "StatefulSet", "CronJob", "PodDisruptionBudget")
_ORDER_LAST = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
_TYPE_ORDER = {**{k: i - len(_ORDER_FIRST) for i, k in enumerate(_ORDER_FIRST)},
               **{k: i + 1 for i, k in enumerate(_ORDER_LAST)}}


def _gvk(obj: Mapping) -> tuple[str, str, str]:
    group, _, version = str(obj.get("apiVersion") or "").rpartition("/")
    return group, version, str(obj.get("kind") or "")


def _gvk_string(gvk: tuple[str, str, str]) -> str:
    return "_".join((gvk[0] or "~G", gvk[1] or "~V", gvk[2] or "~K"))


def _resid(obj: Mapping) -> tuple:
    meta = obj.get("metadata") or {}
    return _gvk(obj), meta.get("namespace") or "", meta.get("name") or ""


def _legacy_less(a: Mapping, b: Mapping) -> int:
    ga, gb = _gvk(a), _gvk(b)
    if ga != gb:
        ia, ib = _TYPE_ORDER.get(ga[2], 0), _TYPE_ORDER.get(gb[2], 0)
        if ia != ib:
            return -1 if ia < ib else 1
        sa, sb = _gvk_string(ga), _gvk_string(gb)
        if ga[2] == gb[2] == "Namespace" and (ga[0] == "" or gb[0] == ""):
            sa, sb = sb, sa
        return -1 if sa < sb else (1 if sa > sb else 0)

    def id_string(obj: Mapping, gvk: tuple) -> str:
        meta = obj.get("metadata") or {}
        return "|".join((_gvk_string(gvk), meta.get("namespace") or "~X", meta.get("name") or "~N"))

    sa, sb = id_string(a, ga), id_string(b, gb)
    return -1 if sa < sb else (1 if sa > sb else 0)


def legacy_sorted(objects: list[dict]) -> list[dict]:
    """Objects in the order `kustomize build` prints them (its default, legacy, sort)."""
    return sorted(objects, key=functools.cmp_to_key(_legacy_less))


# -- the workspace -------------------------------------------------------------------------------


class Workspace:
    """A temporary directory holding, per source root, a symlink mirror of the source in which each
    build gets its own real copy of the `spec.path` folder (entries symlinked, kustomization.yaml
    written), placed next to the original so that relative references resolve unchanged."""

    def __init__(self, cache: BuildCache | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="devenv-render-"))
        self._lock = threading.Lock()
        self._real: set[Path] = set()
        self._count = 0
        self._mirrors: dict[Path, Path] = {}  # mirror -> the source root it mirrors
        self.cache = cache

    def _run_build(self, directory: Path, build_dir: Path, kustomization: str, describe: str) -> str:
        def build() -> str:
            try:
                return run_build(build_dir, describe=describe, original=directory)
            except CommandFailed as failed:  # name the source's files, not their mirror's (deleted by then)
                for mirror, root in list(self._mirrors.items()):
                    failed.output = failed.output.replace(str(mirror), str(root))
                    failed.context = [line.replace(str(mirror), str(root)) for line in failed.context]
                raise

        if self.cache is None:
            return build()
        return self.cache.build(directory, kustomization, build)

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def scratch(self, name: str) -> Path:
        """A fresh directory for other temporary trees (e.g. ExternalArtifacts)."""
        with self._lock:
            self._count += 1
            path = self.dir / f"{self._count:03d}-{name}"
        path.mkdir(parents=True)
        return path

    def build(self, root: Path, path: str, spec: FluxSpec, *, describe: str) -> list[dict]:
        """The objects kustomize-controller would build from `root/path` with this Flux spec.

        A folder whose kustomization files only list local manifests (or that has none) is read
        directly, in kustomize's output order, since kustomize would change nothing in it; anything
        else goes through `kustomize build` (the Flux spec written into a copy of its kustomization)."""
        directory = resolve_path(root, path, describe)
        if spec.is_empty():
            plain = read_plain(directory)
            if plain is not None:
                return legacy_sorted([obj for obj, _ in plain])
        remote = find_remote_resource(directory)
        if remote is not None:
            url, kfile = remote
            raise RemoteResource(
                f"{describe} cannot be built offline: {display(kfile)} names the remote resource {url}",
                hint="render with --skip-unbuildable to leave such Kustomizations out (each listed with the "
                     "reason), or exclude it with the profile's `exclude`, or vendor the resource into the repository")
        existing = kustomization_file(directory)
        if existing is not None:
            docs = load_documents(read_manifest(existing), display(existing))
            base = docs[0].data if docs else {}
            if not isinstance(base, dict):
                raise PlatformError(f"{display(existing)}: not a kustomization (a YAML {type(base).__name__})")
            if base.get("resources") and spec.is_empty():
                return self._objects(self._run_build(directory, directory, "", describe), describe)
            if not base.get("resources"):
                # fluxcd/pkg sets this on a kustomization.yaml without resources, so that kustomize
                # builds it (an empty one builds to nothing) instead of calling it empty.
                base = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", **base,
                        "buildMetadata": ["originAnnotations"]}
        else:
            base = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                    "resources": scan_resources(directory)}
        merged = dump_yaml(apply_flux_spec(base, spec, directory, describe))
        if self.cache is not None and self.cache.has(directory, merged):
            return self._objects(self._run_build(directory, directory, merged, describe), describe)
        work = self._sibling(root, directory)
        (work / "kustomization.yaml").write_text(merged)
        return self._objects(self._run_build(directory, work, merged, describe), describe)

    @staticmethod
    def _objects(text: str, describe: str) -> list[dict]:
        return load_objects(text, f"kustomize build of {describe}")

    def _sibling(self, root: Path, directory: Path) -> Path:
        with self._lock:
            mirror = self._mirror(root)  # one per build: another build may be reading its own mirror right now
            rel = directory.relative_to(root)
            parent = self._realize(root, mirror, rel.parent) if rel.parts else self.dir
            self._count += 1
            sibling = parent / f".devenv-{self._count:03d}-{directory.name or 'root'}"
            sibling.mkdir()
            for entry in os.scandir(directory):
                if entry.name not in KUSTOMIZATION_FILES:
                    os.symlink(entry.path, sibling / entry.name)
            return sibling

    def _mirror(self, root: Path) -> Path:
        """A fresh mirror of the source: symlinks to its entries, made real folder by folder as needed.
        Never shared between builds, since making a folder real replaces a symlink another kustomize
        could be reading through."""
        self._count += 1
        mirror = self.dir / f"source-{self._count:03d}"
        mirror.mkdir()
        self._populate(root, mirror)
        self._real.add(mirror)
        self._mirrors[mirror] = root
        return mirror

    def _realize(self, root: Path, mirror: Path, rel: Path) -> Path:
        """Turn the mirror's folders along `rel` from symlinks into real folders of symlinks."""
        real, shadow = root, mirror
        for part in rel.parts:
            real, shadow = real / part, shadow / part
            if shadow not in self._real:
                if shadow.is_symlink():
                    shadow.unlink()
                shadow.mkdir()
                self._populate(real, shadow)
                self._real.add(shadow)
        return shadow

    @staticmethod
    def _populate(real: Path, shadow: Path) -> None:
        for entry in os.scandir(real):
            if entry.name != ".git":
                os.symlink(entry.path, shadow / entry.name)


def resolve_path(root: Path, path: str | None, describe: str) -> Path:
    """`spec.path` inside the source root (Flux joins it securely: it cannot leave the root)."""
    rel = PurePosixPath(path or ".")
    if rel.is_absolute():
        rel = rel.relative_to("/")
    parts: list[str] = []
    for part in rel.parts:
        if part == "..":
            if parts:
                parts.pop()
        elif part != ".":
            parts.append(part)
    directory = root.joinpath(*parts)
    if not directory.is_dir():
        raise PlatformError(
            f"{describe}: spec.path {path or './'!r} does not exist in its source ({display(directory)})",
            hint="fix spec.path (it is relative to the root of the source), or leave the Kustomization "
                 "out with the profile's `exclude`")
    if not directory.resolve().is_relative_to(root.resolve()):  # a symlink leading out of the source
        raise PlatformError(
            f"{describe}: spec.path {path!r} leads outside its source through a symbolic link "
            f"({display(directory)} -> {directory.resolve()})",
            hint="Flux's secure join never leaves the source root: point spec.path at a folder inside it")
    return directory


def iter_files(directory: Path) -> Iterator[Path]:
    for base, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        for name in sorted(files):
            yield Path(base) / name
