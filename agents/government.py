"""Governments (docs/design.md §1.2.6): one national government enforcing the dated policy package
and one local government per node with yearly budgets for vouchers, power discounts and
capex/land subsidies. Money in RMB.

`LocalGovernments` is the set of local governments: the voucher table enterprises see, the
month's voucher and power-discount claims, and the yearly adaptation and budget refill."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import mesa
import numpy as np

from model.constants import COMPUTE_TYPES, WEST
from model.schema import Instrument, Local, National
from model.segment_sums import voucher_claims
from model.state import Rules

if TYPE_CHECKING:
    from agents.datacenter import Fleet
    from agents.enterprise import EnterpriseTable


class NationalGovernment(mesa.Agent):
    """Hub designation, PUE caps, utilisation floor, green mandates, backbone programme, the
    hubs' share of new capacity."""

    def __init__(self, model: mesa.Model, national: National, node_names: tuple[str, ...]) -> None:
        super().__init__(model)
        self.rules = national
        self.is_hub = np.array([n in national.hubs for n in node_names])
        self.approved_mw: dict[int, np.ndarray] = {}   # month -> [hub, non-hub] MW approved

    def at(self, month: int) -> Rules:
        """The value of every dated rule this month."""
        return Rules(**{name: getattr(self.rules, name).at(month) for name in Rules.names()})

    def approve(self, node: int, month: int, node_utilisation: float, exempt_from_floor: bool,
                energy_ok: bool, draw: float, size_mw: float = 0.0) -> bool:
        """National approval of a new build of `size_mw` at `node`: energy quota, the non-hub
        bar, the hub share of new capacity, and at hubs the utilisation floor (the start-up-zone
        rule [A]) tested on `node_utilisation`, the utilisation the project's demand case shows;
        approved capacity is counted."""
        if not energy_ok:
            return False
        hub = bool(self.is_hub[node])
        if not hub and draw >= self.rules.non_hub_approval.at(month):
            return False
        if not hub and not self.hub_share_kept(month, size_mw):
            return False
        floor = self.rules.utilisation_floor.at(month) if hub else 0.0
        if not (exempt_from_floor or node_utilisation >= floor):
            return False
        approved = self.approved_mw.get(month)
        if approved is None:
            approved = self.approved_mw[month] = np.zeros(2)
        approved[0 if hub else 1] += size_mw
        return True

    def hub_share_kept(self, month: int, size_mw: float) -> bool:
        """Whether hubs still hold `hub_new_share_target` of the capacity approved in the 12
        months to `month` if `size_mw` more is approved outside hubs."""
        target = self.rules.hub_new_share_target
        if target <= 0:
            return True
        for old in [m for m in self.approved_mw if m <= month - 12]:
            del self.approved_mw[old]
        hub, other = sum(self.approved_mw.values(), np.zeros(2))
        return bool(hub >= target * (hub + other + size_mw))


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

    def new_year(self, utilisation: float, first_year: bool, west: bool = False) -> None:
        """Adapt instrument rates to last year's utilisation KPI, then refill budgets.
        Discounts, capex subsidies and vouchers that may be spent at home rise when the KPI is
        missed; a non-western node's vouchers for western DCs only take load away from home,
        so they rise when the KPI is met instead."""
        if not first_year and self.local.adapt_step > 0:
            short = utilisation < self.local.target_utilisation
            self.power_discount.adapt(short, self.local.adapt_step)
            self.capex_subsidy.adapt(short, self.local.adapt_step)
            away = self.voucher.instrument.scope == "west" and not west
            self.voucher.adapt(short != away, self.local.adapt_step)
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


class LocalGovernments:
    """All local governments (one per node, in node order)."""

    def __init__(self, governments: Sequence[LocalGovernment], role: np.ndarray) -> None:
        self.governments = list(governments)
        self.role = role   # [node] ROLES index

    def __iter__(self) -> Iterator[LocalGovernment]:
        return iter(self.governments)

    def __getitem__(self, index: int) -> LocalGovernment:
        return self.governments[index]

    def __len__(self) -> int:
        return len(self.governments)

    def new_year(self, utilisation: np.ndarray, first_year: bool) -> None:
        """Adapt rates to last year's utilisation by node and refill every budget."""
        for gov in self.governments:
            gov.new_year(utilisation[gov.index], first_year, bool(self.role[gov.index] == WEST))

    def discount_rates(self, month: int) -> list[float]:
        """Power discount each node's grid applies this month, share of the tariff."""
        return [gov.discount_rate(month) for gov in self.governments]

    def voucher_table(self, month: int, nominal: bool = False) -> np.ndarray:
        """Voucher share of a bill [home node, DC node, compute type] this month: the rate
        enterprises expect (nominal rate x share of claims paid last month), or the nominal
        rate that claims are made at."""
        n = len(self.governments)
        table = np.zeros((n, n, 2))
        west = self.role == WEST
        for gov in self.governments:
            b = gov.voucher
            rate = (b.rate if b.active(month) else 0.0) if nominal \
                else gov.voucher_rate(month)
            if rate <= 0:
                continue
            inst = b.instrument
            if inst.scope == "local":    # (only the scope's own mask is built)
                scope = np.arange(n) == gov.index
            elif inst.scope == "any":
                scope = np.ones(n, bool)
            elif inst.scope == "west":
                scope = west
            else:
                raise KeyError(inst.scope)
            for ct in inst.compute_types:
                table[gov.index, scope, COMPUTE_TYPES.index(ct)] = rate
        return table

    def pay_vouchers(self, month: int, enterprises: EnterpriseTable, fleet: Fleet
                     ) -> np.ndarray:
        """Each government pays its enterprises' voucher claims on this month's bills up to
        its monthly allowance. Returns paid RMB by node."""
        t, f = enterprises, fleet
        n = len(self.governments)
        paid = np.zeros(n)
        table = self.voucher_table(month, nominal=True)
        # placed segments of enterprises whose government pays vouchers (the others' claims
        # are 0)
        claiming = table.reshape(n, -1).any(axis=1)
        claims = voucher_claims(t.pool, t.load_w, t.home, claiming, f.node, table, f.price)
        months_left = 12 - month % 12
        for gov in self.governments:
            if claims[gov.index] > 0:
                paid[gov.index] = gov.voucher.pay(claims[gov.index], months_left)
        return paid

    def pay_power_discounts(self, month: int, base_tariff: np.ndarray,
                            node_energy: np.ndarray) -> np.ndarray:
        """Each government pays the power discount on its DCs' electricity (MWh by node, at
        the base tariff RMB/kWh) up to its monthly allowance. Returns paid RMB by node."""
        claims = np.array([gov.power_discount.rate if gov.power_discount.active(month) else 0.0
                           for gov in self.governments]) * base_tariff * node_energy * 1e3
        months_left = 12 - month % 12
        return np.array([gov.power_discount.pay(c, months_left) if c > 0 else 0.0
                         for gov, c in zip(self.governments, claims, strict=True)])
