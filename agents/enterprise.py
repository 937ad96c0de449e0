"""Enterprises: compute demand by sector, compute type and latency class (DESIGN §4.1).

Each `Enterprise` is a Mesa agent standing for a group of firms. Its numeric state lives in
one row of `EnterpriseTable`, held by the model, so a month's growth, renewals and placement
are decided for all enterprises in one numpy pass; the agent reads and writes its own row.
A row has six segments: compute type (general, intelligent) x latency class (realtime,
interactive, batch). A segment's load is served by one capacity pool at a time, or unserved.
"""

from __future__ import annotations

import mesa
import numpy as np

from model.schema import COMPUTE_TYPES, LATENCY_CLASSES, Demand

SEGMENTS = [(t, c) for t in range(len(COMPUTE_TYPES)) for c in range(len(LATENCY_CLASSES))]
SEG_TYPE = np.array([t for t, _ in SEGMENTS])
SEG_CLASS = np.array([c for _, c in SEGMENTS])


class EnterpriseTable:
    """Column store of all enterprises: one row per agent, one column per segment."""

    def __init__(self, demand: Demand, n_nodes: int, rng: np.random.Generator) -> None:
        e = demand.n_enterprises
        sectors = demand.sectors
        sector_share = np.array([s.share for s in sectors])
        self.sector = rng.choice(len(sectors), size=e, p=sector_share / sector_share.sum())
        self.home = rng.choice(n_nodes, size=e, p=np.asarray(demand.origin_shares))
        size = rng.lognormal(0.0, demand.size_sigma, size=e)
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
        self.beta = sens * rng.lognormal(0.0, demand.price_sensitivity_sigma, e) \
            / demand.logit_scale_rmb
        self.risk = np.clip(np.array([s.risk_aversion for s in sectors])[self.sector]
                            * rng.uniform(0.5, 1.5, e), 0.0, 1.0)
        self.green = np.clip(np.array([s.green_preference for s in sectors])[self.sector]
                             * rng.uniform(0.5, 1.5, e), 0.0, 1.0)
        self.intensity = np.array([s.data_intensity for s in sectors])[self.sector]
        residency = np.array([s.residency for s in sectors])[self.sector]
        latency_bound = SEG_CLASS[None, :] < 2   # realtime and interactive data can be bound
        self.resident = latency_bound & (rng.random(self.demand_mw.shape) < residency[:, None])
        self.growth_multiplier = np.array([s.growth_multiplier for s in sectors])[self.sector]
        self.n = e

    def grow(self, annual_growth: np.ndarray) -> None:
        """Grow every segment's demand by one month of its yearly rate (by compute type)."""
        yearly = annual_growth[SEG_TYPE][None, :] * self.growth_multiplier[:, None]
        self.demand_mw *= (1.0 + np.maximum(yearly, -0.99)) ** (1.0 / 12.0)

    ROW_FIELDS = ("sector", "home", "demand_mw", "pool", "load_w", "beta", "risk", "green",
                  "intensity", "resident", "growth_multiplier")

    def split(self, rows: np.ndarray) -> np.ndarray:
        """Split enterprise groups in two: each new row takes half of every segment's demand
        and the same attributes; its load is unplaced (it will choose). Returns new rows."""
        new = np.arange(self.n, self.n + len(rows))
        self.demand_mw[rows] *= 0.5
        for field in self.ROW_FIELDS:
            arr = getattr(self, field)
            setattr(self, field, np.concatenate([arr, arr[rows]]))
        self.pool[new] = -1
        self.load_w[new] = 0
        self.n += len(rows)
        return new

    def demand_w(self) -> np.ndarray:
        """Demand of every segment in integer watts."""
        return np.rint(self.demand_mw * 1e6).astype(np.int64)


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

    def snapshot(self) -> dict:
        """This enterprise's state for the yearly agent table."""
        t = self.table
        r = self.row
        row = {"unique_id": self.unique_id, "node": self.home, "sector": self.sector,
               "demand_mw": self.demand_mw, "served_mw": self.served_mw,
               "price_sensitivity": float(t.beta[r] * self.model.config.demand.logit_scale_rmb),
               "risk_aversion": float(t.risk[r]), "green_preference": float(t.green[r])}
        for k, (ct, lc) in enumerate(SEGMENTS):
            row[f"demand_mw_{COMPUTE_TYPES[ct]}_{LATENCY_CLASSES[lc]}"] = float(t.demand_mw[r, k])
        return row
