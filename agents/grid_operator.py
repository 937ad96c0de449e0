"""Grid operators, one per node: tariffs, emission factors, green supply, curtailment and
UHV exports (docs/design.md §1.2.5). Energy in MWh, tariffs in RMB/kWh, factors in kgCO2/kWh.

`GridOperators` is the set of all of them: it runs the month's UHV delivery and tariff update
for every node and holds the resulting tariffs and factors as arrays by node."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import mesa
import numpy as np

from model.constants import HOURS_PER_MONTH
from model.schema import Grid, Node, UHVLine


class GridOperator(mesa.Agent):
    """The provincial grid of one node as the data centers see it."""

    def __init__(self, model: mesa.Model, index: int, node: Node, grid: Grid) -> None:
        super().__init__(model)
        self.index, self.node, self.grid = index, node, grid
        self.tariff = node.dc_power_price
        self.ef = node.grid_ef_2022
        self.green_supply_mwh = grid.green_supply_share * node.grid_twh * 1e6 / 12.0
        self.curtailment_mwh = node.curtailment_twh * 1e6 / 12.0
        self.import_mwh = 0.0
        self.import_ef = 0.0
        self.import_price = 0.0
        self.unmet_green_mwh = 0.0

    def local_ef(self, years_since_2022: float) -> float:
        """Emission factor of local generation on its decarbonisation path."""
        return self.node.grid_ef_2022 * (1.0 - self.node.ef_decline) ** years_since_2022

    def update(self, years_since_2022: float, discount: float, dc_facility_mw: float) -> None:
        """Set this month's DC tariff and emission factor (after UHV imports). The tariff is
        the base price x (1 - local discount) plus a scarcity adder that rises from 0 to
        grid.scarcity_adder_share of the base as DC load goes from scarcity_start to all of
        the grid's DC headroom (which grows with the grid), and stays there beyond it."""
        n, g = self.node, self.grid
        share = min(self.import_mwh / (n.grid_twh * 1e6 / 12.0), 1.0) if n.grid_twh > 0 else 0.0
        self.ef = (1.0 - share) * self.local_ef(years_since_2022) + share * self.import_ef
        base = (1.0 - share) * n.dc_power_price + share * self.import_price
        headroom = n.dc_headroom_mw * (1.0 + g.headroom_growth) ** max(years_since_2022, 0.0)
        load = dc_facility_mw / headroom if headroom > 0 else 0.0
        ramp = (load - g.scarcity_start) / max(1.0 - g.scarcity_start, 1e-9)
        ramp = 0.0 if ramp < 0.0 else 1.0 if ramp > 1.0 else ramp   # np.clip's (NaN stays)
        scarcity = g.scarcity_adder_share * base * ramp
        self.base_tariff = base + scarcity
        self.tariff = self.base_tariff * (1.0 - discount)

    def new_year(self) -> None:
        """Renewable build-out grows green supply (plus response to unmet DC green demand);
        curtailment falls as grids firm up."""
        g = self.grid
        self.green_supply_mwh = (self.green_supply_mwh * (1.0 + g.green_supply_growth)
                                 + g.green_response * self.unmet_green_mwh)
        self.curtailment_mwh *= 1.0 - g.curtailment_decline
        self.unmet_green_mwh = 0.0

    def sell_green(self, wanted_mwh: float) -> float:
        """Green contracts sold this month, MWh (rationed by the renewable surplus)."""
        sold = min(wanted_mwh, self.green_supply_mwh)
        self.unmet_green_mwh += wanted_mwh - sold
        return sold

    def absorb_curtailment(self, dc_energy_mwh: float) -> float:
        """Curtailed wind/solar/hydro energy that DC load soaks up this month, MWh."""
        return min(self.grid.curtailment_overlap * dc_energy_mwh, self.curtailment_mwh)

    @staticmethod
    def uhv_delivery(line: UHVLine, month: int) -> tuple[float, float, float]:
        """(sent MWh, lost MWh, transmission tariff RMB) of a line this month."""
        if not line.enabled or month < line.start or line.gw <= 0:
            return 0.0, 0.0, 0.0
        sent = line.gw * 1000.0 * line.utilisation * HOURS_PER_MONTH
        lost = sent * line.loss
        return sent, lost, (sent - lost) * 1000.0 * line.tariff_rmb_per_kwh

    def receive(self, delivered_mwh: float, ef: float, price: float) -> None:
        """Add a UHV import to this month's mix (energy-weighted)."""
        total = self.import_mwh + delivered_mwh
        if total > 0:
            self.import_ef = (self.import_ef * self.import_mwh + ef * delivered_mwh) / total
            self.import_price = (self.import_price * self.import_mwh
                                 + price * delivered_mwh) / total
        self.import_mwh = total

    def clear_imports(self) -> None:
        self.import_mwh = self.import_ef = self.import_price = 0.0


class GridOperators:
    """All grid operators (one per node, in node order) and the month's arrays by node."""

    def __init__(self, operators: Sequence[GridOperator], lines: Sequence[UHVLine],
                 node_index: dict[str, int], green_premium: np.ndarray) -> None:
        self.operators = list(operators)
        self.lines = tuple(lines)
        self.node_index = node_index
        self.green_premium = green_premium     # [node] RMB/kWh of a green contract
        n = len(self.operators)
        self.dc_facility_mw = np.zeros(n)      # [node] DC facility load last month, MW
        self.uhv = np.zeros(3)                 # sent MWh, lost MWh, tariff RMB (all lines)
        self.line_flows = np.zeros((len(self.lines), 3))   # per line, same
        self.tariff = np.zeros(n)              # [node] DC tariff after discounts, RMB/kWh
        self.base_tariff = np.zeros(n)         # [node] DC tariff before discounts, RMB/kWh
        self.ef = np.zeros(n)                  # [node] emission factor, kgCO2/kWh

    def __iter__(self) -> Iterator[GridOperator]:
        return iter(self.operators)

    def __getitem__(self, index: int) -> GridOperator:
        return self.operators[index]

    def __len__(self) -> int:
        return len(self.operators)

    def set_month(self, month: int, years_since_2022: float, discounts: Sequence[float]) -> None:
        """UHV delivery on every line, then each node's tariff and emission factor."""
        for g in self.operators:
            g.clear_imports()
        self.uhv = np.zeros(3)
        self.line_flows = np.zeros((len(self.lines), 3))
        for k, line in enumerate(self.lines):
            sent, lost, tariff_rmb = GridOperator.uhv_delivery(line, month)
            self.line_flows[k] = (sent, lost, tariff_rmb)
            if sent > 0:
                self.operators[self.node_index[line.sink]].receive(
                    sent - lost, line.ef, line.sending_price + line.tariff_rmb_per_kwh)
                self.uhv += (sent, lost, tariff_rmb)
        for g, discount in zip(self.operators, discounts, strict=True):
            g.update(years_since_2022, discount, self.dc_facility_mw[g.index])
        self.tariff = np.array([g.tariff for g in self.operators])
        self.base_tariff = np.array([g.base_tariff for g in self.operators])
        self.ef = np.array([g.ef for g in self.operators])

    def supply_dcs(self, node_energy: np.ndarray, green_wanted: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
        """The month's DC electricity by node (MWh): records the DC load, sells green
        contracts (rationed) and lets DC load absorb curtailment. Returns (green sold MWh,
        curtailment absorbed MWh) by node."""
        self.dc_facility_mw = node_energy / HOURS_PER_MONTH
        sold = np.array([g.sell_green(w) for g, w in zip(self.operators, green_wanted,
                                                         strict=True)])
        absorbed = np.array([g.absorb_curtailment(e) for g, e in
                             zip(self.operators, node_energy, strict=True)])
        return sold, absorbed

    def new_year(self) -> None:
        for g in self.operators:
            g.new_year()
