"""The render's scheduler: Flux Kustomizations in dependency waves. The builds of a wave run in parallel threads;
each is rendered, in dependsOn order, as soon as its build is done (later builds go on meanwhile); what that
brings (nested Kustomizations, sources that make waiting ones readable) is the next wave."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

from devenv.errors import CommandFailed, PlatformError
from devenv.flux.kustomizations import FluxKustomization, dependency_order

Wave = list[FluxKustomization]


def run_waves(wave: Wave, *, workers: int, buildable: Callable[[FluxKustomization], bool],
              build: Callable[[FluxKustomization], list[dict]],
              render: Callable[[FluxKustomization, list[dict]], Wave],
              failed: Callable[[FluxKustomization, Exception], None],
              next_wave: Callable[[Wave], Wave], before: Callable[[], None] = lambda: None,
              while_first_builds_run: Callable[[], None] = lambda: None) -> bool:
    """Run waves until one is empty: `before` each (a cycle check), `build` each `buildable` Kustomization of the
    wave in a thread, `render` each in dependency order with its build's objects (returning the nested ones);
    a build that raised CommandFailed or PlatformError goes to `failed` (which raises to end the render);
    `next_wave` gets the wave's nested Kustomizations and returns the next. `while_first_builds_run` is called
    once, right after the first builds started. Returns whether any wave ran."""
    started = False
    with ThreadPoolExecutor(max_workers=workers) as pool:
        while wave:
            before()
            futures = {k.id: pool.submit(build, k) for k in wave if buildable(k)}
            if not started:
                started = True
                while_first_builds_run()
            wave = next_wave(_finish(wave, futures, render, failed))
    return started


def _finish(wave: Wave, futures: dict[str, Future], render, failed) -> Wave:
    nested: Wave = []
    try:
        for k in dependency_order(wave):
            if k.id not in futures:
                continue
            try:
                objects = futures[k.id].result()
            except (CommandFailed, PlatformError) as err:
                failed(k, err)
                continue
            nested += render(k, objects)
    except BaseException:
        for future in futures.values():
            future.cancel()
        raise
    return nested
