"""Typed state passed between the parts of the model (docs/design.md §1.3).

`Rules`: the national rules in force this month. `MonthAccount`: the month's physical and money
flows, by data center or by node, units in the field comments. `ModelState`: the model state
the recorder reads, and `SimulationState` what the investors read (the model implements both;
neither the recorder nor the agents import model code).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from agents.datacenter import Fleet
    from agents.enterprise import EnterpriseTable
    from agents.government import LocalGovernments, NationalGovernment
    from agents.grid_operator import GridOperators
    from model.geography import Map
    from model.market import Terms
    from model.recorder import Recorder
    from model.schema import ModelConfig
    from model.streams import Streams


@dataclass(frozen=True)
class Rules:
    """The value of every dated national rule this month (policy.national schedules)."""

    non_hub_approval: float                  # probability a non-hub build is approved, 0..1
    pue_cap_new_east: float                  # design PUE cap, new DCs at demand hubs, -
    pue_cap_new_west: float                  # design PUE cap, new DCs at western hubs, -
    pue_cap_new_nonhub: float                # design PUE cap, new large DCs off the hubs, -
    pue_cap_existing: float                  # PUE above which existing DCs pay a surcharge, -
    utilisation_floor: float                 # node utilisation required before new builds, 0..1
    green_mandate_new_hub: float             # green-power share required of new hub DCs, 0..1
    route_factor: float                      # fibre km / great-circle km, -
    transfer_rmb_per_kw_month_1000km: float  # data transfer cost, RMB/kW-month per 1000 km
    dispatch_risk_reduction: float           # share of distance risk removed, 0..1
    carbon_price_rmb_per_t: float            # RMB/tCO2

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


# per-DC fields grow with the fleet: `pad` gives DCs started this month zero rows
PER_DC = ("energy", "green_mwh", "revenue", "electricity", "premium", "carbon", "surcharge",
          "co2_market")


@dataclass
class MonthAccount:
    """One month's accounts. [DC] arrays are per data center (fleet row), [node] per node."""

    energy: np.ndarray          # [DC] facility electricity, MWh
    node_energy: np.ndarray     # [node] facility electricity, MWh
    green_mwh: np.ndarray       # [DC] electricity covered by green contracts, MWh
    absorbed: np.ndarray        # [node] curtailed renewable energy DC load soaked up, MWh
    revenue: np.ndarray         # [DC] compute bills (enterprise spend + vouchers), RMB
    voucher_paid: np.ndarray    # [node] vouchers paid by the node's government, RMB
    discount_paid: np.ndarray   # [node] power discounts paid by the node's government, RMB
    electricity: np.ndarray     # [DC] electricity bill net of discounts, RMB
    premium: np.ndarray         # [DC] green-power premium, RMB
    carbon: np.ndarray          # [DC] carbon cost, RMB
    surcharge: np.ndarray       # [DC] PUE surcharge, RMB
    co2_market: np.ndarray      # [DC] market-based emissions, tCO2
    node_util: np.ndarray       # [node] IT load / operating capacity, 0..1
    capex_subsidy: np.ndarray = field(default=None)  # [node] capex subsidies paid, RMB
    investment: np.ndarray = field(default=None)     # [node] capex of projects started, RMB
    new_mw: np.ndarray = field(default=None)         # [node] capacity of projects started, MW
    retrofit: float = 0.0                            # retrofit capex this month, RMB

    def __post_init__(self) -> None:
        n = len(self.node_energy)
        for name in ("capex_subsidy", "investment", "new_mw"):
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(n))

    def pad(self, n_dcs: int) -> None:
        """Give data centers started this month (no load yet) zero rows."""
        for name in PER_DC:
            value = getattr(self, name)
            setattr(self, name, np.concatenate((value, np.zeros(n_dcs - len(value),
                                                                dtype=value.dtype))))


class ModelState(Protocol):
    """What the recorder reads from the model each month."""

    month: int                      # months since year 0 (year * 12 + month - 1)
    config: ModelConfig
    map: Map
    fleet: Fleet                    # data centers (capacity, prices, occupancy)
    enterprises: EnterpriseTable    # demand and placements
    account: MonthAccount           # this month's accounts
    grids: GridOperators            # tariffs, emission factors, UHV flows
    local_govs: LocalGovernments    # instruments and budgets
    national: NationalGovernment    # hubs
    want_w: np.ndarray              # [E, 6] demand of every segment this month, W
    last_terms: Terms               # the placement market's cost terms this month


class SimulationState(ModelState, Protocol):
    """What the investors read besides: the random streams and the recorded history."""

    streams: Streams
    recorder: Recorder
