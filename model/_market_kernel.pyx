# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled inner loop of the placement market (Cython): one logit draw per chooser.

`draw` gives exactly what `model.market._draw_numpy` gives (the numpy implementation, kept as
the reference the tests compare with): for each active chooser, among the pools that are
feasible for it and have room for its load, the pool with the highest
``-beta x generalised cost + keyed Gumbel shock`` (the first such pool on a tie). The cost is
summed in the same order as `model.market.generalised_cost` (base + transfer + risk - green
(+ migration)) and the shock is `model.streams.keyed_gumbel`'s splitmix64 hash, so both give
the same floating-point numbers (compiled without fast-math: no reassociation, no FMA).

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


def draw(const int64_t[::1] active, const uint8_t[:, ::1] feasible,
         const int64_t[::1] free, const int64_t[::1] load, const int64_t[::1] cost_row,
         const int64_t[::1] home, const int64_t[::1] current, const double[::1] beta,
         const double[::1] intensity, const double[::1] risk, const double[::1] green,
         const int64_t[::1] ckey, const double[:, ::1] base, const double[:, ::1] transfer,
         const double[:, ::1] risk_table, const double[::1] green_pool,
         const int64_t[::1] pkey, double migration, uint64_t noise, int64_t[::1] choice):
    """Fill `choice[k]` with the drawn pool of chooser `active[k]`, or -1 if none is open.

    active: chooser rows; feasible: [chooser, pool] (bool viewed as uint8); free: W per pool;
    load: W per chooser; cost_row: row of `base` (home x classes + class); current: pool the
    load sits in (-1 none); ckey: segment keys; base: [home x class, pool]; transfer,
    risk_table: [home, pool]; green_pool: [pool]; pkey: pool keys; noise: the call's key.
    A pool whose bound is below the best score cannot win or tie (rounding is monotone and
    the bounds carry a margin), so the draw is the numpy pass's argmax, first on a tie.
    """
    cdef Py_ssize_t n_pools = free.shape[0], k, i, j, m, n_open, top_m, best_j
    cdef int64_t need, h, r, cur
    cdef double nb, wj, top, best, score
    cdef uint64_t row_key, bits
    cdef double[::1] ub = np.empty(n_pools)
    cdef Py_ssize_t[::1] open_j = np.empty(n_pools, dtype=np.intp)
    cdef uint64_t[::1] pk = np.empty(n_pools, dtype=np.uint64)
    cdef const double* base_row
    cdef const double* transfer_row
    cdef const double* risk_row
    cdef const double* gp = &green_pool[0]
    cdef const uint8_t* feasible_row
    cdef double ci, cr, cg
    for j in range(n_pools):
        pk[j] = <uint64_t>pkey[j] + _GOLDEN
    with nogil:
        for k in range(active.shape[0]):
            i = active[k]
            need = load[i]
            # the open pools (feasible, with room), in pool order, without a branch per pool
            n_open = 0
            feasible_row = &feasible[i, 0]
            for j in range(n_pools):
                open_j[n_open] = j
                n_open += (feasible_row[j] != 0) & (free[j] >= need)
            if n_open == 0:
                choice[k] = -1
                continue
            h = home[i]
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
                wj = _w(base_row, transfer_row, risk_row, gp, j, cur, ci, cr, cg, migration, nb)
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
                wj = _w(base_row, transfer_row, risk_row, gp, j, cur, ci, cr, cg, migration, nb)
                score = wj + _gumbel(_mix64(row_key ^ pk[j]) >> 11)
                if score > best or (score == best and j < best_j):
                    best = score
                    best_j = j
            choice[k] = best_j
