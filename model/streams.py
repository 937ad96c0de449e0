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

from bisect import bisect_right
from collections.abc import Sequence

import numpy as np

from model.kernel_switch import compiled_wanted

try:
    from model._kernels import entity_key as _COMPILED_ENTITY_KEY
    from model._kernels import keyed_uniform as _COMPILED_UNIFORM
    from model._kernels import stream_words as _COMPILED_WORDS
except ImportError:      # not built (a source tree without `pip install`): numpy / Python
    _COMPILED_UNIFORM = _COMPILED_WORDS = _COMPILED_ENTITY_KEY = None


def _compiled() -> bool:
    """Whether the compiled helpers (model/_kernels.pyx) are used: built, and not turned off
    with EDWC_KERNEL=numpy (as for the market: model.market.use_kernel)."""
    return _COMPILED_WORDS is not None and compiled_wanted()

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
    "investment": 8,         # capacity planning: per project, by node, compute type and
                             # the project's number among those proposed there
    "rack_target": 9,        # state builds for provincial rack targets, by month and node
    "build_decision": 10,    # an operator's go-ahead on a project's NPV: keyed per project
    "project_count": 11,     # whether a gap or remainder below the smallest project starts
                             # one: keyed per project
    "pipeline_pue": 12,      # design PUE of each project under construction at the start: per
                             # project key
    "retender": 13,          # whether a tenant short of room in its pool re-tenders its
                             # contract, by month: per segment
}
DC_ORIGINS: dict[str, int] = {"initial": 0, "pipeline": 1, "investment": 2, "rack_target": 3}
ENTERPRISE_SPLIT = 4   # first part of the key of an enterprise created by a split

ENTERPRISE_ATTRIBUTES: dict[str, int] = {   # sub-keys of "enterprises"
    "sector": 0, "home": 1, "size": 2, "beta": 3, "risk": 4, "green": 5, "resident": 6}


class Streams:
    """The random streams of one run, all derived from its seed."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._run_mix = _mix_run_entropy(self.seed)   # SeedSequence state after the seed
        self._prefix_mix: dict[tuple[int, ...], tuple[list[int], int]] = {}  # see _pool
        self._compiled = _compiled()   # compiled helpers (EDWC_KERNEL read once per run)

    def key(self, process: str, *key: int) -> tuple[int, ...]:
        """The spawn key of `process` for `key` (non-negative integers)."""
        if process not in PROCESSES:
            raise KeyError(f"unknown random process {process!r}")
        parts = (PROCESSES[process], *map(int, key))
        if min(parts) < 0:
            raise ValueError(f"stream keys must be non-negative integers, got {parts}")
        return parts

    def generator(self, process: str, *key: int) -> np.random.Generator:
        """A fresh generator for `process` keyed by `key` (e.g. month, node)."""
        seq = np.random.SeedSequence(self.seed, spawn_key=self.key(process, *key))
        return np.random.Generator(np.random.PCG64(seq))

    def uniforms(self, process: str, *key: int) -> Uniforms:
        """The uniforms of `generator(process, *key).random(k)` (the same numbers, drawn on
        in order by successive calls), for streams of a few numbers each (one per
        node-month): no numpy objects are built."""
        state = self._state(process, key, 4)
        return Uniforms((state[0] << 64) | state[1], (state[2] << 64) | state[3])

    def call_key(self, process: str, *key: int) -> int:
        """A 63-bit key of `process` for `key` (e.g. one market call's taste shocks): the
        first 64-bit word of the stream's SeedSequence state, shifted right by one."""
        return self._state(process, key, 1)[0] >> 1

    def _state(self, process: str, key: tuple[int, ...], n_words: int) -> list[int]:
        """`generate_state(n_words, np.uint64)` of the stream's SeedSequence, as Python ints:
        compiled (model/_kernels.pyx, the same words) for key parts below 2^64, else in
        Python integers."""
        if self._compiled:
            parts = self.key(process, *key)
            try:
                return _COMPILED_WORDS(*self._prefix(parts[:-2]), parts[-2:], n_words)
            except OverflowError:
                pass
        return _generate_state(self._pool(process, *key), n_words)

    def _pool(self, process: str, *key: int) -> list[int]:
        """The entropy pool of `SeedSequence(seed, spawn_key=self.key(process, *key))`. The
        state after all but the last two parts of the key is kept (the streams of one
        process and month share it)."""
        parts = self.key(process, *key)
        return _mix_words(*self._prefix(parts[:-2]), parts[-2:])[0]

    def _prefix(self, head: tuple[int, ...]) -> tuple[list[int], int]:
        """Pool and hash constant after the seed and the key parts `head` (kept)."""
        mixed = self._prefix_mix.get(head)
        if mixed is None:
            if len(self._prefix_mix) > 64:
                self._prefix_mix.clear()
            mixed = self._prefix_mix[head] = _mix_words(*self._run_mix, head)
        return mixed

    def enterprise(self, attribute: str) -> np.random.Generator:
        """The stream of one attribute drawn at enterprise creation."""
        return self.generator("enterprises", ENTERPRISE_ATTRIBUTES[attribute])

    def per_entity(self, process: str, keys: np.ndarray, *key: int) -> np.ndarray:
        """Uniforms in (0, 1), one per entity key (any shape), for `process` keyed by `key`
        (e.g. month): the number of an entity depends on its own key only, not on which or
        how many other entities draw."""
        call = self.call_key(process, *key)
        return _COMPILED_UNIFORM(call, keys) if self._compiled else \
            keyed_uniform_numpy(call, keys)


class Uniforms:
    """Uniform numbers in [0, 1) of one PCG64 stream (state and increment, 128-bit), as
    `numpy.random.Generator.random` draws them: XSL-RR output of the stepped state, top 53
    bits."""

    def __init__(self, seed: int, sequence: int) -> None:
        self.inc = ((sequence << 1) | 1) & _MASK128
        self.state = (self.inc + seed) & _MASK128               # srandom: step from 0, add
        self.state = (self.state * _PCG_MULT + self.inc) & _MASK128   # the seed, step

    def random(self, k: int) -> list[float]:
        """The next `k` numbers."""
        out, state, inc = [], self.state, self.inc
        mult, mask128, mask64, unit = _PCG_MULT, _MASK128, _MASK64, _DOUBLE_UNIT   # (locals)
        for _ in range(k):
            state = (state * mult + inc) & mask128
            x, rot = ((state >> 64) ^ state) & mask64, state >> 122
            x = ((x >> rot) | (x << (64 - rot))) & mask64
            out.append((x >> 11) * unit)
        self.state = state
        return out


# ------------------------------------------------------- numpy's SeedSequence, in Python ints
# The hash mixing of numpy.random.SeedSequence (pool of four 32-bit words) and its
# generate_state, written out so that a stream of a few numbers costs a few microseconds
# instead of the ~40 us of building SeedSequence, PCG64 and Generator objects; the same
# words (tests/test_streams.py compares them with numpy's).

_MASK32 = 0xFFFFFFFF
_MASK128 = (1 << 128) - 1
_POOL_SIZE = 4
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_MULT_L, _MIX_MULT_R = 0xCA01F9DD, 0x4973F715
_PCG_MULT = 0x2360ED051FC65DA44385DF649FCCF645      # PCG64's 128-bit LCG multiplier
_DOUBLE_UNIT = 1.0 / 9007199254740992.0             # 2^-53


def _uint32_words(x: int) -> list[int]:
    """A non-negative integer as little-endian 32-bit words ([0] for 0)."""
    words = [x & _MASK32]
    x >>= 32
    while x:
        words.append(x & _MASK32)
        x >>= 32
    return words


def _hashmix(value: int, h: int) -> tuple[int, int]:
    """SeedSequence's hashmix: the mixed value and the next hash constant."""
    value ^= h
    h = (h * _MULT_A) & _MASK32
    value = (value * h) & _MASK32
    return value ^ (value >> 16), h


def _mix(x: int, y: int) -> int:
    result = (_MIX_MULT_L * x - _MIX_MULT_R * y) & _MASK32
    return result ^ (result >> 16)


def _mix_words(pool: list[int], h: int, parts: tuple[int, ...]) -> tuple[list[int], int]:
    """Pool and hash constant after mixing the words of `parts` (spawn-key entries) into
    every pool word in turn (SeedSequence's mix_entropy beyond the pool size)."""
    pool = list(pool)
    for part in parts:
        for word in _uint32_words(part):
            for i in range(_POOL_SIZE):
                value, h = _hashmix(word, h)
                pool[i] = _mix(pool[i], value)
    return pool, h


def _mix_run_entropy(seed: int) -> tuple[list[int], int]:
    """Pool and hash constant after mixing the seed's words (padded to the pool size, as
    SeedSequence does when a spawn key follows)."""
    words = _uint32_words(seed)
    words += [0] * (_POOL_SIZE - len(words))
    pool, h = [], _INIT_A
    for word in words[:_POOL_SIZE]:
        value, h = _hashmix(word, h)
        pool.append(value)
    for src in range(_POOL_SIZE):
        for dst in range(_POOL_SIZE):
            if src != dst:
                value, h = _hashmix(pool[src], h)
                pool[dst] = _mix(pool[dst], value)
    for word in words[_POOL_SIZE:]:
        for dst in range(_POOL_SIZE):
            value, h = _hashmix(word, h)
            pool[dst] = _mix(pool[dst], value)
    return pool, h


def _generate_state(pool: list[int], n_words: int) -> list[int]:
    """SeedSequence.generate_state(n_words, np.uint64) as Python integers."""
    h, words = _INIT_B, []
    for i in range(2 * n_words):
        value = pool[i % _POOL_SIZE] ^ h
        h = (h * _MULT_B) & _MASK32
        value = (value * h) & _MASK32
        words.append(value ^ (value >> 16))
    return [words[2 * k] | (words[2 * k + 1] << 32) for k in range(n_words)]


def ranks(keys: np.ndarray) -> np.ndarray:
    """Rank of each key (0 = smallest); ties, which have probability 0, by position."""
    order = np.argsort(keys, kind="stable")
    out = np.empty(len(keys), dtype=np.int64)
    out[order] = np.arange(len(keys))
    return out


def pick(cumulative: Sequence[float], u: float) -> int:
    """Index drawn from a discrete distribution given its cumulative weights (non-decreasing:
    an array or a list) and a uniform: the number of weights at or below u x the total, as
    np.searchsorted(side="right") counts them, by bisection in Python (a list is quickest)."""
    return min(bisect_right(cumulative, u * cumulative[-1]), len(cumulative) - 1)


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
    numbers as `combine` folded over the parts, in Python integers (one key at a time);
    compiled (model/_kernels.pyx) for parts below 2^64 whenever it is built (EDWC_KERNEL
    is not read here: it costs more than the key; tests/test_streams.py compares the two)."""
    if _COMPILED_ENTITY_KEY is not None:
        try:
            return _COMPILED_ENTITY_KEY(*parts)
        except OverflowError:
            pass
    return entity_key_python(*parts)


def entity_key_python(*parts: int) -> int:
    """`entity_key` in Python integers (the reference of the compiled one)."""
    key = 0
    for p in parts:
        x = key ^ ((int(p) + _GOLDEN_INT) & _MASK64)
        x = ((x ^ (x >> 30)) * _M1_INT) & _MASK64
        x = ((x ^ (x >> 27)) * _M2_INT) & _MASK64
        key = x ^ (x >> 31)
    return key >> 2


def keyed_uniform(call: int, keys: np.ndarray) -> np.ndarray:
    """Uniforms in (0, 1) of (call, key), elementwise over `keys` (int64): compiled
    (model/_kernels.pyx) if built, else (or with EDWC_KERNEL=numpy) `keyed_uniform_numpy`;
    the same numbers (tests/test_streams.py)."""
    if not _compiled():
        return keyed_uniform_numpy(call, keys)
    return _COMPILED_UNIFORM(call, keys)


def keyed_uniform_numpy(call: int, keys: np.ndarray) -> np.ndarray:
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
