"""The explorer's levers, views and model wrapper, without a browser."""

from __future__ import annotations

import shlex

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from experiments.app import ExplorerModel
from experiments.explorer_views import (
    VIEWS,
    key_numbers,
    key_numbers_html,
    map_figure,
    utilisation_pue_figure,
    west_share_figure,
)
from experiments.levers import (
    FALLBACK_VOUCHER_BUDGET_RMB,
    explorer_params,
    lever_overrides,
    scenario_names,
)
from model.run import compose_config
from model.schema import validate


def _validated(scenario: str, **levers):
    base = compose_config([f"scenario={scenario}"])
    overrides = lever_overrides(base, **levers)
    return overrides, validate(compose_config([f"scenario={scenario}", *overrides]))


def test_every_scenario_is_offered_with_edwc_first() -> None:
    names = scenario_names()
    assert names[0] == "edwc"
    assert {"no_edwc", "edwc_green", "uhv_off"} <= set(names)
    assert explorer_params()["scenario"]["values"] == names


def test_levers_left_at_scenario_change_nothing() -> None:
    assert lever_overrides(compose_config(["scenario=edwc_green"])) == []


def test_carbon_price_and_route_factor_hold_over_the_whole_run() -> None:
    _, cfg = _validated("edwc_green", carbon_price="200", route_factor="1.3")
    national = cfg.policy.national
    for month in (cfg.run.start, cfg.run.start + 40, cfg.run.end):
        assert national.carbon_price_rmb_per_t.at(month) == 200.0
        assert national.route_factor.at(month) == 1.3


def test_voucher_lever_switches_eastern_vouchers_on_in_the_counterfactual() -> None:
    _, cfg = _validated("no_edwc", voucher_rate="0.3", voucher_scope="west")
    by_node = {local.node: local.voucher for local in cfg.policy.local}
    roles = {node.name: node.role for node in cfg.geography.nodes}
    for node, voucher in by_node.items():
        if roles[node] == "east":
            assert (voucher.rate, voucher.scope) == (0.3, "west")
            assert voucher.budget_rmb == FALLBACK_VOUCHER_BUDGET_RMB
        else:
            assert voucher.rate == 0.0


def test_western_power_discount_reaches_every_western_node_only() -> None:
    _, cfg = _validated("edwc", west_power_discount="0.5")
    roles = {node.name: node.role for node in cfg.geography.nodes}
    for local in cfg.policy.local:
        if roles[local.node] == "west":
            assert local.power_discount.rate == 0.5
            assert local.power_discount.budget_rmb > 0
        else:
            assert local.power_discount.rate < 0.5


def test_uhv_lever_switches_every_line() -> None:
    _, off = _validated("edwc", uhv_lines="off")
    _, on = _validated("uhv_off", uhv_lines="on")
    assert not any(line.enabled for line in off.geography.lines)
    assert all(line.enabled for line in on.geography.lines)


def test_growth_multiplier_scales_the_scenario_schedule() -> None:
    base = compose_config(["scenario=ai_boom"])
    scaled = [round(float(e["value"]) * 1.5, 6) for e in base.demand.growth.intelligent]
    (override,) = lever_overrides(base, intelligent_growth=1.5)
    cfg = validate(compose_config(["scenario=ai_boom", override]))
    assert override.startswith("demand.growth.intelligent=[")
    assert scaled == [float(x.split("value:")[1].rstrip("}]")) for x in override.split("},")]
    assert cfg.scenario == "ai_boom"


def test_overrides_survive_the_shell_command() -> None:
    base = compose_config(["scenario=edwc"])
    overrides = lever_overrides(base, pue_cap_east="1.2", voucher_rate="0.2")
    line = " ".join(shlex.quote(o) for o in overrides)
    assert shlex.split(line) == overrides


NATIONAL = pd.DataFrame({
    "month": pd.date_range("2022-01-01", periods=3, freq="MS"),
    "west_share": [0.20, 0.21, 0.22], "west_share_batch": [0.3, 0.31, 0.33],
    "served_mw": [20_000.0, 20_100.0, 20_250.0], "pue": [1.49, 1.488, 1.487],
    "co2_location_t": [1.1e7, 1.11e7, 1.12e7],
})
NODES = pd.DataFrame({"node": ["yangtze_delta", "gansu"], "role": ["east", "west"],
                      "utilisation": [0.7, 0.3], "pue": [1.3, 1.2],
                      "served_mw": [3000.0, 800.0]})


def test_key_numbers_show_the_latest_month_in_units() -> None:
    rows = dict(key_numbers(NATIONAL))
    assert rows["Month"] == "2022-03"
    assert rows["Served in the west"] == "22.0%"
    assert rows["Served, MW IT"] == "20,250"
    assert rows["CO2 location-based, Mt"] == "11.20"
    assert "not started" in key_numbers_html(key_numbers(NATIONAL.iloc[:0]), "cmd")


def test_figures_draw_from_records() -> None:
    assert west_share_figure(NATIONAL).axes[0].get_lines()[0].get_ydata()[-1] == 0.22
    bars = utilisation_pue_figure(NODES, "2022-03").axes[0].patches
    assert [b.get_width() for b in bars] == [0.7, 0.3]
    cfg = validate(compose_config([]))
    flows = pd.DataFrame({"origin": ["yangtze_delta"], "serving": ["gansu"], "mw": [120.0]})
    ax = map_figure(cfg, NODES, flows, "2022-03").axes[0]
    assert len(ax.collections) == len(cfg.geography.nodes)   # one marker per node
    assert len(ax.texts) >= len(cfg.geography.nodes) + 1     # names + one flow arrow


@pytest.mark.parametrize("scenario, hami_is_hub", [("edwc", False), ("xinjiang_hub", True)])
def test_map_draws_the_hubs_of_the_scenarios_policy(scenario: str, hami_is_hub: bool) -> None:
    cfg = validate(compose_config([f"scenario={scenario}"]))
    ax = map_figure(cfg, NODES, pd.DataFrame(columns=["origin", "serving", "mw"]),
                    "2022-03").axes[0]
    names = [n.name for n in cfg.geography.nodes]
    outlined = {name: bool(len(c.get_edgecolor()) > 0 and c.get_edgecolor()[0][3] > 0)
                for name, c in zip(names, ax.collections, strict=True)}
    assert {n for n, o in outlined.items() if o} == set(cfg.policy.national.hubs)
    assert outlined["xinjiang"] is hami_is_hub


@pytest.fixture(scope="module")
def two_runs():
    """Two explorer models built with the same levers and seed, each stepped three months."""
    runs = []
    for _ in range(2):
        model = ExplorerModel(scenario="edwc", carbon_price="100", seed="7")
        for _ in range(3):
            model.step()
        runs.append(model)
    return runs


def test_reset_with_the_same_seed_replays_the_run(two_runs) -> None:
    first, second = (model.national_table() for model in two_runs)
    assert first["month"].dt.strftime("%Y-%m").tolist() == [
        "2022-01", "2022-02", "2022-03", "2022-04"]
    assert_frame_equal(first, second)
    assert "'policy.national.carbon_price_rmb_per_t=" in two_runs[0].command()
    assert two_runs[0].command().startswith(
        ".venv/bin/python -m model.run scenario=edwc run.seed=7 ")


def test_every_view_renders_from_a_running_model(two_runs) -> None:
    model = two_runs[0]
    for view in VIEWS:
        view(model)
    assert model.nodes_now()["node"].tolist() == [n.name for n in model.config.geography.nodes]
    assert model.flows_now()["mw"].sum() > 0
    assert model.question.startswith("Scenario edwc: Q1")


def test_play_stops_at_the_end_of_the_run(two_runs) -> None:
    model = two_runs[1]
    assert model.running
    model.month = model.config.run.end - 1
    model.step()
    assert model.month == model.config.run.end and not model.running
    model.step()
    assert model.month == model.config.run.end


ALL_LEVERS = {"voucher_rate": "0.2", "voucher_scope": "any", "west_power_discount": "0.3",
              "pue_cap_east": "1.2", "pue_cap_west": "1.15", "green_mandate": "0.8",
              "carbon_price": "50", "route_factor": "1.5", "uhv_lines": "on",
              "intelligent_growth": 0.8}


@pytest.mark.parametrize("scenario", scenario_names())
def test_every_scenario_takes_every_lever(scenario: str) -> None:
    overrides, cfg = _validated(scenario, **ALL_LEVERS)
    assert cfg.scenario == scenario
    assert cfg.policy.national.pue_cap_new_west.at(cfg.run.end) == 1.15
    assert len(overrides) > 20
