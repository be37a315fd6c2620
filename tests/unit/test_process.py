"""The process runner: argument lists, timeouts, redaction, clear errors."""

from __future__ import annotations

import sys

import pytest

from devenv import process
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
