"""The in-cluster port of each data service is its swap's container port, read from the swap: the facts the
render writes into the environment ConfigMap follow a swap whose port changes, and the domain keeps no table of
its own (devenv.domain.facts has no CONTAINER_PORTS)."""

from dataclasses import dataclass

from devenv.domain import facts
from devenv.domain.profiles import load_profile
from devenv.services import SWAPS


@dataclass(frozen=True)
class Moved:
    container_port: int


def test_the_in_cluster_facts_take_the_port_from_the_swap():
    profile = load_profile("local")
    seen = facts.cluster_facts(profile, "demo", swaps=SWAPS)
    for svc in profile.services:
        assert seen[svc.name]["port"] == str(SWAPS[svc.type].container_port)
    moved = facts.cluster_facts(profile, "demo", swaps={kind: Moved(4000 + i) for i, kind in enumerate(SWAPS)})
    assert {seen_svc["port"] for seen_svc in moved.values()} <= {str(4000 + i) for i in range(len(SWAPS))}
    assert all(moved[s.name]["port"] != seen[s.name]["port"] for s in profile.services)


def test_the_domain_keeps_no_table_of_ports():
    assert not hasattr(facts, "CONTAINER_PORTS")
