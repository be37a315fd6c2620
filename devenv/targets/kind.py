"""The kind target: a kind cluster per environment, its data services as Docker containers joined to the
kind network, the `environment` ConfigMap written, and the rendered Flux Kustomizations applied in order.

Delivery `apply` (the fast inner loop): devenv renders every Flux Kustomization itself and applies the
result with server-side apply; when the render holds HelmReleases, Flux's source and helm controllers
are installed to reconcile them. The cluster and the containers come up concurrently.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable

import yaml

from devenv import docker, labels, process
from devenv.errors import DevenvError, InvalidInput, ToolMissing
from devenv.flux.kustomizations import is_flux_kustomization
from devenv.kind import KIND_NETWORK, KindClusters
from devenv.plan import Plan
from devenv.targets import EnvironmentState, Progress, Silent, UpResult
from devenv.targets.docker import DockerTarget

APPLY_TIMEOUT = 300
ROLLOUT_TIMEOUT = "5m"
FLUX_CONTROLLERS = ("source-controller", "helm-controller")
# Kinds reconciled by Flux controllers rather than by Kubernetes itself.
NEEDS_FLUX = {"HelmRelease", "HelmRepository", "HelmChart", "OCIRepository", "GitRepository", "Bucket"}
ROLLED_OUT = {"Deployment", "StatefulSet", "DaemonSet"}


class KindTarget:
    name = "kind"

    def __init__(self, services: DockerTarget | None = None, clusters: KindClusters | None = None,
                 run: Callable[..., process.Result] = process.run):
        self.services = services or DockerTarget()
        self.clusters = clusters or KindClusters(run=run)
        self.run = run

    # -- up ----------------------------------------------------------------------------------

    def up(self, plan: Plan, progress: Progress = Silent()) -> UpResult:
        self.preflight(plan)
        existed = self.clusters.exists(plan.environment)
        node_labels = {k: v for k, v in plan.labels.items()
                       if k in (labels.MANAGED, labels.ENVIRONMENT, labels.PROFILE, labels.OWNER)}
        progress.note(f"• kind cluster {'devenv-' + plan.environment}: {'found' if existed else 'creating'}")
        try:
            with ThreadPoolExecutor(max_workers=2, thread_name_prefix="devenv-kind") as pool:
                cluster = pool.submit(self.clusters.create, plan.environment, node_labels)
                services = pool.submit(self.services.up, plan, progress)
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
            self.join_kind_network(plan)
            passwords = {s.name: s.facts["password"] for s in result.services if "password" in s.facts}
            changes = list(result.changes) + [f"kind cluster: {'unchanged' if existed else 'created'}"]
            changes += self.deliver(plan, kubeconfig, passwords, progress)
        except BaseException:
            self.roll_back(plan, cluster_existed=existed)
            raise
        return UpResult(services=result.services, changes=tuple(changes))

    def preflight(self, plan: Plan) -> None:
        """What `up` checks before it creates anything (`up --dry-run` too): the platform renders offline (a
        platform, profile or substitution error stops here), and the tools it needs are installed."""
        if plan.profile.delivery != "apply":
            raise InvalidInput(
                f"profile {plan.profile.name!r} asks for delivery {plan.profile.delivery!r}, which the kind target "
                "does not offer in this build",
                hint="set `delivery: apply` in the profile (devenv renders and applies the Kustomizations itself)",
            )
        offline = self.render(plan, passwords=None)
        needs_flux = any(r.get("kind") in NEEDS_FLUX for _, r in offline.resources())
        for tool in ("kind", "kubectl") + (("flux",) if needs_flux else ()):
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

    def render(self, plan: Plan, passwords: dict[str, str] | None):
        from devenv.flux.render import render_environment  # kustomize and the render pipeline: only when needed

        return render_environment(plan.profile, plan.environment, platform=plan.platform,
                                  labels=plan.labels, passwords=passwords)

    def deliver(self, plan: Plan, kubeconfig: Path, passwords: dict[str, str], progress: Progress) -> list[str]:
        rendered = self.render(plan, passwords)
        kubectl = ["kubectl", "--kubeconfig", str(kubeconfig)]
        namespaces = {o["metadata"]["namespace"] for o in rendered.environment_objects}
        self.apply(kubectl, [_namespace(ns, plan.labels) for ns in sorted(namespaces)] + rendered.environment_objects,
                   redact=passwords.values())
        everything = [r for _, r in rendered.resources()]
        if any(r.get("kind") in NEEDS_FLUX for r in everything):
            progress.note(f"• installing Flux's {' and '.join(FLUX_CONTROLLERS)} for the HelmReleases")
            self.run(["flux", "install", "--components", ",".join(FLUX_CONTROLLERS), "--kubeconfig", str(kubeconfig)],
                     timeout=APPLY_TIMEOUT)
        changes = []
        for kustomization in rendered.kustomizations:
            # Nested Flux Kustomizations were rendered by devenv itself; no kustomize-controller runs here.
            resources = [r for r in kustomization.resources if not is_flux_kustomization(r)]
            if not resources:
                continue
            progress.note(f"• applying Kustomization {kustomization.id} ({len(resources)} resources)")
            self.apply(kubectl, resources, redact=passwords.values())
            spec = (kustomization.object or {}).get("spec") or {}
            if spec.get("wait"):  # as kustomize-controller: health is awaited only with `wait: true`
                self.wait_for_rollouts(kubectl, resources, spec.get("timeout") or ROLLOUT_TIMEOUT)
            changes.append(f"Kustomization {kustomization.id}: applied {len(resources)} resources")
        return changes

    def apply(self, kubectl: list[str], objects: Iterable[dict], redact: Iterable[str] = ()) -> None:
        """Server-side apply, CustomResourceDefinitions first so the resources of their kinds are accepted."""
        objects, redact = list(objects), list(redact)
        crds = [o for o in objects if o.get("kind") == "CustomResourceDefinition"]
        rest = [o for o in objects if o.get("kind") != "CustomResourceDefinition"]
        argv = kubectl + ["apply", "--server-side", "--force-conflicts", "--field-manager", "devenv", "-f", "-"]
        if crds:
            self.run(argv, stdin=yaml.safe_dump_all(crds), timeout=APPLY_TIMEOUT, redact=redact)
            self.run(kubectl + ["wait", "--for", "condition=Established", "--timeout", "60s"]
                     + [f"crd/{o['metadata']['name']}" for o in crds], timeout=APPLY_TIMEOUT)
        if rest:
            self.run(argv, stdin=yaml.safe_dump_all(rest), timeout=APPLY_TIMEOUT, redact=redact)

    def wait_for_rollouts(self, kubectl: list[str], resources: list[dict], timeout: str) -> None:
        for r in resources:
            if r.get("kind") in ROLLED_OUT:
                ns = r["metadata"].get("namespace", "default")
                self.run(kubectl + ["rollout", "status", f"{r['kind'].lower()}/{r['metadata']['name']}", "-n", ns,
                                    "--timeout", timeout], timeout=APPLY_TIMEOUT + 30)

    # -- down, status ------------------------------------------------------------------------

    def down(self, environment: str, *, keep_data: bool = False, dry_run: bool = False,
             progress: Progress = Silent()) -> list[str]:
        removed = []
        if self.clusters.exists(environment):
            removed.append(f"kind cluster devenv-{environment}")
            if not dry_run:
                self.clusters.delete(environment)
        return removed + self.services.down(environment, keep_data=keep_data, dry_run=dry_run)

    def status(self, environment: str, *, probe: bool = True) -> EnvironmentState | None:
        state = self.services.status(environment, probe=probe)
        if state is not None and state.target == "kind" and not self.clusters.exists(environment):
            return _with_problem(state, "its kind cluster is missing")
        return state

    def environments(self) -> list[EnvironmentState]:
        return self.services.environments()

    def remove_leftovers(self, environment: str, *, dry_run: bool = False) -> list[str]:
        return self.services.remove_leftovers(environment, dry_run=dry_run)

    def credentials(self, environment: str, service: str) -> dict[str, str]:
        return self.services.credentials(environment, service)


def _namespace(name: str, tags: dict[str, str]) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": dict(tags)}}


def _with_problem(state: EnvironmentState, problem: str) -> EnvironmentState:
    return replace(state, state="degraded", problems=state.problems + (problem,))

