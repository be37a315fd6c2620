"""The orders service against a real MariaDB from devenv's `test` profile: seed rows in the session's
database, writes in a fresh database per test (safe under `pytest -n 2`)."""

import pytest

import orders


@pytest.fixture
def seeded(devenv_services, monkeypatch):
    """The service configured as the platform would configure it: the environment values."""
    for key, value in devenv_services.env.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def fresh(devenv_database, monkeypatch):
    """The service pointed at an empty database of its own, migrated."""
    for key, value in devenv_database.env.items():
        monkeypatch.setenv(key, value)
    orders.migrate()


def test_totals_come_from_the_seed_rows(seeded):
    assert orders.total_for("ada") == 1250
    assert orders.total_for("grace") == 4200


def test_unknown_customer_totals_zero(seeded):
    assert orders.total_for("nobody") == 0


@pytest.mark.parametrize("amounts", [[500], [100, 250, 4000], [1] * 10])
def test_orders_add_up(fresh, amounts):
    ids = [orders.create_order("ada", cents) for cents in amounts]
    assert len(set(ids)) == len(amounts)
    assert orders.total_for("ada") == sum(amounts)  # a fresh database: the seed's 1250 is not there


def test_orders_of_other_customers_do_not_count(fresh):
    orders.create_order("ada", 700)
    orders.create_order("grace", 300)
    assert orders.total_for("grace") == 300


def test_an_empty_order_is_refused(fresh):
    with pytest.raises(ValueError, match="more than nothing"):
        orders.create_order("ada", 0)
    assert orders.total_for("ada") == 0
