"""`make noise` (experiments/noise_check.py): the noise ratio, its five-seed subsets, the
same numbers on any number of workers, and bad input refused before any run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from experiments import noise_check as nc

TINY = ["demand.n_enterprises=200"]


def _frame(values: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"seed": range(1, len(values) + 1), "west_share": values,
                         "co2_location_t": np.array(values) * 1e6}).set_index("seed")


def test_noise_ratio_is_std_of_paired_difference_over_std_of_levels():
    ref = _frame([0.30, 0.32, 0.35, 0.31, 0.33])
    var = _frame([0.31, 0.32, 0.37, 0.30, 0.36])
    table = nc.noise_ratios(ref, {"v": var}).set_index("outcome")
    diff = np.array([0.01, 0.0, 0.02, -0.01, 0.03])
    level = np.array([0.30, 0.32, 0.35, 0.31, 0.33])
    assert table.loc["west_share", "std_diff"] == pytest.approx(diff.std(ddof=1))
    assert table.loc["west_share", "ratio"] == pytest.approx(diff.std(ddof=1)
                                                             / level.std(ddof=1))
    assert table.loc["west_share", "mean_diff"] == pytest.approx(0.01)
    # the ratio has no unit: CO2 in tonnes gives the same ratio as the share
    assert table.loc["co2_location_t", "ratio"] == pytest.approx(table.loc["west_share",
                                                                           "ratio"])


def test_five_seed_subsets_of_a_proportional_difference_give_its_factor():
    """variant - reference = 0.4 x (reference - its mean): every subset's ratio is 0.4."""
    ref = pd.Series(np.random.default_rng(3).normal(0.34, 0.01, 12))
    var = ref + 0.4 * (ref - ref.mean())
    r = nc.subset_ratios(ref, var, draws=200)
    assert r == pytest.approx(np.full(200, 0.4))
    # reproducible, and a different difference gives a spread of ratios around the full one
    noisy = ref + np.random.default_rng(4).normal(0, 0.003, 12)
    a, b = nc.subset_ratios(ref, noisy), nc.subset_ratios(ref, noisy)
    assert np.array_equal(a, b)
    full = (noisy - ref).std(ddof=1) / ref.std(ddof=1)
    assert np.quantile(a, 0.1) < full < np.quantile(a, 0.9)


def test_subset_columns_only_from_ten_seeds():
    ref = _frame(list(np.linspace(0.30, 0.36, 10)))
    var = ref * 1.01
    table = nc.noise_ratios(ref, {"v": var})
    assert "ratio_5_p10" in nc.with_subsets(table, ref, {"v": var}).columns
    assert "ratio_5_p10" not in nc.with_subsets(table, ref.iloc[:9], {"v": var}).columns


@pytest.mark.slow
def test_same_numbers_on_one_or_two_workers():
    variants = {"uhv_off": ["scenario=uhv_off"]}
    one = nc.paired_tables([1, 2, 3], 2022, "2022-06", variants, TINY, workers=1)
    two = nc.paired_tables([1, 2, 3], 2022, "2022-06", variants, TINY, workers=2)
    pd.testing.assert_frame_equal(one[0], two[0])
    pd.testing.assert_frame_equal(one[1]["uhv_off"], two[1]["uhv_off"])
    assert list(one[0].index) == [1, 2, 3]
    assert (one[0]["west_share"] > 0).all()


@pytest.mark.parametrize("argv, message", [
    (["--model", "supply.build_response=7"], "config error: supply.build_response = 7"),
    (["--seeds", "1", "1", "2"], "a seed is repeated"),
    (["--seeds", "1", "2"], "need at least 3 seeds"),
    (["--workers", "0"], "--workers = 0"),
])
def test_bad_input_is_one_line_before_any_run(argv, message, capsys, monkeypatch):
    def no_run(*_a, **_k):
        raise AssertionError("a run started")
    monkeypatch.setattr(nc, "simulate", no_run)
    assert nc.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
