# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled passes of the model outside the market draw (Cython; `model/_market_kernel.pyx` is
the market's). Each gives exactly the numbers of a numpy implementation that is kept as the
reference and that the tests compare with (compiled without fast-math: no reassociation, no
FMA); a sum that numpy takes pairwise is left to numpy, over an array built here element by
element in the numpy expression's order.

`segment_flows`: the recorder's pass over the placed enterprise segments
(`model.recorder.segment_flows_numpy`); `pool_sums` and `voucher_claims`: sums over the
[enterprise, segment] grid (`model.segment_sums`); `keyed_uniform`, `stream_words` and
`entity_key`: the keyed uniforms, SeedSequence words and entity keys of `model.streams`
(splitmix64's finaliser and SeedSequence's hash in wrapping uint64 / uint32 arithmetic).
"""

from libc.math cimport rint
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t

import numpy as np


def segment_flows(const int64_t[:, ::1] pool, const int64_t[:, ::1] load_w,
                  const int64_t[::1] home, const int64_t[::1] dc_node,
                  const int64_t[::1] flow_segment, const double[:, ::1] km,
                  const double[:, ::1] latency_ms, const double[::1] intensity,
                  double transfer_per_1000km, Py_ssize_t n):
    """One pass over the [enterprise, segment] grid in row-major order, as
    `model.recorder.segment_flows_numpy`: flows (served MW by origin x serving node x flow
    segment, summed in that order), node_served, the placed loads (MW) and, for the load
    served away from its origin, its MW, its network cost terms and latency x MW."""
    cdef Py_ssize_t e = pool.shape[0], s_count = pool.shape[1], r, s, k = 0, a = 0
    cdef int64_t p, origin, serving, key
    cdef double mw
    flows_a = np.zeros(n * n * 6)
    served_a = np.zeros(n)
    load_a = np.empty(e * s_count)
    away_a = np.empty(e * s_count)
    cost_a = np.empty(e * s_count)
    lat_a = np.empty(e * s_count)
    cdef double[::1] flows = flows_a, node_served = served_a, load_mw = load_a
    cdef double[::1] load_away = away_a, cost_away = cost_a, lat_away = lat_a
    with nogil:
        for r in range(e):
            origin = home[r]
            for s in range(s_count):
                p = pool[r, s]
                if p < 0:
                    continue
                mw = <double>load_w[r, s] / 1e6
                serving = dc_node[p >> 1]
                key = (origin * n + serving) * 6 + flow_segment[s]
                flows[key] += mw
                node_served[serving] += mw
                load_mw[k] = mw
                k += 1
                if serving != origin:
                    load_away[a] = mw
                    cost_away[a] = (transfer_per_1000km * km[origin, serving] / 1000.0
                                    * intensity[r] * mw * 1000.0)
                    lat_away[a] = latency_ms[origin, serving] * mw
                    a += 1
    return flows_a, served_a, load_a[:k], away_a[:a], cost_a[:a], lat_a[:a]


cdef uint64_t _M1 = 0xBF58476D1CE4E5B9ULL
cdef uint64_t _M2 = 0x94D049BB133111EBULL
cdef uint64_t _GOLDEN = 0x9E3779B97F4A7C15ULL
cdef double _SCALE = 2.0 ** -53


cdef inline uint64_t _mix64(uint64_t x) noexcept nogil:
    x = (x ^ (x >> 30)) * _M1
    x = (x ^ (x >> 27)) * _M2
    return x ^ (x >> 31)


def keyed_uniform(uint64_t call, keys):
    """`model.streams.keyed_uniform_numpy`: uniforms in (0, 1) of (call, key), elementwise
    over `keys` (int64, any shape): ((mix64(call ^ (key + golden)) >> 11) + 0.5) x 2^-53."""
    k = np.asarray(keys, dtype=np.int64)
    out = np.empty(k.shape)
    cdef const int64_t[::1] kv = np.ascontiguousarray(k.reshape(-1))
    cdef double[::1] ov = out.reshape(-1)
    cdef Py_ssize_t i
    with nogil:
        for i in range(kv.shape[0]):
            ov[i] = (<double>(_mix64(call ^ (<uint64_t>kv[i] + _GOLDEN)) >> 11) + 0.5) * _SCALE
    return out[()] if out.ndim == 0 else out      # a 0-d key gives a scalar, as numpy's


# numpy.random.SeedSequence's hash constants (model/streams.py writes them out in Python ints)
cdef uint32_t _MULT_A = 0x931E8875
cdef uint32_t _INIT_B = 0x8B51F9DD
cdef uint32_t _MULT_B = 0x58F38DED
cdef uint32_t _MIX_MULT_L = 0xCA01F9DD
cdef uint32_t _MIX_MULT_R = 0x4973F715


def stream_words(pool, uint32_t h, parts, Py_ssize_t n_words):
    """`model.streams._generate_state(_mix_words(pool, h, parts)[0], n_words)` in uint32
    arithmetic: the pool (four 32-bit words) and hash constant `h` after mixing in `parts`
    (spawn-key entries below 2^64; OverflowError otherwise), then `n_words` 64-bit words of
    SeedSequence.generate_state, as a list of Python ints."""
    cdef uint32_t p[4]
    cdef uint32_t word, value, result, g
    cdef uint64_t part, lo, hi
    cdef Py_ssize_t i, k
    for i in range(4):
        p[i] = pool[i]
    for obj in parts:
        part = obj
        while True:       # the part's 32-bit words, low first ([0] for 0)
            word = <uint32_t>(part & 0xFFFFFFFF)
            for i in range(4):
                value = word ^ h            # hashmix
                h = h * _MULT_A
                value = value * h
                value = value ^ (value >> 16)
                result = _MIX_MULT_L * p[i] - _MIX_MULT_R * value      # mix
                p[i] = result ^ (result >> 16)
            part >>= 32
            if part == 0:
                break
    out = []
    g = _INIT_B
    for k in range(n_words):
        value = p[(2 * k) % 4] ^ g
        g = g * _MULT_B
        value = value * g
        lo = value ^ (value >> 16)
        value = p[(2 * k + 1) % 4] ^ g
        g = g * _MULT_B
        value = value * g
        hi = value ^ (value >> 16)
        out.append(lo | (hi << 32))
    return out


def entity_key(*parts):
    """`model.streams.entity_key` (combine folded over non-negative `parts` below 2^64, then
    >> 2) in uint64 arithmetic; OverflowError for a part out of that range."""
    cdef uint64_t key = 0, p
    for obj in parts:
        p = obj
        key = _mix64(key ^ (p + _GOLDEN))
    return key >> 2


def pool_sums(const int64_t[:, ::1] pool, const int64_t[:, ::1] weight,
              const uint8_t[:, ::1] mask, Py_ssize_t n_out):
    """`np.bincount(pool[mask], weights=weight[mask], minlength=n_out)` (model.segment_sums):
    float64 sums of the weights by pool, added in row-major order. ValueError if a masked
    pool is outside [0, n_out) (where bincount would fail or return a longer array)."""
    out_a = np.zeros(n_out)
    cdef double[::1] out = out_a
    cdef Py_ssize_t r, s, bad = 0
    cdef int64_t p
    with nogil:
        for r in range(pool.shape[0]):
            for s in range(pool.shape[1]):
                if mask[r, s]:
                    p = pool[r, s]
                    if p < 0 or p >= n_out:
                        bad = 1
                        break
                    out[p] += <double>weight[r, s]
            if bad:
                break
    if bad:
        raise ValueError("a pool index outside [0, n_out)")
    return out_a


def voucher_claims(const int64_t[:, ::1] pool, const int64_t[:, ::1] load_w,
                   const int64_t[::1] home, const uint8_t[::1] claiming,
                   const int64_t[::1] dc_node, const double[::1] table,
                   const double[::1] price, Py_ssize_t n):
    """`model.segment_sums.voucher_claims_numpy`: voucher claims (RMB) by home node of the
    placed segments of claiming homes, table[(home x n + dc node) x 2 + type] x price x
    load / 1e3 each, added in row-major order."""
    out_a = np.zeros(n)
    cdef double[::1] out = out_a
    cdef Py_ssize_t r, s
    cdef int64_t p, h
    with nogil:
        for r in range(pool.shape[0]):
            h = home[r]
            if not claiming[h]:
                continue
            for s in range(pool.shape[1]):
                p = pool[r, s]
                if p < 0:
                    continue
                out[h] += (table[(h * n + dc_node[p >> 1]) * 2 + (p & 1)] * price[p]
                           * <double>load_w[r, s] / 1e3)
    return out_a


def customer_flows(const int64_t[:, ::1] pool, const int64_t[:, ::1] load_w,
                   const int64_t[::1] home, const int64_t[::1] dc_node, Py_ssize_t n):
    """`agents.investor.customer_flows_numpy`: placed load (W, as float64) by [home x n +
    serving node] of the segments served outside their home node, added in row-major order
    (np.bincount's numbers; the cells it adds with weight 0 leave every sum as it is)."""
    out_a = np.zeros(n * n)
    cdef double[::1] out = out_a
    cdef Py_ssize_t r, s
    cdef int64_t p, h, serving
    with nogil:
        for r in range(pool.shape[0]):
            h = home[r]
            for s in range(pool.shape[1]):
                p = pool[r, s]
                if p < 0:
                    continue
                serving = dc_node[p >> 1]
                if serving != h:
                    out[h * n + serving] += <double>load_w[r, s]
    return out_a


def home_segment_sums(const int64_t[::1] home, const double[:, ::1] demand,
                      const uint8_t[:, ::1] resident, const uint8_t[::1] class_movable,
                      Py_ssize_t n):
    """`agents.investor.home_segment_sums_numpy`: demand and movable demand (segments whose
    latency class may move, `class_movable`, and not bound by residency) summed by [home,
    segment], added in row order (np.bincount's numbers)."""
    cdef Py_ssize_t e = demand.shape[0], n_seg = demand.shape[1], r, s
    total_a = np.zeros((n, n_seg))
    movable_a = np.zeros((n, n_seg))
    cdef double[:, ::1] total = total_a, movable = movable_a
    cdef int64_t h
    with nogil:
        for r in range(e):
            h = home[r]
            for s in range(n_seg):
                total[h, s] += demand[r, s]
                if class_movable[s] and not resident[r, s]:
                    movable[h, s] += demand[r, s]
    return total_a, movable_a


def renew_pass(const int64_t[:, ::1] pool, const int64_t[:, ::1] load_w,
               const int64_t[:, ::1] want, const int64_t[:, ::1] seg_keys, uint64_t call,
               double threshold, Py_ssize_t n_out):
    """The first pass of `agents.enterprise.EnterpriseTable.renew_and_grow` over the
    [enterprise, segment] grid, with its numpy reference's numbers: renew (placed, and the
    segment's keyed uniform of `call` below `threshold`), the load of the segments that stay
    by pool (occ), delta (want - load where staying, else 0), the growth asked by pool (delta
    > 0), the shrinkage by pool (-delta where delta < 0) and the number of growing cells;
    sums as float64 added in row-major order (np.bincount's). ValueError if a placed pool is
    outside [0, n_out)."""
    cdef Py_ssize_t e = pool.shape[0], n_seg = pool.shape[1], r, s, n_grow = 0, bad = 0
    cdef int64_t p, d
    cdef uint64_t bits
    renew_a = np.zeros((e, n_seg), dtype=np.uint8)
    delta_a = np.zeros((e, n_seg), dtype=np.int64)
    occ_a = np.zeros(n_out)
    asked_a = np.zeros(n_out)
    shrink_a = np.zeros(n_out)
    cdef uint8_t[:, ::1] renew = renew_a
    cdef int64_t[:, ::1] delta = delta_a
    cdef double[::1] occ = occ_a, asked = asked_a, shrink = shrink_a
    with nogil:
        for r in range(e):
            for s in range(n_seg):
                p = pool[r, s]
                if p < 0:
                    continue
                if p >= n_out:
                    bad = 1
                    break
                bits = _mix64(call ^ (<uint64_t>seg_keys[r, s] + _GOLDEN)) >> 11
                if (<double>bits + 0.5) * _SCALE < threshold:
                    renew[r, s] = 1
                    continue
                occ[p] += <double>load_w[r, s]
                d = want[r, s] - load_w[r, s]
                delta[r, s] = d
                if d > 0:
                    asked[p] += <double>d
                    n_grow += 1
                elif d < 0:
                    shrink[p] += <double>(-d)
            if bad:
                break
    if bad:
        raise ValueError("a pool index outside [0, n_out)")
    return renew_a.view(bool), occ_a, delta_a, asked_a, shrink_a, n_grow


def tight_cells(const int64_t[:, ::1] pool, const int64_t[:, ::1] delta,
                const uint8_t[::1] fits_all):
    """Flat indices, row-major, of the cells that grow (delta > 0) in a pool that cannot take
    all its growth (not `fits_all`): `renew_and_grow`'s grow_flat[~fits_all[pool[grow_flat]]]."""
    cdef Py_ssize_t e = pool.shape[0], n_seg = pool.shape[1], r, s, k = 0
    out_a = np.empty(max(e * n_seg, 1), dtype=np.intp)
    cdef Py_ssize_t[::1] out = out_a
    with nogil:
        for r in range(e):
            for s in range(n_seg):
                if delta[r, s] > 0 and not fits_all[pool[r, s]]:
                    out[k] = r * n_seg + s
                    k += 1
    return out_a[:k]


def renew_finish(const int64_t[:, ::1] pool, int64_t[:, ::1] load_w,
                 const int64_t[:, ::1] want, const uint8_t[:, ::1] renew,
                 const uint8_t[:, ::1] overflow, Py_ssize_t n_out):
    """The second pass of `renew_and_grow`, as its numpy reference: the segments that stay and
    do not re-tender take their wanted load (in place in `load_w`); the old load of the
    re-tendering segments summed by pool (float64, row-major order); and the movers [k, 2]
    (row, segment) in row-major order: renewing, re-tendering or unplaced, with demand."""
    cdef Py_ssize_t e = pool.shape[0], n_seg = pool.shape[1], r, s, k = 0
    cdef int64_t p
    left_a = np.zeros(n_out)
    movers_a = np.empty((max(e * n_seg, 1), 2), dtype=np.intp)
    cdef double[::1] left = left_a
    cdef Py_ssize_t[:, ::1] movers = movers_a
    with nogil:
        for r in range(e):
            for s in range(n_seg):
                p = pool[r, s]
                if p >= 0 and not renew[r, s]:
                    if overflow[r, s]:
                        left[p] += <double>load_w[r, s]
                    else:
                        load_w[r, s] = want[r, s]
                        continue
                if want[r, s] > 0:
                    movers[k, 0] = r
                    movers[k, 1] = s
                    k += 1
    return left_a, movers_a[:k]


def grow_rows(double[:, ::1] demand, const double[:, ::1] monthly,
              const int64_t[::1] row_value, const int64_t[::1] seg_type):
    """`agents.enterprise.EnterpriseTable.grow`'s numpy pass in place: every segment's demand
    times its row's monthly factor of the segment's compute type, demand[r, s] *=
    monthly[row_value[r], seg_type[s]] (one multiplication each, as numpy's)."""
    cdef Py_ssize_t r, s, n_seg = demand.shape[1]
    with nogil:
        for r in range(demand.shape[0]):
            for s in range(n_seg):
                demand[r, s] *= monthly[row_value[r], seg_type[s]]


def demand_watts(const double[:, ::1] demand):
    """`np.rint(demand * 1e6).astype(np.int64)` (`EnterpriseTable.demand_w`): the product,
    rounded half to even (C rint in the default rounding mode, as numpy's rint), then cast."""
    out_a = np.empty((demand.shape[0], demand.shape[1]), dtype=np.int64)
    cdef int64_t[:, ::1] out = out_a
    cdef Py_ssize_t r, s
    with nogil:
        for r in range(demand.shape[0]):
            for s in range(demand.shape[1]):
                out[r, s] = <int64_t>rint(demand[r, s] * 1e6)
    return out_a


def rows_above(const double[:, ::1] demand, double limit):
    """Rows with a segment above `limit`: `np.flatnonzero((demand > limit).any(axis=1))`."""
    out_a = np.empty(demand.shape[0], dtype=np.intp)
    cdef Py_ssize_t[::1] out = out_a
    cdef Py_ssize_t r, s, k = 0
    with nogil:
        for r in range(demand.shape[0]):
            for s in range(demand.shape[1]):
                if demand[r, s] > limit:
                    out[k] = r
                    k += 1
                    break
    return out_a[:k]


def want_sums(const int64_t[:, ::1] want, const int64_t[::1] home, Py_ssize_t n):
    """The recorder's demand sums (`model.recorder.want_sums_numpy`): the column sums of
    `want` (int64, exact) and the row sums (int64, exact) / 1e6 added by home node in row
    order (np.bincount's numbers)."""
    cdef Py_ssize_t r, s, n_seg = want.shape[1]
    cols_a = np.zeros(n_seg, dtype=np.int64)
    node_a = np.zeros(n)
    cdef int64_t[::1] cols = cols_a
    cdef double[::1] node = node_a
    cdef int64_t row
    with nogil:
        for r in range(want.shape[0]):
            row = 0
            for s in range(n_seg):
                row = row + want[r, s]
                cols[s] += want[r, s]
            node[home[r]] += <double>row / 1e6
    return cols_a, node_a


def node_sums(const int64_t[::1] node, const double[:, ::1] weights, Py_ssize_t n):
    """`np.bincount(node, weights=weights[k], minlength=n)` for every row k of `weights` in
    one pass over the rows (each sum added in row order from 0.0, as bincount's). ValueError
    if a node is outside [0, n) or the lengths differ (bincount would raise or return a
    longer array)."""
    cdef Py_ssize_t d = node.shape[0], k_count = weights.shape[0], r, k
    cdef int64_t v
    if weights.shape[1] != d:
        raise ValueError("weights and node differ in length")
    for r in range(d):
        if node[r] < 0 or node[r] >= n:
            raise ValueError("a node outside [0, n)")
    out_a = np.zeros((k_count, n))
    cdef double[:, ::1] out = out_a
    with nogil:
        for r in range(d):
            v = node[r]
            for k in range(k_count):
                out[k, v] += weights[k, r]
    return out_a


cdef inline void _merge_by_u(Py_ssize_t* a, Py_ssize_t* tmp, Py_ssize_t n,
                             const double* u) noexcept nogil:
    """Stable sort of the indices a[0..n) by u[a[k]] (a bottom-up merge sort, insertion sort
    on runs of 16): equal u keep their order in `a`."""
    cdef Py_ssize_t lo, hi, k, j, width, mid, left, right, out
    cdef Py_ssize_t x
    cdef Py_ssize_t* src = a
    cdef Py_ssize_t* dst = tmp
    cdef Py_ssize_t* swap
    lo = 0
    while lo < n:
        hi = min(lo + 16, n)
        for k in range(lo + 1, hi):
            x = a[k]
            j = k - 1
            while j >= lo and u[a[j]] > u[x]:
                a[j + 1] = a[j]
                j -= 1
            a[j + 1] = x
        lo = hi
    width = 16
    while width < n:
        lo = 0
        while lo < n:
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            left, right, out = lo, mid, lo
            while left < mid and right < hi:
                if u[src[right]] < u[src[left]]:
                    dst[out] = src[right]
                    right += 1
                else:
                    dst[out] = src[left]
                    left += 1
                out += 1
            while left < mid:
                dst[out] = src[left]
                left += 1
                out += 1
            while right < hi:
                dst[out] = src[right]
                right += 1
                out += 1
            lo += 2 * width
        swap = src
        src = dst
        dst = swap
        width *= 2
    if src != a:
        for k in range(n):
            a[k] = src[k]


def grant_order(const int64_t[::1] pool, const double[::1] u, Py_ssize_t n_pools):
    """The order in which growth requests are granted (`EnterpriseTable._grant_tight`): by
    pool, then by the request's uniform `u`, then by position - what
    `agents.enterprise.grant_order_numpy`'s two stable argsorts give - by a counting sort on
    the pool and a stable merge sort of each pool's requests by u."""
    cdef Py_ssize_t n = pool.shape[0], k, p, bad = 0
    out_a = np.empty(n, dtype=np.intp)
    start_a = np.zeros(n_pools + 1, dtype=np.intp)
    tmp_a = np.empty(max(n, 1), dtype=np.intp)
    cdef Py_ssize_t[::1] out = out_a
    cdef Py_ssize_t[::1] start = start_a
    cdef Py_ssize_t[::1] tmp = tmp_a
    cdef Py_ssize_t[::1] fill = np.empty(n_pools + 1, dtype=np.intp)
    with nogil:
        for k in range(n):
            if pool[k] < 0 or pool[k] >= n_pools:
                bad = 1
                break
            start[pool[k] + 1] += 1
        if not bad:
            for p in range(n_pools):
                start[p + 1] += start[p]
                fill[p] = start[p]
            for k in range(n):
                out[fill[pool[k]]] = k
                fill[pool[k]] += 1
            for p in range(n_pools):
                if start[p + 1] - start[p] > 1:
                    _merge_by_u(&out[start[p]], &tmp[0], start[p + 1] - start[p], &u[0])
    if bad:
        raise ValueError("a pool index outside [0, n_pools)")
    return out_a
