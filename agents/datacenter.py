"""Data centers: the initial stock, prices, construction, retirement, retrofit, green
contracts and the month's accounts (docs/design.md §1.2.3). Investment in new capacity:
`agents/investor.py`.

`DataCenter` agents are plain Mesa agents. Their numbers sit in `Fleet` columns so that the
month's pricing and accounting for the whole fleet is one numpy pass; the yearly decisions
(retrofit or surcharge) and exit are the agent's own methods.
Capacity is in MW of IT power by compute type; prices in RMB per kW-month of occupied IT load.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import mesa
import numpy as np

from model.constants import (
    BUILDING,
    HOURS_PER_MONTH,
    HOURS_PER_YEAR,
    OPERATING,
    RETIRED,
    years_since_base,
)
from model.schema import Node, Supply
from model.segment_sums import node_sums, pool_sums
from model.state import MonthAccount, Rules
from model.streams import DC_ORIGINS, Streams, entity_key

if TYPE_CHECKING:
    from agents.enterprise import EnterpriseTable
    from agents.government import LocalGovernments
    from agents.grid_operator import GridOperators

__all__ = ["BUILDING", "HOURS_PER_MONTH", "OPERATING", "RETIRED", "DataCenter", "Fleet",
           "annuity_factor"]

def annuity_factor(rate: float, years: float) -> float:
    """Present value of 1 RMB a year for `years` at `rate`."""
    return years if rate <= 0 else (1.0 - (1.0 + rate) ** -years) / rate


class Fleet:
    """Column store of all data centers (one row per agent, ever built)."""

    FIELDS_F = ("pue", "green_target", "green_share", "markup", "cash", "capex_per_kw",
                "land_per_kw", "util_ema", "investment_rmb",
                "retrofit_pue")   # design PUE a retrofit under way reaches, 0 = none
    FIELDS_I = ("node", "kind", "status", "online_month", "built_month", "retire_month",
                "loss_months", "key",   # key: stable identity (model.streams.entity_key)
                "retrofit_month")       # month the retrofit under way is finished

    # every column `add` appends to: (name, True: required, False: 0 if left out, None: 0)
    _ADDED = (*((f, False) for f in FIELDS_F + FIELDS_I), ("cap_mw", True), ("fpw", True),
              ("price", None), ("occupied_mw", None))

    def __init__(self, supply: Supply, nodes: tuple[Node, ...] = ()) -> None:
        self.supply = supply
        self.nodes = nodes    # geography.nodes, for site PUE and land cost
        self.n = 0
        for f in self.FIELDS_F:
            setattr(self, f, np.zeros(0))
        for f in self.FIELDS_I:
            setattr(self, f, np.zeros(0, dtype=np.int64))
        self.cap_mw = np.zeros((0, 2))
        self.fpw = np.zeros((0, 2))      # GFLOPS per W by compute type (vintage)
        self.price = np.zeros((0, 2))    # RMB/kW-month by compute type
        self.occupied_mw = np.zeros((0, 2))   # IT load placed, MW by compute type
        self.agents: list[DataCenter] = []
        self._stores: dict[str, tuple] = {}   # column -> (backing array, view) (see add)

    def add(self, model: mesa.Model, **values) -> DataCenter:
        """Append a data center row and its agent; `values` holds every column (cap_mw and
        fpw required; price and occupied load start at 0, a column left out is 0)."""
        return self.add_rows(model, [values])[0]

    def add_rows(self, model: mesa.Model, rows: Sequence[Mapping]) -> list[DataCenter]:
        """Append data center rows and their agents, in the order of `rows` (each holds the
        columns as `add`'s `values` do); the same columns and agents as `add` row by row.

        A column is a view of the first rows of a backing array that doubles when full, so
        appending is amortised O(1); a column that was replaced by a new array since the last
        append is copied into a new backing array first."""
        k = len(rows)
        if k == 0:
            return []
        n, columns, stores = self.n, vars(self), self._stores
        for field, required in self._ADDED:
            column = columns[field]
            store, view = stores.get(field, (None, None))
            if column is not view or len(store) < n + k:
                store = np.empty((max(64, 2 * n, n + k),) + column.shape[1:], dtype=column.dtype)
                store[:n] = column
            if required is None:
                store[n:n + k] = 0
            else:
                for i, values in enumerate(rows, n):   # each value set as one row's
                    store[i] = values[field] if required else values.get(field, 0)
            view = store[: n + k]
            stores[field] = (store, view)
            columns[field] = view
        agents = [DataCenter(model, row) for row in range(n, n + k)]
        self.agents.extend(agents)
        self.n += k
        return agents

    @property
    def operating(self) -> np.ndarray:
        return self.status == OPERATING

    def snapshot(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """The yearly record of data centers `rows` (docs/outputs.md), one array per column:
        identity, node (index), operator kind (index into supply.operator_kinds), status
        (index into DC_STATUS), capacity and occupied load (MW), PUE, green share, prices
        (RMB/kW-month), markup, cash (RMB), build and online months."""
        return {"unique_id": np.array([self.agents[r].unique_id for r in rows], dtype=np.int64),
                "node": self.node[rows], "kind": self.kind[rows], "status": self.status[rows],
                "capacity_mw_general": self.cap_mw[rows, 0],
                "capacity_mw_intelligent": self.cap_mw[rows, 1],
                "occupied_mw": self.occupied_mw[rows].sum(axis=1),
                "pue": self.pue[rows], "green_share": self.green_share[rows],
                "price_general": self.price[rows, 0], "price_intelligent": self.price[rows, 1],
                "markup": self.markup[rows], "cash_rmb": self.cash[rows],
                "built": self.built_month[rows], "online": self.online_month[rows]}

    # ------------------------------------------------------------ initial stock

    def build_initial_stock(self, model: mesa.Model, month: int, streams: Streams) -> None:
        """The 2021 stock by node (lognormal sizes, ages, PUE, intelligent share), then the
        projects already under construction; each node (and pipeline year) draws from its own
        stream, and every data center gets a stable key."""
        s = self.supply
        kinds = np.array([k.share for k in s.operator_kinds])
        shares = np.asarray(s.capacity_shares)
        counts = np.where(shares > 0, np.maximum(1, np.rint(shares * s.n_datacenters)), 0)
        for node, count in enumerate(counts.astype(int)):
            if count == 0:
                continue
            rng = streams.generator("initial_stock", node)
            sizes = rng.lognormal(0.0, s.initial_size_sigma, count)
            sizes *= shares[node] * s.initial_capacity_mw / sizes.sum()
            for k, size in enumerate(sizes):
                age = rng.uniform(0.0, s.initial_max_age_years)
                built = month - int(age * 12)
                intel = np.clip(s.intelligent_capacity_share
                                * rng.uniform(*s.initial_intelligent_spread), 0.0, 1.0)
                self.add(
                    model, node=node, kind=rng.choice(len(kinds), p=kinds), status=OPERATING,
                    cap_mw=np.array([size * (1 - intel), size * intel]),
                    fpw=np.asarray(s.flops_per_watt),
                    pue=self.nodes[node].best_pue + rng.uniform(*s.initial_pue_excess),
                    markup=s.initial_markup, online_month=built, built_month=built,
                    retire_month=built + int(s.life_years * 12),
                    capex_per_kw=s.capex_rmb_per_kw, land_per_kw=self.nodes[node].land_rmb_per_kw,
                    util_ema=s.initial_utilisation[node], green_target=s.voluntary_green_share,
                    key=entity_key(DC_ORIGINS["initial"], node, k))
        self._build_pipeline(model, month, streams)

    def _build_pipeline(self, model: mesa.Model, month: int, streams: Streams) -> None:
        """Projects already under construction at the start, online during their year."""
        s = self.supply
        kinds = np.array([k.share for k in s.operator_kinds])
        low, high = s.initial_pue_excess
        for year, mw, shares in s.initial_pipeline:
            for node, share in enumerate(shares):
                if share <= 0:
                    continue
                rng = streams.generator("pipeline", year, node)
                mean_dc = s.initial_capacity_mw / s.n_datacenters
                parts = max(1, int(round(share * mw / mean_dc)))   # projects of a mean DC [C]
                keys = [entity_key(DC_ORIGINS["pipeline"], year, node, k) for k in range(parts)]
                # designed to the rule of their planning years (supply.pipeline_pue_cap)
                excess = low + (high - low) * streams.per_entity(
                    "pipeline_pue", np.array(keys, dtype=np.int64))
                for k in range(parts):
                    online = max(year * 12 + int(rng.integers(0, 12)), month + 1)
                    size = share * mw / parts
                    geo = self.nodes[node]
                    pue = min(geo.best_pue + float(excess[k]), max(s.pipeline_pue_cap,
                                                                   geo.best_pue))
                    intel = s.intelligent_capacity_share
                    self.add(
                        model, node=node, kind=rng.choice(len(kinds), p=kinds), status=BUILDING,
                        cap_mw=np.array([size * (1 - intel), size * intel]),
                        fpw=np.asarray(s.flops_per_watt), pue=pue,
                        markup=s.initial_markup, online_month=online, built_month=online - 24,
                        retire_month=online + int(s.life_years * 12),
                        capex_per_kw=s.capex_rmb_per_kw, land_per_kw=geo.land_rmb_per_kw,
                        util_ema=s.initial_utilisation[node],
                        green_target=s.voluntary_green_share,
                        key=keys[k])

    # ------------------------------------------------------------ the month

    def capacity_w(self) -> np.ndarray:
        """Capacity of every pool (row*2 + type) in W; zero unless operating."""
        cap = np.where(self.operating[:, None], self.cap_mw, 0.0)
        return np.floor(cap.ravel() * 1e6).astype(np.int64)

    def set_prices(self, grids: GridOperators, rules: Rules, surcharge: float) -> None:
        """This month's prices from the grid's tariffs and factors (`update_prices`)."""
        energy_cost = self.energy_cost(grids.tariff, grids.ef, grids.green_premium,
                                       rules.carbon_price_rmb_per_t, rules.pue_cap_existing,
                                       surcharge)
        self.update_prices(self.occupied_mw, energy_cost)

    def construct_and_retire(self, month: int) -> np.ndarray:
        """Finished projects (online month reached) start operating, all in one pass; DCs at
        end of life retire. An operator with losses for supply.exit_loss_months exits by
        selling: the buyer takes the DC over at a written-down value (cash and loss months
        reset) and keeps it running - a built, connected DC is not demolished [C]. Retrofits
        whose works are over lower the DC's design PUE. Returns the rows that retired this month."""
        self.status[(self.status == BUILDING) & (self.online_month <= month)] = OPERATING
        done = (self.retrofit_pue > 0) & (self.retrofit_month <= month)
        self.pue[done] = self.retrofit_pue[done]
        self.retrofit_pue[done] = 0.0
        sold = self.operating & (self.loss_months >= self.supply.exit_loss_months)
        self.cash[sold] = 0.0
        self.loss_months[sold] = 0
        due = self.operating & (self.retire_month <= month)
        retiring = [a for a in (self.agents[r] for r in np.flatnonzero(due))
                    if a.should_retire(month)]
        for a in retiring:
            a.retire()
        return np.array([a.row for a in retiring], dtype=np.int64)

    def occupy(self, enterprises: EnterpriseTable) -> None:
        """IT load placed in every DC and compute type this month, MW."""
        t = enterprises
        occ = pool_sums(t.pool, t.load_w, t.pool >= 0, 2 * self.n)
        self.occupied_mw = occ.reshape(self.n, 2) / 1e6

    def account(self, month: int, rules: Rules, surcharge_rmb_per_kwh: float,
                n_nodes: int, enterprises: EnterpriseTable, grids: GridOperators,
                governments: LocalGovernments) -> MonthAccount:
        """The month's energy, green contracts (rationed by each grid), emissions and money:
        bills, vouchers and power discounts (paid by the governments), electricity, green
        premium, carbon, PUE surcharge and O&M; cash, loss months and utilisation
        expectations follow."""
        s, n = self.supply, n_nodes
        self.occupy(enterprises)
        it_mw = self.occupied_mw.sum(axis=1)
        operating = self.operating
        cap = self.cap_mw.sum(axis=1)
        energy = self.facility_mwh(it_mw, np.where(operating, cap, 0.0))  # facility MWh by DC
        node_energy, wanted = node_sums(self.node, [energy, energy * self.green_target], n)
        sold, absorbed = grids.supply_dcs(node_energy, wanted)
        fill = np.divide(sold, wanted, out=np.zeros(n), where=wanted > 0)
        self.green_share = self.green_target * fill[self.node]
        green_mwh = energy * self.green_share
        revenue = (self.price * self.occupied_mw).sum(axis=1) * 1000.0
        voucher_paid = governments.pay_vouchers(month, enterprises, self)
        discount_paid = governments.pay_power_discounts(month, grids.base_tariff, node_energy)
        share_of_node = np.divide(energy, node_energy[self.node], out=np.zeros(self.n),
                                  where=node_energy[self.node] > 0)
        electricity = (energy * 1e3 * grids.base_tariff[self.node]
                       - discount_paid[self.node] * share_of_node)
        premium = green_mwh * 1e3 * grids.green_premium[self.node]
        co2_market = (energy - green_mwh) * grids.ef[self.node]
        carbon = co2_market * rules.carbon_price_rmb_per_t
        over = self.pue > rules.pue_cap_existing
        surcharge = np.where(over, energy * 1e3 * surcharge_rmb_per_kwh, 0.0)
        om = np.where(operating, self.cap_mw.sum(axis=1) * 1e3 * s.om_rmb_per_kw_month, 0.0)
        margin = revenue - electricity - premium - carbon - surcharge - om
        self.cash += margin
        self.loss_months = np.where(operating & (margin < 0), self.loss_months + 1, 0)
        util = np.divide(it_mw, cap, out=np.zeros(self.n), where=cap > 0)
        a = s.expectation_alpha
        self.util_ema = np.where(operating, (1 - a) * self.util_ema + a * util, self.util_ema)
        node_cap, node_it = node_sums(self.node, [np.where(operating, cap, 0.0), it_mw], n)
        node_util = np.divide(node_it, node_cap, out=np.zeros(n), where=node_cap > 0)
        return MonthAccount(
            energy=energy, node_energy=node_energy, green_mwh=green_mwh, absorbed=absorbed,
            revenue=revenue, voucher_paid=voucher_paid, discount_paid=discount_paid,
            electricity=electricity, premium=premium, carbon=carbon, surcharge=surcharge,
            co2_market=co2_market, node_util=node_util)

    def facility_mwh(self, it_mw: np.ndarray, operating_cap_mw: np.ndarray) -> np.ndarray:
        """Facility energy of a month (MWh by DC) at partial load. `pue` is the design PUE
        (at full IT load); a share `pue_fixed_overhead_share` of the design overhead
        (PUE - 1) x capacity - UPS no-load losses, fans, chiller minimums, lighting - runs
        whatever the IT load, the rest scales with it. Operating PUE = energy / IT energy
        = 1 + (PUE - 1) x (1 - f + f / utilisation): a DC at 30 % load runs well above its
        design PUE (docs/design.md §3.3.6)."""
        f = self.supply.pue_fixed_overhead_share
        overhead = (self.pue - 1.0) * ((1.0 - f) * it_mw + f * operating_cap_mw)
        return (it_mw + overhead) * HOURS_PER_MONTH

    # ------------------------------------------------------------ January decisions

    def best_pue(self, node: int, month: int) -> float:
        """Best design PUE at `node` this month: the site's best, improving with technology."""
        best = self.nodes[node].best_pue
        return max(self.supply.pue_floor,
                   best - self.supply.pue_tech_gain * years_since_base(month))

    def retrofit(self, month: int, rules: Rules, surcharge_rmb_per_kwh: float) -> float:
        """Every operating DC above the PUE cap retrofits or pays the surcharge. Returns the
        retrofit capex spent, RMB. Only DCs that can decide are asked (operating, above the
        cap, no retrofit under way: the others' `decide_retrofit` returns 0 at once)."""
        spent = 0.0
        cap = rules.pue_cap_existing
        deciding = self.operating & ~(self.pue <= cap) & ~(self.retrofit_pue > 0)
        for row in np.flatnonzero(deciding):
            spent += self.agents[row].decide_retrofit(
                cap, surcharge_rmb_per_kwh,
                self.best_pue(int(self.node[row]), month), float(self.occupied_mw[row].sum()),
                month)
        return spent

    def voluntary_green(self, month: int) -> float:
        """Green-power share DCs buy without a mandate this year (customer demand) [C]."""
        s = self.supply
        return min(1.0, s.voluntary_green_share
                   + s.voluntary_green_growth * max(years_since_base(month), 0.0))

    def raise_voluntary_green(self, month: int) -> None:
        """Each January DCs not retired raise their green contracts to the voluntary level."""
        self.green_target = np.where(self.status != RETIRED,
                                     np.maximum(self.green_target, self.voluntary_green(month)),
                                     self.green_target)

    def capacity_cost(self) -> np.ndarray:
        """Capex annuity + O&M per kW of capacity per month, by compute type [D, 2]."""
        s = self.supply
        crf = 1.0 / annuity_factor(s.price_capital_rate, s.life_years)
        capex = (self.capex_per_kw + self.land_per_kw)[:, None] * np.array(
            [1.0, s.capex_intelligent_multiplier])[None, :]
        return capex * crf / 12.0 + s.om_rmb_per_kw_month

    def build_capex_rmb(self) -> np.ndarray:
        """Capex paid for every DC's capacity, RMB [D]: the build cost per kW (times
        `capex_intelligent_multiplier` for intelligent capacity) plus land per kW, the sum an
        investor commits at construction (`Investor.propose`, the DC's `investment_rmb`); the
        initial stock at the configured build cost of its node."""
        general = (self.capex_per_kw + self.land_per_kw) * self.cap_mw[:, 0]
        intelligent = (self.capex_per_kw * self.supply.capex_intelligent_multiplier
                       + self.land_per_kw) * self.cap_mw[:, 1]
        # the two added as numpy's sum(axis=1) adds a row: to 0.0 first (two -0.0s give 0.0)
        return (0.0 + general + intelligent) * 1000.0

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
        """Cost-plus prices with a markup that adapts to utilisation - up when nearly full,
        down when idle, back towards its initial level in between (the market recovers
        after a glut) - never below cash cost."""
        s = self.supply
        cap = self.cap_mw.sum(axis=1)
        util = np.divide(occupied_mw.sum(axis=1), cap, out=np.zeros_like(cap), where=cap > 0)
        recover = np.clip(s.initial_markup - self.markup, -s.markup_step, s.markup_step)
        step = np.where(util > s.full_utilisation, s.markup_step,
                        np.where(util < s.idle_utilisation, -s.markup_step, recover))
        self.markup = np.clip(self.markup + step, s.markup_floor, s.markup_cap)
        unit = energy_cost[:, None] + self.capacity_cost() / s.price_normal_utilisation
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

    def should_retire(self, month: int) -> bool:
        """End of life (an operator with lasting losses sells instead: `construct_and_retire`)."""
        f = self.fleet
        return bool(f.status[self.row] == OPERATING and f.retire_month[self.row] <= month)

    def retire(self) -> None:
        self.fleet.status[self.row] = RETIRED

    def decide_retrofit(self, pue_cap: float, surcharge_rmb_per_kwh: float, best_pue: float,
                        occupied_mw: float, month: int = 0) -> float:
        """Retrofit when cheaper than `supply.retrofit_payback_years` of surcharge; returns
        retrofit capex, RMB (paid at the start). The works (cooling and power chains
        replaced hall by hall in a live DC) take `supply.retrofit_months`; the design PUE
        falls when they are done (at once when 0), and the DC pays the surcharge meanwhile."""
        f, s = self.fleet, self.fleet.supply
        pue = float(f.pue[self.row])
        if not self.is_operating or pue <= pue_cap or f.retrofit_pue[self.row] > 0:
            return 0.0
        target = max(pue_cap - s.retrofit_pue_margin, best_pue)
        cost = (pue - target) / 0.1 * s.retrofit_rmb_per_kw_per_0_1 * self.capacity_mw * 1000
        surcharge = (surcharge_rmb_per_kwh * occupied_mw * 1000 * pue * HOURS_PER_YEAR
                     * s.retrofit_payback_years)
        if cost < surcharge:
            if s.retrofit_months > 0:
                f.retrofit_pue[self.row] = target
                f.retrofit_month[self.row] = month + int(round(s.retrofit_months))
            else:
                f.pue[self.row] = target
            f.cash[self.row] -= cost
            return cost
        return 0.0
