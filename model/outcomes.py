"""Outcomes declared once (as EMA Workbench's `ScalarOutcome`): a name, the table and column
it is read from, how a year is aggregated, the display unit and label. Used by the run
summary (`model.outputs.summary_table`), the brief's key numbers and figures, sensitivity
analysis and validation (`experiments/`), the Mesa DataCollector's model reporters
(`MESA_REPORTERS`) and the EMA Workbench connector (`experiments/ema.py`)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from model.schema import month_label

AGGREGATIONS = ("mean", "sum", "december")


@dataclass(frozen=True)
class Outcome:
    """One scalar outcome per run and year."""

    name: str              # also the column of `table`
    agg: str               # mean: yearly mean of monthly values; sum: yearly total;
                           # december: the value of the year's last month
    scale: float           # display value = column value x scale
    unit: str              # display unit
    label: str             # display label, with the unit
    table: str = "national"

    @property
    def column(self) -> str:
        return self.name

    def raw(self, frame: pd.DataFrame, year: int | None = None) -> float:
        """The outcome of one run in `year` (all rows if None), in the column's own units;
        a yearly sum is annualised from the months present (x 12 / months)."""
        rows = frame if year is None else frame[frame["year"] == year]
        values = rows[self.column]
        if self.agg == "mean":
            return float(values.mean())
        if self.agg == "sum":
            return float(values.sum() * (12 / len(values)))
        return float(values.iloc[-1])

    def display(self, frame: pd.DataFrame, year: int | None = None) -> float:
        """`raw` in the display unit."""
        return self.raw(frame, year) * self.scale


def _declare(*outcomes: Outcome) -> dict[str, Outcome]:
    for o in outcomes:
        assert o.agg in AGGREGATIONS, o
    return {o.name: o for o in outcomes}


OUTCOMES: dict[str, Outcome] = _declare(
    Outcome("west_share", "mean", 100.0, "%", "west share of served load (%)"),
    Outcome("utilisation", "mean", 100.0, "%", "utilisation (%)"),
    Outcome("utilisation_east", "mean", 100.0, "%", "utilisation east (%)"),
    Outcome("utilisation_central", "mean", 100.0, "%", "utilisation central (%)"),
    Outcome("utilisation_west", "mean", 100.0, "%", "utilisation west (%)"),
    Outcome("pue", "mean", 1.0, "-", "average PUE (-)"),
    Outcome("twh", "sum", 1.0, "TWh/yr", "DC electricity (TWh/yr)"),
    Outcome("co2_location_t", "sum", 1e-6, "Mt/yr", "CO2 location-based (Mt/yr)"),
    Outcome("co2_market_t", "sum", 1e-6, "Mt/yr", "CO2 market-based (Mt/yr)"),
    Outcome("subsidy_total_rmb", "sum", 1e-9, "bn RMB/yr", "subsidy outlay (bn RMB/yr)"),
    Outcome("racks", "december", 1e-6, "m", "racks at year end (m)"),
    Outcome("unserved_mw", "mean", 1.0, "MW", "unserved load (MW, mean)"),
    Outcome("eflops", "december", 1.0, "EFLOPS", "compute at year end (EFLOPS)"),
    Outcome("eflops_intelligent", "december", 1.0, "EFLOPS",
            "intelligent compute at year end (EFLOPS)"),
)

# the outcomes of each use, in display order
SUMMARY = ("west_share", "utilisation_east", "utilisation_central", "utilisation_west", "pue",
           "twh", "co2_location_t", "co2_market_t", "racks", "unserved_mw")
KEY_NUMBERS = ("west_share", "utilisation", "pue", "twh", "co2_location_t", "co2_market_t",
               "subsidy_total_rmb")
ENERGY_PANELS = ("twh", "co2_location_t", "co2_market_t")
SENSITIVITY = (("west_share", 2030), ("co2_location_t", 2030), ("utilisation_west", 2030))


def _national(column: str):
    """A Mesa model reporter: `column` of the recorder's latest national row."""
    return lambda m: m.recorder.national[-1][column]


# `EDWCModel.datacollector`'s model reporters: month (YYYY-MM), seed and every declared national
# outcome in its column's units, read from the recorder (the source of truth)
MESA_REPORTERS = {
    "month": lambda m: month_label(m.month),
    "seed": lambda m: m.config.run.seed,
    **{o.column: _national(o.column) for o in OUTCOMES.values() if o.table == "national"},
}
