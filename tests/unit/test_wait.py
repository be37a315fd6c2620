"""devenv.wait: a look asked again until it holds, the deadline kept on a fake clock (no real time passes),
and the error that names what was waited for and the last state seen."""

from __future__ import annotations

import pytest

from devenv.errors import EnvironmentBusy, KubeError, ReadinessTimeout
from devenv.wait import Clock, NotYet, timed_out, until


class FakeClock:
    """Time moves only when the code under test sleeps; every sleep is recorded."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0, "a wait never sleeps zero or negative seconds"
        self.sleeps.append(seconds)
        self.now += seconds

    @property
    def clock(self) -> Clock:
        return Clock(monotonic=self.monotonic, sleep=self.sleep)


def answers(*states):
    """A look that answers each of `states` in turn (a NotYet for a str) and records when it was asked."""
    asked = []
    it = iter(states)

    def look():
        asked.append(len(asked))
        state = next(it)
        return NotYet(state) if isinstance(state, (str, list)) else state

    look.asked = asked
    return look


def test_a_condition_that_holds_at_once_returns_its_answer_without_sleeping():
    fake = FakeClock()
    assert until(answers(42), what="x", timeout=5, clock=fake.clock) == 42
    assert fake.sleeps == []


def test_it_asks_again_every_poll_until_the_condition_holds():
    fake = FakeClock()
    look = answers("starting", "starting", {"ready": True})
    assert until(look, what="x", timeout=5, poll=0.25, clock=fake.clock) == {"ready": True}
    assert len(look.asked) == 3 and fake.sleeps == [0.25, 0.25]


def test_giving_up_names_what_it_waited_for_and_the_last_state_seen():
    fake = FakeClock()
    look = answers(*(f"InProgress: {n} of 3 replicas" for n in range(100)))
    with pytest.raises(ReadinessTimeout) as caught:
        until(look, what="Deployment app/web Ready", timeout=2, poll=0.5, clock=fake.clock, hint="kubectl describe")
    err = caught.value
    assert err.message == "gave up waiting for Deployment app/web Ready after 2s"
    assert err.context == ["last seen: InProgress: 4 of 3 replicas"]  # looks at 0, .5, 1, 1.5 and 2
    assert err.hint == "kubectl describe"
    assert fake.now == 1002.0  # no look after the deadline, none skipped before it


def test_the_last_sleep_stops_at_the_deadline_so_the_last_look_is_made_there():
    fake = FakeClock()
    look = answers("no", "no", "no")
    with pytest.raises(ReadinessTimeout):
        until(look, what="x", timeout=1.2, poll=1.0, clock=fake.clock)
    assert fake.sleeps == [1.0, pytest.approx(0.2)] and len(look.asked) == 3


def test_several_things_pending_each_get_their_own_line():
    fake = FakeClock()
    with pytest.raises(ReadinessTimeout) as caught:
        until(answers(["db: InProgress", "search: NotFound"]), what="data services", timeout=0, clock=fake.clock)
    assert caught.value.context == ["last seen:", "  db: InProgress", "  search: NotFound"]


def test_a_zero_timeout_looks_once_and_never_sleeps():
    fake = FakeClock()
    look = answers("held")
    with pytest.raises(ReadinessTimeout):
        until(look, what="x", timeout=0, clock=fake.clock)
    assert len(look.asked) == 1 and fake.sleeps == []


def test_give_up_builds_the_callers_own_error_from_the_last_state():
    fake = FakeClock()
    with pytest.raises(EnvironmentBusy, match="busy: pid 7") as caught:
        until(answers("pid 1", "pid 7"), what="x", timeout=0.5, poll=0.5, clock=fake.clock,
              give_up=lambda seen: EnvironmentBusy(f"busy: {seen.state}"))
    assert caught.value.exit_code == EnvironmentBusy.exit_code


def test_between_sees_each_state_and_can_end_the_wait_early():
    fake = FakeClock()
    seen = []

    def between(state: NotYet):
        seen.append(state.state)
        if state.state == "quota exceeded":
            raise KubeError("refused by the quota")

    with pytest.raises(KubeError, match="quota"):
        until(answers("pending", "quota exceeded", "never asked"), what="x", timeout=60, clock=fake.clock,
              between=between)
    assert seen == ["pending", "quota exceeded"] and len(fake.sleeps) == 1


def test_an_error_from_the_look_ends_the_wait_at_once():
    fake = FakeClock()

    def look():
        raise KubeError("Deployment app/web failed: ImagePullBackOff")

    with pytest.raises(KubeError, match="ImagePullBackOff"):
        until(look, what="x", timeout=60, clock=fake.clock)
    assert fake.sleeps == []


def test_timed_out_can_raise_another_error_type():
    err = timed_out("the kubeconfig lock", 10, NotYet("/tmp/config.lock exists"), error=EnvironmentBusy)
    assert isinstance(err, EnvironmentBusy)
    assert str(err) == "gave up waiting for the kubeconfig lock after 10s\n  last seen: /tmp/config.lock exists"


def test_the_system_clock_is_the_default():
    assert until(lambda: "ok", what="x", timeout=0) == "ok"
