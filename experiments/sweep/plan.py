"""Sweep planning: validate the ``sweep:`` and ``design:`` blocks and expand the design ×
seed list into one fully resolved model config per run, before anything is written."""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf, open_dict

from experiments import store
from experiments.design import (
    Design,
    SweepInputError,
    design_points,
    expand_runs,
    parse_design,
    parse_seeds,
    point_count,
)
from model.paths import CONF_DIR
from model.schema import validate

ROOT = Path(__file__).resolve().parents[2]
SWEEP_KEYS = ("sweep", "design")          # keys of the sweep config that are not model config
EXECUTORS = ("local", "dask", "serial")
NOT_RESULTS = ("run.out_dir", "run.quiet", "run.allow_outside_root")  # never change tables
ESTIMATE_KEYS = ("s_per_run", "s_per_month_1k_enterprises")
CLUSTERS = ("local", "slurm")
SLURM_KEYS = ("jobs", "cores", "memory", "walltime", "queue", "account", "host",
              "log_directory")

Composer = Callable[[list[str]], DictConfig]


@dataclass
class SweepSettings:
    """The validated ``sweep:`` block."""

    dir: Path
    seeds: list[int]
    executor: str = "local"
    workers: int = 1
    scheduler: str | None = None
    progress: bool = True
    max_runs: int = 5000
    estimate: dict[str, float] = field(default_factory=dict)   # s_per_run, s_per_month_1k_…
    cluster: str = "local"                     # dask without a scheduler: local | slurm
    slurm: dict[str, Any] = field(default_factory=dict)        # SLURMCluster settings


@dataclass
class Plan:
    """Everything a sweep will run, decided before anything is written."""

    settings: SweepSettings
    design_spec: dict[str, Any]
    design: Design
    runs: pd.DataFrame                         # one row per run (see design.expand_runs)
    group_axes: list[str]                      # axes that are Hydra config-group choices
    variants: dict[tuple[str, ...], dict[str, Any]]  # group choices -> resolved model config
    overrides: list[str]
    fingerprint: dict[str, str] = field(default_factory=dict)

    def run_config(self, row: dict[str, Any]) -> dict[str, Any]:
        """The fully resolved model config of one run (plain containers)."""
        cfg = copy.deepcopy(self.variants[tuple(str(row[g]) for g in self.group_axes)])
        for axis in self.design.axes:
            if axis.key not in self.group_axes:
                for key in axis.keys:
                    set_key(cfg, key, _py(row[axis.key]))
        set_key(cfg, "run.seed", int(row["seed"]))
        set_key(cfg, "run.out_dir",
                str(self.settings.dir.resolve() / store.MANIFESTS / row["run_id"]))
        set_key(cfg, "run.quiet", True)
        return cfg

    def task(self, row: dict[str, Any]) -> dict[str, Any]:
        """The picklable task of one run: its resolved model config and where to write."""
        config = self.run_config(row)
        return {"run_id": row["run_id"], "point": int(row["point"]), "seed": int(row["seed"]),
                "params": {a.key: _py(row[a.key]) for a in self.design.axes},
                "fingerprint": self.fingerprint,
                "config": config,
                "sweep_dir": str(self.settings.dir.resolve())}


def _walk(cfg: Any, key: str) -> tuple[Any, str | int]:
    """The container holding a dotted key (list items by index) and the last part."""
    *head, last = key.split(".")
    node = cfg
    for part in head:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node, (int(last) if isinstance(node, list) else last)


def has_key(cfg: dict[str, Any], key: str) -> bool:
    """Whether a dotted key (e.g. ``policy.national.route_factor.3.value``) exists."""
    try:
        node, last = _walk(cfg, key)
        node[last]
    except (KeyError, IndexError, TypeError, ValueError):
        return False
    return True


def set_key(cfg: dict[str, Any], key: str, value: Any) -> None:
    """Set an existing dotted key in plain config containers."""
    node, last = _walk(cfg, key)
    node[last] = value


def _py(value: Any) -> Any:
    """numpy scalars → Python scalars (OmegaConf and JSON accept only the latter)."""
    return value.item() if hasattr(value, "item") else value


def _digest(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _int_at_least(key: str, value: Any, low: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise SweepInputError(key, value, f"expected an integer >= {low}")
    return value


def parse_settings(sweep: Any) -> SweepSettings:
    """Validate the ``sweep:`` block (dir, seeds, executor, workers, scheduler, progress,
    max_runs, estimate)."""
    sweep = OmegaConf.to_container(sweep, resolve=True) if OmegaConf.is_config(sweep) else sweep
    known = {"dir", "seeds", "executor", "workers", "scheduler", "progress", "name", "max_runs",
             "estimate", "cluster", "slurm"}
    for key in sweep:
        if key not in known:
            raise SweepInputError(f"sweep.{key}", sweep[key], "unknown sweep setting")
    seeds = parse_seeds(sweep.get("seeds"))
    if not sweep.get("dir") or not isinstance(sweep["dir"], str):
        raise SweepInputError("sweep.dir", sweep.get("dir"), "expected a folder path")
    executor = sweep.get("executor", "local")
    if executor not in EXECUTORS:
        raise SweepInputError("sweep.executor", executor,
                              f"unknown executor (one of {', '.join(EXECUTORS)})")
    workers = sweep.get("workers")
    if workers is None:
        workers = os.cpu_count() or 1
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise SweepInputError("sweep.workers", workers, "expected a positive integer or null")
    scheduler = sweep.get("scheduler")
    if scheduler is not None and (executor != "dask" or not isinstance(scheduler, str)):
        raise SweepInputError("sweep.scheduler", scheduler,
                              "a scheduler address (tcp://host:port) needs sweep.executor=dask")
    progress = sweep.get("progress", True)
    if not isinstance(progress, bool):
        raise SweepInputError("sweep.progress", progress, "expected true or false")
    max_runs = _int_at_least("sweep.max_runs", sweep.get("max_runs", 5000), 1)
    estimate = sweep.get("estimate") or {}
    for key, value in estimate.items():
        if key not in ESTIMATE_KEYS or not isinstance(value, int | float) or value < 0:
            raise SweepInputError(f"sweep.estimate.{key}", value,
                                  f"expected a number >= 0 for one of {', '.join(ESTIMATE_KEYS)}")
    cluster = sweep.get("cluster", "local")
    if cluster not in CLUSTERS:
        raise SweepInputError("sweep.cluster", cluster, f"one of {', '.join(CLUSTERS)}")
    if cluster == "slurm" and (executor != "dask" or scheduler is not None):
        raise SweepInputError("sweep.cluster", cluster,
                              "a Slurm cluster needs sweep.executor=dask and no sweep.scheduler")
    slurm = parse_slurm(sweep.get("slurm") or {})
    return SweepSettings(Path(sweep["dir"]), seeds, executor, workers, scheduler, progress,
                         max_runs, estimate, cluster, slurm)


def parse_slurm(slurm: Any) -> dict[str, Any]:
    """Validate ``sweep.slurm`` (the SLURMCluster settings of ``sweep.cluster=slurm``)."""
    if not isinstance(slurm, dict):
        raise SweepInputError("sweep.slurm", slurm, "expected a mapping")
    for key, value in slurm.items():
        if key not in SLURM_KEYS:
            raise SweepInputError(f"sweep.slurm.{key}", value,
                                  f"unknown Slurm setting (one of {', '.join(SLURM_KEYS)})")
        if key in ("jobs", "cores"):
            if value is not None:
                _int_at_least(f"sweep.slurm.{key}", value, 1)
        elif value is not None and not isinstance(value, str):
            raise SweepInputError(f"sweep.slurm.{key}", value, "expected a string or null")
    return dict(slurm)


def estimate_s(settings: SweepSettings, base: dict[str, Any], n_runs: int) -> float:
    """Rough wall time of the sweep in s: runs × (fixed + per month × enterprises / 1000)
    spread over the workers (sweep.estimate)."""
    from model.schema import parse_month

    run = base.get("run", {})
    try:
        months = parse_month(run["end"], "run.end") - parse_month(run["start"], "run.start") + 1
        enterprises = float(base["demand"]["n_enterprises"]) / 1000
    except (KeyError, TypeError, ValueError):     # ConfigError is a ValueError
        return float("nan")
    est = settings.estimate
    per_run = (est.get("s_per_run", 0.0)
               + est.get("s_per_month_1k_enterprises", 0.0) * months * enterprises)
    return n_runs * per_run / max(1, min(settings.workers, n_runs))


def _duration(seconds: float) -> str:
    if seconds != seconds:               # NaN: the horizon or size is not known
        return "unknown time"
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"~{seconds / size:.1f} {unit}"
    return f"~{seconds:.0f} s" if seconds >= 1 else "under 1 s"


def model_config(cfg: DictConfig) -> DictConfig:
    """The model's part of a composed sweep config (without sweep/design keys)."""
    container = OmegaConf.to_container(cfg, resolve=False)
    for key in SWEEP_KEYS:
        container.pop(key, None)
    return OmegaConf.create(container)


def plan_sweep(cfg: DictConfig, compose: Composer, overrides: Sequence[str],
               groups: Sequence[str] | Mapping[str, Any],
               notify: Callable[[str], Any] | None = None) -> Plan:
    """Validate the sweep input and expand the design × seeds; raises SweepInputError.

    ``compose(overrides)`` composes the sweep config (used once per combination of
    config-group choices, e.g. scenarios); ``groups`` names the Hydra config groups, or maps
    them to the options ``cfg`` was composed with: a combination of those options is ``cfg``
    itself, not composed again.
    ``notify`` gets one line with the run count and a time estimate before any sampling; a
    design of more than ``sweep.max_runs`` runs is refused then.
    """
    settings = parse_settings(cfg.get("sweep"))
    design_spec = OmegaConf.to_container(cfg.design, resolve=True) if cfg.get("design") else None
    if design_spec is None:
        raise SweepInputError("design", None, "no design; choose one, e.g. experiment=smoke")
    design = parse_design(design_spec)
    base = model_config(cfg)
    plain = OmegaConf.to_container(base, resolve=False)
    interpolations = OmegaConf.to_yaml(base)
    group_axes = [a.key for a in design.axes if a.key in groups and not a.targets]
    for axis in design.axes:
        if axis.key in group_axes:
            if not axis.categorical:
                raise SweepInputError(f"design.axes.{axis.key}", axis.key,
                                      "a config group takes {choices: [...]} or a list")
            continue
        for key in axis.keys:
            if key == "run.seed":
                raise SweepInputError(f"design.axes.{axis.key}", key,
                                      "seeds are not an axis; set sweep.seeds")
            if key in NOT_RESULTS:
                raise SweepInputError(f"design.axes.{axis.key}", key,
                                      "the sweep sets this key for every run; not an axis")
            if not has_key(plain, key):
                raise SweepInputError(f"design.axes.{axis.key}", key, "unknown config key")
            if "${" + key + "}" in interpolations:
                raise SweepInputError(f"design.axes.{axis.key}", key,
                                      "other keys interpolate it; sweep those keys instead")
    n_points = point_count(design)
    n_runs = n_points * len(settings.seeds)
    if notify is not None:
        estimate = estimate_s(settings, plain, n_runs)
        notify(f"sweep {settings.dir}: {n_runs} runs ({n_points} design points x "
               f"{len(settings.seeds)} seeds), {_duration(estimate)} on "
               f"{min(settings.workers, n_runs)} worker(s)")
    cores = os.cpu_count() or 1
    requested, settings.workers = settings.workers, min(settings.workers, n_runs)
    if notify is not None and settings.workers > cores:
        notify(f"warning: sweep.workers={requested} runs {settings.workers} processes on "
               f"{cores} cores; they will compete for CPU")
    if n_runs > settings.max_runs:
        raise SweepInputError("sweep.max_runs", settings.max_runs,
                              f"the design has {n_runs} runs; set sweep.max_runs={n_runs} "
                              "to run them")
    points = design_points(design)
    runs = expand_runs(points, settings.seeds)
    variants: dict[tuple[str, ...], dict[str, Any]] = {}
    keep = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") not in group_axes]
    composed = tuple(str(groups.get(g)) for g in group_axes) \
        if isinstance(groups, Mapping) and len(keep) == len(overrides) else None
    for combo in points[group_axes].drop_duplicates().itertuples(index=False):
        choice = tuple(str(c) for c in combo)
        extra = [f"{g}={c}" for g, c in zip(group_axes, choice, strict=True)]
        try:
            variant = model_config(compose(keep + extra)) if extra and choice != composed \
                else base
        except HydraException as err:
            raise SweepInputError(f"design.axes.{','.join(group_axes)}", list(choice),
                                  f"cannot compose: {str(err).splitlines()[0]}") from None
        variants[choice] = OmegaConf.to_container(variant, resolve=True)
    plan = Plan(settings, design_spec, design, runs, group_axes, variants, list(overrides))
    plan.fingerprint = fingerprint(plan)
    return plan


def check_run_configs(plan: Plan, validate: Callable[[dict[str, Any]], Any]) -> None:
    """Validate every run's config with the model's schema before anything is written;
    re-raises the first error with the run it came from."""
    for row in plan.runs.drop_duplicates("point").to_dict("records"):
        try:
            validate(plan.run_config(row))
        except ValueError as err:
            key, value = getattr(err, "key", "design"), getattr(err, "value", row["run_id"])
            reason = getattr(err, "reason", str(err))
            raise SweepInputError(key, value, f"{reason} (design point {row['point']})") from None


def plan_from_overrides(overrides: Sequence[str], config_name: str = "sweep",
                        check: bool = True, notify: Callable[[str], Any] | None = None) -> Plan:
    """Compose the sweep config with Hydra's compose API (no Hydra app needed, e.g. in
    tests, benchmarks and notebooks), plan it and (``check``) validate every run config."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name, overrides=list(overrides), return_hydra_config=True)
        groups = dict(cfg.hydra.runtime.choices)
        with open_dict(cfg):
            del cfg["hydra"]
        plan = plan_sweep(cfg, lambda extra: compose(config_name, overrides=extra),
                          overrides, groups, notify)
    if check:
        check_run_configs(plan, validate)
    return plan


def fingerprint(plan: Plan) -> dict[str, str]:
    """Hashes that a resumed sweep must match: the design table and the model configs."""
    columns = list(plan.runs.columns)
    design_hash = _digest([columns, *plan.runs.astype(str).to_numpy().tolist()])
    configs = {}
    for choice, cfg in plan.variants.items():
        resolved = copy.deepcopy(cfg)
        for key in NOT_RESULTS:
            if has_key(resolved, key):
                set_key(resolved, key, None)
        configs["|".join(choice)] = resolved
    return {"design": design_hash, "config": _digest(configs)}
