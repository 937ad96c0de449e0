"""Policy effects as paired differences over seeds, with confidence intervals (docs/design.md §2.9).

A policy effect is `variant − reference` for runs that share a seed; its interval is the
Student-t interval of the mean over seeds. Levels are reported with their seed band
(min–max over seeds), drawn only where there are at least `MIN_BAND_RUNS` runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

CONFIDENCE = 0.95      # two-sided level of every interval the project prints
MIN_BAND_RUNS = 3      # fewest runs behind a drawn seed band or a printed interval


@dataclass(frozen=True)
class Interval:
    """Mean of per-seed values with its two-sided t-interval (nan bounds if n < 2)."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def spans_zero(self) -> bool:
        """Whether the interval contains 0 (or is undefined): the effect is not resolved."""
        return not (self.low > 0 or self.high < 0)

    def text(self, fmt: str = "{:+.3g}") -> str:
        """'mean [low, high]' (just the mean when there is no interval)."""
        if not np.isfinite(self.low):
            return fmt.format(self.mean)
        return f"{fmt.format(self.mean)} [{fmt.format(self.low)}, {fmt.format(self.high)}]"


def t_interval(values: np.ndarray | pd.Series, confidence: float = CONFIDENCE) -> Interval:
    """Student-t interval of the mean of `values` (one per seed), NaNs dropped."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return Interval(np.nan, np.nan, np.nan, 0)
    mean = float(x.mean())
    if n < 2:
        return Interval(mean, np.nan, np.nan, n)
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * x.std(ddof=1) / np.sqrt(n))
    return Interval(mean, mean - half, mean + half, n)


def paired_differences(frame: pd.DataFrame, by: str, reference: str, value: str,
                       seed: str = "seed", keys: tuple[str, ...] = ()) -> pd.DataFrame:
    """`value` of every `by` level minus the reference level's, paired on `seed` (and
    `keys`, e.g. year). One row per level (and key) with mean, low, high, n seeds; seeds
    the reference lacks are left out."""
    idx = [*keys, seed]
    ref = frame.loc[frame[by] == reference].set_index(idx)[value]
    rows = []
    for level, part in frame.loc[frame[by] != reference].groupby(by, sort=False):
        diff = (part.set_index(idx)[value] - ref).dropna()
        groups = diff.groupby(level=list(keys)) if keys else [((), diff)]
        for key, d in groups:
            iv = t_interval(d.to_numpy())
            key = key if isinstance(key, tuple) else (key,)
            rows.append({by: level, **dict(zip(keys, key, strict=True)), "diff_mean": iv.mean,
                         "diff_low": iv.low, "diff_high": iv.high, "n_seeds": iv.n})
    return pd.DataFrame(rows, columns=[by, *keys, "diff_mean", "diff_low", "diff_high",
                                       "n_seeds"])


def seed_band(frame: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    """Per group: mean, min and max over seeds and the number of runs; min/max are NaN
    where fewer than MIN_BAND_RUNS runs stand behind them (no band from one run)."""
    g = frame.groupby(by, sort=False)[value]
    out = g.agg(mean="mean", low="min", high="max", n_runs="count").reset_index()
    thin = out["n_runs"] < MIN_BAND_RUNS
    out.loc[thin, ["low", "high"]] = np.nan
    return out
