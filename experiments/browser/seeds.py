"""Seed statistics of the browser, grouped over design rows: medians with seed bands, and
paired differences over seeds with Student-t intervals (docs/design.md §2.11). The interval,
the confidence level and the fewest runs behind a band are those of ``experiments.paired``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.paired import MIN_BAND_RUNS, t_interval


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
    intervals = _grouped(frame, by, diff).apply(lambda d: t_interval(d.to_numpy()))
    out = pd.DataFrame({"diff": [iv.mean for iv in intervals],
                        "diff_low": [iv.low for iv in intervals],
                        "diff_high": [iv.high for iv in intervals],
                        "n_pairs": [iv.n for iv in intervals]}, index=intervals.index)
    return out.reset_index(drop=not by)
