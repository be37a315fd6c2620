"""Resolving a Flux `sourceRef` to a local folder, offline, the way Flux would see the source.

- the repository itself: the `flux-system` GitRepository, the source of the bootstrap
  Kustomization, or any GitRepository with the same URL -> the platform folder;
- `ExternalArtifact` produced by an `ArtifactGenerator` (source.extensions.fluxcd.io) -> a
  temporary folder assembled with the generator's `copy` rules from its (resolvable) sources;
- anything the profile maps in `sources` ("Kind/namespace/name": folder) -> that folder;
- anything else (another Git repository, a remote OCI artifact, a bucket) -> not rendered, with why.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

from devenv.errors import PlatformError
from devenv.flux.kustomize import Workspace, dump_yaml, iter_files, load_documents

GENERATOR_GROUP = "source.extensions.fluxcd.io"
BOOTSTRAP_SOURCE = "flux-system"


@dataclass(frozen=True)
class SourceRef:
    kind: str
    namespace: str
    name: str

    @property
    def key(self) -> str:
        """How the profile's `sources` names it: Kind/namespace/name."""
        return f"{self.kind}/{self.namespace}/{self.name}"

    @classmethod
    def of(cls, ref: Mapping[str, Any] | None, default_namespace: str) -> "SourceRef":
        ref = ref or {}
        return cls(str(ref.get("kind") or "GitRepository"), str(ref.get("namespace") or default_namespace),
                   str(ref.get("name") or ""))


@dataclass(frozen=True)
class ResolvedSource:
    """A folder to build paths in, or (root None) why the source cannot be seen offline."""

    ref: SourceRef
    root: Path | None
    description: str
    reason: str | None = None


def normalize_git_url(url: str) -> str:
    """ssh://git@github.com/org/repo.git, git@github.com:org/repo and https://github.com/org/repo/ agree."""
    text = url.strip()
    text = re.sub(r"^[a-z+]+://", "", text)
    text = re.sub(r"^[^@/]+@", "", text)
    text = re.sub(r"^([^/:]+):(?!\d+/)", r"\1/", text)  # scp-like host:path
    text = re.sub(r":\d+/", "/", text, count=1)
    return text.removesuffix("/").removesuffix(".git").lower()


class SourceResolver:
    def __init__(self, platform: Path, sources: Mapping[str, Path], workspace: Workspace,
                 bootstrap: SourceRef | None = None):
        self.platform = platform
        self.mapped = dict(sources)
        self.workspace = workspace
        self.bootstrap = bootstrap
        self.objects: dict[tuple[str, str, str], dict] = {}
        self._cache: dict[SourceRef, ResolvedSource] = {}

    def add(self, objects) -> None:
        """Remember Flux source objects (and ArtifactGenerators) seen in the mirror or in outputs."""
        for obj in objects:
            api = str(obj.get("apiVersion") or "")
            if api.startswith(("source.toolkit.fluxcd.io/", f"{GENERATOR_GROUP}/")):
                meta = obj.get("metadata") or {}
                self.objects.setdefault((str(obj.get("kind")), str(meta.get("namespace") or "default"),
                                         str(meta.get("name"))), obj)

    def resolve(self, ref: SourceRef) -> ResolvedSource:
        """The folder of a source; one that cannot be read now is not remembered, since a
        Kustomization rendered later may define it (an ArtifactGenerator in its output)."""
        if ref in self._cache:
            return self._cache[ref]
        resolved = self._resolve(ref, ())
        if resolved.root is not None:
            self._cache[ref] = resolved
        return resolved

    def _resolve(self, ref: SourceRef, seen: tuple[SourceRef, ...]) -> ResolvedSource:
        if ref.key in self.mapped:
            folder = self.mapped[ref.key]
            if not folder.is_dir():
                raise PlatformError(f"the profile maps {ref.key} to {folder}, which is not a folder",
                                    hint="fix the path under `sources:` in the profile (relative to the profile file)")
            return ResolvedSource(ref, folder, f"{ref.key} (mapped by the profile to {folder})")
        if ref.kind == "GitRepository" and self._is_platform_repository(ref):
            return ResolvedSource(ref, self.platform, f"{ref.key} (this repository)")
        if ref.kind == "ExternalArtifact":
            return self._external_artifact(ref, seen)
        obj = self.objects.get((ref.kind, ref.namespace, ref.name))
        where = ""
        if obj is not None:
            spec = obj.get("spec") or {}
            where = f" ({spec.get('url') or spec.get('bucketName') or 'no url'})"
        if obj is None:  # nothing devenv reads defines it: not "another repository", just unknown
            return ResolvedSource(
                ref, None, ref.key,
                reason=f"its source {ref.key} is defined nowhere devenv reads (not in the cluster folder nor in "
                       f"the output of a rendered Kustomization); define it there, or map it to a local folder "
                       f"in the profile's `sources` to render it")
        what = {"GitRepository": "another Git repository", "OCIRepository": "a remote OCI artifact",
                "Bucket": "a bucket"}.get(ref.kind, f"a {ref.kind}")
        return ResolvedSource(
            ref, None, ref.key,
            reason=f"its source {ref.key}{where} is {what} that devenv cannot read offline; "
                   f"map it to a local folder in the profile's `sources` to render it")

    def _is_platform_repository(self, ref: SourceRef) -> bool:
        bootstrap = SourceRef("GitRepository", BOOTSTRAP_SOURCE, BOOTSTRAP_SOURCE)
        if ref in (bootstrap, self.bootstrap):
            return True
        own = self._url(self.bootstrap) or self._url(bootstrap)
        url = self._url(ref)
        return bool(own and url and normalize_git_url(own) == normalize_git_url(url))

    def _url(self, ref: SourceRef | None) -> str | None:
        if ref is None:
            return None
        obj = self.objects.get((ref.kind, ref.namespace, ref.name))
        url = ((obj or {}).get("spec") or {}).get("url")
        return url if isinstance(url, str) else None

    def _external_artifact(self, ref: SourceRef, seen: tuple[SourceRef, ...]) -> ResolvedSource:
        if ref in seen:
            chain = " -> ".join(r.key for r in seen + (ref,))
            raise PlatformError(f"ArtifactGenerators form a cycle: {chain}")
        for (kind, namespace, name), gen in self.objects.items():
            if kind != "ArtifactGenerator" or namespace != ref.namespace:
                continue
            for artifact in (gen.get("spec") or {}).get("artifacts") or []:
                if isinstance(artifact, dict) and artifact.get("name") == ref.name:
                    return self._generate(ref, f"ArtifactGenerator {namespace}/{name}", gen, artifact, seen + (ref,))
        return ResolvedSource(ref, None, ref.key,
                              reason=f"no ArtifactGenerator (in the cluster folder or a rendered Kustomization) produces "
                                     f"{ref.key}; map it to a local "
                                     f"folder in the profile's `sources` to render it")

    def _generate(self, ref: SourceRef, generator: str, gen: dict, artifact: dict,
                  seen: tuple[SourceRef, ...]) -> ResolvedSource:
        namespace = (gen.get("metadata") or {}).get("namespace") or "default"
        roots: dict[str, Path] = {}
        for source in (gen.get("spec") or {}).get("sources") or []:
            alias = str(source.get("alias"))
            src = SourceRef.of(source, namespace)
            resolved = (self._external_artifact(src, seen) if src.kind == "ExternalArtifact"
                        else self._resolve(src, seen))
            if resolved.root is None:
                return ResolvedSource(ref, None, f"{ref.key} (from {generator})",
                                      reason=f"{generator} builds it from @{alias}: {resolved.reason}")
            roots[alias] = resolved.root
        dest = self.workspace.scratch(f"artifact-{ref.namespace}-{ref.name}")
        copy_artifact(artifact.get("copy") or [], roots, dest, f"{generator}, artifact {ref.name}")
        return ResolvedSource(ref, dest, f"{ref.key} (generated by {generator})")


# -- ArtifactGenerator copy rules ----------------------------------------------------------------

_GLOB = re.compile(r"[*?\[]")


def glob_regex(pattern: str) -> re.Pattern:
    """A glob with `**` (any depth), `*` and `?` (within one path segment), matched on POSIX paths."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.find("]", i)
            if end == -1:
                out, i = out + re.escape("["), i + 1
            else:
                out, i = out + "[" + pattern[i + 1:end].replace("!", "^", 1) + "]", end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def _excluded(rel: str, patterns: list[re.Pattern], bare: list[re.Pattern]) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return any(p.match(rel) for p in patterns) or any(p.match(name) for p in bare)


def copy_artifact(rules: list, roots: Mapping[str, Path], dest: Path, describe: str) -> None:
    """Assemble an artifact folder from `copy` rules with source-watcher's cp-like semantics:
    a file to `dir/` keeps its name; `@src/dir/` copies the folder as a sub-folder; a glob copies
    what it matches relative to its literal prefix (`@src/dir/**` = the contents of dir); later
    rules overwrite earlier ones, or deep-merge YAML with `strategy: Merge`, or unpack tarballs
    with `strategy: Extract`."""
    for index, rule in enumerate(rules):
        where = f"{describe}, copy[{index}]"
        if not isinstance(rule, dict):
            raise PlatformError(f"{where}: must be a mapping with from/to")
        match = re.match(r"^@([A-Za-z0-9_-]+)(?:/(.*))?$", str(rule.get("from") or ""))
        to = str(rule.get("to") or "")
        if not match or match.group(1) not in roots:
            raise PlatformError(f"{where}: from {rule.get('from')!r} must name a source alias as @alias/path "
                                f"(aliases: {', '.join('@' + a for a in roots) or 'none'})")
        if not (to == "@artifact" or to.startswith("@artifact/")):
            raise PlatformError(f"{where}: to {to!r} must start with @artifact/")
        root, pattern = roots[match.group(1)], match.group(2) or ""
        target = to[len("@artifact/"):] if to.startswith("@artifact/") else ""
        into_dir = to.endswith("/") or target == ""
        strategy = rule.get("strategy") or "Overwrite"
        patterns = [glob_regex(str(p)) for p in rule.get("exclude") or []]
        bare = [glob_regex(str(p)) for p in rule.get("exclude") or [] if "/" not in str(p)]
        pairs: list[tuple[Path, str]] = []  # (file, destination relative to the artifact)
        if _GLOB.search(pattern):
            literal = []
            for part in PurePosixPath(pattern).parts:
                if _GLOB.search(part):
                    break
                literal.append(part)
            prefix = "/".join(literal)
            regex = glob_regex(pattern)
            base = root / prefix if prefix else root
            if base.is_dir():
                for file in iter_files(base):
                    rel = file.relative_to(root).as_posix()
                    if regex.match(rel):
                        inner = file.relative_to(base).as_posix()
                        if not _excluded(inner, patterns, bare):
                            pairs.append((file, _join(target, inner)))
        else:
            source = root / pattern if pattern else root
            if source.is_dir():
                sub = "" if not pattern.strip("/") else PurePosixPath(pattern.strip("/")).name
                base_target = _join(target, sub) if into_dir else target
                for file in iter_files(source):
                    inner = file.relative_to(source).as_posix()
                    if not _excluded(inner, patterns, bare):
                        pairs.append((file, _join(base_target, inner)))
            elif source.is_file():
                pairs.append((source, _join(target, source.name) if into_dir else target))
            else:
                raise PlatformError(f"{where}: {rule.get('from')!r} matches nothing in {root}")
        for file, rel in pairs:
            if not file.resolve().is_relative_to(root.resolve()):  # `..` or a symbolic link out of the source
                raise PlatformError(f"{where}: from {rule.get('from')!r} reaches {file.resolve()}, outside its source")
            _place(file, dest, rel, strategy, where)


def _join(a: str, b: str) -> str:
    return "/".join(p for p in (a.strip("/"), b.strip("/")) if p)


def _place(file: Path, dest: Path, rel: str, strategy: str, where: str) -> None:
    target = dest / rel
    if not target.resolve().is_relative_to(dest.resolve()):
        raise PlatformError(f"{where}: destination {rel!r} leaves the artifact")
    if strategy == "Extract":
        if not file.name.endswith((".tar.gz", ".tgz")):
            return
        folder = target if rel.endswith("/") or not rel else target.parent
        folder.mkdir(parents=True, exist_ok=True)
        import tarfile  # only for ArtifactGenerators that extract: not at start-up

        with tarfile.open(file) as archive:
            archive.extractall(folder, filter="data")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if strategy == "Merge" and target.is_file() and file.name.endswith((".yaml", ".yml")):
        old = load_documents(target.read_text(), str(target))
        new = load_documents(file.read_text(), str(file))
        merged = merge_values(old[0].data if old else {}, new[0].data if new else {})
        target.write_text(dump_yaml(merged))
        return
    shutil.copyfile(file, target)


def merge_values(base: Any, overlay: Any) -> Any:
    """Helm-style values merge: mappings merge recursively, everything else (lists too) is replaced."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        out = dict(base)
        for key, value in overlay.items():
            out[key] = merge_values(base.get(key), value) if key in base else value
        return out
    return overlay
