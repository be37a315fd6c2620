"""The per-environment lock: where its file lives, that another process excludes us, the wait message,
and the clear failure once the wait is over."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from devenv.errors import EnvironmentBusy
from devenv.lock import environment_lock, lock_dir, lock_path

HOLD = """
import sys, time
from devenv.lock import environment_lock
with environment_lock(sys.argv[1], purpose="up", remove_file=sys.argv[2] == "remove"):
    print("locked", flush=True)
    sys.stdin.readline()  # hold until the test says so
"""


@pytest.fixture(autouse=True)
def runtime_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture(params=["keep"])
def holder(request):
    """A second process holding the lock of environment `held` until the test ends (param "remove": it
    deletes the lock file as it lets go, as `down` does)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, "held", request.param], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    yield proc
    proc.stdin.close()
    proc.wait(timeout=10)
    proc.stdout.close()


def test_lock_files_live_under_the_runtime_dir_else_the_cache(runtime_dir, monkeypatch, tmp_path):
    assert lock_path("demo") == runtime_dir / "devenv" / "locks" / "demo.lock"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert lock_dir() == tmp_path / "home" / ".cache" / "devenv" / "locks"


def test_the_lock_is_reentrant_across_sequential_uses_and_records_its_holder():
    with environment_lock("demo", purpose="up"):
        assert "runs `devenv up`" in lock_path("demo").read_text()
    with environment_lock("demo", purpose="down", timeout=0):
        pass


def test_another_process_holding_it_makes_us_wait_then_fail_clearly(holder):
    waits = []
    started = time.monotonic()
    with pytest.raises(EnvironmentBusy) as caught:
        with environment_lock("held", purpose="up", timeout=0.3, on_wait=waits.append):
            pytest.fail("acquired a lock another process holds")
    assert time.monotonic() - started >= 0.3
    assert waits == [f"environment held is busy (pid {holder.pid} runs `devenv up`); waiting up to 0.3s"]
    assert caught.value.message == f"environment held is busy: pid {holder.pid} runs `devenv up`"
    assert "DEVENV_LOCK_TIMEOUT" in caught.value.hint


def test_other_environments_are_not_blocked(holder):
    with environment_lock("other", purpose="up", timeout=0):
        pass


@pytest.mark.parametrize("holder", ["keep", "remove"], indirect=True)
def test_a_waiting_command_goes_ahead_once_the_holder_finishes(holder):
    threading.Timer(0.2, holder.stdin.close).start()
    with environment_lock("held", purpose="down", timeout=30):
        # the lock taken is the file at the path, even when the holder deleted the one it held
        assert lock_path("held").read_text() == f"pid {os.getpid()} runs `devenv down`"
        with pytest.raises(EnvironmentBusy):
            with environment_lock("held", purpose="up", timeout=0):
                pass


def test_down_can_remove_the_lock_file_as_it_lets_go():
    with environment_lock("gone", purpose="down", remove_file=True):
        assert lock_path("gone").exists()
    assert not lock_path("gone").exists()


def test_two_threads_of_one_process_exclude_each_other():
    inside = threading.Event()
    release = threading.Event()

    def hold():
        with environment_lock("demo", purpose="up"):
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    inside.wait(10)
    try:
        with pytest.raises(EnvironmentBusy):
            with environment_lock("demo", purpose="up", timeout=0):
                pass
    finally:
        release.set()
        thread.join()
