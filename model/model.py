"""EDWCModel: one month of China's compute economy, in the order of docs/design.md §1.3.

1. governments update instruments; 2. grid operators set tariffs, factors, UHV flows;
3. data centers finish construction, retire and set prices; 4. enterprises grow and place
movable load; 5. data centers account, retrofit and investors invest; 6. data collection.
The behaviour lives with the agents: `agents/enterprise.py` (growth, renewals, choice),
`agents/datacenter.py` (prices, construction, retirement, retrofit, green contracts, accounts),
`agents/investor.py` (capacity planning, NPV test, rack targets, approval requests),
`agents/government.py` (rules, vouchers, budgets, approval), `agents/grid_operator.py`
(tariffs, green supply, curtailment, UHV); `model/market.py` is the placement market.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import mesa
import numpy as np
from omegaconf import DictConfig

from agents.datacenter import Fleet
from agents.enterprise import EnterpriseTable
from agents.government import LocalGovernment, LocalGovernments, NationalGovernment
from agents.grid_operator import GridOperator, GridOperators
from agents.investor import Investor
from model.compose import model_config
from model.constants import years_since_base
from model.geography import Map
from model.market import Terms, place, place_reference
from model.outcomes import MESA_REPORTERS
from model.recorder import Recorder
from model.schema import ModelConfig
from model.state import MonthAccount, Rules
from model.streams import Streams


class EDWCModel(mesa.Model):
    """Agent-based model of the East-Data-West-Computing programme, monthly steps.

    State read by the recorder (`model.state.ModelState`): month, config, map, fleet,
    enterprises, account (`MonthAccount`), grids, local_govs, national, want_w, last_terms.

    Built from a validated `ModelConfig`, or Mesa-style from keywords (`model.compose`):
    `EDWCModel(seed=1, scenario="no_edwc", overrides=["run.end=2025-12"])`, a DictConfig,
    or dotted config keys (`EDWCModel(**{"demand.n_enterprises": 500})`, as
    `mesa.batch_run` passes its parameters). No seed at all draws a fresh one (Mesa's
    convention); `seed` and `rng` (an int) are the same. `model.datacollector` is a Mesa
    DataCollector whose model reporters are month, seed and the declared national outcomes
    (`model/outcomes.py`, column units), read each step from the recorder.
    """

    def __init__(self, config: ModelConfig | DictConfig | Mapping | None = None,
                 reference_market: bool = False, *, seed: int | None = None,
                 rng: int | None = None, scenario: str | None = None,
                 overrides: Sequence[str] | Mapping[str, Any] = (), **keys: Any) -> None:
        config = model_config(config, seed=seed, rng=rng, scenario=scenario, overrides=overrides,
                              keys=keys)
        super().__init__(rng=config.run.seed)
        self.config = config
        self.streams = Streams(config.run.seed)   # every process's own random stream
        self._market_calls = 0                    # market runs this month (a stream key)
        self.map = Map(config.geography)
        self.month = config.run.start
        self.place_load = place_reference if reference_market else place
        n, nat = self.map.n, config.policy.national
        self.surcharge = nat.pue_surcharge_rmb_per_kwh   # RMB/kWh above the PUE cap
        # agents, in this order (Mesa ids are given in order of creation)
        self.national = NationalGovernment(self, nat, self.map.names)
        self.local_govs = LocalGovernments(
            [LocalGovernment(self, i, loc) for i, loc in enumerate(config.policy.local)],
            self.map.role)
        premium = config.grid.green_premium_rmb_per_kwh
        self.grids = GridOperators(
            [GridOperator(self, i, node, config.grid)
             for i, node in enumerate(config.geography.nodes)],
            config.geography.lines, self.map.index,
            np.array([premium[r] for r in self.map.role]))
        self.enterprises = EnterpriseTable(config.demand, n, self.streams)
        self.enterprises.add_agents(self)
        self.fleet = Fleet(config.supply, config.geography.nodes)
        self.fleet.build_initial_stock(self, self.month, self.streams)
        self.investor = Investor(self)
        self.want_w = self.enterprises.demand_w()   # [E, 6] demand this month, W
        self.account: MonthAccount
        self.last_terms: Terms
        self.recorder = Recorder(self)
        self._initial_placement()
        self.datacollector = mesa.DataCollector(model_reporters=MESA_REPORTERS)
        self.datacollector.collect(self)
        self.running = not self.finished

    def _initial_placement(self) -> None:
        """Place 2022 demand so that each node starts at its observed utilisation."""
        rules = self.national.at(self.month)
        self.grids.set_month(self.month, years_since_base(self.month),
                             self.local_govs.discount_rates(self.month))
        self.fleet.set_prices(self.grids, rules, self.surcharge)
        cap_w = self.fleet.capacity_w()
        node = np.repeat(self.fleet.node, 2)
        util = np.asarray(self.config.supply.initial_utilisation)[node]
        slack = self.config.supply.initial_fill_slack
        limit = np.floor(cap_w * np.minimum(util * slack, 1.0)).astype(np.int64)
        t = self.enterprises
        want = t.demand_w()
        self._place(np.argwhere(want > 0), want, limit, rules)
        # what did not fit under the observed occupancy takes any capacity left (no reserve):
        # the 2021 stock served all 2021 demand
        left = np.argwhere((t.pool < 0) & (want > 0))
        if len(left):
            placed = t.pool >= 0
            occ = np.bincount(t.pool[placed], weights=t.load_w[placed], minlength=len(cap_w))
            self._place(left, want, cap_w - occ.astype(np.int64), rules)
        self._account(rules)
        self.recorder.record(rules)

    # ------------------------------------------------------------------ the month

    def step(self) -> None:
        """Advance one month (docs/design.md §1.3); after run.end, `running` turns False."""
        if self.finished:
            self.running = False
            return
        self.month += 1
        self._market_calls = 0
        month, rules = self.month, self.national.at(self.month)
        f, t, govs = self.fleet, self.enterprises, self.local_govs
        # 1. governments: each January, adapt instruments to last year's KPI, refill budgets
        if month % 12 == 0:
            first = month // 12 == self.config.run.start // 12
            govs.new_year(self.recorder.node_utilisation_last_year(), first)
            self.grids.new_year()
        # 2. grid operators: UHV delivery, tariffs (with local power discounts), factors
        self.grids.set_month(month, years_since_base(month), govs.discount_rates(month))
        # 3. data centers: finish construction, retire (their load is unplaced), set prices
        t.evict(f.construct_and_retire(month))
        f.set_prices(self.grids, rules, self.surcharge)
        # 4. enterprises: grow, split, renew or grow in place, and the movers choose
        d = self.config.demand
        t.grow(np.array([d.growth_general.at(month), d.growth_intelligent.at(month)]))
        t.split_giants(self, f, d.split_share)
        want = t.demand_w()
        cap_w = f.capacity_w()
        movers, free = t.renew_and_grow(want, cap_w, d.contract_months, self.streams, month,
                                          retender=d.short_of_room == "retender")
        reserve = np.floor(cap_w * self.config.supply.growth_reserve).astype(np.int64)
        self._place(movers, want, np.maximum(free - reserve, 0), rules)
        # 5. data centers account; each January retrofit and raise green contracts;
        #    investors build to rack targets (each plan year) and to the capacity gap
        self._account(rules)
        if month % 12 == 0:
            self.account.retrofit += f.retrofit(month, rules, self.surcharge)
            f.raise_voluntary_green(month)
        if month % 12 == 0 or month == self.config.run.start + 1:
            self.investor.follow_rack_targets(rules)   # each plan year, the first one included
        self.investor.plan_capacity(rules)
        self.account.pad(f.n)
        # 6. data collection
        self.recorder.record(rules)
        self.datacollector.collect(self)   # Mesa's collector reads the recorder's national row
        self.running = not self.finished

    @property
    def finished(self) -> bool:
        return self.month >= self.config.run.end

    def run(self) -> None:
        """Run from run.start to run.end (inclusive)."""
        while not self.finished:
            self.step()

    def market_terms(self, rules: Rules) -> Terms:
        """This month's cost terms for the placement market."""
        d = self.config.demand
        return Terms(
            km=self.map.km, latency_ms=self.map.latency_ms(rules.route_factor),
            limit_ms=np.asarray(self.config.geography.latency_limits_ms),
            voucher=self.local_govs.voucher_table(self.month),
            transfer_per_1000km=rules.transfer_rmb_per_kw_month_1000km,
            latency_penalty=np.array([d.latency_penalty_rmb_per_ms, d.latency_penalty_rmb_per_ms,
                                      d.batch_latency_penalty_rmb_per_ms]),
            risk_per_1000km=d.distance_risk_rmb_per_1000km * (1.0 - rules.dispatch_risk_reduction),
            green_value=d.green_value_rmb,
            migration=d.migration_cost_rmb_per_kw / d.contract_months)

    def _place(self, movers: np.ndarray, want: np.ndarray, free_w: np.ndarray,
               rules: Rules) -> None:
        """The placement market for movable segments `movers` ([k, 2] rows/segments)."""
        self.last_terms = self.market_terms(rules)
        call, self._market_calls = self._market_calls, self._market_calls + 1
        self.enterprises.choose(movers, want, free_w, self.fleet, self.last_terms, self.streams,
                                (self.month, call), self.place_load)
        self.want_w = want

    def _account(self, rules: Rules) -> None:
        """Data centers account for the month (energy, green contracts, money); investors
        update their expected utilisation."""
        self.account = self.fleet.account(self.month, rules, self.surcharge, self.map.n,
                                          self.enterprises, self.grids, self.local_govs)
        self.investor.observe(self.account.node_util)
