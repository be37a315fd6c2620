"""Polling until a condition holds, with a deadline; giving up names what was waited for and the last state seen.

In the style of testcontainers' wait strategies: a look (a callable) answers either the result or
`NotYet(state)`; `until` asks again every `poll` seconds until the deadline, then raises. The clock is a
seam, so a test drives a wait with a fake one and no real time passes."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, TypeVar

from devenv.errors import DevenvError, ReadinessTimeout

T = TypeVar("T")


@dataclass(frozen=True)
class Clock:
    """Where a wait reads the time (monotonic seconds) and sleeps."""

    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


SYSTEM = Clock()


@dataclass(frozen=True)
class NotYet:
    """A look's answer while the condition does not hold: the state it saw (one line, or one line per thing)."""

    state: str | list[str]

    @property
    def lines(self) -> list[str]:
        return [self.state] if isinstance(self.state, str) else list(self.state)


def until(look: Callable[[], T | NotYet], *, what: str, timeout: float, poll: float = 0.5,
          between: Callable[[NotYet], None] | None = None, clock: Clock = SYSTEM, hint: str | None = None,
          give_up: Callable[[NotYet], BaseException] | None = None) -> T:
    """Call `look` until it answers something other than NotYet, and return that. Between looks call
    `between` with the state just seen (it may raise to end the wait early, or report progress), then
    sleep `poll` seconds (never past the deadline, so the last look happens at it). Once `timeout` seconds
    have passed, raise `give_up(last)` or else ReadinessTimeout naming `what` and the last state seen.
    An exception from `look` ends the wait at once (a state that cannot become ready)."""
    deadline = clock.monotonic() + timeout
    while True:
        seen = look()
        if not isinstance(seen, NotYet):
            return seen
        if between is not None:
            between(seen)
        left = deadline - clock.monotonic()
        if left <= 0:
            if give_up is not None:
                raise give_up(seen)
            raise timed_out(what, timeout, seen, hint=hint)
        clock.sleep(min(poll, left))


def timed_out(what: str, timeout: float, seen: NotYet, *, hint: str | None = None,
              error: type[DevenvError] = ReadinessTimeout) -> DevenvError:
    """The error of a wait that gave up: what it waited for, for how long, and the last state it saw."""
    lines = seen.lines
    context = [f"last seen: {lines[0]}"] if len(lines) == 1 else ["last seen:", *(f"  {line}" for line in lines)]
    return error(f"gave up waiting for {what} after {timeout:g}s", context=context, hint=hint)
