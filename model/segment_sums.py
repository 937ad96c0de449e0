"""Sums over the [enterprise, segment] grid of `agents.enterprise.EnterpriseTable` (one row
per enterprise, one column per segment), by pool or by home node, in row-major order: the
numbers of `np.bincount` over the masked cells. Compiled (`model/_kernels.pyx`) when built,
the numpy versions otherwise or with EDWC_KERNEL=numpy in the environment (as for the
market, `model.market.use_kernel`); tests/test_performance_equivalence.py compares both."""

from __future__ import annotations

import numpy as np

from model.kernel_switch import compiled_wanted

try:
    from model._kernels import node_sums as _COMPILED_NODE_SUMS
    from model._kernels import pool_sums as _COMPILED_POOL_SUMS
    from model._kernels import voucher_claims as _COMPILED_CLAIMS
except ImportError:      # not built (a source tree without `pip install`): numpy
    _COMPILED_POOL_SUMS = _COMPILED_CLAIMS = _COMPILED_NODE_SUMS = None


def compiled() -> bool:
    """Whether the compiled sums are used."""
    return _COMPILED_POOL_SUMS is not None and compiled_wanted()


def pool_sums(pool: np.ndarray, weight: np.ndarray, mask: np.ndarray, n_out: int
              ) -> np.ndarray:
    """Float sums of `weight` (int64 [E, S]) by `pool` over the cells in `mask`, length
    `n_out`: `np.bincount(pool[mask], weights=weight[mask], minlength=n_out)`."""
    if compiled():
        try:
            return _COMPILED_POOL_SUMS(pool, weight, mask.view(np.uint8), n_out)
        except (ValueError, TypeError):    # an index out of range, a dtype or layout not
            pass                           # compiled for: numpy says what happens
    return pool_sums_numpy(pool, weight, mask, n_out)


def pool_sums_numpy(pool: np.ndarray, weight: np.ndarray, mask: np.ndarray, n_out: int
                    ) -> np.ndarray:
    """`pool_sums` in numpy (the reference)."""
    return np.bincount(pool[mask], weights=weight[mask], minlength=n_out)


def voucher_claims(pool: np.ndarray, load_w: np.ndarray, home: np.ndarray,
                   claiming: np.ndarray, dc_node: np.ndarray, table: np.ndarray,
                   price: np.ndarray) -> np.ndarray:
    """Voucher claims (RMB) by home node of the placed segments (`pool` >= 0) of enterprises
    whose home government pays vouchers (`claiming` [node]): table [home, DC node, type] x
    price [DC, type] (RMB/kW-month) x load (W) / 1e3 each."""
    n = len(claiming)
    if compiled():
        try:
            return _COMPILED_CLAIMS(pool, load_w, home, claiming.view(np.uint8), dc_node,
                                    np.ascontiguousarray(table).ravel(),
                                    np.ascontiguousarray(price).ravel(), n)
        except (ValueError, TypeError):    # a dtype or layout not compiled for
            pass
    return voucher_claims_numpy(pool, load_w, home, claiming, dc_node, table, price)


def voucher_claims_numpy(pool: np.ndarray, load_w: np.ndarray, home: np.ndarray,
                         claiming: np.ndarray, dc_node: np.ndarray, table: np.ndarray,
                         price: np.ndarray) -> np.ndarray:
    """`voucher_claims` in numpy (the reference), by flat index, row-major."""
    n = len(claiming)
    placed = np.flatnonzero((pool >= 0) & claiming[home][:, None])
    if not placed.size:
        return np.zeros(n)
    seg_pool = pool.ravel()[placed]
    dc = seg_pool >> 1                               # pool // 2, without a division
    seg_home = home[placed // pool.shape[1]]
    claims_each = (table.ravel()[(seg_home * n + dc_node[dc]) * 2 + (seg_pool & 1)]
                   * price.ravel()[seg_pool] * load_w.ravel()[placed] / 1e3)
    return np.bincount(seg_home, weights=claims_each, minlength=n)


def node_sums(node: np.ndarray, weights: list[np.ndarray], n: int) -> list[np.ndarray]:
    """`[np.bincount(node, weights=w, minlength=n) for w in weights]` (float sums by node,
    e.g. of data-center columns), in one compiled pass over the rows when built."""
    if compiled() and weights:
        try:
            return list(_COMPILED_NODE_SUMS(node, np.stack(weights).astype(np.float64,
                                                                            copy=False), n))
        except (ValueError, TypeError):    # a node out of range, a dtype not compiled for
            pass
    return node_sums_numpy(node, weights, n)


def node_sums_numpy(node: np.ndarray, weights: list[np.ndarray], n: int) -> list[np.ndarray]:
    """`node_sums` by np.bincount (the reference)."""
    return [np.bincount(node, weights=w, minlength=n) for w in weights]
