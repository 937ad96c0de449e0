"""Charts of the sweep browser, built from ``SweepBrowser.groups`` (pure: frame in,
``matplotlib.figure.Figure`` out; no pyplot, so they are safe in Solara's threads).

Levels: median over seeds, shaded (numeric x) or barred (categorical x) seed band where at
least three seeds stand behind it. Differences: mean paired difference to the reference
point with its 95 % t-interval, and the zero line. Colour and facet split the lines and
the panels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

PANEL_SIZE = (4.6, 3.2)     # inches of a chart without facets
FACET_SIZE = (3.0, 2.4)     # inches per facet panel
MAX_COLUMNS = 4             # facet panels per row
DPI = 85
TICKS = 5                   # at most this many major ticks per axis (each costs drawing time)
FACET_TICKS = 3             # the same on a facet panel
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")


def _label(axis: str | None, value) -> str:
    if axis is None:
        return ""
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return f"{axis.rsplit('.', 1)[-1]} = {text}"


def _panels(frame: pd.DataFrame, facet: str | None) -> list[tuple[object, pd.DataFrame]]:
    if facet is None:
        return [(None, frame)]
    return [(v, part) for v, part in frame.groupby(facet, sort=True)]


def _figure(n: int, title: str) -> tuple[Figure, list]:
    """A figure of ``n`` panels (at least one) sharing y, MAX_COLUMNS to a row."""
    n = max(n, 1)
    cols = min(n, MAX_COLUMNS)
    rows = -(-n // cols)
    width, height = PANEL_SIZE if n == 1 else FACET_SIZE
    fig = Figure(figsize=(width * cols, height * rows + 0.4), dpi=DPI)
    first = fig.add_subplot(rows, cols, 1)
    axes = [first, *(fig.add_subplot(rows, cols, i + 1, sharey=first) for i in range(1, n))]
    for ax in axes[1:]:
        ax.tick_params(labelleft=False)
    fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(left=0.09 if cols > 1 else 0.14, right=0.98,
                        top=0.8 if rows == 1 else 0.86, bottom=0.16 if rows == 1 else 0.1,
                        wspace=0.08, hspace=0.5)
    return fig, axes


def _draw(ax, part: pd.DataFrame, x: str | None, colour: str | None, mid: str, low: str,
          high: str, numeric_x: bool, categories: Sequence, ticks: int) -> None:
    series = [(None, part)] if colour is None else list(part.groupby(colour, sort=True))
    width = 0.6 / max(len(series), 1)
    for i, (value, rows) in enumerate(series):
        c = COLOURS[i % len(COLOURS)]
        label = _label(colour, value) or None
        if x is None:
            xs = np.array([i * width])
        elif numeric_x:
            rows = rows.sort_values(x)
            xs = rows[x].to_numpy(dtype=float)
        else:
            xs = np.array([list(categories).index(v) for v in rows[x]]) + (i - len(series) / 2
                                                                            + 0.5) * width
        ys = rows[mid].to_numpy(dtype=float)
        lo, hi = rows[low].to_numpy(dtype=float), rows[high].to_numpy(dtype=float)
        banded = np.isfinite(lo) & np.isfinite(hi)
        if numeric_x and x is not None:
            ax.plot(xs, ys, marker="o", ms=4, color=c, label=label)
            if banded.any():
                ax.fill_between(xs, np.where(banded, lo, ys), np.where(banded, hi, ys),
                                color=c, alpha=0.18, lw=0)
        else:
            err = np.vstack([np.where(banded, ys - lo, 0), np.where(banded, hi - ys, 0)])
            ax.errorbar(xs, ys, yerr=err, fmt="o", ms=5, color=c, capsize=3, label=label)
    if x is not None and not numeric_x:
        ax.set_xticks(range(len(categories)), [str(v) for v in categories], fontsize=7)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(ticks))
    ax.yaxis.set_major_locator(MaxNLocator(ticks))
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)


def group_figure(groups: pd.DataFrame, *, x: str | None, colour: str | None,
                 facet: str | None, numeric_x: bool, title: str, ylabel: str,
                 kind: str = "levels") -> Figure:
    """Levels (``kind='levels'``: median, seed band) or paired differences
    (``kind='diff'``: mean, t-interval, zero line) of the groups, by x, colour and facet."""
    mid, low, high = (("median", "low", "high") if kind == "levels"
                      else ("diff", "diff_low", "diff_high"))
    panels = _panels(groups, facet) if not groups.empty and mid in groups else []
    fig, axes = _figure(len(panels), title)
    if not panels:
        axes[0].text(0.5, 0.5, "no completed runs in this selection" if kind == "levels"
                     else "choose a reference row", ha="center", va="center",
                     transform=axes[0].transAxes, color="grey")
        return fig
    categories = sorted(groups[x].unique()) if x is not None and not numeric_x else []
    for ax, (value, part) in zip(axes, panels, strict=True):
        _draw(ax, part, x, colour, mid, low, high, numeric_x, categories,
              TICKS if facet is None else FACET_TICKS)
        if kind == "diff":
            ax.axhline(0.0, color="black", lw=0.8)
        if facet is not None:
            ax.set_title(_label(facet, value), fontsize=8, y=1.0)   # fixed: no auto layout
        if x is not None:
            ax.set_xlabel(x, fontsize=8)
    axes[0].set_ylabel(ylabel, fontsize=8)
    if colour is not None:   # one legend, in a fixed corner ('best' costs 0.1 s a panel)
        legend = {}
        for ax in axes:
            handles, labels = ax.get_legend_handles_labels()
            legend.update(zip(labels, handles, strict=True))
        axes[0].legend(list(legend.values()), list(legend), fontsize=7, loc="upper right",
                       framealpha=0.7)
    return fig
