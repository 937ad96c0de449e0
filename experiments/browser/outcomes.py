"""The outcomes the browser offers: the project's declared outcomes (name = column of a run
table, yearly aggregation, display scale, unit, label).

Adapter: ``model/outcomes.py`` (branch ``arch``) declares them once. Until that module is on
this branch, the same declarations are mirrored below; once it is merged, the import succeeds
and the mirror is unused — delete it then (the integrator's switch).
"""

from __future__ import annotations

from dataclasses import dataclass

AGGREGATIONS = ("mean", "sum", "december")   # as model/outcomes.py (arch)


@dataclass(frozen=True)
class Outcome:
    """One scalar outcome per run and year (mirror of ``model.outcomes.Outcome``)."""

    name: str              # also the column of `table`
    agg: str               # mean: yearly mean of monthly values; sum: yearly total
                           # (annualised from the months present); december: last month
    scale: float           # display value = column value x scale
    unit: str              # display unit
    label: str             # display label, with the unit
    table: str = "national"

    @property
    def column(self) -> str:
        return self.name


try:
    from model.outcomes import OUTCOMES as DECLARED  # type: ignore[import-not-found]
except ImportError:   # arch not merged yet: its declarations, unchanged
    DECLARED = {o.name: o for o in (
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
    )}


def outcome(name: str) -> Outcome:
    """The declared outcome called ``name`` (KeyError naming the choices otherwise)."""
    if name not in DECLARED:
        raise KeyError(f"unknown outcome {name!r} (one of {', '.join(DECLARED)})")
    return DECLARED[name]
