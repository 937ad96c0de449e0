"""Seed statistics of the browser: medians with seed bands, and paired differences over
seeds with Student-t intervals (docs/design.md §2.11).

Query-side twin of ``experiments/paired.py`` (branch ``effects``: same confidence level,
t-intervals from two seeds on, seed bands only from MIN_BAND_RUNS runs); the two should be
unified once both are merged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

CONFIDENCE = 0.95      # two-sided level of every interval
MIN_BAND_RUNS = 3      # fewest runs behind a drawn seed band (min-max over seeds)


def _grouped(frame: pd.DataFrame, by: list[str], column: str):
    if by:
        return frame.groupby(by, sort=True, dropna=False)[column]
    return frame.assign(_all=0).groupby("_all")[column]


def seed_band(frame: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    """Per group of ``by``: median of ``value`` over its rows (one per seed), the seed band
    (min-max; NaN under MIN_BAND_RUNS rows) and the number of rows ``n_seeds``."""
    out = _grouped(frame, by, value).agg(median="median", low="min", high="max",
                                         n_seeds="count")
    thin = out["n_seeds"] < MIN_BAND_RUNS
    out.loc[thin, ["low", "high"]] = np.nan
    return out.reset_index(drop=not by)


def paired_interval(frame: pd.DataFrame, by: list[str], diff: str) -> pd.DataFrame:
    """Per group of ``by``: mean of the paired differences ``diff`` (one per seed) with its
    two-sided Student-t interval (NaN under two seeds) and the number of pairs ``n_pairs``."""
    out = _grouped(frame, by, diff).agg(diff="mean", sd="std", n_pairs="count")
    n = out["n_pairs"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = stats.t.ppf(0.5 + CONFIDENCE / 2, np.where(n >= 2, n - 1, np.nan))
        half = t * out["sd"].to_numpy(dtype=float) / np.sqrt(n)
    out["diff_low"], out["diff_high"] = out["diff"] - half, out["diff"] + half
    out = out[["diff", "diff_low", "diff_high", "n_pairs"]]
    return out.reset_index(drop=not by)
