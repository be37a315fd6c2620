"""The data-service swaps, one module each behind the small `Swap` interface of services.base."""

from __future__ import annotations

from devenv.services.aws import AWS
from devenv.services.base import Swap
from devenv.services.mariadb import MariaDB
from devenv.services.opensearch import OpenSearch

SWAPS: dict[str, Swap] = {swap.type: swap for swap in (MariaDB(), OpenSearch(), AWS())}


def swap_for(service_type: str) -> Swap:
    try:
        return SWAPS[service_type]
    except KeyError:
        raise KeyError(f"no swap for service type {service_type!r} (known: {', '.join(SWAPS)})") from None
