"""The in-cluster port of each data service type is its swap's container port: the table the domain keeps for
the offline render (devenv.domain.facts.CONTAINER_PORTS, below the services layer) must say the same."""

from devenv.domain.facts import CONTAINER_PORTS
from devenv.services import SWAPS


def test_every_swaps_container_port_is_the_one_the_domain_renders():
    assert CONTAINER_PORTS == {kind: swap.container_port for kind, swap in SWAPS.items()}
