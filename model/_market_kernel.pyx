# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled placement market (Cython): the draws and the clearing rounds of `model.market`.

`place` gives exactly what the numpy pass (`model.market._place_one_type` with
`_draw_numpy`, kept as the reference the tests compare with) gives: in each clearing round,
for each active chooser, among the pools that are feasible for it and have room for its
load, the pool with the highest ``-beta x generalised cost + keyed Gumbel shock`` (the first
such pool on a tie); then each pool accepts its choosers in priority order while their load
fits. The cost is summed in the same order as `model.market.generalised_cost` (base +
transfer + risk - green (+ migration)) and the shock is `model.streams.keyed_gumbel`'s
splitmix64 hash, so both give the same floating-point numbers (compiled without fast-math:
no reassociation, no FMA).

First the chooser's open pools (feasible, with room) are listed in pool order, without a
branch per pool (an unpredictable branch cost more than the test); then two passes over
that list: the first computes, for every open pool, the systematic part
w = -beta x cost and an upper bound w + b of its score, where b bounds the keyed Gumbel shock
from the hash's top bits without a logarithm (the shock -log(-log u) increases with u, so in
the bin [b, b + 1) / 2^BOUND_BITS of u it is at most the shock at the bin's upper edge,
`shock_bound`; the last bin's bound is infinite), and finds the pool with the highest w,
whose exact score starts the search; the second scores exactly (cost again, shock with its
logarithms) only the pools whose bound reaches the best score so far. About 1.5 pools per
chooser are scored on a real month.
"""

from libc.math cimport log, INFINITY
from libc.stdint cimport int64_t, uint64_t, uint8_t

import numpy as np

BOUND_BITS = 8
_EDGES = np.arange(1, 2 ** BOUND_BITS + 1) / 2.0 ** BOUND_BITS
with np.errstate(divide="ignore"):
    SHOCK_BOUND = -np.log(-np.log(_EDGES)) + 1e-9     # margin far above rounding
SHOCK_BOUND[-1] = np.inf

cdef uint64_t _M1 = 0xBF58476D1CE4E5B9ULL
cdef uint64_t _M2 = 0x94D049BB133111EBULL
cdef uint64_t _GOLDEN = 0x9E3779B97F4A7C15ULL
cdef double _SCALE = 2.0 ** -53
cdef double[::1] _BOUND = SHOCK_BOUND
cdef int _BIN_SHIFT = 53 - BOUND_BITS


cdef inline uint64_t _mix64(uint64_t x) noexcept nogil:
    x = (x ^ (x >> 30)) * _M1
    x = (x ^ (x >> 27)) * _M2
    return x ^ (x >> 31)


cdef inline double _gumbel(uint64_t bits) noexcept nogil:
    cdef double u = (<double>bits + 0.5) * _SCALE
    return -log(-log(u))


cdef inline double _w(const double* base_row, const double* transfer_row,
                      const double* risk_row, const double* green_pool, Py_ssize_t j,
                      int64_t cur, double intensity, double risk, double green,
                      double migration, double nb) noexcept nogil:
    """-beta x generalised cost of pool j, summed in `generalised_cost`'s order."""
    cdef double cost = base_row[j]
    cost = cost + transfer_row[j] * intensity
    cost = cost + risk_row[j] * risk
    cost = cost - green * green_pool[j]
    if cur >= 0 and j != cur:
        cost = cost + migration
    return cost * nb


def place(const int64_t[::1] order, const uint8_t[:, ::1] reach, const uint8_t[::1] resident,
          const int64_t[::1] ctype, const int64_t[::1] pool_node,
          const int64_t[::1] pool_type, int64_t[::1] free, const int64_t[::1] load,
          const int64_t[::1] cost_row, const int64_t[::1] home, const int64_t[::1] current,
          const double[::1] beta, const double[::1] intensity, const double[::1] risk,
          const double[::1] green, const int64_t[::1] ckey, const double[:, ::1] base,
          const double[:, ::1] transfer, const double[:, ::1] risk_table,
          const double[::1] green_pool, const int64_t[::1] pkey, double migration,
          uint64_t noise, int rounds, int64_t[::1] assigned):
    """The whole placement of `model.market.place`: `rounds` rounds of one logit draw per
    active chooser followed by the clearing, with exactly the numpy pass's numbers.

    order: the choosers to place, in clearing priority order (rank 0 first); reach:
    [home x class, pool] latency limit met (bool viewed as uint8; the chooser's row is
    `cost_row`); resident: the chooser may only use pools in its home node (`pool_node`);
    ctype, pool_type: compute types (a chooser only sees pools of its type); free: W per
    pool, updated in place; assigned: pool per chooser, filled for the placed ones (left as
    it is for the others).

    Draw: among the chooser's open pools (of its type, reached, with room for its load, and
    not among the pools that rejected it earlier this month, at most `rounds` of them), the
    pool with the highest -beta x cost + keyed Gumbel shock (the first such pool on a tie),
    found with the bound below. Clearing: in priority order, a pool accepts a chooser while
    the cumulative load of the choosers that picked it this round, this one included, fits
    in its free capacity at the round's start (the numpy pass's cumsum `within <= free`);
    the rejected choose again next round among the pools left. Pools of different types
    never meet, so one pass over both types equals the numpy pass's pass per type.
    """
    cdef Py_ssize_t n_pools = free.shape[0], n_act = order.shape[0], n_rows = load.shape[0]
    cdef Py_ssize_t k, i, j, m, q, n_open, top_m, best_j, n_next, r_, n_t
    cdef int64_t need, h, r, cur
    cdef double nb, wj, top, best, score
    cdef uint64_t row_key, bits
    cdef double[::1] ub = np.empty(max(n_pools, 1))
    cdef Py_ssize_t[::1] open_j = np.empty(max(n_pools, 1), dtype=np.intp)
    cdef uint64_t[::1] pk = np.empty(max(n_pools, 1), dtype=np.uint64)
    cdef Py_ssize_t[::1] act = np.empty(max(n_act, 1), dtype=np.intp)
    cdef Py_ssize_t[::1] ch = np.empty(max(n_act, 1), dtype=np.intp)
    cdef int64_t[::1] cum = np.zeros(max(n_pools, 1), dtype=np.int64)
    cdef int64_t[::1] acc = np.zeros(max(n_pools, 1), dtype=np.int64)
    cdef uint8_t[::1] banned = np.zeros(max(n_pools, 1), dtype=np.uint8)
    cdef Py_ssize_t[:, ::1] rejected = np.empty((max(n_rows, 1), max(rounds, 1)), dtype=np.intp)
    cdef int[::1] n_rej = np.zeros(max(n_rows, 1), dtype=np.intc)
    # the pools of each compute type, in pool order
    cdef Py_ssize_t[:, ::1] typed = np.empty((2, max(n_pools, 1)), dtype=np.intp)
    cdef Py_ssize_t[2] n_typed
    cdef const Py_ssize_t* tp
    cdef const double* base_row
    cdef const double* transfer_row
    cdef const double* risk_row
    cdef const double* gp
    cdef const uint8_t* reach_row
    cdef double ci, cr, cg
    cdef bint res
    if n_pools == 0:
        return
    gp = &green_pool[0]
    n_typed[0] = 0
    n_typed[1] = 0
    for j in range(n_pools):
        pk[j] = <uint64_t>pkey[j] + _GOLDEN
        if pool_type[j] == 0 or pool_type[j] == 1:
            typed[pool_type[j], n_typed[pool_type[j]]] = j
            n_typed[pool_type[j]] += 1
    for k in range(n_act):
        act[k] = order[k]
    with nogil:
        for r_ in range(rounds):
            if n_act == 0:
                break
            # draws: each active chooser's best open pool (free as at the round's start)
            for k in range(n_act):
                i = act[k]
                if ctype[i] != 0 and ctype[i] != 1:
                    ch[k] = -1
                    continue
                need = load[i]
                reach_row = &reach[cost_row[i], 0]
                h = home[i]
                res = resident[i] != 0
                tp = &typed[ctype[i], 0]
                n_t = n_typed[ctype[i]]
                n_open = 0
                if n_rej[i] == 0 and not res:
                    for m in range(n_t):
                        j = tp[m]
                        open_j[n_open] = j
                        n_open += (reach_row[j] != 0) & (free[j] >= need)
                else:
                    for q in range(n_rej[i]):
                        banned[rejected[i, q]] = 1
                    for m in range(n_t):
                        j = tp[m]
                        open_j[n_open] = j
                        n_open += ((reach_row[j] != 0) & (free[j] >= need) & (banned[j] == 0)
                                   & ((not res) | (pool_node[j] == h)))
                    for q in range(n_rej[i]):
                        banned[rejected[i, q]] = 0
                if n_open == 0:
                    ch[k] = -1
                    continue
                r = cost_row[i]
                cur = current[i]
                nb = -beta[i]
                ci, cr, cg = intensity[i], risk[i], green[i]
                base_row = &base[r, 0]
                transfer_row = &transfer[h, 0]
                risk_row = &risk_table[h, 0]
                row_key = _mix64(noise ^ (<uint64_t>ckey[i] + _GOLDEN))
                top = -INFINITY
                top_m = -1
                for m in range(n_open):
                    j = open_j[m]
                    wj = _w(base_row, transfer_row, risk_row, gp, j, cur, ci, cr, cg,
                            migration, nb)
                    bits = _mix64(row_key ^ pk[j]) >> 11
                    ub[m] = wj + _BOUND[bits >> _BIN_SHIFT]
                    if top_m < 0 or wj > top:
                        top = wj
                        top_m = m
                best_j = open_j[top_m]
                best = top + _gumbel(_mix64(row_key ^ pk[best_j]) >> 11)
                for m in range(n_open):
                    if ub[m] < best or m == top_m or ub[m] == -INFINITY:
                        continue
                    j = open_j[m]
                    wj = _w(base_row, transfer_row, risk_row, gp, j, cur, ci, cr, cg,
                            migration, nb)
                    score = wj + _gumbel(_mix64(row_key ^ pk[j]) >> 11)
                    if score > best or (score == best and j < best_j):
                        best = score
                        best_j = j
                ch[k] = best_j
            # clearing, in priority order; the rejected stay active, in priority order
            n_next = 0
            for k in range(n_act):
                j = ch[k]
                if j < 0:
                    continue
                i = act[k]
                cum[j] += load[i]
                if cum[j] <= free[j]:
                    assigned[i] = j
                    acc[j] += load[i]
                else:
                    rejected[i, n_rej[i]] = j
                    n_rej[i] += 1
                    act[n_next] = i
                    n_next += 1
            for k in range(n_act):
                j = ch[k]
                if j >= 0:
                    free[j] -= acc[j]
                    acc[j] = 0
                    cum[j] = 0
            n_act = n_next
