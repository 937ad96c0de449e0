# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled placement market (Cython): the draws and the clearing rounds of `model.market`.

`place` gives exactly what the numpy pass (`model.market._place_one_type` with
`_draw_numpy`, kept as the reference the tests compare with) gives: in each clearing round,
for each active chooser, among the pools that are feasible for it and have room for its
load, the pool with the highest ``-beta x generalised cost + keyed Gumbel shock`` (the first
such pool, in pool order, on a tie); then each pool accepts its choosers in priority order
while their load fits. The cost is summed in the same order as
`model.market.generalised_cost` (base + transfer + risk - green (+ migration)) and the shock
is `model.streams.keyed_gumbel`'s splitmix64 hash, so both give the same floating-point
numbers (compiled without fast-math: no reassociation, no FMA).

The pools come sorted by compute type and node (`model.market._place_compiled` passes the
permutation and the node blocks), because the latency limit, data residency and the
transfer and risk terms depend on the pool's node only: a chooser skips the node blocks it
cannot use and takes the transfer and risk products once per block (the same products the
numpy pass forms per cell, so the same sums).

One pass over the chooser's open pools (of its type, in a reached node, with room for its
load, not among the pools that rejected it this month) computes the systematic part
w = -beta x cost and, from the top BOUND_BITS bits of the pool's hash and without a
logarithm, a lower and an upper bound of its score (the shock -log(-log u) increases with
u, so in the bin [b, b + 1) / 2^BOUND_BITS of u it lies between the shocks at the bin's
edges, `SHOCK_LOWER` and `SHOCK_BOUND`, each with a margin far above rounding). Only a pool
whose upper bound reaches the highest lower bound seen so far can still win, so only those
are kept; the winner is among them (its upper bound is at least its score, which is at least
every pool's lower bound), and they alone are scored exactly (the shock with its
logarithms). About two pools per chooser are scored on a real month. The bin needs only the
top bits of the hash, which splitmix64's last xor-shift leaves as they are, and its first
xor-shift distributes over the XOR of the chooser's and the pool's keys, so that part is
taken once per chooser and once per pool (`_top_bin`).
"""

from libc.math cimport log, INFINITY
from libc.stdint cimport int64_t, uint64_t, uint8_t

import numpy as np

BOUND_BITS = 8
with np.errstate(divide="ignore"):
    # the shock at the upper edge of each bin (+ margin); the last bin's bound is infinite
    SHOCK_BOUND = -np.log(-np.log(np.arange(1, 2 ** BOUND_BITS + 1) / 2.0 ** BOUND_BITS)) + 1e-9
    # the shock at the lower edge of each bin (- margin); the first bin's is -infinity
    SHOCK_LOWER = -np.log(-np.log(np.arange(0, 2 ** BOUND_BITS) / 2.0 ** BOUND_BITS)) - 1e-9
SHOCK_BOUND[2 ** BOUND_BITS - 1] = np.inf     # (what the formula gives; stated)
SHOCK_LOWER[0] = -np.inf

cdef uint64_t _M1 = 0xBF58476D1CE4E5B9ULL
cdef uint64_t _M2 = 0x94D049BB133111EBULL
cdef uint64_t _GOLDEN = 0x9E3779B97F4A7C15ULL
cdef double _SCALE = 2.0 ** -53
cdef double[::1] _UPPER = SHOCK_BOUND
cdef double[::1] _LOWER = SHOCK_LOWER
cdef int _BIN_SHIFT = 64 - BOUND_BITS     # the top bits of the 64-bit hash (of its 53 used)


cdef inline uint64_t _mix64(uint64_t x) noexcept nogil:
    x = (x ^ (x >> 30)) * _M1
    x = (x ^ (x >> 27)) * _M2
    return x ^ (x >> 31)


cdef inline uint64_t _top_bin(uint64_t x1) noexcept nogil:
    """The bin of _mix64(x) (its top 64 - _BIN_SHIFT bits) from x1 = x ^ (x >> 30): for
    x = a ^ b, x1 = (a ^ (a >> 30)) ^ (b ^ (b >> 30)); the final xor-shift (>> 31) does not
    reach the top bits."""
    x1 = x1 * _M1
    x1 = (x1 ^ (x1 >> 27)) * _M2
    return x1 >> _BIN_SHIFT


cdef inline double _gumbel(uint64_t bits) noexcept nogil:
    cdef double u = (<double>bits + 0.5) * _SCALE
    return -log(-log(u))


def place(const int64_t[::1] order, const uint8_t[:, ::1] reach, const uint8_t[::1] resident,
          const int64_t[::1] ctype, const int64_t[::1] perm, const int64_t[::1] block_start,
          const int64_t[::1] block_node, const int64_t[::1] type_blocks, int64_t[::1] free,
          const int64_t[::1] load, const int64_t[::1] cost_row, const int64_t[::1] home,
          const int64_t[::1] current, const double[::1] beta, const double[::1] intensity,
          const double[::1] risk, const double[::1] green, const int64_t[::1] ckey,
          const double[:, ::1] base, const double[:, ::1] transfer,
          const double[:, ::1] risk_table, const double[::1] green_pool,
          const int64_t[::1] pkey, double migration, uint64_t noise, int rounds,
          int64_t[::1] assigned):
    """The whole placement of `model.market.place`: `rounds` rounds of one logit draw per
    active chooser followed by the clearing, with exactly the numpy pass's numbers.

    Pools are in sorted order (by compute type, then node; `perm`: the original index of
    each, increasing within a node): block b holds the pools block_start[b] to
    block_start[b + 1] - 1, all at node block_node[b]; the blocks of compute type t are
    type_blocks[t] to type_blocks[t + 1] - 1. free, base's columns, green_pool, pkey and the
    choosers' `current` (its pool in sorted order, -1 if none or of another compute type:
    leaving it costs the migration) are in that order; `assigned` gets original pool
    indices.

    order: the choosers to place, in clearing priority order (rank 0 first); reach:
    [home x class, node] latency limit met (bool viewed as uint8; the chooser's row is
    `cost_row`, also its row of `base`); resident: the chooser may only use its home node;
    transfer, risk_table: [home, node]; free: W per pool, updated in place; assigned: the
    pool per chooser, filled for the placed ones (left as it is for the others).

    Draw: among the chooser's open pools (of its type, reached, with room for its load, and
    not among the pools that rejected it earlier this month, at most `rounds` of them), the
    pool with the highest -beta x cost + keyed Gumbel shock (the lowest original index on a
    tie), found with the bounds above. Clearing: in priority order, a pool accepts a chooser
    while the cumulative load of the choosers that picked it this round, this one included,
    fits in its free capacity at the round's start (the numpy pass's cumsum `within <=
    free`); the rejected choose again next round among the pools left. Pools of different
    types never meet, so one pass over both types equals the numpy pass's pass per type.
    """
    cdef Py_ssize_t n_pools = free.shape[0], n_act = order.shape[0], n_rows = load.shape[0]
    cdef Py_ssize_t k, i, m, q, n_kept, best_m, n_next, r_, b, start, end, node
    cdef int64_t need, h, cur
    cdef double nb, wj, best, score, term_t, term_r, cost, low, low_max, ci, cr, cg
    cdef uint64_t row_key, bin_
    cdef Py_ssize_t[::1] kept = np.empty(max(n_pools, 1), dtype=np.intp)
    cdef double[::1] kept_w = np.empty(max(n_pools, 1))
    cdef double[::1] kept_up = np.empty(max(n_pools, 1))
    cdef uint64_t[::1] pk = np.empty(max(n_pools, 1), dtype=np.uint64)
    cdef uint64_t[::1] pk1 = np.empty(max(n_pools, 1), dtype=np.uint64)
    cdef uint64_t row1
    cdef Py_ssize_t[::1] act = np.empty(max(n_act, 1), dtype=np.intp)
    cdef Py_ssize_t[::1] ch = np.empty(max(n_act, 1), dtype=np.intp)
    cdef int64_t[::1] cum = np.zeros(max(n_pools, 1), dtype=np.int64)
    cdef int64_t[::1] acc = np.zeros(max(n_pools, 1), dtype=np.int64)
    cdef uint8_t[::1] banned = np.zeros(max(n_pools, 1), dtype=np.uint8)
    cdef Py_ssize_t[:, ::1] rejected = np.empty((max(n_rows, 1), max(rounds, 1)), dtype=np.intp)
    cdef int[::1] n_rej = np.zeros(max(n_rows, 1), dtype=np.intc)
    cdef const double* base_row
    cdef const double* gp
    cdef const uint8_t* reach_row
    cdef bint res, slow
    if n_pools == 0:
        return
    gp = &green_pool[0]
    for m in range(n_pools):
        pk[m] = <uint64_t>pkey[m] + _GOLDEN
        pk1[m] = pk[m] ^ (pk[m] >> 30)
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
                base_row = &base[cost_row[i], 0]
                h = home[i]
                res = resident[i] != 0
                slow = n_rej[i] != 0
                if slow:
                    for q in range(n_rej[i]):
                        banned[rejected[i, q]] = 1
                cur = current[i]
                nb = -beta[i]
                ci, cr, cg = intensity[i], risk[i], green[i]
                row_key = _mix64(noise ^ (<uint64_t>ckey[i] + _GOLDEN))
                row1 = row_key ^ (row_key >> 30)
                low_max = -INFINITY
                n_kept = 0
                for b in range(type_blocks[ctype[i]], type_blocks[ctype[i] + 1]):
                    node = block_node[b]
                    if reach_row[node] == 0 or (res and node != h):
                        continue
                    term_t = transfer[h, node] * ci
                    term_r = risk_table[h, node] * cr
                    start, end = block_start[b], block_start[b + 1]
                    for m in range(start, end):
                        if free[m] < need or (slow and banned[m] != 0):
                            continue
                        cost = base_row[m] + term_t
                        cost = cost + term_r
                        cost = cost - cg * gp[m]
                        if cur >= 0 and m != cur:
                            cost = cost + migration
                        wj = cost * nb
                        bin_ = _top_bin(row1 ^ pk1[m])
                        low = wj + _LOWER[bin_]
                        if low > low_max:
                            low_max = low
                        if wj + _UPPER[bin_] >= low_max:
                            kept[n_kept] = m
                            kept_w[n_kept] = wj
                            kept_up[n_kept] = wj + _UPPER[bin_]
                            n_kept += 1
                if slow:
                    for q in range(n_rej[i]):
                        banned[rejected[i, q]] = 0
                # exact scores of the pools that can still win
                best_m = -1
                best = -INFINITY
                for q in range(n_kept):
                    if kept_up[q] < low_max:
                        continue
                    m = kept[q]
                    score = kept_w[q] + _gumbel(_mix64(row_key ^ pk[m]) >> 11)
                    if best_m < 0 or score > best or (score == best and perm[m] < perm[best_m]):
                        best = score
                        best_m = m
                ch[k] = best_m
            # clearing, in priority order; the rejected stay active, in priority order
            n_next = 0
            for k in range(n_act):
                m = ch[k]
                if m < 0:
                    continue
                i = act[k]
                cum[m] += load[i]
                if cum[m] <= free[m]:
                    assigned[i] = perm[m]
                    acc[m] += load[i]
                else:
                    rejected[i, n_rej[i]] = m
                    n_rej[i] += 1
                    act[n_next] = i
                    n_next += 1
            for k in range(n_act):
                m = ch[k]
                if m >= 0:
                    free[m] -= acc[m]
                    acc[m] = 0
                    cum[m] = 0
            n_act = n_next
