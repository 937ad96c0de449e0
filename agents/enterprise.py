"""Enterprises: compute demand by sector, compute type and latency class (docs/design.md §1.2.2).

Each `Enterprise` is a Mesa agent standing for a group of firms. Its numeric state lives in
one row of `EnterpriseTable`, held by the model, so a month's growth, renewals and placement
are decided for all enterprises in one numpy pass; the agent reads and writes its own row.
A row has six segments: compute type (general, intelligent) x latency class (realtime,
interactive, batch). A segment's load is served by one capacity pool at a time, or unserved.

The table's month (docs/design.md §1.3 step 4): growth, group splits, contract renewals,
growth in place (and re-tendering where a pool is short of room), and the movers' choice of a
pool in the placement market (`model/market.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import mesa
import numpy as np

from model.constants import COMPUTE_TYPES, LATENCY_CLASSES
from model.kernel_switch import compiled_wanted
from model.market import Choosers, Pools, Terms
from model.schema import Demand
from model.segment_sums import pool_sums
from model.streams import ENTERPRISE_SPLIT, Streams, combine, entity_key, mix64, ranks

if TYPE_CHECKING:
    from agents.datacenter import Fleet

try:
    from model._kernels import demand_watts as _COMPILED_WATTS
    from model._kernels import grant_order as _COMPILED_GRANT_ORDER
    from model._kernels import grow_rows as _COMPILED_GROW
    from model._kernels import renew_finish as _COMPILED_RENEW_FINISH
    from model._kernels import renew_pass as _COMPILED_RENEW_PASS
    from model._kernels import rows_above as _COMPILED_ROWS_ABOVE
    from model._kernels import tight_cells as _COMPILED_TIGHT
except ImportError:      # not built (a source tree without `pip install`): numpy
    _COMPILED_RENEW_PASS = _COMPILED_RENEW_FINISH = _COMPILED_TIGHT = None
    _COMPILED_GROW = _COMPILED_WATTS = _COMPILED_ROWS_ABOVE = _COMPILED_GRANT_ORDER = None

SEGMENTS = [(t, c) for t in range(len(COMPUTE_TYPES)) for c in range(len(LATENCY_CLASSES))]
SEG_TYPE = np.array([t for t, _ in SEGMENTS])
SEG_CLASS = np.array([c for _, c in SEGMENTS])


def _grid_passes() -> bool:
    """Whether the compiled passes of growth, watts and splits (model/_kernels.pyx) are used:
    built, and not turned off with EDWC_KERNEL=numpy (then the numpy expressions run)."""
    return _COMPILED_GROW is not None and compiled_wanted()


def _renew_passes() -> tuple | None:
    """The compiled passes of `EnterpriseTable.renew_and_grow` (model/_kernels.pyx), or None
    where not built or with EDWC_KERNEL=numpy (then its numpy reference runs)."""
    if _COMPILED_RENEW_PASS is None or not compiled_wanted():
        return None
    return _COMPILED_RENEW_PASS, _COMPILED_RENEW_FINISH


def grant_order(pool: np.ndarray, u: np.ndarray, n_pools: int) -> np.ndarray:
    """The order in which growth requests (`pool`, `u`: the requests' pools and uniforms) are
    granted: by pool, then by u, then by position. Compiled (model/_kernels.pyx: a counting
    sort and a merge sort per pool) where built and wanted (`_grid_passes`), else
    `grant_order_numpy` (the same order)."""
    if _COMPILED_GRANT_ORDER is not None and _grid_passes():
        try:
            return _COMPILED_GRANT_ORDER(pool, u, n_pools)
        except (ValueError, TypeError):    # a pool out of range, a dtype not compiled for
            pass
    return grant_order_numpy(pool, u)


def grant_order_numpy(pool: np.ndarray, u: np.ndarray) -> np.ndarray:
    """`grant_order` by two stable argsorts (the reference)."""
    order = np.argsort(u, kind="stable")
    return order[np.argsort(pool[order], kind="stable")]


class EnterpriseTable:
    """Column store of all enterprises: one row per agent, one column per segment."""

    def __init__(self, demand: Demand, n_nodes: int, streams: Streams) -> None:
        """Draw `demand.n_enterprises` groups; each attribute from its own stream."""
        e = demand.n_enterprises
        rng = streams.enterprise
        sectors = demand.sectors
        sector_share = np.array([s.share for s in sectors])
        self.sector = rng("sector").choice(len(sectors), size=e,
                                           p=sector_share / sector_share.sum())
        self.home = rng("home").choice(n_nodes, size=e, p=np.asarray(demand.origin_shares))
        size = rng("size").lognormal(0.0, demand.size_sigma, size=e)
        # each sector gets its share of national load; firms split it by size
        sector_load = np.zeros(e)
        for k, s in enumerate(sectors):
            members = self.sector == k
            if members.any():
                sector_load[members] = (s.share * demand.initial_load_mw
                                        * size[members] / size[members].sum())
        mix = np.zeros((len(sectors), len(SEGMENTS)))
        for k, s in enumerate(sectors):
            type_share = np.array([1.0 - s.intelligent, s.intelligent])
            mix[k] = type_share[SEG_TYPE] * np.asarray(s.latency)[SEG_CLASS]
        self.demand_mw = sector_load[:, None] * mix[self.sector]      # [E, 6]
        self.pool = np.full(self.demand_mw.shape, -1, dtype=np.int64)  # serving pool or -1
        self.load_w = np.zeros(self.demand_mw.shape, dtype=np.int64)   # placed load, W
        sens = np.array([s.price_sensitivity for s in sectors])[self.sector]
        self.beta = sens * rng("beta").lognormal(0.0, demand.price_sensitivity_sigma, e) \
            / demand.logit_scale_rmb
        self.risk = np.clip(np.array([s.risk_aversion for s in sectors])[self.sector]
                            * rng("risk").uniform(*demand.preference_spread, e), 0.0, 1.0)
        self.green = np.clip(np.array([s.green_preference for s in sectors])[self.sector]
                             * rng("green").uniform(*demand.preference_spread, e), 0.0, 1.0)
        self.intensity = np.array([s.data_intensity for s in sectors])[self.sector]
        residency = np.array([s.residency for s in sectors])[self.sector]
        latency_bound = SEG_CLASS[None, :] < 2   # realtime and interactive data can be bound
        self.resident = latency_bound & (rng("resident").random(self.demand_mw.shape)
                                         < residency[:, None])
        self.growth_multiplier = np.array([s.growth_multiplier for s in sectors])[self.sector]
        self.key = np.arange(e, dtype=np.int64)       # stable identity (keys its draws)
        self.splits = np.zeros(e, dtype=np.int64)     # times this row has split
        self.n = e
        self._seg_keys: np.ndarray | None = None     # segment_keys(), extended by split
        self._growth: tuple[np.ndarray, np.ndarray] | None = None   # _growth_groups(), the same
        self.agents: list[Enterprise] = []
        self._stores: dict[str, tuple[np.ndarray, np.ndarray]] = {}   # see _append_rows

    def add_agents(self, model: mesa.Model) -> None:
        """Create the Mesa agent of every row that has none yet."""
        for row in range(len(self.agents), self.n):
            self.agents.append(Enterprise(model, row))

    def grow(self, annual_growth: np.ndarray) -> None:
        """Grow every segment's demand by one month of its yearly rate (by compute type); the
        rate is computed once per distinct growth multiplier (one per sector)."""
        values, row_value = self._growth_groups()
        yearly = annual_growth[None, :] * values[:, None]                  # [multiplier, type]
        monthly = (1.0 + np.maximum(yearly, -0.99)) ** (1.0 / 12.0)
        if _grid_passes():       # the same products, without the [E, 6] factor array
            try:
                _COMPILED_GROW(self.demand_mw, monthly, row_value, SEG_TYPE)
                return
            except (ValueError, TypeError):    # a dtype or layout not compiled for
                pass
        self.demand_mw *= monthly[:, SEG_TYPE][row_value]

    def _growth_groups(self) -> tuple[np.ndarray, np.ndarray]:
        """The distinct growth multipliers and each row's index into them, kept (`split`
        appends its new rows' indices)."""
        if self._growth is None or len(self._growth[1]) != self.n:
            self._growth = np.unique(self.growth_multiplier, return_inverse=True)
        return self._growth

    ROW_FIELDS = ("sector", "home", "demand_mw", "pool", "load_w", "beta", "risk", "green",
                  "intensity", "resident", "growth_multiplier", "key", "splits")

    def split(self, rows: np.ndarray) -> np.ndarray:
        """Split enterprise groups in two: each new row takes half of every segment's demand
        and the same attributes; its load is unplaced (it will choose). Returns new rows.
        A new row's key derives from its parent's key and split count, so it is the same
        whatever else split before it."""
        new = np.arange(self.n, self.n + len(rows))
        self.demand_mw[rows] *= 0.5
        self.splits[rows] += 1
        child_keys = [entity_key(ENTERPRISE_SPLIT, int(k), int(s))
                      for k, s in zip(self.key[rows], self.splits[rows], strict=True)]
        self._append_rows(rows)
        self.pool[new] = -1
        self.load_w[new] = 0
        self.key[new] = child_keys
        self.splits[new] = 0
        # the cached segment keys and growth groups of the old rows stay; the new rows' are
        # appended (a new row has its parent's growth multiplier)
        if self._seg_keys is not None and len(self._seg_keys) == self.n:
            self._seg_keys = self._freeze(np.concatenate(
                [self._seg_keys, self._segment_keys_of(self.key[new])]))
        else:
            self._seg_keys = None
        if self._growth is not None and len(self._growth[1]) == self.n:
            values, row_value = self._growth
            self._growth = (values, np.concatenate([row_value, row_value[rows]]))
        else:
            self._growth = None
        self.n += len(rows)
        return new

    def _append_rows(self, rows: np.ndarray) -> None:
        """Append copies of `rows` to every column (ROW_FIELDS), as np.concatenate([column,
        column[rows]]) would. A column is a view of the first rows of a backing array that
        doubles when full, so a month's split costs its new rows, not the whole table; a
        column replaced by a new array since the last split is copied into a new backing
        array first (as `agents.datacenter.Fleet.add` does)."""
        n, k, stores = self.n, len(rows), self._stores
        for field in self.ROW_FIELDS:
            column = getattr(self, field)
            store, view = stores.get(field, (None, None))
            if column is not view or len(store) < n + k:
                store = np.empty((max(64, 2 * (n + k)),) + column.shape[1:], dtype=column.dtype)
                store[:n] = column
            store[n:n + k] = column[rows]
            view = store[:n + k]
            stores[field] = (store, view)
            setattr(self, field, view)

    def segment_keys(self) -> np.ndarray:
        """[E, 6] stable identity of every segment: a hash of (hashed enterprise key, segment).
        The enterprise key is mixed first: the keys of the initial enterprises are 0..E-1, and
        `combine` XORs its part into the key, so (k, s) and (k', s') with k ^ s = k' ^ s' would
        collide (before, 30,834 segments had 5,842 distinct keys). Kept (`split` appends its
        new rows' keys); read-only."""
        if self._seg_keys is None or len(self._seg_keys) != self.n:
            self._seg_keys = self._freeze(self._segment_keys_of(self.key))
        return self._seg_keys

    @staticmethod
    def _segment_keys_of(keys: np.ndarray) -> np.ndarray:
        """[len(keys), 6] segment keys of enterprise keys `keys` (see segment_keys)."""
        return combine(mix64(keys.view(np.uint64))[:, None],
                       np.arange(len(SEGMENTS), dtype=np.uint64)[None, :]).view(np.int64)

    @staticmethod
    def _freeze(a: np.ndarray) -> np.ndarray:
        a.flags.writeable = False
        return a

    def demand_w(self) -> np.ndarray:
        """Demand of every segment in integer watts."""
        if _grid_passes():
            try:
                return _COMPILED_WATTS(self.demand_mw)
            except (ValueError, TypeError):    # a dtype or layout not compiled for
                pass
        return np.rint(self.demand_mw * 1e6).astype(np.int64)

    def split_giants(self, model: mesa.Model, fleet: Fleet, split_share: float) -> None:
        """Enterprise groups whose segment outgrows `split_share` of a typical operating data
        center split in two (each half a new agent)."""
        ops = fleet.operating
        if not ops.any():
            return
        limit = split_share * fleet.cap_mw[ops].sum() / ops.sum()
        rows = None
        if _grid_passes():
            try:
                rows = _COMPILED_ROWS_ABOVE(self.demand_mw, float(limit))
            except (ValueError, TypeError):    # a dtype or layout not compiled for
                pass
        if rows is None:
            rows = np.flatnonzero((self.demand_mw > limit).any(axis=1))
        if rows.size:
            self.split(rows)
            self.add_agents(model)

    def evict(self, dc_rows: np.ndarray) -> None:
        """Load served by data centers that closed (rows `dc_rows`) becomes unplaced."""
        if len(dc_rows):
            dc = self.pool >> 1                                  # pool // 2 (-1 unplaced)
            closed = np.zeros(max(int(dc.max()), int(np.max(dc_rows))) + 1, dtype=bool)
            closed[dc_rows] = True                               # np.isin by a lookup table
            gone = closed[np.maximum(dc, 0)] & (self.pool >= 0)
            self.pool[gone] = -1
            self.load_w[gone] = 0

    def renew_and_grow(self, want: np.ndarray, cap_w: np.ndarray, contract_months: float,
                       streams: Streams, month: int, retender: bool = False
                       ) -> tuple[np.ndarray, np.ndarray]:
        """Contracts due for renewal (one in `contract_months` a month) go back to the market;
        the others grow (or shrink) in place. A pool that cannot take all its tenants' growth
        grants it in random priority order: each request gets what is left after those
        before it (the first that does not fit gets the rest, later ones nothing). A tenant
        left short waits in place with the growth it got and asks again next month (its
        unmet growth is unserved meanwhile; at its renewal it chooses anew like any other)
        (demand.short_of_room=wait). With `retender` (short_of_room=retender) it instead
        re-tenders its whole contract (leaves its pool for the market) with probability equal
        to its unmet share of demand, on its own number this month: continuous in the pool's
        room in expectation, but each move is a whole segment sent to a node of its taste
        shocks, the main source of divergence between paired runs left after the earlier fix
        (docs/design.md §2.9; before that fix growth that did not fit made the segment leave
        for sure). Each segment's renewal draw, priority and re-tender draw are its own this
        month (`streams`). Returns (movers [k, 2] rows/segments, free W of every pool)."""
        seg_keys = self.segment_keys()
        passes = _renew_passes()
        if passes is not None:
            first, finish = passes
            try:
                renew, occ, delta, asked, shrink, n_grow = first(
                    self.pool, self.load_w, want, seg_keys, streams.call_key("renewal", month),
                    1.0 / contract_months, len(cap_w))
            except (ValueError, TypeError):    # an index out of range, a dtype or layout
                passes = None                  # not compiled for: numpy says what happens
        if passes is None:
            return self._renew_and_grow_numpy(want, cap_w, contract_months, streams, month,
                                              retender)
        free = cap_w - occ.astype(np.int64)
        overflow = np.zeros(want.shape, dtype=bool)
        waits = None
        if n_grow:
            fits_all = asked <= free          # every request fits, in any order
            free -= np.where(fits_all, asked, 0.0).astype(np.int64)
            t_flat = _COMPILED_TIGHT(self.pool, delta, fits_all.view(np.uint8))
            if t_flat.size:
                free, waits = self._grant_tight(want, cap_w, delta, t_flat, free, overflow,
                                                seg_keys, streams, month, retender)
        free += shrink.astype(np.int64)
        left, movers = finish(self.pool, self.load_w, want, renew.view(np.uint8),
                              overflow.view(np.uint8), len(cap_w))
        if waits is not None:   # tenants left short who stay wait in place with what they got
            short_flat, short_load = waits
            self.load_w.ravel()[short_flat] = short_load
        free += left.astype(np.int64)       # re-tendering segments leave with their old load
        return movers, free

    def _grant_tight(self, want: np.ndarray, cap_w: np.ndarray, delta: np.ndarray,
                     t_flat: np.ndarray, free: np.ndarray, overflow: np.ndarray,
                     seg_keys: np.ndarray, streams: Streams, month: int, retender: bool
                     ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """Growth in place in pools that cannot take all their tenants' growth
        (`renew_and_grow`): the requests `t_flat` (flat cells, row-major, delta > 0) are
        granted in each segment's random priority order this month; a tenant left short
        waits, or with `retender` re-tenders (marked in `overflow`) with probability equal to
        its unmet share. Returns free after the grants, and (cells, loads) of the short
        tenants that wait in place."""
        t_pool, t_load = self.pool.ravel()[t_flat], delta.ravel()[t_flat]
        u = streams.per_entity("growth_priority", seg_keys.ravel()[t_flat], month)
        order = grant_order(t_pool, u, len(cap_w))      # by pool, then u
        gp, gl = t_pool[order], t_load[order]
        csum = np.cumsum(gl)
        first = np.concatenate(([True], gp[1:] != gp[:-1]))
        start = np.maximum.accumulate(np.where(first, np.arange(len(gp)), 0))
        # a request gets what is left of the pool after those before it: the first
        # that does not fit gets the rest, the later ones none
        before = csum - gl - (csum[start] - gl[start])
        granted = np.clip(free[gp] - before, 0, gl)
        short_flat = t_flat[order]
        short_load = (self.load_w.ravel()[short_flat] + granted).astype(np.int64)
        # with `retender`, a tenant short of room re-tenders its whole contract with
        # probability equal to its unmet share of demand, on its own number this month
        if retender:
            unmet = 1.0 - short_load / want.ravel()[short_flat]
            u = streams.per_entity("retender", seg_keys.ravel()[short_flat], month)
            leaves = u < unmet
        else:
            leaves = np.zeros(len(short_flat), dtype=bool)
        overflow.ravel()[short_flat[leaves]] = True
        waits = ~leaves
        free -= np.bincount(gp[waits], weights=granted[waits],
                            minlength=len(cap_w)).astype(np.int64)
        return free, (short_flat[waits], short_load[waits])

    def _renew_and_grow_numpy(self, want: np.ndarray, cap_w: np.ndarray,
                              contract_months: float, streams: Streams, month: int,
                              retender: bool) -> tuple[np.ndarray, np.ndarray]:
        """`renew_and_grow` by numpy passes over the grid (the reference of the compiled
        passes, model/_kernels.pyx renew_pass and renew_finish: the same numbers)."""
        placed = self.pool >= 0
        seg_keys = self.segment_keys()
        renew = placed & (streams.per_entity("renewal", seg_keys, month) < 1.0 / contract_months)
        stay = placed & ~renew
        occ = pool_sums(self.pool, self.load_w, stay, len(cap_w))
        free = cap_w - occ.astype(np.int64)
        delta = np.where(stay, want - self.load_w, 0)
        grow_flat = np.flatnonzero(delta > 0)
        overflow = np.zeros(want.shape, dtype=bool)
        waits = None
        if len(grow_flat):
            g_pool = self.pool.ravel()[grow_flat]
            asked = pool_sums(self.pool, delta, delta > 0, len(cap_w))   # g_load by g_pool
            fits_all = asked <= free          # every request fits, in any order
            free -= np.where(fits_all, asked, 0.0).astype(np.int64)
            # pools that cannot take all their growth grant it by each segment's own random
            # priority this month
            tight = np.flatnonzero(~fits_all[g_pool])
            if tight.size:
                free, waits = self._grant_tight(want, cap_w, delta, grow_flat[tight], free,
                                                overflow, seg_keys, streams, month, retender)
        shrink = stay & (delta < 0)
        free += pool_sums(self.pool, -delta, shrink, len(cap_w)).astype(np.int64)
        keep = stay & ~overflow
        self.load_w[keep] = want[keep]
        if waits is not None:   # tenants left short who stay wait in place with what they got
            short_flat, short_load = waits
            self.load_w.ravel()[short_flat] = short_load
        # re-tendering segments leave their pool with their old load
        free += pool_sums(self.pool, self.load_w, overflow, len(cap_w)).astype(np.int64)
        moving = np.flatnonzero((renew | overflow | ~placed) & (want > 0))
        row = moving // want.shape[1]         # np.argwhere's [k, 2], without its 2-d nonzero
        movers = np.stack([row, moving - row * want.shape[1]], axis=1)
        return movers, free

    def choose(self, movers: np.ndarray, want: np.ndarray, free_w: np.ndarray, fleet: Fleet,
               terms: Terms, streams: Streams, key: tuple[int, int], place: Callable) -> None:
        """Movable segments `movers` ([k, 2] rows/segments) choose among the pools with free
        capacity (`free_w`, W) in the placement market `place`; unplaced load is unserved.
        `key` (month, market call) keys the call's taste shocks and priorities."""
        rows, segs = movers[:, 0], movers[:, 1]
        open_pools = np.flatnonzero(free_w > 0)
        local_index = np.full(len(free_w), -1)
        local_index[open_pools] = np.arange(len(open_pools))
        now = self.pool[rows, segs]
        current = np.where(now >= 0, local_index[np.maximum(now, 0)], -1)
        keys = self.segment_keys()[rows, segs]
        choosers = Choosers(
            home=self.home[rows], ctype=SEG_TYPE[segs], lclass=SEG_CLASS[segs],
            load_w=want[rows, segs], current=current, beta=self.beta[rows], risk=self.risk[rows],
            green=self.green[rows], intensity=self.intensity[rows],
            resident=self.resident[rows, segs], key=keys)
        dc, ctype = open_pools >> 1, open_pools & 1     # // 2 and % 2, without a division
        pools = Pools(node=fleet.node[dc], ctype=ctype,
                      price=fleet.price[dc, ctype], green=fleet.green_share[dc],
                      free_w=free_w[open_pools], key=fleet.key[dc] * 2 + ctype)
        noise = streams.call_key("market", *key)
        priority = ranks(streams.per_entity("market_priority", keys, *key))
        assigned, _ = place(choosers, pools, terms, noise, priority)
        ok = assigned >= 0
        self.pool[rows, segs] = np.where(ok, open_pools[np.maximum(assigned, 0)], -1)
        self.load_w[rows, segs] = np.where(ok, want[rows, segs], 0)


class Enterprise(mesa.Agent):
    """A group of firms with compute demand; its numbers live in `model.enterprises` row."""

    def __init__(self, model: mesa.Model, row: int) -> None:
        super().__init__(model)
        self.row = row

    @property
    def table(self) -> EnterpriseTable:
        return self.model.enterprises

    @property
    def home(self) -> str:
        return self.model.map.names[self.table.home[self.row]]

    @property
    def sector(self) -> str:
        return self.model.config.demand.sectors[self.table.sector[self.row]].name

    @property
    def demand_mw(self) -> float:
        """Total compute demand, MW of IT load."""
        return float(self.table.demand_mw[self.row].sum())

    @property
    def served_mw(self) -> float:
        """Load currently served by a data center, MW."""
        return float(self.table.load_w[self.row].sum()) / 1e6
