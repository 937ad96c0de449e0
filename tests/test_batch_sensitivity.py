"""Sensitivity indices from a sweep, checked on a stand-in model with known answers."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from experiments import sensitivity
from experiments.design import SweepInputError
from experiments.sweep import execute_plan, plan_from_overrides


def linear_model(cfg, meta: dict) -> SimpleNamespace:
    """Stand-in run: west share in 2030 = 0.4 a + 0.1 b + small seed noise (a, b in [0, 1]),
    so Sobol S1 is 16/17 for a and 1/17 for b. Returns tables, config and manifest."""
    a, b = cfg["demand"]["logit_scale_rmb"], cfg["supply"]["optimism"]
    noise = np.random.default_rng(meta["seed"] * 1000 + meta["point"]).normal(0, 0.002)
    months = pd.date_range("2030-01-01", periods=12, freq="MS")
    national = pd.DataFrame({"month": months, "year": 2030,
                             "west_share": 0.4 * a + 0.1 * b + noise,
                             "co2_location_t": 1e6 * (1 + b)})
    return SimpleNamespace(tables={"national": national}, config=cfg,
                           manifest={"seed": meta["seed"]})


def sweep_with(tmp_path: Path, kind: str, samples: int) -> Path:
    out = tmp_path / kind
    axes = "{demand.logit_scale_rmb:{low:0.0,high:1.0},supply.optimism:{low:0.0,high:1.0}}"
    plan = plan_from_overrides([
        "experiment=smoke", f"sweep.dir={out}", "sweep.executor=serial", "sweep.seeds=[0,1]",
        "sweep.progress=false", f"design.kind={kind}", f"+design.samples={samples}",
        "~design.axes", f"+design.axes={axes}"], check=False)
    execute_plan(plan, runner=linear_model)
    return out


def test_sobol_indices_recover_the_linear_model_with_seed_spread(tmp_path):
    out = sweep_with(tmp_path, "sobol", 32)
    assert sensitivity.main([str(out), "--output", "west_share:2030"]) == 0
    table = pd.read_csv(out / "sensitivity.csv").set_index(["parameter", "index"])
    assert table.loc[("demand.logit_scale_rmb", "S1"), "mean"] == pytest.approx(16 / 17, abs=0.05)
    assert table.loc[("supply.optimism", "S1"), "mean"] == pytest.approx(1 / 17, abs=0.03)
    assert table.loc[("demand.logit_scale_rmb", "ST"), "mean"] == pytest.approx(16 / 17, abs=0.05)
    assert (table["n_seeds"] == 2).all() and (table["std"] > 0).all()
    assert (table["min"] <= table["mean"]).all() and (table["mean"] <= table["max"]).all()


def test_morris_ranks_the_stronger_parameter_first(tmp_path):
    out = sweep_with(tmp_path, "morris", 6)
    table = sensitivity.sensitivity_table(out, [sensitivity.parse_output("west_share:2030")])
    mu_star = table[table["index"] == "mu_star"].set_index("parameter")["mean"]
    assert mu_star["demand.logit_scale_rmb"] == pytest.approx(0.4, rel=0.05)
    assert mu_star["supply.optimism"] == pytest.approx(0.1, rel=0.1)


def test_outputs_default_to_yearly_sums_for_emissions_and_means_for_shares():
    assert sensitivity.parse_output("co2_location_t:2030").agg == "sum"
    assert sensitivity.parse_output("west_share:2030").agg == "mean"
    with pytest.raises(SweepInputError, match="--output = 'west_share'"):
        sensitivity.parse_output("west_share")


def test_sensitivity_refuses_a_grid_sweep(tmp_path, capsys):
    out = sweep_with(tmp_path, "lhs", 8)
    assert sensitivity.main([str(out), "--output", "west_share:2030"]) == 2
    assert "design.kind = 'lhs'" in capsys.readouterr().err


def test_sensitivity_twice_prints_identical_intervals(tmp_path, capsys):
    """SALib's bootstrap is seeded (design.bootstrap_seed, default 1; SALib's Sobol treats 0
    as unseeded), so the confidence intervals are the same on every call."""
    out = sweep_with(tmp_path, "sobol", 32)
    printed, tables = [], []
    for _ in range(2):
        assert sensitivity.main([str(out), "--output", "west_share:2030"]) == 0
        printed.append(capsys.readouterr())
        tables.append((out / "sensitivity.csv").read_text())
    assert printed[0] == printed[1] and tables[0] == tables[1]
    conf = pd.read_csv(out / "sensitivity.csv")["conf"]
    assert conf.notna().all() and (conf > 0).all()


def test_a_confidence_interval_wider_than_its_index_is_warned(tmp_path, capsys):
    table = pd.DataFrame({"output": ["y", "y"], "parameter": ["a", "b"], "index": ["S1", "S1"],
                          "mean": [0.9, 0.02], "conf": [0.05, 0.04]})
    assert sensitivity.wide_intervals(table) == [
        "warning: S1 of b for y: confidence half-width 0.04 exceeds the index 0.02; more "
        "samples would narrow it"]
    out = sweep_with(tmp_path, "sobol", 32)
    assert sensitivity.main([str(out), "--output", "west_share:2030"]) == 0
    written = pd.read_csv(out / "sensitivity.csv")
    wide = written[written["conf"] > written["mean"].abs()]
    warnings = [x for x in capsys.readouterr().err.splitlines() if x.startswith("warning:")]
    assert len(warnings) == len(wide) > 0        # b's S1 (1/17) is small beside its interval
    assert all(w.startswith("warning: S1 of supply.optimism") for w in warnings)
