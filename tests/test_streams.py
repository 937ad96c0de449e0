"""Synchronised random streams: a stream depends on the seed and its key only."""

from __future__ import annotations

import numpy as np
import pytest

from model.streams import PROCESSES, Streams, entity_key, keyed_gumbel, keyed_uniform, pick, ranks


def test_a_stream_depends_on_seed_and_key_not_on_other_draws():
    s = Streams(7)
    first = s.generator("investment", 300, 4, 1).random(4)
    s.generator("renewal", 300).random(10_000)        # another process draws a lot
    again = s.generator("investment", 300, 4, 1).random(4)
    np.testing.assert_array_equal(first, again)
    other_node = s.generator("investment", 300, 5, 1).random(4)
    other_seed = Streams(8).generator("investment", 300, 4, 1).random(4)
    assert not np.allclose(first, other_node) and not np.allclose(first, other_seed)


def test_an_entitys_number_does_not_depend_on_who_else_draws():
    s = Streams(3)
    keys = np.arange(1000, dtype=np.int64) * 7 + 11
    all_of_them = s.per_entity("renewal", keys, 290)
    some = s.per_entity("renewal", keys[::13], 290)
    np.testing.assert_array_equal(all_of_them[::13], some)
    next_month = s.per_entity("renewal", keys, 291)
    assert np.corrcoef(all_of_them, next_month)[0, 1] == pytest.approx(0.0, abs=0.1)


def test_keyed_numbers_have_the_right_distributions():
    u = keyed_uniform(12345, np.arange(200_000, dtype=np.int64))
    assert 0.0 < u.min() and u.max() < 1.0
    assert u.mean() == pytest.approx(0.5, abs=0.005)
    assert u.var() == pytest.approx(1 / 12, abs=0.002)
    g = keyed_gumbel(99, np.arange(400, dtype=np.int64), np.arange(500, dtype=np.int64))
    assert g.mean() == pytest.approx(0.5772, abs=0.01)          # Euler-Mascheroni
    assert g.var() == pytest.approx(np.pi ** 2 / 6, abs=0.05)
    sub = keyed_gumbel(99, np.array([5, 17]), np.array([3, 400, 2]))
    np.testing.assert_array_equal(sub, g[np.ix_([5, 17], [3, 400, 2])])


def test_entity_keys_are_stable_distinct_and_leave_room_for_a_type_bit():
    a, b = entity_key(2, 300, 4, 1, 0), entity_key(2, 300, 4, 1, 1)
    assert a == entity_key(2, 300, 4, 1, 0) and a != b
    assert 0 <= a < 2 ** 62 and 0 <= b < 2 ** 62


def test_unknown_process_and_negative_key_are_refused():
    with pytest.raises(KeyError, match="weather"):
        Streams(1).generator("weather", 3)
    with pytest.raises(ValueError, match="non-negative"):
        Streams(1).generator("renewal", -1)
    assert len(set(PROCESSES.values())) == len(PROCESSES)


def test_ranks_and_pick():
    np.testing.assert_array_equal(ranks(np.array([0.3, 0.1, 0.9, 0.2])), [2, 0, 3, 1])
    cum = np.cumsum([0.5, 0.3, 0.2])
    assert [pick(cum, u) for u in (0.0, 0.49, 0.5, 0.79, 0.81, 0.999)] == [0, 0, 1, 1, 2, 2]


def test_entity_key_is_combine_folded_over_the_parts():
    """entity_key works in Python integers; it must give combine's uint64 numbers."""
    from model.streams import combine, entity_key_python
    rng = np.random.default_rng(0)
    for _ in range(500):
        parts = [int(x) for x in rng.integers(0, 2**62, rng.integers(1, 6))]
        key = np.zeros(1, dtype=np.uint64)
        for p in parts:
            key = combine(key, np.array([p], dtype=np.uint64))
        assert entity_key(*parts) == int(key[0] >> np.uint64(2))
        assert entity_key_python(*parts) == entity_key(*parts)     # compiled and Python
    assert entity_key(2**64 + 5, 3) == entity_key_python(2**64 + 5, 3)   # (Python beyond)


@pytest.mark.parametrize("mode", ["compiled", "numpy"])
@pytest.mark.parametrize("seed", [0, 1, 12345, 2**32 + 5, 2**70 + 3, 2**140 + 9])
def test_plain_python_streams_give_numpys_numbers(seed, mode, monkeypatch):
    """Streams.uniforms and call_key (SeedSequence and PCG64 written out in Python ints, its
    mixing compiled in model/_kernels.pyx, or in Python with EDWC_KERNEL=numpy) give exactly
    the numbers of numpy's SeedSequence / PCG64 / Generator.random."""
    monkeypatch.setenv("EDWC_KERNEL", mode)
    s = Streams(seed)
    rng = np.random.default_rng(seed % 1000)
    for _ in range(200):
        key = [int(x) for x in rng.choice([0, 1, 5, 300, 24_000, 2**33 + 1, 2**64 + 7],
                                          size=int(rng.integers(0, 5)))]
        g, u = s.generator("investment", *key), s.uniforms("investment", *key)
        assert u.random(4) + u.random(3) == list(g.random(4)) + list(g.random(3))
        seq = np.random.SeedSequence(seed, spawn_key=s.key("market", *key))
        assert s.call_key("market", *key) == int(seq.generate_state(1, np.uint64)[0] >> 1)


def test_segment_keys_are_distinct_after_growth_and_splits():
    """Every segment has its own key (the initial enterprises' keys are 0..E-1, so an
    unmixed key XOR segment collided: 30,834 segments once had 5,842 distinct keys)."""
    from model.model import EDWCModel

    m = EDWCModel(seed=1, overrides=["demand.n_enterprises=2000", "run.end=2024-12"])
    for _ in range(30):
        m.step()
    keys = m.enterprises.segment_keys()
    assert m.enterprises.n > 2000          # splits happened
    assert np.unique(keys).size == keys.size


def test_compiled_keyed_uniforms_give_numpys_numbers():
    """model/_kernels.pyx's keyed uniforms equal keyed_uniform_numpy bit for bit, for keys of
    any shape and sign (int64 keys wrap to uint64 as numpy's view does)."""
    from model import streams
    assert streams._COMPILED_UNIFORM is not None, "model/_kernels.pyx is not built"
    rng = np.random.default_rng(3)
    cases = [rng.integers(-2**63, 2**63 - 1, (300, 6), dtype=np.int64),
             rng.integers(0, 2**62, 1000)[::3], np.array([5]), np.zeros(0, dtype=np.int64),
             [1, 2, 3]]
    for call in (0, 12345, 2**63 - 1):
        for keys in cases:
            compiled = streams.keyed_uniform(call, keys)
            reference = streams.keyed_uniform_numpy(call, keys)
            assert compiled.shape == reference.shape and compiled.dtype == reference.dtype
            np.testing.assert_array_equal(compiled, reference)
