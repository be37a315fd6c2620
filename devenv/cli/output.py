"""What the CLI prints: results on stdout (JSON, YAML, tables), progress and notes on stderr."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from enum import Enum
from typing import Any, Iterable, Iterator, Sequence, TypeVar

import typer

_quiet = False


class TableOrJson(str, Enum):
    """`-o` of the commands that print a table for people and JSON for scripts."""

    table = "table"
    json = "json"


E = TypeVar("E", bound=Enum)


def choice(enum: type[E], default: E, *names: str, help: str) -> Any:
    """A typer option taking one of an enum's values; a bad value is refused naming the value and the choices
    (typer's own enum check words it as a validator error: "Value error, 'x' is not one of ...")."""
    values = [member.value for member in enum]

    def check(value: Any) -> E:
        if isinstance(value, enum):
            return value
        try:
            return enum(value)
        except ValueError:
            raise typer.BadParameter(f"{value!r} is not one of: {', '.join(values)}") from None

    return typer.Option(default.value, *names, callback=check, metavar="|".join(values), help=help)


def environment_name(raw: str | None) -> str:
    """The environment name for NAME (or the git branch), saying on stderr which name is used when it is not
    exactly what was typed."""
    from devenv.domain.naming import resolve

    name, explanation = resolve(raw)
    if explanation:
        note(explanation)
    return name


def timestamp(seconds: int | float | None) -> str:
    """A point in time for people: local time with its UTC offset (2026-12-02 18:08:22+01:00); "never" for None."""
    from devenv.lifecycle.environments import timestamp

    return "never" if seconds is None else timestamp(seconds)


def age(created: int | None) -> str:
    return "-" if created is None else _duration(time.time() - created)


def until(expires: int | None, absolute: bool = False) -> str:
    """`in 7h59m` (or `3m2s ago`); with absolute, the time itself first, with its UTC offset."""
    if expires is None:
        return "never"
    left = expires - time.time()
    relative = f"in {_duration(left)}" if left > 0 else f"{_duration(-left)} ago"
    return f"{timestamp(expires)} ({relative})" if absolute else relative


def _duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def configure(*, quiet: bool) -> None:
    global _quiet
    _quiet = quiet


def emit_json(data: Any) -> None:
    """Machine-readable result on stdout (stable keys, 2-space indent)."""
    sys.stdout.write(json_text(data))


def json_text(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, default=str) + "\n"


def emit_yaml_stream(docs: Iterable[Any]) -> None:
    """A multi-document YAML stream on stdout."""
    import yaml  # only the commands that print YAML pay for it

    sys.stdout.write(yaml.safe_dump_all(list(docs), sort_keys=False, default_flow_style=False, explicit_start=True))


def emit_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A plain aligned table on stdout (no colour: it is a result, and may be piped)."""
    rows = [["" if cell is None else str(cell) for cell in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    sys.stdout.write(line([h.upper() for h in headers]) + "\n")
    for row in rows:
        sys.stdout.write(line(row) + "\n")


def phase_rows(phases) -> list[dict]:
    """`--timings` as data: each phase (devenv.timings.Phase) with its start offset and duration, in seconds."""
    return [{"phase": p.name, "start": round(p.start, 3), "seconds": round(p.seconds, 3)}
            for p in sorted(phases, key=lambda p: p.start)]


def phase_table(phases) -> None:
    """`--timings` for people, on stderr (stdout keeps the result): phases by start; they may overlap."""
    rows = phase_rows(phases)
    width = max([len("phase")] + [len(r["phase"]) for r in rows])
    note(f"{'PHASE'.ljust(width)}  {'START':>7}  {'SECONDS':>7}")
    for r in rows:
        note(f"{r['phase'].ljust(width)}  {r['start']:7.2f}  {r['seconds']:7.2f}")


def note(message: str) -> None:
    """A line for the human on stderr (suppressed by -q)."""
    if not _quiet:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()


def warn(message: str) -> None:
    sys.stderr.write(f"warning: {message}\n")
    sys.stderr.flush()


@contextlib.contextmanager
def step(message: str) -> Iterator[None]:
    """A progress line for a slow step: `• message ... done (1.2s)`; plain lines when stderr is not a terminal."""
    started = time.monotonic()
    tty = sys.stderr.isatty() and not _quiet
    if tty:
        sys.stderr.write(f"• {message} ...")
        sys.stderr.flush()
    else:
        note(f"• {message}")
    try:
        yield
    except BaseException:
        if tty:
            sys.stderr.write(" failed\n")
        raise
    elapsed = time.monotonic() - started
    if tty:
        sys.stderr.write(f" done ({elapsed:.1f}s)\n")
    elif elapsed >= 1:
        note(f"  done ({elapsed:.1f}s)")
