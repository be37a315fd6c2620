"""Fixtures every suite shares: unique environment names, registered for the suite's census."""

from __future__ import annotations

import os
import uuid

import pytest

# The suites test what `up` does from empty data (and its faults) independently of each other, so the cache
# of seeded data is off unless a test turns it on (tests/integration/test_warm_starts.py, tests/plugin/test_plugin_cache.py);
# those tests remove the snapshots they make, and a census proves it.
os.environ.setdefault("DEVENV_CACHE", "off")


@pytest.fixture
def env_names() -> list[str]:
    """The environments the current test made; the suite's census checks each of them."""
    return []


@pytest.fixture
def new_env(env_names, request):
    """Return a unique environment name (registered for the census) each call."""

    def make(prefix: str = request.path.parent.name[:3]) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        env_names.append(name)
        return name

    return make
