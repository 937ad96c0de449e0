"""The 2022 -> mid-2025 history and the stability of the build cycle (issue 12, DESIGN §8):
`python -m experiments.history_check --seeds 1 2 3 4 5 [overrides]`.

Runs the scenario to 2035-12 for each seed and prints, per seed and as median [min, max]:
racks and PUE in mid-2025, east - west hub utilisation and national utilisation in 2025, the
range of yearly national utilisation 2026-2035, the two route signs (location-based CO2 per
MWh of IT load at the destination over the origin, minus 1, in 2025), the west share of served
load in 2030, the largest DC tariff over its 2022 level and the unserved share 2024-25.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from experiments.validate import EAST_HUBS, WEST_HUBS, Tables, group_utilisation, run_seeds

MID_2025 = pd.Timestamp(year=2025, month=6, day=1)


def _at(nat: pd.DataFrame, stamp: pd.Timestamp, column: str) -> float:
    return float(nat.loc[nat["month"] == stamp, column].iloc[0])


def racks_mid_2025(t: Tables) -> float:
    """Operating racks (2.5 kW) in June 2025, millions."""
    return _at(t["national"], MID_2025, "racks") / 1e6


def pue_mid_2025(t: Tables) -> float:
    """Load-weighted PUE of the fleet in June 2025."""
    return _at(t["national"], MID_2025, "pue")


def east_minus_west_2025(t: Tables) -> float:
    """Utilisation of the eastern hubs minus the western hubs, 2025 mean, points of 1."""
    return group_utilisation(EAST_HUBS, 2025)(t) - group_utilisation(WEST_HUBS, 2025)(t)


def national_utilisation_2025(t: Tables) -> float:
    nat = t["national"]
    return float(nat.loc[nat["year"] == 2025, "utilisation"].mean())


def utilisation_range(first: int, last: int) -> Callable[[Tables], float]:
    """Max - min of yearly mean national utilisation over [first, last]."""
    def measure(t: Tables) -> float:
        nat = t["national"]
        yearly = nat[(nat["year"] >= first) & (nat["year"] <= last)].groupby("year")[
            "utilisation"].mean()
        return float(yearly.max() - yearly.min())
    return measure


def co2_per_it_mwh(t: Tables, node: str, year: int) -> float:
    """Location-based kgCO2 per MWh of IT load served at `node` in `year`: facility CO2 over
    IT energy, i.e. grid factor x PUE of the load the node serves."""
    nd = t["node"]
    rows = nd[(nd["node"] == node) & (nd["year"] == year)]
    it_mwh = (rows["energy_mwh"] / rows["pue"].where(rows["pue"] > 0)).sum()
    return float(rows["co2_location_t"].sum() / it_mwh * 1000.0)


def route_sign(origin: str, destination: str, year: int = 2025) -> Callable[[Tables], float]:
    """Relative change of location CO2 per MWh of IT load when load moves origin -> dest."""
    return lambda t: co2_per_it_mwh(t, destination, year) / co2_per_it_mwh(t, origin, year) - 1


def west_share(year: int) -> Callable[[Tables], float]:
    return lambda t: float(t["national"].loc[t["national"]["year"] == year, "west_share"].mean())


def max_tariff_ratio(t: Tables) -> float:
    """Largest monthly DC tariff of any node over that node's 2022 mean tariff."""
    nd = t["node"]
    base = nd[nd["year"] == 2022].groupby("node")["tariff"].mean()
    peak = nd.groupby("node")["tariff"].max()
    return float((peak / base).max())


def unserved_share(first: int, last: int) -> Callable[[Tables], float]:
    def measure(t: Tables) -> float:
        nat = t["national"]
        sel = nat[(nat["year"] >= first) & (nat["year"] <= last)]
        return max(0.0, float(sel["unserved_mw"].sum() / sel["demand_mw"].sum()))
    return measure


MEASURES: tuple[tuple[str, Callable[[Tables], float]], ...] = (
    ("racks mid-2025 (m)", racks_mid_2025),
    ("PUE mid-2025", pue_mid_2025),
    ("east - west hub utilisation 2025", east_minus_west_2025),
    ("national utilisation 2025", national_utilisation_2025),
    ("national utilisation range 2026-35", utilisation_range(2026, 2035)),
    ("route BTH -> Inner Mongolia, CO2/MWh IT", route_sign("beijing_tianjin_hebei",
                                                           "inner_mongolia")),
    ("route YRD -> Sichuan, CO2/MWh IT", route_sign("yangtze_delta", "sichuan")),
    ("west share 2030", west_share(2030)),
    ("max DC tariff / 2022 tariff", max_tariff_ratio),
    ("unserved share 2024-25", unserved_share(2024, 2025)),
)


def history_table(runs: Sequence[Tables], seeds: Sequence[int]) -> pd.DataFrame:
    """One row per measure: each seed's value, median, min and max."""
    rows = []
    for name, measure in MEASURES:
        values = np.array([measure(t) for t in runs])
        row = {"measure": name, **{f"seed {s}": v for s, v in zip(seeds, values, strict=True)}}
        row.update(median=float(np.median(values)), min=float(values.min()),
                   max=float(values.max()))
        rows.append(row)
    return pd.DataFrame(rows)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="history_check", description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    p.add_argument("--end", default="2035-12")
    p.add_argument("overrides", nargs="*", help="Hydra overrides")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    runs = run_seeds(args.seeds, args.end, args.overrides)
    table = history_table(runs, args.seeds)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
