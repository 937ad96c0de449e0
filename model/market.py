"""Placement of movable compute load on data-center capacity (docs/design.md §3.3.3, §1.3 step 4).

Each movable enterprise segment (one enterprise x compute type x latency class) chooses a
capacity pool (one data center x compute type) by multinomial logit on a generalised cost per
kW-month, drawn as the pool with the highest -beta x cost + Gumbel taste shock. The shock of a
segment for a pool is a keyed number of (market call, segment key, pool key)
(model.streams.keyed_gumbel), the same in every clearing round: a rejected segment takes the
best pool left on its own ranking (by the logit's independence of irrelevant alternatives,
again a logit draw among the pools left). A policy that changes one pool's cost moves only
the segments for which that pool wins or loses the maximum, and a new pool takes its logit
share without reshuffling everyone else (common random numbers, docs/design.md §2.9).
Infeasible pools (latency class violated, data residency, wrong compute type, not enough free
capacity) get zero probability. Capacity is cleared in rounds: a pool accepts the choosers
that picked it in priority order while their load fits; the rest are rejected, never ask that
pool again this month and choose among what is left. Load still unplaced after the
last round is unserved (recorded, never dropped).

`place` does this for all choosers at once: in the compiled kernel (`model/_market_kernel.pyx`,
built by `pip install`) or, with EDWC_KERNEL=numpy or where it is not built, with numpy (the
reference pass the kernel is tested against); `place_reference` applies the same rule one
chooser at a time in plain Python. All three use the same taste shocks, so they must give
identical placements (tests/test_market.py); the benchmark measures the speed ratio.
Loads are integer watts so that capacity sums are exact in any order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from model.kernel_switch import compiled_wanted
from model.streams import keyed_gumbel

try:
    from model import _market_kernel as _KERNEL
except ImportError:      # not built (a source tree without `pip install`): the numpy pass
    _KERNEL = None

ROUNDS = 6  # clearing rounds per month; later rounds only see pools not yet tried
BLOCK = 1 << 15  # cells of the [chooser, pool] cost matrix handled at once (256 kB of floats)


@dataclass
class Choosers:
    """Movable segments, one row each."""

    home: np.ndarray       # int: home node of the enterprise
    ctype: np.ndarray      # int: 0 general, 1 intelligent
    lclass: np.ndarray     # int: 0 realtime, 1 interactive, 2 batch
    load_w: np.ndarray     # int64: IT load to place, W (> 0)
    current: np.ndarray    # int: pool the load sat in before (or -1)
    beta: np.ndarray       # float: logit scale, 1 / (RMB/kW-month)
    risk: np.ndarray       # float: distance-risk aversion in [0, 1]
    green: np.ndarray      # float: green preference in [0, 1]
    intensity: np.ndarray  # float: data-transfer intensity multiplier
    resident: np.ndarray   # bool: must be served in its home node
    key: np.ndarray        # int64: stable identity of the segment (keys its taste shocks)

    def __len__(self) -> int:
        return len(self.load_w)


@dataclass
class Pools:
    """Capacity pools (data center x compute type)."""

    node: np.ndarray    # int
    ctype: np.ndarray   # int
    price: np.ndarray   # float: RMB/kW-month
    green: np.ndarray   # float: green-power share of the data center
    free_w: np.ndarray  # int64: free IT capacity, W
    key: np.ndarray     # int64: stable identity of the pool (keys the taste shocks for it)


@dataclass
class Terms:
    """Month-level cost terms shared by all choosers."""

    km: np.ndarray              # [node, node] great-circle km
    latency_ms: np.ndarray      # [node, node] one-way ms
    limit_ms: np.ndarray        # [class] latency limit, ms
    voucher: np.ndarray         # [home, dc node, ctype] voucher share of the bill
    transfer_per_1000km: float  # RMB/kW-month per 1000 km of data transfer
    latency_penalty: np.ndarray  # [class] RMB/kW-month per ms
    risk_per_1000km: float      # RMB/kW-month per 1000 km for a fully risk-averse firm
    green_value: float          # RMB/kW-month for 100 % green power
    migration: float            # RMB/kW-month, amortised cost of leaving the current pool


def cost_tables(p: Pools, t: Terms) -> tuple[np.ndarray, ...]:
    """Per-home cost terms against every pool, RMB/kW-month.

    base[home, class, pool]: price net of voucher + latency penalty;
    transfer[home, pool] and risk[home, pool]: per unit of data intensity / risk aversion;
    green[pool]: value of the pool's green share for a fully green-minded firm;
    reach[home, class, pool]: latency limit met.
    """
    reach, transfer, risk = node_terms(t)
    base, green = pool_terms(p, t)
    return base, transfer[:, p.node], risk[:, p.node], green, reach[:, :, p.node]


def node_terms(t: Terms) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cost terms that depend on the pool's node only: reach[home, class, node] (latency
    limit met), transfer[home, node] and risk[home, node] (per unit of data intensity / risk
    aversion), RMB/kW-month."""
    reach = t.latency_ms[:, None, :] <= t.limit_ms[None, :, None]
    return (reach, t.transfer_per_1000km * t.km / 1000.0, t.risk_per_1000km * t.km / 1000.0)


def pool_terms(p: Pools, t: Terms) -> tuple[np.ndarray, np.ndarray]:
    """The cost terms of each pool: base[home, class, pool] (price net of voucher + latency
    penalty) and green[pool] (value of its green share for a fully green-minded firm)."""
    lat = t.latency_ms[:, p.node]                                         # [home, pool]
    net_price = p.price[None, :] * (1.0 - t.voucher[:, p.node, p.ctype])   # [home, pool]
    base = net_price[:, None, :] + t.latency_penalty[None, :, None] * lat[:, None, :]
    return base, t.green_value * p.green


def generalised_cost(c: Choosers, p: Pools, t: Terms, tables: tuple | None = None
                     ) -> np.ndarray:
    """Cost [chooser, pool] in RMB/kW-month (feasible or not), summed in the order
    base + transfer + risk - green (+ migration), in place in one array and one scratch array.
    `tables`: `cost_tables(p, t)` if already computed."""
    base, transfer, risk, green, _ = tables if tables is not None else cost_tables(p, t)
    n_classes, n_pools = base.shape[1], base.shape[2]
    cost = base.reshape(-1, n_pools)[c.home * n_classes + c.lclass]
    term = transfer[c.home]
    term *= c.intensity[:, None]
    cost += term
    term = risk[c.home]
    term *= c.risk[:, None]
    cost += term
    np.multiply(c.green[:, None], green[None, :], out=term)
    cost -= term
    del term
    rows = np.flatnonzero(c.current >= 0)
    if rows.size:   # leaving the current pool costs the migration; staying costs nothing
        stay = cost[rows, c.current[rows]]
        cost += np.where(c.current >= 0, t.migration, 0.0)[:, None]
        cost[rows, c.current[rows]] = stay
    return cost


def feasible_pools(c: Choosers, p: Pools, t: Terms, tables: tuple | None = None
                   ) -> np.ndarray:
    """[chooser, pool]: latency limit met, same compute type, home node if data-resident."""
    reach = (tables if tables is not None else cost_tables(p, t))[4]
    feasible = reach.reshape(-1, reach.shape[2])[c.home * reach.shape[1] + c.lclass]
    if len(c) and not (np.all(p.ctype == c.ctype[0]) and np.all(c.ctype == c.ctype[0])):
        feasible &= p.ctype[None, :] == c.ctype[:, None]   # (one type each: all true, skipped)
    resident = np.flatnonzero(c.resident)
    if resident.size:
        feasible[resident] &= p.node[None, :] == c.home[resident, None]
    return feasible


def place(c: Choosers, p: Pools, t: Terms, noise: int, priority: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised placement. Returns (pool per chooser or -1, free capacity after), W.

    noise: key of this market call's taste shocks; priority: rank of each chooser (0 first).
    Choosers of each compute type only see pools of that type, so each type is one pass.
    """
    if use_kernel():
        return _place_compiled(c, p, t, noise, priority)
    assigned = np.full(len(c), -1, dtype=np.int64)
    free = p.free_w.copy()
    for ctype in np.flatnonzero(np.bincount(c.ctype)):   # the types present (np.unique's)
        rows = np.flatnonzero(c.ctype == ctype)
        cols = np.flatnonzero(p.ctype == ctype)
        if cols.size == 0:
            continue
        local = np.full(len(p.node), -1)
        local[cols] = np.arange(cols.size)
        sub_c = _subset(c, rows)
        sub_c.current = np.where(sub_c.current >= 0, local[np.maximum(sub_c.current, 0)], -1)
        sub_p = Pools(p.node[cols], p.ctype[cols], p.price[cols], p.green[cols], free[cols],
                      p.key[cols])
        got, sub_free = _place_one_type(sub_c, sub_p, t, noise, priority[rows])
        assigned[rows] = np.where(got >= 0, cols[np.maximum(got, 0)], -1)
        free[cols] = sub_free
    return assigned, free


def _subset(c: Choosers, rows: np.ndarray) -> Choosers:
    return Choosers(*(getattr(c, f)[rows] for f in Choosers.__dataclass_fields__))


def _place_one_type(c: Choosers, p: Pools, t: Terms, noise: int, priority: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    assigned = np.full(len(c), -1, dtype=np.int64)
    free = p.free_w.copy()
    # choosers larger than every free pool cannot be placed: skip their cost rows
    hopeful = np.flatnonzero(c.load_w <= free.max(initial=0))
    if hopeful.size == 0:
        return assigned, free
    # choosers of one latency class and home side by side: a block of them uses few pools
    # (one stable sort on a combined key: the order of np.lexsort by class, home, residency)
    h = c.home[hopeful].astype(np.int64)
    hopeful = hopeful[np.argsort((c.lclass[hopeful] * (int(h.max()) + 1) + h) * 2
                                 + c.resident[hopeful], kind="stable")]
    c, priority = _subset(c, hopeful), priority[hopeful]
    tables = cost_tables(p, t)
    n_ranks = int(priority.max()) + 1
    feasible = feasible_pools(c, p, t, tables)
    active = np.arange(len(c))
    for r in range(ROUNDS):
        ok = free[None, :] >= c.load_w[active][:, None]
        ok &= feasible if r == 0 else feasible[active]
        has = ok.any(axis=1)
        if not has.all():
            active, ok = active[has], ok[has]
        if active.size == 0:
            break
        choice = _draw_numpy(c if active.size == len(c) else _subset(c, active), p, t,
                             tables, ok, noise)
        del ok
        # clear: per pool, accept in priority order while the load fits
        order = np.argsort(choice * n_ranks + priority[active], kind="stable")  # pool, rank
        ch, idx = choice[order], active[order]
        load = c.load_w[idx]
        csum = np.cumsum(load)
        first = np.concatenate(([True], ch[1:] != ch[:-1]))
        start = np.maximum.accumulate(np.where(first, np.arange(len(ch)), 0))
        within = csum - (csum[start] - load[start])
        accept = within <= free[ch]
        assigned[hopeful[idx[accept]]] = ch[accept]
        np.subtract.at(free, ch[accept], load[accept])
        feasible[idx[~accept], ch[~accept]] = False
        active = np.sort(idx[~accept])
        if active.size == 0:
            break
    return assigned, free


def _place_compiled(c: Choosers, p: Pools, t: Terms, noise: int, priority: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """`place` with its whole round loop (draws and clearing), for both compute types at
    once, in the compiled kernel (`model/_market_kernel.pyx`, `place`): the same rule, the
    same numbers. The choosers go in in priority order (ranks are distinct), so the kernel
    clears each pool in that order without a sort. The pools go in sorted by compute type
    and node (a stable sort: original order within a node), in blocks of one node, so that
    feasibility (the latency limit by [home x class, node], the compute type, residency)
    and the transfer and risk terms ([home, node]) are read once per block instead of from
    [chooser, pool] or [home, pool] tables."""
    assigned = np.full(len(c), -1, dtype=np.int64)
    free = np.array(p.free_w, dtype=np.int64)          # a copy, updated below
    hopeful = np.flatnonzero(c.load_w <= free.max(initial=0))
    if hopeful.size == 0:
        return assigned, free
    order = _by_priority(hopeful, priority)
    i64, f64 = np.int64, np.float64
    n_nodes, n_classes = t.km.shape[0], len(t.limit_ms)
    pool_type = np.asarray(p.ctype, dtype=i64)
    pool_node = np.asarray(p.node, dtype=i64)
    typed = np.flatnonzero((pool_type == 0) | (pool_type == 1))
    block_key = pool_type[typed] * n_nodes + pool_node[typed]
    by_block = np.argsort(block_key, kind="stable")
    perm, block_key = typed[by_block], block_key[by_block]
    starts = np.flatnonzero(np.concatenate(([True], block_key[1:] != block_key[:-1]))) \
        if perm.size else np.zeros(0, dtype=i64)
    block_start = np.append(starts, perm.size).astype(i64)
    type_blocks = np.searchsorted(block_key[starts] // n_nodes, [0, 1, 2]).astype(i64)
    sub = Pools(pool_node[perm], pool_type[perm], np.asarray(p.price)[perm],
                np.asarray(p.green)[perm], free[perm], np.asarray(p.key)[perm])
    base, green = pool_terms(sub, t)
    reach, transfer, risk = node_terms(t)
    # the choosers' current pool in sorted order; -1 where none or of another compute type
    # (as in the numpy pass, which sees only the pools of the chooser's type)
    where = np.full(len(free), -1, dtype=i64)
    where[perm] = np.arange(perm.size)
    held = np.asarray(c.current, dtype=i64)
    pool = np.maximum(held, 0)
    current = np.where((held >= 0) & (pool_type[pool] == c.ctype), where[pool], -1)
    sorted_free = np.ascontiguousarray(sub.free_w, dtype=i64)
    _KERNEL.place(
        order.astype(i64, copy=False),
        np.ascontiguousarray(reach.reshape(-1, n_nodes)).view(np.uint8),
        np.ascontiguousarray(c.resident, dtype=bool).view(np.uint8),
        np.ascontiguousarray(c.ctype, dtype=i64), perm.astype(i64, copy=False), block_start,
        pool_node[perm][starts].astype(i64), type_blocks, sorted_free,
        np.ascontiguousarray(c.load_w, dtype=i64),
        np.ascontiguousarray(c.home * n_classes + c.lclass, dtype=i64),
        np.ascontiguousarray(c.home, dtype=i64), current,
        np.ascontiguousarray(c.beta, dtype=f64), np.ascontiguousarray(c.intensity, dtype=f64),
        np.ascontiguousarray(c.risk, dtype=f64), np.ascontiguousarray(c.green, dtype=f64),
        np.ascontiguousarray(c.key, dtype=i64),
        np.ascontiguousarray(base.reshape(-1, base.shape[2]), dtype=f64),
        np.ascontiguousarray(transfer, dtype=f64), np.ascontiguousarray(risk, dtype=f64),
        np.ascontiguousarray(green, dtype=f64), np.ascontiguousarray(sub.key, dtype=i64),
        float(t.migration), np.uint64(noise), ROUNDS, assigned)
    free[perm] = sorted_free
    return assigned, free


def _by_priority(rows: np.ndarray, priority: np.ndarray) -> np.ndarray:
    """`rows[np.argsort(priority[rows], kind="stable")]`: where the priorities of `rows` are
    distinct ranks in [0, len(priority)) (as `model.streams.ranks` gives), by one scatter
    into a slot per rank instead of a sort; otherwise by the sort."""
    ranks = priority[rows]
    n = len(priority)
    if rows.size and ranks.dtype.kind in "iu" and 0 <= ranks.min() and ranks.max() < n:
        slot = np.full(n, -1, dtype=np.int64)
        slot[ranks] = rows
        order = slot[slot >= 0]
        if order.size == rows.size:          # distinct ranks: the sort's order
            return order
    return rows[np.argsort(ranks, kind="stable")]


def use_kernel() -> bool:
    """Whether the market places with the compiled kernel (`model/_market_kernel.pyx`, built by
    `pip install`); EDWC_KERNEL=numpy in the environment selects the numpy pass
    (`_draw_numpy`), as does a checkout where the kernel was not built."""
    return _KERNEL is not None and compiled_wanted()


def _draw_numpy(c: Choosers, p: Pools, t: Terms, tables: tuple, ok: np.ndarray, noise: int
          ) -> np.ndarray:
    """Each chooser's logit draw among its open pools `ok` [chooser, pool]: the pool with the
    highest -beta x cost + its keyed Gumbel shock (the first such pool on a tie).

    Done in blocks of about BLOCK cells, so that the temporaries stay in cache. A pool that no
    chooser of a block may use is left out of the block; that leaves every draw as it was.
    """
    choice = np.empty(len(c), dtype=np.int64)
    n_pools = ok.shape[1]
    step = max(1, BLOCK // n_pools)
    for lo in range(0, len(c), step):
        rows = slice(lo, lo + step)
        block, open_b, cols = _subset(c, rows), ok[rows], None
        used = open_b.any(axis=0)
        used[block.current[block.current >= 0]] = True    # keep the pools they sit in
        if used.sum() < n_pools:
            cols = np.flatnonzero(used)
            local = np.cumsum(used) - 1
            block.current = np.where(block.current >= 0, local[block.current], -1)
            open_b = open_b[:, cols]
            base, transfer, risk, green, _ = tables
            weight = generalised_cost(block, p, t, (base[:, :, cols], transfer[:, cols],
                                                    risk[:, cols], green[cols], None))
        else:
            weight = generalised_cost(block, p, t, tables)
        weight *= -block.beta[:, None]
        weight += keyed_gumbel(noise, block.key,
                               p.key if cols is None else p.key[cols])
        np.putmask(weight, ~open_b, -np.inf)
        picked = weight.argmax(axis=1)
        choice[rows] = picked if cols is None else cols[picked]
    return choice


def place_reference(c: Choosers, p: Pools, t: Terms, noise: int, priority: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The same rule, one chooser and one pool at a time in plain Python."""
    m = len(c)
    assigned = [-1] * m
    free = [int(x) for x in p.free_w]
    tried = [set() for _ in range(m)]
    unplaced = list(range(m))
    by_priority = sorted(range(m), key=lambda i: int(priority[i]))
    rank = {i: k for k, i in enumerate(by_priority)}
    for _ in range(ROUNDS):
        picks: dict[int, int] = {}
        for i in unplaced:
            pick = _choose_one(c, p, t, i, free, tried[i], noise)
            if pick >= 0:
                picks[i] = pick
        if not picks:
            break
        used = {}
        closed = set()
        for i in sorted(picks, key=rank.__getitem__):
            j = picks[i]
            load = int(c.load_w[i])
            if j not in closed and used.get(j, 0) + load <= free[j]:
                used[j] = used.get(j, 0) + load
                assigned[i] = j
            else:
                closed.add(j)
                tried[i].add(j)
        for j, u in used.items():
            free[j] -= u
        unplaced = [i for i in unplaced if i in picks and assigned[i] < 0]
    return np.array(assigned, dtype=np.int64), np.array(free, dtype=np.int64)


def _choose_one(c: Choosers, p: Pools, t: Terms, i: int, free: list[int], tried: set[int],
                noise: int) -> int:
    """One chooser's logit draw over its feasible pools; -1 if none is feasible."""
    h, cls, load = int(c.home[i]), int(c.lclass[i]), int(c.load_w[i])
    costs: list[tuple[int, float]] = []
    for j in range(len(p.node)):
        node = int(p.node[j])
        if int(p.ctype[j]) != int(c.ctype[i]) or j in tried or free[j] < load:
            continue
        lat = float(t.latency_ms[h, node])
        if lat > float(t.limit_ms[cls]) or (bool(c.resident[i]) and node != h):
            continue
        km = float(t.km[h, node])
        net_price = float(p.price[j]) * (1.0 - float(t.voucher[h, node, int(p.ctype[j])]))
        cost = (net_price + float(t.latency_penalty[cls]) * lat
                + float(c.intensity[i]) * (t.transfer_per_1000km * km / 1000.0)
                + float(c.risk[i]) * (t.risk_per_1000km * km / 1000.0)
                - float(c.green[i]) * (t.green_value * float(p.green[j])))
        if int(c.current[i]) >= 0 and int(c.current[i]) != j:
            cost += t.migration
        costs.append((j, cost))
    if not costs:
        return -1
    beta = float(c.beta[i])
    shocks = keyed_gumbel(noise, c.key[i : i + 1],
                          np.array([p.key[j] for j, _ in costs]))[0]
    best_j, best_score = -1, -math.inf
    for (j, cost), shock in zip(costs, shocks, strict=True):
        score = cost * -beta + float(shock)
        if score > best_score:
            best_j, best_score = j, score
    return best_j
