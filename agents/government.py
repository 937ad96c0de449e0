"""Governments (DESIGN §4.4): one national government enforcing the dated policy package
and one local government per node with yearly budgets for vouchers, power discounts and
capex/land subsidies. Money in RMB."""

from __future__ import annotations

import mesa
import numpy as np

from model.schema import Instrument, Local, National


class NationalGovernment(mesa.Agent):
    """Hub designation, PUE caps, utilisation floor, green mandates, backbone programme."""

    def __init__(self, model: mesa.Model, national: National, node_names: tuple[str, ...]) -> None:
        super().__init__(model)
        self.rules = national
        self.is_hub = np.array([n in national.hubs for n in node_names])

    def at(self, month: int) -> dict[str, float]:
        """The value of every dated rule this month."""
        r = self.rules
        return {name: getattr(r, name).at(month) for name in (
            "non_hub_approval", "pue_cap_new_east", "pue_cap_new_west", "pue_cap_existing",
            "utilisation_floor", "green_mandate_new_hub", "route_factor",
            "transfer_rmb_per_kw_month_1000km", "dispatch_risk_reduction",
            "carbon_price_rmb_per_t")}

    def approve(self, node: int, month: int, node_utilisation: float, exempt_from_floor: bool,
                energy_ok: bool, draw: float) -> bool:
        """National approval of a new build at `node` (hub rule, utilisation floor, quota)."""
        if not energy_ok:
            return False
        if not self.is_hub[node] and draw >= self.rules.non_hub_approval.at(month):
            return False
        floor = self.rules.utilisation_floor.at(month)
        return exempt_from_floor or node_utilisation >= floor


class Budget:
    """One local instrument: a yearly budget paid out month by month, never below zero."""

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.rate = instrument.rate
        self.left = 0.0
        self.effective = 1.0   # share of claims actually paid last month (0..1)
        self.paid_total = 0.0

    def active(self, month: int) -> bool:
        return month >= self.instrument.start and self.rate > 0

    def new_year(self) -> None:
        self.left = self.instrument.budget_rmb

    def pay(self, claims_rmb: float, months_left: int) -> float:
        """Pay claims up to this month's allowance (budget left spread over the year)."""
        allowance = self.left / max(months_left, 1)
        paid = min(claims_rmb, allowance)
        self.left -= paid
        self.paid_total += paid
        self.effective = paid / claims_rmb if claims_rmb > 0 else 1.0
        return paid

    def adapt(self, kpi_short: bool, step: float) -> None:
        """Raise the rate (to its cap) when the KPI is missed; cut it when the KPI is met."""
        i = self.instrument
        if kpi_short:
            self.rate = min(i.max_rate, self.rate + step)
        else:
            self.rate = max(0.0, self.rate - step)


class LocalGovernment(mesa.Agent):
    """A province/city with compute vouchers, DC power discounts and capex subsidies."""

    def __init__(self, model: mesa.Model, index: int, local: Local) -> None:
        super().__init__(model)
        self.index, self.local = index, local
        self.voucher = Budget(local.voucher)
        self.power_discount = Budget(local.power_discount)
        self.capex_subsidy = Budget(local.capex_subsidy)

    @property
    def budgets(self) -> tuple[Budget, Budget, Budget]:
        return self.voucher, self.power_discount, self.capex_subsidy

    @property
    def budget_left(self) -> float:
        return sum(b.left for b in self.budgets)

    def new_year(self, utilisation: float, first_year: bool) -> None:
        """Adapt instrument rates to last year's utilisation KPI, then refill budgets."""
        if not first_year and self.local.adapt_step > 0:
            short = utilisation < self.local.target_utilisation
            self.power_discount.adapt(short, self.local.adapt_step)
            self.capex_subsidy.adapt(short, self.local.adapt_step)
        for b in self.budgets:
            b.new_year()

    def rack_target(self, year: int) -> float:
        """Rack target in force for `year` (the next dated target), 0 if none."""
        for y, racks in self.local.rack_target:
            if year <= y:
                return racks
        return self.local.rack_target[-1][1] if self.local.rack_target else 0.0

    def voucher_rate(self, month: int) -> float:
        """Voucher share of an eligible compute bill enterprises expect this month."""
        b = self.voucher
        return b.rate * b.effective if b.active(month) else 0.0

    def discount_rate(self, month: int) -> float:
        b = self.power_discount
        return b.rate * b.effective if b.active(month) else 0.0

    def capex_rate(self, month: int) -> float:
        b = self.capex_subsidy
        return b.rate if b.active(month) and b.left > 0 else 0.0
