"""Policy-brief figures (docs/design.md §1.1, §2.11): one function per figure, each taking
loaded run tables
(DataFrames with ``run_id``, ``scenario``, ``seed`` columns, as ``experiments.brief`` loads
them from a sweep or a folder of runs) and returning a matplotlib Figure.

Every figure has a companion ``<name>_data`` function returning the tidy table of the numbers
it draws (the brief writes it as CSV). Uncertainty is shown as the median and a percentile band
across runs (seeds, and design points when a sweep varies levers) — percentile intervals, never
bootstrap: seaborn ``errorbar=("pi", 90)`` for yearly series, and the same percentiles
pre-aggregated in one groupby for monthly series (fast over 100s of runs × 168 months). Styles
and sizes come from ``conf/figures/`` (:class:`FigureStyle`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from experiments.paired import MIN_BAND_RUNS, t_interval  # noqa: E402
from model.constants import LATENCY_CLASSES, ROLES  # noqa: E402
from model.outcomes import ENERGY_PANELS, OUTCOMES  # noqa: E402

ROLE_ORDER = {role: i for i, role in enumerate(ROLES)}
DASHES = ["", (4, 2), (1, 1.5), (6, 2, 1, 2), (3, 1, 1, 1, 1, 1), (8, 3)]
HATCHES = ["", "//", "..", "xx", "\\\\", "oo"]


@dataclass
class FigureStyle:
    """Figure styles from ``conf/figures/*.yaml`` (sizes in inches, fonts in points)."""

    dpi: int = 150
    seaborn_style: str = "whitegrid"
    font_size: float = 9
    title_size: float = 10
    tick_size: float = 8
    legend_size: float = 8
    palette: str = "colorblind"
    palette_greyscale: str = "Greys"
    greyscale: bool = False
    sequential: str = "viridis"
    band: tuple[float, float] = (5.0, 95.0)
    sizes: dict[str, tuple[float, float]] = field(default_factory=dict)
    node_labels: dict[str, str] = field(default_factory=dict)   # node id -> name in figures

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> FigureStyle:
        """Build from the (plain or OmegaConf) ``figures`` config block."""
        plain = {k: cfg[k] for k in cfg}
        plain["band"] = tuple(float(b) for b in plain.get("band", (5, 95)))
        plain["sizes"] = {k: tuple(float(x) for x in v) for k, v in dict(plain.get("sizes",
                                                                              {})).items()}
        plain["node_labels"] = {str(k): str(v) for k, v in
                                dict(plain.get("node_labels") or {}).items()}
        return cls(**plain)

    def node_label(self, node: str) -> str:
        """A node's human name (``node_labels``), else its id with spaces."""
        return self.node_labels.get(node, node.replace("_", " "))

    @property
    def errorbar(self) -> tuple[str, float]:
        """Seaborn percentile interval for the configured band, e.g. ("pi", 90)."""
        return ("pi", self.band[1] - self.band[0])

    @property
    def quantiles(self) -> tuple[float, float]:
        return self.band[0] / 100, self.band[1] / 100

    def size(self, name: str) -> tuple[float, float]:
        return self.sizes.get(name, (8.0, 4.0))

    def apply(self) -> None:
        """Set the seaborn theme and font sizes for the figures that follow."""
        sns.set_theme(style=self.seaborn_style, rc={
            "font.size": self.font_size, "axes.titlesize": self.title_size,
            "axes.labelsize": self.font_size, "xtick.labelsize": self.tick_size,
            "ytick.labelsize": self.tick_size, "legend.fontsize": self.legend_size,
            "legend.title_fontsize": self.legend_size, "figure.dpi": 100,
            "savefig.dpi": self.dpi, "svg.fonttype": "none"})

    def colors(self, names: Sequence[str]) -> dict[str, Any]:
        """One colour per name (scenario, instrument), greyscale-safe when configured."""
        names = list(dict.fromkeys(names))
        if self.greyscale:
            greys = sns.color_palette(self.palette_greyscale, len(names) + 2)[2:]
            return dict(zip(names, greys[::-1], strict=True))
        return dict(zip(names, sns.color_palette(self.palette, len(names)), strict=True))

    def dashes(self, names: Sequence[str]) -> dict[str, Any]:
        """Dash patterns per name: distinct in greyscale, solid otherwise."""
        names = list(dict.fromkeys(names))
        return {n: (DASHES[i % len(DASHES)] if self.greyscale else "") for i, n in
                enumerate(names)}


# ---------------------------------------------------------------- shared helpers

def scenarios_in(frame: pd.DataFrame) -> list[str]:
    """Scenario names in order of first appearance."""
    return list(dict.fromkeys(frame["scenario"].astype(str)))


def band(frame: pd.DataFrame, by: Sequence[str], value: str,
         quantiles: tuple[float, float] = (0.05, 0.95)) -> pd.DataFrame:
    """Median and percentile band of ``value`` across runs within each ``by`` group; the
    band is NaN (not drawn) where fewer than ``MIN_BAND_RUNS`` runs stand behind it."""
    grouped = frame.groupby(list(by), sort=False, observed=True)[value]
    out = grouped.median().rename("median").to_frame()
    out["p05"] = grouped.quantile(quantiles[0])
    out["p95"] = grouped.quantile(quantiles[1])
    out["n_runs"] = grouped.size()
    out.loc[out["n_runs"] < MIN_BAND_RUNS, ["p05", "p95"]] = np.nan
    return out.reset_index()


def yearly(national: pd.DataFrame, columns: Sequence[str], agg: str = "mean") -> pd.DataFrame:
    """Per run and year: monthly means, or yearly totals annualised from the months simulated
    (``sum`` × 12 / months, so a partial last year is comparable)."""
    keys = ["run_id", "scenario", "seed", "year"]
    grouped = national.groupby(keys, sort=False)[list(columns)]
    if agg == "mean":
        return grouped.mean().reset_index()
    months = national.groupby(keys, sort=False)["month"].size()
    return grouped.sum().mul(12 / months, axis=0).reset_index()


def pick_year(frame: pd.DataFrame, year: int) -> int:
    """``year`` if the runs reach it, else the last simulated year."""
    years = sorted(frame["year"].unique())
    return int(year) if year in years else int(years[-1])


def _legend_below(fig: Figure, ax: plt.Axes, ncol: int | None = None, title: str | None = None
                  ) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=ncol or min(len(labels), 5),
                   frameon=False, title=title, bbox_to_anchor=(0.5, 0.0))


def _finish(fig: Figure, title: str, legend_rows: float = 1) -> Figure:
    """Title the figure and leave ~0.3 inch per legend row below the panels."""
    fig.suptitle(title, fontweight="bold")
    fig.tight_layout(rect=(0, min(0.3 * legend_rows / fig.get_figheight(), 0.3), 1, 1))
    return fig


# ---------------------------------------------------------------- west share over time

def west_share_data(national: pd.DataFrame, style: FigureStyle | None = None,
                    columns: Sequence[str] = ("west_share",)) -> pd.DataFrame:
    """Monthly west share of served load (%), median and band across runs, per scenario."""
    q = (style or FigureStyle()).quantiles
    frames = []
    for col in columns:
        part = national[["scenario", "month", "run_id"]].assign(value=100 * national[col])
        out = band(part, ["scenario", "month"], "value", q)
        out.insert(1, "series", col)
        frames.append(out)
    return pd.concat(frames, ignore_index=True)


def _share_lines(ax: plt.Axes, national: pd.DataFrame, column: str, style: FigureStyle,
                 scenarios: Sequence[str]) -> None:
    """Median line and percentile band per scenario, drawn from the pre-aggregated table
    (the same numbers as the CSV; one vectorised groupby instead of a per-month apply)."""
    data = west_share_data(national, style, [column])
    colors, dashes = style.colors(scenarios), style.dashes(scenarios)
    for scn in scenarios:
        s = data[data["scenario"] == scn].sort_values("month")
        line, = ax.plot(s["month"], s["median"], color=colors[scn], lw=1.6, label=scn)
        if dashes[scn]:
            line.set_dashes(dashes[scn])
        ax.fill_between(s["month"], s["p05"], s["p95"], color=colors[scn], alpha=0.2, lw=0)
    ax.set_xlabel("month")
    ax.set_ylabel("west share of served load (%)")
    ax.set_ylim(bottom=0)
    ax.legend()


def west_share(national: pd.DataFrame, style: FigureStyle) -> Figure:
    """West share of served load (%) over time: median line and 5–95 % band across runs, one
    line per scenario (docs/design.md §1.1 Q1)."""
    scenarios = scenarios_in(national)
    fig, ax = plt.subplots(figsize=style.size("west_share"))
    _share_lines(ax, national, "west_share", style, scenarios)
    _legend_below(fig, ax)
    lo, hi = style.band
    return _finish(fig, f"Load served in the west (median, {lo:g}–{hi:g} % band across "
                        f"runs)")


def west_share_by_class_data(national: pd.DataFrame, style: FigureStyle | None = None
                             ) -> pd.DataFrame:
    """Monthly west share (%) by latency class, median and band across runs, per scenario."""
    return west_share_data(national, style, [f"west_share_{c}" for c in LATENCY_CLASSES])


def west_share_by_class(national: pd.DataFrame, style: FigureStyle) -> Figure:
    """West share of served load (%) by latency class (real-time ≤ 5 ms, interactive ≤ 20 ms,
    batch), one panel per class, one line per scenario."""
    scenarios = scenarios_in(national)
    fig, axes = plt.subplots(1, len(LATENCY_CLASSES), figsize=style.size("west_share_by_class"),
                             sharey=True)
    for ax, cls in zip(axes, LATENCY_CLASSES, strict=True):
        _share_lines(ax, national, f"west_share_{cls}", style, scenarios)
        ax.set_title(cls)
        ax.tick_params(axis="x", labelrotation=30)
    for ax in axes[1:]:
        ax.get_legend().remove()
    _legend_below(fig, axes[0])
    return _finish(fig, "West share by latency class (median and band across runs)")


# ---------------------------------------------------------------- hub scorecard

def hub_scorecard_data(node: pd.DataFrame, years: Sequence[int],
                       style: FigureStyle | None = None) -> pd.DataFrame:
    """Yearly mean utilisation (%) and PUE (-) by node, scenario and year (median and band
    across runs), for the years the runs reach."""
    q = (style or FigureStyle()).quantiles
    part = node[node["year"].isin(list(years))]
    per_run = (part.groupby(["run_id", "scenario", "year", "node", "role", "hub"], sort=False)
               [["utilisation", "pue"]].mean().reset_index())
    per_run["utilisation"] *= 100
    frames = []
    for metric in ("utilisation", "pue"):
        out = band(per_run, ["scenario", "year", "node", "role", "hub"], metric, q)
        out.insert(0, "metric", "utilisation_pct" if metric == "utilisation" else "pue")
        frames.append(out)
    return pd.concat(frames, ignore_index=True)


def hub_scorecard(node: pd.DataFrame, style: FigureStyle, years: Sequence[int],
                  targets: Mapping[str, float]) -> Figure:
    """Utilisation (%) and average PUE (-) by node vs the utilisation and new-build PUE
    targets (`targets`: utilisation, pue_east, pue_west from conf/brief.yaml `brief.targets`),
    one row of panels per year (docs/design.md §1.1 Q2)."""
    data = hub_scorecard_data(node, years, style)
    years = sorted(data["year"].unique())
    scenarios = scenarios_in(data)
    colors = style.colors(scenarios)
    nodes = (data[["node", "role", "hub"]].drop_duplicates("node")
             .assign(order=lambda d: d["role"].map(ROLE_ORDER))
             .sort_values(["order", "node"]))
    ypos = {n: i for i, n in enumerate(nodes["node"])}
    labels = [f"{style.node_label(n)} ({r}{', hub' if h else ''})" for n, r, h in
              zip(nodes["node"], nodes["role"], nodes["hub"], strict=True)]
    width, height = style.size("hub_scorecard")   # height per year
    fig, axes = plt.subplots(len(years), 2, figsize=(width, height * len(years) + 0.6),
                             sharey=True, squeeze=False)
    offsets = np.linspace(-0.25, 0.25, len(scenarios)) if len(scenarios) > 1 else [0.0]
    markers = ["o", "s", "D", "^", "v", "P", "X"]
    for row, year in enumerate(years):
        for col, metric in enumerate(("utilisation_pct", "pue")):
            ax = axes[row, col]
            sub = data[(data["year"] == year) & (data["metric"] == metric)]
            for k, scn in enumerate(scenarios):
                s = sub[sub["scenario"] == scn]
                y = s["node"].map(ypos) + offsets[k]
                ax.errorbar(s["median"], y, xerr=[s["median"] - s["p05"], s["p95"] - s["median"]],
                            fmt=markers[k % len(markers)], color=colors[scn], ms=4, lw=1,
                            capsize=2, label=scn)
            if metric == "utilisation_pct":
                ax.axvline(100 * targets["utilisation"], color="0.3", ls="--", lw=1,
                           label=f"target {100 * targets['utilisation']:g} %")
                ax.set_xlabel("rack utilisation (%)")
            else:
                for n, r in zip(nodes["node"], nodes["role"], strict=True):
                    cap = targets["pue_west"] if r == "west" else targets["pue_east"]
                    ax.plot([cap, cap], [ypos[n] - 0.4, ypos[n] + 0.4], color="0.3", lw=1.5,
                            ls="--")
                ax.plot([], [], color="0.3", ls="--", lw=1.5,
                        label=f"new-build cap {targets['pue_east']:g} east / "
                              f"{targets['pue_west']:g} west")
                ax.set_xlabel("average PUE (-)")
            ax.set_title(f"{year}")
            ax.set_yticks(range(len(labels)), labels)
            ax.set_ylim(len(labels) - 0.5, -0.5)
    found: dict[str, Any] = {}
    for ax in axes[0]:
        for h, n in zip(*ax.get_legend_handles_labels(), strict=True):
            found.setdefault(n, h)
    names = scenarios + [n for n in found if n not in scenarios]
    ncol = min(len(names), 5)
    fig.legend([found[n] for n in names], names, loc="lower center", ncol=ncol, frameon=False)
    lo, hi = style.band
    return _finish(fig, f"Hub scorecard: yearly means, median and {lo:g}–{hi:g} % range "
                        f"across runs", legend_rows=-(-len(names) // ncol))


# ---------------------------------------------------------------- sweep heatmap

def parse_outcome(text: str) -> tuple[str, str]:
    """``column:mean|sum`` → (column, aggregation)."""
    column, _, agg = text.partition(":")
    return column, agg or "mean"


def outcome_scale(column: str) -> float:
    """Display scale: a declared outcome's (`model.outcomes`); otherwise shares in %, tCO2
    in MtCO2, RMB in bn RMB."""
    if column in OUTCOMES:
        return OUTCOMES[column].scale
    if "share" in column or column.startswith("utilisation"):
        return 100.0
    if column.endswith("_t"):
        return 1e-6
    if column.endswith("_rmb"):
        return 1e-9
    return 1.0


def outcome_label(column: str, agg: str) -> str:
    if column in OUTCOMES:
        return OUTCOMES[column].label
    unit = {1e-9: "bn RMB/yr", 1e-6: "Mt/yr", 100.0: "%"}.get(outcome_scale(column), "")
    return f"{column} ({agg}{', ' + unit if unit else ''})"


def _binned(values: pd.Series, bins: int) -> pd.Series:
    """Grid values as they are; continuous samples binned to interval mid-points."""
    if values.nunique() <= max(bins, 8):
        return values
    cut = pd.cut(values, bins)
    return cut.map(lambda iv: round(iv.mid, 4)).astype(float)


def sweep_heatmap_data(national: pd.DataFrame, levers: Sequence[str], outcomes: Sequence[str],
                       year: int, bins: int = 5) -> pd.DataFrame:
    """Each outcome in ``year`` over a grid of two swept levers; long table: outcome,
    lever_x, lever_y, median (level across runs), n_runs, and the difference from the
    reference cell (both levers at their lowest level) paired by seed (runs of a cell and
    seed averaged over any other axes): diff_mean, diff_low, diff_high (95 % t-interval),
    n_pairs."""
    x, y = levers[:2]
    frames = []
    for text in outcomes:
        column, agg = parse_outcome(text)
        per_run = yearly(national[national["year"] == year], [column], agg)
        levels = national.drop_duplicates("run_id").set_index("run_id")[[x, y]]
        per_run = per_run.join(levels, on="run_id")
        per_run[x] = _binned(per_run[x].astype(float), bins)
        per_run[y] = _binned(per_run[y].astype(float), bins)
        per_run["value"] = per_run[column] * outcome_scale(column)
        out = (per_run.groupby([x, y])["value"].agg(["median", "size"])
               .rename(columns={"size": "n_runs"}).reset_index())
        cell_seed = per_run.groupby([x, y, "seed"])["value"].mean()
        ref = cell_seed.xs((per_run[x].min(), per_run[y].min()), level=[x, y])
        diffs = []
        for (cx, cy), part in cell_seed.groupby(level=[x, y]):
            d = (part.droplevel([x, y]) - ref).dropna()
            iv = t_interval(d.to_numpy())
            diffs.append({x: cx, y: cy, "diff_mean": iv.mean, "diff_low": iv.low,
                          "diff_high": iv.high, "n_pairs": iv.n})
        out = out.merge(pd.DataFrame(diffs), on=[x, y], how="left")
        out.insert(0, "outcome", f"{column}:{agg}")
        out.insert(1, "year", year)
        frames.append(out.rename(columns={x: "lever_x", y: "lever_y"})
                      .assign(lever_x_name=x, lever_y_name=y))
    return pd.concat(frames, ignore_index=True)


def sweep_heatmap(national: pd.DataFrame, style: FigureStyle, levers: Sequence[str],
                  outcomes: Sequence[str], year: int, bins: int = 5) -> Figure:
    """Outcomes in ``year`` over two swept levers, one panel per outcome (docs/design.md §1.1
    Q5): the difference from the reference cell paired by seed. The colour scale is symmetric
    and at least as wide as the largest interval, so noise never fills it; cells whose interval
    spans zero are hatched; annotations give the difference and its half-width."""
    data = sweep_heatmap_data(national, levers, outcomes, year, bins)
    names = list(dict.fromkeys(data["outcome"]))
    fig, axes = plt.subplots(1, len(names), figsize=style.size("sweep_heatmap"), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        column, agg = parse_outcome(name)
        sub = data[data["outcome"] == name]
        grid = sub.pivot(index="lever_y", columns="lever_x",
                         values="diff_mean").sort_index(ascending=False)
        half = ((sub["diff_high"] - sub["diff_low"]) / 2).rename("half")
        hw = sub.assign(half=half).pivot(index="lever_y", columns="lever_x",
                                         values="half").reindex_like(grid)
        lo = sub.pivot(index="lever_y", columns="lever_x", values="diff_low").reindex_like(grid)
        hi = sub.pivot(index="lever_y", columns="lever_x", values="diff_high").reindex_like(grid)
        limit = float(np.nanmax([np.nanmax(np.abs(grid.to_numpy())),
                                 np.nanmax(hw.to_numpy(), initial=0.0), 1e-12]))
        labels = np.array([[f"{m:+.3g}" + (f"\n±{h:.2g}" if np.isfinite(h) else "")
                            for m, h in zip(mr, hr, strict=True)]
                           for mr, hr in zip(grid.to_numpy(), hw.to_numpy(), strict=True)])
        sns.heatmap(grid, ax=ax, cmap="RdBu_r", center=0.0, vmin=-limit, vmax=limit,
                    annot=labels if grid.size <= 64 else False, fmt="",
                    annot_kws={"fontsize": style.tick_size - 2},
                    cbar_kws={"label": f"Δ {outcome_label(column, agg)}"})
        unresolved = ~((lo.to_numpy() > 0) | (hi.to_numpy() < 0))
        for (r, c), flag in np.ndenumerate(unresolved):
            if flag:
                ax.add_patch(plt.Rectangle((c, r), 1, 1, fill=False, hatch="///",
                                           edgecolor="0.35", lw=0))
        ax.set_xlabel(_lever_label(levers[0]))
        ax.set_ylabel(_lever_label(levers[1]))
        ax.set_title(f"Δ {outcome_label(column, agg)}, {year}", fontsize=style.font_size)
    return _finish(fig, "Sweep outcomes over two levers: difference from the lowest-level cell, "
                        "paired by seed (±: 95 % half-width; hatched: interval spans 0)",
                   legend_rows=0)


def _lever_label(name: str) -> str:
    """A swept key as an axis label; rates and discounts are shares (0–1)."""
    short = name.split(".")[-1] if "." in name else name
    unit = " (share, 0–1)" if any(w in name for w in ("rate", "discount", "share")) else " (-)"
    if name.endswith(".gw"):
        unit = " (GW)"
    elif "route_factor" in name:
        unit = " (-)"
    elif name.endswith("_rmb") or "_rmb_" in name:
        unit = " (RMB)"
    return f"{short}{unit}" if short == name else f"{short}{unit}\n{name}"


# ---------------------------------------------------------------- emissions and electricity

def _energy_panels() -> list[tuple[str, float, str]]:
    """(column, display scale, label) of the declared energy outcomes."""
    return [(OUTCOMES[n].column, OUTCOMES[n].scale, OUTCOMES[n].label) for n in ENERGY_PANELS]


def emissions_electricity_data(national: pd.DataFrame, style: FigureStyle | None = None
                               ) -> pd.DataFrame:
    """Yearly DC electricity (TWh/yr) and CO2 (MtCO2/yr, location- and market-based), median
    and band across runs per scenario (partial years annualised)."""
    q = (style or FigureStyle()).quantiles
    per_run = yearly(national, [c for c, _, _ in _energy_panels()], "sum")
    frames = []
    for column, scale, _ in _energy_panels():
        part = per_run.assign(value=per_run[column] * scale)
        out = band(part, ["scenario", "year"], "value", q)
        out.insert(0, "metric", {"twh": "twh_per_yr"}.get(column, column.replace(
            "_t", "_mt_per_yr")))
        frames.append(out)
    return pd.concat(frames, ignore_index=True)


def emissions_electricity(national: pd.DataFrame, style: FigureStyle) -> Figure:
    """DC electricity (TWh/yr) and CO2 (MtCO2/yr) on location- and market-based accounting,
    by scenario over time (docs/design.md §1.1 Q3)."""
    scenarios = scenarios_in(national)
    per_run = yearly(national, [c for c, _, _ in _energy_panels()], "sum")
    fig, axes = plt.subplots(1, 3, figsize=style.size("emissions_electricity"))
    for ax, (column, scale, label) in zip(axes, _energy_panels(), strict=True):
        plot = per_run.assign(value=per_run[column] * scale)
        sns.lineplot(plot, x="year", y="value", hue="scenario", style="scenario",
                     hue_order=scenarios, style_order=scenarios, palette=style.colors(scenarios),
                     dashes=style.dashes(scenarios), estimator="median", errorbar=style.errorbar,
                     ax=ax, marker="o", ms=3, linewidth=1.5)
        ax.set_xlabel("year")
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True, nbins=6))
    for ax in axes[1:]:
        ax.get_legend().remove()
    _legend_below(fig, axes[0])
    return _finish(fig, "Electricity and emissions of data centers (median and band across "
                        "runs)")


# ---------------------------------------------------------------- sensitivity

def sensitivity_data(table: pd.DataFrame) -> pd.DataFrame:
    """The sensitivity table of ``experiments.sensitivity`` (output, parameter, index, mean,
    std, min, max across seeds) restricted to the plotted columns."""
    cols = ["output", "parameter", "index", "mean", "std", "min", "max", "n_seeds"]
    return table[[c for c in cols if c in table.columns]].copy()


def sensitivity(table: pd.DataFrame, style: FigureStyle) -> Figure:
    """Sobol (S1, ST) or Morris (mu*, sigma) indices per parameter, one panel per output; bars
    are means across seeds, whiskers the min–max across seeds."""
    data = sensitivity_data(table)
    outputs = list(dict.fromkeys(data["output"]))
    indices = list(dict.fromkeys(data["index"]))
    colors = style.colors(indices)
    w, h = style.size("sensitivity")
    fig, axes = plt.subplots(1, len(outputs), figsize=(max(w, 3.2 * len(outputs)), h),
                             sharey=True, squeeze=False)
    params = list(dict.fromkeys(data["parameter"]))
    height = 0.8 / len(indices)
    for ax, out in zip(axes[0], outputs, strict=True):
        sub = data[data["output"] == out]
        for k, idx in enumerate(indices):
            s = sub[sub["index"] == idx].set_index("parameter").reindex(params)
            y = np.arange(len(params)) + (k - (len(indices) - 1) / 2) * height
            ax.barh(y, s["mean"], height, color=colors[idx], label=idx,
                    hatch=HATCHES[k] if style.greyscale else None, edgecolor="0.2",
                    linewidth=0.4, xerr=[s["mean"] - s["min"], s["max"] - s["mean"]],
                    capsize=2, error_kw={"lw": 0.8})
        ax.set_yticks(range(len(params)), [p.split(".")[-1] for p in params])
        ax.set_ylim(len(params) - 0.5, -0.5)
        ax.set_title(out, fontsize=style.font_size)
        unit = "(share of variance, -)" if "S1" in indices else "(output units)"
        ax.set_xlabel(f"index {unit}")
    _legend_below(fig, axes[0][0], ncol=len(indices), title="index")
    n = int(data["n_seeds"].max()) if "n_seeds" in data else 0
    return _finish(fig, f"Sensitivity: mean across {n} seeds, whiskers min–max", legend_rows=1.6)


# ---------------------------------------------------------------- schematic map

def schematic_map_data(node: pd.DataFrame, flows: pd.DataFrame, geo: pd.DataFrame,
                       scenario: str, year: int, top: int = 8) -> pd.DataFrame:
    """Nodes (capacity MW, utilisation %, at lat/lon) and the ``top`` largest east→west flows
    (MW) in ``year`` for one scenario, medians across runs; long table with kind node|flow."""
    nod = node[(node["scenario"] == scenario) & (node["year"] == year)]
    per_run = nod.groupby(["run_id", "node"])[["capacity_mw", "utilisation"]].mean()
    nodes = per_run.groupby("node").median().reset_index()
    nodes["utilisation"] *= 100
    nodes = nodes.merge(geo[["node", "lat", "lon", "role"]], on="node")
    roles = geo.set_index("node")["role"]
    fl = flows[(flows["scenario"] == scenario) & (flows["year"] == year)]
    fl = fl[(fl["origin"].map(roles) == "east") & (fl["serving"].map(roles) == "west")]
    runs = nod["run_id"].nunique()
    per_pair = (fl.groupby(["run_id", "origin", "serving"])["mw"].sum().unstack(["origin",
                                                                                 "serving"])
                .reindex(nod["run_id"].unique()).fillna(0.0).median().rename("mw")
                .reset_index().sort_values("mw", ascending=False).head(top))
    per_pair = per_pair[per_pair["mw"] > 0]
    return pd.concat([
        nodes.rename(columns={"utilisation": "utilisation_pct"}).assign(kind="node"),
        per_pair.assign(kind="flow")], ignore_index=True).assign(
            scenario=scenario, year=year, n_runs=runs)


def schematic_map(node: pd.DataFrame, flows: pd.DataFrame, geo: pd.DataFrame,
                  style: FigureStyle, scenario: str, year: int, top: int = 8,
                  label_above: Sequence[str] = ()) -> Figure:
    """Schematic map (no basemap): nodes at lat/lon sized by capacity (MW) and coloured by
    utilisation (%); arrows for the largest east→west flows (MW), width ∝ MW. Node labels go
    below the marker, or above for the nodes in ``label_above``."""
    data = schematic_map_data(node, flows, geo, scenario, year, top)
    nodes = data[data["kind"] == "node"]
    arrows = data[data["kind"] == "flow"]
    pos = nodes.set_index("node")[["lon", "lat"]]
    fig, ax = plt.subplots(figsize=style.size("schematic_map"))
    cap_max = max(float(nodes["capacity_mw"].max()), 1.0)
    flow_max = max(float(arrows["mw"].max()), 1.0) if len(arrows) else 1.0
    for a in arrows.itertuples(index=False):
        (x0, y0), (x1, y1) = pos.loc[a.origin], pos.loc[a.serving]
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), zorder=1,
                    arrowprops={"arrowstyle": "-|>", "color": "0.35", "alpha": 0.7,
                                "lw": 0.8 + 5 * a.mw / flow_max, "shrinkA": 8, "shrinkB": 10,
                                "connectionstyle": "arc3,rad=0.15", "mutation_scale": 12})
    sizes = 40 + 1200 * nodes["capacity_mw"] / cap_max
    sc = ax.scatter(nodes["lon"], nodes["lat"], s=sizes,
                    c=nodes["utilisation_pct"], cmap=style.sequential, vmin=0, vmax=100,
                    edgecolor="0.15", linewidth=0.6, zorder=2)
    for n, size in zip(nodes.itertuples(index=False), sizes, strict=True):
        gap = np.sqrt(size) / 2 + 2                     # marker radius in points, plus 2
        above = n.node in set(label_above)
        ax.annotate(style.node_label(n.node), (n.lon, n.lat), xytext=(0, gap if above else -gap),
                    textcoords="offset points", ha="center", va="bottom" if above else "top",
                    fontsize=style.tick_size - 0.5, zorder=3)
    fig.colorbar(sc, ax=ax, label="utilisation (%)", shrink=0.7)
    for mw in _nice_sizes(cap_max):
        ax.scatter([], [], s=40 + 1200 * mw / cap_max, color="0.8", edgecolor="0.15",
                   label=f"{mw:,.0f} MW")
    if len(arrows):
        ax.plot([], [], color="0.35", lw=0.8 + 5, label=f"flow {flow_max:,.0f} MW")
    ax.legend(loc="lower left", fontsize=style.legend_size, labelspacing=1.6, borderpad=0.9,
              title="capacity (IT MW), flow (MW)", title_fontsize=style.legend_size)
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.set_xlim(nodes["lon"].min() - 6, nodes["lon"].max() + 4)
    ax.set_ylim(nodes["lat"].min() - 7, nodes["lat"].max() + 3)
    ax.set_aspect(1 / np.cos(np.deg2rad(nodes["lat"].mean())))
    return _finish(fig, f"Schematic map: {scenario}, {year} (median across runs; top "
                        f"{len(arrows)} east→west flows)", legend_rows=0)


def _nice_sizes(cap_max: float) -> list[float]:
    """Two round capacities (MW) for the size legend, at most half the largest node."""
    mag = 10 ** np.floor(np.log10(cap_max / 2))
    top = np.floor(cap_max / 2 / mag) * mag
    return [top / 4, top] if top / 4 >= 1 else [top]
