"""Speed-ups keep behaviour: the vectorised market equals the reference on a real month of the
model (block by block and in one piece), the compiled draw equals the numpy pass (also where
the logit scale makes its pruning do little or almost everything), and fleet columns grow
without losing rows."""

from __future__ import annotations

import dataclasses

import mesa
import numpy as np
import pytest

from agents.datacenter import Fleet
from benchmarks.bench import capture_market
from model import market
from model.run import compose_config
from model.schema import validate


@pytest.fixture(scope="module")
def real_month():
    """The market inputs of January 2024 in a small default-scenario run."""
    return capture_market(["demand.n_enterprises=600", "supply.n_datacenters=60"], "2024-01")


def test_vectorised_market_equals_reference_on_a_real_month(real_month):
    fast, free_fast = market.place(*real_month)
    slow, free_slow = market.place_reference(*real_month)
    assert (fast >= 0).sum() > 100                 # a real month places real load
    np.testing.assert_array_equal(fast, slow)
    np.testing.assert_array_equal(free_fast, free_slow)


def test_the_compiled_kernel_is_built_and_used():
    assert market.use_kernel(), "model/_market_kernel.pyx is not built: run `make setup`"


@pytest.mark.parametrize("beta_scale", [1.0, 0.01, 100.0, -1.0])
def test_compiled_draw_equals_the_numpy_pass(real_month, monkeypatch, beta_scale):
    """beta x 0.01: shocks dominate, few pools pruned; beta x 100: costs dominate; beta x -1:
    a logit scale of the other sign (the systematic part's order reversed)."""
    c, p, t, noise, priority = real_month
    c = dataclasses.replace(c, beta=c.beta * beta_scale)
    compiled, free_c = market.place(c, p, t, noise, priority)
    monkeypatch.setenv("EDWC_KERNEL", "numpy")
    assert not market.use_kernel()
    numpy_pass, free_n = market.place(c, p, t, noise, priority)
    assert (compiled >= 0).sum() > 100
    np.testing.assert_array_equal(compiled, numpy_pass)
    np.testing.assert_array_equal(free_c, free_n)
    if beta_scale != 1.0:      # the plain-Python rule agrees too
        np.testing.assert_array_equal(compiled, market.place_reference(c, p, t, noise,
                                                                       priority)[0])


@pytest.mark.parametrize("seed", range(12))
def test_compiled_rounds_equal_the_numpy_pass_on_tight_markets(seed, monkeypatch):
    """The kernel's clearing rounds (rejections remembered per chooser, residents, both
    compute types in one pass) against the numpy pass, on small random markets where most
    pools fill up and choosers are turned away several times."""
    from tests.test_market import random_market
    c, p, t, noise, priority = random_market(seed, m=400, n_pools=30)
    p = dataclasses.replace(p, free_w=p.free_w // 4)          # tight: many rejections
    compiled, free_c = market.place(c, p, t, noise, priority)
    monkeypatch.setenv("EDWC_KERNEL", "numpy")
    numpy_pass, free_n = market.place(c, p, t, noise, priority)
    placed = compiled >= 0
    assert placed.sum() > 20 and (~placed).sum() > 20     # some placed, some left unserved
    np.testing.assert_array_equal(compiled, numpy_pass)
    np.testing.assert_array_equal(free_c, free_n)


def test_block_size_does_not_change_placements(real_month, monkeypatch):
    monkeypatch.setenv("EDWC_KERNEL", "numpy")     # blocks are the numpy pass's
    whole, _ = market.place(*real_month)
    monkeypatch.setattr(market, "BLOCK", 64)      # a few choosers per block
    blocked, _ = market.place(*real_month)
    np.testing.assert_array_equal(whole, blocked)


def test_fleet_columns_keep_every_row_when_growing_and_replaced():
    fleet = Fleet(validate(compose_config([])).supply)
    model = mesa.Model(rng=1)      # Fleet.add registers each agent with a Mesa model
    for k in range(100):
        fleet.add(model, node=k % 12, pue=1.2 + k / 1000, cap_mw=np.array([k, 2.0 * k]),
                  fpw=np.array([9.0, 25.0]))
        if k == 70:   # a column replaced by a new array (as the monthly accounts do)
            fleet.pue = fleet.pue + 0.0
            fleet.pue[0] = 9.9
    assert fleet.n == 100 and len(fleet.pue) == 100 and fleet.cap_mw.shape == (100, 2)
    np.testing.assert_array_equal(fleet.node, np.arange(100) % 12)
    np.testing.assert_allclose(fleet.pue[1:], 1.2 + np.arange(1, 100) / 1000)
    assert fleet.pue[0] == 9.9
    np.testing.assert_array_equal(fleet.cap_mw[:, 1], 2.0 * np.arange(100))
    np.testing.assert_array_equal(fleet.price, 0.0)


def test_compiled_segment_pass_equals_the_numpy_pass():
    """The recorder's pass over the placed segments (model/_kernels.pyx) gives the numpy
    pass's numbers bit for bit, on a real month of a small run (with splits and evictions)."""
    from model import recorder
    from model.model import EDWCModel
    assert recorder._COMPILED_FLOWS is not None, "model/_kernels.pyx is not built: run `make setup`"
    m = EDWCModel(validate(compose_config(["demand.n_enterprises=600", "supply.n_datacenters=60",
                                           "run.end=2025-06"])))
    m.run()
    t, f, terms = m.enterprises, m.fleet, m.last_terms
    args = (t.pool, t.load_w, t.home, f.node, recorder._FLOW_SEGMENT, m.map.km,
            terms.latency_ms, t.intensity, float(terms.transfer_per_1000km), m.map.n)
    compiled = recorder._COMPILED_FLOWS(*args)
    reference = recorder.segment_flows_numpy(*args)
    assert (t.pool >= 0).sum() > 1000 and len(reference[3]) > 100   # placed, and some away
    for a, b in zip(compiled, reference, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    assert float(compiled[2].sum()) == float(reference[2].sum())


def test_compiled_grid_sums_equal_bincount():
    """model.segment_sums: the compiled sums by pool and the voucher claims by home give
    np.bincount's numbers bit for bit (a real month of a small run; random masks), and an
    index out of range falls back to numpy, which raises as before."""
    from model import segment_sums as ss
    from model.model import EDWCModel
    assert ss.compiled(), "model/_kernels.pyx is not built: run `make setup`"
    m = EDWCModel(validate(compose_config(["demand.n_enterprises=600", "supply.n_datacenters=60",
                                           "run.end=2024-06"])))
    m.run()
    t, f = m.enterprises, m.fleet
    rng = np.random.default_rng(0)
    placed = t.pool >= 0
    for mask in (placed, placed & (rng.random(placed.shape) < 0.5), np.zeros_like(placed)):
        for weight in (t.load_w, -t.load_w, rng.integers(-10**12, 10**12, t.pool.shape)):
            np.testing.assert_array_equal(ss.pool_sums(t.pool, weight, mask, 2 * f.n),
                                          ss.pool_sums_numpy(t.pool, weight, mask, 2 * f.n))
    with pytest.raises(ValueError):
        ss.pool_sums(t.pool, t.load_w, np.ones_like(placed), 2 * f.n)   # -1 pools: bincount
    n = m.map.n
    table = rng.random((n, n, 2)) * (rng.random((n, 1, 1)) < 0.5)
    claiming = table.reshape(n, -1).any(axis=1)
    compiled = ss.voucher_claims(t.pool, t.load_w, t.home, claiming, f.node, table, f.price)
    reference = ss.voucher_claims_numpy(t.pool, t.load_w, t.home, claiming, f.node, table,
                                        f.price)
    assert (compiled > 0).sum() > 2
    np.testing.assert_array_equal(compiled, reference)


def test_investor_customer_flows_and_movable_shares_equal_their_references():
    """agents.investor: the compiled customer flows give customer_flows_numpy's numbers and
    movable_shares (one bincount pass for all nodes) gives movable_share_reference's, bit for
    bit, on a real month of a small run."""
    from agents import investor
    from model.model import EDWCModel
    assert investor._COMPILED_CUSTOMER_FLOWS is not None, \
        "model/_kernels.pyx is not built: run `make setup`"
    m = EDWCModel(validate(compose_config(["demand.n_enterprises=600", "supply.n_datacenters=60",
                                           "run.end=2025-06"])))
    m.run()
    t, inv, n = m.enterprises, m.investor, m.map.n
    compiled = inv.customer_flows()
    reference = investor.customer_flows_numpy(t.pool, t.load_w, t.home, m.fleet.node, n)
    assert compiled.shape == reference.shape == (n, n) and (reference > 0).sum() > 5
    np.testing.assert_array_equal(compiled, reference)
    shares = inv.movable_shares()
    for node in range(n):
        np.testing.assert_array_equal(shares[node], inv.movable_share_reference(node))
    assert (shares > 0).any()
    # the compiled (home, segment) sums and their numpy reference
    t = m.enterprises
    for a, b in zip(investor.home_segment_sums(t.home, t.demand_mw, t.resident, n),
                    investor.home_segment_sums_numpy(t.home, t.demand_mw, t.resident, n),
                    strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("short_of_room", ["wait", "retender"])
def test_compiled_renewals_equal_the_numpy_pass(monkeypatch, short_of_room):
    """EnterpriseTable.renew_and_grow: the compiled passes (model/_kernels.pyx renew_pass,
    tight_cells, renew_finish) give the numpy reference's movers, free capacity and loads bit
    for bit, every month of a small run (tight pools included), under either
    demand.short_of_room rule."""
    from agents import enterprise
    from model.model import EDWCModel
    assert enterprise._renew_passes() is not None, \
        "model/_kernels.pyx is not built: run `make setup`"
    compiled = enterprise.EnterpriseTable.renew_and_grow
    seen = {"months": 0, "tight": 0}

    def both(self, want, cap_w, contract_months, streams, month, retender=False):
        assert retender == (short_of_room == "retender")
        load_before = self.load_w.copy()
        movers, free = compiled(self, want, cap_w, contract_months, streams, month, retender)
        load_after = self.load_w.copy()
        self.load_w[...] = load_before
        ref_movers, ref_free = self._renew_and_grow_numpy(want, cap_w, contract_months,
                                                          streams, month, retender)
        np.testing.assert_array_equal(movers, ref_movers)
        assert movers.dtype == ref_movers.dtype and movers.shape == ref_movers.shape
        np.testing.assert_array_equal(free, ref_free)
        np.testing.assert_array_equal(self.load_w, load_after)
        seen["months"] += 1
        seen["tight"] += int((load_after != want)[self.pool >= 0].sum())
        return movers, free

    monkeypatch.setattr(enterprise.EnterpriseTable, "renew_and_grow", both)
    m = EDWCModel(validate(compose_config(["demand.n_enterprises=600", "supply.n_datacenters=60",
                                           "run.end=2026-06",
                                           f"demand.short_of_room={short_of_room}"])))
    m.run()
    assert seen["months"] > 40 and seen["tight"] > 0


def test_enterprise_split_appends_rows_as_concatenate_would():
    """EnterpriseTable.split appends to columns backed by arrays that double when full: every
    column equals np.concatenate([column, column[rows]]) after each split, also after a column
    was replaced by a new array between splits."""
    from model.model import EDWCModel
    m = EDWCModel(validate(compose_config(["demand.n_enterprises=300", "supply.n_datacenters=30",
                                           "run.end=2022-03"])))
    t = m.enterprises
    rng = np.random.default_rng(0)
    for step in range(12):
        rows = np.flatnonzero(rng.random(t.n) < 0.2)
        before = {f: getattr(t, f).copy() for f in t.ROW_FIELDS}
        new = t.split(rows)
        assert len(new) == len(rows) and t.n == len(before["key"]) + len(rows)
        for f in t.ROW_FIELDS:
            col = getattr(t, f)
            expect = np.concatenate([before[f], before[f][rows]])
            if f == "demand_mw":
                expect[rows] *= 0.5
                expect[new] = expect[rows]
            elif f == "pool":
                expect[new] = -1
            elif f == "load_w":
                expect[new] = 0
            elif f == "splits":
                expect[rows] += 1
                expect[new] = 0
            if f == "key":       # the new rows' keys derive from their parents' (split)
                n_old = len(before[f])
                np.testing.assert_array_equal(col[:n_old], expect[:n_old])
            else:
                np.testing.assert_array_equal(col, expect)
            assert col.dtype == before[f].dtype and col.flags.c_contiguous
        if step == 5:
            t.pool = t.pool.copy()            # a column replaced between splits


def test_compiled_growth_watts_and_split_rows_equal_numpy():
    """EnterpriseTable.grow, demand_w and split_giants' rows: the compiled passes
    (model/_kernels.pyx grow_rows, demand_watts, rows_above) give the numpy expressions'
    numbers bit for bit, on a real table and on values at rounding edges."""
    from model._kernels import demand_watts, grow_rows, rows_above

    from agents import enterprise
    from agents.enterprise import SEG_TYPE
    from model.model import EDWCModel
    assert enterprise._grid_passes(), "model/_kernels.pyx is not built: run `make setup`"
    m = EDWCModel(validate(compose_config(["demand.n_enterprises=600", "supply.n_datacenters=60",
                                           "run.end=2024-06"])))
    m.run()
    t = m.enterprises
    values, row_value = t._growth_groups()
    rng = np.random.default_rng(3)
    monthly = 1.0 + rng.normal(0.0, 0.05, (len(values), 2))
    d = t.demand_mw.copy()
    grow_rows(d, monthly, row_value, SEG_TYPE)
    np.testing.assert_array_equal(d, t.demand_mw * monthly[:, SEG_TYPE][row_value])
    edges = np.array([[0.5e-6, 1.5e-6, 2.5e-6, -0.5e-6, 0.0, 1e-7],
                      [1234.5678905, 7.0000005, 0.0000025, 3e3, 1e-12, 5e6]])
    for grid in (t.demand_mw, edges, rng.lognormal(0.0, 4.0, (500, 6))):
        grid = np.ascontiguousarray(grid)
        np.testing.assert_array_equal(demand_watts(grid), np.rint(grid * 1e6).astype(np.int64))
        for limit in (0.0, float(np.median(grid)), float(grid.max())):
            np.testing.assert_array_equal(rows_above(grid, limit),
                                          np.flatnonzero((grid > limit).any(axis=1)))


def test_compiled_grant_order_equals_two_stable_sorts():
    """The order of growth grants in a pool short of room (model/_kernels.pyx grant_order: a
    counting sort by pool, a merge sort by uniform within each pool) is the numpy reference's
    order (a stable argsort by u, then a stable argsort by pool), with ties in u, one pool,
    many pools, runs around the merge sort's 16-element runs; a pool out of range falls back
    to numpy."""
    from agents import enterprise
    from agents.enterprise import grant_order, grant_order_numpy
    assert enterprise._COMPILED_GRANT_ORDER is not None, \
        "model/_kernels.pyx is not built: run `make setup`"
    rng = np.random.default_rng(11)
    for n in (0, 1, 2, 15, 16, 17, 33, 257, 5000):
        for n_pools in (1, 3, 40, 2500):
            pool = rng.integers(0, n_pools, n).astype(np.int64)
            u = rng.random(n)
            if n > 3:
                u[rng.integers(0, n, n // 3)] = u[0]          # ties keep their position
            expect = grant_order_numpy(pool, u)
            np.testing.assert_array_equal(
                enterprise._COMPILED_GRANT_ORDER(pool, u, n_pools), expect)
            np.testing.assert_array_equal(grant_order(pool, u, n_pools), expect)
    pool, u = np.array([0, 5, 1], dtype=np.int64), np.array([0.3, 0.2, 0.1])
    with pytest.raises(ValueError, match="pool index outside"):
        enterprise._COMPILED_GRANT_ORDER(pool, u, 2)
    np.testing.assert_array_equal(grant_order(pool, u, 2), grant_order_numpy(pool, u))


def test_priority_order_by_scatter_equals_the_stable_sort():
    """model.market._by_priority (one scatter for distinct ranks) gives
    rows[np.argsort(priority[rows], kind="stable")] for permutations, subsets, ties and
    negative or float priorities."""
    rng = np.random.default_rng(5)
    for n in (0, 1, 7, 500):
        cases = [rng.permutation(n), rng.integers(0, max(n // 3, 1), n), -rng.permutation(n),
                 rng.random(n)]
        for priority in cases:
            for rows in (np.arange(n), np.flatnonzero(rng.random(n) < 0.6)):
                expect = rows[np.argsort(priority[rows], kind="stable")]
                np.testing.assert_array_equal(market._by_priority(rows, priority), expect)


def test_compiled_want_sums_equal_numpy():
    """model.recorder: the compiled demand sums (model/_kernels.pyx want_sums) give
    want_sums_numpy's numbers bit for bit (a real month; large random watts)."""
    from model import recorder
    from model.model import EDWCModel
    assert recorder._COMPILED_WANT is not None, "model/_kernels.pyx is not built: run `make setup`"
    m = EDWCModel(validate(compose_config(["demand.n_enterprises=600", "supply.n_datacenters=60",
                                           "run.end=2024-06"])))
    m.run()
    rng = np.random.default_rng(2)
    home = m.enterprises.home
    for want in (m.want_w, rng.integers(0, 10**15, m.want_w.shape)):
        for a, b in zip(recorder._COMPILED_WANT(want, home, m.map.n),
                        recorder.want_sums_numpy(want, home, m.map.n), strict=True):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)


def test_compiled_node_sums_equal_bincount():
    """model.segment_sums.node_sums: the compiled sums by node of several columns in one pass
    give np.bincount's numbers bit for bit; a node out of range falls back to bincount."""
    from model import segment_sums as ss
    from model.model import EDWCModel
    assert ss.compiled(), "model/_kernels.pyx is not built: run `make setup`"
    m = EDWCModel(validate(compose_config(["demand.n_enterprises=600", "supply.n_datacenters=60",
                                           "run.end=2024-06"])))
    m.run()
    f, acc, n = m.fleet, m.account, m.map.n
    rng = np.random.default_rng(4)
    weights = [f.cap_mw.sum(axis=1), acc.energy, acc.revenue, rng.lognormal(0, 9, f.n),
               rng.normal(0, 1e6, f.n), (f.status == 1).astype(np.int64)]
    for got, expect in zip(ss.node_sums(f.node, weights, n),
                           ss.node_sums_numpy(f.node, weights, n), strict=True):
        assert got.dtype == expect.dtype and got.shape == expect.shape
        np.testing.assert_array_equal(got, expect)
    with pytest.raises(ValueError):
        ss.node_sums(np.full(f.n, -1), weights, n)          # as bincount
    assert ss.node_sums(np.full(f.n, n), weights[:1], n)[0].shape == (n + 1,)   # bincount's


def test_evict_by_lookup_equals_isin():
    """EnterpriseTable.evict (a lookup table of the closed rows) unplaces exactly the cells
    np.isin(pool // 2, rows) & (pool >= 0) finds."""
    from model.model import EDWCModel
    m = EDWCModel(validate(compose_config(["demand.n_enterprises=300", "supply.n_datacenters=30",
                                           "run.end=2022-03"])))
    t = m.enterprises
    rng = np.random.default_rng(6)
    for rows in (np.array([0]), rng.choice(m.fleet.n, 5, replace=False),
                 np.array([m.fleet.n + 3]), np.arange(m.fleet.n)):
        pool, load = t.pool.copy(), t.load_w.copy()
        gone = np.isin(pool >> 1, rows) & (pool >= 0)
        t.evict(rows)
        np.testing.assert_array_equal(t.pool, np.where(gone, -1, pool))
        np.testing.assert_array_equal(t.load_w, np.where(gone, 0, load))
        t.pool[...], t.load_w[...] = pool, load
    assert (t.pool >= 0).any()
