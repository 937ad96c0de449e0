"""Moving bits vs moving watts from model runs (docs/design.md §1.1 Q4).

For each run, what it costs and emits to serve the IT load of enterprises at home in the
eastern nodes, wherever the market placed it, in one year:

- energy: facility energy (IT MWh x PUE of the serving node) x the DC tariff there, less the
  UHV transmission tariff that tariff carries where a line ends (the tariff is the line's cost
  recovery; the line is costed under transmission instead, so it is counted once);
- transmission: the capex of the UHV lines in service into the serving node (the run's
  lines.parquet `capacity_gw` x `capex_rmb_per_gw`, annuitised over the line's
  `life_years`), shared by the node's grid consumption: facility energy x annuity / grid
  MWh. 0 where no line ends (bits moved west use none);
- network/transfer: the run's data-transfer cost (national `network_cost_rmb`) times the
  eastern share of load served away from home;
- capex: the DC capacity the load needs at the serving nodes' utilisation, valued at what
  that node's operating capacity cost per MW (node `capacity_capex_rmb / capacity_mw`, land
  included), annuitised over the DC life (`supply.life_years`);
- CO2: facility energy x grid factor of the serving node (location based);
- latency: load-weighted one-way latency of load served away from home (national).

Both annuities use the capital rate of DC prices (`supply.price_capital_rate`), so bits and
watts are discounted alike. All per MWh of eastern IT load. Scenarios are compared with the
reference (`edwc`) paired by seed, with t-intervals; every row names the runs behind it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from agents.datacenter import annuity_factor
from experiments.paired import t_interval
from model.constants import HOURS_PER_MONTH

COMPONENTS = ("energy", "transmission", "network", "capex")
METRICS = tuple(f"{c}_rmb_per_mwh_it" for c in COMPONENTS) + (
    "cost_rmb_per_mwh_it", "co2_kg_per_mwh_it", "latency_ms_moved", "moved_share")
LINE_COLUMNS = ("month", "line", "to", "capacity_gw", "delivered_mwh", "tariff_rmb")


def per_run(national: pd.DataFrame, node: pd.DataFrame, flows: pd.DataFrame,
            lines: pd.DataFrame, config: Mapping[str, Any], year: int) -> pd.DataFrame:
    """One row per run: run_id, scenario, seed, year and every metric (METRICS).

    `flows` holds yearly mean MW per run, origin, serving (brief loader); `lines` the monthly
    lines.parquet rows of every run (`read_lines`); `config` one resolved run config
    (geography, UHV lines and supply defaults shared by the runs).
    """
    geo = config["geography"]["nodes"]
    role = {n: v["role"] for n, v in geo.items()}
    grid_mwh_month = {n: float(v["grid_twh"]) * 1e6 / 12 for n, v in geo.items()}
    rate = float(config["supply"]["price_capital_rate"])
    crf = 1.0 / annuity_factor(rate, float(config["supply"]["life_years"]))
    east = [n for n, r in role.items() if r == "east"]
    nod = node[node["year"] == year].groupby(["run_id", "node"]).agg(
        pue=("pue", "mean"), tariff=("tariff", "mean"), ef=("grid_ef", "mean"),
        util=("utilisation", "mean"), capacity=("capacity_mw", "sum"),
        capex=("capacity_capex_rmb", "sum"))
    uhv = uhv_by_node(lines, config, year)
    nat_y = national[national["year"] == year].groupby(["run_id", "scenario", "seed"]).agg(
        network=("network_cost_rmb", "sum"), latency=("mean_latency_ms_migrated", "mean"))
    fl = flows[flows["year"] == year]
    rows = []
    for (rid, scn, seed), r in nat_y.iterrows():
        f = fl[(fl["run_id"] == rid) & fl["origin"].isin(east)]
        by_serving = f.groupby("serving")["mw"].sum()
        it_mw = float(by_serving.sum())
        if it_mw <= 0:
            continue
        away_all = fl[(fl["run_id"] == rid) & (fl["origin"] != fl["serving"])]["mw"].sum()
        away_east = float(f.loc[f["origin"] != f["serving"], "mw"].sum())
        it_mwh = it_mw * HOURS_PER_MONTH * 12
        energy = transmission = co2 = capex = 0.0
        for s, mw in by_serving.items():
            n = nod.loc[(rid, s)]
            fac_mwh = mw * HOURS_PER_MONTH * 12 * n["pue"]
            line = uhv.loc[(rid, s)] if (rid, s) in uhv.index else None
            tariff_part = 0.0 if line is None else line["tariff_share"]
            energy += fac_mwh * n["tariff"] * 1000.0 * (1.0 - tariff_part)
            co2 += fac_mwh * n["ef"] * 1000.0
            if line is not None:
                transmission += fac_mwh * line["annuity_rmb"] / (grid_mwh_month[s] * 12)
            per_mw = n["capex"] / n["capacity"] if n["capacity"] > 0 else 0.0
            capex += (mw / n["util"] if n["util"] > 0 else 0.0) * per_mw * crf
        network = float(r["network"]) * (away_east / away_all) if away_all > 0 else 0.0
        parts = {"energy": energy, "transmission": transmission, "network": network,
                 "capex": capex}
        row = {"run_id": rid, "scenario": scn, "seed": int(seed), "year": year}
        row.update({f"{k}_rmb_per_mwh_it": v / it_mwh for k, v in parts.items()})
        row["cost_rmb_per_mwh_it"] = sum(parts.values()) / it_mwh
        row["co2_kg_per_mwh_it"] = co2 / it_mwh
        row["latency_ms_moved"] = float(r["latency"])
        row["moved_share"] = away_east / it_mw
        rows.append(row)
    return pd.DataFrame(rows, columns=["run_id", "scenario", "seed", "year", *METRICS])


def uhv_by_node(lines: pd.DataFrame, config: Mapping[str, Any], year: int) -> pd.DataFrame:
    """Per run and receiving node in `year`: `annuity_rmb`, the capex annuity of the lines in
    service there (each month's capacity_gw x capex_rmb_per_gw x capital recovery over the
    line's life_years at supply.price_capital_rate, / 12), and `tariff_share`, the
    share of the node's DC tariff that is the UHV transmission tariff (the tariff's base is
    the node's own price on the grid energy not imported plus sending price + transmission
    tariff on the imports; the discount and scarcity adder scale both alike)."""
    cols = ["annuity_rmb", "tariff_share"]
    ln = lines[(lines["month"].dt.year == year) & (lines["capacity_gw"] > 0)] \
        if len(lines) else lines
    if not len(ln):
        return pd.DataFrame(columns=cols, index=pd.MultiIndex.from_tuples([], names=["run_id",
                                                                                     "to"]))
    uhv = config["geography"]["uhv_lines"]
    nodes = config["geography"]["nodes"]
    rate = float(config["supply"]["price_capital_rate"])
    spec = pd.DataFrame({name: {"annuity_per_gw": float(v["capex_rmb_per_gw"])
                                / annuity_factor(rate, float(v["life_years"])) / 12.0,
                                "sending_price": float(v["sending_price"])}
                         for name, v in uhv.items()}).T
    ln = ln.join(spec, on="line")
    ln = ln.assign(monthly_annuity=ln["capacity_gw"] * ln["annuity_per_gw"],
                   sending_rmb=ln["delivered_mwh"] * ln["sending_price"] * 1000.0)
    by = ln.groupby(["run_id", "to"]).agg(annuity_rmb=("monthly_annuity", "sum"),
                                          delivered=("delivered_mwh", "sum"),
                                          tariff=("tariff_rmb", "sum"),
                                          sending=("sending_rmb", "sum"))
    to = by.index.get_level_values("to")
    grid = np.array([float(nodes[n]["grid_twh"]) * 1e6 for n in to])
    local = np.array([float(nodes[n]["dc_power_price"]) * 1000.0 for n in to])
    delivered = by["delivered"].to_numpy(dtype=float)
    per_mwh = np.where(delivered > 0, delivered, 1.0)          # a line in service but idle
    share = np.minimum(delivered / grid, 1.0)
    base = (1.0 - share) * local + share * (by["sending"] + by["tariff"]).to_numpy() / per_mwh
    part = share * by["tariff"].to_numpy() / per_mwh
    by["tariff_share"] = np.divide(part, base, out=np.zeros(len(by)), where=base > 0)
    return by[cols]


def paired(runs: pd.DataFrame, reference: str = "edwc") -> pd.DataFrame:
    """Per scenario and metric: level (mean, min, max over seeds, n runs), and the difference
    from `reference` paired by seed (mean and 95 % t-interval), naming the runs behind it."""
    rows = []
    ref = runs[runs["scenario"] == reference].set_index("seed")
    for scn, part in runs.groupby("scenario", sort=False):
        part = part.set_index("seed")
        common = part.index.intersection(ref.index)
        for m in METRICS:
            level = part[m].dropna()
            row = {"scenario": scn, "metric": m, "reference": reference,
                   "level_mean": level.mean(), "level_min": level.min(),
                   "level_max": level.max(), "n_runs": len(level),
                   "runs": ";".join(part["run_id"].astype(str))}
            if scn != reference and len(common):
                d = (part.loc[common, m] - ref.loc[common, m]).dropna()
                iv = t_interval(d.to_numpy())
                row.update(diff_mean=iv.mean, diff_low=iv.low, diff_high=iv.high,
                           n_pairs=iv.n, reference_runs=";".join(
                               ref.loc[common, "run_id"].astype(str)))
            rows.append(row)
    return pd.DataFrame(rows)


def read_lines(folders: Sequence[Any], run_ids: Sequence[str]) -> pd.DataFrame:
    """lines.parquet of every run (run_id and LINE_COLUMNS); empty if none has one."""
    frames = []
    for rid, folder in zip(run_ids, folders, strict=True):
        path = folder / "lines.parquet"
        if path.is_file():
            t = pd.read_parquet(path, columns=list(LINE_COLUMNS))
            frames.append(t.assign(run_id=rid, month=pd.to_datetime(t["month"])))
    if not frames:
        return pd.DataFrame(columns=["run_id", *LINE_COLUMNS])
    return pd.concat(frames, ignore_index=True)


def figure(table: pd.DataFrame, style: Any, year: int) -> Any:
    """Three panels by scenario: delivered cost per MWh of eastern IT load (stacked by
    component), CO2 per MWh, latency of moved load; error bars are the seed range, and each
    scenario's paired difference from the reference is printed with its interval."""
    import matplotlib.pyplot as plt

    scen = list(dict.fromkeys(table["scenario"]))
    lv = table.pivot(index="scenario", columns="metric", values="level_mean").reindex(scen)
    lo = table.pivot(index="scenario", columns="metric", values="level_min").reindex(scen)
    hi = table.pivot(index="scenario", columns="metric", values="level_max").reindex(scen)
    diff = table.set_index(["scenario", "metric"])
    fig, axes = plt.subplots(1, 3, figsize=style.size("bits_vs_watts"),
                             gridspec_kw={"width_ratios": [3, 2, 2]})
    x = np.arange(len(scen))
    colors = style.colors(list(COMPONENTS))
    bottom = np.zeros(len(scen))
    for comp in COMPONENTS:
        vals = lv[f"{comp}_rmb_per_mwh_it"].fillna(0).to_numpy()
        axes[0].bar(x, vals, 0.6, bottom=bottom, color=colors[comp], label=comp,
                    edgecolor="0.2", linewidth=0.4)
        bottom += vals
    panels = (("cost_rmb_per_mwh_it", "RMB per MWh of eastern IT load", axes[0]),
              ("co2_kg_per_mwh_it", "kgCO2 per MWh of eastern IT load", axes[1]),
              ("latency_ms_moved", "one-way latency of moved load (ms)", axes[2]))
    for metric, label, ax in panels:
        m = lv[metric].to_numpy()
        err = np.vstack([(m - lo[metric]).fillna(0), (hi[metric] - m).fillna(0)])
        if metric != "cost_rmb_per_mwh_it":
            ax.bar(x, m, 0.6, color="0.6", edgecolor="0.2", linewidth=0.4)
        ax.errorbar(x, m, yerr=err, fmt="none", ecolor="0.1", capsize=3, lw=0.8)
        for xi, s in zip(x, scen, strict=True):
            if "diff_low" in diff.columns and (s, metric) in diff.index \
                    and np.isfinite(diff.loc[(s, metric), "diff_low"]):
                d = diff.loc[(s, metric)]
                ax.annotate(f"{d['diff_mean']:+.3g}\n[{d['diff_low']:+.2g}, {d['diff_high']:+.2g}]",
                            (xi, 0), xytext=(0, 2), textcoords="offset points", ha="center",
                            va="bottom", fontsize=style.tick_size - 3, color="0.1")
        ax.set_xticks(x, scen, rotation=20, ha="right")
        ax.set_ylabel(label)
    axes[0].legend(frameon=False, fontsize=style.tick_size - 1)
    ref = table["reference"].iloc[0]
    fig.suptitle(f"Moving bits vs moving watts, {year}, eastern IT load (error bars: seed "
                 f"range; text: Δ vs {ref} [95 % CI])", fontsize=style.title_size)
    fig.tight_layout()
    return fig
