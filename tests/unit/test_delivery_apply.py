"""The pure parts of delivery `apply` (the cluster-facing behaviour is proven on the lab in
tests/integration/test_apply_delivery.py): Go durations, dependsOn waves, inventory names."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from devenv.delivery.apply import go_duration, inventory_name, waves


@pytest.mark.parametrize("text, seconds", [("5m", 300), ("1h30m", 5400), ("90s", 90), ("500ms", 0.5),
                                           ("2m30s", 150), (None, 300), ("soon", 300), ("5", 300)])
def test_go_durations(text, seconds) -> None:
    assert go_duration(text) == seconds


def k(name: str, *deps: str, parent: str | None = None):
    return SimpleNamespace(id=f"flux-system/{name}", depends_on=[f"flux-system/{d}" for d in deps], parent=parent)


def test_independent_kustomizations_share_a_wave_and_dependants_come_after() -> None:
    items = [k("infra"), k("crds"), k("configs", "infra", "crds"), k("apps", "configs"), k("monitoring", "infra"),
             k("nested", parent="flux-system/apps")]
    assert [[x.id.split("/")[1] for x in wave] for wave in waves(items)] == [
        ["infra", "crds"], ["configs", "monitoring"], ["apps"], ["nested"]]


def test_inventory_names_are_valid_and_differ_per_environment() -> None:
    long_id = "flux-system/" + "a-very-long-kustomization-name" * 5
    names = {inventory_name(env, ks) for env in ("feat-a", "feat-b") for ks in ("flux-system/apps", long_id)}
    assert len(names) == 4
    for name in names:
        assert len(name) <= 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name), name
