"""Synchronised random streams (docs/design.md §2.9).

Every stochastic process draws from its own stream, spawned from the run seed with numpy's
`SeedSequence`: the stream of process P for key (k1, k2, ...) is
`SeedSequence(seed, spawn_key=(P, k1, k2, ...))`. A stream depends only on the seed and its
key, never on how many numbers other processes drew before it. Two runs that share a seed
but differ in one lever therefore give every enterprise, node and month the same random
numbers, unless the lever changes that very decision (common random numbers that survive a
policy change).

Per-entity draws (one number per enterprise segment, one per segment and data center) are
keyed numbers: a hash of the process's stream key and the entity's stable key, so an entity's
number does not depend on how many entities there are or which of them take part.
"""

from __future__ import annotations

import numpy as np

# Process ids: the first element of every spawn key. Append new processes; never renumber.
PROCESSES: dict[str, int] = {
    "enterprises": 1,        # enterprise creation, one sub-key per attribute
    "initial_stock": 2,      # initial data centers, keyed by node
    "pipeline": 3,           # projects under construction at the start, by year and node
    "renewal": 4,            # contract renewals, by month: one draw per enterprise segment
    "growth_priority": 5,    # order of in-place growth requests, by month: per segment
    "market": 6,             # taste shocks, by month and market call (keyed per segment x
                             # data center x round, model.market)
    "market_priority": 7,    # clearing priority, by month and market call: per segment
    "investment": 8,         # capacity planning, by month, node and compute type
    "rack_target": 9,        # state builds for provincial rack targets, by month and node
    "build_decision": 10,    # an operator's go-ahead on a project's NPV: keyed per project
    "project_count": 11,     # whether a gap or remainder below the smallest project starts
                             # one: keyed per project
    "pipeline_pue": 12,      # design PUE of each project under construction at the start: per
                             # project key
}
DC_ORIGINS: dict[str, int] = {"initial": 0, "pipeline": 1, "investment": 2, "rack_target": 3}
ENTERPRISE_SPLIT = 4   # first part of the key of an enterprise created by a split

ENTERPRISE_ATTRIBUTES: dict[str, int] = {   # sub-keys of "enterprises"
    "sector": 0, "home": 1, "size": 2, "beta": 3, "risk": 4, "green": 5, "resident": 6}


class Streams:
    """The random streams of one run, all derived from its seed."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def key(self, process: str, *key: int) -> tuple[int, ...]:
        """The spawn key of `process` for `key` (non-negative integers)."""
        if process not in PROCESSES:
            raise KeyError(f"unknown random process {process!r}")
        parts = (PROCESSES[process], *(int(k) for k in key))
        if any(p < 0 for p in parts):
            raise ValueError(f"stream keys must be non-negative integers, got {parts}")
        return parts

    def generator(self, process: str, *key: int) -> np.random.Generator:
        """A fresh generator for `process` keyed by `key` (e.g. month, node)."""
        seq = np.random.SeedSequence(self.seed, spawn_key=self.key(process, *key))
        return np.random.Generator(np.random.PCG64(seq))

    def call_key(self, process: str, *key: int) -> int:
        """A 63-bit key of `process` for `key` (e.g. one market call's taste shocks)."""
        seq = np.random.SeedSequence(self.seed, spawn_key=self.key(process, *key))
        return int(seq.generate_state(1, np.uint64)[0] >> np.uint64(1))

    def enterprise(self, attribute: str) -> np.random.Generator:
        """The stream of one attribute drawn at enterprise creation."""
        return self.generator("enterprises", ENTERPRISE_ATTRIBUTES[attribute])

    def per_entity(self, process: str, keys: np.ndarray, *key: int) -> np.ndarray:
        """Uniforms in (0, 1), one per entity key (any shape), for `process` keyed by `key`
        (e.g. month): the number of an entity depends on its own key only, not on which or
        how many other entities draw."""
        return keyed_uniform(self.call_key(process, *key), keys)


def ranks(keys: np.ndarray) -> np.ndarray:
    """Rank of each key (0 = smallest); ties, which have probability 0, by position."""
    order = np.argsort(keys, kind="stable")
    out = np.empty(len(keys), dtype=np.int64)
    out[order] = np.arange(len(keys))
    return out


def pick(cumulative: np.ndarray, u: float) -> int:
    """Index drawn from a discrete distribution given its cumulative weights and a uniform."""
    return int(min(np.searchsorted(cumulative, u * cumulative[-1], side="right"),
                   len(cumulative) - 1))


# ---------------------------------------------------------------- keyed numbers (random access)
# Numbers that must exist for every pair of entities (a chooser's taste shock for each data
# center) are too many to draw as arrays; they come from a keyed hash instead: splitmix64's
# finaliser over (call key, chooser key, pool key). Same keys, same number.

_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_S30, _S27, _S31, _S11 = (np.uint64(s) for s in (30, 27, 31, 11))
_M1_INT, _M2_INT, _GOLDEN_INT = int(_M1), int(_M2), int(_GOLDEN)
_MASK64 = (1 << 64) - 1


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser of uint64 values (wrapping arithmetic), elementwise."""
    x = np.asarray(x, dtype=np.uint64)
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


def combine(key: np.ndarray, part: np.ndarray) -> np.ndarray:
    """Key of a (key, part) pair: mix64(key ^ (part + golden ratio constant))."""
    return mix64(np.asarray(key, dtype=np.uint64)
                 ^ (np.asarray(part, dtype=np.uint64) + _GOLDEN))


def entity_key(*parts: int) -> int:
    """A stable 62-bit identity from non-negative integers (e.g. month, node, type, project);
    room is left to append a compute-type bit and stay a non-negative int64. The same
    numbers as `combine` folded over the parts, in Python integers (one key at a time)."""
    key = 0
    for p in parts:
        x = key ^ ((int(p) + _GOLDEN_INT) & _MASK64)
        x = ((x ^ (x >> 30)) * _M1_INT) & _MASK64
        x = ((x ^ (x >> 27)) * _M2_INT) & _MASK64
        key = x ^ (x >> 31)
    return key >> 2


def keyed_uniform(call: int, keys: np.ndarray) -> np.ndarray:
    """Uniforms in (0, 1) of (call, key), elementwise over `keys` (int64)."""
    h = combine(np.array(call, dtype=np.uint64), np.asarray(keys, dtype=np.int64).view(np.uint64))
    return ((h >> _S11).astype(np.float64) + 0.5) * 2.0 ** -53


def keyed_gumbel(call: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """[len(rows), len(cols)] standard Gumbel numbers of (call, row key, col key)."""
    row = combine(np.array([call], dtype=np.uint64),
                  np.asarray(rows, dtype=np.int64).view(np.uint64))
    h = combine(row[:, None], np.asarray(cols, dtype=np.int64).view(np.uint64)[None, :])
    u = ((h >> _S11).astype(np.float64) + 0.5) * 2.0 ** -53      # in (0, 1)
    return -np.log(-np.log(u))
