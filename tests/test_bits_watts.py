"""Bits vs watts from model runs: each cost component of one hand-built run, counted once."""

from __future__ import annotations

import pandas as pd
import pytest

from experiments import bits_watts as BW
from model.constants import HOURS_PER_MONTH

CONFIG = {
    "geography": {
        "nodes": {"east": {"role": "east", "grid_twh": 120.0, "dc_power_price": 0.6},
                  "hub": {"role": "central", "grid_twh": 12.0, "dc_power_price": 0.4}},
        "uhv_lines": {"line": {"gw": 1.0, "capex_rmb_per_gw": 3e9, "life_years": 20.0,
                               "sending_price": 0.2}}},     # gw: the table's counts
    "supply": {"price_capital_rate": 0.0, "life_years": 10.0},   # annuities: capex / life
}
MONTHS = pd.date_range("2030-01-01", periods=12, freq="MS")


def tables(run_id: str, scenario: str, gw: float, delivered_mwh: float
           ) -> tuple[pd.DataFrame, ...]:
    """One run of 2030: 20 MW of eastern load served at home, 10 MW at a hub where a UHV line
    of `gw` ends (`delivered_mwh` a month at 0.05 RMB/kWh of transmission tariff)."""
    national = pd.DataFrame({"run_id": run_id, "scenario": scenario, "seed": 1, "year": 2030,
                             "month": MONTHS, "network_cost_rmb": 1e6,
                             "mean_latency_ms_migrated": 15.0})
    node = pd.concat([pd.DataFrame({
        "run_id": run_id, "year": 2030, "month": MONTHS, "node": name, "pue": pue,
        "tariff": tariff, "grid_ef": ef, "utilisation": util, "capacity_mw": cap,
        "capacity_capex_rmb": cap * per_mw})
        for name, pue, tariff, ef, util, cap, per_mw in (
            ("east", 1.5, 0.6, 0.6, 0.5, 50.0, 50e6), ("hub", 1.25, 0.308, 0.5, 0.8, 100.0, 40e6))])
    flows = pd.DataFrame({"run_id": run_id, "year": 2030, "origin": ["east", "east"],
                          "serving": ["east", "hub"], "mw": [20.0, 10.0]})
    lines = pd.DataFrame({"run_id": run_id, "month": MONTHS, "line": "line", "to": "hub",
                          "capacity_gw": gw, "delivered_mwh": delivered_mwh,
                          "tariff_rmb": delivered_mwh * 1000.0 * 0.05})
    return national, node, flows, lines


def both_runs() -> pd.DataFrame:
    parts = [tables("ref-s1", "ref", 2.0, 1e5), tables("off-s1", "off", 0.0, 0.0)]
    national, node, flows, lines = (pd.concat(t, ignore_index=True)
                                    for t in zip(*parts, strict=True))
    return BW.per_run(national, node, flows, lines, CONFIG, 2030).set_index("scenario")


def test_the_uhv_line_is_costed_by_its_capex_and_its_tariff_is_not_counted_again():
    runs = both_runs()
    it_mwh = 30.0 * HOURS_PER_MONTH * 12
    fac_east, fac_hub = (mw * HOURS_PER_MONTH * 12 * pue for mw, pue in ((20, 1.5), (10, 1.25)))
    # hub imports 1.2 TWh of its 12 TWh: base price 0.9 x 400 + 0.1 x (200 + 50) = 385 RMB/MWh,
    # of which 0.1 x 50 is transmission tariff
    energy = fac_east * 600.0 + fac_hub * 308.0 * (1 - 5.0 / 385.0)
    line = 3e9 * 2.0 / 20.0                     # the 2 GW line's yearly annuity, RMB
    capex = 20 / 0.5 * 50e6 / 10 + 10 / 0.8 * 40e6 / 10
    ref = runs.loc["ref"]
    assert ref["energy_rmb_per_mwh_it"] == pytest.approx(energy / it_mwh)
    assert ref["transmission_rmb_per_mwh_it"] == pytest.approx(fac_hub * line / 12e6 / it_mwh)
    assert ref["network_rmb_per_mwh_it"] == pytest.approx(12e6 / it_mwh)
    assert ref["capex_rmb_per_mwh_it"] == pytest.approx(capex / it_mwh)
    parts = [ref[f"{c}_rmb_per_mwh_it"] for c in BW.COMPONENTS]
    assert ref["cost_rmb_per_mwh_it"] == pytest.approx(sum(parts))
    assert ref["moved_share"] == pytest.approx(1 / 3)
    off = runs.loc["off"]                       # a line that delivers nothing costs nothing
    assert off["transmission_rmb_per_mwh_it"] == 0.0
    assert off["energy_rmb_per_mwh_it"] == pytest.approx(
        (fac_east * 600.0 + fac_hub * 308.0) / it_mwh)


def test_paired_rows_name_the_runs_behind_them():
    runs = both_runs().reset_index()
    table = BW.paired(runs, "ref").set_index(["scenario", "metric"])
    row = table.loc[("off", "transmission_rmb_per_mwh_it")]
    assert row["runs"] == "off-s1" and row["reference_runs"] == "ref-s1"
    assert row["diff_mean"] == pytest.approx(-runs.set_index("scenario").at[
        "ref", "transmission_rmb_per_mwh_it"])
