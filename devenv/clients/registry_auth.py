"""Credentials for the private registries a kind profile lists (`registries:`): resolved at each use through the
user's docker configuration and its credential helpers (the docker SDK's own resolution, as `docker pull` has it),
and handed on as kind's private-registry guide does: a docker config.json for each node's kubelet, and
kubernetes.io/dockerconfigjson Secrets for Flux's sources. Nothing is kept on disk here (an ECR token lasts 12
hours); a Credentials shows its hosts, never its values."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import warnings
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from devenv.clients import engine, process
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
    """(username, password) for `host`, else _Refused(why, what to do). The docker SDK's resolution (imported on
    use, as devenv.clients.docker does for pulls; a helper missing from PATH is said, not warned)."""
    from docker import auth, errors

    login = f"run `docker login {host}`"
    try:
        found = auth.load_config(str(config)) if config.is_file() else None
    except errors.DockerException as exc:  # an `auths` entry that is not base64 of user:password
        raise _Refused(f"the docker config cannot be read: {exc}", f"fix {config}, or {login}") from None
    helper = found.get_credential_store(host) if found is not None else None
    program = f"docker-credential-{helper}"
    if helper and not shutil.which(program):
        source = "credHelpers" if found.cred_helpers.get(host) else "credsStore"
        raise _Refused(f"{source} names {program}, which is not on PATH",
                       f"put {program} (the credential helper your docker config names) on PATH, or {login}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            resolved = found.resolve_authconfig(host) if found is not None else None
    except errors.DockerException as exc:  # the helper ran and failed
        said = (str(exc).strip().splitlines() or [""])[0][:300]
        raise _Refused(f"{program} failed: {said}", f"check that {program} works (its login may have expired), "
                                                   f"or {login}") from None
    if not resolved:
        raise _Refused(f"{program} has none for it" if helper else "the docker config has no entry for it", login)
    user = resolved.get("Username") or resolved.get("username")
    secret = resolved.get("Password") or resolved.get("password")
    if not (user and secret):
        raise _Refused("the docker config holds an identity token for it (an OAuth login), which neither the "
                       "kubelet nor Flux can use", f"{login} with a username and password (or use a helper that "
                                                   "gives them)")
    return user, secret


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
