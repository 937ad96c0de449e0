"""EDWCModel: one month of China's compute economy, in the order of DESIGN §5.

1. governments update instruments; 2. grid operators set tariffs, factors, UHV flows;
3. data centers set prices, finish construction, retire; 4. enterprises grow and place
movable load; 5. data centers account, retrofit and invest; 6. data collection.
"""

from __future__ import annotations

import mesa
import numpy as np

from agents.datacenter import BUILDING, HOURS_PER_MONTH, OPERATING, RETIRED, Fleet, annuity_factor
from agents.enterprise import SEG_CLASS, SEG_TYPE, Enterprise, EnterpriseTable
from agents.government import LocalGovernment, NationalGovernment
from agents.grid_operator import GridOperator
from model.geography import Map
from model.market import Choosers, Pools, Terms, place, place_reference
from model.recorder import Recorder
from model.schema import ModelConfig

EAST, WEST = 0, 2   # node roles (model.schema.ROLES order)
INITIAL_FILL_SLACK = 1.03   # initial pools open to 103 % of the observed 2021 occupancy [C]


class EDWCModel(mesa.Model):
    """Agent-based model of the East-Data-West-Computing programme, monthly steps."""

    def __init__(self, config: ModelConfig, reference_market: bool = False) -> None:
        super().__init__(rng=config.run.seed)
        self.config = config
        self.map = Map(config.geography)
        self.month = config.run.start
        self.place_load = place_reference if reference_market else place
        n = self.map.n
        self.national = NationalGovernment(self, config.policy.national, self.map.names)
        self.local_govs = [LocalGovernment(self, i, loc) for i, loc in
                           enumerate(config.policy.local)]
        self.grids = [GridOperator(self, i, node, config.grid)
                      for i, node in enumerate(config.geography.nodes)]
        self.enterprises = EnterpriseTable(config.demand, n, self.rng)
        self.enterprise_agents = [Enterprise(self, row) for row in range(self.enterprises.n)]
        self.fleet = Fleet(config.supply)
        self._build_initial_stock()
        self.occupied_mw = np.zeros((self.fleet.n, 2))
        self.node_util_ema = np.asarray(config.supply.initial_utilisation, dtype=float).copy()
        self.dc_facility_mw = np.zeros(n)
        self.recorder = Recorder(self)
        self._initial_placement()
        self.running = not self.finished

    # ------------------------------------------------------------------ set-up

    def _years(self, month: int | None = None) -> float:
        """Years since January 2022 (the calibration base year)."""
        return ((self.month if month is None else month) - 2022 * 12) / 12.0

    def _build_initial_stock(self) -> None:
        s, rng = self.config.supply, self.rng
        kinds = np.array([k.share for k in s.operator_kinds])
        shares = np.asarray(s.capacity_shares)
        counts = np.where(shares > 0, np.maximum(1, np.rint(shares * s.n_datacenters)), 0)
        for node, count in enumerate(counts.astype(int)):
            if count == 0:
                continue
            sizes = rng.lognormal(0.0, 0.6, count)
            sizes *= shares[node] * s.initial_capacity_mw / sizes.sum()
            for size in sizes:
                age = rng.uniform(0.0, 12.0)
                built = self.month - int(age * 12)
                intel = np.clip(s.intelligent_capacity_share * rng.uniform(0.5, 1.5), 0.0, 1.0)
                self.fleet.add(
                    self, node=node, kind=rng.choice(len(kinds), p=kinds), status=OPERATING,
                    cap_mw=np.array([size * (1 - intel), size * intel]),
                    fpw=np.asarray(s.flops_per_watt),
                    pue=self.config.geography.nodes[node].best_pue
                    + rng.uniform(*s.initial_pue_excess),
                    markup=s.initial_markup, online_month=built, built_month=built,
                    retire_month=built + int(s.life_years * 12),
                    capex_per_kw=s.capex_rmb_per_kw,
                    land_per_kw=self.config.geography.nodes[node].land_rmb_per_kw,
                    util_ema=s.initial_utilisation[node], green_target=s.voluntary_green_share)
        self._build_pipeline()

    def _build_pipeline(self) -> None:
        """Projects already under construction at the start, online during their year."""
        s, rng = self.config.supply, self.rng
        kinds = np.array([k.share for k in s.operator_kinds])
        for year, mw, shares in s.initial_pipeline:
            for node, share in enumerate(shares):
                if share <= 0:
                    continue
                mean_dc = s.initial_capacity_mw / s.n_datacenters
                parts = max(1, int(round(share * mw / mean_dc)))   # projects of a mean DC [C]
                for _ in range(parts):
                    online = max(year * 12 + int(rng.integers(0, 12)), self.month + 1)
                    size = share * mw / parts
                    geo = self.config.geography.nodes[node]
                    intel = s.intelligent_capacity_share
                    self.fleet.add(
                        self, node=node, kind=rng.choice(len(kinds), p=kinds), status=BUILDING,
                        cap_mw=np.array([size * (1 - intel), size * intel]),
                        fpw=np.asarray(s.flops_per_watt), pue=geo.best_pue,
                        markup=s.initial_markup, online_month=online, built_month=online - 24,
                        retire_month=online + int(s.life_years * 12),
                        capex_per_kw=s.capex_rmb_per_kw, land_per_kw=geo.land_rmb_per_kw,
                        util_ema=s.initial_utilisation[node],
                        green_target=s.voluntary_green_share)

    def _initial_placement(self) -> None:
        """Place 2022 demand so that each node starts at its observed utilisation."""
        rules = self.national.at(self.month)
        self._set_grid(rules)
        self._set_prices(rules)
        cap_w = self._capacity_w()
        node = np.repeat(self.fleet.node, 2)
        util = np.asarray(self.config.supply.initial_utilisation)[node]
        limit = np.floor(cap_w * np.minimum(util * INITIAL_FILL_SLACK, 1.0)).astype(np.int64)
        t = self.enterprises
        want = t.demand_w()
        movers = np.argwhere(want > 0)
        self._place(movers, want, limit, rules)
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
        """Advance one month (DESIGN §5); after run.end, `running` turns False."""
        if self.finished:
            self.running = False
            return
        self.month += 1
        rules = self.national.at(self.month)
        self._update_governments()                         # 1
        self._set_grid(rules)                              # 2
        self._update_fleet(rules)                          # 3
        self._grow_and_place(rules)                        # 4
        self._account(rules)                               # 5
        self._invest(rules)
        self._pad_account()
        self.recorder.record(rules)                        # 6
        self.running = not self.finished

    @property
    def finished(self) -> bool:
        return self.month >= self.config.run.end

    def run(self) -> None:
        """Run from run.start to run.end (inclusive)."""
        while not self.finished:
            self.step()

    # 1 ---------------------------------------------------------------- governments

    def _update_governments(self) -> None:
        if self.month % 12 != 0:
            return
        first = self.month // 12 == self.config.run.start // 12
        util = self.recorder.node_utilisation_last_year()
        for gov in self.local_govs:
            gov.new_year(util[gov.index], first)
        for grid in self.grids:
            grid.new_year()

    def voucher_table(self, nominal: bool = False) -> np.ndarray:
        """Voucher share of a bill [home node, DC node, compute type] this month: the rate
        enterprises expect (nominal rate x share of claims paid last month), or the nominal
        rate that claims are made at."""
        n = self.map.n
        table = np.zeros((n, n, 2))
        west = self.map.role == WEST
        for gov in self.local_govs:
            b = gov.voucher
            rate = (b.rate if b.active(self.month) else 0.0) if nominal \
                else gov.voucher_rate(self.month)
            if rate <= 0:
                continue
            inst = b.instrument
            scope = {"local": np.arange(n) == gov.index, "any": np.ones(n, bool),
                     "west": west}[inst.scope]
            for ct in inst.compute_types:
                table[gov.index, scope, ("general", "intelligent").index(ct)] = rate
        return table

    # 2 ---------------------------------------------------------------- grid

    def _set_grid(self, rules: dict) -> None:
        for g in self.grids:
            g.clear_imports()
        self.uhv = np.zeros(3)   # sent MWh, lost MWh, tariff RMB
        self.line_flows = np.zeros((len(self.config.geography.lines), 3))   # per line, same
        for k, line in enumerate(self.config.geography.lines):
            sent, lost, tariff_rmb = GridOperator.uhv_delivery(line, self.month)
            self.line_flows[k] = (sent, lost, tariff_rmb)
            if sent > 0:
                self.grids[self.map.index[line.sink]].receive(
                    sent - lost, line.ef, line.sending_price + line.tariff_rmb_per_kwh)
                self.uhv += (sent, lost, tariff_rmb)
        years = self._years()
        for g, gov in zip(self.grids, self.local_govs, strict=True):
            g.update(years, gov.discount_rate(self.month), self.dc_facility_mw[g.index])
        self.tariff = np.array([g.tariff for g in self.grids])
        self.base_tariff = np.array([g.base_tariff for g in self.grids])
        self.ef = np.array([g.ef for g in self.grids])
        premium = self.config.grid.green_premium_rmb_per_kwh
        self.green_premium = np.array([premium[r] for r in self.map.role])

    # 3 ---------------------------------------------------------------- data centers

    def _set_prices(self, rules: dict) -> None:
        f = self.fleet
        self.energy_cost = f.energy_cost(self.tariff, self.ef, self.green_premium,
                                         rules["carbon_price_rmb_per_t"],
                                         rules["pue_cap_existing"],
                                         self.config.policy.national.pue_surcharge_rmb_per_kwh)
        f.update_prices(self._occupied_padded(), self.energy_cost)

    def _occupied_padded(self) -> np.ndarray:
        occ = np.zeros((self.fleet.n, 2))
        occ[: len(self.occupied_mw)] = self.occupied_mw
        return occ

    def _update_fleet(self, rules: dict) -> None:
        f = self.fleet
        for row in np.flatnonzero(f.status == BUILDING):
            f.agents[row].complete_construction(self.month)
        due = (f.status == OPERATING) & ((f.retire_month <= self.month)
                                          | (f.loss_months >= f.supply.exit_loss_months))
        retiring = [a for a in (f.agents[r] for r in np.flatnonzero(due))
                    if a.should_retire(self.month)]
        if retiring:
            rows = np.array([a.row for a in retiring])
            for a in retiring:
                a.retire()
            t = self.enterprises
            gone = np.isin(t.pool // 2, rows) & (t.pool >= 0)
            t.pool[gone] = -1
            t.load_w[gone] = 0
        self._set_prices(rules)

    def _capacity_w(self) -> np.ndarray:
        """Capacity of every pool (row*2 + type) in W; zero unless operating."""
        cap = np.where(self.fleet.operating[:, None], self.fleet.cap_mw, 0.0)
        return np.floor(cap.ravel() * 1e6).astype(np.int64)

    # 4 ---------------------------------------------------------------- enterprises

    def _grow_and_place(self, rules: dict) -> None:
        d, t, rng = self.config.demand, self.enterprises, self.rng
        growth = np.array([d.growth_general.at(self.month), d.growth_intelligent.at(self.month)])
        t.grow(growth)
        self._split_giants()
        want = t.demand_w()
        placed = t.pool >= 0
        renew = placed & (rng.random(want.shape) < 1.0 / d.contract_months)
        stay = placed & ~renew
        cap_w = self._capacity_w()
        occ = np.bincount(t.pool[stay], weights=t.load_w[stay], minlength=len(cap_w))
        free = cap_w - occ.astype(np.int64)
        # growth in place, accepted per pool in random priority order while it fits
        delta = np.where(stay, want - t.load_w, 0)
        grow_idx = np.argwhere(delta > 0)
        overflow = np.zeros(want.shape, dtype=bool)
        if len(grow_idx):
            g_pool = t.pool[grow_idx[:, 0], grow_idx[:, 1]]
            g_load = delta[grow_idx[:, 0], grow_idx[:, 1]]
            # by pool, then a random priority (unique keys, so any sort gives this order)
            order = np.argsort(g_pool * len(g_pool) + rng.permutation(len(g_pool)))
            gp, gl = g_pool[order], g_load[order]
            csum = np.cumsum(gl)
            first = np.r_[True, gp[1:] != gp[:-1]]
            start = np.maximum.accumulate(np.where(first, np.arange(len(gp)), 0))
            fits = csum - (csum[start] - gl[start]) <= free[gp]
            np.subtract.at(free, gp[fits], gl[fits])
            rejected = grow_idx[order[~fits]]
            overflow[rejected[:, 0], rejected[:, 1]] = True
        shrink = stay & (delta < 0)
        free += np.bincount(t.pool[shrink], weights=-delta[shrink],
                            minlength=len(cap_w)).astype(np.int64)
        keep = stay & ~overflow
        t.load_w[keep] = want[keep]
        # overflowing segments leave their pool with their old load
        free += np.bincount(t.pool[overflow], weights=t.load_w[overflow],
                            minlength=len(cap_w)).astype(np.int64)
        movers = np.argwhere((renew | overflow | ~placed) & (want > 0))
        reserve = np.floor(cap_w * self.config.supply.growth_reserve).astype(np.int64)
        self._place(movers, want, np.maximum(free - reserve, 0), rules)

    def _split_giants(self) -> None:
        """Enterprise groups whose segment outgrows a typical data center split in two."""
        t, f = self.enterprises, self.fleet
        ops = f.operating
        if not ops.any():
            return
        limit = self.config.demand.split_share * f.cap_mw[ops].sum() / ops.sum()
        rows = np.flatnonzero((t.demand_mw > limit).any(axis=1))
        if rows.size:
            for row in t.split(rows):
                self.enterprise_agents.append(Enterprise(self, int(row)))

    def market_terms(self, rules: dict) -> Terms:
        """This month's cost terms for the placement market."""
        d = self.config.demand
        return Terms(
            km=self.map.km, latency_ms=self.map.latency_ms(rules["route_factor"]),
            limit_ms=np.asarray(self.config.geography.latency_limits_ms),
            voucher=self.voucher_table(),
            transfer_per_1000km=rules["transfer_rmb_per_kw_month_1000km"],
            latency_penalty=np.array([d.latency_penalty_rmb_per_ms, d.latency_penalty_rmb_per_ms,
                                      d.batch_latency_penalty_rmb_per_ms]),
            risk_per_1000km=d.distance_risk_rmb_per_1000km
            * (1.0 - rules["dispatch_risk_reduction"]),
            green_value=d.green_value_rmb,
            migration=d.migration_cost_rmb_per_kw / d.contract_months)

    def _place(self, movers: np.ndarray, want: np.ndarray, free_w: np.ndarray,
               rules: dict) -> None:
        """Run the market for movable segments `movers` ([k, 2] rows/segments)."""
        t, f, rng = self.enterprises, self.fleet, self.rng
        rows, segs = movers[:, 0], movers[:, 1]
        open_pools = np.flatnonzero(free_w > 0)
        local_index = np.full(len(free_w), -1)
        local_index[open_pools] = np.arange(len(open_pools))
        current = np.where(t.pool[rows, segs] >= 0, local_index[np.maximum(t.pool[rows, segs], 0)],
                           -1)
        choosers = Choosers(
            home=t.home[rows], ctype=SEG_TYPE[segs], lclass=SEG_CLASS[segs],
            load_w=want[rows, segs], current=current, beta=t.beta[rows], risk=t.risk[rows],
            green=t.green[rows], intensity=t.intensity[rows], resident=t.resident[rows, segs])
        dc = open_pools // 2
        pools = Pools(node=f.node[dc], ctype=open_pools % 2, price=f.price[dc, open_pools % 2],
                      green=f.green_share[dc], free_w=free_w[open_pools])
        terms = self.market_terms(rules)
        self.last_terms = terms
        draws = rng.random((len(rows), 6))
        priority = rng.permutation(len(rows))
        assigned, _ = self.place_load(choosers, pools, terms, draws, priority)
        ok = assigned >= 0
        t.pool[rows, segs] = np.where(ok, open_pools[np.maximum(assigned, 0)], -1)
        t.load_w[rows, segs] = np.where(ok, want[rows, segs], 0)
        self.want_w = want

    # 5 ---------------------------------------------------------------- accounting

    def _account(self, rules: dict) -> None:
        """Occupancy, energy, green power, emissions and the month's money flows."""
        t, f = self.enterprises, self.fleet
        placed = t.pool >= 0
        occ = np.bincount(t.pool[placed], weights=t.load_w[placed], minlength=2 * f.n)
        self.occupied_mw = occ.reshape(f.n, 2) / 1e6
        it_mw = self.occupied_mw.sum(axis=1)
        n = self.map.n
        energy = it_mw * f.pue * HOURS_PER_MONTH                     # facility MWh by DC
        node_energy = np.bincount(f.node, weights=energy, minlength=n)
        self.dc_facility_mw = node_energy / HOURS_PER_MONTH
        # green contracts, rationed per node by the grid's renewable surplus
        wanted = np.bincount(f.node, weights=energy * f.green_target, minlength=n)
        sold = np.array([g.sell_green(w) for g, w in zip(self.grids, wanted, strict=True)])
        fill = np.divide(sold, wanted, out=np.zeros(n), where=wanted > 0)
        f.green_share = f.green_target * fill[f.node]
        green_mwh = energy * f.green_share
        absorbed = np.array([g.absorb_curtailment(e) for g, e in
                             zip(self.grids, node_energy, strict=True)])
        # money
        revenue = (f.price * self.occupied_mw).sum(axis=1) * 1000.0
        voucher_paid = self._pay_vouchers()
        discount_claims = np.array([gov.power_discount.rate if gov.power_discount.active(
            self.month) else 0.0 for gov in self.local_govs]) * self.base_tariff * node_energy * 1e3
        months_left = 12 - self.month % 12
        discount_paid = np.array([gov.power_discount.pay(c, months_left) if c > 0 else 0.0
                                  for gov, c in zip(self.local_govs, discount_claims, strict=True)])
        share_of_node = np.divide(energy, node_energy[f.node], out=np.zeros(f.n),
                                  where=node_energy[f.node] > 0)
        electricity = (energy * 1e3 * self.base_tariff[f.node]
                       - discount_paid[f.node] * share_of_node)
        premium = green_mwh * 1e3 * self.green_premium[f.node]
        co2_market = (energy - green_mwh) * self.ef[f.node]
        carbon = co2_market * rules["carbon_price_rmb_per_t"]
        over = f.pue > rules["pue_cap_existing"]
        surcharge = np.where(over, energy * 1e3 *
                             self.config.policy.national.pue_surcharge_rmb_per_kwh, 0.0)
        operating = f.operating
        om = np.where(operating, f.cap_mw.sum(axis=1) * 1e3
                      * self.config.supply.om_rmb_per_kw_month, 0.0)
        margin = revenue - electricity - premium - carbon - surcharge - om
        f.cash += margin
        f.loss_months = np.where(operating & (margin < 0), f.loss_months + 1, 0)
        cap = f.cap_mw.sum(axis=1)
        util = np.divide(it_mw, cap, out=np.zeros(f.n), where=cap > 0)
        a = self.config.supply.expectation_alpha
        f.util_ema = np.where(operating, (1 - a) * f.util_ema + a * util, f.util_ema)
        node_cap = np.bincount(f.node, weights=np.where(operating, cap, 0.0), minlength=n)
        node_it = np.bincount(f.node, weights=it_mw, minlength=n)
        node_util = np.divide(node_it, node_cap, out=np.zeros(n), where=node_cap > 0)
        self.node_util_ema = (1 - a) * self.node_util_ema + a * node_util
        self.month_account = {
            "energy": energy, "node_energy": node_energy, "green_mwh": green_mwh,
            "absorbed": absorbed, "revenue": revenue, "voucher_paid": voucher_paid,
            "discount_paid": discount_paid, "electricity": electricity, "premium": premium,
            "carbon": carbon, "surcharge": surcharge, "co2_market": co2_market,
            "node_util": node_util, "capex_subsidy": np.zeros(n), "investment": np.zeros(n),
            "new_mw": np.zeros(n), "retrofit": 0.0}

    def _pad_account(self) -> None:
        """Give data centers started this month (no load yet) zero rows in the accounts."""
        acc, n = self.month_account, self.fleet.n
        for key in ("energy", "green_mwh", "revenue", "electricity", "premium", "carbon",
                    "surcharge", "co2_market"):
            acc[key] = np.pad(acc[key], (0, n - len(acc[key])))

    def _pay_vouchers(self) -> np.ndarray:
        """Each local government pays its voucher claims up to its monthly allowance."""
        t, f = self.enterprises, self.fleet
        n = self.map.n
        paid = np.zeros(n)
        placed = t.pool >= 0
        table = self.voucher_table(nominal=True)
        if not placed.any() or not table.any():
            return paid
        rows, segs = np.nonzero(placed)
        pool = t.pool[placed]
        dc = pool // 2
        home = t.home[rows]
        claims_each = (table.ravel()[(home * n + f.node[dc]) * 2 + pool % 2]
                       * f.price.ravel()[pool] * t.load_w[placed] / 1e3)
        claims = np.bincount(home, weights=claims_each, minlength=n)
        months_left = 12 - self.month % 12
        for gov in self.local_govs:
            if claims[gov.index] > 0:
                paid[gov.index] = gov.voucher.pay(claims[gov.index], months_left)
        return paid

    # 5b --------------------------------------------------------------- investment

    def _invest(self, rules: dict) -> None:
        """Retrofits and rack-target builds (January), then capacity planning."""
        f, acc = self.fleet, self.month_account
        if self.month % 12 == 0:
            for row in np.flatnonzero(f.operating):
                acc["retrofit"] += f.agents[row].decide_retrofit(
                    rules["pue_cap_existing"],
                    self.config.policy.national.pue_surcharge_rmb_per_kwh,
                    self._best_pue(int(f.node[row])), float(self.occupied_mw[row].sum()))
            self._follow_rack_targets(rules)
            self._raise_voluntary_green()
        self._plan_capacity(rules)

    def expected_demand_growth(self) -> np.ndarray:
        """Adaptive expectation of yearly demand growth by compute type: the last 12 months'."""
        nat = self.recorder.national
        if len(nat) < 13:
            return np.array([0.2, 0.4])   # 2021: racks +25 % [A], intelligent +41 % [A/B]
        now = np.array([nat[-1]["demand_mw_general"], nat[-1]["demand_mw_intelligent"]])
        before = np.array([nat[-13]["demand_mw_general"], nat[-13]["demand_mw_intelligent"]])
        return np.maximum(now / np.maximum(before, 1e-9) - 1.0, -0.5)

    def local_growth_ratio(self) -> np.ndarray:
        """Adaptive expectation of each node's load growth relative to the nation's: the last
        12 months' growth of load served at the node over national served growth, clipped to
        [0.8, 1.4] per year [C]. Builders see load spilling into their node (e.g. from
        quota-bound eastern nodes) and plan for it."""
        rec = self.recorder
        if len(rec.node) < 13:
            return np.ones(self.map.n)
        now, before = rec.node[-1]["served_mw"], rec.node[-13]["served_mw"]
        national = rec.national[-1]["served_mw"] / max(rec.national[-13]["served_mw"], 1e-9)
        node = np.divide(now, before, out=np.full(self.map.n, national), where=before > 1.0)
        return np.clip(node / national, 0.8, 1.4)

    def _plan_capacity(self, rules: dict) -> None:
        """Operators start projects where expected utilisation at completion, by node and
        compute type, exceeds the planning level; each project must pass its own NPV test
        and national approval."""
        f, s, rng, n = self.fleet, self.config.supply, self.rng, self.map.n
        lag_years = (s.build_lag_months[0] + s.build_lag_months[1]) / 24.0
        growth = (1.0 + self.expected_demand_growth()) ** lag_years            # [type]
        # capacity that retires before new projects could finish does not count as planned
        live = (f.status != RETIRED) & (f.retire_month > self.month + lag_years * 12)
        planned = np.stack([np.bincount(f.node[live], weights=f.cap_mw[live, k], minlength=n)
                            for k in range(2)], axis=1)
        served = np.stack([np.bincount(f.node, weights=self.occupied_mw[:, k], minlength=n)
                           for k in range(2)], axis=1)
        last = self.recorder.national[-1] if self.recorder.national else {}
        unserved = np.array([last.get("unserved_mw_general", 0.0),
                             last.get("unserved_mw_intelligent", 0.0)])
        share = served / np.maximum(served.sum(axis=0), 1e-9)
        seen = served + unserved[None, :] * share
        local = self.local_growth_ratio() ** lag_years                         # [node]
        gap = seen * growth[None, :] * local[:, None] / s.planning_utilisation - planned
        kinds = np.array([k.share for k in s.operator_kinds])
        scale = max(1.0, self.enterprises.demand_mw.sum() / self.config.demand.initial_load_mw)
        mean_dc = s.initial_capacity_mw / s.n_datacenters
        low, high = (x * mean_dc * scale for x in s.project_size)
        for node, ctype in np.argwhere(gap >= low):   # smaller gaps wait until they grow
            budget = max(gap[node, ctype] * s.build_response, low)
            while budget > 0:
                size = min(rng.uniform(low, high), max(budget, low))
                budget -= size
                self._propose(int(node), int(rng.choice(len(kinds), p=kinds)), size, rules,
                              use_npv=True, intelligent=float(ctype))

    def _voluntary_green(self) -> float:
        """Green-power share DCs buy without a mandate this year (customer demand) [C]."""
        s = self.config.supply
        return min(1.0, s.voluntary_green_share
                   + s.voluntary_green_growth * max(self._years(), 0.0))

    def _raise_voluntary_green(self) -> None:
        """Each January operating DCs raise their green contracts to the voluntary level."""
        f = self.fleet
        f.green_target = np.where(f.status != RETIRED,
                                  np.maximum(f.green_target, self._voluntary_green()),
                                  f.green_target)

    def _best_pue(self, node: int) -> float:
        best = self.config.geography.nodes[node].best_pue
        return max(1.05, best - self.config.supply.pue_tech_gain * self._years())

    def _follow_rack_targets(self, rules: dict) -> None:
        """State-backed builders close part of the gap to provincial rack targets."""
        s, f = self.config.supply, self.fleet
        kinds = [k.name for k in s.operator_kinds]
        if "state" not in kinds or s.rack_target_follow <= 0:
            return
        year = self.month // 12
        for gov in self.local_govs:
            target = gov.rack_target(year)
            if target <= 0:
                continue
            live = (f.status != RETIRED) & (f.node == gov.index)
            have = f.cap_mw[live].sum() * 1000 / s.rack_kw
            gap = (target - have) * s.rack_target_follow
            if gap > 0:
                self._propose(gov.index, kinds.index("state"), gap * s.rack_kw / 1000, rules,
                              use_npv=False, exempt=s.state_exempt_from_floor)

    def _propose(self, node: int, kind: int, size_mw: float, rules: dict, use_npv: bool,
                 exempt: bool = False, intelligent: float | None = None) -> bool:
        """A build project: design PUE under the cap, NPV test, national approval, subsidy."""
        s, f, geo = self.config.supply, self.fleet, self.config.geography.nodes[node]
        if size_mw <= 0:
            return False
        east = self.map.role[node] == EAST
        cap = rules["pue_cap_new_east"] if east else rules["pue_cap_new_west"]
        best = self._best_pue(node)
        pue = min(best, cap)
        extra = max(0.0, best - cap) / 0.01 * s.pue_cap_extra_capex_per_0_01
        capex_kw = s.capex_rmb_per_kw + extra
        intel = self._new_build_intelligent_share() if intelligent is None else intelligent
        type_mult = (1 - intel) + intel * s.capex_intelligent_multiplier
        capex_total = (capex_kw * type_mult + geo.land_rmb_per_kw) * size_mw * 1000
        subsidy_rate = self.local_govs[node].capex_rate(self.month)
        hub = bool(self.national.is_hub[node])
        green = max(rules["green_mandate_new_hub"] if hub else 0.0, self._voluntary_green())
        if use_npv:
            kinds = self.config.supply.operator_kinds
            hurdle = kinds[kind].hurdle_rate
            ops = f.operating & (f.node == node)
            ct = int(round(intel))
            # investors look at the node's utilisation and at that of the compute type they
            # would build (a scarce type is worth building in an otherwise idle node)
            ops_occ = ops[: len(self.occupied_mw)]
            type_cap = f.cap_mw[: len(ops_occ)][ops_occ, ct].sum()
            type_util = self.occupied_mw[ops_occ, ct].sum() / type_cap if type_cap > 0 else 0.0
            u = float(np.clip(max(self.node_util_ema[node], type_util) + s.optimism, 0.0, 0.95))
            price = (float(np.average(f.price[ops, ct], weights=f.cap_mw[ops].sum(axis=1) + 1e-9))
                     if ops.any() else float(f.price[f.operating, ct].mean()))
            var = pue * HOURS_PER_MONTH * (self.tariff[node] + green * self.green_premium[node]
                                           + (1 - green) * self.ef[node] / 1000.0
                                           * rules["carbon_price_rmb_per_t"])
            margin = (u * (price - var) - s.om_rmb_per_kw_month) * 12 * size_mw * 1000
            npv = margin * annuity_factor(hurdle, s.life_years) - capex_total * (1 - subsidy_rate)
            if npv <= 0:
                return False
        quota = geo.energy_quota_twh
        energy_ok = quota <= 0 or (
            self.month_account["node_energy"][node] * 12
            + size_mw * 0.7 * pue * 8760) / 1e6 <= quota
        if not self.national.approve(node, self.month, float(self.month_account["node_util"][node]),
                                     exempt, energy_ok, float(self.rng.random())):
            return False
        subsidy = self.local_govs[node].capex_subsidy.pay(capex_total * subsidy_rate, 1) \
            if subsidy_rate > 0 else 0.0
        lag = int(self.rng.integers(s.build_lag_months[0], s.build_lag_months[1] + 1))
        online = self.month + lag
        years = self._years(online)
        f.add(self, node=node, kind=kind, status=BUILDING,
              cap_mw=np.array([size_mw * (1 - intel), size_mw * intel]),
              fpw=np.asarray(s.flops_per_watt) * (1 + s.flops_gain) ** max(years, 0.0),
              pue=pue, green_target=green, markup=s.initial_markup, online_month=online,
              built_month=self.month, retire_month=online + int(s.life_years * 12),
              capex_per_kw=capex_kw, land_per_kw=geo.land_rmb_per_kw,
              util_ema=self.node_util_ema[node], investment_rmb=capex_total,
              cash=subsidy - capex_total)
        self.occupied_mw = np.vstack([self.occupied_mw, np.zeros(2)])
        acc = self.month_account
        acc["capex_subsidy"][node] += subsidy
        acc["investment"][node] += capex_total
        acc["new_mw"][node] += size_mw
        return True

    def _new_build_intelligent_share(self) -> float:
        """Intelligent share of new capacity: follows the intelligent share of demand [C]."""
        d = self.enterprises.demand_mw
        share = d[:, SEG_TYPE == 1].sum() / max(d.sum(), 1e-9)
        return float(np.clip(1.5 * share, 0.05, 0.9))
