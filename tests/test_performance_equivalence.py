"""Speed-ups keep behaviour: the vectorised market equals the reference on a real month of the
model (block by block and in one piece), and fleet columns grow without losing rows."""

from __future__ import annotations

import mesa
import numpy as np
import pytest

from agents.datacenter import Fleet
from benchmarks.bench import capture_market
from model import market
from model.run import compose_config
from model.schema import validate


@pytest.fixture(scope="module")
def real_month():
    """The market inputs of January 2024 in a small default-scenario run."""
    return capture_market(["demand.n_enterprises=600", "supply.n_datacenters=60"], "2024-01")


def test_vectorised_market_equals_reference_on_a_real_month(real_month):
    fast, free_fast = market.place(*real_month)
    slow, free_slow = market.place_reference(*real_month)
    assert (fast >= 0).sum() > 100                 # a real month places real load
    np.testing.assert_array_equal(fast, slow)
    np.testing.assert_array_equal(free_fast, free_slow)


def test_block_size_does_not_change_placements(real_month, monkeypatch):
    whole, _ = market.place(*real_month)
    monkeypatch.setattr(market, "BLOCK", 64)      # a few choosers per block
    blocked, _ = market.place(*real_month)
    np.testing.assert_array_equal(whole, blocked)


def test_fleet_columns_keep_every_row_when_growing_and_replaced():
    fleet = Fleet(validate(compose_config([])).supply)
    model = mesa.Model(rng=1)      # Fleet.add registers each agent with a Mesa model
    for k in range(100):
        fleet.add(model, node=k % 12, pue=1.2 + k / 1000, cap_mw=np.array([k, 2.0 * k]),
                  fpw=np.array([9.0, 25.0]))
        if k == 70:   # a column replaced by a new array (as the monthly accounts do)
            fleet.pue = fleet.pue + 0.0
            fleet.pue[0] = 9.9
    assert fleet.n == 100 and len(fleet.pue) == 100 and fleet.cap_mw.shape == (100, 2)
    np.testing.assert_array_equal(fleet.node, np.arange(100) % 12)
    np.testing.assert_allclose(fleet.pue[1:], 1.2 + np.arange(1, 100) / 1000)
    assert fleet.pue[0] == 9.9
    np.testing.assert_array_equal(fleet.cap_mw[:, 1], 2.0 * np.arange(100))
    np.testing.assert_array_equal(fleet.price, 0.0)
