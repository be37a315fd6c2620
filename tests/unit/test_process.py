"""The process runner: argument lists, timeouts, redaction, clear errors."""

from __future__ import annotations

import sys

import pytest

from devenv.clients import process
from devenv.errors import CommandFailed, ToolMissing


def test_run_returns_output_and_passes_stdin() -> None:
    result = process.run([sys.executable, "-c", "import sys; print(sys.stdin.read().upper())"], stdin="hi", timeout=30)
    assert result.stdout.strip() == "HI" and result.returncode == 0


def test_arguments_are_never_shell_interpreted(tmp_path) -> None:
    marker = tmp_path / "pwned"
    result = process.run(["echo", f"; touch {marker}"], timeout=10)
    assert result.stdout.strip() == f"; touch {marker}"
    assert not marker.exists()


def test_failure_carries_pasteable_command_exit_code_and_redacted_tail() -> None:
    with pytest.raises(CommandFailed) as caught:
        process.run([sys.executable, "-c", "import sys; print('token s3cret bad', file=sys.stderr); sys.exit(3)", "s3cret"],
                    timeout=30, redact=["s3cret"])
    err = caught.value
    assert err.returncode == 3
    assert "s3cret" not in err.command and "***" in err.command
    assert "token *** bad" in err.output and "s3cret" not in str(err)


def test_timeout_is_a_clear_failure() -> None:
    with pytest.raises(CommandFailed, match="did not finish within 0.2s"):
        process.run([sys.executable, "-c", "import time; time.sleep(5)"], timeout=0.2)


def test_missing_tool_says_how_to_install(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissing) as caught:
        process.run(["kind", "version"], timeout=5)
    assert caught.value.message == "kind is not installed (not found on PATH)"
    assert "kind.sigs.k8s.io" in caught.value.hint


def test_env_is_merged_into_a_copy_of_os_environ(monkeypatch) -> None:
    monkeypatch.setenv("DEVENV_OUTER", "outer")
    result = process.run([sys.executable, "-c", "import os; print(os.environ['DEVENV_OUTER'], os.environ['DEVENV_INNER'])"],
                         env={"DEVENV_INNER": "inner"}, timeout=30)
    assert result.stdout.split() == ["outer", "inner"]
    import os

    assert "DEVENV_INNER" not in os.environ


def test_docker_and_kind_get_the_engine_devenv_uses(tmp_path, monkeypatch) -> None:
    """A `docker` or `kind` process sees DOCKER_HOST set to the engine devenv chose (here the current docker
    context), not its own reading of the context; other tools are left alone. Real processes: scripts on PATH
    named docker and kind that print what they were given."""
    import hashlib
    import json

    config = tmp_path / "docker-config"
    meta = config / "contexts" / "meta" / hashlib.sha256(b"proxied").hexdigest() / "meta.json"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({"Name": "proxied", "Endpoints": {"docker": {"Host": "unix:///tmp/proxied.sock"}}}))
    (config / "config.json").write_text(json.dumps({"currentContext": "proxied"}))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("docker", "kind", "kubectl"):
        script = bin_dir / tool
        script.write_text("#!/bin/sh\necho \"DOCKER_HOST=${DOCKER_HOST:-unset} DOCKER_CONTEXT=${DOCKER_CONTEXT:-unset}\"\n")
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("DOCKER_CONTEXT", "proxied")
    assert process.run(["docker", "exec", "x", "true"], timeout=10).stdout.split() == \
        ["DOCKER_HOST=unix:///tmp/proxied.sock", "DOCKER_CONTEXT=unset"]
    assert process.run(["kind", "get", "clusters"], timeout=10, env={"X": "1"}).stdout.split() == \
        ["DOCKER_HOST=unix:///tmp/proxied.sock", "DOCKER_CONTEXT=unset"]
    assert process.run(["kubectl", "version"], timeout=10).stdout.split() == \
        ["DOCKER_HOST=unset", "DOCKER_CONTEXT=proxied"]


def test_detach_leaves_no_running_child_here_so_no_warning_and_no_zombie(tmp_path):
    """The detached process is not this process's child (no Popen object left running here, whose __del__
    warns: an error under a suite's `filterwarnings = error`), runs in its own session and writes its log."""
    import gc
    import os
    import time
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pid = process.detach([sys.executable, "-c", "import os, time; print(os.getsid(0)); time.sleep(0.5)"],
                             log_file=tmp_path / "out.log")
        gc.collect()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    deadline = time.monotonic() + 10
    while not (tmp_path / "out.log").read_text().strip() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert int((tmp_path / "out.log").read_text().split()[0]) == pid  # its own session: it leads it
