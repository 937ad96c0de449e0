"""Experiment designs: a grid, Latin hypercube, Sobol (Saltelli) or Morris sample over config
keys, crossed with one seed list (common random numbers, docs/design.md §2.9, docs/sweeps.md).

A design is declared in YAML under ``design:`` (see ``conf/experiment/``)::

    design:
      kind: sobol            # grid | lhs | sobol | morris
      samples: 64            # lhs: points; sobol: base N (N(D+2) points); morris: trajectories
      bootstrap_seed: 1      # sensitivity: seed of SALib's confidence-interval bootstrap (>= 1)
      axes:
        demand.logit_scale_rmb: {low: 60, high: 240}      # continuous (sampled designs)
        scenario: {choices: [edwc, no_edwc]}              # categorical (any design)
        policy.voucher.rate: [0.0, 0.2, 0.4]              # grid values (grid only)
        east_voucher:                                     # one axis setting several keys
          keys: [policy.local.nodes.yangtze_delta.voucher.rate,
                 policy.local.nodes.yangtze_delta.voucher.max_rate]
          values: [0.0, 0.3]                              # or low/high, or choices

Samplers come from SALib. A categorical axis is sampled as a number in [0, k) and mapped to
choice ``floor(x)``; the raw number is kept (column ``x:<key>``) for Morris analysis.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

KINDS = ("grid", "lhs", "sobol", "morris")
RAW_PREFIX = "x:"


class SweepInputError(ValueError):
    """Bad sweep input; the message is one line naming the key and the bad value."""

    def __init__(self, key: str, value: Any, reason: str) -> None:
        self.key, self.value = key, value
        super().__init__(f"sweep error: {key} = {value!r}: {reason}")


@dataclass(frozen=True)
class Axis:
    """One swept config key: either numeric bounds or a list of values/choices."""

    key: str                       # the axis name: a config key, or a label if targets given
    values: tuple[Any, ...] = ()   # grid values or categorical choices
    low: float | None = None
    high: float | None = None
    targets: tuple[str, ...] = ()  # config keys that all take the axis value (default: key)

    @property
    def keys(self) -> tuple[str, ...]:
        """The config keys this axis sets."""
        return self.targets or (self.key,)

    @property
    def categorical(self) -> bool:
        return self.low is None

    def bounds(self) -> list[float]:
        """SALib bounds: [low, high], or [0, k) for a categorical axis of k choices."""
        return [0.0, float(len(self.values))] if self.categorical else [self.low, self.high]

    def from_unit(self, x: float) -> Any:
        """Map a sampled number to the config value (choice index = floor(x))."""
        if not self.categorical:
            return float(x)
        return self.values[min(int(math.floor(x)), len(self.values) - 1)]


@dataclass(frozen=True)
class Design:
    """A parsed design: kind, axes and sampler settings."""

    kind: str
    axes: tuple[Axis, ...]
    samples: int = 0
    levels: int = 4
    second_order: bool = False
    sampler_seed: int = 0
    bootstrap_seed: int = 1        # SALib's confidence-interval bootstrap (0 = unseeded there)

    def problem(self) -> dict[str, Any]:
        """The SALib problem dict (names in axis order, bounds)."""
        return {
            "num_vars": len(self.axes),
            "names": [a.key for a in self.axes],
            "bounds": [a.bounds() for a in self.axes],
        }


def _as_plain(value: Any) -> Any:
    """OmegaConf containers → plain Python (design parsing works on plain data)."""
    try:
        from omegaconf import OmegaConf

        if OmegaConf.is_config(value):
            return OmegaConf.to_container(value, resolve=True)
    except ImportError:  # pragma: no cover - omegaconf is a dependency
        pass
    return value


def _parse_axis(kind: str, key: str, spec: Any) -> Axis:
    where = f"design.axes.{key}"
    if isinstance(spec, Mapping) and "keys" in spec:
        targets = spec["keys"]
        if (not isinstance(targets, Sequence) or isinstance(targets, str) or not targets
                or not all(isinstance(t, str) for t in targets)):
            raise SweepInputError(where + ".keys", targets, "expected a list of config keys")
        rest = {k: v for k, v in spec.items() if k != "keys"}
        inner = _parse_axis(kind, key, rest["values"] if set(rest) == {"values"} else rest)
        return Axis(key, inner.values, inner.low, inner.high, tuple(targets))
    if isinstance(spec, Sequence) and not isinstance(spec, str):
        if kind != "grid":
            raise SweepInputError(where, spec,
                                  f"a {kind} design needs {{low, high}} or {{choices}}")
        if len(spec) == 0:
            raise SweepInputError(where, spec, "empty list of values")
        return Axis(key, values=_distinct(where, spec))
    if not isinstance(spec, Mapping):
        raise SweepInputError(where, spec, "expected a list, {low, high} or {choices: [...]}")
    if set(spec) == {"choices"}:
        choices = spec["choices"]
        if not isinstance(choices, Sequence) or isinstance(choices, str) or len(choices) == 0:
            raise SweepInputError(where + ".choices", choices, "expected a non-empty list")
        return Axis(key, values=_distinct(where + ".choices", choices))
    if set(spec) == {"low", "high"}:
        low, high = spec["low"], spec["high"]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high))
        if not numeric or not math.isfinite(low) or not math.isfinite(high) or low >= high:
            raise SweepInputError(where, spec, "bounds must be finite numbers with low < high")
        if kind == "grid":
            raise SweepInputError(where, spec, "a grid design needs a list of values")
        return Axis(key, low=float(low), high=float(high))
    raise SweepInputError(where, spec, "expected a list, {low, high} or {choices: [...]}")


def _distinct(where: str, values: Sequence[Any]) -> tuple[Any, ...]:
    """The values of a grid axis or choice list; a repeated value would run twice."""
    seen = [repr(float(v)) if isinstance(v, int | float) and not isinstance(v, bool) else repr(v)
            for v in values]
    repeated = sorted({s for s in seen if seen.count(s) > 1})
    if repeated:
        raise SweepInputError(where, list(values), f"repeated value(s) {', '.join(repeated)}")
    return tuple(values)


def _positive_int(key: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise SweepInputError(key, value, "expected a positive integer")
    return value


def parse_design(spec: Any) -> Design:
    """Validate a ``design:`` mapping and return a Design (raises SweepInputError)."""
    spec = _as_plain(spec)
    if not isinstance(spec, Mapping):
        raise SweepInputError("design", spec, "expected a mapping with kind and axes")
    known = {"kind", "axes", "samples", "levels", "second_order", "sampler_seed",
             "bootstrap_seed"}
    for key in spec:
        if key not in known:
            raise SweepInputError(f"design.{key}", spec[key], "unknown design setting")
    kind = spec.get("kind")
    if kind not in KINDS:
        raise SweepInputError("design.kind", kind,
                              f"unknown design kind (one of {', '.join(KINDS)})")
    axes_spec = spec.get("axes")
    if not isinstance(axes_spec, Mapping) or len(axes_spec) == 0:
        raise SweepInputError("design.axes", axes_spec, "expected at least one axis")
    axes = tuple(_parse_axis(kind, str(k), v) for k, v in axes_spec.items())
    samples = 0
    if kind != "grid":
        samples = _positive_int("design.samples", spec.get("samples"))
    if kind == "sobol" and samples & (samples - 1):
        raise SweepInputError("design.samples", samples, "Sobol base samples must be a power of 2")
    levels = _positive_int("design.levels", spec.get("levels", 4))
    if kind == "morris" and (levels < 2 or levels % 2):
        raise SweepInputError("design.levels", levels, "Morris levels must be even and >= 2")
    if kind in ("sobol", "morris") and len(axes) < 2:
        raise SweepInputError("design.axes", list(axes_spec), f"{kind} needs at least two axes")
    second_order = spec.get("second_order", False)
    if not isinstance(second_order, bool):
        raise SweepInputError("design.second_order", second_order, "expected true or false")
    sampler_seed = spec.get("sampler_seed", 0)
    if not isinstance(sampler_seed, int) or isinstance(sampler_seed, bool):
        raise SweepInputError("design.sampler_seed", sampler_seed, "expected an integer")
    bootstrap_seed = _positive_int("design.bootstrap_seed", spec.get("bootstrap_seed", 1))
    return Design(kind, axes, samples, levels, second_order, sampler_seed, bootstrap_seed)


def parse_seeds(seeds: Any) -> list[int]:
    """Validate the seed list shared by every design point (common random numbers)."""
    seeds = _as_plain(seeds)
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = [seeds]
    if not isinstance(seeds, Sequence) or isinstance(seeds, str) or len(seeds) == 0:
        raise SweepInputError("sweep.seeds", seeds, "expected a non-empty list of integers")
    for s in seeds:
        if not isinstance(s, int) or isinstance(s, bool) or s < 0:
            raise SweepInputError("sweep.seeds", seeds, f"seed {s!r} is not a non-negative int")
    if len(set(seeds)) != len(seeds):
        raise SweepInputError("sweep.seeds", seeds, "seeds must be distinct")
    return list(seeds)


def point_count(design: Design) -> int:
    """Design points the design will have, computed without sampling."""
    d = len(design.axes)
    if design.kind == "grid":
        return math.prod(len(a.values) for a in design.axes)
    if design.kind == "lhs":
        return design.samples
    if design.kind == "sobol":
        return design.samples * (2 * d + 2 if design.second_order else d + 2)
    return design.samples * (d + 1)                              # morris trajectories


def sample_matrix(design: Design) -> np.ndarray:
    """The raw SALib sample, one row per design point (sampled designs only)."""
    from SALib.sample import latin, morris, sobol

    problem = design.problem()
    if design.kind == "lhs":
        return latin.sample(problem, design.samples, seed=design.sampler_seed)
    if design.kind == "sobol":
        return sobol.sample(problem, design.samples, calc_second_order=design.second_order,
                            scramble=True, seed=design.sampler_seed)
    return morris.sample(problem, design.samples, num_levels=design.levels,
                         seed=design.sampler_seed)


def design_points(design: Design) -> pd.DataFrame:
    """One row per design point: ``point`` then one column per axis key (config values);
    sampled designs add the raw sample as ``x:<key>`` columns."""
    keys = [a.key for a in design.axes]
    if design.kind == "grid":
        rows = list(itertools.product(*(a.values for a in design.axes)))
        points = pd.DataFrame(rows, columns=keys)
    else:
        x = sample_matrix(design)
        points = pd.DataFrame(
            {a.key: [a.from_unit(v) for v in x[:, i]] for i, a in enumerate(design.axes)}
        )
        for i, a in enumerate(design.axes):
            points[RAW_PREFIX + a.key] = x[:, i]
    points.insert(0, "point", np.arange(len(points), dtype=np.int64))
    return points


def run_id(point: int, seed: int) -> str:
    """Folder name of one run: design point and seed."""
    return f"p{point:05d}-s{seed}"


def expand_runs(points: pd.DataFrame, seeds: Sequence[int]) -> pd.DataFrame:
    """Cross design points with the seed list: one row per run (``run_id``, ``point``,
    ``seed``, axis values), points outermost so each point's seeds sit together."""
    runs = points.merge(pd.DataFrame({"seed": list(seeds)}), how="cross")
    runs.insert(0, "run_id", [run_id(p, s) for p, s in zip(runs["point"], runs["seed"],
                                                            strict=True)])
    return runs.reset_index(drop=True)
