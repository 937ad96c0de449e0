"""Model vs data for the default run (docs/calibration.md).

`make validate ARGS="--seeds 1 2 3 4 5"`.

Runs the default scenario (or the one given by Hydra overrides) for each seed to 2035-12,
measures every calibration target of docs/calibration.md on the run tables - 2021-23, 2024 -
mid-2025 (the build-out, the PUE path, the western glut, the route signs) and the build cycle to
2035 (utilisation range, bounded tariffs) - and prints

    target | source | model median | range across seeds | tolerance | pass/fail

then writes the table as CSV (default outputs/validate/validate.csv). A row passes when the
median across seeds is in the band, or every seed for rows marked "every seed". The exit code
is 1 when a row fails that is not a documented known gap (whose reason is printed). Options:

    --seeds 1 2 3 4 5    seeds (common random numbers with the sweeps)
    --end 2035-12        last simulated month (rows needing later years are skipped)
    --out PATH           CSV path
    --contrast SCENARIO  also run SCENARIO with the same seeds and report, per target, the
                         difference (this run − SCENARIO) paired by seed with its 95 % interval
    overrides ...        Hydra overrides, e.g. demand.n_enterprises=800

Conventions: "end-2022" is the December 2022 row; "2021" is the initial month (January 2022,
the stock and occupancy observed at end-2021); utilisation rows are yearly means of monthly
served / operating capacity over the named hub nodes; DC electricity is facility energy
(IT load x PUE) of all modelled data centers, i.e. the MIIT "racks in use" basis.
Utilisation is rack occupancy (上架率: IT capacity leased / operating), the basis of the
official figures; the 20-30 % figures of the 2025 press are loads and are not modelled.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.paired import t_interval
from model.outcomes import OUTCOMES
from model.run import ROOT, compose_config, simulate
from model.schema import ConfigError

Tables = dict[str, pd.DataFrame]

EAST_HUBS = ("beijing_tianjin_hebei", "yangtze_delta", "greater_bay")
NORTHWEST_HUBS = ("inner_mongolia", "gansu", "ningxia")
SOUTHWEST_HUBS = ("guizhou", "sichuan", "chongqing")
WEST_HUBS = ("inner_mongolia", "guizhou", "gansu", "ningxia")
OTHER_SIX_HUBS = ("greater_bay", "sichuan", "chongqing", "inner_mongolia", "guizhou", "gansu",
                  "ningxia")   # the hubs other than BTH and YRD (Chengdu-Chongqing is two nodes)
SHORT_END = "2023-12"   # enough for the 2021-23 rows (the calibration's short runs)
FULL_END = "2035-12"    # every row, the build cycle to 2035 included


@dataclass(frozen=True)
class Target:
    """One target row of docs/calibration.md: an observed value, its source and the band the
    model must hit."""

    name: str
    target: str
    source: str
    low: float
    high: float
    measure: Callable[[Tables], float]
    last_year: int = 2023        # the row needs runs to December of this year
    every_seed: bool = False     # pass only if every seed is in the band (else the median)
    known_gap: str = ""          # why the model still misses this row (printed, not hidden)

    @property
    def tolerance(self) -> str:
        return f"[{self.low:g}, {self.high:g}]" + (" every seed" if self.every_seed else "")

    def passes(self, values: np.ndarray) -> bool:
        inside = (values >= self.low) & (values <= self.high)
        return bool(inside.all()) if self.every_seed else \
            bool(self.low <= float(np.median(values)) <= self.high)


def racks_m(year: int) -> Callable[[Tables], float]:
    """Operating racks (2.5 kW) at the end of `year`, millions."""
    return lambda t: OUTCOMES["racks"].raw(t["national"], year) / 1e6


def group_utilisation(nodes: Sequence[str], year: int | None) -> Callable[[Tables], float]:
    """Served / operating capacity over `nodes`: yearly mean of months, or the initial month."""
    def measure(t: Tables) -> float:
        node = t["node"][t["node"]["node"].isin(nodes)]
        node = node[node["month"] == node["month"].min()] if year is None \
            else node[node["year"] == year]
        month = node.groupby("month")[["served_mw", "capacity_mw"]].sum()
        return float((month["served_mw"] / month["capacity_mw"]).mean())
    return measure


def national_utilisation(year: int) -> Callable[[Tables], float]:
    return lambda t: OUTCOMES["utilisation"].raw(t["national"], year)


def initial_utilisation(t: Tables) -> float:
    """National served / operating capacity in the initial month (end-2021 stock)."""
    return float(t["national"]["utilisation"].iloc[0])


def initial_pue(t: Tables) -> float:
    """IT-load-weighted PUE of the end-2021 stock (the initial month)."""
    return float(t["national"]["pue"].iloc[0])


def pue_change_2021_2023(t: Tables) -> float:
    """Mean PUE of 2023 minus the end-2021 value."""
    nat = t["national"]
    return float(nat.loc[nat["year"] == 2023, "pue"].mean() - nat["pue"].iloc[0])


def rack_share(nodes: Sequence[str], year: int) -> Callable[[Tables], float]:
    """Share of national operating racks at the end of `year` in `nodes`."""
    def measure(t: Tables) -> float:
        node = t["node"][t["node"]["month"] == pd.Timestamp(year=year, month=12, day=1)]
        return float(node.loc[node["node"].isin(nodes), "racks"].sum() / node["racks"].sum())
    return measure


def eflops(column: str, year: int) -> Callable[[Tables], float]:
    return lambda t: OUTCOMES[column].raw(t["national"], year)


def west_hub_new_rack_share(year: int) -> Callable[[Tables], float]:
    """Share of the capacity built and brought online during `year` (the initial stock has
    online == built) that is located at western hubs."""
    def measure(t: Tables) -> float:
        dc = t["datacenters"]
        dc = dc[(dc["year"] == year) & (dc["status"] == "operating")
                & (dc["online"] // 12 == year) & (dc["online"] > dc["built"])]
        cap = dc["capacity_mw_general"] + dc["capacity_mw_intelligent"]
        return float(cap[dc["node"].isin(WEST_HUBS)].sum() / max(cap.sum(), 1e-9))
    return measure


def twh(year: int) -> Callable[[Tables], float]:
    """DC electricity in `year` (a full year: the annualised sum is the sum), TWh."""
    return lambda t: OUTCOMES["twh"].raw(t["national"], year)


def unserved_share(year: int) -> Callable[[Tables], float]:
    def measure(t: Tables) -> float:
        nat = t["national"][t["national"]["year"] == year]
        return max(0.0, float(nat["unserved_mw"].sum() / nat["demand_mw"].sum()))   # no -0
    return measure


MID_2025 = pd.Timestamp(year=2025, month=6, day=1)


def racks_mid_2025(t: Tables) -> float:
    """Operating racks (2.5 kW) in June 2025, millions."""
    nat = t["national"]
    return float(nat.loc[nat["month"] == MID_2025, "racks"].iloc[0]) / 1e6


def pue_mean(year: int) -> Callable[[Tables], float]:
    """Mean monthly fleet PUE (facility / IT energy) over `year`."""
    return lambda t: float(t["national"].loc[t["national"]["year"] == year, "pue"].mean())


def pue_mid_2025(t: Tables) -> float:
    """Fleet PUE in June 2025."""
    nat = t["national"]
    return float(nat.loc[nat["month"] == MID_2025, "pue"].iloc[0])


def east_minus_west(year: int) -> Callable[[Tables], float]:
    """Utilisation of the eastern hubs minus the western hubs in `year` (points of 1)."""
    east, west = group_utilisation(EAST_HUBS, year), group_utilisation(WEST_HUBS, year)
    return lambda t: east(t) - west(t)


def utilisation_range(first: int, last: int) -> Callable[[Tables], float]:
    """Max - min of yearly mean national utilisation over [first, last] (a boom-bust test)."""
    def measure(t: Tables) -> float:
        nat = t["national"]
        yearly = nat[nat["year"].between(first, last)].groupby("year")["utilisation"].mean()
        return float(yearly.max() - yearly.min())
    return measure


def co2_per_it_mwh(t: Tables, node: str, year: int) -> float:
    """Location-based kgCO2 per MWh of IT load served at `node` in `year`: the node's grid
    factor x the PUE of the load it serves (facility CO2 / IT energy)."""
    nd = t["node"]
    rows = nd[(nd["node"] == node) & (nd["year"] == year)]
    it_mwh = (rows["energy_mwh"] / rows["pue"].where(rows["pue"] > 0)).sum()
    return float(rows["co2_location_t"].sum() / it_mwh * 1000.0)


# The routes of Zhang, Li & Wang (2025) start in Beijing and Shanghai cities, which the BTH and
# YRD nodes (Beijing + Tianjin + Hebei; Shanghai + Jiangsu + Zhejiang + Anhui clusters) do not
# resolve. 2022 grid factors, kgCO2/kWh (MEE/NBS 2022 electricity CO2 factors, announced
# 2024-12-20 [A]; the node values of conf/geography are from the same table): Beijing 0.558
# (Tianjin 0.704, Hebei 0.725, North China grid 0.678 = the BTH node), Shanghai 0.585 (East
# China grid 0.562 = the YRD node).
CITY_EF_2022 = {"beijing": 0.558, "shanghai": 0.585}
NODE_EF_2022 = {"beijing_tianjin_hebei": 0.678, "yangtze_delta": 0.562}


def route_sign(origin: str, destination: str, year: int, city: str | None = None
               ) -> Callable[[Tables], float]:
    """Relative change of location-based CO2 per MWh of IT load when load served at
    `origin` is served at `destination` instead (Zhang, Li & Wang 2025 route comparison).
    With `city`, the origin is that city inside the origin node: its grid factor (the node's
    path scaled by CITY_EF_2022 / NODE_EF_2022) with the node's PUE."""
    scale = 1.0 if city is None else CITY_EF_2022[city] / NODE_EF_2022[origin]
    return lambda t: (co2_per_it_mwh(t, destination, year)
                      / (scale * co2_per_it_mwh(t, origin, year)) - 1)


def peak_tariff_ratio(t: Tables) -> float:
    """Largest monthly DC tariff of any node over that node's 2022 mean tariff."""
    nd = t["node"]
    base = nd[nd["year"] == 2022].groupby("node")["tariff"].mean()
    return float((nd.groupby("node")["tariff"].max() / base).max())


def hub_racks_started(year: int) -> Callable[[Tables], float]:
    """Racks (2.5 kW) of the projects started during `year` at hub nodes, millions (from the
    December snapshot: built in `year`, online later or during it; the initial pipeline was
    started before the run)."""
    def measure(t: Tables) -> float:
        dc = t["datacenters"]
        dc = dc[(dc["year"] == year) & (dc["built"] // 12 == year) & (dc["online"] > dc["built"])]
        hub = t["node"].drop_duplicates("node").set_index("node")["hub"]
        cap = (dc["capacity_mw_general"] + dc["capacity_mw_intelligent"])[
            dc["node"].map(hub).astype(bool)]
        nat = t["national"]
        racks_per_mw = float(nat["racks"].iloc[0] / nat["capacity_mw"].iloc[0])
        return float(cap.sum() * racks_per_mw / 1e6)
    return measure


TARGETS: tuple[Target, ...] = (
    Target("racks in use end-2022 (m)", "6.5", "MIIT [A]", 6.2, 6.8, racks_m(2022)),
    Target("racks in use end-2023 (m)", "8.1", "MIIT [A]", 7.7, 8.5, racks_m(2023)),
    Target("utilisation national 2021", "~0.55", "CAICT [A]", 0.52, 0.58, initial_utilisation),
    Target("utilisation east hubs 2021", "0.65-0.68", "CAICT/CDCC [B]", 0.62, 0.71,
           group_utilisation(EAST_HUBS, None)),
    Target("utilisation north-west hubs 2021", "~0.34", "CAICT/CDCC [B]", 0.29, 0.39,
           group_utilisation(NORTHWEST_HUBS, None)),
    Target("utilisation south-west hubs 2021", "~0.41", "CAICT/CDCC [B]", 0.36, 0.46,
           group_utilisation(SOUTHWEST_HUBS, None)),
    Target("utilisation national 2022", "~0.55", "CAICT [A]", 0.50, 0.60,
           national_utilisation(2022)),
    Target("utilisation east hubs 2022", "0.65-0.68", "CAICT/CDCC [B]", 0.60, 0.72,
           group_utilisation(EAST_HUBS, 2022)),
    Target("utilisation north-west hubs 2022", "~0.34", "CAICT/CDCC [B]", 0.26, 0.45,
           group_utilisation(NORTHWEST_HUBS, 2022)),
    Target("utilisation south-west hubs 2022", "~0.41", "CAICT/CDCC [B]", 0.33, 0.50,
           group_utilisation(SOUTHWEST_HUBS, 2022)),
    Target("utilisation western hubs 2023 (glut)", "0.30-0.45", "press reports 2021-23 [B]",
           0.28, 0.50, group_utilisation(WEST_HUBS, 2023)),
    Target("average PUE 2021", "1.49", "CAICT [B]", 1.46, 1.52, initial_pue),
    Target("PUE change 2021->2023", "falling slowly", "CAICT/MIIT [B]", -0.10, -0.005,
           pue_change_2021_2023),
    Target("rack share BTH end-2023", "0.215", "CAICT [B]", 0.195, 0.235,
           rack_share(("beijing_tianjin_hebei",), 2023)),
    Target("rack share YRD end-2023", "0.245", "CAICT [B]", 0.225, 0.265,
           rack_share(("yangtze_delta",), 2023)),
    Target("rack share other six hubs end-2023", "0.255", "CAICT [B]", 0.23, 0.28,
           rack_share(OTHER_SIX_HUBS, 2023),
           known_gap="two sources pull apart: western hubs took > 45 % of 2022's new racks "
                     "(NDRC [A], a row here) while CAICT's shares give the six hubs only ~27 % "
                     "of the 2.9 m racks added in 2022-23 [B]; with the 2022 pipeline held to the "
                     "first, the six hubs hold ~0.30 at end-2022 and ~0.28 at end-2023"),
    Target("compute end-2022 (EFLOPS)", "180", "MIIT [A]", 166, 194, eflops("eflops", 2022)),
    Target("intelligent compute end-2022 (EFLOPS)", "41", "MIIT [A]", 36, 46,
           eflops("eflops_intelligent", 2022)),
    Target("compute end-2023 (EFLOPS)", "230", "MIIT [A]", 212, 248, eflops("eflops", 2023)),
    Target("compute end-2024 (EFLOPS)", "280", "MIIT Apr 2025 [A], out of the fit", 258, 302,
           eflops("eflops", 2024), last_year=2024),
    Target("intelligent compute end-2024 (EFLOPS)", "90", "MIIT Apr 2025 [A], out of the fit",
           79, 101, eflops("eflops_intelligent", 2024), last_year=2024,
           known_gap="every operating intelligent MW counts at its vintage's FLOPS/W; the AI "
                     "halls of the 2023-24 wave that stood without accelerators (export "
                     "controls, idle new compute [B]) count as compute here"),
    Target("western hubs' share of new racks 2022", "> 0.45", "NDRC [A]", 0.45, 1.0,
           west_hub_new_rack_share(2022)),
    Target("DC electricity 2023 (TWh, racks-in-use basis)", "100-150", "CAICT/IEA [B]",
           100, 150, twh(2023)),
    Target("unserved share of demand 2023", "small", "model sanity [C]", 0.0, 0.02,
           unserved_share(2023)),
    # 2024 - mid-2025 (docs/calibration.md, issue 12) and the build cycle to 2035
    Target("hub racks started 2022 (m)", "> 1.1", "NDRC Feb 2023 [A], out of the fit", 0.9, 1.8,
           hub_racks_started(2022)),
    Target("racks in use mid-2025 (m)", "10.85", "MIIT, 2025 China Computing Power Conf. [A]",
           10.3, 11.4, racks_mid_2025, last_year=2025,
           known_gap="the 2024-25 AI build-out rests on the AI-wave expectations "
                     "(supply.ai_wave_optimism [C]) and the intelligent build lag; without "
                     "them builders build for the modelled demand (~9.8 m racks)"),
    Target("average PUE 2023", "1.48", "BNEF [B]", 1.45, 1.51, pue_mean(2023)),
    Target("average PUE mid-2025", "1.42", "MIIT [A]", 1.39, 1.45, pue_mid_2025, last_year=2025,
           known_gap="the path rests on the 2022-23 pipeline's pre-2021 designs "
                     "(supply.pipeline_pue_cap 1.4 [A]); later new builds enter at their "
                     "climate-best design PUE and load moves to them"),
    Target("east - west hub utilisation 2025 (glut)", ">= 0.15",
           "Reuters 2025 [B]; docs/calibration.md",
           0.15, 0.45, east_minus_west(2025), last_year=2025),
    Target("utilisation national 2025", "near >= 0.60", "MIIT target [A]", 0.55, 0.70,
           national_utilisation(2025), last_year=2025,
           known_gap="occupancy rests on the intelligent-compute growth of 2024-25 (IDC/Inspur "
                     "+74 %, +43 % [B]); the AI build-out of 2024-25 runs ahead of the load "
                     "when that growth is lower (0.55 at +40 %/yr)"),
    Target("route YRD -> Sichuan, location CO2/MWh IT", "cuts (-80 %)",
           "Zhang, Li & Wang 2025 [B]; origin Shanghai city (MEE 2022 factor)", -1.0, -0.01,
           route_sign("yangtze_delta", "sichuan", 2025, city="shanghai"), last_year=2025),
    Target("route BTH -> Inner Mongolia, location CO2/MWh IT", "raises (+25 %)",
           "Zhang, Li & Wang 2025 [B]; origin Beijing city (MEE 2022 factor)", 0.01, 1.0,
           route_sign("beijing_tianjin_hebei", "inner_mongolia", 2025, city="beijing"),
           last_year=2025,
           known_gap="Beijing city's factor (0.558, MEE 2022 [A]) is 18 % below the BTH node's "
                     "North China grid (0.678); Inner Mongolia's lower operating PUE offsets "
                     "it when its DCs run fuller; the node-level route (history_check) is < 0"),
    Target("national utilisation range 2026-35", "<= 0.20", "no boom-bust, docs/calibration.md [C]",
           0.0, 0.20, utilisation_range(2026, 2035), last_year=2035, every_seed=True),
    Target("peak DC tariff / 2022 tariff", "<= 1.5", "issue 12 (bounded scarcity) [C]",
           0.0, 1.5, peak_tariff_ratio, last_year=2035, every_seed=True),
)


def run_seeds(seeds: Sequence[int], end: str = SHORT_END, overrides: Sequence[str] = ()
              ) -> list[Tables]:
    """Tables of the scenario run once per seed (quiet, nothing written)."""
    out = []
    for seed in seeds:
        cfg = compose_config([*overrides, f"run.seed={seed}", f"run.end={end}", "run.quiet=true"])
        out.append(simulate(cfg).tables)
    return out


def measure_all(runs: Sequence[Tables]) -> pd.DataFrame:
    """One row per target the runs reach (a row needs December of its last year): model
    median and range across runs, tolerance, pass/fail, known gap."""
    last = min(t["national"]["month"].iloc[-1].year - (t["national"]["month"].iloc[-1].month < 12)
               for t in runs)
    rows = []
    for tg in TARGETS:
        if tg.last_year > last:
            continue
        values = np.array([tg.measure(t) for t in runs])
        rows.append({"target_name": tg.name, "target": tg.target, "source": tg.source,
                     "model_median": float(np.median(values)), "model_min": float(values.min()),
                     "model_max": float(values.max()), "tolerance": tg.tolerance,
                     "low": tg.low, "high": tg.high, "pass": tg.passes(values),
                     "known_gap": tg.known_gap})
    return pd.DataFrame(rows)


def contrast(runs: Sequence[Tables], other: Sequence[Tables]) -> pd.DataFrame:
    """Per target: the difference `runs − other` paired by seed (same order), mean and 95 %
    t-interval (experiments.paired)."""
    rows = []
    for tg in TARGETS:
        d = np.array([tg.measure(a) - tg.measure(b) for a, b in zip(runs, other, strict=True)])
        iv = t_interval(d)
        rows.append({"target_name": tg.name, "diff_mean": iv.mean, "diff_low": iv.low,
                     "diff_high": iv.high, "n_pairs": iv.n})
    return pd.DataFrame(rows)


def format_table(table: pd.DataFrame) -> str:
    """Human-readable validation table."""
    def num(x: float) -> str:
        return f"{x:.3f}" if abs(x) < 10 else f"{x:.1f}"
    shown = pd.DataFrame({
        "target": table["target_name"] + " = " + table["target"],
        "source": table["source"],
        "model median": table["model_median"].map(num),
        "range across seeds": table["model_min"].map(num) + " - " + table["model_max"].map(num),
        "tolerance": table["tolerance"],
        "result": np.where(table["pass"], "pass",
                           np.where(table["known_gap"] != "", "FAIL (known gap)", "FAIL")),
    })
    if "diff_mean" in table:
        shown["paired difference [95 % CI]"] = [
            f"{num(m)} [{num(lo)}, {num(hi)}]" if np.isfinite(lo) else num(m)
            for m, lo, hi in zip(table["diff_mean"], table["diff_low"], table["diff_high"],
                                 strict=True)]
    return shown.to_string(index=False)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="validate", description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    p.add_argument("--end", default=FULL_END,
                   help="last month YYYY-MM (>= 2023-12; rows needing later years are skipped)")
    p.add_argument("--out", default=str(ROOT / "outputs" / "validate" / "validate.csv"))
    p.add_argument("--contrast", metavar="SCENARIO",
                   help="paired differences from this scenario (same seeds)")
    p.add_argument("overrides", nargs="*", help="Hydra overrides")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        runs = run_seeds(args.seeds, args.end, args.overrides)
        rest = [o for o in args.overrides if not o.startswith("scenario=")]
        other = run_seeds(args.seeds, args.end, [*rest, f"scenario={args.contrast}"]
                          ) if args.contrast else None
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    table = measure_all(runs)
    if other is not None:
        table = table.merge(contrast(runs, other), on="target_name")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    table.to_csv(tmp, index=False)
    tmp.replace(out)
    against = f"; differences from {args.contrast} paired by seed" if args.contrast else ""
    print(f"Validation of the default run against docs/calibration.md, seeds {args.seeds}"
          f"{against}:\n")
    print(format_table(table))
    failed = int((~table["pass"]).sum())
    print(f"\n{len(table) - failed}/{len(table)} rows pass; table written to {out}")
    for _, row in table[~table["pass"] & (table["known_gap"] != "")].iterrows():
        print(f"known gap - {row['target_name']}: {row['known_gap']}")
    unexplained = int((~table["pass"] & (table["known_gap"] == "")).sum())
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
