"""The vectorised placement equals the per-agent reference on random small markets."""

from __future__ import annotations

import numpy as np
import pytest

from model.market import Choosers, Pools, Terms, place, place_reference


def random_market(seed: int, m: int = 120, n_pools: int = 25, nodes: int = 6):
    rng = np.random.default_rng(seed)
    lat = rng.uniform(0, 90, nodes)
    lon = rng.uniform(80, 125, nodes)
    km = np.hypot(lat[:, None] - lat[None, :], lon[:, None] - lon[None, :]) * 100
    choosers = Choosers(
        home=rng.integers(0, nodes, m), ctype=rng.integers(0, 2, m),
        lclass=rng.integers(0, 3, m), load_w=rng.integers(1, 5_000_000, m).astype(np.int64),
        current=np.where(rng.random(m) < 0.4, rng.integers(0, n_pools, m), -1),
        beta=rng.uniform(0.002, 0.03, m), risk=rng.random(m), green=rng.random(m),
        intensity=rng.uniform(0.5, 1.5, m), resident=rng.random(m) < 0.1,
        key=rng.permutation(10 * m)[:m])
    pools = Pools(node=rng.integers(0, nodes, n_pools), ctype=rng.integers(0, 2, n_pools),
                  price=rng.uniform(800, 2000, n_pools), green=rng.random(n_pools),
                  free_w=rng.integers(0, 40_000_000, n_pools).astype(np.int64),
                  key=rng.permutation(10 * n_pools)[:n_pools])
    terms = Terms(km=km, latency_ms=2.0 * km / 200 + 1, limit_ms=np.array([5.0, 20.0, np.inf]),
                  voucher=rng.uniform(0, 0.3, (nodes, nodes, 2)) * (rng.random((nodes, nodes, 2))
                                                                    < 0.3),
                  transfer_per_1000km=50.0, latency_penalty=np.array([12.0, 12.0, 0.5]),
                  risk_per_1000km=80.0, green_value=150.0, migration=80.0)
    noise = int(rng.integers(0, 2**62))
    priority = rng.permutation(m)
    return choosers, pools, terms, noise, priority


@pytest.mark.parametrize("seed", range(25))
def test_vectorised_placement_equals_reference(seed):
    market = random_market(seed)
    fast, free_fast = place(*market)
    slow, free_slow = place_reference(*market)
    np.testing.assert_array_equal(fast, slow)
    np.testing.assert_array_equal(free_fast, free_slow)


@pytest.mark.parametrize("seed", range(5))
def test_placement_respects_capacity_type_and_latency(seed):
    c, p, t, noise, priority = random_market(seed, m=300)
    assigned, free = place(c, p, t, noise, priority)
    placed = assigned >= 0
    assert placed.any() and (~placed).any()        # a tight market: some load is unserved
    used = np.bincount(assigned[placed], weights=c.load_w[placed], minlength=len(p.node))
    np.testing.assert_array_equal(p.free_w - used.astype(np.int64), free)
    assert (free >= 0).all()
    assert (p.ctype[assigned[placed]] == c.ctype[placed]).all()
    lat = t.latency_ms[c.home[placed], p.node[assigned[placed]]]
    assert (lat <= t.limit_ms[c.lclass[placed]]).all()
    res = placed & c.resident
    assert (p.node[assigned[res]] == c.home[res]).all()


def test_cheaper_pool_wins_more_load():
    c, p, t, noise, priority = random_market(3, m=400, n_pools=2, nodes=1)
    c.ctype[:] = 0
    c.resident[:] = False
    c.current[:] = -1
    p.ctype[:] = 0
    p.green[:] = 0.0
    p.price[:] = [900.0, 1300.0]
    p.free_w[:] = 10**12
    assigned, _ = place(c, p, t, noise, priority)
    assert (assigned == 0).mean() > 0.7


def test_a_new_pool_takes_its_share_without_reshuffling_the_others():
    """Common random numbers in the market: adding one pool moves only choosers to it."""
    c, p, t, noise, priority = random_market(7, m=300, n_pools=12, nodes=3)
    p.free_w[:] = 10**12                       # no rationing: pure choice
    before, _ = place(c, p, t, noise, priority)
    extra = Pools(*(np.r_[getattr(p, f), v] for f, v in (
        ("node", 0), ("ctype", 0), ("price", 900.0), ("green", 0.5), ("free_w", 10**12),
        ("key", 10**6))))
    after, _ = place(c, extra, t, noise, priority)
    moved = before != after
    assert moved.any()
    assert (after[moved] == len(p.node)).all()   # everyone who moved went to the new pool


def test_taste_shocks_follow_the_keys_not_the_positions():
    c, p, t, noise, priority = random_market(8, m=200, n_pools=10, nodes=3)
    p.free_w[:] = 10**12
    base, _ = place(c, p, t, noise, priority)
    order = np.random.default_rng(0).permutation(len(p.node))
    shuffled = Pools(*(getattr(p, f)[order] for f in Pools.__dataclass_fields__))
    c2 = Choosers(*(getattr(c, f) for f in Choosers.__dataclass_fields__))
    inverse = np.argsort(order)
    c2.current = np.where(c.current >= 0, inverse[np.maximum(c.current, 0)], -1)
    moved, _ = place(c2, shuffled, t, noise, priority)
    np.testing.assert_array_equal(np.where(moved >= 0, order[np.maximum(moved, 0)], -1), base)
