"""Attribution of a package to instrument groups: Shapley maths, coalition configs, intervals."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from agents.datacenter import annuity_factor
from experiments import attribute as A
from experiments import shapley as S
from experiments.paired import paired_differences, seed_band, t_interval


def game(fn, n_groups: int, n_seeds: int = 3) -> dict[int, np.ndarray]:
    """v[mask] per seed from a set function of the groups switched on and the seed."""
    return {m: np.array([fn(set(S.members(m, n_groups)), s) for s in range(n_seeds)])
            for m in range(1 << n_groups)}


def interacting(on: set[int], seed: int) -> float:
    """A non-additive outcome: main effects, a pairwise synergy, a three-way term, seed noise."""
    w = [3.0, -1.0, 2.5, 0.5, 4.0]
    value = sum(w[g] for g in on) + 10.0 * seed
    value += 6.0 * (0 in on and 2 in on) - 2.0 * (1 in on and 3 in on and 4 in on)
    return value


def test_unanimity_game_splits_evenly_between_its_carriers():
    v = game(lambda on, s: float({0, 2} <= on), 4, n_seeds=1)
    phi = S.exact_shapley(v, 4)[:, 0]
    assert phi == pytest.approx([0.5, 0.0, 0.5, 0.0])


def test_exact_shapley_adds_up_to_the_package_effect_per_seed():
    v = game(interacting, 5)
    phi = S.exact_shapley(v, 5)
    assert phi.sum(axis=0) == pytest.approx(v[S.full_mask(5)] - v[0])
    # synergy of 6 split between groups 0 and 2; the -2 three-way term split in thirds
    assert phi[:, 0] == pytest.approx([6.0, -1.0 - 2 / 3, 5.5, 0.5 - 2 / 3, 4.0 - 2 / 3])


def test_sampled_shapley_adds_up_and_equals_exact_over_all_orders():
    v = game(interacting, 4)
    orders = S.sample_permutations(4, 6, seed=1)
    phi, se = S.sampled_shapley(v, orders)
    assert phi.sum(axis=0) == pytest.approx(v[S.full_mask(4)] - v[0])
    assert np.all(se >= 0)
    every = np.array(list(itertools.permutations(range(4))))
    phi_all, _ = S.sampled_shapley(v, every)
    assert phi_all == pytest.approx(S.exact_shapley(v, 4))


def test_antithetic_orders_come_in_reversed_pairs():
    orders = S.sample_permutations(5, 8, seed=3)
    assert orders.shape == (8, 5)
    for k in range(0, 8, 2):
        assert list(orders[k + 1]) == list(orders[k][::-1])
    assert set(S.permutation_coalitions(orders)) >= {0, S.full_mask(5)}


def test_one_at_a_time_equals_shapley_for_an_additive_outcome():
    v = game(lambda on, s: sum([1.0, 2.0, -3.0][g] for g in on) + s, 3)
    removal, addition = S.one_at_a_time(v, 3)
    phi = S.exact_shapley(v, 3)
    assert removal == pytest.approx(phi)
    assert addition == pytest.approx(phi)
    assert removal[:, 0] == pytest.approx([1.0, 2.0, -3.0])


def test_attribution_table_rows_sum_to_the_package_with_intervals():
    names = ["a", "b", "c"]
    rows = []
    for m in range(8):
        for seed in (1, 2, 3):
            on = set(S.members(m, 3))
            rows.append({"coalition": A.coalition_code(m, 3), "seed": seed,
                         "west_mw_2030": interacting(on, seed)})
    results = pd.DataFrame(rows)
    outs = [A.Outcome("west_mw_2030", "MW west", "MW")]
    table = A.attribution(results, names, list(range(8)), None, [1, 2, 3], outs)
    sh = table[(table.measure == "shapley") & table.group.isin(names)]
    package = table[table.group == "package"]["mean"].iloc[0]
    assert sh["mean"].sum() == pytest.approx(package)
    assert package == pytest.approx(3.0 - 1.0 + 2.5 + 6.0)
    # the outcome has the same group effects in every seed: zero-width intervals
    assert (sh["high"] - sh["low"]).abs().max() == pytest.approx(0.0, abs=1e-9)


def test_cost_ratio_is_not_reported_when_the_effect_is_inside_the_noise():
    mean, low, high = A.ratio_interval(np.array([5.0, 5.0, 5.0]), np.array([1.0, -1.0, 0.5]))
    assert np.isnan(mean) and np.isnan(low)
    mean, low, high = A.ratio_interval(np.array([10.0, 12.0, 8.0]), np.array([2.0, 2.0, 2.0]))
    assert mean == pytest.approx(5.0)
    assert low <= 5.0 <= high


@pytest.fixture(scope="module")
def scenarios():
    block = OmegaConf.to_container(A.attribute_config().attribute, resolve=True)
    settings = A.parse_settings(block)
    package = A.compose_scenario("edwc", [])
    counter = A.compose_scenario("no_edwc", [])
    return settings, package, counter


def test_coalitions_span_the_counterfactual_and_the_package(scenarios):
    settings, package, counter = scenarios
    names, idle = A.active_groups(settings.groups, package, counter)
    assert names == ["vouchers", "west_power_discounts", "capex_land_subsidies",
                     "backbone_dispatch", "hub_approval", "pue_green"]
    assert idle == ["east_energy_quotas", "carbon_price"]   # equal in edwc and no_edwc
    covered = [k for keys in settings.groups.values() for k in keys]
    assert A.uncovered_keys(package, counter, covered) == []
    full = A.coalition_config(S.full_mask(len(names)), names, settings.groups, package, counter)
    none = A.coalition_config(0, names, settings.groups, package, counter)
    for key in ("policy", "geography", "demand", "supply", "grid"):
        assert full[key] == package[key]
        assert none[key] == counter[key]
    only_vouchers = A.coalition_config(1, names, settings.groups, package, counter)
    assert only_vouchers["policy"]["local"]["nodes"]["greater_bay"]["voucher"]["rate"] == 0.5
    assert "greater_bay" in only_vouchers["policy"]["local"]["nodes"]
    assert only_vouchers["policy"]["national"] == counter["policy"]["national"]


def test_bad_attribute_setting_names_the_key():
    with pytest.raises(A.AttributionError, match="attribute.seeds"):
        A.parse_settings({"seeds": [1], "method": "exact", "max_exact_groups": 7,
                          "permutations": 4, "groups": {"g": ["a"]}})
    with pytest.raises(A.AttributionError, match="attribute.method"):
        A.parse_settings({"seeds": [1, 2], "method": "guess", "groups": {"g": ["a"]}})


def test_t_interval_of_three_seeds():
    iv = t_interval(np.array([4.0, 5.0, 6.0]))
    half = 4.302652729911275 * 1.0 / np.sqrt(3)     # t(0.975, 2) x sd / sqrt(n)
    assert (iv.mean, iv.low, iv.high, iv.n) == pytest.approx((5.0, 5.0 - half, 5.0 + half, 3))
    assert not iv.spans_zero
    assert t_interval(np.array([-1.0, 1.0])).spans_zero


def test_paired_differences_pair_by_seed_and_bands_need_three_runs():
    frame = pd.DataFrame({"scenario": ["ref"] * 3 + ["alt"] * 3, "seed": [1, 2, 3] * 2,
                          "x": [10.0, 20.0, 30.0, 11.0, 21.0, 31.5]})
    diff = paired_differences(frame, "scenario", "ref", "x")
    assert diff["diff_mean"].iloc[0] == pytest.approx(3.5 / 3)
    assert diff["n_seeds"].iloc[0] == 3
    band = seed_band(frame.iloc[:5], ["scenario"], "x")
    ref = band[band.scenario == "ref"].iloc[0]
    alt = band[band.scenario == "alt"].iloc[0]
    assert (ref["low"], ref["high"]) == (10.0, 30.0)
    assert np.isnan(alt["low"]) and alt["n_runs"] == 2


def test_sweep_heatmap_shows_the_paired_difference_from_the_lowest_cell():
    from experiments.figures import FigureStyle, sweep_heatmap, sweep_heatmap_data

    rows = []
    for i, (a, b) in enumerate(itertools.product([0.0, 0.3], [0.0, 0.5])):
        for seed in (1, 2, 3):
            effect = 0.02 * (a > 0) + 0.001 * seed * (b > 0)     # b's effect is noise-sized
            for month in range(12):
                rows.append({"run_id": f"p{i}-s{seed}", "scenario": "edwc", "seed": seed,
                             "year": 2030, "month": month, "a": a, "b": b,
                             "west_share": 0.2 + 0.01 * seed + effect})
    nat = pd.DataFrame(rows)
    data = sweep_heatmap_data(nat, ["a", "b"], ["west_share:mean"], 2030).set_index(
        ["lever_x", "lever_y"])
    assert data.loc[(0.0, 0.0), "diff_mean"] == pytest.approx(0.0)
    assert data.loc[(0.3, 0.0), "diff_mean"] == pytest.approx(2.0)       # percentage points
    assert data.loc[(0.3, 0.0), "diff_low"] == pytest.approx(2.0)        # same in every seed
    assert data.loc[(0.0, 0.5), "diff_mean"] == pytest.approx(0.2)       # 0.1 x mean seed
    assert data.loc[(0.0, 0.5), "n_pairs"] == 3
    fig = sweep_heatmap(nat, FigureStyle(), ["a", "b"], ["west_share:mean"], 2030)
    hatched = [p for p in fig.axes[0].patches if p.get_hatch()]
    assert len(hatched) == 2        # the reference cell and b's noise-sized effect span zero


def two_node_table() -> pd.DataFrame:
    """Two months of 2030 and one of 2031: the west glutted (100 MW built, 35 then 42 MW
    served, 50 m RMB/MW paid), the east short (50 MW for 49 MW of load), and a node with
    nothing built."""
    rows = []
    for month, west_served in ((2030 * 12, 35.0), (2030 * 12 + 1, 42.0),
                               (2031 * 12, 0.0)):
        year = month // 12
        rows += [{"year": year, "month": month, "node": "west", "capacity_mw": 100.0,
                  "served_mw": west_served, "capacity_capex_rmb": 100.0 * 50e6},
                 {"year": year, "month": month, "node": "east", "capacity_mw": 50.0,
                  "served_mw": 49.0, "capacity_capex_rmb": 50.0 * 60e6},
                 {"year": year, "month": month, "node": "empty", "capacity_mw": 0.0,
                  "served_mw": 0.0, "capacity_capex_rmb": 0.0}]
    return pd.DataFrame(rows)


def test_idle_capex_counts_each_nodes_glut_at_its_capex_and_the_monthly_annuity():
    node = two_node_table()
    idle = A.IdleCapacity(planning_utilisation=0.7, capital_recovery=0.12)
    # west: 100 - 35/0.7 = 50 MW, then 100 - 42/0.7 = 40 MW idle; the east's shortage
    # (49/0.7 = 70 MW needed, 50 built) does not offset it (national netting: 30 and 20 MW)
    assert A.idle_mw(node[node.year == 2030], 0.7).tolist() == pytest.approx(
        [50.0, 0.0, 0.0, 40.0, 0.0, 0.0])
    # (50 + 40) MW-months x 50 m RMB/MW x 0.12 / 12 per month; 2031 is after to_year
    assert A.idle_capex_rmb(node, 2030, idle) == pytest.approx(90.0 * 50e6 * 0.01)
    assert A.idle_capex_rmb(node, 2031, idle) == pytest.approx(190.0 * 50e6 * 0.01)


def test_idle_capacity_is_charged_the_annuity_of_the_cost_plus_prices():
    supply = {"planning_utilisation": 0.7, "price_capital_rate": 0.08, "life_years": 18}
    idle = A.IdleCapacity.of(supply)
    assert idle.planning_utilisation == 0.7
    assert idle.capital_recovery == pytest.approx(0.08 / (1 - 1.08 ** -18))


def test_idle_capex_of_a_short_default_run_is_positive_where_the_west_is_glutted(
        short_run, short_config):
    nat, node = short_run["national"], short_run["node"]
    s = short_config.supply
    idle = A.IdleCapacity(s.planning_utilisation, 1 / annuity_factor(s.price_capital_rate,
                                                                     s.life_years))
    out = A.run_outcomes(nat, node, [2024], 2024, idle)
    west = node[(node.year == 2024) & (node.role == "west")]
    glutted = west.groupby("node")["utilisation"].mean() < s.planning_utilisation
    assert glutted.any()
    assert out["idle_mw_2024"] > 0
    assert out["idle_capex_rmb_to_2024"] > 0
    # per node, never less than the national figure that nets gluts against shortages
    dec = node[node.month == node.month.max()]
    national = max(dec.capacity_mw.sum() - dec.served_mw.sum() / s.planning_utilisation, 0)
    assert A.idle_mw(dec, s.planning_utilisation).sum() >= national - 1e-6


def test_capex_per_mw_of_the_initial_stock_is_the_configured_build_and_land_cost(
        short_run, short_config):
    node = short_run["node"]
    first = node[node.month == node.month.min()].set_index("node")
    s, geo = short_config.supply, {n.name: n for n in short_config.geography.nodes}
    built = first[first.capacity_mw > 0]
    per_kw = built.capacity_capex_rmb / built.capacity_mw / 1000
    land = np.array([geo[n].land_rmb_per_kw for n in built.index])
    assert np.all(per_kw >= s.capex_rmb_per_kw + land - 1e-6)
    assert np.all(per_kw <= s.capex_rmb_per_kw * s.capex_intelligent_multiplier + land + 1e-6)
