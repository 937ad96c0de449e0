"""The model's invariants (docs/reliability.md) every month, determinism, and the default run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import SHORT

from model.constants import HOURS_PER_MONTH, OPERATING
from model.model import EDWCModel
from model.run import compose_config, simulate
from model.schema import validate


def check_month(m: EDWCModel) -> None:
    """Every invariant of docs/reliability.md on the model's own state after one month."""
    t, f, acc = m.enterprises, m.fleet, m.account
    rec = m.recorder.national[-1]
    want = m.want_w
    placed = t.pool >= 0
    # placed + unserved = demand, exactly, in watts; a placed segment holds at most its demand
    # (less while it waits in place for room to grow)
    assert (t.load_w[placed] <= want[placed]).all() and (t.load_w[placed] > 0).all()
    assert (t.load_w[~placed] == 0).all()
    assert rec["served_mw"] + rec["unserved_mw"] == pytest.approx(rec["demand_mw"], rel=1e-12)
    assert rec["unserved_mw"] >= -1e-9
    # occupied <= capacity for every pool; nothing sits in a DC that is not operating
    cap = np.where(f.operating[:, None], f.cap_mw, 0.0)
    assert (m.fleet.occupied_mw <= cap + 1e-9).all()
    assert (m.fleet.occupied_mw[f.status != OPERATING] == 0).all()
    # energy = (IT load + (design PUE - 1) x ((1 - f) IT load + f operating capacity)) x hours,
    # never below IT load x design PUE (partial load); emissions = energy x factor (both)
    it, share = f.occupied_mw.sum(axis=1), f.supply.pue_fixed_overhead_share
    op_cap = cap.sum(axis=1)                     # operating capacity (cap is masked above)
    np.testing.assert_allclose(
        acc.energy, (it + (f.pue - 1) * ((1 - share) * it + share * op_cap)) * HOURS_PER_MONTH)
    assert (acc.energy >= it * f.pue * HOURS_PER_MONTH * (1 - 1e-12)).all()
    assert rec["co2_location_t"] == pytest.approx(float((acc.node_energy * m.grids.ef).sum()))
    np.testing.assert_allclose(acc.co2_market,
                               (acc.energy - acc.green_mwh) * m.grids.ef[f.node])
    assert rec["co2_market_t"] <= rec["co2_location_t"] + 1e-6
    # budgets never below zero; money paid = money received
    for gov in m.local_govs:
        for budget in gov.budgets:
            assert budget.left >= -1e-6
    assert rec["enterprise_spend_rmb"] + rec["subsidy_voucher_rmb"] == pytest.approx(
        rec["revenue_rmb"])
    grid_income = (acc.energy * 1e3 * m.grids.base_tariff[f.node]).sum()
    assert acc.electricity.sum() + acc.discount_paid.sum() == pytest.approx(grid_income)
    assert rec["subsidy_total_rmb"] == pytest.approx(
        rec["subsidy_voucher_rmb"] + rec["subsidy_power_rmb"] + rec["subsidy_capex_rmb"])
    # no negative capacities, loads, prices
    assert (f.cap_mw >= 0).all() and (t.demand_mw >= 0).all()
    assert (f.price[f.operating] > 0).all()
    assert all(np.isfinite(v) for v in rec.values() if isinstance(v, float))


def test_invariants_hold_every_month(short_config):
    m = EDWCModel(short_config)
    check_month(m)
    while not m.finished:
        m.step()
        check_month(m)
    assert m.month == short_config.run.end


def test_reference_market_gives_the_same_run():
    config = validate(compose_config(["run.end=2022-06", "demand.n_enterprises=300",
                                      "supply.n_datacenters=40"]))
    fast, slow = EDWCModel(config), EDWCModel(config, reference_market=True)
    for m in (fast, slow):
        m.run()
    np.testing.assert_array_equal(fast.enterprises.pool, slow.enterprises.pool)
    pd.testing.assert_frame_equal(fast.recorder.tables()["national"],
                                  slow.recorder.tables()["national"])


def test_same_seed_same_tables_other_seed_differs(short_run):
    again = simulate(compose_config(SHORT)).tables
    for name, table in short_run.items():
        pd.testing.assert_frame_equal(table, again[name], check_exact=True)
    other = simulate(compose_config([*SHORT, "run.seed=7"])).tables
    assert not other["national"]["served_mw_west"].equals(short_run["national"]["served_mw_west"])


def test_tables_have_the_documented_shape(short_run):
    nat, node, flows = short_run["national"], short_run["node"], short_run["flows"]
    assert len(nat) == 36 and nat["month"].is_monotonic_increasing
    assert len(node) == 36 * 12 and set(node["role"]) == {"east", "central", "west"}
    by_month = flows.groupby("month")["mw"].sum().to_numpy()
    np.testing.assert_allclose(by_month, nat["served_mw"].to_numpy(), rtol=1e-9)
    assert set(flows["latency_class"]) <= {"realtime", "interactive", "batch"}
    assert set(short_run["datacenters"]["year"]) == {2022, 2023, 2024}
    assert short_run["enterprises"].groupby("year")["demand_mw"].sum().is_monotonic_increasing


@pytest.fixture(scope="module")
def default_run():
    """The default scenario at default size over the full 2022-2035 horizon."""
    return simulate(compose_config([])).tables


def test_default_run_serves_all_nodes_and_moves_load_west(default_run):
    nat, node = default_run["national"], default_run["node"]
    last = node[node["month"] == node["month"].max()]
    assert (last["served_mw"] > 0).all() and len(last) == 12
    yearly = nat.groupby("year")["west_share"].mean()
    assert yearly.loc[2035] > yearly.loc[2022] + 0.1
    assert nat["unserved_mw"].iloc[-12:].mean() < 0.05 * nat["demand_mw"].iloc[-12:].mean()
    assert nat["pue"].iloc[-1] < nat["pue"].iloc[0]
