"""Data collection (docs/design.md §1.3 step 6, docs/outputs.md): national, node and flow
records every month and
yearly agent snapshots. Column meanings and units: docs/outputs.md.

The recorder reads the model state documented by `model.state.ModelState` and imports no
model code."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from agents.enterprise import SEG_CLASS, SEG_TYPE, SEGMENTS
from model.constants import (
    COMPUTE_TYPES,
    DC_STATUS,
    EAST,
    HOURS_PER_MONTH,
    LATENCY_CLASSES,
    RETIRED,
    ROLES,
    WEST,
)
from model.kernel_switch import compiled_wanted
from model.segment_sums import node_sums
from model.state import ModelState, Rules

try:
    from model._kernels import segment_flows as _COMPILED_FLOWS
    from model._kernels import want_sums as _COMPILED_WANT
except ImportError:      # not built (a source tree without `pip install`): the numpy pass
    _COMPILED_FLOWS = _COMPILED_WANT = None

# a segment's place in the flows key (latency class x compute type): class * 2 + type
_FLOW_SEGMENT = SEG_CLASS * 2 + SEG_TYPE


# the segments of each compute type, in segment order
_TYPE_SEGMENTS = [np.flatnonzero(SEG_TYPE == c).tolist() for c in range(len(COMPUTE_TYPES))]


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b > 0 else 0.0


def _few_sum(values: list[float]) -> float:
    """`np.sum(values)` (float64) without numpy's call overhead for fewer than 8 numbers:
    numpy's pairwise summation adds that few one by one, left to right, to 0.0 (so a sum of
    -0.0s is 0.0 too); 8 or more are left to numpy."""
    if len(values) >= 8:
        return float(np.sum(np.array(values, dtype=np.float64)))
    total = 0.0
    for v in values:
        total += v
    return total


def _row_sums(x: np.ndarray) -> np.ndarray:
    """`x.sum(axis=1)` of an [N, k < 8] float64 or int64 array, column by column (numpy's
    reduction set-up is slow for short rows): numpy adds fewer than 8 numbers of a row
    one by one, left to right, to its identity 0 (for floats: so -0.0s sum to 0.0 here
    too; integer sums are exact in any order)."""
    if not 0 < x.shape[1] < 8:
        return x.sum(axis=1)
    total = x.dtype.type(0) + x[:, 0]
    for k in range(1, x.shape[1]):
        total += x[:, k]
    return total


@functools.cache
def _month_start(year: int, month: int) -> pd.Timestamp:
    """The first day of `month` (0-11) of `year` (a Timestamp is slow to build)."""
    return pd.Timestamp(year=year, month=month + 1, day=1)


def _labels(names: Sequence[str], codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """The string column names[codes], built in Arrow (pandas converts a numpy string array
    element by element, ~10x slower)."""
    return pd.array(pa.array(list(names)).take(pa.array(codes)), dtype="str")


def _join_years(snapshots: list[dict[str, np.ndarray]],
                labels: dict[str, Sequence[str]]) -> pd.DataFrame:
    """One table of the yearly snapshots' columns, year after year; the columns in `labels`
    hold indices into their names."""
    if not snapshots:
        return pd.DataFrame()
    columns = {k: np.concatenate([s[k] for s in snapshots]) for k in snapshots[0]}
    return pd.DataFrame({k: _labels(labels[k], v) if k in labels else v
                         for k, v in columns.items()})


def segment_flows_numpy(pool: np.ndarray, load_w: np.ndarray, home: np.ndarray,
                        dc_node: np.ndarray, flow_segment: np.ndarray, km: np.ndarray,
                        latency_ms: np.ndarray, intensity: np.ndarray,
                        transfer_per_1000km: float, n: int) -> tuple[np.ndarray, ...]:
    """The recorder's pass over the placed segments ([enterprise, segment] `pool` >= 0, in
    row-major order): flows [origin x serving node x flow segment] and node_served [node],
    MW; the placed loads (MW); for the load served away from its origin, its MW, its network
    cost terms (RMB) and latency x MW. The reference of the compiled
    `model._kernels.segment_flows`, which gives the same numbers
    (tests/test_performance_equivalence.py)."""
    placed = np.flatnonzero(pool >= 0)               # placed segments, row-major
    rows = placed // pool.shape[1]                   # (not np.divmod: 3x slower)
    segs = placed - rows * pool.shape[1]
    seg_pool = pool.ravel()[placed]
    load_mw = load_w.ravel()[placed] / 1e6
    serving = dc_node[seg_pool >> 1]                 # pool // 2
    origin = home[rows]
    key = (origin * n + serving) * 6 + flow_segment[segs]
    flows = np.bincount(key, weights=load_mw, minlength=n * n * 6)
    node_served = np.bincount(serving, weights=load_mw, minlength=n)
    away = np.flatnonzero(serving != origin)         # load served away from its origin
    o_away, s_away, load_away = origin[away], serving[away], load_mw[away]
    cost = transfer_per_1000km * km[o_away, s_away] / 1000.0 * intensity[rows[away]] \
        * load_away * 1000.0
    latency_load = latency_ms[o_away, s_away] * load_away
    return flows, node_served, load_mw, load_away, cost, latency_load


def want_sums_numpy(want: np.ndarray, home: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    """The recorder's demand sums: [segment] int64 column sums of `want` (W) and [node] row
    sums / 1e6 (MW) by home node (the reference of the compiled `model._kernels.want_sums`)."""
    return (np.einsum("es->s", want),
            np.bincount(home, weights=np.einsum("es->e", want) / 1e6, minlength=n))


def _want_pass():
    """The compiled demand sums if built and wanted (as `_segment_pass`), else numpy's."""
    if _COMPILED_WANT is None or not compiled_wanted():
        return want_sums_numpy
    return _COMPILED_WANT


def _segment_pass():
    """The compiled segment pass if built, else (or with EDWC_KERNEL=numpy in the
    environment, as for the market: model.market.use_kernel) the numpy one."""
    if _COMPILED_FLOWS is None or not compiled_wanted():
        return segment_flows_numpy
    return _COMPILED_FLOWS


class Recorder:
    """Collects one row of national numbers, one row per node and the flows each month."""

    def __init__(self, model: ModelState) -> None:
        self.model = model
        self.national: list[dict] = []
        self.node: list[dict[str, np.ndarray]] = []
        self.flows: list[np.ndarray] = []
        self.lines: list[np.ndarray] = []
        self.dc_snapshots: list[dict[str, np.ndarray]] = []    # one set of columns a year
        self.ent_snapshots: list[dict[str, np.ndarray]] = []
        self._ent_ids = np.zeros(0, dtype=np.int64)   # see _enterprise_ids
        # the node roles are fixed for a run: each node's role as a one-hot row, and the
        # nodes of each role in node order
        role = model.map.role
        self._role_one_hot = np.eye(3)[role]
        self._nodes_of_role = [np.flatnonzero(role == r).tolist() for r in range(len(ROLES))]

    def node_utilisation_last_year(self) -> np.ndarray:
        """Mean node utilisation over the last 12 recorded months."""
        recent = self.node[-12:]
        if not recent:
            return np.asarray(self.model.config.supply.initial_utilisation, dtype=float)
        return np.mean([r["utilisation"] for r in recent], axis=0)

    def record(self, rules: Rules) -> None:
        """Append this month's national, node, flow and line records (and, in December or
        the last month, the yearly agent snapshots)."""
        m = self.model
        f, t, acc, n = m.fleet, m.enterprises, m.account, m.map.n
        role = m.map.role
        terms = m.last_terms
        # served MW by origin x serving node x latency class x compute type (and below, the
        # same by serving role x origin role), by serving node, and the load served away
        # from its origin
        flows, node_served, load_mw, load_away, cost_away, latency_load = _segment_pass()(
            t.pool, t.load_w, t.home, f.node, _FLOW_SEGMENT, m.map.km, terms.latency_ms,
            t.intensity, float(terms.transfer_per_1000km), n)
        one_hot = self._role_one_hot
        by = np.einsum("oa,sb,osct->bact", one_hot, one_hot, flows.reshape(n, n, 3, 2))
        served = load_mw.sum()
        served_f = float(served)
        want_cols, node_demand = _want_pass()(m.want_w, t.home, n)
        want_seg = (want_cols / 1e6).tolist()  # MW; want_cols: integer W, exact in any order
        demand = _few_sum(want_seg)
        operating = f.operating
        cap = np.where(operating[:, None], f.cap_mw, 0.0)
        cap_dc = _row_sums(cap)
        cap_total = float(cap.sum())
        energy, node_energy = acc.energy, acc.node_energy
        it_mw = _row_sums(f.occupied_mw)
        co2_loc_node = node_energy * m.grids.ef
        price_dc = np.divide(_row_sums(f.price * cap), cap_dc, out=np.zeros(f.n),
                             where=cap_dc > 0)
        # sums by node of data-center columns (np.bincount's numbers, one pass)
        node_cap, node_capex, node_it, green_node, co2_mkt_node, price_node_w, revenue_node = \
            node_sums(f.node, [cap_dc, np.where(operating, f.build_capex_rmb(), 0.0), it_mw,
                               acc.green_mwh, acc.co2_market, price_dc * cap_dc, acc.revenue], n)
        node_price = np.divide(price_node_w, node_cap, out=np.zeros(n), where=node_cap > 0)
        network_cost = float(cost_away.sum())
        migrated = float(load_away.sum())
        subsidy_node = acc.voucher_paid + acc.discount_paid + acc.capex_subsidy
        year, month = divmod(m.month, 12)
        stamp = _month_start(year, month)
        rec = {
            "month": stamp, "year": year, "demand_mw": demand, "served_mw": served,
            "unserved_mw": demand - served,
        }
        # served MW by compute type, by serving role and (west) by latency class
        type_served = [float(by[..., c].sum()) for c in range(len(COMPUTE_TYPES))]
        for c, name in enumerate(COMPUTE_TYPES):
            d_c = _few_sum([want_seg[k] for k in _TYPE_SEGMENTS[c]])
            rec[f"demand_mw_{name}"] = d_c
            rec[f"unserved_mw_{name}"] = d_c - type_served[c]
        for r, name in enumerate(ROLES):
            rec[f"served_mw_{name}"] = float(by[r].sum())
        rec["west_share"] = _ratio(rec["served_mw_west"], served_f)
        for c, name in enumerate(LATENCY_CLASSES):
            rec[f"west_share_{name}"] = _ratio(float(by[WEST, :, c].sum()),
                                               float(by[:, :, c].sum()))
        for c, name in enumerate(COMPUTE_TYPES):
            rec[f"west_share_{name}"] = _ratio(float(by[WEST, ..., c].sum()), type_served[c])
        rec["east_origin_west_share"] = _ratio(float(by[WEST, EAST].sum()),
                                               float(by[:, EAST].sum()))
        rack_kw = m.config.supply.rack_kw
        rec.update({
            "capacity_mw": cap_total, "capacity_mw_general": float(cap[:, 0].sum()),
            "capacity_mw_intelligent": float(cap[:, 1].sum()),
            "racks": cap_total * 1000 / rack_kw, "racks_occupied": served * 1000 / rack_kw,
            "utilisation": _ratio(served_f, cap_total),
        })
        # node columns summed by role, in node order (as the masked numpy sums)
        nodes_of_role = self._nodes_of_role
        served_list, cap_list, price_w_list = \
            node_served.tolist(), node_cap.tolist(), price_node_w.tolist()
        role_cap = [_few_sum([cap_list[i] for i in nodes]) for nodes in nodes_of_role]
        for r, name in enumerate(ROLES):
            rec[f"utilisation_{name}"] = _ratio(
                _few_sum([served_list[i] for i in nodes_of_role[r]]), role_cap[r])
        total_energy = float(energy.sum())
        rec.update({
            "pue": _ratio(total_energy, float(it_mw.sum()) * HOURS_PER_MONTH),
            "energy_mwh": total_energy, "twh": total_energy / 1e6,
            "green_share": _ratio(float(acc.green_mwh.sum()), total_energy),
            "co2_location_t": float(co2_loc_node.sum()),
            "co2_market_t": float(acc.co2_market.sum()),
            "curtailment_absorbed_mwh": float(acc.absorbed.sum()),
        })
        for r, name in enumerate(ROLES):
            rec[f"price_{name}"] = _ratio(
                _few_sum([price_w_list[i] for i in nodes_of_role[r]]), role_cap[r])
        revenue, voucher = float(acc.revenue.sum()), float(acc.voucher_paid.sum())
        rec.update({
            "revenue_rmb": revenue,
            "investment_rmb": float(acc.investment.sum()),
            "new_capacity_mw": float(acc.new_mw.sum()),
            "new_capacity_mw_west": float(acc.new_mw[role == WEST].sum()),
            "new_capacity_mw_hub": float(acc.new_mw[m.national.is_hub].sum()),
            "subsidy_voucher_rmb": voucher,
            "subsidy_power_rmb": float(acc.discount_paid.sum()),
            "subsidy_capex_rmb": float(acc.capex_subsidy.sum()),
            "subsidy_total_rmb": float(subsidy_node.sum()),
            "enterprise_spend_rmb": revenue - voucher,
            "electricity_cost_rmb": float(acc.electricity.sum()),
            "carbon_cost_rmb": float(acc.carbon.sum()),
            "eflops": float((cap * f.fpw).sum() * 1e-3),
            "eflops_general": float((cap[:, 0] * f.fpw[:, 0]).sum() * 1e-3),
            "eflops_intelligent": float((cap[:, 1] * f.fpw[:, 1]).sum() * 1e-3),
            "n_datacenters": int(operating.sum()),
            "route_factor": float(rules.route_factor),
            "uhv_sent_mwh": float(m.grids.uhv[0]), "uhv_loss_mwh": float(m.grids.uhv[1]),
            "uhv_tariff_rmb": float(m.grids.uhv[2]),
            "network_cost_rmb": network_cost,
            "migrated_mw": migrated,
            "mean_latency_ms_migrated": _ratio(float(latency_load.sum()), migrated),
        })
        self.national.append(rec)
        grids, govs = m.grids, m.local_govs
        self.node.append({
            "demand_mw": node_demand, "served_mw": node_served, "capacity_mw": node_cap,
            "racks": node_cap * 1000 / rack_kw,
            "utilisation": np.divide(node_served, node_cap, out=np.zeros(n), where=node_cap > 0),
            "pue": np.divide(node_energy, node_it * HOURS_PER_MONTH, out=np.zeros(n),
                             where=node_it > 0),
            "energy_mwh": node_energy,
            "green_share": np.divide(green_node, node_energy, out=np.zeros(n),
                                     where=node_energy > 0),
            "co2_location_t": co2_loc_node, "co2_market_t": co2_mkt_node,
            "grid_ef": m.grids.ef.copy(), "tariff": m.grids.tariff.copy(), "price": node_price,
            "curtailment_mwh": np.array([g.curtailment_mwh for g in grids]),
            "curtailment_absorbed_mwh": acc.absorbed,
            "uhv_import_mwh": np.array([g.import_mwh for g in grids]),
            "voucher_rate": np.array([g.voucher.rate if g.voucher.active(m.month) else 0.0
                                      for g in govs]),
            "power_discount": np.array([g.power_discount.rate
                                        if g.power_discount.active(m.month) else 0.0
                                        for g in govs]),
            "budget_rmb": np.array([g.budget_left for g in govs]),
            "subsidy_rmb": subsidy_node, "revenue_rmb": revenue_node,
            "investment_rmb": acc.investment.copy(),
            "capacity_capex_rmb": node_capex,
            "n_datacenters": np.bincount(f.node[operating], minlength=n),
        })
        self.flows.append(flows)
        self.lines.append(m.grids.line_flows.copy())
        if month == 11 or m.month == m.config.run.end:
            self._snapshot(year)

    def _snapshot(self, year: int) -> None:
        """The yearly agent snapshots, column by column (tables() joins the years)."""
        m = self.model
        f = m.fleet
        rows = np.flatnonzero(f.status != RETIRED)
        self.dc_snapshots.append({"year": np.full(len(rows), year), **f.snapshot(rows)})
        t = m.enterprises
        columns = {
            "year": np.full(t.n, year),
            "unique_id": self._enterprise_ids(t.agents),
            "node": t.home.copy(), "sector": t.sector.copy(),
            "demand_mw": _row_sums(t.demand_mw), "served_mw": _row_sums(t.load_w) / 1e6,
        }
        for k, (ct, lc) in enumerate(SEGMENTS):
            columns[f"demand_mw_{COMPUTE_TYPES[ct]}_{LATENCY_CLASSES[lc]}"] = \
                t.demand_mw[:, k].copy()
        self.ent_snapshots.append(columns)

    def _enterprise_ids(self, agents: Sequence) -> np.ndarray:
        """The Mesa unique_id of every enterprise agent, in row order (a copy): the ids of
        the agents listed at the last snapshot are kept (agents are only appended, and an
        agent's id never changes), the new agents' read."""
        known = self._ent_ids
        if len(known) > len(agents):
            known = known[:0]
        new = np.array([a.unique_id for a in agents[len(known):]], dtype=np.int64)
        self._ent_ids = np.concatenate([known, new])
        return self._ent_ids.copy()

    def _lines_table(self, months: np.ndarray) -> pd.DataFrame:
        """One row per month x UHV line: rated GW in service, energy sent, lost and delivered
        (MWh), transmission tariff paid (RMB), delivered factor (kgCO2/kWh) and delivered cost
        (RMB/MWh: sending price grossed up for losses + tariff) - the "moving watts" side of
        docs/design.md §1.1 Q4."""
        lines = self.model.config.geography.lines
        flows = np.stack(self.lines) if self.lines else np.zeros((0, len(lines), 3))
        k = len(lines)
        sent, lost, tariff = (flows[:, :, i].ravel() for i in range(3))
        on = sent > 0
        price = np.tile([ln.sending_price for ln in lines], len(months))
        loss = np.tile([ln.loss for ln in lines], len(months))
        fee = np.tile([ln.tariff_rmb_per_kwh for ln in lines], len(months))
        stamps = pd.DatetimeIndex(months)
        index = np.repeat(stamps.year * 12 + stamps.month - 1, k)
        in_service = np.tile([ln.enabled for ln in lines], len(months)) & (
            index >= np.tile([ln.start for ln in lines], len(months)))
        gw = np.where(in_service, np.tile([ln.gw for ln in lines], len(months)), 0.0)
        return pd.DataFrame({
            "month": np.repeat(months, k), "line": np.tile([ln.name for ln in lines], len(months)),
            "from": np.tile([ln.source for ln in lines], len(months)),
            "to": np.tile([ln.sink for ln in lines], len(months)),
            "capacity_gw": gw, "sent_mwh": sent, "loss_mwh": lost, "delivered_mwh": sent - lost,
            "tariff_rmb": tariff,
            "delivered_ef": np.where(on, np.tile([ln.ef for ln in lines], len(months)), 0.0),
            "delivered_cost_rmb_per_mwh": np.where(on, (price / (1.0 - loss) + fee) * 1000.0,
                                                   0.0)})

    def tables(self) -> dict[str, pd.DataFrame]:
        """All records as tidy DataFrames (docs/outputs.md), snapshots included."""
        tables = self.monthly_tables()
        m = self.model
        names = m.map.names
        tables["datacenters"] = _join_years(self.dc_snapshots, {
            "node": names, "kind": [k.name for k in m.config.supply.operator_kinds],
            "status": DC_STATUS})
        tables["enterprises"] = _join_years(self.ent_snapshots, {
            "node": names, "sector": [s.name for s in m.config.demand.sectors]})
        return tables

    def monthly_tables(self) -> dict[str, pd.DataFrame]:
        """The monthly records so far (national, node, flows, lines), at any month."""
        m = self.model
        names, n = list(m.map.names), m.map.n
        national = pd.DataFrame(self.national)
        months = national["month"].to_numpy()
        node = pd.DataFrame({k: np.concatenate([r[k] for r in self.node]) for k in self.node[0]})
        node.insert(0, "month", np.repeat(months, n))
        node.insert(1, "year", np.repeat(national["year"].to_numpy(), n))
        node.insert(2, "node", _labels(names, np.tile(np.arange(n), len(self.node))))
        node.insert(3, "role", _labels(ROLES, np.tile(m.map.role, len(self.node))))
        node.insert(4, "hub", np.tile(m.national.is_hub, len(self.node)))
        flows = np.vstack(self.flows)
        mi, key = np.nonzero(flows > 0)
        ctype, rest = key % 2, key // 2
        lclass, rest = rest % 3, rest // 3
        serving, origin = rest % n, rest // n
        flow = pd.DataFrame({
            "month": months[mi], "origin": _labels(names, origin),
            "serving": _labels(names, serving), "latency_class": _labels(LATENCY_CLASSES, lclass),
            "compute_type": _labels(COMPUTE_TYPES, ctype), "mw": flows[mi, key]})
        return {"national": national, "node": node, "flows": flow,
                "lines": self._lines_table(months)}
