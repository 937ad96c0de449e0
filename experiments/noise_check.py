"""Are policy effects above the seed noise? (docs/design.md §2.9, issue [effects] "Must show").

For each seed, run the reference scenario and a few policy variants; the noise ratio of a
variant and an outcome is

    std over seeds of (variant − reference), paired by seed
    ------------------------------------------------------------
    std over seeds of the reference level

With synchronised random streams the paired difference keeps only the policy's own effect,
so the ratio should be small (target ≤ 0.3); with one shared generator it is ≈ 1.

    make noise                                   # seeds 1-5, runs to 2030-12
    python -m experiments.noise_check --seeds 1 2 3 4 5 --end 2030-12
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from model.run import compose_config, simulate
from model.schema import ConfigError

Tables = dict[str, pd.DataFrame]
Outcome = Callable[[Tables, int], float]

EAST_VOUCHER_POOLS = {"yangtze_delta": 8.5e8, "greater_bay": 5.0e8,
                      "beijing_tianjin_hebei": 3.0e8}   # edwc budgets, RMB/yr (conf/policy/edwc)


def east_voucher_x2() -> list[str]:
    """Overrides doubling the eastern voucher pools of edwc (budget per year ×2; the rates
    stay, because Shenzhen's 50-60 % cannot double)."""
    return [f"policy.local.nodes.{node}.voucher.budget_rmb={2 * budget:g}"
            for node, budget in EAST_VOUCHER_POOLS.items()]


VARIANTS: dict[str, list[str]] = {
    "uhv_off": ["scenario=uhv_off"],
    "east_voucher_x2": east_voucher_x2(),
}


def west_share(tables: Tables, year: int) -> float:
    """Yearly mean of the national west share (served in western nodes / served)."""
    nat = tables["national"]
    return float(nat.loc[nat["year"] == year, "west_share"].mean())


def co2_location_t(tables: Tables, year: int) -> float:
    """Location-based CO2 of data centers in the year, tCO2."""
    nat = tables["national"]
    return float(nat.loc[nat["year"] == year, "co2_location_t"].sum())


OUTCOMES: dict[str, Outcome] = {"west_share": west_share, "co2_location_t": co2_location_t}


def measure(overrides: Sequence[str], seeds: Sequence[int], year: int, end: str
            ) -> pd.DataFrame:
    """One row per seed with every outcome of the run ``overrides`` (nothing written)."""
    rows = []
    for seed in seeds:
        cfg = compose_config([*overrides, f"run.seed={seed}", f"run.end={end}",
                              "run.quiet=true"])
        tables = simulate(cfg).tables
        rows.append({"seed": seed, **{k: f(tables, year) for k, f in OUTCOMES.items()}})
    return pd.DataFrame(rows).set_index("seed")


def noise_ratios(reference: pd.DataFrame, variants: Mapping[str, pd.DataFrame]
                 ) -> pd.DataFrame:
    """Per variant and outcome: mean paired difference, its std, the std of the reference
    levels and their ratio (std with ddof=1, seeds aligned by index)."""
    rows = []
    for name, frame in variants.items():
        for outcome in reference.columns:
            diff = (frame[outcome] - reference[outcome]).dropna()
            level_std = float(reference[outcome].std(ddof=1))
            diff_std = float(diff.std(ddof=1))
            rows.append({"variant": name, "outcome": outcome, "n_seeds": len(diff),
                         "mean_diff": float(diff.mean()), "std_diff": diff_std,
                         "std_level": level_std,
                         "ratio": diff_std / level_std if level_std > 0 else np.nan})
    return pd.DataFrame(rows)


def run_check(seeds: Sequence[int], year: int, end: str,
              variants: Mapping[str, list[str]] = VARIANTS, model: Sequence[str] = ()
              ) -> pd.DataFrame:
    """Run `edwc` and every variant for every seed (with `model` overrides on all runs);
    return the noise-ratio table."""
    reference = measure(model, seeds, year, end)
    return noise_ratios(reference, {n: measure([*model, *o], seeds, year, end)
                                    for n, o in variants.items()})


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.noise_check",
                                description="noise ratios of paired policy differences")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    p.add_argument("--year", type=int, default=2030)
    p.add_argument("--end", default="2030-12")
    p.add_argument("--model", action="append", default=[], metavar="KEY=VALUE",
                   help="model override for every run (repeatable)")
    args = p.parse_args(argv)
    if len(args.seeds) < 3:
        print(f"--seeds = {args.seeds}: need at least 3 seeds for a std", file=sys.stderr)
        return 2
    try:
        table = run_check(args.seeds, args.year, args.end, model=args.model)
    except ConfigError as err:
        print(str(err).splitlines()[0], file=sys.stderr)
        return 2
    with pd.option_context("display.width", 120, "display.float_format", "{:.4g}".format):
        print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
