"""The one-command policy brief from small real runs: every figure file opens, the HTML's links
resolve, and each figure's CSV holds the numbers recomputed from the run tables."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from experiments.brief import brief_config, build_brief, load_brief_data, main
from model.outputs import write_run
from model.run import compose_config, simulate

SCENARIOS = ("edwc", "no_edwc")
SEEDS = (1, 2, 3)
DRAWN = ("west_share", "west_share_by_class", "hub_scorecard", "emissions_electricity",
         "bits_vs_watts", "schematic_map")
SKIPPED = ("sweep_heatmap", "sensitivity",    # runs folder: no levers, no Sobol/Morris design
           "attribution")                     # no make attribute folder


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 scenarios x 2 seeds, 2022-01..2023-12, 500 enterprises, 50 data centers."""
    root = tmp_path_factory.mktemp("runs")
    for scenario in SCENARIOS:
        for seed in SEEDS:
            cfg = compose_config([f"scenario={scenario}", f"run.seed={seed}", "run.end=2023-12",
                                  "demand.n_enterprises=500", "supply.n_datacenters=50",
                                  "run.quiet=true"])
            write_run(simulate(cfg), root / f"{scenario}-s{seed}")
    return root


@pytest.fixture(scope="module")
def brief(runs_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("brief")
    cfg = brief_config([f"brief.attribution={out / 'no_attribution'}"])
    build_brief(load_brief_data(runs_dir), out, cfg, progress=False)
    return out


def table(runs_dir: Path, name: str) -> pd.DataFrame:
    """One output table over all runs, with scenario and seed from the manifests."""
    frames = []
    for run in sorted(runs_dir.iterdir()):
        man = json.loads((run / "manifest.json").read_text())
        frames.append(pd.read_parquet(run / f"{name}.parquet").assign(
            scenario=man["scenario"], seed=man["seed"]))
    return pd.concat(frames, ignore_index=True)


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.targets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.targets += [v for k, v in attrs if k in ("href", "src") and v]


def test_every_figure_file_opens_and_is_not_empty(brief: Path) -> None:
    for name in DRAWN:
        with Image.open(brief / "figures" / f"{name}.png") as img:
            assert img.width > 300 and img.height > 200
            assert np.asarray(img.convert("L")).std() > 5        # not a blank canvas
        svg = ET.parse(brief / "figures" / f"{name}.svg").getroot()
        assert svg.tag.endswith("svg") and len(list(svg.iter())) > 50
        assert len(pd.read_csv(brief / "data" / f"{name}.csv")) > 0
    for name in SKIPPED:
        assert not (brief / "figures" / f"{name}.png").exists()
    pdf = (brief / "brief.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page") >= len(DRAWN) + 1


def test_html_links_resolve_and_skips_are_noted(brief: Path) -> None:
    page = (brief / "index.html").read_text()
    parser = Links()
    parser.feed(page)
    assert len(parser.targets) > 2 * len(DRAWN)
    for target in parser.targets:
        assert (brief / target).is_file(), target
    assert "needs a sweep over two levers" in page and "Sobol or Morris" in page
    for scenario in SCENARIOS:
        assert f"config_{scenario}.yaml" in page
    prov = json.loads((brief / "provenance" / "provenance.json").read_text())
    assert prov["seeds"] == list(SEEDS) and len(prov["run_git_commits"]) >= 1


def test_west_share_csv_is_the_median_across_seeds(brief: Path, runs_dir: Path) -> None:
    nat = table(runs_dir, "national")
    csv = pd.read_csv(brief / "data" / "west_share.csv", parse_dates=["month"])
    for scenario in SCENARIOS:
        month = pd.Timestamp("2023-06-01")
        values = 100 * nat[(nat["scenario"] == scenario) & (nat["month"] == month)]["west_share"]
        row = csv[(csv["scenario"] == scenario) & (csv["month"] == month)].iloc[0]
        assert row["median"] == pytest.approx(values.median())
        assert row["p05"] == pytest.approx(np.percentile(values, 5))
        assert row["n_runs"] == len(SEEDS)


def test_energy_scorecard_and_key_numbers_match_the_tables(brief: Path, runs_dir: Path
                                                           ) -> None:
    nat = table(runs_dir, "national")
    node = table(runs_dir, "node")
    energy = pd.read_csv(brief / "data" / "emissions_electricity.csv")
    twh = nat[(nat["scenario"] == "edwc") & (nat["year"] == 2023)].groupby("seed")["twh"].sum()
    row = energy.query("metric == 'twh_per_yr' and scenario == 'edwc' and year == 2023")
    assert row["median"].iat[0] == pytest.approx(twh.median())
    co2 = nat[(nat["scenario"] == "no_edwc") & (nat["year"] == 2022)].groupby(
        "seed")["co2_market_t"].sum() / 1e6
    row = energy.query("metric == 'co2_market_mt_per_yr' and scenario == 'no_edwc' and "
                       "year == 2022")
    assert row["median"].iat[0] == pytest.approx(co2.median())

    card = pd.read_csv(brief / "data" / "hub_scorecard.csv")
    assert set(card["year"]) == {2023}                  # scorecard years fall back to the last
    util = 100 * node[(node["scenario"] == "edwc") & (node["year"] == 2023)
                      & (node["node"] == "gansu")].groupby("seed")["utilisation"].mean()
    row = card.query("metric == 'utilisation_pct' and scenario == 'edwc' and node == 'gansu'")
    assert row["median"].iat[0] == pytest.approx(util.median())

    keys = pd.read_csv(brief / "key_numbers.csv")      # 2025/2030/2035 absent -> last year
    subsidy = nat[(nat["scenario"] == "edwc") & (nat["year"] == 2023)].groupby(
        "seed")["subsidy_total_rmb"].sum() / 1e9
    row = keys.query("metric == 'subsidy outlay (bn RMB/yr)' and scenario == 'edwc'")
    assert row["median"].iat[0] == pytest.approx(subsidy.median())
    base = nat[(nat["scenario"] == "no_edwc") & (nat["year"] == 2023)].groupby(
        "seed")["subsidy_total_rmb"].sum() / 1e9
    assert row["diff_mean"].iat[0] == pytest.approx((subsidy - base).mean())   # paired by seed
    assert row["diff_low"].iat[0] < row["diff_mean"].iat[0] < row["diff_high"].iat[0]
    assert row["n_pairs"].iat[0] == len(SEEDS)


def test_bits_vs_watts_and_map_csv_come_from_the_runs(brief: Path, runs_dir: Path) -> None:
    bits = pd.read_csv(brief / "data" / "bits_vs_watts.csv")
    cost = bits.query("metric == 'cost_rmb_per_mwh_it'").set_index("scenario")
    parts = bits[bits["metric"].str.endswith("_rmb_per_mwh_it")
                 & (bits["metric"] != "cost_rmb_per_mwh_it")]
    for scenario in SCENARIOS:
        assert set(cost.at[scenario, "runs"].split(";")) == {f"{scenario}-s{s}" for s in SEEDS}
        total = parts[parts["scenario"] == scenario]["level_mean"].sum()
        assert cost.at[scenario, "level_mean"] == pytest.approx(total)
        assert 200 < cost.at[scenario, "level_mean"] < 3000       # RMB per MWh of IT load
    assert cost.at["no_edwc", "n_pairs"] == len(SEEDS)

    flows = table(runs_dir, "flows")
    flows = flows[(flows["scenario"] == "edwc") & (flows["month"].dt.year == 2023)]
    top = pd.read_csv(brief / "data" / "schematic_map.csv").query("kind == 'flow'").iloc[0]
    pair = flows[(flows["origin"] == top["origin"]) & (flows["serving"] == top["serving"])]
    mw = pair.groupby("seed")["mw"].sum().reindex(SEEDS, fill_value=0.0) / 12
    assert top["mw"] == pytest.approx(mw.median())


def test_bad_folder_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main([str(tmp_path), "--out", str(tmp_path / "b"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no run folders" in err
    assert main([str(tmp_path / "missing"), "--quiet"]) == 2


def test_brief_runs_scenarios_into_a_sweep_folder_and_reads_its_store(tmp_path: Path) -> None:
    """`--scenarios` runs a sweep (store layout: runs/<table>/run_id=<id>/, manifests/<id>/)
    and the brief reads it: key numbers count the runs and are the median of the shards."""
    out = tmp_path / "brief"
    assert main(["--scenarios", "edwc,no_edwc", "--seeds", "1,2,3", "--end", "2022-06",
                 "--model", "demand.n_enterprises=300", "--model", "supply.n_datacenters=40",
                 "--workers", "1", "--out", str(out), "--quiet"]) == 0
    keys = pd.read_csv(out / "key_numbers.csv")
    west = keys[keys["metric"].str.startswith("west share")].set_index("scenario")
    assert set(west["n_runs"]) == {3}
    shards = sorted((out / "runs" / "runs" / "national").glob("run_id=*/part-0.parquet"))
    assert len(shards) == 6
    manifests = {p.parent.name: json.loads(p.read_text())
                 for p in (out / "runs" / "manifests").glob("*/manifest.json")}
    by_scn: dict[str, list[float]] = {}
    for shard in shards:
        man = manifests[shard.parent.name.removeprefix("run_id=")]
        nat = pd.read_parquet(shard)
        by_scn.setdefault(man["scenario"], []).append(100 * nat["west_share"].mean())
    for scn, values in by_scn.items():
        assert west.loc[scn, "median"] == pytest.approx(np.median(values))
