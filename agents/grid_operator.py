"""Grid operators, one per node: tariffs, emission factors, green supply, curtailment and
UHV exports (DESIGN §4.3). Energy in MWh, tariffs in RMB/kWh, factors in kgCO2/kWh."""

from __future__ import annotations

import mesa
import numpy as np

from model.schema import Grid, Node, UHVLine

HOURS_PER_MONTH = 730.0


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
        """Set this month's DC tariff and emission factor (after UHV imports)."""
        n, g = self.node, self.grid
        share = min(self.import_mwh / (n.grid_twh * 1e6 / 12.0), 1.0) if n.grid_twh > 0 else 0.0
        self.ef = (1.0 - share) * self.local_ef(years_since_2022) + share * self.import_ef
        base = (1.0 - share) * n.dc_power_price + share * self.import_price
        load = dc_facility_mw / n.dc_headroom_mw if n.dc_headroom_mw > 0 else 0.0
        scarcity = g.scarcity_adder_rmb_per_kwh * float(
            np.clip((load - g.scarcity_start) / max(1.0 - g.scarcity_start, 1e-9), 0.0, 2.0))
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
