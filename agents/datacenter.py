"""Data centers: capacity, PUE, prices, investment and exit (DESIGN §4.2).

`DataCenter` agents are plain Mesa agents. Their numbers sit in `Fleet` columns so that the
month's pricing and accounting for the whole fleet is one numpy pass; the yearly decisions
(retrofit or surcharge, expansion) and exit are the agent's own methods.
Capacity is in MW of IT power by compute type; prices in RMB per kW-month of occupied IT load.
"""

from __future__ import annotations

import mesa
import numpy as np

from model.schema import Supply

HOURS_PER_MONTH = 730.0
NORMAL_UTILISATION = 0.7    # utilisation at which cost-plus prices recover capacity cost [C]
CAPITAL_RATE = 0.08         # rate for the capex annuity in cost-plus prices [C]
BUILDING, OPERATING, RETIRED = 0, 1, 2


def annuity_factor(rate: float, years: float) -> float:
    """Present value of 1 RMB a year for `years` at `rate`."""
    return years if rate <= 0 else (1.0 - (1.0 + rate) ** -years) / rate


class Fleet:
    """Column store of all data centers (one row per agent, ever built)."""

    FIELDS_F = ("pue", "green_target", "green_share", "markup", "cash", "capex_per_kw",
                "land_per_kw", "util_ema", "investment_rmb")
    FIELDS_I = ("node", "kind", "status", "online_month", "built_month", "retire_month",
                "loss_months")

    def __init__(self, supply: Supply) -> None:
        self.supply = supply
        self.n = 0
        for f in self.FIELDS_F:
            setattr(self, f, np.zeros(0))
        for f in self.FIELDS_I:
            setattr(self, f, np.zeros(0, dtype=np.int64))
        self.cap_mw = np.zeros((0, 2))
        self.fpw = np.zeros((0, 2))      # GFLOPS per W by compute type (vintage)
        self.price = np.zeros((0, 2))    # RMB/kW-month by compute type
        self.agents: list[DataCenter] = []
        self._stores: dict[str, tuple] = {}   # column -> (backing array, view) (see _append)

    def add(self, model: mesa.Model, **values) -> DataCenter:
        """Append a data center row and its agent; `values` holds every column."""
        for f in self.FIELDS_F + self.FIELDS_I:
            self._append(f, values.get(f, 0))
        self._append("cap_mw", values["cap_mw"])
        self._append("fpw", values["fpw"])
        self._append("price", np.zeros(2))
        agent = DataCenter(model, self.n)
        self.agents.append(agent)
        self.n += 1
        return agent

    def _append(self, field: str, value: float | np.ndarray) -> None:
        """Set column `field` to its rows plus `value`. A column is a view of the first rows of
        a backing array that doubles when full, so appending is amortised O(1); a column that
        was replaced by a new array is copied into a new backing array first."""
        column = getattr(self, field)
        store, view = self._stores.get(field, (None, None))
        if column is not view or len(store) <= self.n:
            store = np.empty((max(64, 2 * self.n),) + column.shape[1:], dtype=column.dtype)
            store[: self.n] = column
        view = store[: self.n + 1]
        view[self.n] = value
        self._stores[field] = (store, view)
        setattr(self, field, view)

    @property
    def operating(self) -> np.ndarray:
        return self.status == OPERATING

    def capacity_cost(self) -> np.ndarray:
        """Capex annuity + O&M per kW of capacity per month, by compute type [D, 2]."""
        s = self.supply
        crf = 1.0 / annuity_factor(CAPITAL_RATE, s.life_years)
        capex = (self.capex_per_kw + self.land_per_kw)[:, None] * np.array(
            [1.0, s.capex_intelligent_multiplier])[None, :]
        return capex * crf / 12.0 + s.om_rmb_per_kw_month

    def energy_cost(self, tariff: np.ndarray, ef: np.ndarray, green_premium: np.ndarray,
                    carbon_price: float, pue_cap: float, surcharge: float) -> np.ndarray:
        """Electricity, green premium, carbon and PUE surcharge per occupied kW-month [D]."""
        node = self.node
        kwh = self.pue * HOURS_PER_MONTH
        over_cap = self.pue > pue_cap
        return kwh * (tariff[node] + self.green_share * green_premium[node]
                      + (1.0 - self.green_share) * ef[node] / 1000.0 * carbon_price
                      + np.where(over_cap, surcharge, 0.0))

    def update_prices(self, occupied_mw: np.ndarray, energy_cost: np.ndarray) -> None:
        """Cost-plus prices with a markup that adapts to utilisation, never below cash cost."""
        s = self.supply
        cap = self.cap_mw.sum(axis=1)
        util = np.divide(occupied_mw.sum(axis=1), cap, out=np.zeros_like(cap), where=cap > 0)
        step = np.where(util > s.full_utilisation, s.markup_step,
                        np.where(util < s.idle_utilisation, -s.markup_step, 0.0))
        self.markup = np.clip(self.markup + step, s.markup_floor, 3.0)
        unit = energy_cost[:, None] + self.capacity_cost() / NORMAL_UTILISATION
        cash = energy_cost[:, None] + s.om_rmb_per_kw_month
        self.price = np.maximum(unit * (1.0 + self.markup[:, None]), cash)


class DataCenter(mesa.Agent):
    """One data center (or campus phase); its numbers live in `model.fleet` row `row`."""

    def __init__(self, model: mesa.Model, row: int) -> None:
        super().__init__(model)
        self.row = row

    @property
    def fleet(self) -> Fleet:
        return self.model.fleet

    @property
    def capacity_mw(self) -> float:
        return float(self.fleet.cap_mw[self.row].sum())

    @property
    def node(self) -> int:
        return int(self.fleet.node[self.row])

    @property
    def is_operating(self) -> bool:
        return int(self.fleet.status[self.row]) == OPERATING

    def complete_construction(self, month: int) -> bool:
        """Start operating when the build lag is over."""
        f = self.fleet
        if f.status[self.row] == BUILDING and f.online_month[self.row] <= month:
            f.status[self.row] = OPERATING
            return True
        return False

    def should_retire(self, month: int) -> bool:
        """End of life, or losses for too long (exit)."""
        f = self.fleet
        return bool(f.status[self.row] == OPERATING and (
            f.retire_month[self.row] <= month
            or f.loss_months[self.row] >= self.fleet.supply.exit_loss_months))

    def retire(self) -> None:
        self.fleet.status[self.row] = RETIRED

    def decide_retrofit(self, pue_cap: float, surcharge_rmb_per_kwh: float, best_pue: float,
                        occupied_mw: float) -> float:
        """Retrofit when cheaper than three years of surcharge; returns retrofit capex, RMB."""
        f, s = self.fleet, self.fleet.supply
        pue = float(f.pue[self.row])
        if not self.is_operating or pue <= pue_cap:
            return 0.0
        target = max(pue_cap - s.retrofit_pue_margin, best_pue)
        cost = (pue - target) / 0.1 * s.retrofit_rmb_per_kw_per_0_1 * self.capacity_mw * 1000
        surcharge_3y = surcharge_rmb_per_kwh * occupied_mw * 1000 * pue * 8760 * 3
        if cost < surcharge_3y:
            f.pue[self.row] = target
            f.cash[self.row] -= cost
            return cost
        return 0.0

    def snapshot(self) -> dict:
        f = self.fleet
        r = self.row
        kinds = [k.name for k in f.supply.operator_kinds]
        return {"unique_id": self.unique_id, "node": self.model.map.names[self.node],
                "kind": kinds[int(f.kind[r])],
                "status": ("building", "operating", "retired")[int(f.status[r])],
                "capacity_mw_general": float(f.cap_mw[r, 0]),
                "capacity_mw_intelligent": float(f.cap_mw[r, 1]),
                "occupied_mw": float(self.model.occupied_mw[r].sum()),
                "pue": float(f.pue[r]), "green_share": float(f.green_share[r]),
                "price_general": float(f.price[r, 0]), "price_intelligent": float(f.price[r, 1]),
                "markup": float(f.markup[r]), "cash_rmb": float(f.cash[r]),
                "built": int(f.built_month[r]), "online": int(f.online_month[r])}
