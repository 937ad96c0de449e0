"""Investment in new data-center capacity: how investors decide to build (docs/design.md §1.2.4,
§1.3 step 5).

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

from itertools import accumulate, repeat

import numpy as np

from agents.datacenter import Fleet, annuity_factor
from agents.enterprise import SEG_CLASS, SEG_TYPE
from model.constants import (
    BUILDING,
    HOURS_PER_MONTH,
    HOURS_PER_YEAR,
    RETIRED,
    WEST,
    years_since_base,
)
from model.kernel_switch import compiled_wanted
from model.state import Rules, SimulationState
from model.streams import DC_ORIGINS, entity_key, pick

try:
    from model._kernels import customer_flows as _COMPILED_CUSTOMER_FLOWS
    from model._kernels import home_segment_sums as _COMPILED_HOME_SUMS
except ImportError:      # not built: the numpy references below
    _COMPILED_CUSTOMER_FLOWS = _COMPILED_HOME_SUMS = None


def customer_flows_numpy(pool: np.ndarray, load_w: np.ndarray, home: np.ndarray,
                         dc_node: np.ndarray, n: int) -> np.ndarray:
    """`Investor.customer_flows` in numpy (the reference of the compiled pass): one bincount
    over the whole [enterprise, segment] grid, zero weight where unplaced or at home."""
    placed = pool >= 0
    serving = dc_node[np.where(placed, pool, 0) >> 1]     # pool // 2: its DC row
    home = home[:, None]
    away = np.where(placed & (home != serving), load_w, 0)
    return np.bincount((home * n + serving).ravel(), weights=away.ravel(),
                       minlength=n * n).reshape(n, n)


_CLASS_MOVABLE = SEG_CLASS >= 1     # interactive and batch segments may leave home


def home_segment_sums(home: np.ndarray, demand: np.ndarray, resident: np.ndarray, n: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """[node, segment] demand and movable demand (interactive or batch, not bound by
    residency) of the enterprises at home in each node: compiled (model/_kernels.pyx) when
    built, else `home_segment_sums_numpy` (the same numbers)."""
    if _COMPILED_HOME_SUMS is not None and compiled_wanted():
        try:
            return _COMPILED_HOME_SUMS(home, demand, resident.view(np.uint8),
                                       _CLASS_MOVABLE.view(np.uint8), n)
        except (ValueError, TypeError):    # a dtype or layout not compiled for
            pass
    return home_segment_sums_numpy(home, demand, resident, n)


def home_segment_sums_numpy(home: np.ndarray, demand: np.ndarray, resident: np.ndarray,
                            n: int) -> tuple[np.ndarray, np.ndarray]:
    """`home_segment_sums` with np.bincount over (home, segment), which adds in row order as
    `demand[home == node].sum(axis=0)` does."""
    n_seg = demand.shape[1]
    cell = (home[:, None] * n_seg + np.arange(n_seg)).ravel()
    movable = np.where(_CLASS_MOVABLE[None, :] & ~resident, demand, 0.0)
    return (np.bincount(cell, weights=demand.ravel(), minlength=n * n_seg).reshape(n, n_seg),
            np.bincount(cell, weights=movable.ravel(), minlength=n * n_seg).reshape(n, n_seg))


class OperatingFleet:
    """What an investor sees of each node's operating data centers during one month's
    capacity planning (projects started meanwhile are not operating yet): per node its
    operating fleet rows, in row order. The rows, and a node's utilisation and price of a
    compute type, are computed from the fleet's columns the first time they are asked for and
    then kept: the month's planning adds rows (projects under construction, not operating)
    but changes no operating row's numbers."""

    def __init__(self, fleet: Fleet, n_nodes: int) -> None:
        self.fleet, self.n_nodes = fleet, n_nodes
        self.operating = fleet.operating      # as of the month's plan
        self._by_node: tuple[np.ndarray, list[tuple[int, int]]] | None = None  # see _order
        self._weighted: tuple[np.ndarray, np.ndarray] | None = None           # see price
        self._weight_sum: dict[int, float] = {}
        self._utilisation: dict[tuple[int, int], float] = {}      # (node, ct) -> as computed
        self._price: dict[tuple[int, int], float] = {}

    def _order(self) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """The operating rows sorted by node (in row order within a node) and each node's
        [start, end) in them."""
        if self._by_node is None:
            f = self.fleet
            ops = np.flatnonzero(self.operating)
            by_node = ops[np.argsort(f.node[ops], kind="stable")]
            ends = np.cumsum(np.bincount(f.node[ops], minlength=self.n_nodes)).tolist()
            self._by_node = by_node, list(zip([0, *ends[:-1]], ends, strict=True))
        return self._by_node

    def rows(self, node: int) -> np.ndarray:
        """The operating fleet rows at `node`, in row order."""
        by_node, bounds = self._order()
        a, b = bounds[node]
        return by_node[a:b]

    def type_utilisation(self, node: int, ct: int) -> float:
        """Occupied over operating capacity of compute type `ct` at `node` (0 if none)."""
        seen = self._utilisation.get((node, ct))
        if seen is None:
            f, rows = self.fleet, self.rows(node)
            type_cap = f.cap_mw[rows, ct].sum()
            seen = self._utilisation[node, ct] = \
                f.occupied_mw[rows, ct].sum() / type_cap if type_cap > 0 else 0.0
        return seen

    def price(self, node: int, ct: int) -> float:
        """Capacity-weighted mean price of compute type `ct` at `node`, RMB/kW-month (the
        nation's plain mean where the node has no operating DC)."""
        price = self._price.get((node, ct))
        if price is not None:
            return price
        f = self.fleet
        by_node, bounds = self._order()
        a, b = bounds[node]
        if a == b:
            price = float(f.price[np.flatnonzero(self.operating), ct].mean())
        else:
            # as np.average(f.price[rows, ct], weights=weight), a row's weight its MW of both
            # types + 1e-9: the weights and weighted prices of all operating rows made once,
            # in node order and one contiguous array per type, so a node's are a contiguous
            # slice, which numpy sums as it sums f.price[rows, ct] * weight (the same numbers
            # in the same order)
            if self._weighted is None:
                weight = f.cap_mw[by_node].sum(axis=1) + 1e-9
                self._weighted = weight, (f.price[by_node] * weight[:, None]).T.copy()
            weight, weighted = self._weighted
            total = self._weight_sum.get(node)
            if total is None:
                total = self._weight_sum[node] = weight[a:b].sum()
            price = float(weighted[ct, a:b].sum() / total)
        self._price[node, ct] = price
        return price


def _clip(x: float, low: float, high: float) -> float:
    """float(np.clip(x, low, high)) for one number (NaN stays NaN), without the array call."""
    if x != x:
        return x
    x = x if x > low else low
    return x if x < high else high


class Investor:
    """The investment decisions of all operators, and their expectations."""

    def __init__(self, model: SimulationState) -> None:
        self.model = model
        # adaptive expectation of each node's utilisation, 0..1
        self.node_util_ema = np.asarray(model.config.supply.initial_utilisation,
                                        dtype=float).copy()
        # smoothed expectations of yearly demand growth by compute type (2021: racks +25 %
        # [A], intelligent +41 % [A/B]) and of each node's growth relative to the nation's
        self.growth_expectation = np.array(model.config.supply.initial_growth_expectation)
        self.local_expectation = np.ones(model.map.n)
        self._seen_months = 0
        self.build_credit = np.zeros((model.map.n, 2))   # MW carried (project_starts carry)
        # projects proposed so far by node and compute type: the number of the next one, which
        # keys its draws and identity (its place in the node's pipeline, not its month)
        self.proposed = np.zeros((model.map.n, 2), dtype=np.int64)

    # ------------------------------------------------------------ expectations

    def observe(self, node_util: np.ndarray) -> None:
        """Update the expected node utilisation with this month's (exponential smoothing)."""
        a = self.model.config.supply.expectation_alpha
        self.node_util_ema = (1 - a) * self.node_util_ema + a * node_util

    def update_expectations(self) -> None:
        """Fold the last 12 months' growth into the smoothed expectations (exponential
        smoothing with weight supply.expectation_alpha per month): national demand growth by
        compute type (at least supply.min_expected_growth), and each node's served-load growth
        over the nation's, clipped to supply.local_growth_clip per year. Builders see load
        spilling into their node (e.g. from quota-bound eastern nodes) and plan for it, without
        chasing one year's swing."""
        rec, n = self.model.recorder, self.model.map.n
        s, nat = self.model.config.supply, rec.national
        if len(nat) < 13 or self._seen_months == len(nat):
            return
        self._seen_months = len(nat)
        a = s.expectation_alpha
        now = np.array([nat[-1]["demand_mw_general"], nat[-1]["demand_mw_intelligent"]])
        before = np.array([nat[-13]["demand_mw_general"], nat[-13]["demand_mw_intelligent"]])
        growth = np.maximum(now / np.maximum(before, 1e-9) - 1.0, s.min_expected_growth)
        self.growth_expectation = (1 - a) * self.growth_expectation + a * growth
        served_now, served_before = rec.node[-1]["served_mw"], rec.node[-13]["served_mw"]
        national = nat[-1]["served_mw"] / max(nat[-13]["served_mw"], 1e-9)
        node = np.divide(served_now, served_before, out=np.full(n, national),
                         where=served_before > 1.0)
        self.local_expectation = ((1 - a) * self.local_expectation
                                  + a * np.clip(node / national, *s.local_growth_clip))

    def new_build_intelligent_share(self) -> float:
        """Intelligent share of new capacity: follows the intelligent share of demand
        (`supply.new_intelligent_share_multiplier`, within `new_intelligent_share_range`)."""
        s, d = self.model.config.supply, self.model.enterprises.demand_mw
        share = d[:, SEG_TYPE == 1].sum() / max(d.sum(), 1e-9)
        return float(np.clip(s.new_intelligent_share_multiplier * share,
                             *s.new_intelligent_share_range))

    # ------------------------------------------------------------ decisions

    def plan_capacity(self, rules: Rules) -> None:
        """Operators start projects where expected utilisation at completion, by node and
        compute type, exceeds the planning level; each project must pass its own NPV test
        and national approval."""
        m = self.model
        f, s, n = m.fleet, m.config.supply, m.map.n
        lag_years = np.array([sum(self.build_lag(float(k))) / 24.0 for k in range(2)])  # [type]
        self.update_expectations()
        growth = (1.0 + self.growth_expectation) ** lag_years                  # [type]
        # capacity that retires before new projects could finish does not count as planned
        standing = f.status != RETIRED
        planned = np.stack([np.bincount(f.node[live], weights=f.cap_mw[live, k], minlength=n)
                            for k in range(2)
                            for live in [standing
                                         & (f.retire_month > m.month + lag_years[k] * 12)]],
                           axis=1)
        served = np.stack([np.bincount(f.node, weights=f.occupied_mw[:, k], minlength=n)
                           for k in range(2)], axis=1)
        last = m.recorder.national[-1] if m.recorder.national else {}
        unserved = np.array([last.get("unserved_mw_general", 0.0),
                             last.get("unserved_mw_intelligent", 0.0)])
        share = served / np.maximum(served.sum(axis=0), 1e-9)
        seen = served + unserved[None, :] * share
        local = self.local_expectation[:, None] ** lag_years[None, :]          # [node, type]
        # optimistic builders expect utilisation `optimism` (plus the AI wave's for intelligent
        # capacity) above what the load implies, so they plan for the planning level at a
        # lower true utilisation
        planning = np.maximum(s.planning_utilisation - s.optimism
                              - self.ai_wave_optimism(np.arange(2.0)), 0.05)     # [type]
        expected = seen * growth[None, :] * local     # load at completion, MW
        expected += self.quota_spill(expected / planning[None, :] - planned, planning, rules)
        gap = expected / planning[None, :] - planned
        kinds = list(accumulate(k.share for k in s.operator_kinds))   # as np.cumsum adds
        low, high = self.project_size_range()
        # computed once for the month's projects: the operating fleet as investors see it,
        # each node's design terms of a new DC; the data centers of started projects are
        # added to the fleet together once the month's projects are decided (nothing below
        # reads the fleet's rows under construction)
        view = OperatingFleet(f, n)
        sites: dict[int, tuple[float, float, float]] = {}
        added: list[dict] = []
        origin = DC_ORIGINS["investment"]
        mode = s.project_starts
        # "wait": a gap below the smallest project waits until it grows, and a remainder of
        # the month's budget below it starts one; "random": both start one with probability
        # (gap or remainder) / smallest on the project's own number, so the MW started is
        # continuous in the gap in expectation; "carry": a remainder below the smallest project
        # is carried to the next month, so the MW started follows the budgets summed over
        # months within one project, whatever the month-to-month noise of the gap
        cells = (gap >= low) if mode == "wait" else (gap > 0) | (self.build_credit > 0)
        for node, ctype in map(divmod, np.flatnonzero(cells).tolist(), repeat(2)):  # row-major
            g = max(float(gap[node, ctype]), 0.0)
            if mode == "wait":
                budget = max(g * s.build_response, low)
            else:
                budget = max(g * s.build_response, min(g, low) * s.small_gap_response)
            if mode == "carry":
                budget += self.build_credit[node, ctype]
            # the cell's expected load and planned capacity (updated by each project started)
            load, capacity = float(expected[node, ctype]), float(planned[node, ctype])
            j = int(self.proposed[node, ctype])
            while budget > 0:
                # the j-th project proposed at this node and compute type has its own stream
                # (size, kind, approval, lag) and identity, whichever month it comes in: a
                # project that starts a month later in another run is the same project
                key = entity_key(origin, node, ctype, j)
                if budget < low and (mode == "carry" or (
                        mode == "random"
                        and self.project_draw("project_count", key) >= budget / low)):
                    break
                u_size, u_kind, u_approve, u_lag = m.streams.uniforms(
                    "investment", node, ctype, j).random(4)
                j += 1
                size = min(low + u_size * (high - low), max(budget, low))
                budget -= size
                # the node's whole pipeline (own and others' projects, operating, under
                # construction and just approved) shares the expected load
                util = load / max(capacity + size, 1e-9)
                if node not in sites:
                    sites[node] = self.site_terms(node, rules)
                if self.propose(node, pick(kinds, u_kind), size, rules, use_npv=True,
                                draws=(u_approve, u_lag), key=key, intelligent=float(ctype),
                                expected_util=util, view=view, site=sites[node],
                                added=added):
                    capacity += size
            self.proposed[node, ctype] = j
            planned[node, ctype] = capacity
            if mode == "carry":
                self.build_credit[node, ctype] = max(budget, 0.0)
        f.add_rows(m, added)

    def quota_spill(self, gap: np.ndarray, planning: np.ndarray, rules: Rules) -> np.ndarray:
        """Load, MW by [node, type], that builders elsewhere expect from nodes whose energy
        quota (能耗指标) cannot admit their capacity gap. The part of a quota-bound node's gap
        beyond its quota headroom (at the load factor and design PUE of a new build) is load
        that cannot be served there; its movable part - the share of the node's customers'
        demand of that compute type that is neither realtime nor bound by data residency - is
        expected elsewhere (times supply.quota_spill_share), as load at the planning
        utilisation, shared among the other nodes as the quota-bound node's customers are
        already served there (their placed load outside their home node; the western hubs'
        capacity where there is none)."""
        m = self.model
        s, n, f = m.config.supply, m.map.n, m.fleet
        out = np.zeros((n, 2))
        if s.quota_spill_share <= 0:
            return out
        quota = np.array([g.energy_quota_twh for g in m.config.geography.nodes])
        flows = shares = None
        for q in np.flatnonzero(quota > 0):
            pue = min(f.best_pue(int(q), m.month), self.pue_cap_new(int(q), rules))
            headroom_mw = max(self.quota_headroom_mw(int(q), pue), 0.0)
            want = np.maximum(gap[q], 0.0)
            if want.sum() <= headroom_mw:
                continue
            blocked = want * (1.0 - headroom_mw / want.sum())          # [type], MW of capacity
            if flows is None:
                flows, shares = self.customer_flows(), self.movable_shares()
            to = flows[q].copy()
            to[quota > 0] = 0.0
            if to.sum() <= 0:
                ops = f.operating
                to = np.bincount(f.node[ops], weights=f.cap_mw[ops].sum(axis=1), minlength=n) \
                    * ((m.map.role == WEST) & m.national.is_hub)
            if to.sum() <= 0:
                continue
            out += np.outer(to / to.sum(), blocked * planning * s.quota_spill_share
                            * shares[q])
        return out

    def quota_headroom_mw(self, node: int, pue: float) -> float:
        """MW of new capacity at design PUE `pue` that `node`'s yearly energy quota still
        admits (this month's DC energy x 12 plus the project at supply.quota_load_factor);
        infinite where the node has no quota, negative where it is already over."""
        m = self.model
        quota = m.config.geography.nodes[node].energy_quota_twh
        if quota <= 0:
            return float("inf")
        return (quota * 1e6 - m.account.node_energy[node] * 12) \
            / (m.config.supply.quota_load_factor * pue * HOURS_PER_YEAR)

    def movable_share(self, node: int) -> np.ndarray:
        """[type] share of the demand of customers at home in `node` that may be served
        elsewhere: interactive and batch segments not bound by data residency."""
        return self.movable_shares()[node]

    def movable_shares(self) -> np.ndarray:
        """[node, type] `movable_share` of every node from one pass over the enterprise table
        (`home_segment_sums`: the same numbers as `movable_share_reference`'s masks)."""
        e, n = self.model.enterprises, self.model.map.n
        by_seg, movable_seg = home_segment_sums(e.home, e.demand_mw, e.resident, n)
        # by type: the segments of a type added in segment order, as np.bincount(SEG_TYPE)
        total, moved = np.zeros((n, 2)), np.zeros((n, 2))
        for seg, ctype in enumerate(SEG_TYPE):
            total[:, ctype] += by_seg[:, seg]
            moved[:, ctype] += movable_seg[:, seg]
        return np.divide(moved, total, out=np.zeros((n, 2)), where=total > 0)

    def movable_share_reference(self, node: int) -> np.ndarray:
        """`movable_share` of one node by masks over the table (the reference)."""
        e = self.model.enterprises
        home = e.home == node
        d = e.demand_mw[home]
        movable = np.where((SEG_CLASS[None, :] >= 1) & ~e.resident[home], d, 0.0)
        total = np.bincount(SEG_TYPE, weights=d.sum(axis=0), minlength=2)
        return np.divide(np.bincount(SEG_TYPE, weights=movable.sum(axis=0), minlength=2),
                         total, out=np.zeros(2), where=total > 0)

    def customer_flows(self) -> np.ndarray:
        """[home, serving node] placed load, W, of customers served outside their home node:
        compiled (model/_kernels.pyx) when built, else `customer_flows_numpy` (the same
        numbers)."""
        m = self.model
        e, n = m.enterprises, m.map.n
        if _COMPILED_CUSTOMER_FLOWS is not None and compiled_wanted():
            try:
                return _COMPILED_CUSTOMER_FLOWS(e.pool, e.load_w, e.home, m.fleet.node,
                                                n).reshape(n, n)
            except (ValueError, TypeError):    # a dtype or layout not compiled for
                pass
        return customer_flows_numpy(e.pool, e.load_w, e.home, m.fleet.node, n)

    def project_draw(self, process: str, key: int) -> float:
        """A project's own uniform of `process` (a keyed number: the same project gets the
        same number in every run of the seed, whatever other projects drew)."""
        return float(self.model.streams.per_entity(process, np.array([key]))[0])

    def invests(self, npv_rmb: float, net_capex_rmb: float, key: int) -> bool:
        """Whether the operator of project `key` goes ahead with NPV `npv_rmb`. Operators'
        views of a project differ (supply.build_decision_spread s, in NPV per RMB of net
        capex): it goes ahead with logit probability 1 / (1 + exp(-NPV / net capex / s)),
        compared with the project's own uniform, so a small change of its NPV flips few
        projects, and projects of one node-month do not flip together; s = 0 is the plain
        NPV > 0 rule."""
        spread = self.model.config.supply.build_decision_spread
        if spread <= 0:
            return npv_rmb > 0
        z = _clip(float(npv_rmb / max(net_capex_rmb, 1.0) / spread), -50.0, 50.0)
        return self.project_draw("build_decision", key) < 1.0 / (1.0 + np.exp(-z))

    def ai_wave_optimism(self, intelligent: np.ndarray | float) -> np.ndarray | float:
        """Extra utilisation builders expect of intelligent capacity during the generative-AI
        investment wave (supply.ai_wave, from its first month to before its second: ChatGPT's
        launch to DeepSeek-R1), in proportion to a project's intelligent share; 0 outside."""
        return np.asarray(intelligent) * self.ai_wave_rate()

    def ai_wave_rate(self) -> float:
        """`ai_wave_optimism` of wholly intelligent capacity this month (supply.ai_wave_optimism
        during the wave, else 0): a project's is its intelligent share times this."""
        s, month = self.model.config.supply, self.model.month
        return s.ai_wave_optimism if s.ai_wave[0] <= month < s.ai_wave[1] else 0.0

    def pue_cap_new(self, node: int, rules: Rules) -> float:
        """Design PUE cap of a new DC at `node`: western hubs (Inner Mongolia, Guizhou, Gansu,
        Ningxia) pue_cap_new_west, the demand hubs (BTH, YRD, GBA, Chengdu-Chongqing)
        pue_cap_new_east, outside the hubs the national rule for new large DCs,
        pue_cap_new_nonhub."""
        m = self.model
        if not m.national.is_hub[node]:
            return rules.pue_cap_new_nonhub
        return rules.pue_cap_new_west if m.map.role[node] == WEST else rules.pue_cap_new_east

    def build_lag(self, intelligent: float) -> tuple[int, int]:
        """Shortest and longest construction lag, months, of a project whose intelligent share
        is `intelligent`: general halls take supply.build_lag_months, intelligent-compute
        centres (prefabricated modules, fit-outs of existing shells) the shorter
        supply.build_lag_months_intelligent; a mixed project interpolates."""
        s = self.model.config.supply
        (g0, g1), (a0, a1) = s.build_lag_months, s.build_lag_months_intelligent
        return (int(round(g0 + intelligent * (a0 - g0))), int(round(g1 + intelligent * (a1 - g1))))

    def project_size_range(self) -> tuple[float, float]:
        """Smallest and largest build project, MW: supply.project_size in units of the mean
        2021 DC, growing with national demand (campuses grow with the market)."""
        m = self.model
        s = m.config.supply
        scale = max(1.0, m.enterprises.demand_mw.sum() / m.config.demand.initial_load_mw)
        mean_dc = s.initial_capacity_mw / s.n_datacenters
        return s.project_size[0] * mean_dc * scale, s.project_size[1] * mean_dc * scale

    def follow_rack_targets(self, rules: Rules) -> None:
        """State-backed builders start projects (of the usual sizes) for a share
        supply.rack_target_follow of the gap to their province's rack target, without an NPV
        test (soft budgets); called once a plan year."""
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
            budget = (target - have) * s.rack_target_follow * s.rack_kw / 1000   # MW
            low, high = self.project_size_range()
            # the node-month's own stream: project k draws (size, approval, lag)
            rng = m.streams.uniforms("rack_target", m.month, gov.index)
            k = 0
            while budget > 0:
                u_size, u_approve, u_lag = rng.random(3)
                size = min(low + u_size * (high - low), budget)
                budget -= size
                self.propose(gov.index, kinds.index("state"), size, rules, use_npv=False,
                             draws=(u_approve, u_lag),
                             key=entity_key(DC_ORIGINS["rack_target"], m.month, gov.index, k),
                             exempt=s.state_exempt_from_floor)
                k += 1

    def npv(self, node: int, kind: int, size_mw: float, pue: float, intel: float, green: float,
            capex_total: float, subsidy_rate: float, rules: Rules,
            expected_util: float | None = None, view: OperatingFleet | None = None) -> float:
        """NPV of a project, RMB: the margin at the expected utilisation plus optimism - the
        utilisation at completion from the capacity plan when given, else the node's (or
        the compute type's if higher) - and the node's average price, over the life at the
        operator kind's hurdle rate, minus capex net of the subsidy. `view`: the month's
        `OperatingFleet`, if already built."""
        m = self.model
        s, grids = m.config.supply, m.grids
        view = OperatingFleet(m.fleet, m.map.n) if view is None else view
        hurdle = s.operator_kinds[kind].hurdle_rate
        ct = int(round(intel))
        # investors look at the node's utilisation and at that of the compute type they
        # would build (a scarce type is worth building in an otherwise idle node)
        seen = max(self.node_util_ema[node], view.type_utilisation(node, ct)) \
            if expected_util is None else expected_util
        # (intel x the wave's rate: `ai_wave_optimism` of one number, the same product)
        u = _clip(float(seen + s.optimism + intel * self.ai_wave_rate()), 0.0,
                  s.max_expected_utilisation)
        price = view.price(node, ct)
        var = pue * HOURS_PER_MONTH * (grids.tariff[node] + green * grids.green_premium[node]
                                       + (1 - green) * grids.ef[node] / 1000.0
                                       * rules.carbon_price_rmb_per_t)
        margin = (u * (price - var) - s.om_rmb_per_kw_month) * 12 * size_mw * 1000
        return margin * annuity_factor(hurdle, s.life_years) - capex_total * (1 - subsidy_rate)

    def site_terms(self, node: int, rules: Rules) -> tuple[float, float, float]:
        """What a new DC at `node` is designed to this month: its design PUE (the site's best,
        under the cap), capex per kW (RMB; more where the site's best PUE is above the cap)
        and green-power share (the hub mandate or the voluntary level, whichever is higher)."""
        m = self.model
        s, f = m.config.supply, m.fleet
        cap = self.pue_cap_new(node, rules)
        best = f.best_pue(node, m.month)
        pue = min(best, cap)
        extra = max(0.0, best - cap) / 0.01 * s.pue_cap_extra_capex_per_0_01
        hub = bool(m.national.is_hub[node])
        green = max(rules.green_mandate_new_hub if hub else 0.0, f.voluntary_green(m.month))
        return pue, s.capex_rmb_per_kw + extra, green

    def propose(self, node: int, kind: int, size_mw: float, rules: Rules, use_npv: bool,
                draws: tuple[float, float], key: int, exempt: bool = False,
                intelligent: float | None = None, expected_util: float | None = None,
                view: OperatingFleet | None = None,
                site: tuple[float, float, float] | None = None,
                added: list[dict] | None = None) -> bool:
        """A build project: design PUE under the cap, NPV test, the request for national
        approval (judged on the project's demand case, the expected utilisation at completion,
        when the capacity plan gives one; else on the node's utilisation now), the local capex
        subsidy. Returns whether it was started. `draws`: the project's own uniforms for the
        approval and the construction lag; `key`: its stable identity (keys its customers'
        taste shocks); `view`: the month's `OperatingFleet` for the NPV test, if built;
        `site`: the node's `site_terms` this month, if already computed; `added`: where a
        started project's data center goes, if given (its columns, for the caller to add to
        the fleet with `Fleet.add_rows` after the month's other projects), else it is added
        to the fleet at once."""
        m = self.model
        s, f, geo = m.config.supply, m.fleet, m.config.geography.nodes[node]
        if size_mw <= 0:
            return False
        pue, capex_kw, green = self.site_terms(node, rules) if site is None else site
        intel = self.new_build_intelligent_share() if intelligent is None else intelligent
        type_mult = (1 - intel) + intel * s.capex_intelligent_multiplier
        capex_total = (capex_kw * type_mult + geo.land_rmb_per_kw) * size_mw * 1000
        subsidy_rate = m.local_govs[node].capex_rate(m.month)
        if use_npv and not self.invests(
                self.npv(node, kind, size_mw, pue, intel, green, capex_total, subsidy_rate,
                         rules, expected_util, view), capex_total * (1 - subsidy_rate), key):
            return False
        acc = m.account
        energy_ok = size_mw <= self.quota_headroom_mw(node, pue)
        case = float(acc.node_util[node]) if expected_util is None else expected_util
        if not m.national.approve(node, m.month, case, exempt, energy_ok, float(draws[0]),
                                  size_mw):
            return False
        subsidy = m.local_govs[node].capex_subsidy.pay(capex_total * subsidy_rate, 1) \
            if subsidy_rate > 0 else 0.0
        lo, hi = self.build_lag(intel)
        lag = lo + min(int(draws[1] * (hi - lo + 1)), hi - lo)
        online = m.month + lag
        gain = (1 + s.flops_gain) ** max(years_since_base(online), 0.0)
        row = dict(node=node, kind=kind, status=BUILDING,
                   cap_mw=(size_mw * (1 - intel), size_mw * intel),
                   fpw=[x * gain for x in s.flops_per_watt],    # vintage of the online year
                   pue=pue, green_target=green, markup=s.initial_markup, online_month=online,
                   built_month=m.month, retire_month=online + int(s.life_years * 12),
                   capex_per_kw=capex_kw, land_per_kw=geo.land_rmb_per_kw,
                   util_ema=self.node_util_ema[node], investment_rmb=capex_total,
                   cash=subsidy - capex_total, key=key)
        if added is None:
            f.add(m, **row)
        else:
            added.append(row)
        acc.capex_subsidy[node] += subsidy
        acc.investment[node] += capex_total
        acc.new_mw[node] += size_mw
        return True
