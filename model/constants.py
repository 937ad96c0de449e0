"""Constants defined once for the whole project: calendar, node roles, compute types,
latency classes and data-center states. Index constants follow the tuple order."""

from __future__ import annotations

HOURS_PER_MONTH = 730.0          # h, 8,760 h / 12
HOURS_PER_YEAR = 8760.0          # h
BASE_YEAR = 2022                 # calibration base year: years are counted from January 2022

ROLES = ("east", "central", "west")
EAST, CENTRAL, WEST = 0, 1, 2
COMPUTE_TYPES = ("general", "intelligent")
GENERAL, INTELLIGENT = 0, 1
LATENCY_CLASSES = ("realtime", "interactive", "batch")
REALTIME, INTERACTIVE, BATCH = 0, 1, 2
VOUCHER_SCOPES = ("local", "any", "west")
OPERATOR_KINDS = ("telecom", "cloud", "third_party", "state")
DC_STATUS = ("building", "operating", "retired")
BUILDING, OPERATING, RETIRED = 0, 1, 2


def years_since_base(month: int) -> float:
    """Years from January of BASE_YEAR to `month` (months counted as year * 12 + month - 1)."""
    return (month - BASE_YEAR * 12) / 12.0
