"""Delivery `flux`: Flux's own controllers apply the platform, as they do in AWS.

devenv pushes the platform's working tree (uncommitted changes included, git-ignored files left out) as an
OCI artifact, points an OCIRepository at exactly that digest, and writes the mirrored cluster's
Kustomizations for the environment: AWS-only ones left out, `dependsOn` rewired, `sourceRef` to the
OCIRepository, and as `spec.patches` the very patches devenv's render applied (devenv.flux.patches: each
adaptation's JSON 6902 operations, a `$patch: delete` for each object left out), which kustomize runs before
post-build substitution as the render did: what Flux applies is what `devenv render` prints. Kustomizations a
Kustomization applies (nested ones) get the same rewrite through their parent's patches, so Flux itself
creates them.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping


from devenv.clients import process
from devenv.delivery import Progress, Quiet
from devenv.delivery.readiness import (  # noqa: F401 - re-exported: where callers have always found them
    KUSTOMIZE_API, REQUESTED_AT, inventory, is_kustomization, ready_state, request_reconcile, wait_ready,
)
from devenv.errors import CommandFailed, DeliveryFailed, InvalidInput, ToolMissing
from devenv.flux import patches
from devenv.flux.kustomizations import dependency_id, is_flux_kustomization
from devenv.clients.kube import Kube
from devenv.clients.registry import Registry
from devenv.timings import phase

SOURCE_API = "source.toolkit.fluxcd.io/v1"
SOURCE_NAME = "devenv-platform"
FINGERPRINT = "devenv.io/source-fingerprint"  # on the OCIRepository: the working tree it was pushed from
PLATFORM = "devenv.io/platform"  # on the OCIRepository: the folder it was pushed from (`devenv sync` pushes it again)
PUSH_TIMEOUT = 300
# What `flux push artifact` leaves out by default, kept when devenv lists the files itself.
ALWAYS_IGNORED = (".git",)


# -- the source ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Artifact:
    """A pushed working tree: `url` (oci://host/repository), the tag it was pushed under, its digest."""

    url: str
    tag: str
    digest: str
    fingerprint: str

    @property
    def reference(self) -> str:
        return f"{self.url}@{self.digest}"


def working_tree(root: Path) -> list[str]:
    """The files of the platform as its author sees them: in a git work tree, every tracked or untracked file
    git does not ignore (uncommitted changes included); otherwise every file below `root` but `.git`."""
    listed = _git_result(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", ".", timeout=60)
    if listed is not None and listed.returncode == 0:  # paths relative to `root` (git's working directory)
        names = [n for n in listed.stdout.split("\0") if n]
        return sorted(n for n in names if (root / n).is_file())  # a deleted, uncommitted file is not there
    files = []
    for base, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in ALWAYS_IGNORED)
        files += [os.path.relpath(os.path.join(base, n), root) for n in names]
    return sorted(files)


def fingerprint(root: Path, files: Iterable[str]) -> str:
    """What the artifact is made of: every file's path, mode and content."""
    digest = hashlib.sha256()
    for name in files:
        path = root / name
        digest.update(name.encode() + b"\0" + oct(path.stat().st_mode & 0o777).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return "sha256:" + digest.hexdigest()


def push_source(platform: Path, registry: str, repository: str, tag: str, *, insecure: bool = True,
                run: Callable[..., process.Result] = process.run) -> Artifact:
    """Push the platform's working tree to `registry/repository:tag` with `flux push artifact` (reproducible:
    the same files give the same digest) and return where it is."""
    root = Path(platform).resolve()
    files = working_tree(root)
    if not files:
        raise InvalidInput(f"the platform {root} has no files to push")
    url = f"oci://{registry}/{repository}"
    with tempfile.TemporaryDirectory(prefix="devenv-push-") as tmp:
        for name in files:  # a copy of exactly these files: flux push would take git-ignored ones too
            target = Path(tmp) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, target)
        argv = ["flux", "push", "artifact", f"{url}:{tag}", "--path", tmp, "--source", _source_address(root),
                "--revision", _revision(root), "--reproducible", "--output", "json"]
        if insecure:
            argv.append("--insecure-registry")
        result = run(argv, timeout=PUSH_TIMEOUT)
    try:
        digest = json.loads(result.stdout)["digest"]
    except (ValueError, KeyError, TypeError):
        raise DeliveryFailed(f"`flux push artifact` printed no digest for {url}:{tag}",
                             context=result.stdout.splitlines()[-5:]) from None
    return Artifact(url, tag, digest, fingerprint(root, files))


def _git_result(root: Path, *args: str, timeout: float = 30) -> process.Result | None:
    """git in the platform's folder; None when git is missing or does not finish."""
    try:
        return process.run(["git", "-C", str(root), *args], timeout=timeout, check=False)
    except (ToolMissing, CommandFailed):
        return None


def _git(root: Path, *args: str) -> str:
    out = _git_result(root, *args)
    return out.stdout.strip() if out is not None and out.returncode == 0 else ""


def _source_address(root: Path) -> str:
    return _git(root, "config", "--get", "remote.origin.url") or root.as_uri()


def _revision(root: Path) -> str:
    """Flux's `<branch>@sha1:<commit>` of the checkout the tree was pushed from (a dirty tree too)."""
    commit = _git(root, "rev-parse", "HEAD")
    branch = _git(root, "rev-parse", "--abbrev-ref", "HEAD") or "local"
    return f"{branch}@sha1:{commit}" if re.fullmatch(r"[0-9a-f]{40}", commit) else f"{branch}"


def source_object(name: str, namespace: str, artifact: Artifact, *, insecure: bool, labels: Mapping[str, str],
                  interval: str = "10m", platform: Path | None = None, auth: Mapping[str, object] | None = None) -> dict:
    """The OCIRepository serving exactly the pushed digest (a new push is a new digest: Flux reconciles);
    `auth`: how source-controller logs in to the registry (spec.provider, secretRef, certSecretRef)."""
    annotations = {FINGERPRINT: artifact.fingerprint, **({PLATFORM: str(platform)} if platform else {})}
    return {"apiVersion": SOURCE_API, "kind": "OCIRepository",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels), "annotations": annotations},
            "spec": {"interval": interval, "url": artifact.url, "ref": {"digest": artifact.digest},
                     **({"insecure": True} if insecure else {}), **dict(auth or {})}}


def registry_auth(provider: str | None = None, secret: str | None = None,
                  cert_secret: str | None = None) -> dict[str, object]:
    """The OCIRepository spec fields for a registry's login: the cluster's workload identity (`provider`:
    aws, azure, gcp), or Secrets in the source's namespace (`secretRef`, `certSecretRef`)."""
    out: dict[str, object] = {}
    if provider and provider != "generic":
        out["provider"] = provider
    if secret:
        out["secretRef"] = {"name": secret}
    if cert_secret:
        out["certSecretRef"] = {"name": cert_secret}
    return out


@dataclass(frozen=True)
class GitSource:
    """`--from-git`: the platform as the cluster's Flux pulls it from its Git remote, on the checked-out branch
    (what is pushed there: uncommitted changes are not seen). `prefix`: the platform's folder in the repository."""

    url: str
    branch: str
    prefix: str = ""
    uncommitted: bool = False
    secret: str | None = None  # spec.secretRef: the SSH key or HTTPS credentials, a Secret in the namespace
    origin: str = ""  # the remote as git has it (before an scp-style address became ssh://)

    def describe(self) -> str:
        """Which URL and Secret the cluster's Flux pulls with, as `up` says it."""
        converted = f" (origin {self.origin})" if self.origin and self.origin != self.url else ""
        secret = f"Secret {self.secret}" if self.secret else "no secret (a public repository)"
        return f"GitRepository {self.url}{converted} branch {self.branch}, {secret}"


# git's scp-like address: [user@]host:path, with no scheme and no slash before the colon
_SCP = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>[^@/:\[\]]+|\[[^\]]+\]):(?P<path>(?!//).*)$")


def flux_git_url(origin: str) -> str:
    """The origin as a URL the GitRepository CRD accepts (http, https or ssh): an scp-style address
    (`git@host:org/repo.git`) becomes `ssh://git@host/org/repo.git`; InvalidInput for what Flux cannot pull."""
    if re.match(r"^(https?|ssh)://", origin):
        return origin
    match = None if "://" in origin else _SCP.match(origin)
    if match is None or not match.group("path"):
        raise InvalidInput(f"--from-git: the platform's origin {origin!r} is not an address the cluster's Flux can "
                           "pull (GitRepository takes http://, https:// or ssh:// URLs, or git's scp-style "
                           "user@host:path)", hint="set `git remote set-url origin` to the Git host's URL")
    user = f"{match.group('user')}@" if match.group("user") else ""
    return f"ssh://{user}{match.group('host')}/{match.group('path').lstrip('/')}"


def git_source(platform: Path, secret: str | None = None) -> GitSource:
    """The platform checkout's remote `origin` and branch, or InvalidInput saying what is missing."""
    root = Path(platform).resolve()
    origin = _git(root, "remote", "get-url", "origin")
    branch = _git(root, "symbolic-ref", "--short", "-q", "HEAD")
    top = _git(root, "rev-parse", "--show-toplevel")
    if not origin or not branch or not top:
        raise InvalidInput(f"--from-git: the platform {root} is not a git checkout on a branch with a remote `origin`",
                           hint="push the branch and run from its checkout, or leave out --from-git to push the "
                                "working tree as an OCI artifact")
    prefix = os.path.relpath(root, Path(top).resolve())
    return GitSource(flux_git_url(origin), branch, "" if prefix == "." else prefix,
                     bool(_git(root, "status", "--porcelain")), secret, origin)


def git_source_object(name: str, namespace: str, git: GitSource, *, labels: Mapping[str, str],
                      platform: Path | None = None, interval: str = "1m") -> dict:
    return {"apiVersion": SOURCE_API, "kind": "GitRepository",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels),
                         "annotations": {PLATFORM: str(platform)} if platform else {}},
            "spec": {"interval": interval, "url": git.url, "ref": {"branch": git.branch},
                     **({"secretRef": {"name": git.secret}} if git.secret else {})}}


# -- the Kustomizations ----------------------------------------------------------------------


def top_level(rendered) -> list:
    """The Kustomizations devenv writes itself: those of the cluster folder (not the bootstrap's own objects)."""
    return [k for k in rendered.kustomizations
            if k.parent is None and not k.mirror and is_flux_kustomization(k.object)]


def kustomization_objects(rendered, *, source: Mapping[str, str], namespace: str | None = None,
                          target_namespace: str | None = None, service_account: str | None = None,
                          substitute_from: list[dict] | None = None, labels: Mapping[str, str],
                          path_prefix: str = "") -> list[dict]:
    """The environment's top-level Kustomizations (those of the cluster folder), rewritten for Flux delivery;
    each nested one is rewritten inside its parent's patches. `namespace` moves them (and their dependsOn)
    into one namespace; `target_namespace`, `service_account`, `substitute_from` replace those fields;
    `path_prefix`: the platform's folder in the source (a Git repository holding it in a subfolder)."""
    rewrite = _Rewrite(rendered, source, namespace, target_namespace, service_account, substitute_from, labels,
                       path_prefix)
    return [rewrite.kustomization(k) for k in top_level(rendered)]


class _Rewrite:
    def __init__(self, rendered, source, namespace, target_namespace, service_account, substitute_from, labels,
                 path_prefix=""):
        self.path_prefix = path_prefix
        self.by_id = {k.id: k for k in rendered.kustomizations if not k.mirror and is_flux_kustomization(k.object)}
        self.source = dict(source)
        self.namespace = namespace
        self.target_namespace = target_namespace
        self.service_account = service_account
        self.substitute_from = substitute_from
        self.labels = dict(labels)

    def kustomization(self, k) -> dict:
        obj = copy.deepcopy(k.object)
        meta = obj["metadata"]
        meta.pop("resourceVersion", None)
        meta["labels"] = {**(meta.get("labels") or {}), **self.labels}
        if self.namespace:
            meta["namespace"] = self.namespace
        spec = obj.setdefault("spec", {})
        spec["sourceRef"] = dict(self.source)
        if self.path_prefix:
            spec["path"] = "./" + os.path.normpath(os.path.join(self.path_prefix, str(spec.get("path") or ".")))
        deps = []
        for entry in spec.get("dependsOn") or []:
            dep = dependency_id(entry, k.namespace)
            if dep in self.by_id:
                name = dep.split("/", 1)[1]
                deps.append({"name": name, "namespace": self.namespace or dep.split("/", 1)[0]})
        if deps:
            spec["dependsOn"] = deps
        else:
            spec.pop("dependsOn", None)
        if self.target_namespace:
            spec["targetNamespace"] = self.target_namespace
        if self.service_account:
            spec["serviceAccountName"] = self.service_account
        if self.substitute_from is not None:
            spec.setdefault("postBuild", {})["substituteFrom"] = copy.deepcopy(self.substitute_from)
        patches = list(spec.get("patches") or []) + self.patches(k)
        if patches:
            spec["patches"] = patches
        return obj

    def patches(self, k) -> list[dict]:
        """The render's own patches for `k` (each adaptation's operations, a delete for each object left out),
        and for each Kustomization in its output the operations that rewrite it as devenv writes Kustomizations
        (nested ones Flux creates itself); one left out of the render is deleted from Flux's build too."""
        spec = k.object.get("spec") or {}
        prefix, suffix = str(spec.get("namePrefix") or ""), str(spec.get("nameSuffix") or "")
        out = list(k.patches)
        for resource, built in zip(k.resources, k.built):
            if not is_flux_kustomization(resource):
                continue
            child = self.by_id.get(_id(resource, k))
            if child is None:  # not rendered (or left out): Flux must not create it either
                out.append(patches.delete_patch(built, prefix, suffix))
            else:
                ops = self.rewrite_ops(resource, self.kustomization(child))
                out.append(patches.ops_patch(built, ops, prefix, suffix))
        return out

    def rewrite_ops(self, resource: Mapping, rewritten: Mapping) -> list[dict]:
        """JSON 6902 operations setting on the object in the build the fields devenv's rewrite sets (labels,
        source, dependsOn, patches; path, namespaces, service account and substituteFrom when it sets them)."""
        meta, have, want = resource.get("metadata") or {}, resource.get("spec"), rewritten["spec"]
        ops: list[dict] = [{"op": "add", "path": "/metadata/labels", "value": rewritten["metadata"]["labels"]}]
        if rewritten["metadata"].get("namespace") != meta.get("namespace"):
            ops.append({"op": "add", "path": "/metadata/namespace", "value": rewritten["metadata"]["namespace"]})
        if not isinstance(have, dict):
            ops.append({"op": "add", "path": "/spec", "value": {}})
            have = {}
        fields = ["sourceRef", "dependsOn", "patches"] + [name for name, rewrites in (
            ("path", self.path_prefix), ("targetNamespace", self.target_namespace),
            ("serviceAccountName", self.service_account)) if rewrites]
        for name in fields:
            if name in want:
                ops.append({"op": "add", "path": f"/spec/{name}", "value": want[name]})
            elif name in have:
                ops.append({"op": "remove", "path": f"/spec/{name}"})
        if self.substitute_from is not None:
            if isinstance(have.get("postBuild"), dict):
                ops.append({"op": "add", "path": "/spec/postBuild/substituteFrom",
                            "value": want["postBuild"]["substituteFrom"]})
            else:
                ops.append({"op": "add", "path": "/spec/postBuild", "value": want["postBuild"]})
        return ops


def _id(obj: Mapping, parent) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace') or parent.namespace}/{meta.get('name')}"


# -- delivering one environment -----------------------------------------------------------------


@dataclass
class Delivered:
    source: dict
    kustomizations: list[dict]
    pushed: bool
    revision: str = ""
    changes: list[str] = field(default_factory=list)


class FluxDelivery:
    """Delivers a RenderResult through the cluster's Flux for one environment: the environment objects and
    the cluster folder's own objects applied (as apply delivery does), the working tree pushed, the
    OCIRepository and the Kustomizations applied, Kustomizations the platform no longer has deleted (Flux
    prunes what they applied), then Ready awaited along dependsOn."""

    def __init__(self, kube: Kube, environment: str, tags: Mapping[str, str], *, registry: Registry,
                 namespace: str = "flux-system", move_kustomizations: bool = False,
                 target_namespace: str | None = None, service_account: str | None = None,
                 substitute_from: list[dict] | None = None, progress: Progress | None = None,
                 run: Callable[..., process.Result] = process.run, git: GitSource | None = None,
                 registry_auth: Mapping[str, object] | None = None):
        from devenv.domain import labels as label_keys
        from devenv.delivery.apply import ApplyDelivery

        self.kube = kube
        self.environment = environment
        self.tags = {k: v for k, v in tags.items() if k in (label_keys.MANAGED, label_keys.ENVIRONMENT)}
        self.selector = label_keys.selector(environment)
        self.registry = registry
        self.namespace = namespace
        self.move = move_kustomizations
        self.target_namespace = target_namespace
        self.service_account = service_account
        self.substitute_from = substitute_from
        self.progress = progress or Quiet()
        self.run = run
        self.git = git
        self.registry_auth = dict(registry_auth or {})
        self.apply = ApplyDelivery(kube, environment, tags, inventory_namespace=namespace, progress=self.progress)

    @property
    def source_ref(self) -> dict:
        return {"kind": "GitRepository" if self.git else "OCIRepository", "name": SOURCE_NAME,
                "namespace": self.namespace}

    def source(self, platform: Path) -> tuple[dict, str, bool]:
        """The source object for the platform, and what happened to it: the working tree pushed as an OCI
        artifact (unless unchanged), or with `--from-git` a GitRepository on the branch; and whether it pushed."""
        if self.git is not None:
            if self.git.uncommitted:
                self.progress.warn("--from-git: the platform has uncommitted changes, which Flux does not see "
                                   f"(it pulls {self.git.branch} from {self.git.url})")
            self.progress.note(f"• --from-git: {self.git.describe()}")
            return (git_source_object(SOURCE_NAME, self.namespace, self.git, labels=self.tags, platform=platform),
                    f"platform: GitRepository {self.git.url} branch {self.git.branch}", False)
        with phase("push artifact"):
            artifact, pushed = self.push(platform)
        source = source_object(SOURCE_NAME, self.namespace, _pulled(artifact, self.registry),
                               insecure=self.registry.insecure, labels=self.tags, platform=platform,
                               auth=self.registry_auth)
        return source, f"platform: {'pushed ' + artifact.digest[:19] if pushed else 'unchanged'}", pushed

    def deliver(self, rendered, environment_objects: Iterable[dict] = (), *, timeout: float | None = None,
                reconcile: bool = False, check: Callable[[], None] | None = None) -> Delivered:
        from devenv.delivery.apply import go_duration

        with phase("environment objects"):
            self.apply.apply_environment(environment_objects)
            if self.registry.hosting is not None:
                self.kube.apply(self.apply.labelled(self.registry.hosting), force=self.apply.is_ours)
            for mirror in (k for k in rendered.kustomizations if k.mirror):
                self.apply.apply_kustomization(mirror, True)
        source, said, pushed = self.source(rendered.platform)
        before = self.applied_objects() if reconcile else {}
        self.kube.apply(source, force=self.apply.is_ours)
        objects = kustomization_objects(rendered, source=self.source_ref,
                                        namespace=self.namespace if self.move else None,
                                        target_namespace=self.target_namespace, service_account=self.service_account,
                                        substitute_from=self.substitute_from, labels=self.tags,
                                        path_prefix=self.git.prefix if self.git else "")
        changes = [said]
        for obj in objects:
            live = self.kube.get(obj)
            applied = self.kube.apply(obj, force=self.apply.is_ours)
            if live is None or _generation(live) != _generation(applied):
                changes.append(f"Kustomization {obj['metadata']['namespace']}/{obj['metadata']['name']}: "
                               f"{'created' if live is None else 'changed'}")
        changes += self.prune(objects)
        requested = request_reconcile(self.kube, [source] + objects) if reconcile else None
        if timeout is None:
            timeout = sum(go_duration((o.get("spec") or {}).get("timeout") or "5m") for o in objects) or 300.0
        self.progress.note(f"• waiting for Flux to reconcile {len(objects)} Kustomizations")
        with phase("flux reconcile"):
            revision = wait_ready(self.kube, objects, timeout=timeout, progress=self.progress, source=source,
                                  requested=requested, check=check)
        if reconcile:
            changes += _compare(before, self.applied_objects())
        return Delivered(source, objects, pushed, revision, changes)

    def applied_objects(self) -> dict[str, str]:
        """What Flux applied for this environment (every Kustomization's inventory, nested ones included):
        `Kind namespace/name` -> its generation (resourceVersion for kinds without one)."""
        out: dict[str, str] = {}
        todo = self.kube.list(KUSTOMIZE_API, "Kustomization", selector=self.selector)
        seen: set[str] = set()
        while todo:
            k = todo.pop()
            key = f"{k['metadata']['namespace']}/{k['metadata']['name']}"
            if key in seen:
                continue
            seen.add(key)
            live = k if "status" in k else self.kube.get(k)
            for ref in inventory(live):
                if is_kustomization(ref):
                    todo.append(ref)
                obj = self.kube.get(ref)
                if obj is not None:  # the generation counts spec changes only (not status); else any change
                    meta = obj["metadata"]
                    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
                    out[f"{ref['kind']} {where}{meta['name']}"] = str(meta.get("generation")
                                                                      or meta.get("resourceVersion"))
        return out

    def push(self, platform: Path) -> tuple[Artifact, bool]:
        """The working tree as an artifact: pushed unless the OCIRepository already serves these very files."""
        root = Path(platform).resolve()
        current = fingerprint(root, working_tree(root))
        live = self.kube.get({"apiVersion": SOURCE_API, "kind": "OCIRepository",
                              "metadata": {"name": SOURCE_NAME, "namespace": self.namespace}})
        if live is not None and (live["metadata"].get("annotations") or {}).get(FINGERPRINT) == current:
            spec = live.get("spec") or {}
            digest = (spec.get("ref") or {}).get("digest")
            if digest:
                return Artifact(spec["url"], "latest", digest, current), False
        self.progress.note(f"• pushing the platform's working tree to {self.registry.push}")
        artifact = push_source(root, self.registry.push, repository_for(self.environment), "latest",
                               insecure=self.registry.insecure, run=self.run)
        return artifact, True

    def prune(self, objects: list[dict]) -> list[str]:
        """Delete this environment's Kustomizations the platform no longer renders (Flux prunes their output)."""
        keep = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects}
        removed = []
        for live in self.kube.list(KUSTOMIZE_API, "Kustomization", selector=self.selector):
            key = (live["metadata"]["namespace"], live["metadata"]["name"])
            if key not in keep and self.apply.is_ours(live):
                self.kube.delete(live)
                removed.append(f"Kustomization {key[0]}/{key[1]}: deleted (no longer rendered)")
        return removed


def _compare(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """What Flux created, changed or pruned between two looks at what it applied."""
    out = [f"{name}: created" for name in after if name not in before]
    out += [f"{name}: changed" for name in after if name in before and after[name] != before[name]]
    out += [f"{name}: deleted" for name in before if name not in after]
    return out or ["nothing in the cluster changed"]


def repository_for(environment: str) -> str:
    return f"devenv/{environment}/platform"


def _pulled(artifact: Artifact, registry: Registry) -> Artifact:
    """The artifact as the cluster reaches it (the registry's in-cluster address)."""
    url = artifact.url
    if registry.pull != registry.push and url.startswith(f"oci://{registry.push}/"):
        url = f"oci://{registry.pull}/" + url[len(f"oci://{registry.push}/"):]
    return Artifact(url, artifact.tag, artifact.digest, artifact.fingerprint)


def _generation(obj: Mapping) -> object:
    return (obj.get("metadata") or {}).get("generation")
