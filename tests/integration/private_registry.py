"""A registry that wants credentials, standing in for ECR in the tests: the lab's distribution registry started as
its own process on 127.0.0.1 with htpasswd (bcrypt) authentication, and a stub `docker-credential-ecr-login`
answering the credential-helper protocol for it, named by `credHelpers` in a temporary DOCKER_CONFIG."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from docker_env import REPO

from devenv.clients import docker

HELPER = """#!{python}
# the credential-helper protocol: `get` reads a server URL on stdin and answers JSON, or fails "not found"
import json, sys
with open({log!r}, "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\\n")
server = sys.stdin.read().strip()
if sys.argv[1:] == ["get"] and server.removeprefix("http://").removeprefix("https://").rstrip("/") == {host!r}:
    print(json.dumps({{"ServerURL": server, "Username": {user!r}, "Secret": {secret!r}}}))
else:
    print("credentials not found in native keychain")
    sys.exit(1)
"""


def registry_binary() -> Path:
    """The lab's distribution registry (`python3 tests/lab/lab.py build`), or DEVENV_TEST_REGISTRY_BINARY."""
    if os.environ.get("DEVENV_TEST_REGISTRY_BINARY"):
        return Path(os.environ["DEVENV_TEST_REGISTRY_BINARY"])
    spec = importlib.util.spec_from_file_location("devenv_lab", REPO / "tests" / "lab" / "lab.py")
    lab = sys.modules.setdefault("devenv_lab", importlib.util.module_from_spec(spec))
    spec.loader.exec_module(lab)  # registered first: its dataclasses look their module up
    return lab.binary("registry")


@dataclass
class Registry:
    host: str
    user: str
    secret: str
    helper_dir: Path  # holds docker-credential-ecr-login
    helper_log: Path
    config: Path  # a DOCKER_CONFIG whose credHelpers names ecr-login for host

    def env(self, *, helper: bool = True, configured: bool = True, path: str | None = None) -> dict[str, str]:
        path = path or os.environ["PATH"]
        config = self.config if configured else self.config.with_name("empty-docker-config")
        config.mkdir(exist_ok=True)
        return {"DOCKER_CONFIG": str(config), "PATH": f"{self.helper_dir}:{path}" if helper else path}

    @contextlib.contextmanager
    def logged_in(self) -> Iterator[None]:
        """urllib requests (lab_env.push_helm_chart's) carry the registry's basic credentials meanwhile."""
        passwords = urllib.request.HTTPPasswordMgrWithPriorAuth()
        passwords.add_password(None, f"http://{self.host}/", self.user, self.secret, is_authenticated=True)
        urllib.request.install_opener(urllib.request.build_opener(urllib.request.HTTPBasicAuthHandler(passwords)))
        try:
            yield
        finally:
            urllib.request.install_opener(None)


@contextlib.contextmanager
def running_registry(work: Path) -> Iterator[Registry]:
    """The registry process (killed by its PID afterwards) and the helper, under `work`; skips without the binary."""
    binary = registry_binary()
    if not binary.is_file():
        pytest.skip(f"the lab's registry binary is not built ({binary}): `python3 tests/lab/lab.py build`")
    import bcrypt

    user, secret = "ci-puller", secrets.token_urlsafe(16)
    (work / "htpasswd").write_text(f"{user}:{bcrypt.hashpw(secret.encode(), bcrypt.gensalt(rounds=5)).decode()}\n")
    port = docker.free_port("127.0.0.1")
    host = f"127.0.0.1:{port}"
    (work / "config.yml").write_text(
        "version: 0.1\nlog: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {work / 'data'}}}}}\n"
        f"http: {{addr: {host}}}\n"
        f"auth: {{htpasswd: {{realm: devenv-test, path: {work / 'htpasswd'}}}}}\n")
    log = (work / "registry.log").open("w")
    server = subprocess.Popen([str(binary), "serve", str(work / "config.yml")], stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, "OTEL_TRACES_EXPORTER": "none"})
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://{host}/v2/", timeout=2)
            except urllib.error.HTTPError as refused:
                if refused.code == 401:  # up, and wanting credentials
                    break
            except OSError:
                pass
            assert server.poll() is None, (work / "registry.log").read_text()
            time.sleep(0.1)
        else:
            raise AssertionError(f"the registry did not answer: {(work / 'registry.log').read_text()}")
        helper_dir = work / "bin"
        helper_dir.mkdir()
        helper = helper_dir / "docker-credential-ecr-login"
        helper.write_text(HELPER.format(python=sys.executable, log=str(work / "helper.log"), host=host, user=user,
                                        secret=secret))
        helper.chmod(0o755)
        config = work / "docker-config"
        config.mkdir()
        (config / "config.json").write_text(json.dumps({"credHelpers": {host: "ecr-login"}}))
        yield Registry(host, user, secret, helper_dir, work / "helper.log", config)
    finally:
        os.kill(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
        log.close()
