"""The waits built on devenv.wait, driven by a fake clock: a service's readiness (the container's state asked
every half second, not every probe), the namespace target's data services (a Failed one ends the wait, the
quota check runs between looks, the pending ones and their last state named) and its wait for deletions (what
is left is returned and warned about)."""

from __future__ import annotations

import pytest

from devenv.domain.facts import Endpoint
from devenv.domain.profiles import ServiceSpec
from devenv.errors import DeliveryFailed, ReadinessTimeout
from devenv.services.base import STOPPED_LOOK_EVERY, Swap, wait_until_ready
from devenv.targets.namespace_removal import wait_gone
from test_wait import FakeClock


class Never(Swap):
    type = "never"
    poll_interval = 0.125  # exact in binary: the fake clock adds it up without rounding

    def __init__(self, clock: FakeClock):
        self.clock = clock
        self.probes: list[float] = []

    def ready_when(self, spec, endpoint):
        return f"an answer at {endpoint.host}:{endpoint.port}"

    def probe(self, spec, endpoint, credentials):
        self.probes.append(self.clock.now)
        raise ConnectionRefusedError("not yet")


def test_readiness_asks_whether_the_container_stopped_every_half_second_not_every_probe():
    fake = FakeClock()
    swap = Never(fake)
    asked: list[float] = []

    def stopped():
        asked.append(fake.now)
        return "exited with code 1" if len(asked) == 3 else None

    with pytest.raises(ReadinessTimeout, match="exited with code 1 before it was ready"):
        wait_until_ready(swap, ServiceSpec(name="db", type="mariadb", version="10.11"), Endpoint("127.0.0.1", 1),
                         {}, timeout=60, stopped=stopped, clock=fake.clock)
    start = swap.probes[0]
    assert asked == [start + STOPPED_LOOK_EVERY, start + 2 * STOPPED_LOOK_EVERY, start + 3 * STOPPED_LOOK_EVERY]
    assert swap.probes == [start + n * swap.poll_interval for n in range(13)]  # a probe every poll till then


def test_readiness_gives_up_at_the_timeout_with_the_last_attempt():
    fake = FakeClock()
    swap = Never(fake)
    with pytest.raises(ReadinessTimeout) as caught:
        wait_until_ready(swap, ServiceSpec(name="db", type="mariadb", version="10.11"), Endpoint("127.0.0.1", 1),
                         {}, timeout=2, clock=fake.clock, logs=lambda: ["ready for connections? no"])
    assert caught.value.message == "db (mariadb) was not ready after 2s"
    assert caught.value.context[:2] == ["waited for: an answer at 127.0.0.1:1",
                                        "last attempt: ConnectionRefusedError: not yet"]
    assert swap.probes[-1] == pytest.approx(swap.probes[0] + 2)  # the last probe at the deadline, none after


class FakeKube:
    """The kube seam of the namespace target's waits: states per object name, one answer per look."""

    def __init__(self, states: dict[str, list[tuple[str, str]]]):
        self.states = states

    def status(self, ref):
        answers = self.states[ref["metadata"]["name"]]
        return answers.pop(0) if len(answers) > 1 else answers[0]

    def get(self, ref):
        state, _ = self.status(ref)
        return None if state == "NotFound" else ref


class Notes:
    def __init__(self):
        self.notes, self.warnings = [], []

    def note(self, message):
        self.notes.append(message)

    def warn(self, message):
        self.warnings.append(message)


def _plan(services=("db", "search")):
    from types import SimpleNamespace

    return SimpleNamespace(namespace="devenv-x", context="dev-eks",
                           services=[SimpleNamespace(name=n, type="mariadb") for n in services])


def test_namespace_services_wait_names_the_pending_ones_and_runs_the_check_between_looks(monkeypatch):
    from devenv.targets.namespace import NamespaceTarget

    monkeypatch.setenv("DEVENV_READY_TIMEOUT", "10")
    fake = FakeClock()
    kube = FakeKube({"db": [("InProgress", "0 of 1 ready"), ("Current", "")],
                     "search": [("InProgress", "Readiness probe failed")]})
    checks = []
    with pytest.raises(ReadinessTimeout) as caught:
        NamespaceTarget().wait_services(kube, _plan(), lambda: checks.append(fake.now), clock=fake.clock)
    assert caught.value.message == "data service(s) search not ready within 70s in namespace devenv-x"
    assert caught.value.context == ["search: InProgress: Readiness probe failed"]
    assert "describe pods" in caught.value.hint
    assert len(checks) == 71 and fake.sleeps == [1.0] * 70  # looks at 0..70s, the check after each


def test_namespace_services_wait_ends_at_once_when_one_failed():
    from devenv.targets.namespace import NamespaceTarget

    fake = FakeClock()
    kube = FakeKube({"db": [("Failed", "CrashLoopBackOff")], "search": [("InProgress", "")]})
    with pytest.raises(ReadinessTimeout, match="data service db failed in namespace devenv-x: CrashLoopBackOff"):
        NamespaceTarget().wait_services(kube, _plan(), lambda: None, clock=fake.clock)
    assert fake.sleeps == []


def test_namespace_services_wait_lets_the_quota_check_end_it():
    from devenv.targets.namespace import NamespaceTarget

    def quota():
        raise DeliveryFailed("namespace devenv-x's ResourceQuota refuses the pods of StatefulSet db")

    with pytest.raises(DeliveryFailed, match="ResourceQuota"):
        NamespaceTarget().wait_services(FakeKube({"db": [("InProgress", "")], "search": [("Current", "")]}),
                                        _plan(), quota, clock=FakeClock().clock)


def _ref(name):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def test_waiting_for_deletions_returns_what_is_left_and_warns_unless_quiet():
    fake = FakeClock()
    kube = FakeKube({"a": [("Current", ""), ("NotFound", "")], "b": [("Current", "")]})
    progress = Notes()
    left = wait_gone(kube, [_ref("a"), _ref("b")], timeout=3, progress=progress, what="namespaces to go",
                     clock=fake.clock)
    assert left == [_ref("b")]
    assert progress.notes == ["• waiting for namespaces to go"]  # once, not per look
    assert progress.warnings == ["Namespace b still there after 3s (namespaces to go); Kubernetes removes it once "
                                 "its finalizers are done"]
    quiet = Notes()
    assert wait_gone(FakeKube({"b": [("Current", "")]}), [_ref("b")], timeout=1, progress=quiet, what="x",
                     quiet=True, clock=FakeClock().clock) == [_ref("b")]
    assert quiet.warnings == []


def test_waiting_for_deletions_that_are_done_says_nothing():
    progress = Notes()
    assert wait_gone(FakeKube({"a": [("NotFound", "")]}), [_ref("a")], timeout=3, progress=progress, what="x",
                     clock=FakeClock().clock) == []
    assert progress.notes == [] and progress.warnings == []
