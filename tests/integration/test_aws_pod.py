"""The namespace target's `aws` pod and the embedded platform's ledger, run for real in Docker: the stand-in's
container exactly as its Deployment says (image, command, env, the start script and the seed mounted from the
ConfigMap's and Secret's contents) starts moto and seeds it; its readiness probe command passes; SIGTERM stops
it cleanly. ledger's init container (the rendered Deployment's, with only the SDK variables the IRSA adaptation
gave it) reads the RDS-style secret and its container logs in to a real MariaDB with it. Containers resolve each
other by the names the rendered facts use, on one network; the census checks nothing is left."""

from __future__ import annotations

import secrets
import time

import pytest
from it_helpers import mariadb_image
from test_aws_secrets import _aws_image_present, aws_image  # noqa: F401 - the image check is an autouse fixture

from devenv.domain import labels
from devenv.domain.facts import container_name
from devenv.domain.profiles import NamespaceSpec, load_profile
from devenv.services.aws import namespace_seed
from devenv.services.workloads import objects

pytestmark = [pytest.mark.docker, pytest.mark.mariadb_image, pytest.mark.kustomize, pytest.mark.timeout(600)]
ATTEMPTS = 240  # of the readiness probe, half a second apart: a bound on the wait, not a timing claim


def _env(container: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env") or [] if "value" in e}


def _until(check, what: str, logs) -> None:
    for _ in range(ATTEMPTS):
        if check():
            return
        time.sleep(0.5)
    pytest.fail(f"{what} never happened; logs:\n{logs()}")


def test_the_stand_ins_pod_seeds_moto_and_ledger_reads_its_secret_and_logs_in(client, new_env, tmp_path) -> None:
    from devenv.flux.render import render_environment

    name = new_env("awspod")
    tags = {labels.MANAGED: "true", labels.ENVIRONMENT: name}
    profile = load_profile("local")  # its facts name the containers, as pods on a kind network reach them
    password = secrets.token_urlsafe(18)
    seed = namespace_seed(profile, name, f"devenv-{name}", "aws", {"db": {"password": password},
                                                                   "aws": {"seed": secrets.token_hex(8)}})
    aws_spec = next(s for s in profile.services if s.type == "aws")
    found = {o["kind"]: o for o in objects(aws_spec, f"devenv-{name}", tags, aws_image(), NamespaceSpec(), seed=seed)}
    (tmp_path / "start").mkdir()
    (tmp_path / "seed").mkdir()
    (tmp_path / "start" / "start.py").write_text(found["ConfigMap"]["data"]["start.py"])
    (tmp_path / "seed" / "secrets.json").write_text(found["Secret"]["stringData"]["secrets.json"])
    pod = found["Deployment"]["spec"]["template"]["spec"]
    stand_in = pod["containers"][0]
    mounts = {m["name"]: m["mountPath"] for m in stand_in["volumeMounts"]}

    rendered = render_environment(profile, name)
    ledger = next(r for _, r in rendered.resources() if r["kind"] == "Deployment" and r["metadata"]["name"] == "ledger")
    ledger_pod = ledger["spec"]["template"]["spec"]
    scripts = next(r for _, r in rendered.resources() if r["kind"] == "ConfigMap"
                   and r["metadata"]["name"] == "ledger-scripts")["data"]
    (tmp_path / "scripts").mkdir()
    for file, text in scripts.items():
        (tmp_path / "scripts" / file).write_text(text)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    run_dir.chmod(0o777)  # the pod's emptyDir, writable by its user 10001
    user = str(ledger_pod["securityContext"]["runAsUser"])

    network = client.networks.create(f"devenv-{name}", labels=tags)
    started = []
    try:
        db = client.containers.run(
            mariadb_image(), detach=True, name=container_name(name, "db"), network=network.name, labels=tags,
            environment={"MARIADB_USER": "orders", "MARIADB_PASSWORD": password, "MARIADB_DATABASE": "orders",
                         "MARIADB_RANDOM_ROOT_PASSWORD": "1"})
        started.append(db)
        aws = client.containers.run(
            aws_image(), detach=True, name=container_name(name, "aws"), network=network.name, labels=tags,
            entrypoint=stand_in["command"], environment=_env(stand_in), user=str(pod["securityContext"]["runAsUser"]),
            cap_drop=stand_in["securityContext"]["capabilities"]["drop"], security_opt=["no-new-privileges"],
            volumes={str(tmp_path / "start"): {"bind": mounts["start"], "mode": "ro"},
                     str(tmp_path / "seed"): {"bind": mounts["seed"], "mode": "ro"}})
        started.append(aws)
        probe = stand_in["readinessProbe"]["exec"]["command"]
        _until(lambda: aws.exec_run(probe).exit_code == 0, "the stand-in's readiness probe passing",
               lambda: aws.logs().decode())
        assert "seeded with 1 secret(s): shop/ledger/db" in aws.logs().decode()
        login = ["mariadb", "-h127.0.0.1", "-uorders", f"-p{password}", "orders", "-e", "SELECT 1"]
        _until(lambda: db.exec_run(login).exit_code == 0, "MariaDB ready", lambda: db.logs().decode()[-2000:])

        # ledger's init container as rendered, on the offline image that stands in for its own
        init = ledger_pod["initContainers"][0]
        assert init["image"] == "motoserver/moto:5.2.3"
        assert _env(init)["AWS_ENDPOINT_URL_SECRETS_MANAGER"] == f"http://{container_name(name, 'aws')}:5000"
        reader = client.containers.run(
            aws_image(), detach=True, name=container_name(name, "ledger-init"), network=network.name, labels=tags,
            entrypoint=init["command"], environment=_env(init), user=user,
            volumes={str(tmp_path / "scripts"): {"bind": "/scripts", "mode": "ro"},
                     str(run_dir): {"bind": "/run/ledger", "mode": "rw"}})
        started.append(reader)
        assert reader.wait(timeout=120)["StatusCode"] == 0, reader.logs().decode()
        assert (f"mariadb credentials of orders@{container_name(name, 'db')}:3306/orders read from Secrets Manager "
                "secret shop/ledger/db") in reader.logs().decode()
        assert password not in reader.logs().decode()
        assert (run_dir / "client.cnf").stat().st_mode & 0o077 == 0  # only its own user reads the password

        main = ledger_pod["containers"][0]
        server = client.containers.run(
            mariadb_image(), detach=True, name=container_name(name, "ledger"), network=network.name, labels=tags,
            entrypoint=main["command"], environment=_env(main), user=user,
            volumes={str(tmp_path / "scripts"): {"bind": "/scripts", "mode": "ro"},
                     str(run_dir): {"bind": "/run/ledger", "mode": "ro"}})
        started.append(server)
        _until(lambda: "ledger: connected as orders@" in server.logs().decode(), "ledger logging in",
               lambda: server.logs().decode())
        assert server.exec_run(main["readinessProbe"]["exec"]["command"], user=user).exit_code == 0

        aws.stop(timeout=20)
        assert aws.wait(timeout=30)["StatusCode"] == 0  # PID 1 handled SIGTERM: moto stopped, not killed
    finally:
        for container in started:
            container.remove(force=True)
        network.remove()
