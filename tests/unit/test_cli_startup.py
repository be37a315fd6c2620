"""What the CLI loads before a command's work starts: the heavy SDKs only in the commands that use them.

Each check runs in a fresh interpreter (this test process has long since imported everything), drives the
real typer app through argument parsing, and lists which of the heavy packages ended up in sys.modules.
Parsing matters as much as importing: typer 0.29 imports pydantic only when it coerces the first option.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

from dead_sockets import dead_socket

# docker (the SDK: devenv.clients.docker, only in the commands that talk to the engine) and its requests and urllib3;
# testcontainers; kubernetes: devenv.clients.kube; pydantic: typer >= 0.29's option parsing (and the kubernetes client);
# pymysql: MariaDB's readiness probe and the plugin's connections.
HEAVY = ("docker", "testcontainers", "kubernetes", "pydantic", "pymysql", "requests", "urllib3")

PROBE = textwrap.dedent("""
    import json, sys
    from devenv.cli import COMMANDS, GROUPS, main
    sys.argv = ["devenv", *sys.argv[1:]]  # as the console script runs it
    try:
        main()
    except SystemExit as stop:
        code = stop.code
    else:
        code = 0
    heavy = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.stdin.readline())))
    commands = sorted({f"devenv.cli.{module}" for module in {**COMMANDS, **GROUPS}.values()} & set(sys.modules))
    print("\\n" + json.dumps({"code": code, "heavy": heavy, "commands": commands}))
""")


def run(*argv: str, stdin: str = "", env: dict[str, str] | None = None) -> tuple[dict, str]:
    """What `devenv ARGV` loaded (its exit code, the heavy packages, the command modules), and what it printed."""
    result = subprocess.run([sys.executable, "-c", PROBE, *argv], input=json.dumps(HEAVY) + "\n" + stdin,
                            capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    return json.loads(lines[-1]), "\n".join(lines[:-1]) + result.stderr


def loaded(*argv: str, **options) -> dict:
    report, _ = run(*argv, **options)
    return {"code": report["code"], "heavy": report["heavy"]}


def wired(*argv: str) -> tuple[dict, str]:
    report, out = run(*argv)
    return {"code": report["code"], "commands": report["commands"]}, out


def test_importing_the_cli_loads_no_heavy_package():
    result = subprocess.run(
        [sys.executable, "-c", f"import sys, devenv.cli; print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r}))"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_help_loads_no_heavy_package():
    assert loaded("--help") == {"code": 0, "heavy": []}
    assert loaded("up", "--help") == {"code": 0, "heavy": []}


def test_parsing_options_loads_no_heavy_package(tmp_path):
    """`profiles -o json` parses a string option and loads the profiles; `substitute` parses a list argument
    and repeated options: with a typer that coerces through pydantic, these would import it."""
    assert loaded("profiles", "-o", "json") == {"code": 0, "heavy": []}
    manifest = tmp_path / "cm.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: ${A}\n")
    assert loaded("-q", "substitute", str(manifest), "--set", "A=1", "-o", "json") == {"code": 0, "heavy": []}


def test_render_loads_no_heavy_package():
    """`render` talks to no engine: it loads neither the docker SDK nor the kubernetes client."""
    report, out = run("-q", "render", "demo")
    assert {"code": report["code"], "heavy": report["heavy"]} == {"code": 0, "heavy": []}, out


def test_a_bad_option_value_is_refused_without_loading_a_heavy_package():
    assert loaded("profiles", "-o", "yaml") == {"code": 2, "heavy": []}


def test_talking_to_the_engine_loads_the_docker_sdk_and_nothing_else_heavy():
    """`up` of the docker target goes as far as asking the engine its version (on a socket that accepts and
    hangs up at once: exit 5): the docker SDK and its HTTP stack are loaded (issue 20: one engine client, ~0.1 s
    accepted), the kubernetes client, pydantic and pymysql are not."""
    path = Path(f"/tmp/devenv-startup-{uuid.uuid4().hex[:12]}.sock")  # unix socket paths: ~100 bytes at most
    with dead_socket(path, hangs_up=True) as docker_host:
        found = loaded("up", "startup-check", "--profile", "test", env={"DOCKER_HOST": docker_host})
    assert found == {"code": 5, "heavy": ["docker", "requests", "urllib3"]}


def test_the_console_script_wires_only_the_command_it_runs():
    """`devenv up` imports the `up` command's module and not the fifteen others (~10 ms of every start);
    `devenv --help` and a mistyped command still see all of them."""
    found, out = wired("-q", "up", "--help")
    assert found == {"code": 0, "commands": ["devenv.cli.up"]}
    assert "Usage: devenv up [OPTIONS] [name]" in out
    found, out = wired("-v", "cache", "--help")
    assert found == {"code": 0, "commands": ["devenv.cli.cache"]}
    assert "prune" in out
    found, out = wired("--help")
    assert found["code"] == 0 and len(found["commands"]) == 16
    assert "doctor" in out and "cache" in out
    found, out = wired("upp")
    assert found["code"] == 2 and len(found["commands"]) == 16
    assert "No such command 'upp'. Did you mean 'up'?" in out


def test_command_in_skips_the_root_options():
    from devenv.cli import command_in

    assert command_in(["-q", "up", "demo", "--profile", "test"]) == "up"
    assert command_in(["-vv", "--debug", "cache", "list"]) == "cache"
    assert command_in(["down", "up"]) == "down"
    assert command_in(["--help"]) is None
    assert command_in([]) is None
    assert command_in(["upp"]) is None
    assert command_in(["--", "up"]) is None
