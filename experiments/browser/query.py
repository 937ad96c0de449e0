"""Query layer of the sweep browser: lazy DuckDB queries over a sweep folder's Parquet
shards (experiments/store.py layout), one scalar per run, then medians with seed bands and
paired differences per design point or per group of points.

Nothing is loaded whole: each query reads one column (plus ``year``, ``month``) of the
completed runs' shards of one table and returns one row per run. A run counts once its
manifest exists (the last file it writes), so a sweep that is still running shows what is
done (``refresh()`` looks again); paths are taken from the folder given, so a copied sweep
folder works, and the sweep's own index.duckdb (locked while a sweep runs) is never opened.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import yaml

from experiments import store
from experiments.browser import command as commands
from experiments.browser.seeds import paired_interval, seed_band
from model.outcomes import AGGREGATIONS, OUTCOMES, Outcome

WHOLE_RUN = None          # period: every month of the run instead of one year
AGG_SQL = {               # one value per run from monthly rows (display scale applied later)
    "mean": "avg({c})",
    "sum": "sum({c}) * 12.0 / count({c})",     # yearly total, annualised from months present
    "december": "arg_max({c}, month)",         # the value of the last month
}


def outcome(name: str) -> Outcome:
    """The declared outcome called ``name`` (KeyError naming the choices otherwise)."""
    if name not in OUTCOMES:
        raise KeyError(f"unknown outcome {name!r} (one of {', '.join(OUTCOMES)})")
    return OUTCOMES[name]


@dataclass(frozen=True)
class Selection:
    """What the page asks for: an outcome in a year (or the whole run) and an aggregation,
    the axes on x / colour / facet, axis filters and the reference design point."""

    outcome: str
    period: int | None = WHOLE_RUN
    agg: str | None = None                 # None: the outcome's declared aggregation
    x: str | None = None
    colour: str | None = None
    facet: str | None = None
    filters: Mapping[str, tuple] = field(default_factory=dict)   # axis -> (low, high) | choices
    reference: int | None = None           # design point the differences are taken against

    @property
    def aggregation(self) -> str:
        return self.agg or outcome(self.outcome).agg

    @property
    def group_axes(self) -> list[str]:
        """The chosen facet, colour and x axes (in that order, each once)."""
        return list(dict.fromkeys(a for a in (self.facet, self.colour, self.x) if a))


def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


class SweepBrowser:
    """One sweep folder, read lazily. ``design`` (one row per run) is the only table held in
    memory; outcome values are queried per selection and cached until ``refresh()`` finds
    more completed runs."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).resolve()
        manifest = store.read_manifest(self.path)
        if manifest is None:
            raise FileNotFoundError(f"no sweep at {self.path} ({store.MANIFEST} missing)")
        self.manifest: dict[str, Any] = manifest
        self.design = pd.read_parquet(self.path / store.DESIGN)
        declared = list((manifest.get("design") or {}).get("axes") or {})
        self.axes: list[str] = [a for a in declared if a in self.design.columns]
        self.points = (self.design.drop(columns=["run_id", "seed"])
                       .drop_duplicates("point").sort_values("point").reset_index(drop=True))
        self.points = self.points[["point", *self.axes]]
        self.seeds: list[int] = sorted(int(s) for s in self.design["seed"].unique())
        self.con = duckdb.connect()
        self.done: frozenset[str] = frozenset()
        self.refresh()

    # -- what is there ----------------------------------------------------------------
    def refresh(self) -> int:
        """Look again for completed runs (those with a manifest); returns how many."""
        manifests = self.path / store.MANIFESTS
        found = set()
        if manifests.is_dir():
            found = {e.name for e in os.scandir(manifests)
                     if not e.name.startswith(".")
                     and os.path.isfile(os.path.join(e.path, store.RUN_MANIFEST))}
        self.done = frozenset(found & set(self.design["run_id"]))
        return len(self.done)

    @property
    def n_runs(self) -> int:
        return len(self.design)

    @functools.cached_property
    def base_config(self) -> dict[str, Any]:
        """The sweep's resolved base config (config.yaml)."""
        return yaml.safe_load((self.path / "config.yaml").read_text())

    @property
    def years(self) -> list[int]:
        """Calendar years of the simulated horizon (run.start to run.end of the base)."""
        run = self.base_config["run"]
        return list(range(int(str(run["start"])[:4]), int(str(run["end"])[:4]) + 1))

    def outcomes(self) -> dict[str, str]:
        """Declared outcomes present in the sweep's tables: name -> label."""
        tables = set(store.table_names(self.path))
        return {n: o.label for n, o in OUTCOMES.items() if o.table in tables}

    def axis_values(self, axis: str) -> list[Any]:
        """The distinct values of one design axis, sorted."""
        return sorted(self.points[axis].unique().tolist())

    def numeric_axis(self, axis: str) -> bool:
        return _is_numeric(self.points[axis])

    # -- one value per run --------------------------------------------------------------
    def run_values(self, name: str, period: int | None = WHOLE_RUN,
                   agg: str | None = None) -> pd.DataFrame:
        """One row per completed run: run_id, point, seed, axis values and ``value`` (the
        outcome in display units over ``period``, aggregated by ``agg``)."""
        agg = agg or outcome(name).agg
        values = self._values(name, period, agg, self.done)
        return self.design.merge(values, on="run_id", how="inner")

    @functools.lru_cache(maxsize=64)  # noqa: B019 - one browser per sweep, lives as long
    def _values(self, name: str, period: int | None, agg: str,
                done: frozenset[str]) -> pd.DataFrame:
        if agg not in AGGREGATIONS:
            raise KeyError(f"unknown aggregation {agg!r} (one of {', '.join(AGGREGATIONS)})")
        spec = outcome(name)
        files = [str(store.shard_path(self.path, spec.table, r)) for r in sorted(done)]
        if not files:
            return pd.DataFrame({"run_id": pd.Series(dtype=str), "value": pd.Series(dtype=float)})
        column = '"' + spec.column.replace('"', '""') + '"'
        where = "" if period is None else "WHERE year = $year"
        sql = (f"SELECT run_id, {AGG_SQL[agg].format(c=column)} * $scale AS value "
               f"FROM read_parquet($files, hive_partitioning = true) {where} GROUP BY run_id")
        params: dict[str, Any] = {"files": files, "scale": float(spec.scale)}
        if period is not None:
            params["year"] = int(period)
        with self.con.cursor() as cursor:     # one cursor per query: sessions are threads
            frame = cursor.execute(sql, params).df()
        frame["run_id"] = frame["run_id"].astype(str)
        return frame

    # -- filters, points, groups ----------------------------------------------------------
    def filtered_points(self, filters: Mapping[str, tuple]) -> pd.DataFrame:
        """Design points inside every axis filter: (low, high) inclusive for a numeric
        axis, a collection of allowed values for a categorical one."""
        keep = pd.Series(True, index=self.points.index)
        for axis, allowed in filters.items():
            column = self.points[axis]
            if self.numeric_axis(axis):
                low, high = allowed
                keep &= column.between(-math.inf if low is None else low,
                                       math.inf if high is None else high)
            else:
                keep &= column.isin(list(allowed))
        return self.points[keep].reset_index(drop=True)

    def _selected_runs(self, sel: Selection) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Values of the completed runs at the filtered points, and all runs' values."""
        values = self.run_values(sel.outcome, sel.period, sel.aggregation)
        points = self.filtered_points(sel.filters)["point"]
        return values[values["point"].isin(points)], values

    def reference_values(self, sel: Selection, values: pd.DataFrame) -> pd.Series:
        """The reference point's value by seed (empty without a reference)."""
        if sel.reference is None:
            return pd.Series(dtype=float)
        ref = values[values["point"] == sel.reference]
        return ref.set_index("seed")["value"]

    def _with_differences(self, sel: Selection) -> pd.DataFrame:
        """Values of the selected runs and, with a reference, ``diff``: value minus the
        reference point's value with the same seed (NaN where that run is not done)."""
        runs, values = self._selected_runs(sel)
        if sel.reference is None:
            return runs
        return runs.assign(diff=runs["value"] - runs["seed"].map(
            self.reference_values(sel, values)))

    def point_table(self, sel: Selection) -> pd.DataFrame:
        """One row per filtered design point: axis values, runs done, median over seeds with
        the seed band, and the paired difference to the reference point with its interval."""
        runs = self._with_differences(sel)
        points = self.filtered_points(sel.filters)
        table = points.merge(seed_band(runs, ["point"], "value"), on="point", how="left")
        table = table.rename(columns={"n_seeds": "runs_done"})
        table["runs_done"] = table["runs_done"].fillna(0).astype(int)
        if sel.reference is not None:
            table = table.merge(paired_interval(runs, ["point"], "diff"), on="point",
                                how="left")
            table["n_pairs"] = table["n_pairs"].fillna(0).astype(int)
        return table

    def groups(self, sel: Selection) -> pd.DataFrame:
        """Chart data: for each combination of the chosen axes (facet, colour, x), the
        per-seed mean over the group's filtered points, then its median over seeds with the
        seed band, and (with a reference) the per-seed paired difference's mean and
        t-interval. With one point per group these are that point's seed statistics."""
        by = sel.group_axes
        runs = self._with_differences(sel)
        columns = ["value", "diff"] if "diff" in runs else ["value"]
        per_seed = runs.groupby([*by, "seed"], sort=True)[columns].mean().reset_index()
        out = seed_band(per_seed, by, "value")
        if "diff" in per_seed:
            diffs = paired_interval(per_seed, by, "diff")
            out = out.merge(diffs, on=by) if by else pd.concat([out, diffs], axis=1)
        return out

    # -- one run ----------------------------------------------------------------------------
    def run_id(self, point: int, seed: int) -> str:
        """The run id of a design point and seed."""
        match = self.design[(self.design["point"] == point) & (self.design["seed"] == seed)]
        if match.empty:
            raise KeyError(f"no run of point {point} with seed {seed} in {self.path}")
        return str(match["run_id"].iat[0])

    def reproduce_overrides(self, point: int, seed: int) -> list[str]:
        """Hydra overrides of ``model.run`` that reproduce one completed run."""
        rid = self.run_id(point, seed)
        if rid not in self.done:
            raise KeyError(f"run {rid} is not complete yet")
        config = commands.stored_run_config(self.path / store.MANIFESTS / rid)
        defaults = _scenario_defaults(config["scenario"]["name"])
        return commands.run_overrides(config, defaults,
                                      f"outputs/runs/{self.path.name}-{rid}")

    def reproduce_command(self, point: int, seed: int) -> str:
        """The shell command that reproduces one completed run as a single run."""
        return commands.shell_command(self.reproduce_overrides(point, seed))


@functools.cache
def _scenario_defaults(scenario: str) -> dict[str, Any]:
    """The resolved config ``model.run scenario=<scenario>`` starts from."""
    from model.run import compose_config
    from model.schema import to_container

    return to_container(compose_config([f"scenario={scenario}"]))


def csv_text(table: pd.DataFrame) -> str:
    """The point table as CSV text (what the page offers for download)."""
    return table.to_csv(index=False, float_format="%.6g")
