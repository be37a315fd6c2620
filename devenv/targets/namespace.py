"""The namespace target: an environment as one namespace in a shared cluster that already runs Flux (the
shared EKS cluster), for reviews and demos a laptop cannot host.

`up` refuses a context that is not allowed (devenv.domain.contexts) before any call, and a namespace of that name
that devenv did not make for this environment. It applies the namespace and its guard rails
(devenv.domain.tenancy: quota, limits, network isolation, the ServiceAccount Flux runs the environment as), the
data services as StatefulSets (devenv.services.workloads) with credentials generated into a Secret there (an
`aws` stand-in as a Deployment that seeds itself from a Secret holding the profile's `secrets:`), the
`environment` ConfigMap and Secret pointing at them, then delivers the platform through the cluster's
own Flux: the working tree pushed to the profile's registry, an OCIRepository for it, the environment's
Kustomizations with `targetNamespace` and `serviceAccountName` set, and waits along `dependsOn`. A failed
first `up` removes the namespace it made (unless --retain). `down` deletes the Kustomizations (Flux prunes
what they applied, as the environment's ServiceAccount) and then the namespace. Nothing here reads, changes
or deletes a namespace without this environment's ownership labels.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import time
from pathlib import Path
from typing import Callable, Iterator, Mapping

from devenv.domain import contexts, labels, tenancy
from devenv.clients import process
from devenv.delivery.flux import (
    PLATFORM, SOURCE_API, SOURCE_NAME, Artifact, FluxDelivery, fingerprint, git_source, git_source_object,
    kustomization_objects, registry_auth, source_object, working_tree,
)
from devenv.errors import (
    DeliveryFailed, DevenvError, EnvironmentNotFound, InvalidInput, KubeError, ReadinessTimeout, ToolMissing,
)
from devenv.flux.kustomize import BuildCache
from devenv.clients.kube import CURRENT, Kube, current_look, describe
from devenv.domain.plan import RULES, Plan
from devenv.clients.registry import ENV as REGISTRY_ENV, Registry
from devenv.services import swap_for
from devenv.services.aws import namespace_seed
from devenv.services.base import readiness_timeout
from devenv.services.workloads import Workload, credentials_secret, objects as workload_objects
from devenv.targets import (
    MASK, Declining, EnvironmentState, Progress, Silent, UpResult, annotated, say_retained,
)
from devenv.targets.namespace_removal import contents, namespace_ref, remove
from devenv.targets.namespace_state import expiry, from_labels, planned_state, read_state
from devenv.timings import phase
from devenv.wait import SYSTEM, Clock, until

log = logging.getLogger(__name__)

FLUX_CRDS = ("kustomizations.kustomize.toolkit.fluxcd.io", "ocirepositories.source.toolkit.fluxcd.io")
QUOTA_LOOK_EVERY = 2.0


class NamespaceTarget(Declining):
    name = "namespace"
    rules = RULES["namespace"]

    def __init__(self, connect: Callable[..., Kube] = Kube, run: Callable[..., process.Result] = process.run,
                 known_contexts: Callable[[], tuple[str, ...]] = contexts.known):
        self.connect = connect  # the kube seam: (kubeconfig, context) -> devenv.clients.kube.Kube
        self.run = run
        self.known_contexts = known_contexts

    # -- up ----------------------------------------------------------------------------------

    def preflight(self, plan: Plan, builds: BuildCache | None = None) -> None:
        """What `up` checks before it sends anything to the cluster: delivery `flux`, a registry to push to,
        the flux CLI, and the platform renders offline for the namespace."""
        if plan.profile.delivery != "flux":
            raise InvalidInput(f"profile {plan.profile.name!r} asks for delivery {plan.profile.delivery!r}; a namespace "
                               "environment is delivered by the shared cluster's own Flux",
                               hint=f"set `delivery: flux` in {plan.profile.path}")
        if plan.from_git:
            self.git(plan)
        else:
            self.registry(plan)
        if process.which("flux") is None:
            raise ToolMissing("flux is not installed (not found on PATH); the namespace target pushes the platform "
                              "with `flux push artifact`", hint=process.INSTALL_HINTS["flux"])
        self.render(plan, passwords=None, builds=builds)

    def preview(self, plan: Plan) -> list[dict]:
        """`up --dry-run`: the checks `up` makes before it sends anything (preflight), then per service the
        StatefulSet it would create (`objects` lists every object)."""
        self.preflight(plan)
        return [{"service": s.name, "action": f"create {Workload(s.name, plan.namespace).controller(s.type)['kind']} "
                                              f"{plan.namespace}/{s.name} (kept if it exists)",
                 "port": None, "note": ""} for s in plan.services]

    def up(self, plan: Plan, progress: Progress = Silent(), *, retain: bool = False,
           merge_kubeconfig: bool = False) -> UpResult:
        if merge_kubeconfig:
            self.refuse_merge_kubeconfig(plan)  # the shared cluster's context is already the user's
        builds = BuildCache()
        self.preflight(plan, builds)
        with self.connect(None, plan.context) as kube:
            warning = kube.check_version()
            if warning:
                progress.warn(warning)
            self.check_lockdown(kube, progress)
            existing = kube.get(namespace_ref(plan.namespace))
            _refuse_foreign(existing, plan)
            missing = [name for name in FLUX_CRDS if kube.status(_crd(name))[0] != CURRENT]
            if missing:
                raise InvalidInput(f"the cluster of context {plan.context} does not run Flux ({', '.join(missing)} not "
                                   "served); a namespace environment is delivered by the cluster's Flux",
                                   hint="install Flux there (`flux install`), or use a kind profile (`--profile local`)")
            progress.note(f"• namespace {plan.namespace} in context {plan.context}: "
                          f"{'found' if existing else 'creating'}")
            contexts.remember(plan.context)
            try:
                return self.converge(plan, kube, existing, progress, builds)
            except BaseException as failure:
                if retain:
                    say_retained(failure, plan.environment, f"namespace {plan.namespace}",
                                 f"`kubectl --context {plan.context} -n {plan.namespace} get all,kustomizations`")
                elif existing is None:
                    with contextlib.suppress(DevenvError):
                        progress.note(f"• removing namespace {plan.namespace}, which this run made")
                        remove(kube, plan.namespace, plan.environment, progress)
                raise

    def converge(self, plan: Plan, kube: Kube, existing: Mapping | None, progress: Progress,
                 builds: BuildCache | None = None) -> UpResult:
        ns = plan.namespace
        tags, annotations = self.tags(plan, existing)
        inner = _inner(tags)
        ours = _ours(plan.environment)
        changes = []
        with phase("namespace and guard rails"):
            for obj in tenancy.guard_rails(ns, plan.profile.namespace, tags, annotations, inner_tags=inner):
                changes.append(_applied(kube, obj, ours))
        credentials: dict[str, dict[str, str]] = {}
        since = time.time() - 5  # quota refusals from now on are this run's
        with phase("data services"):
            for svc in plan.services:  # all first: an aws stand-in's seed holds the others' passwords
                credentials[svc.name] = self.credentials_for(kube, svc.spec, ns, inner)
            for svc in plan.services:
                seed = namespace_seed(plan.profile, plan.environment, ns, svc.name, credentials) \
                    if svc.type == "aws" else None
                for obj in workload_objects(svc.spec, ns, inner, svc.image, plan.profile.namespace, seed=seed):
                    try:
                        changes.append(_applied(kube, obj, ours))
                    except KubeError as err:
                        if obj["kind"] == "StatefulSet" and "updates to statefulset spec" in err.message:
                            raise InvalidInput(
                                f"data service {svc.name}: its volume settings changed ({err.message[:200]}); "
                                "Kubernetes keeps a StatefulSet's volumes as they were made",
                                hint=f"`devenv down {plan.environment}` then `devenv up` makes it again (its data "
                                     "goes), or keep the profile's namespace.volumeSize/storageClass") from None
                        raise
                if svc.spec.seed and not swap_for(svc.type).seeds_at_init():
                    progress.warn(f"{svc.name}: its seed ({', '.join(p.name for p in svc.spec.seed)}) is not loaded in "
                                  "a namespace environment (devenv loads OpenSearch seeds from this machine, which "
                                  "does not reach the pod)")
        passwords = {name: c["password"] for name, c in credentials.items() if "password" in c}
        self.check_secrets(kube, plan, progress)
        check = _QuotaWatch(kube, ns, since)
        changes += self.deliver(plan, kube, passwords, progress, builds=builds, check=check)
        with phase("data services ready"):
            self.wait_services(kube, plan, check)
        services = tuple(planned_state(plan, svc, credentials[svc.name]) for svc in plan.services)
        return UpResult(services=services, changes=tuple(c for c in changes if c))

    def check_lockdown(self, kube: Kube, progress: Progress) -> None:
        """Warn when the cluster's Flux runs without the multi-tenancy lockdown flags (read from its
        controllers' Deployments); when they cannot be read, say so only at -v."""
        def read(controller: str) -> Mapping | None:
            try:
                return kube.get({"apiVersion": "apps/v1", "kind": "Deployment",
                                 "metadata": {"name": controller, "namespace": tenancy.FLUX_NAMESPACE}})
            except KubeError as err:  # forbidden to a tenant: nothing to say unless asked
                log.info("cannot read Deployment %s/%s: %s", tenancy.FLUX_NAMESPACE, controller, err.message)
                return None

        warning, seen = tenancy.flux_lockdown_warning(read)
        log.info("%s", seen)
        if warning:
            progress.warn(warning)

    def check_secrets(self, kube: Kube, plan: Plan, progress: Progress) -> None:
        """The Secrets the profile says the shared cluster holds in the namespace (for the registry or Git):
        warn, naming each, when one is not there, since its source would never become Ready."""
        spec = plan.profile.namespace
        auth = {} if plan.from_git else self.registry_auth(plan)  # none with $DEVENV_REGISTRY
        named = ([("namespace.git.secretRef", spec.git_secret)] if plan.from_git else
                 [(f"namespace.registry.{key}", auth[key]["name"]) for key in ("secretRef", "certSecretRef")
                  if key in auth])
        for field_name, secret in named:
            if secret and kube.get({"apiVersion": "v1", "kind": "Secret",
                                    "metadata": {"name": secret, "namespace": plan.namespace}}) is None:
                progress.warn(f"Secret {plan.namespace}/{secret} ({field_name} in {plan.profile.path}) is not in the "
                              "namespace: the platform's source stays not Ready until the cluster provides it")

    def git(self, plan: Plan):
        return git_source(plan.platform, plan.profile.namespace.git_secret)

    def registry_auth(self, plan: Plan) -> dict[str, object]:
        spec = plan.profile.namespace
        if os.environ.get(REGISTRY_ENV, "").strip():
            return {}  # $DEVENV_REGISTRY: a plain-HTTP registry both sides reach, no login
        return registry_auth(spec.registry_provider, spec.registry_secret, spec.registry_cert_secret)

    def tags(self, plan: Plan, existing: Mapping | None) -> tuple[dict[str, str], dict[str, str]]:
        """The environment's labels and annotations for its objects; an existing namespace keeps when it was
        created, by whom and when it expires (`extend` changes that)."""
        tags, annotations = labels.for_kubernetes({k: v for k, v in plan.labels.items() if k != labels.RUN})
        if existing is not None:
            before = (existing.get("metadata") or {}).get("labels") or {}
            for key in (labels.CREATED, labels.EXPIRES, labels.OWNER, labels.KEEP):
                if key in before:
                    tags[key] = before[key]
                else:
                    tags.pop(key, None)
        return tags, annotations

    def credentials_for(self, kube: Kube, spec, namespace: str, tags: Mapping[str, str]) -> dict[str, str]:
        """The service's credentials: those its Secret holds (the data was initialised with them), else new."""
        swap = swap_for(spec.type)
        ref = {"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": Workload(spec.name, namespace).secret, "namespace": namespace}}
        live = kube.get(ref)
        if live is not None and _ours(tags[labels.ENVIRONMENT])(live):
            found = {k: base64.b64decode(v).decode() for k, v in (live.get("data") or {}).items()}
            if all(key in found for key in swap.credential_keys):
                return found
        fresh = swap.new_credentials()
        kube.apply(credentials_secret(spec, namespace, tags, fresh), force=_ours(tags[labels.ENVIRONMENT]))
        return fresh

    def wait_services(self, kube: Kube, plan: Plan, check: Callable[[], None], clock: Clock = SYSTEM) -> None:
        """Every service's StatefulSet (the aws stand-in's Deployment) Ready (its pod's readiness probe runs a real
        query), or why not."""
        pending = {svc.name: Workload(svc.name, plan.namespace).controller(svc.type) for svc in plan.services}
        timeout = max((readiness_timeout(swap_for(s.type)) for s in plan.services), default=0) + 60

        look = current_look(kube, pending, lambda name, message: ReadinessTimeout(
            f"data service {name} failed in namespace {plan.namespace}: {message}"))
        until(look, what=f"data services in namespace {plan.namespace}", timeout=timeout, poll=1.0, clock=clock,
              between=lambda _: check(),
              give_up=lambda seen: ReadinessTimeout(
                  f"data service(s) {', '.join(pending)} not ready within {timeout:g}s in namespace {plan.namespace}",
                  context=seen.lines, hint=f"kubectl --context {plan.context} -n {plan.namespace} describe pods"))

    def render(self, plan: Plan, passwords: Mapping[str, str] | None, *, baselines: bool = False,
               builds: BuildCache | None = None, kube: Kube | None = None):
        from devenv.flux.render import render_environment  # kustomize and the render pipeline: only when needed

        kube_labels, _ = labels.for_kubernetes({k: v for k, v in plan.labels.items() if k != labels.RUN})
        return render_environment(plan.profile, plan.environment, platform=plan.platform, labels=kube_labels,
                                  namespace=plan.namespace, passwords=passwords, baselines=baselines,
                                  build_cache=builds, cluster_scoped=_discovery(kube) if kube else None)

    def registry(self, plan: Plan) -> Registry:
        """Where the working tree goes: $DEVENV_REGISTRY (a registry this machine and the cluster both reach,
        plain HTTP, as the lab's), else the profile's `namespace.registry` (HTTPS)."""
        external = os.environ.get(REGISTRY_ENV, "").strip()
        if external:
            return Registry(external, external, insecure=True)
        named = plan.profile.namespace.registry
        if not named:
            raise InvalidInput(f"profile {plan.profile.name!r} names no registry for the platform's artifact",
                               hint=f"set `namespace: {{registry: HOST[/PATH]}}` in {plan.profile.path} (one the "
                                    f"cluster's source-controller can pull from), or ${REGISTRY_ENV}=host:port")
        return Registry(named, named, insecure=False)

    def deliver(self, plan: Plan, kube: Kube, passwords: Mapping[str, str], progress: Progress, *,
                reconcile: bool = False, builds: BuildCache | None = None,
                check: Callable[[], None] | None = None) -> list[str]:
        with phase("render"):
            rendered = self.render(plan, passwords, baselines=True, builds=builds, kube=kube)
        for excluded in rendered.excluded:
            if excluded.kind == "Kustomization":
                progress.note(f"• Kustomization {excluded.name} left out: {excluded.reason[:160]}")
        _, annotations = labels.for_kubernetes(dict(plan.labels))
        env_objects = [annotated(o, annotations) for o in rendered.environment_objects]
        # copies of the chart sources HelmReleases named in other namespaces (tenancy.chart_source_in_tenant)
        env_objects += [annotated(o, annotations) for o in getattr(rendered, "tenant_sources", ())]
        delivery = self.flux_delivery(plan, kube, progress)
        return delivery.deliver(rendered, env_objects, reconcile=reconcile, check=check).changes

    def flux_delivery(self, plan: Plan, kube: Kube, progress: Progress = Silent()) -> FluxDelivery:
        git = self.git(plan) if plan.from_git else None
        registry = Registry("", "") if git else self.registry(plan)
        return FluxDelivery(kube, plan.environment, plan.labels, registry=registry, namespace=plan.namespace,
                            move_kustomizations=True, target_namespace=plan.namespace,
                            service_account=tenancy.SERVICE_ACCOUNT, progress=progress, run=self.run, git=git,
                            registry_auth=None if git else self.registry_auth(plan))

    def converged(self, plan: Plan) -> EnvironmentState | None:
        return self.status(plan.environment, probe=False, context=plan.context)

    def left_after_interrupt(self, plan: Plan) -> list[str]:
        return [f"namespace {plan.namespace}: removed if this run had created it (`devenv list` shows what exists)"]

    def sync_source(self, environment: str, platform: Path | str | None) -> Path | str | None:
        return platform if platform is not None else self.recorded_platform(environment)

    def with_facts(self, state: EnvironmentState) -> EnvironmentState:
        """Its services' facts are read from the cluster (their Secrets): the state probed, in its context."""
        return self.status(state.name, context=state.context) or state

    def sync(self, plan: Plan, passwords: Mapping[str, str], progress: Progress = Silent()) -> list[str]:
        """`devenv sync`: push the working tree again and have the cluster's Flux reconcile now."""
        with self.connect(None, plan.context) as kube:
            _refuse_foreign(kube.get(namespace_ref(plan.namespace)), plan, must_exist=True)
            return self.deliver(plan, kube, passwords, progress, reconcile=True)

    def objects(self, plan: Plan) -> list[dict]:
        """Every object `up` would create (`up --dry-run`), secrets masked: the namespace is the only
        cluster-scoped one."""
        tags, annotations = self.tags(plan, None)
        inner = _inner(tags)
        ns = plan.namespace
        out = tenancy.guard_rails(ns, plan.profile.namespace, tags, annotations, inner_tags=inner)
        for svc in plan.services:
            swap = swap_for(svc.type)
            out.append(credentials_secret(svc.spec, ns, inner, {key: MASK for key in swap.credential_keys}))
            seed = {d.name: MASK for d in plan.profile.secrets if d.service in (None, svc.name)}  # names only
            out += workload_objects(svc.spec, ns, inner, svc.image, plan.profile.namespace,
                                    seed=seed if svc.type == "aws" else None)
        rendered = self.render(plan, None, baselines=True)
        out += [annotated(_masked(o), annotations) for o in rendered.environment_objects]
        out += [annotated(o, annotations) for o in getattr(rendered, "tenant_sources", ())]
        root = Path(plan.platform)
        delivery_tags = {k: v for k, v in tags.items() if k in (labels.MANAGED, labels.ENVIRONMENT)}
        git = self.git(plan) if plan.from_git else None
        if git is not None:
            out.append(git_source_object(SOURCE_NAME, ns, git, labels=delivery_tags, platform=root))
        else:
            from devenv.delivery.flux import repository_for

            registry = self.registry(plan)
            # the digest is the push's, known once `up` has pushed: the preview names the tag that push moves
            # and, on the annotation `up` writes too, the fingerprint of the files it would push
            artifact = Artifact(f"oci://{registry.pull}/{repository_for(plan.environment)}", "latest", "",
                                fingerprint(root, working_tree(root)))
            source = source_object(SOURCE_NAME, ns, artifact, insecure=registry.insecure, labels=delivery_tags,
                                   platform=root, auth=self.registry_auth(plan))
            source["spec"]["ref"] = {"tag": artifact.tag}
            out.append(source)
        source = {"kind": "GitRepository" if git else "OCIRepository", "name": SOURCE_NAME, "namespace": ns}
        out += kustomization_objects(rendered, source=source, namespace=ns, target_namespace=ns,
                                     service_account=tenancy.SERVICE_ACCOUNT, labels=delivery_tags,
                                     path_prefix=git.prefix if git else "")
        return out

    # -- finding environments ----------------------------------------------------------------

    def contexts(self) -> tuple[str, ...]:
        return self.known_contexts()

    @contextlib.contextmanager
    def located(self, environment: str, context: str | None = None) -> Iterator[tuple[Kube, str, dict] | None]:
        """The environment's namespace (and a connection to its cluster), looked for in `context`, else in
        every known context."""
        selector = {**labels.selector(environment), labels.TARGET: "namespace"}
        for context in ((context,) if context else self.contexts()):
            try:
                kube = self.connect(None, context)
            except KubeError as err:
                log.warning("context %s: %s", context, err.message)
                continue
            with kube:
                try:
                    found = kube.list("v1", "Namespace", selector=selector)
                except KubeError as err:
                    log.warning("context %s: %s", context, err.message)
                    continue
                if found:
                    yield kube, context, found[0]
                    return
        yield None

    def environments(self) -> list[EnvironmentState]:
        """Every namespace environment in every known context (from the namespaces' labels: cheap)."""
        out = []
        for context in self.contexts():
            try:
                with self.connect(None, context) as kube:
                    found = kube.list("v1", "Namespace", selector={labels.MANAGED: "true", labels.TARGET: "namespace"})
            except KubeError as err:
                log.warning("context %s: %s", context, err.message)
                continue
            out += [from_labels(ns, context) for ns in found]
        return out

    def status(self, environment: str, *, probe: bool = True, context: str | None = None) -> EnvironmentState | None:
        with self.located(environment, context) as found:
            if found is None:
                return None
            kube, context, namespace = found
            return read_state(kube, context, namespace, probe=probe)

    def credentials(self, environment: str, service: str) -> dict[str, str]:
        found = self.status(environment)
        if found is None:
            return {}
        for svc in found.services:
            if svc.name == service:
                return dict(svc.facts)
        return {}

    def remove_leftovers(self, environment: str, *, dry_run: bool = False) -> list[str]:
        return []  # a failed `up` removes the namespace it made; what stays is found by its expiry

    def recorded_platform(self, environment: str) -> Path | None:
        with self.located(environment) as found:
            if found is None:
                return None
            kube, _, namespace = found
            source = kube.get({"apiVersion": SOURCE_API, "kind": "OCIRepository",
                               "metadata": {"name": SOURCE_NAME, "namespace": namespace["metadata"]["name"]}})
            path = ((source or {}).get("metadata", {}).get("annotations") or {}).get(PLATFORM)
            return Path(path) if path else None

    # -- down, extend ------------------------------------------------------------------------

    def down(self, environment: str, *, keep_data: bool = False, dry_run: bool = False,
             progress: Progress = Silent()) -> list[str]:
        """Delete the environment's Kustomizations (Flux prunes what they applied), then its namespace and
        everything in it; with `dry_run`, every object that would go."""
        with self.located(environment) as found:
            if found is None:
                return []
            kube, context, namespace = found
            ns = namespace["metadata"]["name"]
            if keep_data:
                raise InvalidInput(f"--keep-data: environment {environment} keeps its data in PersistentVolumeClaims "
                                   f"of namespace {ns}, which `down` deletes with the namespace",
                                   hint=f"`devenv extend {environment} --ttl 1d` keeps it longer instead")
            if dry_run:
                return [f"Namespace {ns} (context {context})"] + [f"{describe(o)}" for o in contents(kube, ns)]
            kustomizations = remove(kube, ns, environment, progress)
            return ([f"Kustomization {ns}/{k['metadata']['name']} (Flux pruned what it applied)" for k in kustomizations]
                    + [f"Namespace {ns} (context {context}) and everything in it"])

    def extend(self, environment: str, ttl_seconds: int, *, dry_run: bool = False,
               now: float | None = None) -> tuple[int | None, int | None]:
        """Expire the environment `ttl_seconds` from now (0: never); returns (expiry before, expiry after)."""
        with self.located(environment) as found:
            if found is None:
                raise EnvironmentNotFound(f"no environment named {environment}: nothing carries its labels",
                                          hint="`devenv list` shows the environments that exist")
            kube, _, namespace = found
            before = expiry(namespace)
            after = int((now if now is not None else time.time()) + ttl_seconds) if ttl_seconds else None
            if not dry_run:
                kube.merge_patch(namespace, {"metadata": {"labels": {labels.EXPIRES: str(after) if after else None}}})
            return before, after


# -- helpers ---------------------------------------------------------------------------------


class _QuotaWatch:
    """Raises DeliveryFailed as soon as the namespace's ResourceQuota refuses a pod of this run (the pods'
    controllers report it as FailedCreate events), instead of waiting out the Kustomizations' timeouts."""

    def __init__(self, kube: Kube, namespace: str, since: float):
        self.kube, self.namespace, self.since = kube, namespace, since
        self.next_look = 0.0

    def __call__(self) -> None:
        if time.monotonic() < self.next_look:
            return
        self.next_look = time.monotonic() + QUOTA_LOOK_EVERY
        for event in self.kube.list("v1", "Event", namespace=self.namespace):
            message = str(event.get("message") or "")
            if event.get("reason") != "FailedCreate" or "exceeded quota" not in message:
                continue
            when = event.get("lastTimestamp") or event.get("eventTime") or ""
            if when and _unix(when) < self.since:
                continue
            involved = event.get("involvedObject") or {}
            raise DeliveryFailed(
                f"namespace {self.namespace}'s ResourceQuota refuses the pods of {involved.get('kind')} "
                f"{involved.get('name')}: {message}",
                hint="raise `namespace.quota` in the profile, or lower the workloads' requests and replicas")


def _unix(stamp: str) -> float:
    from datetime import datetime

    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _discovery(kube: Kube) -> Callable[[Mapping], bool | None]:
    """Whether the cluster serves an object's kind without a namespace (None: it does not serve the kind)."""
    answers: dict[tuple[str, str], bool | None] = {}

    def cluster_scoped(obj: Mapping) -> bool | None:
        key = (str(obj.get("apiVersion")), str(obj.get("kind")))
        if key not in answers:
            try:
                answers[key] = not kube.resource(*key, attempts=1).namespaced
            except KubeError:
                answers[key] = None
        return answers[key]

    return cluster_scoped


def _inner(tags: Mapping[str, str]) -> dict[str, str]:
    """The labels of the objects inside the namespace: what finds them, never what changes (the expiry, which
    `extend` moves, lives on the namespace; a StatefulSet's volume templates cannot change at all)."""
    return {k: v for k, v in tags.items() if k in (labels.MANAGED, labels.ENVIRONMENT, labels.PROFILE, labels.TARGET)}


def _crd(name: str) -> dict:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": name}}


def _ours(environment: str) -> Callable[[Mapping], bool]:
    def check(live: Mapping) -> bool:
        found = (live.get("metadata") or {}).get("labels") or {}
        return found.get(labels.MANAGED) == "true" and found.get(labels.ENVIRONMENT) == environment
    return check


def _refuse_foreign(existing: Mapping | None, plan: Plan, *, must_exist: bool = False) -> None:
    if existing is None:
        if must_exist:
            raise InvalidInput(f"namespace {plan.namespace} does not exist in context {plan.context}",
                               hint=f"`devenv up {plan.environment} --profile {plan.profile.name}` makes it")
        return
    if not tenancy.is_ours(existing, plan.environment):
        raise InvalidInput(f"namespace {plan.namespace} exists in context {plan.context} and devenv did not make it "
                           f"for environment {plan.environment}: devenv leaves it alone; nothing was changed",
                           hint="choose another environment name, or another `namespace.prefix` in the profile")
    if (existing.get("metadata") or {}).get("deletionTimestamp"):
        raise InvalidInput(f"namespace {plan.namespace} is being deleted (an earlier `devenv down`)",
                           hint="wait until it is gone (`devenv list`), then run `devenv up` again")


def _applied(kube: Kube, obj: dict, ours: Callable[[Mapping], bool]) -> str:
    before = kube.get(obj)
    after = kube.apply(obj, force=ours)
    if before is None:
        return f"{describe(obj)}: created"
    version = lambda o: (o.get("metadata") or {}).get("resourceVersion")  # noqa: E731
    return f"{describe(obj)}: changed" if version(before) != version(after) else ""


def _masked(obj: dict) -> dict:
    if obj.get("kind") != "Secret":
        return obj
    return {**obj, "stringData": {k: MASK for k in obj.get("stringData") or {}}}


