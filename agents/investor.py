"""Investment in new data-center capacity: how investors decide to build (DESIGN §4.2, §5
step 5).

Every month operators compare the capacity they will have with the load they expect by node
and compute type (`Investor.plan_capacity`: expectations of demand growth and of each node's
share of it, the capacity gap, project sizes). Each project is tested in `Investor.propose`:
design PUE under the cap, capex with the local capex subsidy, the NPV at the operator kind's
hurdle rate, the energy quota and national approval; approved projects are added to the fleet
as buildings. Each January state-backed builders also close part of the gap to provincial
rack targets without an NPV test (`Investor.follow_rack_targets`).

`Investor` is not a Mesa agent (it stands for all operators' investment departments), so it
takes no agent id. Capacity in MW of IT power, money in RMB.
"""

from __future__ import annotations

import numpy as np

from agents.datacenter import annuity_factor
from agents.enterprise import SEG_TYPE
from model.constants import (
    BUILDING,
    EAST,
    HOURS_PER_MONTH,
    HOURS_PER_YEAR,
    RETIRED,
    years_since_base,
)
from model.state import Rules, SimulationState
from model.streams import DC_ORIGINS, entity_key, pick


class Investor:
    """The investment decisions of all operators, and their expectations."""

    def __init__(self, model: SimulationState) -> None:
        self.model = model
        # adaptive expectation of each node's utilisation, 0..1
        self.node_util_ema = np.asarray(model.config.supply.initial_utilisation,
                                        dtype=float).copy()

    # ------------------------------------------------------------ expectations

    def observe(self, node_util: np.ndarray) -> None:
        """Update the expected node utilisation with this month's (exponential smoothing)."""
        a = self.model.config.supply.expectation_alpha
        self.node_util_ema = (1 - a) * self.node_util_ema + a * node_util

    def expected_demand_growth(self) -> np.ndarray:
        """Adaptive expectation of yearly demand growth by compute type: the last 12 months'."""
        nat = self.model.recorder.national
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
        rec, n = self.model.recorder, self.model.map.n
        if len(rec.node) < 13:
            return np.ones(n)
        now, before = rec.node[-1]["served_mw"], rec.node[-13]["served_mw"]
        national = rec.national[-1]["served_mw"] / max(rec.national[-13]["served_mw"], 1e-9)
        node = np.divide(now, before, out=np.full(n, national), where=before > 1.0)
        return np.clip(node / national, 0.8, 1.4)

    def new_build_intelligent_share(self) -> float:
        """Intelligent share of new capacity: follows the intelligent share of demand [C]."""
        d = self.model.enterprises.demand_mw
        share = d[:, SEG_TYPE == 1].sum() / max(d.sum(), 1e-9)
        return float(np.clip(1.5 * share, 0.05, 0.9))

    # ------------------------------------------------------------ decisions

    def plan_capacity(self, rules: Rules) -> None:
        """Operators start projects where expected utilisation at completion, by node and
        compute type, exceeds the planning level; each project must pass its own NPV test
        and national approval."""
        m = self.model
        f, s, n = m.fleet, m.config.supply, m.map.n
        lag_years = (s.build_lag_months[0] + s.build_lag_months[1]) / 24.0
        growth = (1.0 + self.expected_demand_growth()) ** lag_years            # [type]
        # capacity that retires before new projects could finish does not count as planned
        live = (f.status != RETIRED) & (f.retire_month > m.month + lag_years * 12)
        planned = np.stack([np.bincount(f.node[live], weights=f.cap_mw[live, k], minlength=n)
                            for k in range(2)], axis=1)
        served = np.stack([np.bincount(f.node, weights=f.occupied_mw[:, k], minlength=n)
                           for k in range(2)], axis=1)
        last = m.recorder.national[-1] if m.recorder.national else {}
        unserved = np.array([last.get("unserved_mw_general", 0.0),
                             last.get("unserved_mw_intelligent", 0.0)])
        share = served / np.maximum(served.sum(axis=0), 1e-9)
        seen = served + unserved[None, :] * share
        local = self.local_growth_ratio() ** lag_years                         # [node]
        gap = seen * growth[None, :] * local[:, None] / s.planning_utilisation - planned
        kinds = np.cumsum([k.share for k in s.operator_kinds])
        scale = max(1.0, m.enterprises.demand_mw.sum() / m.config.demand.initial_load_mw)
        mean_dc = s.initial_capacity_mw / s.n_datacenters
        low, high = (x * mean_dc * scale for x in s.project_size)
        for node, ctype in np.argwhere(gap >= low):   # smaller gaps wait until they grow
            budget = max(gap[node, ctype] * s.build_response, low)
            # the node-month's own stream: project k draws (size, kind, approval, lag)
            rng = m.streams.generator("investment", m.month, int(node), int(ctype))
            k = 0
            while budget > 0:
                u_size, u_kind, u_approve, u_lag = rng.random(4)
                size = min(low + u_size * (high - low), max(budget, low))
                budget -= size
                key = entity_key(DC_ORIGINS["investment"], m.month, int(node), int(ctype), k)
                self.propose(int(node), pick(kinds, u_kind), size, rules, use_npv=True,
                             draws=(u_approve, u_lag), key=key, intelligent=float(ctype))
                k += 1

    def follow_rack_targets(self, rules: Rules) -> None:
        """State-backed builders close part of the gap to provincial rack targets."""
        m = self.model
        s, f = m.config.supply, m.fleet
        kinds = [k.name for k in s.operator_kinds]
        if "state" not in kinds or s.rack_target_follow <= 0:
            return
        year = m.month // 12
        for gov in m.local_govs:
            target = gov.rack_target(year)
            if target <= 0:
                continue
            live = (f.status != RETIRED) & (f.node == gov.index)
            have = f.cap_mw[live].sum() * 1000 / s.rack_kw
            gap = (target - have) * s.rack_target_follow
            if gap > 0:
                u = m.streams.generator("rack_target", m.month, gov.index).random(2)
                self.propose(gov.index, kinds.index("state"), gap * s.rack_kw / 1000, rules,
                             use_npv=False, draws=(u[0], u[1]),
                             key=entity_key(DC_ORIGINS["rack_target"], m.month, gov.index),
                             exempt=s.state_exempt_from_floor)

    def npv(self, node: int, kind: int, size_mw: float, pue: float, intel: float, green: float,
            capex_total: float, subsidy_rate: float, rules: Rules) -> float:
        """NPV of a project, RMB: the margin at the expected utilisation (the node's, or the
        compute type's if higher, plus optimism) and the node's average price, over the
        life at the operator kind's hurdle rate, minus capex net of the subsidy."""
        m = self.model
        s, f, grids = m.config.supply, m.fleet, m.grids
        hurdle = s.operator_kinds[kind].hurdle_rate
        ops = f.operating & (f.node == node)
        ct = int(round(intel))
        # investors look at the node's utilisation and at that of the compute type they
        # would build (a scarce type is worth building in an otherwise idle node)
        type_cap = f.cap_mw[ops, ct].sum()
        type_util = f.occupied_mw[ops, ct].sum() / type_cap if type_cap > 0 else 0.0
        u = float(np.clip(max(self.node_util_ema[node], type_util) + s.optimism, 0.0, 0.95))
        price = (float(np.average(f.price[ops, ct], weights=f.cap_mw[ops].sum(axis=1) + 1e-9))
                 if ops.any() else float(f.price[f.operating, ct].mean()))
        var = pue * HOURS_PER_MONTH * (grids.tariff[node] + green * grids.green_premium[node]
                                       + (1 - green) * grids.ef[node] / 1000.0
                                       * rules.carbon_price_rmb_per_t)
        margin = (u * (price - var) - s.om_rmb_per_kw_month) * 12 * size_mw * 1000
        return margin * annuity_factor(hurdle, s.life_years) - capex_total * (1 - subsidy_rate)

    def propose(self, node: int, kind: int, size_mw: float, rules: Rules, use_npv: bool,
                draws: tuple[float, float], key: int, exempt: bool = False,
                intelligent: float | None = None) -> bool:
        """A build project: design PUE under the cap, NPV test, the request for national
        approval, the local capex subsidy. Returns whether it was started. `draws`: the
        project's own uniforms for the approval and the construction lag; `key`: its stable
        identity (keys its customers' taste shocks)."""
        m = self.model
        s, f, geo = m.config.supply, m.fleet, m.config.geography.nodes[node]
        if size_mw <= 0:
            return False
        east = m.map.role[node] == EAST
        cap = rules.pue_cap_new_east if east else rules.pue_cap_new_west
        best = f.best_pue(node, m.month)
        pue = min(best, cap)
        extra = max(0.0, best - cap) / 0.01 * s.pue_cap_extra_capex_per_0_01
        capex_kw = s.capex_rmb_per_kw + extra
        intel = self.new_build_intelligent_share() if intelligent is None else intelligent
        type_mult = (1 - intel) + intel * s.capex_intelligent_multiplier
        capex_total = (capex_kw * type_mult + geo.land_rmb_per_kw) * size_mw * 1000
        subsidy_rate = m.local_govs[node].capex_rate(m.month)
        hub = bool(m.national.is_hub[node])
        green = max(rules.green_mandate_new_hub if hub else 0.0, f.voluntary_green(m.month))
        if use_npv and self.npv(node, kind, size_mw, pue, intel, green, capex_total,
                                subsidy_rate, rules) <= 0:
            return False
        acc = m.account
        quota = geo.energy_quota_twh
        energy_ok = quota <= 0 or (
            acc.node_energy[node] * 12 + size_mw * 0.7 * pue * HOURS_PER_YEAR) / 1e6 <= quota
        if not m.national.approve(node, m.month, float(acc.node_util[node]), exempt, energy_ok,
                                  float(draws[0])):
            return False
        subsidy = m.local_govs[node].capex_subsidy.pay(capex_total * subsidy_rate, 1) \
            if subsidy_rate > 0 else 0.0
        lo, hi = s.build_lag_months
        lag = lo + min(int(draws[1] * (hi - lo + 1)), hi - lo)
        online = m.month + lag
        years = years_since_base(online)
        f.add(m, node=node, kind=kind, status=BUILDING,
              cap_mw=np.array([size_mw * (1 - intel), size_mw * intel]),
              fpw=np.asarray(s.flops_per_watt) * (1 + s.flops_gain) ** max(years, 0.0),
              pue=pue, green_target=green, markup=s.initial_markup, online_month=online,
              built_month=m.month, retire_month=online + int(s.life_years * 12),
              capex_per_kw=capex_kw, land_per_kw=geo.land_rmb_per_kw,
              util_ema=self.node_util_ema[node], investment_rmb=capex_total,
              cash=subsidy - capex_total, key=key)
        acc.capex_subsidy[node] += subsidy
        acc.investment[node] += capex_total
        acc.new_mw[node] += size_mw
        return True
