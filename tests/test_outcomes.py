"""Declared outcomes aggregate a year as documented, and the refactor hash check compares
listings line by line."""

from __future__ import annotations

import pandas as pd
import pytest

from benchmarks.hash_outputs import compare
from model.outcomes import KEY_NUMBERS, OUTCOMES, SENSITIVITY, SUMMARY


def test_outcomes_aggregate_a_year_by_mean_annualised_sum_and_december():
    nat = pd.DataFrame({"year": [2030] * 6 + [2031] * 12,
                        "west_share": [0.2] * 6 + [0.4] * 12,
                        "twh": [10.0] * 6 + [20.0] * 12,
                        "racks": list(range(6)) + list(range(100, 112))})
    assert OUTCOMES["west_share"].raw(nat, 2031) == pytest.approx(0.4)
    assert OUTCOMES["west_share"].display(nat, 2030) == pytest.approx(20.0)   # percent
    assert OUTCOMES["twh"].raw(nat, 2030) == pytest.approx(120.0)   # 6 months x 10, x 12 / 6
    assert OUTCOMES["twh"].raw(nat, 2031) == 240.0
    assert OUTCOMES["racks"].raw(nat, 2031) == 111.0
    assert OUTCOMES["racks"].display(nat, 2031) == pytest.approx(111e-6)   # millions


def test_every_use_names_declared_outcomes():
    names = [*SUMMARY, *KEY_NUMBERS, *(n for n, _ in SENSITIVITY)]
    assert set(names) <= set(OUTCOMES)
    assert len({OUTCOMES[n].label for n in OUTCOMES}) == len(OUTCOMES)   # labels distinct


def test_hash_compare_reports_changed_missing_and_extra_tables():
    ref = ["edwc 1 national aaa", "edwc 1 node bbb", "edwc 2 national ccc"]
    assert compare(list(ref), ref) == []
    now = ["edwc 1 national aaa", "edwc 1 node bbx", "edwc 3 national ddd"]
    problems = compare(now, ref)
    assert len(problems) == 3
    assert any(p.startswith("DIFFERENT: edwc 1 node") for p in problems)
    assert any(p.startswith("missing") and "edwc 2 national" in p for p in problems)
    assert any(p.startswith("extra") and "edwc 3 national" in p for p in problems)
