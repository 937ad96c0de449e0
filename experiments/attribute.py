"""Which instrument buys what (docs/design.md §2.11, Q5): attribution of a policy package to groups.

    make attribute                                   # conf/attribute.yaml: edwc vs no_edwc
    make attribute ARGS="--set attribute.seeds=[1,2,3,4,5] --set attribute.workers=2"

Each coalition of instrument groups is one model config: the counterfactual's, with the keys
of the groups that are on taken from the package. Every coalition runs for every seed as one
resumable sweep (experiments.sweep; re-running the command skips finished runs). Per group
it reports, paired by seed with 95 % t-intervals over seeds: the effect of removing it from
the package, of adding it to the counterfactual, and its Shapley value (exact over all 2^G
coalitions, or permutation-sampled with the sampling error), for MW served in the west,
tCO2 avoided (location and market based), public outlay by instrument, idle capacity and
the capital cost of it (`idle_capex_rmb`), and RMB of outlay per MW moved west and per tCO2
avoided. Writes CSVs to
``attribute.dir`` and prints the groups × outcomes table.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from experiments import shapley
from experiments.paired import CONFIDENCE, t_interval
from model.cli import is_hydra_error
from model.paths import CONF_DIR

METHODS = ("exact", "sampled", "auto")
COALITION = "coalition"              # the design axis: one choice per coalition (bit string)
BOOTSTRAP = 2000                     # resamples of seeds for the cost-ratio intervals
BOOTSTRAP_SEED = 0


class AttributionError(ValueError):
    """Bad attribution input; one line naming the key and the value."""

    def __init__(self, key: str, value: Any, reason: str) -> None:
        self.key, self.value = key, value
        super().__init__(f"attribute error: {key} = {value!r}: {reason}")


# ---------------------------------------------------------------- outcomes of one run

@dataclass(frozen=True)
class Outcome:
    """One attributed outcome: its column, label, unit and how to read it from a run."""

    name: str
    label: str
    unit: str
    scale: float = 1.0   # printed value = value / scale


def outcomes(west_years: Sequence[int], to_year: int) -> list[Outcome]:
    """The attributed outcomes (declared once; columns of the CSVs)."""
    out = [Outcome(f"west_mw_{y}", f"west MW {y}", "MW") for y in west_years]
    out += [
        Outcome(f"co2_avoided_location_t_to_{to_year}", f"CO2 avoided loc. -{to_year}",
                "Mt", 1e6),
        Outcome(f"co2_avoided_market_t_to_{to_year}", f"CO2 avoided mkt. -{to_year}",
                "Mt", 1e6),
        Outcome(f"outlay_voucher_rmb_to_{to_year}", f"outlay vouchers -{to_year}", "bn RMB",
                1e9),
        Outcome(f"outlay_power_rmb_to_{to_year}", f"outlay power -{to_year}", "bn RMB", 1e9),
        Outcome(f"outlay_capex_rmb_to_{to_year}", f"outlay capex -{to_year}", "bn RMB", 1e9),
        Outcome(f"outlay_total_rmb_to_{to_year}", f"outlay total -{to_year}", "bn RMB", 1e9),
        Outcome(f"idle_mw_{to_year}", f"idle MW {to_year}", "MW"),
        Outcome(f"idle_capex_rmb_to_{to_year}", f"idle capex -{to_year}", "bn RMB", 1e9),
    ]
    return out


@dataclass(frozen=True)
class IdleCapacity:
    """How idle capacity is measured and valued (from the runs' supply config)."""

    planning_utilisation: float   # supply.planning_utilisation: load / capacity operators plan
    capital_recovery: float       # yearly capex annuity per RMB of capex (1 / annuity factor)

    @classmethod
    def of(cls, supply: Mapping[str, Any]) -> IdleCapacity:
        """From a run's ``supply`` block: the annuity of `price_capital_rate` over
        `life_years`, the one the data centers' cost-plus prices recover."""
        from agents.datacenter import annuity_factor

        rate, life = float(supply["price_capital_rate"]), float(supply["life_years"])
        return cls(float(supply["planning_utilisation"]), 1.0 / annuity_factor(rate, life))


def idle_mw(node: pd.DataFrame, planning_utilisation: float) -> pd.Series:
    """Idle IT capacity of each node-month, MW: operating capacity beyond what the load served
    there needs at the planning utilisation, never below 0 (one node's shortage does not
    absorb another's glut)."""
    return (node["capacity_mw"] - node["served_mw"] / planning_utilisation).clip(lower=0.0)


def idle_capex_rmb(node: pd.DataFrame, to_year: int, idle: IdleCapacity) -> float:
    """Capital cost of idle capacity from the start to December of `to_year`, RMB.

    Each node-month's idle MW (`idle_mw`) is valued at the capex paid for that node's
    operating capacity per MW (`capacity_capex_rmb / capacity_mw`: build and land cost of its
    DCs, the initial stock at the configured cost) and charged the month's share of the capex
    annuity (`capital_recovery / 12`), so a glut costs what its capital costs while it stands
    idle, whenever it was built.
    """
    nd = node[node["year"] <= to_year]
    per_mw = np.divide(nd["capacity_capex_rmb"].to_numpy(float), nd["capacity_mw"].to_numpy(float),
                       out=np.zeros(len(nd)), where=nd["capacity_mw"].to_numpy(float) > 0)
    monthly = idle.capital_recovery / 12.0
    return float((idle_mw(nd, idle.planning_utilisation).to_numpy(float) * per_mw).sum()
                 * monthly)


def run_outcomes(national: pd.DataFrame, node: pd.DataFrame, west_years: Sequence[int],
                 to_year: int, idle: IdleCapacity) -> dict[str, float]:
    """Outcomes of one run from its national and node tables.

    CO2 "avoided" is minus the run's cumulative CO2 (so a contribution is tCO2 avoided).
    Idle MW: the yearly mean over `to_year` of the idle capacity summed over nodes
    (`idle_mw`); idle capex: `idle_capex_rmb` from the start to `to_year`.
    """
    nat = national.sort_values("month")
    upto = nat["year"] <= to_year
    out = {f"west_mw_{y}": float(nat.loc[nat["year"] == y, "served_mw_west"].mean())
           for y in west_years}
    out[f"co2_avoided_location_t_to_{to_year}"] = -float(nat.loc[upto, "co2_location_t"].sum())
    out[f"co2_avoided_market_t_to_{to_year}"] = -float(nat.loc[upto, "co2_market_t"].sum())
    for kind in ("voucher", "power", "capex", "total"):
        out[f"outlay_{kind}_rmb_to_{to_year}"] = float(nat.loc[upto, f"subsidy_{kind}_rmb"].sum())
    last = node[node["year"] == to_year]
    out[f"idle_mw_{to_year}"] = float(idle_mw(last, idle.planning_utilisation).sum()
                                      / last["month"].nunique())
    out[f"idle_capex_rmb_to_{to_year}"] = idle_capex_rmb(node, to_year, idle)
    return out


# ---------------------------------------------------------------- groups and coalitions

@dataclass
class Settings:
    """The validated ``attribute:`` block."""

    package: str
    counterfactual: str
    dir: Path
    seeds: list[int]
    model: list[str]
    method: str
    max_exact_groups: int
    permutations: int
    permutation_seed: int
    west_years: list[int]
    to_year: int
    executor: str
    workers: int | None
    groups: dict[str, list[str]]


def parse_settings(block: Mapping[str, Any]) -> Settings:
    """Check the ``attribute:`` block; raises AttributionError naming the bad key."""
    known = set(Settings.__dataclass_fields__)
    for key in block:
        if key not in known:
            raise AttributionError(f"attribute.{key}", block[key], "unknown setting")
    seeds = block.get("seeds")
    if (not isinstance(seeds, list) or len(seeds) < 2 or len(set(seeds)) != len(seeds)
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                       for s in seeds)):
        raise AttributionError("attribute.seeds", seeds,
                              "expected at least 2 distinct non-negative integers")
    if block.get("method") not in METHODS:
        raise AttributionError("attribute.method", block.get("method"),
                              f"one of {', '.join(METHODS)}")
    for key in ("max_exact_groups", "permutations"):
        value = block.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 2:
            raise AttributionError(f"attribute.{key}", value, "expected an integer >= 2")
    groups = block.get("groups")
    if not isinstance(groups, Mapping) or not groups:
        raise AttributionError("attribute.groups", groups, "expected a mapping of groups")
    for name, keys in groups.items():
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
            raise AttributionError(f"attribute.groups.{name}", keys,
                                  "expected a list of config keys")
    workers = block.get("workers")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise AttributionError("attribute.workers", workers, "expected a positive integer")
    return Settings(
        package=str(block["package"]), counterfactual=str(block["counterfactual"]),
        dir=Path(str(block["dir"])), seeds=list(seeds), model=[str(m) for m in block["model"]],
        method=block["method"], max_exact_groups=block["max_exact_groups"],
        permutations=block["permutations"], permutation_seed=int(block["permutation_seed"]),
        west_years=[int(y) for y in block["west_years"]], to_year=int(block["to_year"]),
        executor=str(block["executor"]), workers=workers,
        groups={str(k): list(v) for k, v in groups.items()})


_MISSING = object()


def get_key(cfg: Mapping[str, Any], key: str) -> Any:
    """Value of a dotted key in plain config containers, or _MISSING."""
    node: Any = cfg
    for part in key.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return _MISSING
    return node


def put_key(cfg: dict[str, Any], key: str, value: Any) -> None:
    """Set a dotted key (creating mappings on the way), or remove it if value is _MISSING."""
    *head, last = key.split(".")
    node = cfg
    for part in head:
        if value is _MISSING and part not in node:
            return
        node = node.setdefault(part, {})
    if value is _MISSING:
        node.pop(last, None)
    else:
        node[last] = copy.deepcopy(value)


def compose_scenario(scenario: str, model: Sequence[str]) -> dict[str, Any]:
    """The resolved model config of a scenario with the model overrides (plain containers)."""
    from model.run import compose_config

    return OmegaConf.to_container(compose_config([f"scenario={scenario}", *model]),
                                  resolve=True)


def active_groups(groups: Mapping[str, list[str]], package: Mapping[str, Any],
                  counterfactual: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(groups whose keys differ between package and counterfactual, groups that do not);
    raises if a key is in neither config."""
    active, same = [], []
    for name, keys in groups.items():
        differs = False
        for key in keys:
            a, b = get_key(package, key), get_key(counterfactual, key)
            if a is _MISSING and b is _MISSING:
                raise AttributionError(f"attribute.groups.{name}", key,
                                      "key in neither the package nor the counterfactual")
            differs |= a != b
        (active if differs else same).append(name)
    return active, same


def coalition_config(mask: int, names: Sequence[str], groups: Mapping[str, list[str]],
                     package: Mapping[str, Any], counterfactual: Mapping[str, Any]
                     ) -> dict[str, Any]:
    """The counterfactual config with the keys of every group on in `mask` from the package."""
    cfg = copy.deepcopy(dict(counterfactual))
    on = {names[g] for g in shapley.members(mask, len(names))}
    for name in on:
        for key in groups[name]:
            put_key(cfg, key, get_key(package, key))
    return cfg


def uncovered_keys(package: Mapping[str, Any], counterfactual: Mapping[str, Any],
                   covered: Sequence[str], prefix: str = "") -> list[str]:
    """Leaf keys where package and counterfactual differ and no group key covers them
    (`scenario` and `run` are not instruments)."""
    out = []
    for key in sorted(set(package) | set(counterfactual)):
        path = f"{prefix}{key}"
        if path in ("scenario", "run") or path in covered:
            continue
        a, b = package.get(key, _MISSING), counterfactual.get(key, _MISSING)
        if isinstance(a, Mapping) or isinstance(b, Mapping):
            a, b = (x if isinstance(x, Mapping) else {} for x in (a, b))
            out += uncovered_keys(a, b, covered, path + ".")
        elif a != b:
            out.append(path)
    return out


# ---------------------------------------------------------------- the sweep

def coalition_code(mask: int, n_groups: int) -> str:
    """Bit string of a coalition, group 0 first ('1' = on): the design axis value."""
    return "".join("1" if mask >> g & 1 else "0" for g in range(n_groups))


def _sweep_api() -> tuple[Any, Any]:
    """(module with Plan, SweepSettings, fingerprint, check_run_configs; execute_plan) of the
    sweep runner (`experiments.sweep`)."""
    from experiments.sweep import execute_plan
    from experiments.sweep import plan as api

    return api, execute_plan


def plan(settings: Settings) -> tuple[Any, list[str], list[str], list[int], np.ndarray | None]:
    """The sweep plan of every coalition × seed, the active and idle groups, the coalition
    masks and (sampled method) the permutation orders."""
    from experiments.design import Axis, Design, design_points, expand_runs

    batch, _ = _sweep_api()

    package = compose_scenario(settings.package, settings.model)
    counter = compose_scenario(settings.counterfactual, settings.model)
    first, last = (int(str(package["run"][k])[:4]) for k in ("start", "end"))
    for key, years in (("west_years", settings.west_years), ("to_year", [settings.to_year])):
        if not all(first <= y <= last for y in years):
            raise AttributionError(f"attribute.{key}", years if key == "west_years" else
                                   settings.to_year, f"outside the simulated years {first}-{last}")
    names, idle = active_groups(settings.groups, package, counter)
    if not names:
        raise AttributionError("attribute.groups", list(settings.groups),
                              "no group differs between package and counterfactual")
    covered = [k for keys in settings.groups.values() for k in keys]
    missing = uncovered_keys(package, counter, covered)
    if missing:
        raise AttributionError("attribute.groups", missing[0],
                              "differs between package and counterfactual but is in no group")
    n = len(names)
    method = settings.method
    if method == "auto":
        method = "exact" if n <= settings.max_exact_groups else "sampled"
    orders = None if method == "exact" else shapley.sample_permutations(
        n, settings.permutations, settings.permutation_seed)
    masks = shapley.coalitions_needed(n, method, orders)
    codes = [coalition_code(m, n) for m in masks]
    design = Design("grid", (Axis(COALITION, values=tuple(codes)),))
    runs = expand_runs(design_points(design), settings.seeds)
    variants = {(coalition_code(m, n),): coalition_config(m, names, settings.groups, package,
                                                          counter) for m in masks}
    sweep = batch.SweepSettings(settings.dir / "sweep", settings.seeds, settings.executor,
                                settings.workers or os.cpu_count() or 1)
    spec = {"kind": "grid", "axes": {COALITION: {"choices": codes}},
            "attribute": {"package": settings.package, "counterfactual": settings.counterfactual,
                          "groups": names, "method": method}}
    p = batch.Plan(sweep, spec, design, runs, [COALITION], variants,
                   [f"scenario={settings.package}", f"counterfactual={settings.counterfactual}",
                    *settings.model])
    p.fingerprint = batch.fingerprint(p)
    return p, names, idle, masks, orders


def run_sweep(p: Any) -> Any:
    """Validate every coalition's config, then run (or resume) the sweep; returns its summary."""
    from model.schema import validate

    api, execute_plan = _sweep_api()
    api.check_run_configs(p, validate)
    return execute_plan(p)


def read_outcomes(sweep_dir: Path, settings: Settings, idle: IdleCapacity) -> pd.DataFrame:
    """One row per completed run: run_id, coalition code, seed and every outcome
    (`idle`: how the runs' supply config measures and values idle capacity)."""
    from experiments.store import load_sweep

    sw = load_sweep(sweep_dir)
    cols = ["run_id", COALITION, "seed", "year", "month", "served_mw_west", "co2_location_t",
            "co2_market_t", "subsidy_voucher_rmb", "subsidy_power_rmb", "subsidy_capex_rmb",
            "subsidy_total_rmb"]
    node_cols = ["run_id", "year", "month", "node", "capacity_mw", "served_mw",
                 "capacity_capex_rmb"]
    nat = sw.sql(f"SELECT {', '.join(cols)} FROM national")
    nodes = dict(tuple(sw.sql(f"SELECT {', '.join(node_cols)} FROM node").groupby("run_id")))
    rows = []
    for (run, code, seed), part in nat.groupby(["run_id", COALITION, "seed"], sort=True):
        rows.append({"run_id": run, COALITION: str(code), "seed": int(seed),
                     **run_outcomes(part, nodes[run], settings.west_years, settings.to_year,
                                    idle)})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- attribution tables

def value_table(results: pd.DataFrame, masks: Sequence[int], n_groups: int, column: str,
                seeds: Sequence[int]) -> dict[int, np.ndarray]:
    """mask -> outcome per seed (seed order `seeds`); raises if a run is missing."""
    wide = results.pivot(index=COALITION, columns="seed", values=column)
    out = {}
    for m in masks:
        code = coalition_code(m, n_groups)
        if code not in wide.index or wide.loc[code, list(seeds)].isna().any():
            raise AttributionError("attribute.dir", code, "runs of this coalition are missing; "
                                  "re-run the same command to finish the sweep")
        out[m] = wide.loc[code, list(seeds)].to_numpy(dtype=float)
    return out


def attribution(results: pd.DataFrame, names: Sequence[str], masks: Sequence[int],
                orders: np.ndarray | None, seeds: Sequence[int], outs: Sequence[Outcome]
                ) -> pd.DataFrame:
    """Long table: group × outcome × measure (shapley, removal, addition, package, sum) with
    mean, low, high over seeds, and the permutation sampling error where sampled."""
    n = len(names)
    rows = []
    for o in outs:
        v = value_table(results, masks, n, o.name, seeds)
        if orders is None:
            phi, se = shapley.exact_shapley(v, n), np.full(n, np.nan)
        else:
            phi, se = shapley.sampled_shapley(v, orders)
        removal, addition = shapley.one_at_a_time(v, n)
        package = v[shapley.full_mask(n)] - v[0]
        for g, name in enumerate(names):
            for measure, per_seed, err in (("shapley", phi[g], se[g]),
                                           ("removal", removal[g], np.nan),
                                           ("addition", addition[g], np.nan)):
                iv = t_interval(per_seed)
                rows.append({"group": name, "outcome": o.name, "measure": measure,
                             "mean": iv.mean, "low": iv.low, "high": iv.high, "n_seeds": iv.n,
                             "sampling_se": err})
        for label, per_seed in (("package", package), ("sum_of_shapley", phi.sum(axis=0))):
            iv = t_interval(per_seed)
            rows.append({"group": label, "outcome": o.name, "measure": "shapley",
                         "mean": iv.mean, "low": iv.low, "high": iv.high, "n_seeds": iv.n,
                         "sampling_se": np.nan})
    return pd.DataFrame(rows)


def ratio_interval(num: np.ndarray, den: np.ndarray) -> tuple[float, float, float]:
    """Ratio of seed means with a seed-bootstrap percentile interval; NaN where the
    denominator's t-interval spans zero (the effect is inside the noise)."""
    if t_interval(den).spans_zero:
        return np.nan, np.nan, np.nan
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    idx = rng.integers(0, len(num), (BOOTSTRAP, len(num)))
    dm = den[idx].mean(axis=1)
    boot = np.divide(num[idx].mean(axis=1), dm, out=np.full(BOOTSTRAP, np.nan), where=dm != 0)
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.nanpercentile(boot, [tail, 100 - tail])
    return float(num.mean() / den.mean()), float(low), float(high)


def cost_effectiveness(results: pd.DataFrame, names: Sequence[str], masks: Sequence[int],
                       orders: np.ndarray | None, seeds: Sequence[int], west_year: int,
                       to_year: int) -> pd.DataFrame:
    """Per group (Shapley shares, per seed): public outlay per MW moved west and per tCO2
    avoided (location based), RMB, with intervals."""
    n = len(names)

    def phi(column: str) -> np.ndarray:
        v = value_table(results, masks, n, column, seeds)
        return shapley.exact_shapley(v, n) if orders is None else shapley.sampled_shapley(
            v, orders)[0]

    outlay = phi(f"outlay_total_rmb_to_{to_year}")
    west = phi(f"west_mw_{west_year}")
    co2 = phi(f"co2_avoided_location_t_to_{to_year}")
    rows = []
    entries = [(name, outlay[g], west[g], co2[g]) for g, name in enumerate(names)]
    entries.append(("package", outlay.sum(axis=0), west.sum(axis=0), co2.sum(axis=0)))
    for name, out_g, west_g, co2_g in entries:
        for metric, den in ((f"rmb_per_mw_west_{west_year}", west_g),
                            ("rmb_per_tco2_avoided_location", co2_g)):
            mean, low, high = ratio_interval(out_g, den)
            rows.append({"group": name, "outcome": metric, "measure": "shapley_ratio",
                         "mean": mean, "low": low, "high": high, "n_seeds": len(seeds),
                         "sampling_se": np.nan})
    return pd.DataFrame(rows)


def format_table(table: pd.DataFrame, outs: Sequence[Outcome], names: Sequence[str],
                 west_year: int) -> str:
    """Groups × outcomes: Shapley mean [95 % interval] in the printed units."""
    scale = {o.name: (o.scale, f"{o.label} ({o.unit})") for o in outs}
    scale[f"rmb_per_mw_west_{west_year}"] = (1e6, f"outlay/MW west {west_year} (m RMB)")
    scale["rmb_per_tco2_avoided_location"] = (1.0, "outlay/tCO2 loc. (RMB)")
    shown = [o.name for o in outs if not o.name.startswith("outlay_") or "total" in o.name]
    shown += [f"rmb_per_mw_west_{west_year}", "rmb_per_tco2_avoided_location"]
    sh = table[table["measure"].isin(["shapley", "shapley_ratio"])]
    lines = []
    header = ["group"] + [scale[c][1] for c in shown]
    body = []
    for group in [*names, "sum_of_shapley", "package"]:
        row = [group]
        for c in shown:
            hit = sh[(sh["group"] == group) & (sh["outcome"] == c)]
            if hit.empty or not np.isfinite(hit["mean"].iloc[0]):
                row.append("n/r" if not hit.empty else "")
                continue
            s = scale[c][0]
            m, lo, hi = (0.0 if abs(hit[k].iloc[0] / s) < 1e-9 else hit[k].iloc[0] / s
                         for k in ("mean", "low", "high"))
            row.append(f"{m:.3g} [{lo:.3g}, {hi:.3g}]" if np.isfinite(lo) else f"{m:.3g}")
        body.append(row)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    for r in [header, *body]:
        lines.append("  ".join(x.ljust(w) for x, w in zip(r, widths, strict=True)))
    return "\n".join(lines)


def write_outputs(out: Path, results: pd.DataFrame, table: pd.DataFrame, names: Sequence[str],
                  idle: Sequence[str], masks: Sequence[int], method: str) -> None:
    """attribute_runs.csv (one row per run, naming it), attribute.csv (the long table),
    attribute_groups.csv (groups, whether they differ, their index in the coalition code)."""
    from experiments.store import atomic_write_text

    out.mkdir(parents=True, exist_ok=True)
    n = len(names)
    runs = results.copy()
    label = {coalition_code(m, n): shapley.label(m, names) for m in masks}
    runs.insert(2, "groups_on", runs[COALITION].map(label))
    atomic_write_text(out / "attribute_runs.csv", runs.to_csv(index=False))
    t = table.copy()
    t.insert(0, "method", method)
    atomic_write_text(out / "attribute.csv", t.to_csv(index=False))
    groups = pd.DataFrame([{"group": g, "in_package_difference": True, "bit": i}
                           for i, g in enumerate(names)]
                          + [{"group": g, "in_package_difference": False, "bit": -1}
                             for g in idle])
    atomic_write_text(out / "attribute_groups.csv", groups.to_csv(index=False))


def attribute_config(overrides: Sequence[str] = ()) -> DictConfig:
    """Compose ``conf/attribute.yaml`` with Hydra's compose API."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="attribute", overrides=list(overrides))


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: plan, run or resume the coalition sweep, write CSVs, print the table."""
    parser = argparse.ArgumentParser(prog="python -m experiments.attribute",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override conf/attribute.yaml, e.g. attribute.seeds=[1,2,3,4,5]")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    from experiments.design import SweepInputError
    from model.schema import ConfigError

    t0 = time.perf_counter()
    try:
        cfg = attribute_config(args.set)
        settings = parse_settings(OmegaConf.to_container(cfg.attribute, resolve=True))
        p, names, idle, masks, orders = plan(settings)
        p.settings.progress = not args.quiet
        method = "exact" if orders is None else "sampled"
        print(f"attribute: {settings.package} vs {settings.counterfactual}, {len(names)} groups "
              f"({', '.join(names)}); {method}: {len(masks)} coalitions x "
              f"{len(settings.seeds)} seeds = {len(p.runs)} runs in {p.settings.dir}")
        if idle:
            print(f"attribute: equal in both scenarios, left out: {', '.join(idle)}")
        summary = run_sweep(p)
        print(summary.line())
        if summary.failed:
            print(f"{summary.failed} run(s) failed; re-run the same command", file=sys.stderr)
            return 1
        idles = {IdleCapacity.of(v["supply"]) for v in p.variants.values()}
        if len(idles) != 1:
            raise AttributionError("attribute.groups", "supply", "coalitions differ in the "
                                   "planning utilisation or capital cost that value idle capacity")
        results = read_outcomes(p.settings.dir, settings, idles.pop())
        outs = outcomes(settings.west_years, settings.to_year)
        west_year = settings.west_years[-1]
        table = pd.concat([
            attribution(results, names, masks, orders, settings.seeds, outs),
            cost_effectiveness(results, names, masks, orders, settings.seeds, west_year,
                               settings.to_year)], ignore_index=True)
        write_outputs(settings.dir, results, table, names, idle, masks, method)
    except (AttributionError, SweepInputError, ConfigError) as err:
        print(str(err).splitlines()[0], file=sys.stderr)
        return 2
    except Exception as err:  # hydra override errors and the like: one line, no traceback
        if is_hydra_error(err):
            print(f"attribute error: {str(err).splitlines()[0]}", file=sys.stderr)
            return 2
        raise
    print(f"\nShapley contributions, mean [{CONFIDENCE:.0%} interval over "
          f"{len(settings.seeds)} seeds]; n/r = denominator not resolved (interval spans 0)")
    print(format_table(table, outs, names, west_year))
    print(f"\nattribute: wrote {settings.dir}/attribute.csv, attribute_runs.csv in "
          f"{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())


# ---------------------------------------------------------------- figure (brief)

FIGURE_PANELS = ("west_mw_{west}", "co2_avoided_location_t_to_{to}",
                 "rmb_per_mw_west_{west}")


def figure_data(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of the attribution table the brief's figure draws: Shapley values (and ratios)
    of every group for MW west in the last west year, tCO2 avoided (location) and outlay per
    MW moved west, with their intervals."""
    years = table["outcome"].str.extract(r"west_mw_(\d{4})")[0].dropna().astype(int)
    west = int(years.max())
    to = int(table["outcome"].str.extract(r"_to_(\d{4})")[0].dropna().astype(int).max())
    wanted = [p.format(west=west, to=to) for p in FIGURE_PANELS]
    sh = table[table["measure"].isin(["shapley", "shapley_ratio"])
               & table["outcome"].isin(wanted) & (table["group"] != "sum_of_shapley")]
    return sh.assign(panel=sh["outcome"].map({w: k for k, w in enumerate(wanted)}))


def figure(table: pd.DataFrame, style: Any) -> Any:
    """Which instrument buys what: each group's Shapley contribution (bars, 95 % interval
    over seeds; hatched where the interval spans zero) and outlay per MW moved west."""
    import matplotlib.pyplot as plt

    data = figure_data(table)
    labels = (("MW served in the west", 1.0), ("MtCO2 avoided (location)", 1e-6),
              ("outlay per MW moved west (m RMB/MW)", 1e-6))
    groups = list(dict.fromkeys(data["group"]))
    fig, axes = plt.subplots(1, 3, figsize=style.size("cost_effectiveness"), sharey=True)
    y = np.arange(len(groups))
    for k, (ax, (label, scale)) in enumerate(zip(axes, labels, strict=True)):
        sub = data[data["panel"] == k].set_index("group").reindex(groups)
        m, lo, hi = (sub[c].to_numpy(dtype=float) * scale for c in ("mean", "low", "high"))
        spans = ~((lo > 0) | (hi < 0))
        for yi, mi, sp in zip(y, m, spans, strict=True):
            if np.isfinite(mi):
                ax.barh(yi, mi, 0.6, color="0.55" if sp else "0.25", hatch="//" if sp else None,
                        edgecolor="0.1", linewidth=0.4)
            else:
                ax.text(0, yi, "not resolved", va="center", ha="left",
                        fontsize=style.tick_size - 1, color="0.4")
        ok = np.isfinite(lo)
        ax.errorbar(m[ok], y[ok], xerr=np.vstack([m[ok] - lo[ok], hi[ok] - m[ok]]), fmt="none",
                    ecolor="0.0", capsize=2, lw=0.8)
        ax.axvline(0, color="0.3", lw=0.6)
        ax.set_xlabel(label)
    axes[0].set_yticks(y, [g.replace("_", " ") for g in groups])
    axes[0].invert_yaxis()
    fig.suptitle("Which instrument buys what (Shapley values; 95 % interval over seeds, "
                 "hatched where it spans 0)", fontsize=style.title_size)
    fig.tight_layout()
    return fig
