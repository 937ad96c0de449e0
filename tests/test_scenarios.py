"""Scenario contrasts go the way their mechanisms imply (docs/design.md §3.2), on short
horizons with the
same seed (common random numbers). The EDWC package moves load west slowly: in 2022-27 capacity
moves ahead of load (the glut) and the utilisation floor holds back western builds; the gap to
the counterfactual opens once the non-hub bar, cheaper transfer and the dispatch platform bite,
so that contrast is read in 2029."""

from __future__ import annotations

import pandas as pd
import pytest

from model.run import compose_config, simulate

SMALL = ["demand.n_enterprises=1000", "supply.n_datacenters=80", "run.seed=5"]


def _run(scenario: str, end: str = "2025-12") -> dict[str, pd.DataFrame]:
    return simulate(compose_config([f"scenario={scenario}", f"run.end={end}", *SMALL])).tables


@pytest.fixture(scope="module")
def edwc() -> dict[str, pd.DataFrame]:
    return _run("edwc", "2029-12")


def _year_mean(tables: dict[str, pd.DataFrame], column: str, year: int) -> float:
    nat = tables["national"]
    return float(nat.loc[nat["year"] == year, column].mean())


def test_edwc_moves_more_load_west_than_no_edwc(edwc):
    no = _run("no_edwc", "2029-12")
    assert _year_mean(edwc, "west_share", 2029) > _year_mean(no, "west_share", 2029) + 0.01


def test_glut_check_leaves_western_hubs_emptier(edwc):
    glut = _run("glut_check")
    west_hubs = ["inner_mongolia", "guizhou", "gansu", "ningxia"]

    def util(t: dict[str, pd.DataFrame]) -> float:
        node = t["node"]
        node = node[(node["year"] == 2025) & node["node"].isin(west_hubs)]
        return float(node["served_mw"].sum() / node["capacity_mw"].sum())

    assert util(glut) < util(edwc) - 0.02


def test_market_based_co2_never_exceeds_location_based(edwc):
    nat = edwc["national"]
    assert (nat["co2_market_t"] <= nat["co2_location_t"] + 1e-6).all()
    assert nat["co2_market_t"].sum() < nat["co2_location_t"].sum()


def test_without_the_uhv_line_chongqing_dcs_see_a_dirtier_grid(edwc):
    off = _run("uhv_off")

    def ef(t: dict[str, pd.DataFrame]) -> pd.Series:
        node = t["node"]
        node = node[(node["node"] == "chongqing") & (node["month"] <= "2025-12-01")]
        return node.set_index("month")["grid_ef"]

    after = ef(edwc).index >= pd.Timestamp("2025-06-01")   # energised 2025-06 [A]
    assert (ef(off)[after] > ef(edwc)[after] + 0.01).all()
    assert ef(off)[~after].equals(ef(edwc)[~after])
    lines = edwc["lines"]
    hc = lines[(lines["line"] == "hami_chongqing") & (lines["month"] >= "2025-06-01")]
    assert (hc["sent_mwh"] > 0).all() and (hc["loss_mwh"] > 0).all()
    off_lines = off["lines"]
    assert off_lines.loc[off_lines["line"] == "hami_chongqing", "sent_mwh"].sum() == 0
