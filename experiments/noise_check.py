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
    make noise ARGS="--seeds $(seq -s ' ' 1 20) --placebo --per-seed --workers 2"

A five-seed std is itself noisy (a std from 5 values has a relative standard error of ~35 %),
so with 10 or more seeds the table adds the 10th and 90th percentile of the ratio over random
five-seed subsets of them (`ratio_5_p10`, `ratio_5_p90`): what `make noise` on five seeds can
show for the same model. `--placebo` adds the eastern voucher budgets x1.01: a change too small
to matter, whose spread is the model's sensitivity to any change (docs/design.md §2.9).
Runs are independent (one per variant and seed) and give the same numbers on any number of
`--workers` (processes started fresh, `spawn`).
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

from model.run import compose_config, simulate
from model.schema import ConfigError, validate

Tables = dict[str, pd.DataFrame]
Outcome = Callable[[Tables, int], float]

EAST_VOUCHER_POOLS = {"yangtze_delta": 8.5e8, "greater_bay": 5.0e8,
                      "beijing_tianjin_hebei": 3.0e8}   # edwc budgets, RMB/yr (conf/policy/edwc)


def east_voucher_x2() -> list[str]:
    """Overrides doubling the eastern voucher pools of edwc (budget per year ×2; the rates
    stay, because Shenzhen's 50-60 % cannot double)."""
    return [f"policy.local.nodes.{node}.voucher.budget_rmb={2 * budget:g}"
            for node, budget in EAST_VOUCHER_POOLS.items()]


def east_voucher_placebo() -> list[str]:
    """Overrides raising the eastern voucher pools of edwc by 1 % (a placebo)."""
    return [f"policy.local.nodes.{node}.voucher.budget_rmb={1.01 * budget:g}"
            for node, budget in EAST_VOUCHER_POOLS.items()]


VARIANTS: dict[str, list[str]] = {
    "uhv_off": ["scenario=uhv_off"],
    "east_voucher_x2": east_voucher_x2(),
}
PLACEBO = "east_voucher_x1.01"
SUBSET_SIZE = 5                # the seeds of `make noise`
SUBSET_DRAWS = 1000


def west_share(tables: Tables, year: int) -> float:
    """Yearly mean of the national west share (served in western nodes / served)."""
    nat = tables["national"]
    return float(nat.loc[nat["year"] == year, "west_share"].mean())


def co2_location_t(tables: Tables, year: int) -> float:
    """Location-based CO2 of data centers in the year, tCO2."""
    nat = tables["national"]
    return float(nat.loc[nat["year"] == year, "co2_location_t"].sum())


OUTCOMES: dict[str, Outcome] = {"west_share": west_share, "co2_location_t": co2_location_t}


def measure_one(overrides: Sequence[str], seed: int, year: int, end: str) -> dict[str, float]:
    """Every outcome of one run of ``overrides`` with ``seed`` (nothing written)."""
    cfg = compose_config([*overrides, f"run.seed={seed}", f"run.end={end}", "run.quiet=true"])
    tables = simulate(cfg).tables
    return {"seed": seed, **{k: f(tables, year) for k, f in OUTCOMES.items()}}


def measure(overrides: Sequence[str], seeds: Sequence[int], year: int, end: str
            ) -> pd.DataFrame:
    """One row per seed with every outcome of the run ``overrides`` (nothing written)."""
    return pd.DataFrame([measure_one(overrides, s, year, end) for s in seeds]).set_index("seed")


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


def subset_ratios(reference: pd.Series, variant: pd.Series, size: int = SUBSET_SIZE,
                  draws: int = SUBSET_DRAWS, seed: int = 0) -> np.ndarray:
    """The noise ratio over `draws` random subsets of `size` seeds (without replacement; a
    fixed generator, so the same table gives the same numbers)."""
    diff = (variant - reference).to_numpy()
    level = reference.to_numpy()
    rng = np.random.default_rng(seed)
    out = np.empty(draws)
    for i in range(draws):
        idx = rng.choice(len(level), size, replace=False)
        out[i] = diff[idx].std(ddof=1) / level[idx].std(ddof=1)
    return out


def paired_tables(seeds: Sequence[int], year: int, end: str,
                  variants: Mapping[str, list[str]] = VARIANTS, model: Sequence[str] = (),
                  workers: int = 1) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Outcomes by seed of `edwc` and of every variant (with `model` overrides on all runs),
    on `workers` processes."""
    jobs = [("", list(model))] + [(n, [*model, *o]) for n, o in variants.items()]
    calls = [(ov, seed, year, end) for _, ov in jobs for seed in seeds]
    if workers > 1:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) \
                as pool:
            rows = list(pool.map(measure_one, *zip(*calls, strict=True)))
    else:
        rows = [measure_one(*call) for call in calls]
    frames = [pd.DataFrame(rows[i * len(seeds):(i + 1) * len(seeds)]).set_index("seed")
              for i in range(len(jobs))]
    return frames[0], {name: frame for (name, _), frame in zip(jobs[1:], frames[1:], strict=True)}


def run_check(seeds: Sequence[int], year: int, end: str,
              variants: Mapping[str, list[str]] = VARIANTS, model: Sequence[str] = (),
              workers: int = 1) -> pd.DataFrame:
    """Run `edwc` and every variant for every seed (with `model` overrides on all runs);
    return the noise-ratio table (with five-seed subset percentiles from 10 seeds on)."""
    reference, frames = paired_tables(seeds, year, end, variants, model, workers)
    return with_subsets(noise_ratios(reference, frames), reference, frames)


def with_subsets(table: pd.DataFrame, reference: pd.DataFrame,
                 frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Add the 10th / 90th percentile of five-seed ratios where there are >= 10 seeds."""
    if len(reference) < 2 * SUBSET_SIZE:
        return table
    lows, highs = [], []
    for name, outcome in zip(table["variant"], table["outcome"], strict=True):
        r = subset_ratios(reference[outcome], frames[name][outcome])
        lows.append(float(np.quantile(r, 0.1)))
        highs.append(float(np.quantile(r, 0.9)))
    return table.assign(ratio_5_p10=lows, ratio_5_p90=highs)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.noise_check",
                                description="noise ratios of paired policy differences")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    p.add_argument("--year", type=int, default=2030)
    p.add_argument("--end", default="2030-12")
    p.add_argument("--model", action="append", default=[], metavar="KEY=VALUE",
                   help="model override for every run (repeatable)")
    p.add_argument("--placebo", action="store_true",
                   help=f"add {PLACEBO}: the eastern voucher budgets x1.01")
    p.add_argument("--per-seed", action="store_true",
                   help="also print each seed's paired difference of every outcome")
    p.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    args = p.parse_args(argv)
    if len(args.seeds) < 3:
        print(f"--seeds = {args.seeds}: need at least 3 seeds for a std", file=sys.stderr)
        return 2
    if len(set(args.seeds)) != len(args.seeds):
        print(f"--seeds = {args.seeds}: a seed is repeated", file=sys.stderr)
        return 2
    if args.workers < 1:
        print(f"--workers = {args.workers}: must be >= 1", file=sys.stderr)
        return 2
    variants = {**VARIANTS, **({PLACEBO: east_voucher_placebo()} if args.placebo else {})}
    try:
        for overrides in [[], *variants.values()]:   # bad input fails before any run
            validate(compose_config([*args.model, *overrides, f"run.seed={args.seeds[0]}",
                                     f"run.end={args.end}"]))
        reference, frames = paired_tables(args.seeds, args.year, args.end, variants,
                                          args.model, args.workers)
    except ConfigError as err:
        print(str(err).splitlines()[0], file=sys.stderr)
        return 2
    table = with_subsets(noise_ratios(reference, frames), reference, frames)
    with pd.option_context("display.width", 160, "display.float_format", "{:.4g}".format):
        if args.per_seed:
            diffs = pd.concat({name: frame - reference for name, frame in frames.items()},
                              names=["variant", "seed"])
            print("paired differences (variant - edwc) by seed:")
            print(diffs.to_string(), end="\n\n")
        print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
