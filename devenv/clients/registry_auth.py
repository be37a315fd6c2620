"""Credentials for the private registries a kind profile lists (`registries:`): resolved at each use through the
user's docker configuration and its credential helpers (what `docker pull` would send: devenv.clients.docker),
and handed on as kind's private-registry guide does: a docker config.json for each node's kubelet, and
kubernetes.io/dockerconfigjson Secrets for Flux's sources. Nothing is kept on disk here (an ECR token lasts 12
hours); a Credentials shows its hosts, never its values."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from devenv.clients import docker, engine, process
from devenv.clients.docker import CredentialsMissing

SECRET_TYPE = "kubernetes.io/dockerconfigjson"
KUBELET_CONFIG = "/var/lib/kubelet/config.json"  # where the kubelet looks for a docker config (kind's guide)
NODE_TIMEOUT = 60


@dataclass(frozen=True)
class Credentials:
    """Username and password per registry host, as resolved just now."""

    logins: Mapping[str, tuple[str, str]] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        return f"Credentials(hosts={sorted(self.logins)}, values masked)"

    @property
    def hosts(self) -> tuple[str, ...]:
        return tuple(self.logins)

    def config_json(self) -> str:
        """A docker config.json with the credentials inline (`auths`), which the kubelet and Flux read: no
        helper runs on the node or in the cluster."""
        auths = {host: {"username": user, "password": secret,
                        "auth": base64.b64encode(f"{user}:{secret}".encode()).decode()}
                 for host, (user, secret) in self.logins.items()}
        return json.dumps({"auths": auths}, sort_keys=True)

    def secret(self, name: str, namespace: str) -> dict:
        """A kubernetes.io/dockerconfigjson Secret with these credentials, for Flux's sources in `namespace`
        (devenv labels it as its own when it applies it)."""
        return {"apiVersion": "v1", "kind": "Secret", "type": SECRET_TYPE,
                "metadata": {"name": name, "namespace": namespace},
                "data": {".dockerconfigjson": base64.b64encode(self.config_json().encode()).decode()}}


def resolve(hosts: Iterable[str], *, profile: str = "the profile") -> Credentials:
    """Each host's username and password from the docker configuration (DOCKER_CONFIG, else ~/.docker):
    credHelpers, credsStore, then auths, as the docker CLI reads them. A host without them: one
    CredentialsMissing naming every such registry and what to run (`docker login HOST`, or the helper)."""
    config = engine.config_dir(os.environ) / "config.json"
    logins: dict[str, tuple[str, str]] = {}
    refused: list[tuple[str, _Refused]] = []
    for host in hosts:
        try:
            logins[host] = _login(config, host)
        except _Refused as why:
            refused.append((host, why))
    if refused:
        many = len(refused) > 1
        names = ", ".join(host for host, _ in refused)
        raise CredentialsMissing(
            f"devenv found no credentials for the registr{'ies' if many else 'y'} {names} ({profile} lists "
            f"{'them' if many else 'it'} under `registries:`): "
            + ("for each, as said below" if many else refused[0][1].what) + "; nothing was created",
            context=[f"looked in: {config}" + ("" if config.is_file() else " (there is none)")]
                    + [f"{host}: {why.why}" + (f": {why.what}" if many else "") for host, why in refused],
            hint=f"check with `docker pull {refused[0][0]}/<an image of it>`; then run devenv again",
        )
    return Credentials(logins)


class _Refused(Exception):
    def __init__(self, why: str, what: str):
        super().__init__(why)
        self.why, self.what = why, what


def _login(config, host: str) -> tuple[str, str]:
    """(username, password) for `host`, else _Refused(why, what to do): what `docker pull` would send
    (devenv.clients.docker, the SDK's resolution)."""
    login = f"run `docker login {host}`"
    try:
        helper = docker.credential_helper(host)
        program = f"docker-credential-{helper}"
        if helper and not shutil.which(program):
            raise _Refused(f"the docker config names {program} for it, which is not on PATH",
                           f"put {program} (the credential helper your docker config names) on PATH, or {login}")
        resolved = docker.registry_auth(host)
    except _Refused:
        raise
    except Exception as exc:  # the SDK's: an unreadable `auths` entry, or the helper ran and failed
        said = (str(exc).strip().splitlines() or [""])[0][:300]
        what = f"check that {program} works (its login may have expired), or {login}" if helper else \
            f"fix {config}, or {login}"
        raise _Refused(f"{program + ' failed' if helper else 'the docker config cannot be read'}: {said}",
                       what) from None
    if not resolved:
        raise _Refused(f"{program} has none for it" if helper else "the docker config has no entry for it", login)
    if not (resolved.get("username") and resolved.get("password")):
        raise _Refused("the docker config holds an identity token for it (an OAuth login), which neither the "
                       "kubelet nor Flux can use", f"{login} with a username and password (or use a helper that "
                                                   "gives them)")
    return resolved["username"], resolved["password"]


def give_to_nodes(credentials: Credentials, cluster: str,
                  run: Callable[..., process.Result] = process.run) -> list[str]:
    """kind's private-registry guide, for an access token: the config.json copied into each node of `cluster` at
    the kubelet's path (from stdin: no file on this machine), and the kubelet restarted to read it; a node that
    already has exactly these credentials is left alone. Returns the nodes changed."""
    listed = run(["kind", "get", "nodes", "--name", cluster], timeout=NODE_TIMEOUT)
    document = credentials.config_json()
    digest = hashlib.sha256(document.encode()).hexdigest()
    changed = []
    for node in listed.stdout.split():
        held = run(["docker", "exec", node, "sha256sum", KUBELET_CONFIG], timeout=NODE_TIMEOUT, check=False)
        if held.returncode == 0 and held.stdout.split()[:1] == [digest]:
            continue
        run(["docker", "exec", "-i", node, "cp", "/dev/stdin", KUBELET_CONFIG], stdin=document, timeout=NODE_TIMEOUT)
        run(["docker", "exec", node, "chmod", "0600", KUBELET_CONFIG], timeout=NODE_TIMEOUT)
        run(["docker", "exec", node, "systemctl", "restart", "kubelet.service"], timeout=NODE_TIMEOUT)
        changed.append(node)
    return changed
