"""Sobol or Morris sensitivity indices from a finished sweep, per seed, with the spread
across seeds (docs/sweeps.md; SALib does the analysis).

    make sensitivity ARGS="outputs/sweeps/sensitivity_core"
    python -m experiments.sensitivity outputs/sweeps/x --output west_share:2030 \\
        --output co2_location_t:2030:sum --out sens.csv

An output is ``column:year[:agg]`` over the national table: ``agg`` is ``mean`` (monthly
mean, the default for shares, MW, prices) or ``sum`` (yearly total, the default for columns
in tCO2, MWh, TWh and RMB). Indices are computed for every seed separately (the same design
points run under each seed); the table reports their mean, standard deviation, min and max
across seeds, and the mean of SALib's bootstrap confidence half-width within a seed (seeded
with ``design.bootstrap_seed``, default 1, so repeated calls print identical intervals); a
warning names every index whose half-width exceeds the index.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.design import RAW_PREFIX, Design, SweepInputError, parse_design
from experiments.store import atomic_write_text, load_sweep
from model.outcomes import OUTCOMES, SENSITIVITY

DEFAULT_OUTPUTS = tuple(f"{name}:{year}" for name, year in SENSITIVITY)
SUM_SUFFIXES = ("_t", "_mwh", "twh", "_rmb")
INDICES = {"sobol": ("S1", "ST"), "morris": ("mu_star", "sigma")}
CONF = {"S1": "S1_conf", "ST": "ST_conf", "mu_star": "mu_star_conf"}


@dataclass(frozen=True)
class Output:
    """One scalar model output per run: a national column aggregated over one year."""

    column: str
    year: int
    agg: str

    @property
    def label(self) -> str:
        return f"{self.column}_{self.year}_{self.agg}"


def parse_output(text: str) -> Output:
    """Parse ``column:year[:agg]``. agg defaults to the declared outcome's (`model.outcomes`)
    if it is a yearly mean or sum, else to sum for tCO2/MWh/TWh/RMB columns and mean."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[1].isdigit():
        raise SweepInputError("--output", text, "expected column:year[:mean|sum]")
    declared = OUTCOMES.get(parts[0])
    agg = parts[2] if len(parts) == 3 else (
        declared.agg if declared is not None and declared.agg in ("mean", "sum") else
        "sum" if parts[0].endswith(SUM_SUFFIXES) else "mean")
    if agg not in ("mean", "sum"):
        raise SweepInputError("--output", text, "aggregation must be mean or sum")
    return Output(parts[0], int(parts[1]), agg)


def output_values(sweep_dir: Path, outputs: Sequence[Output]) -> pd.DataFrame:
    """One row per completed run: point, seed and one column per output."""
    sweep = load_sweep(sweep_dir)
    if "national" not in sweep.tables:
        raise SweepInputError("sweep", str(sweep_dir), "no completed runs with a national table")
    columns = set(sweep.relation("national").columns)
    frames = []
    for out in outputs:
        if out.column not in columns:
            raise SweepInputError("--output", out.column, "not a column of the national table")
        fn = "SUM" if out.agg == "sum" else "AVG"
        frame = sweep.sql(
            f'SELECT point, seed, {fn}("{out.column}") AS value FROM national '
            f"WHERE year = {out.year} GROUP BY point, seed")
        if frame.empty:
            raise SweepInputError("--output", f"{out.column}:{out.year}",
                                  "the sweep has no rows for that year")
        frames.append(frame.set_index(["point", "seed"])["value"].rename(out.label))
    return pd.concat(frames, axis=1).reset_index()


def seed_indices(design: Design, raw: np.ndarray, y: np.ndarray) -> dict[str, dict[str, list]]:
    """SALib indices for one seed: {index name: values per axis} (plus confidence widths,
    bootstrapped with ``design.bootstrap_seed``, so every call gives the same intervals)."""
    from SALib.analyze import morris, sobol

    problem = design.problem()
    seed = design.bootstrap_seed
    if design.kind == "sobol":
        res = sobol.analyze(problem, y, calc_second_order=design.second_order, seed=seed)
    else:
        res = morris.analyze(problem, raw, y, num_levels=design.levels, seed=seed)
    return {k: list(np.asarray(res[k], dtype=float)) for k in (*INDICES[design.kind],
                                                              *CONF.values()) if k in res}


def sensitivity_table(sweep_dir: Path, outputs: Sequence[Output]) -> pd.DataFrame:
    """Long table: output, parameter, index, mean/std/min/max across seeds, conf, n_seeds."""
    sweep = load_sweep(sweep_dir)
    design = parse_design(sweep.manifest["design"])
    if design.kind not in INDICES:
        raise SweepInputError("design.kind", design.kind,
                              "sensitivity needs a sobol or morris design")
    points = sweep.design.drop_duplicates("point").sort_values("point")
    raw = points[[RAW_PREFIX + a.key for a in design.axes]].to_numpy(dtype=float)
    values = output_values(sweep_dir, outputs)
    seeds = sweep.manifest["seeds"]
    missing = len(points) * len(seeds) - len(values)
    if missing:
        raise SweepInputError("sweep", str(sweep_dir),
                              f"{missing} runs are not done; re-run the sweep to finish them")
    rows = []
    names = [a.key for a in design.axes]
    for out in outputs:
        per_seed = []
        for seed in seeds:
            y = values[values["seed"] == seed].sort_values("point")[out.label].to_numpy(float)
            per_seed.append(seed_indices(design, raw, y))
        for index in INDICES[design.kind]:
            stack = np.array([s[index] for s in per_seed])          # seeds × axes
            conf = (np.array([s[CONF[index]] for s in per_seed]).mean(axis=0)
                    if index in CONF else np.full(len(names), np.nan))
            for j, name in enumerate(names):
                rows.append({"output": out.label, "parameter": name, "index": index,
                             "mean": stack[:, j].mean(), "std": stack[:, j].std(ddof=0),
                             "min": stack[:, j].min(), "max": stack[:, j].max(),
                             "conf": conf[j], "n_seeds": len(seeds)})
    return pd.DataFrame(rows)


def wide_intervals(table: pd.DataFrame) -> list[str]:
    """One warning per index whose confidence half-width exceeds the index itself."""
    wide = table[table["conf"].notna() & (table["conf"] > table["mean"].abs())]
    return [f"warning: {r.index} of {r.parameter} for {r.output}: confidence half-width "
            f"{r.conf:.3g} exceeds the index {r.mean:.3g}; more samples would narrow it"
            for r in wide.itertuples()]


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: compute the indices, write them as CSV, print them; exit 2 on bad input."""
    parser = argparse.ArgumentParser(prog="python -m experiments.sensitivity",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, help="a finished sweep folder (sweep.dir)")
    parser.add_argument("--output", action="append", dest="outputs", metavar="COL:YEAR[:AGG]",
                        help=f"model output (repeatable; default {' '.join(DEFAULT_OUTPUTS)})")
    parser.add_argument("--out", type=Path, help="CSV path (default <sweep>/sensitivity.csv)")
    args = parser.parse_args(argv)
    try:
        outputs = [parse_output(t) for t in (args.outputs or DEFAULT_OUTPUTS)]
        if not (args.sweep_dir / "sweep.json").is_file():
            raise SweepInputError("sweep_dir", str(args.sweep_dir), "not a sweep folder")
        table = sensitivity_table(args.sweep_dir, outputs)
    except SweepInputError as err:
        print(str(err), file=sys.stderr)
        return 2
    out = args.out or args.sweep_dir / "sensitivity.csv"
    atomic_write_text(out, table.to_csv(index=False, float_format="%.6g"))
    with pd.option_context("display.width", 120, "display.max_rows", 200):
        print(table.drop(columns="n_seeds").round(4).to_string(index=False))
    for line in wide_intervals(table):
        print(line, file=sys.stderr)
    print(f"wrote {out} ({table['n_seeds'].iat[0]} seeds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
