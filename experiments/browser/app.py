"""The sweep browser page (Solara): pick an outcome, a year or the whole run, an
aggregation and the design axes on x / colour / facet; filter design points by axis
ranges; see medians with seed bands, paired differences to a reference point with their
intervals, the table of points (CSV download) and the command that reproduces a run.

Served by ``python -m experiments.browser <sweep dir>`` (``make browse SWEEP=<dir>``), which
names the sweep in the environment variable ``EDWC_BROWSE_SWEEP`` before Solara imports
this module. Every browser session reads the same ``SweepBrowser``.
"""

from __future__ import annotations

import functools
import html
import math
import os
import time
from dataclasses import replace

import pandas as pd
import solara

from experiments.browser.charts import group_chart
from experiments.browser.query import Selection, SweepBrowser, csv_text, outcome
from model.outcomes import AGGREGATIONS

SWEEP_ENV = "EDWC_BROWSE_SWEEP"
NONE = "none"
WHOLE = "whole run"
DECLARED_AGG = "declared"
TABLE_ROWS = 200            # rows drawn on the page (the CSV has all)
CSS = """
.edwc-table table {border-collapse: collapse; font-size: 12px}
.edwc-table td, .edwc-table th {padding: 1px 8px; border-bottom: 1px solid #ddd}
.edwc-table td.num {text-align: right; font-family: monospace}
.edwc-cmd {display: block; white-space: pre-wrap; word-break: break-all; font-size: 12px}
"""


@functools.cache
def sweep_browser() -> SweepBrowser:
    """The browser over the sweep named by EDWC_BROWSE_SWEEP (one per server process)."""
    return SweepBrowser(os.environ[SWEEP_ENV])


def warm_up() -> None:
    """Open the sweep, compose the config a reproduce command starts from and run one query
    before the first visitor (seconds that would otherwise delay the first page)."""
    browser = sweep_browser()
    first = browser.design[browser.design["run_id"].isin(browser.done)].head(1)
    if not first.empty:
        reproduce(browser, int(first["point"].iat[0]), int(first["seed"].iat[0]))
        browser.run_values(next(iter(browser.outcomes())))


def reproduce(browser: SweepBrowser, point: int, seed: int) -> str:
    """The reproduce command of a run, or a shell comment saying why there is none yet."""
    try:
        return browser.reproduce_command(point, seed)
    except KeyError as err:
        return f"# {err.args[0]}"


def point_label(points: pd.DataFrame, point: int, axes: list[str]) -> str:
    """'p3: logit_scale_rmb=150, optimism=0.2' for a design point."""
    row = points.set_index("point").loc[point]
    values = ", ".join(f"{a.rsplit('.', 1)[-1]}={_fmt(row[a])}" for a in axes)
    return f"p{point}: {values}"


def _fmt(value) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def table_html(table: pd.DataFrame, unit: str) -> str:
    """The point table as an HTML table (first TABLE_ROWS rows)."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    body = []
    for row in table.head(TABLE_ROWS).itertuples(index=False):
        cells = "".join(f"<td class='num'>{html.escape(_fmt(v))}</td>" for v in row)
        body.append(f"<tr>{cells}</tr>")
    more = (f"<p>{len(table) - TABLE_ROWS} more rows in the CSV</p>"
            if len(table) > TABLE_ROWS else "")
    return (f"<p style='margin:0'>values in {html.escape(unit)}; low/high: seed band "
            f"(min-max, from 3 seeds); diff: paired difference to the reference point, "
            f"mean [95 % t-interval]</p><table><tr>{head}</tr>{''.join(body)}</table>{more}")


@solara.component
def AxisFilter(browser: SweepBrowser, axis: str, allowed, on_allowed) -> None:
    """Range (numeric axis: from / to) or choices (categorical axis) of one axis."""
    short = axis.rsplit(".", 1)[-1]
    if browser.numeric_axis(axis):
        low, high = allowed
        with solara.Row():
            solara.InputFloat(f"{short} from", value=low, continuous_update=False,
                              on_value=lambda v: on_allowed((v, high)))
            solara.InputFloat(f"{short} to", value=high, continuous_update=False,
                              on_value=lambda v: on_allowed((low, v)))
    else:
        solara.SelectMultiple(short, values=list(allowed), all_values=browser.axis_values(axis),
                              on_value=lambda v: on_allowed(tuple(v)))


def _heading(text: str) -> None:
    """A bold line (HTML, not Markdown: Solara's Markdown fetches KaTeX from its CDN path)."""
    solara.HTML(tag="b", unsafe_innerHTML=html.escape(text))


def full_range(browser: SweepBrowser, axis: str) -> tuple:
    values = browser.axis_values(axis)
    return (float(values[0]), float(values[-1])) if browser.numeric_axis(axis) else tuple(values)


@solara.component
def Page() -> None:
    """The sweep browser: controls in the sidebar, charts, table and command in the page."""
    browser = sweep_browser()
    axes = browser.axes
    names = browser.outcomes()
    solara.use_memo(browser.refresh, dependencies=[])      # once per visit, then on Refresh
    _, set_refreshed = solara.use_state(0)
    name, set_name = solara.use_state(next(iter(names)))
    period, set_period = solara.use_state(WHOLE)
    agg, set_agg = solara.use_state(DECLARED_AGG)
    x, set_x = solara.use_state(axes[0] if axes else NONE)
    colour, set_colour = solara.use_state(axes[1] if len(axes) > 1 else NONE)
    facet, set_facet = solara.use_state(NONE)
    filters, set_filters = solara.use_state({a: full_range(browser, a) for a in axes})
    reference, set_reference = solara.use_state(int(browser.points["point"].iat[0]))
    chosen, set_chosen = solara.use_state(int(browser.points["point"].iat[0]))
    seed, set_seed = solara.use_state(browser.seeds[0])

    point_labels = solara.use_memo(lambda: {point_label(browser.points, p, axes): int(p)
                                            for p in browser.points["point"]}, dependencies=[])
    by_point = {p: label for label, p in point_labels.items()}
    spec = outcome(name)
    labels = {label: n for n, label in names.items()}
    sel = Selection(name, None if period == WHOLE else int(period),
                    None if agg == DECLARED_AGG else agg,
                    None if x == NONE else x, None if colour == NONE else colour,
                    None if facet == NONE else facet, dict(filters), reference)
    points = browser.filtered_points(sel.filters)

    def chart(chosen: Selection, kind: str) -> bytes:
        """One chart as SVG bytes, drawn once per selection (not on every render)."""
        t0 = time.perf_counter()
        numeric_x = chosen.x is not None and browser.numeric_axis(chosen.x)
        if kind == "levels":
            title = (f"{spec.label}, {chosen.period or 'whole run'}, {chosen.aggregation}\n"
                     "median over seeds (band: seed min-max, from 3 seeds)")
        else:
            title = f"difference to p{chosen.reference}, same seeds\nmean with 95 % t-interval"
        image = group_chart(browser.groups(chosen), x=chosen.x, colour=chosen.colour,
                            facet=chosen.facet, numeric_x=numeric_x, title=title,
                            ylabel=spec.unit, kind=kind).encode()
        print(f"browser: {len(browser.done)} runs, {kind} chart "
              f"{(time.perf_counter() - t0) * 1000:.0f} ms", flush=True)
        return image

    # each view is redrawn only when what it shows changes: levels do not depend on the
    # reference, the table not on the chart axes, none of them on the reproduce row
    levels_sel = replace(sel, reference=None)
    table_sel = replace(sel, x=None, colour=None, facet=None)
    levels = solara.use_memo(lambda: chart(levels_sel, "levels"),
                             dependencies=[levels_sel, browser.done])
    diffs = solara.use_memo(lambda: chart(sel, "diff"), dependencies=[sel, browser.done])
    table = solara.use_memo(lambda: browser.point_table(table_sel),
                            dependencies=[table_sel, browser.done])

    solara.Style(CSS)
    solara.Title(f"EDWC sweep browser: {browser.path.name}")
    with solara.Sidebar():
        solara.Select("Outcome", values=list(labels), value=spec.label,
                      on_value=lambda v: set_name(labels[v]))
        solara.Select("Year", values=[WHOLE, *map(str, browser.years)], value=str(period),
                      on_value=set_period)
        solara.Select("Aggregation", values=[DECLARED_AGG, *AGGREGATIONS], value=agg,
                      on_value=set_agg)
        solara.Select("x axis", values=[NONE, *axes], value=x, on_value=set_x)
        solara.Select("Colour", values=[NONE, *axes], value=colour, on_value=set_colour)
        solara.Select("Facet", values=[NONE, *axes], value=facet, on_value=set_facet)
        solara.Select("Reference row", values=list(point_labels), value=by_point[reference],
                      on_value=lambda v: set_reference(point_labels[v]))
        _heading("Filter design rows")
        for axis in axes:
            AxisFilter(browser, axis, filters[axis],
                       lambda v, a=axis: set_filters({**filters, a: v}))

    with solara.Column(classes=["edwc-browser"]):
        with solara.Row():
            solara.HTML(tag="div", classes=["edwc-status"], unsafe_innerHTML=html.escape(
                f"Sweep {browser.path}: {len(browser.done)} of {browser.n_runs} runs done, "
                f"{len(points)} of {len(browser.points)} design rows selected"))
            solara.Button("Refresh", on_click=lambda: set_refreshed(browser.refresh()),
                          text=True)
        with solara.Row():
            solara.Image(levels, format="svg+xml")
            solara.Image(diffs, format="svg+xml")
        solara.HTML(tag="div", classes=["edwc-table"],
                    unsafe_innerHTML=table_html(table, spec.unit))
        solara.FileDownload(lambda: csv_text(table), filename=f"{browser.path.name}-rows.csv",
                            label="Download CSV")
        _heading("Reproduce one run")
        with solara.Row():
            solara.Select("Row", values=list(point_labels), value=by_point[chosen],
                          on_value=lambda v: set_chosen(point_labels[v]))
            solara.Select("Seed", values=[str(s) for s in browser.seeds], value=str(seed),
                          on_value=lambda v: set_seed(int(v)))
        command = solara.use_memo(lambda: reproduce(browser, chosen, seed),
                                  dependencies=[chosen, seed, browser.done])
        solara.HTML(tag="code", classes=["edwc-cmd"], unsafe_innerHTML=html.escape(command))
