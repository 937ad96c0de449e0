"""Attribution of a package to instrument groups: Shapley maths, coalition configs, intervals."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

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
