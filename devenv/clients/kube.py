"""The one place that talks to a Kubernetes API server (the only importer of `kubernetes`): kubeconfig and
context (or the pod's own service account in a cluster), discovery, server-side apply as field manager
`devenv`, get/list/delete, waiting with kstatus semantics, bounded retries of what a busy server refuses for
now (429, 5xx, honouring Retry-After), and every API error translated once into a KubeError (exit 10)
naming the object and verb."""

from __future__ import annotations

import email.utils
import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

from devenv.errors import KubeError, ReadinessTimeout
from devenv.wait import Clock, NotYet, until

log = logging.getLogger(__name__)

FIELD_MANAGER = "devenv"
MIN_SERVER = (1, 26)  # server-side apply, apps/v1, CRD v1 and the conditions waited on are all older
REQUEST_TIMEOUT = 30
IN_CLUSTER = "in-cluster"  # the context name of the pod's own service account (KUBERNETES_SERVICE_HOST set)
# A server answering 429 (API Priority and Fairness) or a 5xx is asked again, after its Retry-After or a
# doubling pause, this many times at most; a Retry-After longer than RETRY_CAP is cut to it.
RETRIES = 5
RETRY_CAP = 10.0
RETRY_STATUSES = {429, 500, 502, 503, 504}

CURRENT, IN_PROGRESS, FAILED, NOT_FOUND = "Current", "InProgress", "Failed", "NotFound"


class KubeConflict(KubeError):
    """A server-side apply conflicted with fields another manager owns."""


@dataclass(frozen=True)
class Resource:
    """What discovery says about a kind: its plural and whether it lives in a namespace."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/api/{self.api_version}" if "/" not in self.api_version else f"/apis/{self.api_version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return base + (f"/{name}" if name else "")


def describe(obj: Mapping) -> str:
    """`Kind namespace/name`, as errors and progress name an object."""
    meta = obj.get("metadata") or {}
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj.get('kind', '?')} {where}{meta.get('name', '?')}"


def selector_string(selector: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))


def client_minor() -> int | None:
    """The Kubernetes minor release the installed `kubernetes` client is generated from (client 33.x is
    Kubernetes 1.33's API, as for every release since 17), read from its package metadata."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        major = version("kubernetes").split(".", 1)[0]
    except PackageNotFoundError:
        return None
    return int(major) if major.isdigit() and int(major) >= 17 else None


def kubeconfig_exists(kubeconfig: str | None = None) -> bool:
    """Whether there is a kubeconfig to read: the file given, a file of $KUBECONFIG, or ~/.kube/config."""
    if kubeconfig:
        return True
    listed = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    return any(Path(p).expanduser().is_file() for p in listed) or (
        not listed and (Path.home() / ".kube" / "config").is_file())


def in_cluster(kubeconfig: str | None = None, context: str | None = None) -> bool:
    """Whether to use the pod's service account: asked for by name (context `in-cluster`), or no kubeconfig
    and no context, in a pod (KUBERNETES_SERVICE_HOST set), as client-go's default loader decides."""
    if context == IN_CLUSTER and not kubeconfig:
        return True
    return (not context and bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
            and not kubeconfig_exists(kubeconfig))


class Kube:
    """A connection to one cluster, from a kubeconfig file and optional context, or in a pod from its
    service account (`in_cluster`)."""

    def __init__(self, kubeconfig: str | Path | None = None, context: str | None = None, *,
                 sleep: Callable[[float], None] = time.sleep):
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException

        self.kubeconfig = str(kubeconfig) if kubeconfig else None
        self.context = context or None
        self.sleep = sleep
        configuration = client.Configuration()
        if in_cluster(self.kubeconfig, self.context):
            try:
                config.load_incluster_config(client_configuration=configuration)
            except (ConfigException, OSError, ValueError) as err:
                raise KubeError(f"cannot use the pod's service account (in-cluster configuration): {err}",
                                hint="KUBERNETES_SERVICE_HOST/PORT and the token and CA under "
                                     "/var/run/secrets/kubernetes.io/serviceaccount/ come with the pod") from None
            self.context = IN_CLUSTER
        else:
            try:
                # $KUBECONFIG as it is now (the client reads it once, when first imported)
                config.load_kube_config(config_file=self.kubeconfig or os.environ.get("KUBECONFIG") or None,
                                        context=self.context,
                                        client_configuration=configuration, persist_config=False)
            except (ConfigException, OSError, ValueError, TypeError) as err:
                raise KubeError(f"cannot load kubeconfig {self.kubeconfig or '(default)'}"
                                f"{f' context {context}' if context else ''}: {err}",
                                hint="check the file and the context name (`kubectl config get-contexts`)") from None
        self.server = configuration.host
        # urllib3 would itself wait out a 429's Retry-After, uncapped and unlogged: `request` decides instead
        # (connection errors are still retried by urllib3, three times, as before)
        import urllib3

        configuration.retries = urllib3.Retry(total=3, respect_retry_after_header=False)
        self.api = client.ApiClient(configuration)
        self._resources: dict[tuple[str, str], Resource] = {}
        self._groups: dict[str, list[dict]] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self.api.close()

    def __enter__(self) -> "Kube":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the HTTP seam ----------------------------------------------------------------------

    def request(self, method: str, path: str, *, what: str, query: Iterable[tuple[str, str]] = (),
                body: object = None, content_type: str = "application/json",
                timeout: float = REQUEST_TIMEOUT, missing_ok: bool = False) -> dict | None:
        """One API call; the answer as a dict (None for 404 when `missing_ok`). Every failure becomes a
        KubeError naming `what` (the verb and the object) and the server's own message."""
        import urllib3

        headers = {"Accept": "application/json", "Content-Type": content_type}
        query = list(query)
        pause = 0.5
        for attempt in range(RETRIES + 1):
            # JSON bodies go as dicts (the client serialises them); an apply patch goes as its JSON text.
            # Serialised again each time: a refreshed token (in a pod) goes with the retry.
            try:
                serialized = self.api.param_serialize(method, path, query_params=query, header_params=headers,
                                                      body=body, auth_settings=["BearerToken"])
                response = self.api.call_api(*serialized, _request_timeout=timeout)
                response.read()
            except (urllib3.exceptions.HTTPError, OSError) as err:
                raise KubeError(f"cannot {what}: the API server at {self.server} does not answer ({_reason(err)})",
                                hint="is the cluster running? `kubectl cluster-info` shows what kubectl sees") from None
            text = (response.data or b"").decode("utf-8", errors="replace")
            if 200 <= response.status <= 299:
                return json.loads(text) if text else {}
            if response.status == 404 and missing_ok:
                return None
            if response.status not in RETRY_STATUSES or attempt == RETRIES:
                break
            wait = retry_after(response.getheader("Retry-After"), pause)
            log.info("%s: the API server answered %s; asking again in %.1fs (%d of %d)", what, response.status,
                     wait, attempt + 1, RETRIES)
            self.sleep(wait)
            pause = min(pause * 2, RETRY_CAP)
        err = translate(response.status, text, what)
        if response.status in RETRY_STATUSES:
            err.hint = err.hint or (f"the API server still refused after {RETRIES} retries: it is overloaded "
                                    "(API Priority and Fairness) or failing; try again later")
        raise err

    # -- discovery and version --------------------------------------------------------------

    def server_version(self) -> tuple[int, int, str]:
        info = self.request("GET", "/version", what="read the server version")
        major = int(re.sub(r"\D", "", info.get("major", "")) or 0)
        minor = int(re.sub(r"\D", "", info.get("minor", "")) or 0)
        return major, minor, info.get("gitVersion", f"v{major}.{minor}")

    def check_version(self, client: int | None = None) -> str | None:
        """Refuse a server older than devenv supports; warn only for a skew devenv cannot bridge. devenv sends
        and reads plain JSON of APIs GA since MIN_SERVER, so an older server (back to MIN_SERVER) is fine at
        any distance; a server more than one minor release newer than the installed client's API (`client`,
        default: read from the package) is beyond what that client was made and tested for."""
        major, minor, version = self.server_version()
        if (major, minor) < MIN_SERVER:
            raise KubeError(f"the API server at {self.server} runs Kubernetes {version}; devenv needs "
                            f"{MIN_SERVER[0]}.{MIN_SERVER[1]} or newer", hint="use a newer cluster (kind node image)")
        client = client_minor() if client is None else client
        if client is not None and major == 1 and minor > client + 1:
            return (f"the API server runs Kubernetes {version}, more than one minor release newer than the 1.{client} "
                    f"API of devenv's `kubernetes` client: upgrade devenv (or its `kubernetes` package) if a "
                    f"call fails")
        return None

    def resource(self, api_version: str, kind: str, *, refresh: bool = False, attempts: int = 3) -> Resource:
        """The resource for a kind, from discovery (asked again when the kind is not known yet: a CRD
        applied a moment ago). Raises KubeError naming the kind when the server does not serve it."""
        key = (api_version, kind)
        with self._lock:
            if key in self._resources and not refresh:
                return self._resources[key]
        path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        for attempt in range(attempts):  # a group served a moment ago can take a beat to show in discovery
            if attempt:
                time.sleep(0.5)
            listing = self.request("GET", path, what=f"discover {api_version}", missing_ok=True)
            for entry in (listing or {}).get("resources", []):
                if "/" not in entry["name"]:
                    found = Resource(api_version, entry["kind"], entry["name"], bool(entry.get("namespaced")))
                    with self._lock:
                        self._resources[(api_version, entry["kind"])] = found
            with self._lock:
                if key in self._resources:
                    return self._resources[key]
        raise KubeError(f"the API server does not serve {kind} ({api_version})",
                        hint="its CustomResourceDefinition is not installed (or not Established yet)")

    def forget(self, api_version: str, kind: str) -> None:
        with self._lock:
            self._resources.pop((api_version, kind), None)

    def _path(self, obj: Mapping, *, name: bool = True) -> tuple[Resource, str]:
        meta = obj.get("metadata") or {}
        res = self.resource(obj.get("apiVersion", ""), obj.get("kind", ""))
        namespace = meta.get("namespace") or ("default" if res.namespaced else None)
        return res, res.path(namespace, meta.get("name") if name else None)

    # -- verbs ------------------------------------------------------------------------------

    def apply(self, obj: Mapping, *, force: bool | Callable[[dict], bool] = False, dry_run: bool = False,
              field_manager: str = FIELD_MANAGER) -> dict:
        """Server-side apply `obj`. A conflict with another field manager is reported (KubeConflict) unless
        `force` is True, or a callable that says yes for the live object (devenv's own: its labels)."""
        res, path = self._path(obj)
        query = [("fieldManager", field_manager)] + ([("dryRun", "All")] if dry_run else [])
        what = f"apply {describe(obj)}{' (server dry run)' if dry_run else ''}"
        body = json.dumps(obj)
        try:
            return self.request("PATCH", path, what=what, query=query + ([("force", "true")] if force is True else []),
                                body=body, content_type="application/apply-patch+yaml")
        except KubeConflict:
            if not callable(force):
                raise
            live = self.get(obj, missing_ok=True)
            if live is None or not force(live):
                raise
            log.debug("taking over the conflicting fields of %s: it is devenv's", describe(obj))
            return self.request("PATCH", path, what=what, query=query + [("force", "true")], body=body,
                                content_type="application/apply-patch+yaml")

    def merge_patch(self, obj: Mapping, patch: Mapping) -> dict:
        """A JSON merge patch (RFC 7386: a null removes the key) of a few fields, owned by no apply manager."""
        _, path = self._path(obj)
        return self.request("PATCH", path, what=f"patch {describe(obj)}", body=dict(patch),
                            content_type="application/merge-patch+json")

    def get(self, obj: Mapping, *, missing_ok: bool = True) -> dict | None:
        _, path = self._path(obj)
        return self.request("GET", path, what=f"get {describe(obj)}", missing_ok=missing_ok)

    def list(self, api_version: str, kind: str, *, namespace: str | None = None,
             selector: Mapping[str, str] | None = None) -> list[dict]:
        """Objects of a kind (in a namespace, or everywhere), filtered by label; each with its kind set."""
        res = self.resource(api_version, kind)
        query = [("labelSelector", selector_string(selector))] if selector else []
        answer = self.request("GET", res.path(namespace), what=f"list {kind}", query=query)
        items = answer.get("items", [])
        for item in items:
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return items

    def delete(self, obj: Mapping, *, propagation: str = "Background") -> bool:
        """Delete an object; False when it was already gone (or its kind is no longer served)."""
        try:
            _, path = self._path(obj)
        except KubeError as err:
            if "does not serve" in err.message:
                return False
            raise
        answer = self.request("DELETE", path, what=f"delete {describe(obj)}", missing_ok=True,
                              body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation})
        return answer is not None

    # -- waiting ----------------------------------------------------------------------------

    def status(self, obj: Mapping) -> tuple[str, str]:
        """The object's kstatus (Current, InProgress, Failed, NotFound) and why, read now."""
        live = self.get(obj)
        if live is None:
            return NOT_FOUND, "not found"
        return compute_status(live)

    def wait(self, objects: Iterable[Mapping], *, timeout: float, what: str = "",
             poll: float = 0.5, sleep: Callable[[float], None] = time.sleep) -> None:
        """Wait until every object is Current (kstatus); raise ReadinessTimeout naming each one that is not,
        with its last status, or KubeError at once when one has Failed."""
        pending = {describe(o): o for o in objects}
        look = current_look(self, pending, lambda name, message: KubeError(
            f"{name} failed{f' ({what})' if what else ''}: {message}"))
        until(look, what=what or "objects to be ready", timeout=timeout, poll=poll,
              clock=Clock(monotonic=time.monotonic, sleep=sleep),
              give_up=lambda seen: ReadinessTimeout(
                  f"{len(pending)} object(s) not ready within {timeout:g}s{f' ({what})' if what else ''}",
                  context=seen.lines, hint="`kubectl describe` the objects named for their events"))


def current_look(kube: Kube, pending: dict[str, Mapping], failed: Callable[[str, str], Exception]
                 ) -> Callable[[], NotYet | None]:
    """A look for devenv.wait.until over `pending` (name -> object): each object leaves it once Current (kstatus),
    one that has Failed raises failed(name, message) at once, the others are named with their last status."""

    def look() -> NotYet | None:
        last = []
        for name, obj in list(pending.items()):
            state, message = kube.status(obj)
            if state == CURRENT:
                del pending[name]
            elif state == FAILED:
                raise failed(name, message)
            else:
                last.append(f"{name}: {state}: {message}")
        return NotYet(last) if pending else None

    return look


# -- kstatus ---------------------------------------------------------------------------------


def _conditions(obj: Mapping) -> dict[str, dict]:
    return {c.get("type"): c for c in ((obj.get("status") or {}).get("conditions") or []) if isinstance(c, dict)}


def compute_status(obj: Mapping) -> tuple[str, str]:
    """kstatus (sigs.k8s.io/cli-utils/pkg/kstatus) for the kinds Flux's health checks know, and the generic
    rules (observedGeneration, Reconciling, Stalled) for the rest; Flux objects need Ready=True."""
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    kind = obj.get("kind", "")
    group = (obj.get("apiVersion") or "").rpartition("/")[0]
    conditions = _conditions(obj)
    if meta.get("deletionTimestamp"):
        return IN_PROGRESS, "being deleted"
    generation, observed = meta.get("generation"), status.get("observedGeneration")
    if generation is not None and observed is not None and observed < generation:
        return IN_PROGRESS, f"generation {generation} not yet observed (at {observed})"
    if conditions.get("Stalled", {}).get("status") == "True":
        return FAILED, conditions["Stalled"].get("message") or "stalled"
    specific = _STATUS.get(kind) if group in ("", "apps", "batch", "apiextensions.k8s.io") else None
    if specific:
        return specific(obj, status, conditions)
    if group.endswith(".fluxcd.io"):
        if kind == "HelmRepository" and (obj.get("spec") or {}).get("type") == "oci":
            return CURRENT, "an OCI HelmRepository is static: source-controller gives it no artifact nor conditions"
        ready = conditions.get("Ready")
        if ready is None:
            return IN_PROGRESS, "no Ready condition yet"
        if observed is None and generation is not None:
            return IN_PROGRESS, "not observed yet"
        if ready.get("status") == "True":
            return CURRENT, ready.get("message", "")
        return IN_PROGRESS, f"{ready.get('reason', '')}: {ready.get('message', '')}".strip(": ")
    if conditions.get("Reconciling", {}).get("status") == "True":
        return IN_PROGRESS, conditions["Reconciling"].get("message") or "reconciling"
    return CURRENT, ""


def _deployment(obj, status, conditions):
    replicas = (obj.get("spec") or {}).get("replicas", 1)
    progressing = conditions.get("Progressing", {})
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return FAILED, progressing.get("message", "progress deadline exceeded")
    updated, total = status.get("updatedReplicas", 0), status.get("replicas", 0)
    available, ready = status.get("availableReplicas", 0), status.get("readyReplicas", 0)
    if updated < replicas:
        return IN_PROGRESS, f"{updated} of {replicas} replicas updated"
    if total > updated:
        return IN_PROGRESS, f"{total - updated} old replicas pending termination"
    if available < updated or ready < updated:
        return IN_PROGRESS, f"{available} of {updated} updated replicas available"
    if replicas and conditions.get("Available", {}).get("status") != "True":
        return IN_PROGRESS, "not Available"
    return CURRENT, f"{available} replicas available"


def _statefulset(obj, status, conditions):
    spec = obj.get("spec") or {}
    replicas = spec.get("replicas", 1)
    if status.get("readyReplicas", 0) < replicas:
        return IN_PROGRESS, f"{status.get('readyReplicas', 0)} of {replicas} replicas ready"
    if (spec.get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate":
        if status.get("updateRevision") and status.get("currentRevision") != status.get("updateRevision"):
            return IN_PROGRESS, "rolling update in progress"
        if status.get("currentReplicas", replicas) < replicas:
            return IN_PROGRESS, f"{status.get('currentReplicas', 0)} of {replicas} replicas at the current revision"
    return CURRENT, f"{replicas} replicas ready"


def _daemonset(obj, status, conditions):
    desired = status.get("desiredNumberScheduled")
    if desired is None:
        return IN_PROGRESS, "not scheduled yet"
    for field in ("currentNumberScheduled", "updatedNumberScheduled", "numberAvailable", "numberReady"):
        if status.get(field, 0) < desired:
            return IN_PROGRESS, f"{field} {status.get(field, 0)} of {desired}"
    return CURRENT, f"{desired} pods ready"


def _job(obj, status, conditions):
    if conditions.get("Failed", {}).get("status") == "True":
        return FAILED, conditions["Failed"].get("message") or "job failed"
    if conditions.get("Complete", {}).get("status") == "True":
        return CURRENT, "complete"
    return IN_PROGRESS, f"{status.get('succeeded', 0)} succeeded, {status.get('active', 0)} active"


def _crd(obj, status, conditions):
    if conditions.get("NamesAccepted", {}).get("status") == "False":
        return FAILED, conditions["NamesAccepted"].get("message", "names not accepted")
    if conditions.get("Established", {}).get("status") == "True":
        return CURRENT, "established"
    return IN_PROGRESS, "not Established yet"


def _pod(obj, status, conditions):
    phase = status.get("phase")
    if phase == "Succeeded" or conditions.get("Ready", {}).get("status") == "True":
        return CURRENT, phase or "ready"
    if phase == "Failed":
        return FAILED, status.get("message") or "pod failed"
    return IN_PROGRESS, phase or "pending"


def _pvc(obj, status, conditions):
    return (CURRENT, "bound") if status.get("phase") == "Bound" else (IN_PROGRESS, status.get("phase") or "pending")


def _service(obj, status, conditions):
    if (obj.get("spec") or {}).get("type") == "LoadBalancer" and not (status.get("loadBalancer") or {}).get("ingress"):
        return IN_PROGRESS, "no load balancer address yet"
    return CURRENT, ""


_STATUS = {"Deployment": _deployment, "StatefulSet": _statefulset, "DaemonSet": _daemonset, "Job": _job,
           "CustomResourceDefinition": _crd, "Pod": _pod, "PersistentVolumeClaim": _pvc, "Service": _service}


# -- errors ----------------------------------------------------------------------------------


def translate(status: int, text: str, what: str) -> KubeError:
    """The server's Status answer as one KubeError: the verb and object, the HTTP status, its message."""
    try:
        answer = json.loads(text)
    except ValueError:
        answer = {}
    message = answer.get("message") or text.strip()[:500] or f"HTTP {status}"
    reason = answer.get("reason") or ""
    causes = [cause for cause in (f"{c.get('field', '')}: {c.get('message', '')}".lstrip(": ")
                                  for c in ((answer.get("details") or {}).get("causes") or []))
              if cause not in message]
    hint = {
        401: "the kubeconfig's credentials are not accepted",
        403: "the kubeconfig's user is not allowed this (RBAC); ask for a Role, or use another context",
        409: "another field manager owns these fields: change them there, or remove that manager's fields",
        422: "the object is invalid for this server (see the fields above)",
    }.get(status)
    kind = KubeConflict if status == 409 and reason == "Conflict" and "apply" in what else KubeError
    err = kind(f"cannot {what}: {message} ({reason or 'HTTP'} {status})", context=causes, hint=hint)
    err.status = status  # type: ignore[attr-defined]
    err.reason = reason  # type: ignore[attr-defined]
    return err


def retry_after(header: str | None, default: float) -> float:
    """The pause a Retry-After header asks for (seconds, or an HTTP date), at most RETRY_CAP; `default`
    when there is none or it cannot be read."""
    if header:
        text = header.strip()
        if text.isdigit():
            return min(float(text), RETRY_CAP)
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            return max(0.0, min(when.timestamp() - time.time(), RETRY_CAP))
    return min(default, RETRY_CAP)


def _reason(err: BaseException) -> str:
    inner = getattr(err, "reason", None)
    return str(inner or err).split(": ", 1)[-1][:200]
