"""The script the `aws` stand-in's pod runs in a namespace environment (devenv ships this file in a ConfigMap;
the moto image, which has moto and boto3, runs it): moto's server, then the Secrets Manager secrets of the seed
file mounted from a Secret; with `ready` (the readiness probe), a real ListSecrets that holds every one.
Standalone on purpose: the pod has no devenv, only the Python, moto and boto3 of its image."""

from __future__ import annotations

import json
import os
import signal
import sys
import time

SEED = os.environ.get("DEVENV_AWS_SEED", "/etc/devenv-aws/secrets.json")
PORT = int(os.environ.get("DEVENV_AWS_PORT", "5000"))
MANAGED_TAG = "devenv.managed"  # as devenv.services.aws tags the secrets it makes on the other targets
START_TIMEOUT = 60.0


def client(timeout: float = 3.0):
    """Secrets Manager of the server in this pod (region and local access key from the container's env)."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "secretsmanager", endpoint_url=f"http://127.0.0.1:{PORT}",
        config=Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1}))


def wanted() -> dict[str, str]:
    with open(SEED, encoding="utf-8") as handle:
        return json.load(handle)


def names(sm) -> set[str]:
    return {entry["Name"] for page in sm.get_paginator("list_secrets").paginate() for entry in page["SecretList"]}


def seed(sm, secrets: dict[str, str], environment: str) -> None:
    for name, value in sorted(secrets.items()):
        sm.create_secret(Name=name, SecretString=value, Tags=[{"Key": MANAGED_TAG, "Value": "true"},
                                                              {"Key": "devenv.environment", "Value": environment}])


def serve() -> int:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="0.0.0.0", port=PORT, verbose=False)
    server.start()
    signal.signal(signal.SIGTERM, lambda *_: (server.stop(), sys.exit(0)))  # PID 1 ignores it without a handler
    sm = client()
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            names(sm)
            break
        except Exception as exc:  # noqa: BLE001 - not answering yet
            if time.monotonic() > deadline:
                print(f"moto's server did not answer ListSecrets within {START_TIMEOUT:g}s: {exc}", flush=True)
                return 1
            time.sleep(0.2)
    secrets = wanted()
    seed(sm, secrets, os.environ.get("DEVENV_ENVIRONMENT", ""))
    print(f"Secrets Manager at port {PORT} seeded with {len(secrets)} secret(s): {', '.join(sorted(secrets))}",
          flush=True)
    while True:
        signal.pause()


def ready() -> int:
    """0 when ListSecrets answers and holds every secret of the seed file."""
    try:
        missing = sorted(set(wanted()) - names(client()))
    except Exception as exc:  # noqa: BLE001 - the probe's output is what kubectl describe shows
        print(f"ListSecrets: {type(exc).__name__}: {exc}")
        return 1
    if missing:
        print(f"not seeded yet: {', '.join(missing)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(ready() if sys.argv[1:] == ["ready"] else serve())
