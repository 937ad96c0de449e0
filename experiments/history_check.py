"""The 2022 -> mid-2025 history and the stability of the build cycle, seed by seed (issue 12,
docs/calibration.md): `python -m experiments.history_check --seeds 1 2 3 4 5 [overrides]`.

Runs the scenario to 2035-12 for each seed and prints, per seed and as median [min, max]:
racks and PUE in mid-2025, east - west hub utilisation and national utilisation in 2025, the
range of yearly national utilisation 2026-2035, the two route signs (location-based CO2 per
MWh of IT load at the destination over the origin, minus 1, in 2025), the west share of served
load in 2030, the largest DC tariff over its 2022 level and the unserved share 2024-25. The
measures are those of `experiments.validate`; this table shows every seed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from experiments.validate import (
    FULL_END,
    Tables,
    east_minus_west,
    national_utilisation,
    peak_tariff_ratio,
    pue_mid_2025,
    racks_mid_2025,
    route_sign,
    run_seeds,
    utilisation_range,
)


def west_share(year: int) -> Callable[[Tables], float]:
    """Share of served load served by western nodes, mean over `year`."""
    return lambda t: float(t["national"].loc[t["national"]["year"] == year, "west_share"].mean())


def unserved_share(first: int, last: int) -> Callable[[Tables], float]:
    """Unserved demand over [first, last] as a share of demand."""
    def measure(t: Tables) -> float:
        nat = t["national"]
        sel = nat[nat["year"].between(first, last)]
        return max(0.0, float(sel["unserved_mw"].sum() / sel["demand_mw"].sum()))
    return measure


MEASURES: tuple[tuple[str, Callable[[Tables], float]], ...] = (
    ("racks mid-2025 (m)", racks_mid_2025),
    ("PUE mid-2025", pue_mid_2025),
    ("east - west hub utilisation 2025", east_minus_west(2025)),
    ("national utilisation 2025", national_utilisation(2025)),
    ("national utilisation range 2026-35", utilisation_range(2026, 2035)),
    ("route Beijing -> Inner Mongolia, CO2/MWh IT",
     route_sign("beijing_tianjin_hebei", "inner_mongolia", 2025, city="beijing")),
    ("route Shanghai -> Sichuan, CO2/MWh IT",
     route_sign("yangtze_delta", "sichuan", 2025, city="shanghai")),
    ("route node BTH -> Inner Mongolia, CO2/MWh IT",
     route_sign("beijing_tianjin_hebei", "inner_mongolia", 2025)),
    ("route node YRD -> Sichuan, CO2/MWh IT", route_sign("yangtze_delta", "sichuan", 2025)),
    ("west share 2030", west_share(2030)),
    ("max DC tariff / 2022 tariff", peak_tariff_ratio),
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
    p.add_argument("--end", default=FULL_END)
    p.add_argument("overrides", nargs="*", help="Hydra overrides")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    table = history_table(run_seeds(args.seeds, args.end, args.overrides), args.seeds)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
