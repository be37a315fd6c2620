"""The kind target: a kind cluster per environment, its data services as Docker containers joined to the
kind network, the `environment` ConfigMap written, and the rendered Flux Kustomizations applied in order.

Delivery `apply` (the fast inner loop): devenv renders every Flux Kustomization itself and applies the
result through devenv.clients.kube as kustomize-controller would (devenv.delivery.apply); when the render holds
HelmReleases, Flux's source and helm controllers reconcile them (installed unless the cluster has them).
The cluster and the containers come up concurrently. The profile's `registries:` get their credentials from the
user's docker configuration at each `up` and `sync` (devenv.clients.registry_auth): in the node's kubelet config,
and as the Secret the render's adapted Flux sources read.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import replace
from pathlib import Path
from typing import Callable

from devenv.clients import docker, process
from devenv.domain import labels
from devenv.delivery.apply import ApplyDelivery
from devenv.delivery.flux import FluxDelivery
from devenv.errors import DevenvError, EnvironmentNotFound, InvalidInput, PortTaken, ToolMissing
from devenv.flux.kustomize import BuildCache
from devenv.clients.kind import KIND_NETWORK, KindClusters, cluster_name, context_name
from devenv.clients.kube import CURRENT, Kube
from devenv.domain.plan import RULES, Plan
from devenv.domain.profiles import KindSpec
from devenv.clients.registry import Registry
from devenv.clients import registry_auth
from devenv.targets import Declining, EnvironmentState, Progress, Silent, UpResult, annotated, say_retained
from devenv.targets.docker import DockerTarget
from devenv.timings import phase, timed

APPLY_TIMEOUT = 300
FLUX_CONTROLLERS = ("source-controller", "helm-controller")
FLUX_CRDS = ("helmreleases.helm.toolkit.fluxcd.io", "helmrepositories.source.toolkit.fluxcd.io",
             "helmcharts.source.toolkit.fluxcd.io", "ocirepositories.source.toolkit.fluxcd.io")
FLUX_DELIVERY_CONTROLLERS = ("source-controller", "kustomize-controller", "helm-controller")
KUSTOMIZATIONS_CRD = "kustomizations.kustomize.toolkit.fluxcd.io"
# Kinds reconciled by Flux controllers rather than by Kubernetes itself.
NEEDS_FLUX = {"HelmRelease", "HelmRepository", "HelmChart", "OCIRepository", "GitRepository", "Bucket"}


class KindTarget(Declining):
    name = "kind"
    rules = RULES["kind"]

    def __init__(self, services: DockerTarget | None = None, clusters: KindClusters | None = None,
                 run: Callable[..., process.Result] = process.run, connect: Callable[[Path], Kube] = Kube):
        self.services = services or DockerTarget()
        self.clusters = clusters or KindClusters(run=run)
        self.run = run
        self.connect = connect  # the kube seam: a cluster's kubeconfig -> devenv.clients.kube.Kube

    # -- up ----------------------------------------------------------------------------------

    def up(self, plan: Plan, progress: Progress = Silent(), *, retain: bool = False,
           merge_kubeconfig: bool = False) -> UpResult:
        """`retain`: when `up` fails, keep what this run made (the cluster, the containers) for debugging
        instead of removing it; the error's hint says how to remove it. `merge_kubeconfig`: once it is up,
        merge the cluster's context into the user's kubeconfig ($KUBECONFIG's first file, else ~/.kube/config)."""
        builds = BuildCache()  # the preflight render's kustomize builds serve the delivery's render too
        self.preflight(plan, builds)
        credentials = self.registry_credentials(plan)  # before anything is made: a registry without them stops here
        existed = self.clusters.exists(plan.environment)
        kind = plan.profile.kind
        if not existed:  # an existing cluster holds its own ports: only a new one needs them free
            kind = self.ingress_ports(plan)
        node_labels = {k: v for k, v in plan.labels.items()
                       if k in (labels.MANAGED, labels.ENVIRONMENT, labels.PROFILE, labels.OWNER)}
        progress.note(f"• kind cluster {cluster_name(plan.environment)}: {'found' if existed else 'creating'}"
                      + ("" if existed else f" (node image {kind.node_image}, ingress on 127.0.0.1:{kind.http_port} "
                                            f"and :{kind.https_port})"))
        try:
            with ThreadPoolExecutor(max_workers=2, thread_name_prefix="devenv-kind") as pool:
                cluster = pool.submit(timed("kind cluster", self.clusters.create), plan.environment, node_labels,
                                      node_image=kind.node_image, http_port=kind.http_port,
                                      https_port=kind.https_port, retain=retain, exists=existed)
                services = pool.submit(timed("data services", self.services.up), plan, progress, retain=retain)
                try:
                    wait([cluster, services])
                except KeyboardInterrupt:
                    progress.note("• interrupted: waiting for the steps in flight, then removing what this run made")
                    wait([cluster, services])
                    raise
            for step in (cluster, services):
                if step.exception() is not None:
                    raise step.exception()
            kubeconfig = cluster.result()
            result = services.result()
            with phase("kind network"):
                self.join_kind_network(plan)
            passwords = {s.name: s.facts["password"] for s in result.services if "password" in s.facts}
            changes = list(result.changes) + [f"kind cluster: {'unchanged' if existed else 'created'}"]
            changes += self.give_credentials(plan, credentials)
            changes += self.deliver(plan, kubeconfig, passwords, progress, builds=builds, credentials=credentials)
        except BaseException as failure:
            if retain:
                _say_retained(failure, plan.environment, cluster_existed=existed)
            else:
                self.roll_back(plan, cluster_existed=existed)
            raise
        if merge_kubeconfig:  # after the rollback's reach: a kubeconfig that cannot be merged keeps the cluster
            merged = self.clusters.merge_kubeconfig(plan.environment)
            changes.append(f"kubeconfig: context {context_name(plan.environment)} merged into {merged} "
                           f"(kubectl --context {context_name(plan.environment)})")
        return UpResult(services=result.services, changes=tuple(changes))

    def preview(self, plan: Plan) -> list[dict]:
        """`up --dry-run`: the checks `up` makes first (the platform renders, the tools are there), then what
        it would do to each data service container."""
        self.preflight(plan)
        self.registry_credentials(plan)  # up would stop on a registry without credentials: so does the preview
        return self.services.preview(plan)

    def ingress_ports(self, plan: Plan) -> KindSpec:
        """The host ports a new cluster's ingress binds on 127.0.0.1, free now (kind would otherwise fail
        half-way, after pulling its node image): the profile's when it pins them (taken: PortTaken), else
        8080/8443 when free and free ports when not, so environments side by side each get theirs."""
        kind = plan.profile.kind
        if not kind.ports_pinned:
            http = kind.http_port if docker.port_free("127.0.0.1", kind.http_port) else docker.free_port("127.0.0.1")
            https = kind.https_port if docker.port_free("127.0.0.1", kind.https_port) and kind.https_port != http \
                else docker.free_port("127.0.0.1", {http})
            return replace(kind, http_port=http, https_port=https)
        for field, port in (("http", kind.http_port), ("https", kind.https_port)):
            if not docker.port_free("127.0.0.1", port):
                raise PortTaken(
                    f"port {port} on 127.0.0.1, which the kind cluster's ingress ({field.upper()}) would bind, is "
                    f"taken (kind.ingress.{field} of profile {plan.profile.path}); nothing was created",
                    hint=f"stop what listens there, or set another port under `kind: {{ingress: {{{field}: PORT}}}}` "
                         "in the profile",
                )
        return kind

    def preflight(self, plan: Plan, builds: BuildCache | None = None) -> None:
        """What `up` checks before it creates anything (`up --dry-run` too): the platform renders offline (a
        platform, profile or substitution error stops here), and the tools it needs are installed."""
        if plan.profile.delivery not in ("apply", "flux"):
            raise InvalidInput(
                f"profile {plan.profile.name!r} asks for delivery {plan.profile.delivery!r}, which the kind target "
                "does not offer",
                hint="set `delivery: flux` (Flux's controllers apply the platform) or `delivery: apply` (devenv "
                     "renders and applies the Kustomizations itself) in the profile",
            )
        self.render(plan, passwords=None, builds=builds)
        for tool in ("kind",) + (("flux",) if plan.profile.delivery == "flux" else ()):
            if process.which(tool) is None:
                raise ToolMissing(f"{tool} is not installed (not found on PATH); the kind target needs it",
                                  hint=process.INSTALL_HINTS[tool])

    def roll_back(self, plan: Plan, *, cluster_existed: bool) -> None:
        """Remove what this run made: the cluster if it is new, the containers and volumes of this run.
        Best effort: what cannot be removed stays labelled for `down`/`gc`."""
        for undo in ([lambda: self.clusters.delete(plan.environment, verify=False)] if not cluster_existed else []) + [
                lambda: self.services.remove_run(plan.environment, plan.labels[labels.RUN])]:
            try:
                undo()
            except DevenvError:
                pass

    def join_kind_network(self, plan: Plan) -> None:
        """Put each service container on the kind network under its own name, so pods resolve it."""
        client = self.services.client
        with docker.translate(f"find the {KIND_NETWORK} network"):
            network = client.networks.get(KIND_NETWORK)
            network.reload()
            attached = {c.name for c in network.containers}
        for svc in plan.services:
            if svc.container not in attached:
                with docker.translate(f"connect {svc.container} to the {KIND_NETWORK} network"):
                    network.connect(svc.container, aliases=[svc.container])

    def render(self, plan: Plan, passwords: dict[str, str] | None, *, baselines: bool = False,
               builds: BuildCache | None = None):
        from devenv.flux.render import render_environment  # kustomize and the render pipeline: only when needed

        kube_labels, _ = labels.for_kubernetes(dict(plan.labels))
        return render_environment(plan.profile, plan.environment, platform=plan.platform,
                                  labels=kube_labels, passwords=passwords, baselines=baselines,
                                  build_cache=builds)

    def sync_source(self, environment: str, platform: Path | str | None) -> Path | str | None:
        return platform if platform is not None else self.recorded_platform(environment)

    def sync(self, plan: Plan, passwords: dict[str, str], progress: Progress = Silent()) -> list[str]:
        """`devenv sync`: push the working tree again and have Flux reconcile now; what changed."""
        if plan.profile.delivery != "flux":
            raise InvalidInput(f"environment {plan.environment} uses delivery {plan.profile.delivery!r}: `devenv sync` "
                               "pushes to Flux, which delivery `flux` has",
                               hint=f"`devenv up {plan.environment}` applies the platform again")
        credentials = self.registry_credentials(plan)  # resolved again: an ECR token lasts 12 hours
        return self.give_credentials(plan, credentials) + self.deliver(
            plan, self.clusters.kubeconfig(plan.environment), passwords, progress, reconcile=True,
            credentials=credentials)

    def recorded_platform(self, environment: str) -> Path | None:
        """The platform folder the environment's artifact was last pushed from."""
        from devenv.delivery.flux import PLATFORM, SOURCE_API, SOURCE_NAME

        with self.connect(self.clusters.kubeconfig(environment)) as kube:
            for source in kube.list(SOURCE_API, "OCIRepository", selector=labels.selector(environment)):
                if source["metadata"]["name"] == SOURCE_NAME:
                    path = (source["metadata"].get("annotations") or {}).get(PLATFORM)
                    return Path(path) if path else None
        return None

    def deliver(self, plan: Plan, kubeconfig: Path, passwords: dict[str, str], progress: Progress,
                reconcile: bool = False, builds: BuildCache | None = None,
                credentials: registry_auth.Credentials | None = None) -> list[str]:
        """Delivery `apply` through devenv.clients.kube: the environment objects, then every Kustomization in
        dependsOn waves (devenv.delivery.apply). Secrets travel in request bodies, never on a command line."""
        flux = plan.profile.delivery == "flux"
        with phase("render"):
            rendered = self.render(plan, passwords, baselines=flux, builds=builds)
        _, annotations = labels.for_kubernetes(dict(plan.labels))
        env_objects = [annotated(o, annotations) for o in rendered.environment_objects]
        secrets = _credential_secrets(rendered, credentials)  # applied with the environment objects, labelled
        env_objects += [annotated(o, annotations) for o in secrets]
        said = [f"registry credentials ({', '.join(credentials.hosts)}): Secret {secrets[0]['metadata']['name']} in "
                f"{', '.join(o['metadata']['namespace'] for o in secrets)}"] if secrets else []
        with self.connect(kubeconfig) as kube:
            warning = kube.check_version()
            if warning:
                progress.warn(warning)
            said += _remove_stale_credentials(kube, plan.environment, secrets)
            if flux:
                with phase("flux controllers"):
                    self.ensure_flux(kube, kubeconfig, progress, controllers=FLUX_DELIVERY_CONTROLLERS)
                delivery = FluxDelivery(kube, plan.environment, plan.labels, registry=self.registry(plan),
                                        namespace=plan.profile.environment.namespace, progress=progress, run=self.run)
                return said + delivery.deliver(rendered, env_objects, reconcile=reconcile).changes
            if any(r.get("kind") in NEEDS_FLUX for _, r in rendered.resources()):
                with phase("flux controllers"):
                    self.ensure_flux(kube, kubeconfig, progress)
            delivery = ApplyDelivery(kube, plan.environment, plan.labels,
                                     inventory_namespace=plan.profile.environment.namespace, progress=progress)
            with phase("apply and wait"):
                outcomes = delivery.deliver(rendered, env_objects)
        return said + [o.summary() for o in outcomes]

    def registry_credentials(self, plan: Plan) -> registry_auth.Credentials | None:
        """The credentials of the profile's `registries:`, resolved now through the user's docker configuration
        and helpers (devenv.clients.registry_auth; never kept); None when it lists none."""
        if not plan.profile.registries:
            return None
        return registry_auth.resolve(plan.profile.registries, profile=f"profile {plan.profile.path}")

    def give_credentials(self, plan: Plan, credentials: registry_auth.Credentials | None) -> list[str]:
        """kind's private-registry guide: the credentials in each node's kubelet config, so the node pulls the
        platform's private images; what changed."""
        if credentials is None:
            return []
        with phase("registry credentials"):
            nodes = registry_auth.give_to_nodes(credentials, cluster_name(plan.environment), run=self.run)
        return [f"registry credentials ({', '.join(credentials.hosts)}): node {node}'s kubelet config written"
                for node in nodes]

    def registry(self, plan: Plan) -> Registry:
        """Where the platform's artifact goes: `$DEVENV_REGISTRY` (a registry this machine and the cluster
        both reach, as the lab's), else the local registry devenv runs beside kind (devenv.clients.registry)."""
        from devenv.clients import registry

        return registry.for_kind(self.services.client, self.clusters, plan.environment)

    def ensure_flux(self, kube: Kube, kubeconfig: Path, progress: Progress,
                    controllers: tuple[str, ...] = FLUX_CONTROLLERS) -> None:
        """Flux's controllers (source and helm for HelmReleases; kustomize too for delivery `flux`): installed
        with `flux install` unless the cluster already serves Flux's kinds (Flux was there before, or a test
        stand-in runs it)."""
        crds = FLUX_CRDS + ((KUSTOMIZATIONS_CRD,) if "kustomize-controller" in controllers else ())
        present = all(kube.status(_crd(name))[0] == CURRENT for name in crds)
        if present:
            progress.note("• Flux's CRDs are present in the cluster: using the Flux controllers that serve them")
            return
        if process.which("flux") is None:
            raise ToolMissing("flux is not installed (not found on PATH); the platform's HelmReleases need Flux's "
                              "controllers", hint=process.INSTALL_HINTS["flux"])
        progress.note(f"• installing Flux's {', '.join(controllers)}")
        self.run(["flux", "install", "--components", ",".join(controllers), "--kubeconfig", str(kubeconfig)],
                 timeout=APPLY_TIMEOUT)
        kube.wait([_crd(name) for name in crds], timeout=120, what="Flux's CRDs")

    # -- down, status ------------------------------------------------------------------------

    def down(self, environment: str, *, keep_data: bool = False, dry_run: bool = False,
             progress: Progress = Silent()) -> list[str]:
        removed = []
        if self.clusters.exists(environment):
            removed.append(f"kind cluster {cluster_name(environment)}")
            if not dry_run:
                self.clusters.delete(environment)
        merged = self.clusters.unmerge_kubeconfig(environment, dry_run=dry_run)
        if merged is not None:
            removed.append(f"kubeconfig context {context_name(environment)} (its cluster and user too) in {merged}")
        removed += self.services.down(environment, keep_data=keep_data, dry_run=dry_run)
        if not dry_run and removed:
            from devenv.clients import registry  # the shared registry of delivery `flux`: kept while a cluster uses it

            removed += registry.release(self.services.client, len(self.clusters.names()))
        return removed

    def has_cluster(self, environment: str) -> bool:
        return process.which("kind") is not None and environment in self.clusters.names()

    def kubeconfig(self, environment: str, *, check: bool = False) -> Path | None:
        """The cluster's kubeconfig file (mode 0600). `check`: the cluster must exist (EnvironmentNotFound when
        not); a cluster of devenv's whose file is gone gets it written again from the cluster."""
        path = self.clusters.kubeconfig(environment)
        if not check:
            return path
        if process.which("kind") is None or not self.clusters.exists(environment):
            raise EnvironmentNotFound(
                f"environment {environment} has no kind cluster, so no kubeconfig"
                + (" (kind is not installed)" if process.which("kind") is None else ""),
                hint=f"`devenv list` shows the environments; `devenv up {environment} --profile local` makes one "
                     "with a cluster",
            )
        if not path.is_file():
            self.clusters.ensure_ours(environment)  # writes the file when the cluster answers and is devenv's
        if not path.is_file():
            raise EnvironmentNotFound(f"kind cluster {cluster_name(environment)} does not answer and devenv holds no "
                                      f"kubeconfig for it", hint=f"`devenv down {environment}` and `devenv up "
                                                                 f"{environment}` make it again")
        return path

    def left_after_interrupt(self, plan: Plan) -> list[str]:
        return self.services.left_after_interrupt(plan)

    def status(self, environment: str, *, probe: bool = True) -> EnvironmentState | None:
        state = self.services.status(environment, probe=probe)
        if state is not None and state.target == self.name and not self.clusters.exists(environment):
            return _with_problem(state, "its kind cluster is missing")
        return state

    def environments(self) -> list[EnvironmentState]:
        return self.services.environments()

    def remove_leftovers(self, environment: str, *, dry_run: bool = False) -> list[str]:
        return self.services.remove_leftovers(environment, dry_run=dry_run)

    def credentials(self, environment: str, service: str) -> dict[str, str]:
        return self.services.credentials(environment, service)


def _credential_secrets(rendered, credentials: registry_auth.Credentials | None) -> list[dict]:
    """A dockerconfigjson Secret in each namespace whose Flux sources read the registries' credentials (the
    render's adaptation points them at it: devenv.flux.registry_credentials)."""
    if credentials is None:
        return []
    from devenv.flux.registry_credentials import REGISTRY_CREDENTIALS_SECRET, namespaces_needing_credentials

    objects = [resource for _, resource in rendered.resources()]
    return [credentials.secret(REGISTRY_CREDENTIALS_SECRET, namespace)
            for namespace in namespaces_needing_credentials(objects)]


def _remove_stale_credentials(kube: Kube, environment: str, kept: list[dict]) -> list[str]:
    """The registry-credentials Secrets of an earlier `up` in namespaces whose sources no longer read them (the
    profile dropped the registry, the source moved): deleted."""
    from devenv.flux.registry_credentials import REGISTRY_CREDENTIALS_SECRET

    keep = {o["metadata"]["namespace"] for o in kept}
    stale = [live for live in kube.list("v1", "Secret", selector=labels.selector(environment))
             if live["metadata"]["name"] == REGISTRY_CREDENTIALS_SECRET and live["metadata"]["namespace"] not in keep]
    for live in stale:
        kube.delete(live)
    return [f"registry credentials: Secret {REGISTRY_CREDENTIALS_SECRET} in {live['metadata']['namespace']} removed "
            "(no source there reads it now)" for live in stale]


def _say_retained(failure: BaseException, environment: str, *, cluster_existed: bool) -> None:
    kept = "this run's containers" + ("" if cluster_existed else f" and kind cluster {cluster_name(environment)}")
    say_retained(failure, environment, kept, f"`kubectl --kubeconfig \"$(devenv kubeconfig {environment})\" "
                                             "get pods -A`")


def _crd(name: str) -> dict:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": name}}


def _with_problem(state: EnvironmentState, problem: str) -> EnvironmentState:
    return replace(state, state="degraded", problems=state.problems + (problem,))

