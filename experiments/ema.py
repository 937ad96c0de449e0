"""EMA Workbench connector: the EDWC model as an `ema_workbench.ReplicatorModel`.

Uncertainties and levers are config keys; outcomes are the declared outcomes of
`model/outcomes.py` in a year; replications are seeds (the mean over seeds is reported)::

    from ema_workbench import perform_experiments
    from ema_workbench.analysis import prim
    from experiments.ema import edwc_model

    model = edwc_model(uncertainties={"demand.logit_scale_rmb": (150, 600),
                                      "demand.growth.intelligent*": (0.5, 1.5)},
                       levers={"scenario.name": ["edwc", "no_edwc"]}, seeds=[1, 2],
                       overrides=["run.end=2030-12"], outcomes=[("west_share", 2030)])
    experiments, outcomes = perform_experiments(model, scenarios=50, policies=2)
    box = prim.Prim(experiments[list(model.uncertainties.keys())],
                    outcomes["west_share_2030"] > 20, threshold=0.8).find_box()

A parameter is declared by its config key and a spec:
- ``(low, high)``: a number in that range (an integer if the config value is an integer);
- ``[a, b, …]``: one of these values; ``scenario.name`` takes scenario files by name
  (``conf/scenario/<name>.yaml``, composed as ``scenario=<name>``);
- a key ending in ``*`` (``demand.growth.intelligent*``) scales a dated schedule (a list of
  ``{from, value}``) as a whole by a factor in ``(low, high)``.
Every key and both ends of every range are checked against the schema when the model is
built (one-line `ConfigError`), so no experiment fails on bad input. Outcomes are in the
display units of `model/outcomes.py` (west share in %, CO2 in Mt/yr, …), named
``<outcome>_<year>``. The experiments run in-process through `EDWCModel`; parallel
evaluators (`MultiprocessingEvaluator`) pickle the model and its `EDWCRun` function.
"""

from __future__ import annotations

import copy
import functools
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from model.compose import compose, model_config, set_key
from model.model import EDWCModel
from model.outcomes import OUTCOMES
from model.run import check_limits
from model.schema import ConfigError, ModelConfig, to_container

try:
    with warnings.catch_warnings():   # "ipyparallel not installed": an evaluator we do not use
        warnings.simplefilter("ignore", UserWarning)
        from ema_workbench import (
            CategoricalParameter,
            IntegerParameter,
            RealParameter,
            ReplicatorModel,
            ScalarOutcome,
        )
except ImportError as err:
    raise ImportError("experiments.ema needs EMA Workbench, the optional extra 'ema': "
                      "pip install -c constraints.txt -e '.[ema]'") from err

SCALE = "*"                          # key suffix: scale a schedule as a whole
GROUPS = {"scenario.name": "scenario"}   # a key whose value picks a config group's file
RESERVED = {"seed": "replications are seeds: pass seeds=[...]",
            "run.seed": "replications are seeds: pass seeds=[...]",
            "scenario": "is an EMA column; sample scenario files with 'scenario.name'",
            "policy": "is an EMA column; set policy keys by their dotted names",
            "model": "is an EMA column"}


@functools.lru_cache(maxsize=32)
def _composed(overrides: tuple[str, ...]) -> dict[str, Any]:
    """The composed config (plain containers) for these overrides, once per process."""
    return to_container(compose(list(overrides)))


def _get(cfg: dict[str, Any], key: str) -> Any:
    node: Any = cfg
    for part in key.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise ConfigError(key, None, "is not a config key")
    return node


def _is_schedule(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(v, dict) and set(v) == {"from", "value"} for v in value)


@dataclass(frozen=True)
class EDWCRun:
    """One experiment: compose the config, set the sampled keys, run one seed, return the
    outcomes {"<outcome>_<year>": display value}. Picklable (for parallel evaluators)."""

    overrides: tuple[str, ...]
    outcomes: tuple[tuple[str, int], ...]

    def config(self, seed: int, params: Mapping[str, Any]) -> ModelConfig:
        """The validated ModelConfig of one experiment and seed."""
        groups = [f"{g}={params[k]}" for k, g in GROUPS.items() if k in params]
        cfg = copy.deepcopy(_composed((*self.overrides, *groups)))
        for key, value in params.items():
            if key in GROUPS:
                if _get(cfg, key) != params[key]:
                    raise ConfigError(key, params[key], f"the {GROUPS[key]} file sets "
                                      f"{key} = {_get(cfg, key)}")
                continue
            value = value.item() if isinstance(value, np.generic) else value
            if key.endswith(SCALE):
                key = key[: -len(SCALE)]
                value = [{"from": s["from"], "value": s["value"] * value}
                         for s in _get(cfg, key)]
            set_key(cfg, key, value)
        return model_config(cfg, seed=int(seed))

    def __call__(self, seed: int, **params: Any) -> dict[str, float]:
        config = self.config(seed, params)
        check_limits(config)
        model = EDWCModel(config)
        model.run()
        national = pd.DataFrame(model.recorder.national)
        return {f"{name}_{year}": OUTCOMES[name].display(national, year)
                for name, year in self.outcomes}


def _parameter(key: str, spec: Any, base: dict[str, Any]):
    """An EMA parameter for config key `key` (checked against the composed config)."""
    if key in RESERVED:
        raise ConfigError(key, spec, RESERVED[key])
    if key in GROUPS:
        if not isinstance(spec, Sequence) or isinstance(spec, str) or not spec:
            raise ConfigError(key, spec, f"takes a list of {GROUPS[key]} files")
        return CategoricalParameter(key, [str(s) for s in spec])
    value = _get(base, key[: -len(SCALE)] if key.endswith(SCALE) else key)
    if key.endswith(SCALE) != _is_schedule(value):
        hint = (f"is a schedule: scale it with '{key}{SCALE}'" if _is_schedule(value)
                else f"'{SCALE}' scales a schedule ({{from, value}} list); this key is not one")
        raise ConfigError(key, spec, hint)
    if isinstance(spec, tuple) and len(spec) == 2 and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in spec):
        low, high = spec
        if not low < high:
            raise ConfigError(key, list(spec), "needs low < high")
        if isinstance(value, int) and not isinstance(value, bool) and \
                isinstance(low, int) and isinstance(high, int):
            return IntegerParameter(key, low, high)
        return RealParameter(key, float(low), float(high))
    if isinstance(spec, Sequence) and not isinstance(spec, str) and len(spec) > 0:
        return CategoricalParameter(key, list(spec))
    raise ConfigError(key, spec, "needs (low, high) or a list of values")


def _check_outcomes(outcomes: Sequence[str | tuple[str, int]] | None, first: int, last: int
                    ) -> tuple[tuple[str, int], ...]:
    chosen = list(OUTCOMES) if outcomes is None else outcomes
    out = []
    for item in chosen:
        name, year = (item, last) if isinstance(item, str) else item
        if name not in OUTCOMES or OUTCOMES[name].table != "national":
            raise ConfigError("outcomes", name,
                              f"is not a declared outcome ({', '.join(OUTCOMES)})")
        if not first <= int(year) <= last:
            raise ConfigError("outcomes", [name, year], f"year outside the run ({first}-{last})")
        out.append((name, int(year)))
    return tuple(out)


def edwc_model(uncertainties: Mapping[str, Any] | None = None,
               levers: Mapping[str, Any] | None = None, seeds: Sequence[int] = (1, 2),
               overrides: Sequence[str] = (),
               outcomes: Sequence[str | tuple[str, int]] | None = None,
               name: str = "edwc") -> ReplicatorModel:
    """The EDWC model for EMA Workbench.

    uncertainties, levers: {config key: spec} (module docstring). seeds: the replications
    (common random numbers: every experiment runs every seed; outcomes are the mean).
    overrides: Hydra overrides for everything else (e.g. ``run.end=2030-12``).
    outcomes: declared outcome names (in the last year of the run) or (name, year) pairs;
    default: every declared outcome in the last year.
    """
    uncertainties, levers = dict(uncertainties or {}), dict(levers or {})
    if not seeds:
        raise ConfigError("seeds", list(seeds), "needs at least one seed")
    for s in seeds:
        model_config(_composed(tuple(overrides)), seed=s)   # each seed a valid run.seed
    both = set(uncertainties) & set(levers)
    if both:
        raise ConfigError(sorted(both)[0], "both", "is an uncertainty and a lever")
    params = {**uncertainties, **levers}
    base = _composed(tuple(overrides))
    declared = {key: _parameter(key, spec, base) for key, spec in params.items()}
    horizon = model_config(base, seed=seeds[0]).run
    first, last = horizon.start // 12, horizon.end // 12
    run = EDWCRun(tuple(overrides), _check_outcomes(outcomes, first, last))
    for key, spec in params.items():        # both ends of every range validate
        for value in spec:
            try:
                run.config(seeds[0], {key: value})
            except ConfigError as err:
                raise ConfigError(key, value, f"{err.key} = {err.value}: {err.reason}"
                                  if err.key != key else err.reason) from None
    model = ReplicatorModel(name, function=run)
    model.uncertainties = [declared[k] for k in uncertainties]
    model.levers = [declared[k] for k in levers]
    model.outcomes = [ScalarOutcome(f"{o}_{y}", function=np.mean) for o, y in run.outcomes]
    model.replications = [{"seed": int(s)} for s in seeds]
    return model
