"""Live views of the interactive explorer: matplotlib figures of one run so far.

The figure builders are pure (records in, ``Figure`` out) so they are testable without a
browser; the Solara components at the bottom wrap them for Mesa's SolaraViz. Figures use
``matplotlib.figure.Figure`` (not pyplot), which is safe in SolaraViz's play thread, with
fixed margins (a layout engine would double the drawing time of every month).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Protocol

import pandas as pd
import solara
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from model.run import compose_config
from model.schema import ModelConfig

ROLE_COLOURS = {"east": "#d62728", "central": "#ff7f0e", "west": "#1f77b4"}
CLASS_STYLES = {"realtime": ":", "interactive": "--", "batch": "-."}
FIGSIZE = (5.6, 3.4)
DPI = 85


class RunView(Protocol):
    """What the views read from a running model."""

    config: ModelConfig
    question: str   # the policy question the scenario serves

    def command(self) -> str: ...
    def national_table(self) -> pd.DataFrame: ...
    def nodes_now(self) -> pd.DataFrame: ...
    def flows_now(self) -> pd.DataFrame: ...


def _figure(title: str, right: float = 0.97) -> tuple[Figure, object]:
    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    fig.subplots_adjust(left=0.11, right=right, top=0.9, bottom=0.13)
    ax = fig.subplots()
    ax.set_title(title, fontsize=10)
    return fig, ax


def _time_axis(ax, months: pd.Series) -> None:
    """Concise month ticks; a lone first month gets a month of room either side."""
    if months.min() == months.max():
        ax.set_xlim(months.min() - pd.DateOffset(months=1), months.max() + pd.DateOffset(months=1))
    locator = AutoDateLocator(maxticks=7)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.tick_params(labelsize=7)


def _empty(ax, text: str = "press Step or Play") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")


def west_share_figure(national: pd.DataFrame) -> Figure:
    """Share of served load at western nodes, total and by latency class, by month."""
    fig, ax = _figure("Load served in the west (share of served MW)")
    if national.empty:
        _empty(ax)
        return fig
    ax.plot(national["month"], national["west_share"], color="black", lw=2, label="all load")
    for cls, style in CLASS_STYLES.items():
        col = f"west_share_{cls}"
        if col in national:
            ax.plot(national["month"], national[col], ls=style, lw=1.2, label=cls)
    ax.set_ylim(0, max(0.5, float(national["west_share"].max()) * 1.2))
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)
    _time_axis(ax, national["month"])
    return fig


@cache
def programme_targets() -> dict[str, float]:
    """The programme's targets drawn in the figures (conf/brief.yaml `brief.targets`):
    utilisation, pue_east (east and central hubs), pue_west."""
    return {k: float(v) for k, v in compose_config([], "brief").brief.targets.items()}


def utilisation_pue_figure(nodes: pd.DataFrame, month: str,
                           targets: Mapping[str, float] | None = None) -> Figure:
    """Utilisation and PUE of each node this month, against the programme's targets
    (`programme_targets()` unless given)."""
    t = programme_targets() if targets is None else targets
    pue_target = {"east": t["pue_east"], "central": t["pue_east"], "west": t["pue_west"]}
    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    fig.subplots_adjust(left=0.22, right=0.97, top=0.9, bottom=0.14, wspace=0.08)
    ax_u, ax_p = fig.subplots(1, 2, sharey=True)
    fig.suptitle(f"Utilisation and PUE by node, {month}", fontsize=10)
    if nodes.empty:
        _empty(ax_u)
        return fig
    y = range(len(nodes))
    colours = [ROLE_COLOURS.get(r, "grey") for r in nodes["role"]]
    ax_u.barh(y, nodes["utilisation"], color=colours)
    ax_u.axvline(t["utilisation"], color="black", ls="--", lw=1)
    ax_u.set_xlim(0, 1)
    ax_u.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax_u.set_xlabel(f"utilisation (target {t['utilisation'] * 100:g} %)", fontsize=8)
    ax_u.set_yticks(list(y), [n.replace("_", " ") for n in nodes["node"]], fontsize=7)
    ax_u.invert_yaxis()
    ax_p.barh(y, nodes["pue"] - 1.0, left=1.0, color=colours)
    for i, role in enumerate(nodes["role"]):
        target = pue_target.get(role, t["pue_east"])
        ax_p.plot([target, target], [i - 0.45, i + 0.45], color="black", lw=1.5)
    ax_p.set_xlim(1.0, max(1.6, float(nodes["pue"].max()) + 0.05))
    ax_p.set_xlabel(f"PUE (| = cap {t['pue_east']:g} east / {t['pue_west']:g} west)",
                    fontsize=8)
    for ax in (ax_u, ax_p):
        ax.tick_params(labelsize=7)
        ax.grid(axis="x", alpha=0.3)
    return fig


def map_figure(config: ModelConfig, nodes: pd.DataFrame, flows: pd.DataFrame,
               month: str) -> Figure:
    """Schematic map: nodes at their lat/lon sized by served MW; flows between nodes as arrows
    (width by MW; flows under 3 % of the largest are left out); UHV lines dashed."""
    fig, ax = _figure(f"Nodes and flows (origin -> serving), {month}")
    where = {n.name: (n.lon, n.lat) for n in config.geography.nodes}
    for line in config.geography.lines:
        if line.enabled and line.source in where and line.sink in where:
            (x0, y0), (x1, y1) = where[line.source], where[line.sink]
            ax.plot([x0, x1], [y0, y1], color="green", ls=(0, (4, 2)), lw=1.5, alpha=0.7)
    moved = flows[flows["origin"] != flows["serving"]] if not flows.empty else flows
    if not moved.empty:
        pairs = moved.groupby(["origin", "serving"], as_index=False)["mw"].sum()
        top = float(pairs["mw"].max()) or 1.0
        for row in pairs.itertuples():
            if row.origin in where and row.serving in where and row.mw > 0.03 * top:
                (x0, y0), (x1, y1) = where[row.origin], where[row.serving]
                ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops={
                    "arrowstyle": "-|>", "color": "purple", "alpha": 0.5,
                    "lw": 0.5 + 4.0 * row.mw / top, "shrinkA": 4, "shrinkB": 4})
    served = dict(zip(nodes["node"], nodes["served_mw"], strict=False)) if not nodes.empty else {}
    biggest = max(served.values(), default=0.0) or 1.0
    hubs = set(config.policy.national.hubs)
    for n in config.geography.nodes:
        size = 20 + 400 * served.get(n.name, 0.0) / biggest
        ax.scatter(n.lon, n.lat, s=size, color=ROLE_COLOURS.get(n.role, "grey"),
                   edgecolor="black" if n.name in hubs else "none", zorder=3, alpha=0.85)
        ax.annotate(n.name.replace("_", " "), (n.lon, n.lat), fontsize=6,
                    xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("longitude", fontsize=8)
    ax.set_ylabel("latitude", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_aspect("equal", adjustable="datalim")
    return fig


def energy_figure(national: pd.DataFrame) -> Figure:
    """Monthly facility electricity (TWh) and CO2 (Mt, location- and market-based)."""
    fig, ax = _figure("Electricity and CO2 per month", right=0.88)
    if national.empty:
        _empty(ax)
        return fig
    ax.plot(national["month"], national["twh"], color="black", lw=2, label="TWh")
    ax.set_ylabel("TWh / month", fontsize=8)
    ax2 = ax.twinx()
    ax2.plot(national["month"], national["co2_location_t"] / 1e6, color="brown",
             label="MtCO2 location-based")
    ax2.plot(national["month"], national["co2_market_t"] / 1e6, color="brown", ls="--",
             label="MtCO2 market-based")
    ax2.set_ylabel("MtCO2 / month", fontsize=8)
    ax.set_ylim(bottom=0)
    ax2.set_ylim(bottom=0)
    lines = ax.get_lines() + ax2.get_lines()
    ax.legend(lines, [ln.get_label() for ln in lines], fontsize=7, loc="lower left")
    ax.grid(alpha=0.3)
    ax2.tick_params(labelsize=7)
    _time_axis(ax, national["month"])
    return fig


def prices_figure(national: pd.DataFrame) -> Figure:
    """Capacity-weighted data-center prices by region, RMB per kW-month."""
    fig, ax = _figure("DC price, RMB per kW-month")
    if national.empty:
        _empty(ax)
        return fig
    for role, colour in ROLE_COLOURS.items():
        col = f"price_{role}"
        if col in national:
            ax.plot(national["month"], national[col], color=colour, label=role)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    _time_axis(ax, national["month"])
    return fig


KEY_NUMBERS: Sequence[tuple[str, str, str]] = (
    # (column, label, format)
    ("demand_mw", "Demand, MW IT", "{:,.0f}"),
    ("served_mw", "Served, MW IT", "{:,.0f}"),
    ("unserved_mw", "Unserved, MW IT", "{:,.0f}"),
    ("west_share", "Served in the west", "{:.1%}"),
    ("east_origin_west_share", "Eastern load served in the west", "{:.1%}"),
    ("utilisation", "Utilisation", "{:.1%}"),
    ("pue", "Average PUE", "{:.3f}"),
    ("twh", "Electricity, TWh this month", "{:.2f}"),
    ("green_share", "Green share of DC energy", "{:.1%}"),
    ("co2_location_t", "CO2 location-based, Mt", "{:.2f}"),
    ("co2_market_t", "CO2 market-based, Mt", "{:.2f}"),
    ("price_east", "Price east, RMB/kW-month", "{:,.0f}"),
    ("price_west", "Price west, RMB/kW-month", "{:,.0f}"),
    ("eflops", "Compute, EFLOPS", "{:,.0f}"),
    ("racks", "Racks (2.5 kW)", "{:,.0f}"),
    ("n_datacenters", "Data centers", "{:,.0f}"),
    ("subsidy_total_rmb", "Subsidies this month, RMB m", "{:,.1f}"),
)
SCALE = {"co2_location_t": 1e-6, "co2_market_t": 1e-6, "subsidy_total_rmb": 1e-6}


def key_numbers(national: pd.DataFrame) -> list[tuple[str, str]]:
    """(label, formatted value) pairs of the latest month, in display order."""
    if national.empty:
        return [("Month", "not started")]
    last = national.iloc[-1]
    rows = [("Month", pd.Timestamp(last["month"]).strftime("%Y-%m"))]
    for col, label, fmt in KEY_NUMBERS:
        if col in last.index and pd.notna(last[col]):
            rows.append((label, fmt.format(float(last[col]) * SCALE.get(col, 1.0))))
    return rows


def month_of(national: pd.DataFrame) -> str:
    """Label of the latest simulated month, e.g. ``2023-07``."""
    if national.empty:
        return "before the first month"
    return pd.Timestamp(national["month"].iloc[-1]).strftime("%Y-%m")


# ---------------------------------------------------------------- Solara components


def _show(fig: Figure):
    return solara.FigureMatplotlib(fig, format="png")


def WestShareView(model: RunView):
    """West share over time."""
    return _show(west_share_figure(model.national_table()))


def UtilisationPueView(model: RunView):
    """Utilisation and PUE by node against the targets."""
    return _show(utilisation_pue_figure(model.nodes_now(), month_of(model.national_table())))


def MapView(model: RunView):
    """Schematic map of nodes and flows."""
    return _show(map_figure(model.config, model.nodes_now(), model.flows_now(),
                            month_of(model.national_table())))


def EnergyView(model: RunView):
    """TWh and MtCO2 over time."""
    return _show(energy_figure(model.national_table()))


def PricesView(model: RunView):
    """Prices east, central and west over time."""
    return _show(prices_figure(model.national_table()))


def key_numbers_html(rows: list[tuple[str, str]], command: str, question: str = "") -> str:
    """The key-number table, two label/value pairs per line, and the re-run command."""
    cells = [f"<td>{html.escape(k)}</td><td class='num'>{html.escape(v)}</td>" for k, v in rows]
    if len(cells) % 2:
        cells.append("<td></td><td></td>")
    body = "".join(f"<tr>{a}{b}</tr>" for a, b in zip(cells[::2], cells[1::2], strict=True))
    return (
        "<style>.edwc-key td{padding:2px 8px;font-size:13px}.edwc-key td.num{text-align:right;"
        "font-weight:600}.edwc-key tr:nth-child(odd){background:#f4f6f8}"
        ".edwc-cmd{font-size:11px;white-space:pre-wrap;word-break:break-all;color:#444}</style>"
        f"<h4>This month</h4><p style='margin:0 0 4px;color:#555'>{html.escape(question)}</p>"
        f"<table class='edwc-key'>{body}</table>"
        f"<p style='margin:8px 0 2px'>Re-run from the shell:</p>"
        f"<code class='edwc-cmd'>{html.escape(command)}</code>"
    )


def KeyNumbersView(model: RunView):
    """Table of the current month's key numbers and the command that re-runs this run."""
    return solara.HTML(tag="div", unsafe_innerHTML=key_numbers_html(
        key_numbers(model.national_table()), model.command(), model.question),
        classes=["edwc-key-numbers"])


VIEWS = [KeyNumbersView, WestShareView, MapView, UtilisationPueView, EnergyView, PricesView]
