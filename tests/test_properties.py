"""Property tests (hypothesis): over random valid configs and seeds, the invariants of
docs/reliability.md hold in the model's own state every month, and in the tables it writes.

Each example composes a small, short run (300-700 enterprises, 40-60 data centers, 14-27
months so that at least one January with its budget refill, retrofits and rack targets is
crossed) and steps an `EDWCModel` month by month. Set HYPOTHESIS_PROFILE=thorough for 200
examples instead of the fast, derandomised default.
"""

from __future__ import annotations

import copy
import os

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from model.constants import HOURS_PER_MONTH, OPERATING
from model.model import EDWCModel
from model.run import compose_config, simulate
from model.schema import validate
from model.state import Rules

THOROUGH = os.environ.get("HYPOTHESIS_PROFILE") == "thorough"


def examples(fast: int, thorough: int) -> settings:
    """Few derandomised examples in the normal test run; many random ones when thorough."""
    return settings(max_examples=thorough if THOROUGH else fast, deadline=None,
                    derandomize=not THOROUGH, suppress_health_check=[HealthCheck.too_slow])

REL = 1e-9            # relative tolerance of float sums
MW_TOL = 1e-6         # MW: one W of integer rounding in a pool is 1e-6 MW


def _f(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False).map(lambda x: round(x, 4))


SCENARIOS = ("edwc", "no_edwc", "ai_boom", "uhv_off", "edwc_green", "glut_check")

CONFIGS = st.fixed_dictionaries({
    "scenario": st.sampled_from(SCENARIOS),
    "run.seed": st.integers(0, 2**32),
    "run.end": st.sampled_from(["2023-02", "2023-09", "2024-03"]),
    "demand.n_enterprises": st.integers(300, 700),
    "supply.n_datacenters": st.integers(40, 60),
    "demand.logit_scale_rmb": _f(30, 400),
    "demand.growth.intelligent.0.value": _f(-0.3, 1.5),
    "supply.optimism": _f(-0.2, 0.3),
    "supply.growth_reserve": _f(0.0, 0.3),
    "supply.build_response": _f(0.0, 0.5),
    "policy.national.carbon_price_rmb_per_t.0.value": _f(0, 300),
    "voucher": st.tuples(_f(0, 0.8), _f(0, 2e8), st.sampled_from(["local", "any", "west"])),
    "gansu_discount": st.tuples(_f(0, 0.6), _f(0, 5e8)),
    "ningxia_capex": st.tuples(_f(0, 0.4), _f(0, 5e8)),
})


def overrides(params: dict) -> list[str]:
    """Hydra overrides for one example (`++` sets a key whether or not the scenario has it)."""
    out = [f"scenario={params['scenario']}", "run.quiet=true"]
    for key, value in params.items():
        if "." in key:
            out.append(f"++{key}={value}")
    rate, budget, scope = params["voucher"]
    out += [f"++policy.local.defaults.voucher.{k}={v}" for k, v in
            (("rate", rate), ("max_rate", rate), ("budget_rmb", budget), ("scope", scope))]
    for node, inst, (rate, budget) in (("gansu", "power_discount", params["gansu_discount"]),
                                       ("ningxia", "capex_subsidy", params["ningxia_capex"])):
        out += [f"++policy.local.nodes.{node}.{inst}.{k}={v}" for k, v in
                (("rate", rate), ("max_rate", max(rate, 0.0)), ("budget_rmb", budget))]
    return out


def state_snapshot(model: EDWCModel) -> dict[str, np.ndarray]:
    """Copies of the fleet and grid state the invariants compare against."""
    f, g = model.fleet, model.grids
    return {"pue": f.pue.copy(), "price": f.price.copy(), "cap_w": f.capacity_w(),
            "op_cap_mw": np.where(f.operating, f.cap_mw.sum(axis=1), 0.0),
            "status": f.status.copy(), "node": f.node.copy(), "occupied": f.occupied_mw.copy(),
            "ef": g.ef.copy(), "base_tariff": g.base_tariff.copy(), "tariff": g.tariff.copy()}


class Watch:
    """Snapshots of the model's state at the moment each month is accounted (before that
    month's investment changes the fleet), taken by wrapping `EDWCModel._account`."""

    def __init__(self, model: EDWCModel) -> None:
        self.model = model
        self.snap: dict[str, np.ndarray] = {}
        account = model._account

        def watched(rules: Rules) -> None:
            account(rules)
            self.snap = state_snapshot(model)

        model._account = watched   # type: ignore[method-assign]

    def paid(self) -> np.ndarray:
        """Money each local government has paid out so far (all instruments), RMB."""
        return np.array([sum(b.paid_total for b in g.budgets) for g in self.model.local_govs])


def check_month(m: EDWCModel, w: Watch, paid_before: np.ndarray) -> None:
    """Every invariant of docs/reliability.md for the month just recorded."""
    t, f, acc, s = m.enterprises, m.fleet, m.account, w.snap
    rec, node_rec = m.recorder.national[-1], m.recorder.node[-1]
    want = m.want_w
    placed = t.pool >= 0
    # demand: a placed segment holds at most its demand (less while it waits in place for
    # room to grow), an unplaced one nothing; placed + unserved = demand
    assert (t.load_w >= 0).all() and (want >= 0).all() and (t.demand_mw >= 0).all()
    assert (t.load_w[placed] <= want[placed]).all() and (t.load_w[placed] > 0).all()
    assert (t.load_w[~placed] == 0).all()
    assert np.isclose(rec["demand_mw"], want.sum() / 1e6, rtol=REL)
    assert np.isclose(rec["served_mw"], t.load_w.sum() / 1e6, rtol=REL)
    assert rec["unserved_mw"] >= -MW_TOL
    assert np.isclose(rec["served_mw"] + rec["unserved_mw"], rec["demand_mw"], rtol=REL)
    assert np.isclose(node_rec["demand_mw"].sum(), rec["demand_mw"], rtol=REL)
    assert np.isclose(node_rec["served_mw"].sum(), rec["served_mw"], rtol=REL)
    assert np.isclose(m.recorder.flows[-1].sum(), rec["served_mw"], rtol=REL)
    # occupied <= capacity, per pool (DC x compute type), only in operating DCs
    rows = len(s["status"])
    occ_w = np.bincount(t.pool[placed], weights=t.load_w[placed], minlength=2 * rows)
    assert (occ_w <= s["cap_w"]).all(), "a pool is filled beyond its capacity"
    assert np.allclose(s["occupied"], occ_w.reshape(rows, 2) / 1e6, rtol=REL, atol=1e-12)
    assert (s["occupied"][s["status"] != OPERATING] == 0).all()
    assert (f.cap_mw >= 0).all() and (f.price >= 0).all() and (s["tariff"] >= 0).all()
    # energy = (IT load + (design PUE - 1) x ((1 - f) IT load + f operating capacity)) x hours
    # per DC (partial-load PUE), never below IT load x design PUE; node and national agree
    it = s["occupied"].sum(axis=1)
    energy = acc.energy[:rows]
    share = m.config.supply.pue_fixed_overhead_share
    overhead = (s["pue"] - 1) * ((1 - share) * it + share * s["op_cap_mw"][:rows])
    assert np.allclose(energy, (it + overhead) * HOURS_PER_MONTH, rtol=REL, atol=1e-9)
    assert (energy >= it * s["pue"] * HOURS_PER_MONTH * (1 - REL) - 1e-9).all()
    node_energy = np.bincount(s["node"], weights=energy, minlength=m.map.n)
    assert np.allclose(acc.node_energy, node_energy, rtol=REL, atol=1e-9)
    assert np.isclose(rec["energy_mwh"], energy.sum(), rtol=REL, atol=1e-9)
    # emissions = energy x factor; market-based (green contracts netted) <= location-based
    green = acc.green_mwh[:rows]
    assert ((green >= -1e-9) & (green <= energy * (1 + REL) + 1e-9)).all()
    assert np.isclose(rec["co2_location_t"], (node_energy * s["ef"]).sum(), rtol=REL, atol=1e-9)
    co2_market = ((energy - green) * s["ef"][s["node"]]).sum()
    assert np.isclose(rec["co2_market_t"], co2_market, rtol=REL, atol=1e-9)
    assert -1e-9 <= rec["co2_market_t"] <= rec["co2_location_t"] * (1 + REL) + 1e-9
    assert np.isclose(node_rec["co2_location_t"].sum(), rec["co2_location_t"], rtol=REL)
    # money paid = money received
    rows_p, segs = np.nonzero(placed)
    pool = t.pool[rows_p, segs]
    bills = np.bincount(pool // 2, weights=s["price"][pool // 2, pool % 2]
                        * t.load_w[rows_p, segs] / 1e3, minlength=rows)   # RMB, enterprise side
    assert np.allclose(acc.revenue[:rows], bills, rtol=1e-9, atol=1e-6)
    assert np.isclose(rec["enterprise_spend_rmb"] + rec["subsidy_voucher_rmb"],
                      bills.sum(), rtol=1e-9, atol=1e-6)
    assert rec["enterprise_spend_rmb"] >= -1e-6
    gov_paid = w.paid() - paid_before
    assert np.allclose(node_rec["subsidy_rmb"], gov_paid, rtol=1e-9, atol=1e-6)
    assert np.isclose(rec["subsidy_total_rmb"], gov_paid.sum(), rtol=1e-9, atol=1e-6)
    grid_bill = (energy * 1e3 * s["base_tariff"][s["node"]]).sum()
    assert np.isclose(acc.electricity[:rows].sum() + acc.discount_paid.sum(), grid_bill,
                      rtol=1e-9, atol=1e-6)
    # government budgets never below zero
    for gov in m.local_govs:
        for b in gov.budgets:
            assert b.left >= -1e-9 * max(1.0, b.instrument.budget_rmb), (gov.local.node, b.left)
    assert (node_rec["budget_rmb"] >= -1e-3).all()
    # everything recorded is a finite number
    for value in rec.values():
        if isinstance(value, (float, int, np.floating, np.integer)):
            assert np.isfinite(value)
    for value in node_rec.values():
        assert np.isfinite(np.asarray(value, dtype=float)).all()


def check_tables(tables: dict[str, pd.DataFrame]) -> None:
    """The written tables: finite numbers, nothing negative that cannot be."""
    for name, frame in tables.items():
        numbers = frame.select_dtypes("number")
        assert np.isfinite(numbers.to_numpy(dtype=float)).all(), name
    nat, node = tables["national"], tables["node"]
    never_negative = ["demand_mw", "served_mw", "capacity_mw", "racks", "energy_mwh",
                      "co2_location_t", "co2_market_t", "price_east", "price_central",
                      "price_west", "revenue_rmb", "investment_rmb", "subsidy_total_rmb",
                      "eflops", "n_datacenters"]
    assert (nat[never_negative] >= -1e-9).all().all()
    assert (nat["unserved_mw"] >= -MW_TOL).all()
    assert (node[["capacity_mw", "served_mw", "tariff", "price", "budget_rmb",
                  "energy_mwh"]] >= -1e-9).all().all()
    assert (tables["flows"]["mw"] > 0).all()
    shares = nat[[c for c in nat.columns if c.startswith(("west_share", "utilisation"))]]
    assert ((shares >= 0) & (shares <= 1 + 1e-9)).all().all()


@given(CONFIGS)
@examples(15, 200)
def test_invariants_hold_every_month_for_random_valid_configs(params):
    config = validate(compose_config(overrides(params)))
    m = EDWCModel(config)
    w = Watch(m)
    w.snap = state_snapshot(m)
    check_month(m, w, np.zeros(m.map.n))          # the initial placement (run.start)
    while not m.finished:
        paid_before = w.paid()
        m.step()
        check_month(m, w, paid_before)
    assert len(m.recorder.national) == config.run.n_months       # every month was stepped
    check_tables(m.recorder.tables())


# ---------------------------------------------------------------- incentives at zero

SMALL = ["run.end=2023-12", "demand.n_enterprises=400", "supply.n_datacenters=40",
         "run.quiet=true"]


def zero_incentives(cfg: dict, national: dict | None = None) -> dict:
    """The EDWC package with every local incentive rate at zero (budgets kept) and no
    rack targets; with `national`, the national rules replaced too."""
    cfg = copy.deepcopy(cfg)
    local = cfg["policy"]["local"]
    for raw in [local["defaults"], *local["nodes"].values()]:
        for inst in ("voucher", "power_discount", "capex_subsidy"):
            if inst in raw:
                raw[inst].update(rate=0.0, max_rate=0.0)
        if "rack_target" in raw:
            raw["rack_target"] = {}
    if national is not None:
        cfg["policy"]["national"] = copy.deepcopy(national)
    return cfg


def container(overrides: list[str]) -> dict:
    return OmegaConf.to_container(compose_config(overrides), resolve=True)   # type: ignore


@given(st.integers(0, 2**32))
@examples(2, 20)
def test_zero_incentives_equal_no_edwc_where_they_should(seed):
    """With every local incentive at zero and no rack targets:
    - under no_edwc's national rules, every table equals no_edwc exactly, except the unspent
      budgets in node.budget_rmb (the money is there, but nobody can claim it);
    - under EDWC's national rules (hubs, PUE caps, backbone), the exogenous parts still equal
      no_edwc: the demand path, the 2021 stock in the first month, and no subsidy is paid."""
    run = [*SMALL, f"run.seed={seed}"]
    none = container(["scenario=no_edwc", *run])
    edwc = container(["scenario=edwc", *run])
    base = simulate(none).tables
    same = simulate(zero_incentives(edwc, none["policy"]["national"])).tables
    for name in base:
        a, b = base[name], same[name]
        if name == "node":
            assert (b["budget_rmb"] >= a["budget_rmb"]).all()
            a, b = a.drop(columns="budget_rmb"), b.drop(columns="budget_rmb")
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=name)
    rules = simulate(zero_incentives(edwc)).tables
    nat_a, nat_b = base["national"], rules["national"]
    assert np.allclose(nat_a["demand_mw"], nat_b["demand_mw"], rtol=1e-6)
    assert nat_a["capacity_mw"].iloc[0] == nat_b["capacity_mw"].iloc[0]
    assert (nat_b[["subsidy_total_rmb", "subsidy_voucher_rmb", "subsidy_power_rmb",
                   "subsidy_capex_rmb"]] == 0).all().all()
