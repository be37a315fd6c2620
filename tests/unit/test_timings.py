"""devenv.timings: phases are recorded only inside `recording()`, from every thread, with their offsets."""

from __future__ import annotations

import threading
import time

from devenv import timings


def test_phases_outside_a_recording_are_not_kept() -> None:
    with timings.phase("nobody asked"):
        pass
    with timings.recording() as phases:
        pass
    assert phases == []


def test_phases_from_threads_are_recorded_with_start_and_duration() -> None:
    with timings.recording() as phases:
        with timings.phase("first"):
            time.sleep(0.02)
        worker = threading.Thread(target=timings.timed("in a thread", time.sleep), args=(0.01,))
        worker.start()
        worker.join()
    by_name = {p.name: p for p in phases}
    assert set(by_name) == {"first", "in a thread"}
    assert by_name["first"].seconds >= 0.02
    assert by_name["in a thread"].start >= by_name["first"].start + by_name["first"].seconds
    with timings.phase("after"):
        pass
    assert "after" not in {p.name for p in phases}
