"""The sweep browser's query layer gives the same numbers as reading the shards with
pandas: one value per run in a year or over the run, medians with seed bands, paired
differences with t-intervals, filters, the CSV, a sweep that is still running, and a
command that reproduces a run exactly."""

import io
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from experiments import store
from experiments.browser import Selection, SweepBrowser, csv_text
from experiments.browser.charts import group_chart, nice_ticks
from experiments.browser.command import NOT_RESULTS, hydra_value, override
from experiments.sweep.plan import has_key, set_key
from model.outcomes import OUTCOMES
from model.run import compose_config, simulate
from model.schema import to_container

LOGIT, OPTIMISM = "demand.logit_scale_rmb", "supply.optimism"


@pytest.fixture(scope="module")
def national(browse_sweep) -> pd.DataFrame:
    """Every run's national table with its design row, read whole with pandas (the
    independent reference the lazy queries are checked against)."""
    frame = pd.read_parquet(browse_sweep / store.RUNS / "national")
    frame["run_id"] = frame["run_id"].astype(str)
    return frame.merge(pd.read_parquet(browse_sweep / store.DESIGN), on="run_id")


@pytest.fixture(scope="module")
def browser(browse_sweep) -> SweepBrowser:
    return SweepBrowser(browse_sweep)


def test_browser_sees_the_design_axes_seeds_years_and_declared_outcomes(browser):
    assert browser.axes == [LOGIT, OPTIMISM]
    assert browser.seeds == [0, 1, 2] and browser.years == [2022, 2023]
    assert len(browser.done) == browser.n_runs == 12 and len(browser.points) == 4
    assert {"west_share", "co2_location_t", "racks"} <= set(browser.outcomes())
    assert browser.axis_values(LOGIT) == [150.0, 600.0]


def test_run_values_equal_pandas_over_the_shards(browser, national):
    y23 = national[national["year"] == 2023]
    mean = y23.groupby("run_id")["west_share"].mean() * 100.0
    got = browser.run_values("west_share", 2023).set_index("run_id")["value"]
    assert len(got) == 12
    np.testing.assert_allclose(got.sort_index(), mean.sort_index(), rtol=1e-12)
    total = national.groupby("run_id")["co2_location_t"].sum() * 12 / 24 * 1e-6  # Mt/yr
    got = browser.run_values("co2_location_t").set_index("run_id")["value"]
    np.testing.assert_allclose(got.sort_index(), total.sort_index(), rtol=1e-12)
    last = y23.sort_values("month").groupby("run_id")["racks"].last() * 1e-6
    got = browser.run_values("racks", 2023).set_index("run_id")["value"]
    np.testing.assert_allclose(got.sort_index(), last.sort_index(), rtol=1e-12)
    assert got.min() > 0
    other = browser.run_values("west_share", 2023, agg="december").set_index("run_id")
    assert not np.allclose(other["value"].sort_index(), mean.sort_index())


def test_run_values_are_the_declared_outcomes_of_each_run(browser, national):
    for name in ("west_share", "twh", "eflops", "subsidy_total_rmb"):
        got = browser.run_values(name, 2022).set_index("run_id")["value"]
        for rid, frame in national.groupby("run_id"):
            assert got[rid] == pytest.approx(OUTCOMES[name].display(frame, 2022), rel=1e-9)


def test_point_table_medians_bands_and_paired_differences(browser, national):
    sel = Selection("west_share", 2023, reference=0)
    table = browser.point_table(sel).set_index("point")
    per_run = (national[national["year"] == 2023].groupby(["point", "seed"])["west_share"]
               .mean().mul(100.0).unstack("seed"))
    np.testing.assert_allclose(table["median"], per_run.median(axis=1), rtol=1e-12)
    np.testing.assert_allclose(table["low"], per_run.min(axis=1), rtol=1e-12)
    np.testing.assert_allclose(table["high"], per_run.max(axis=1), rtol=1e-12)
    assert (table["runs_done"] == 3).all()
    d = per_run.loc[3] - per_run.loc[0]                     # same seeds
    half = stats.t.ppf(0.975, 2) * d.std(ddof=1) / np.sqrt(3)
    assert table.at[3, "diff"] == pytest.approx(d.mean(), rel=1e-12)
    assert table.at[3, "diff_low"] == pytest.approx(d.mean() - half, rel=1e-9)
    assert table.at[3, "diff_high"] == pytest.approx(d.mean() + half, rel=1e-9)
    assert table.at[0, "diff"] == 0 and table.at[0, "diff_low"] == 0
    assert table.loc[[2, 3], "diff"].abs().min() > 0
    # synchronised random streams: a lever that changes no decision (builders' optimism in
    # this small 2022-23 sweep) changes nothing, so its paired difference is exactly 0
    d1 = per_run.loc[1] - per_run.loc[0]
    assert table.at[1, "diff"] == pytest.approx(d1.mean(), abs=1e-12)
    assert set(table.columns) >= {LOGIT, OPTIMISM, "n_pairs"}


def test_groups_average_points_per_seed_then_take_the_seed_median(browser, national):
    sel = Selection("west_share", 2023, x=OPTIMISM, reference=0)
    groups = browser.groups(sel).set_index(OPTIMISM)
    y23 = national[national["year"] == 2023]
    per_run = y23.groupby(["point", "seed", OPTIMISM])["west_share"].mean().mul(100.0)
    per_seed = per_run.groupby([OPTIMISM, "seed"]).mean().unstack("seed")
    np.testing.assert_allclose(groups["median"], per_seed.median(axis=1), rtol=1e-12)
    np.testing.assert_allclose(groups["high"], per_seed.max(axis=1), rtol=1e-12)
    ref = per_run.xs(0, level="point").droplevel(OPTIMISM)
    diff = per_seed.sub(ref, axis=1).mean(axis=1)
    np.testing.assert_allclose(groups["diff"], diff, rtol=1e-9, atol=1e-12)
    two = browser.groups(Selection("west_share", 2023, x=OPTIMISM, colour=LOGIT))
    assert len(two) == 4 and (two["n_seeds"] == 3).all() and "diff" not in two


def test_filters_keep_design_rows_inside_axis_ranges(browser):
    assert list(browser.filtered_points({OPTIMISM: (0.0, 0.1)})["point"]) == [0, 2]
    sel = Selection("west_share", 2023, filters={LOGIT: (600.0, 600.0)})
    assert list(browser.point_table(sel)["point"]) == [2, 3]
    assert set(browser.groups(Selection("pue", x=LOGIT, filters=sel.filters))[LOGIT]) == {600.0}


def test_csv_holds_the_filtered_rows_with_their_outcomes(browser):
    table = browser.point_table(Selection("twh", 2022, reference=1,
                                          filters={OPTIMISM: (0.2, 0.2)}))
    back = pd.read_csv(io.StringIO(csv_text(table)))
    assert list(back.columns) == list(table.columns) and list(back["point"]) == [1, 3]
    np.testing.assert_allclose(back["median"], table["median"], rtol=1e-5)


def test_a_running_sweep_shows_what_is_done(browse_sweep, tmp_path):
    running = tmp_path / "running"
    shutil.copytree(browse_sweep, running)
    (running / store.INDEX).unlink()                  # never needed (a sweep locks it)
    held = tmp_path / "held"
    for rid in ("p00001-s2", "p00003-s0"):           # tables written, manifest not yet
        shutil.move(running / store.MANIFESTS / rid, held / rid)
    hidden = running / store.RUNS / "national" / ".run_id=p00002-s1.tmp-x"
    shutil.copytree(running / store.RUNS / "national" / "run_id=p00002-s1", hidden)
    browser = SweepBrowser(running)
    assert len(browser.done) == 10
    table = browser.point_table(Selection("west_share", reference=0)).set_index("point")
    assert table["runs_done"].to_dict() == {0: 3, 1: 2, 2: 3, 3: 2}
    assert np.isnan(table.at[1, "low"]) and table.at[1, "n_pairs"] == 2   # no band from 2
    with pytest.raises(KeyError, match="not complete"):
        browser.reproduce_command(3, 0)
    shutil.move(held / "p00003-s0", running / store.MANIFESTS / "p00003-s0")
    assert browser.refresh() == 11
    assert browser.point_table(Selection("west_share")).set_index("point").at[3, "runs_done"] == 3


def test_command_reproduces_a_run_exactly(browser, browse_sweep):
    overrides = browser.reproduce_overrides(3, 1)
    assert overrides[0] == "scenario=edwc" and "run.seed=1" in overrides
    assert f"{LOGIT}=600.0" in overrides and f"{OPTIMISM}=0.2" in overrides
    assert "run.end=2023-12" in overrides
    composed = to_container(compose_config(overrides))
    stored = yaml.safe_load((browse_sweep / store.MANIFESTS / "p00003-s1"
                                   / "config.yaml").read_text())
    for config in (composed, stored):
        for key in NOT_RESULTS:
            if has_key(config, key):
                set_key(config, key, None)
    assert composed == stored
    national = simulate(compose_config(overrides)).tables["national"]
    shard = pd.read_parquet(store.shard_path(browse_sweep, "national", "p00003-s1"))
    np.testing.assert_array_equal(national["west_share"].to_numpy(),
                                  shard["west_share"].to_numpy())
    assert browser.reproduce_command(3, 1).startswith(".venv/bin/python -m model.run ")


def test_hydra_values_quote_what_hydra_would_misread():
    assert hydra_value([{"from": "2022-01", "value": 200.0}]) == \
        '[{from:"2022-01",value:200.0}]'
    assert hydra_value(None) == "null" and hydra_value(True) == "true"
    assert hydra_value(1e-06) == "1e-06"
    assert override("run.end", "2023-12") == "run.end=2023-12"
    assert override("scenario.question", "a, b") == 'scenario.question="a, b"'
    assert override("x", "1e5") == 'x="1e5"' and override("x", "true") == 'x="true"'


def test_a_folder_without_a_sweep_is_refused_with_one_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="no sweep"):
        SweepBrowser(tmp_path)
    out = subprocess.run([sys.executable, "-m", "experiments.browser", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert out.stderr.startswith("browse error: SWEEP = ")


def test_charts_draw_a_panel_per_facet_and_bands_only_from_three_seeds(browser):
    sel = Selection("west_share", 2023, x=LOGIT, colour=None, facet=OPTIMISM, reference=0)
    groups = browser.groups(sel)
    svg = group_chart(groups, x=LOGIT, colour=None, facet=OPTIMISM, numeric_x=True,
                      title="t", ylabel="%")
    ET.fromstring(svg)                                                # well-formed SVG
    assert svg.count("<g class='panel'>") == 2
    assert "optimism = 0<" in svg and "optimism = 0.2<" in svg
    assert svg.count("class='band'") == 2 and svg.count("<circle") == 4   # 2 x values each
    thin = groups.assign(low=np.nan, high=np.nan)                     # as with two seeds
    svg = group_chart(thin, x=LOGIT, colour=None, facet=OPTIMISM, numeric_x=True,
                      title="t", ylabel="%")
    assert "class='band'" not in svg and "class='bar'" not in svg
    by_x = browser.groups(Selection("west_share", 2023, x=LOGIT, colour=OPTIMISM,
                                    reference=0))
    diff = group_chart(by_x, x=LOGIT, colour=OPTIMISM, facet=None, numeric_x=True,
                       title="t", ylabel="%", kind="diff")
    assert diff.count("<g class='panel'>") == 1 and diff.count("class='zero'") == 1
    assert diff.count("class='line'") == 2 and diff.count("class='legend'") == 1
    empty = group_chart(by_x.iloc[0:0], x=LOGIT, colour=None, facet=None, numeric_x=True,
                        title="t", ylabel="%")
    assert "no completed runs" in empty


def test_nice_ticks_are_round_and_cover_the_range():
    assert nice_ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(13.1, 15.4) == [13.5, 14.0, 14.5, 15.0]
    assert nice_ticks(-2.3, 2.9) == [-2.0, 0.0, 2.0]
